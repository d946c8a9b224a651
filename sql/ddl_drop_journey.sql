-- drop_journey leaves nothing of the journey behind: not its versions and
-- definitions, enrollments, activity, messages, nor any other row of schema
-- journey that carries its id (test/cron/sql/schedule_runs.sql checks segment
-- members, scheduled and trigger runs and pg_cron jobs).
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE ddl_drop_people (id int PRIMARY KEY, email text, plan text);
INSERT INTO ddl_drop_people VALUES (1, 'a@x.test', 'free'), (2, 'b@x.test', 'pro');
SELECT journey.register_audience('ddl_drop_people', 'id', 'email');
SELECT journey.create_template('ddl_drop_t', 'email', 'Hi', 'Hello');
SELECT journey.import($${"name": "ddl-drop", "audience": "ddl_drop_people", "start": "hi",
  "exit": [{"type": "condition", "when": {"field": "plan", "op": "eq", "value": "gone"}}],
  "steps": [{"key": "hi", "type": "send_email", "template": "ddl_drop_t", "next": "wait"},
            {"key": "wait", "type": "delay", "duration": "1 day", "next": "bye"},
            {"key": "bye", "type": "send_email", "template": "ddl_drop_t"}]}$$) AS id \gset
SELECT journey.publish('ddl-drop');
SELECT journey.enroll('ddl-drop', '1') > 0 AS one, journey.enroll('ddl-drop', '2') > 0 AS two;
SELECT journey.run_due(10, now()) AS ran;
SELECT journey.track('1', 'ddl_drop_event', audience => 'ddl_drop_people') > 0 AS tracked;
UPDATE ddl_drop_people SET plan = 'gone' WHERE id = 2;

-- Every table of schema journey with a journey_id column, and its rows of this journey.
CREATE FUNCTION pg_temp.rows_of(p_id bigint) RETURNS TABLE (tbl text, n bigint) LANGUAGE plpgsql AS $$
DECLARE
  t record;
BEGIN
  FOR t IN SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
            WHERE c.relnamespace = 'journey'::regnamespace AND c.relkind IN ('r', 'p')
              AND a.attname = 'journey_id' AND NOT a.attisdropped ORDER BY c.relname LOOP
    tbl := t.relname;
    EXECUTE format('SELECT count(*) FROM journey.%I WHERE journey_id = $1', t.relname) INTO n USING p_id;
    RETURN NEXT;
  END LOOP;
END $$;
SELECT tbl, n > 0 AS has_rows FROM pg_temp.rows_of(:id)
 WHERE tbl IN ('activity', 'enrollments', 'messages', 'steps', 'versions') ORDER BY tbl;

SELECT journey.archive('ddl-drop');
SELECT journey.drop_journey('ddl-drop');
SELECT tbl, n FROM pg_temp.rows_of(:id) WHERE n > 0;
SELECT count(*) AS journeys FROM journey.journeys WHERE id = :id;
-- Events are the customers' own (no journey id): they stay.
SELECT count(*) AS events_kept FROM journey.events WHERE name = 'ddl_drop_event';

SELECT journey.unregister_audience('ddl_drop_people');
DROP TABLE ddl_drop_people;
DELETE FROM journey.templates WHERE name = 'ddl_drop_t';
DELETE FROM journey.events WHERE name = 'ddl_drop_event';
