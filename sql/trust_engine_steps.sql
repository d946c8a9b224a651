-- pg_journey.step_timeout in a manual tick (issue 8, item 3): a run that hangs
-- is that enrollment's failure, charged inside the tick, and the rest of the
-- batch commits in the same tick; a hang in the batch's writes (a trigger of a
-- field update) is pinned on its enrollment by running them one at a time.
-- test/integration/step_guard.sh covers interrupts that end the transaction.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE te_steps (id int PRIMARY KEY, email text, n int NOT NULL DEFAULT 0);
INSERT INTO te_steps (id, email) SELECT g, 's' || g || '@x.test' FROM generate_series(1, 5) g;
SELECT journey.register_audience('te_steps', 'id', 'email');
SELECT journey.create_template('te_steps_t', 'email', 'Hi', 'Hello {{email}}');
CREATE VIEW te_steps_state AS
  SELECT j.name, e.customer_id AS who, e.status, e.step_key, e.attempts, e.last_error
    FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
   WHERE j.audience = 'te_steps'::regclass
   ORDER BY j.name, e.customer_id;

-- Only superusers (and the configuration) set it: an application cannot lift it.
SET ROLE journey_app;
SELECT try($$SET pg_journey.step_timeout = 0$$);
RESET ROLE;
SET pg_journey.step_timeout = '300ms';
SHOW pg_journey.step_timeout;

-- A call step that naps for customer 2 (after a subtransaction of its own,
-- which must not disarm the timeout).
CREATE FUNCTION te_nap(customer_id text, context jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    PERFORM 1 / 0;
  EXCEPTION WHEN division_by_zero THEN
    NULL;
  END;
  IF customer_id = '2' THEN
    PERFORM pg_sleep(5);
  END IF;
  RETURN '{"napped": true}';
END $$;
SELECT journey.import($${"name": "te-nap", "audience": "te_steps", "start": "c",
  "steps": [{"key": "c", "type": "call", "function": "public.te_nap", "next": "m"},
            {"key": "m", "type": "send_email", "template": "te_steps_t"}]}$$) > 0 AS imported;
SELECT journey.publish('te-nap');
SELECT journey.enroll_query('te-nap', 'SELECT id FROM te_steps');
SELECT journey.run_due(1000, ref_time('2030-01-01 00:00+00')) AS processed;
SELECT * FROM te_steps_state WHERE name = 'te-nap';

-- A customer-table trigger that hangs for customer 4, fired by a field update.
CREATE FUNCTION te_slow_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.id = 4 THEN
    PERFORM pg_sleep(5);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER te_slow_trigger AFTER UPDATE OF n ON te_steps
  FOR EACH ROW EXECUTE FUNCTION te_slow_trigger();
SELECT journey.import($${"name": "te-upd", "audience": "te_steps", "start": "u",
  "steps": [{"key": "u", "type": "update_field", "set": {"n": 1}, "next": "m"},
            {"key": "m", "type": "send_email", "template": "te_steps_t"}]}$$) > 0 AS imported;
SELECT journey.publish('te-upd');
SELECT journey.enroll_query('te-upd', 'SELECT id FROM te_steps');
SELECT journey.run_due(1000, ref_time('2030-01-01 00:00+00')) AS processed;
SELECT * FROM te_steps_state WHERE name = 'te-upd';
SELECT id, n FROM te_steps ORDER BY id;
RESET pg_journey.step_timeout;
DROP TRIGGER te_slow_trigger ON te_steps;
SELECT journey.archive(name) FROM journey.journeys WHERE name LIKE 'te-%' AND audience = 'te_steps'::regclass
 ORDER BY name;
SELECT count(*) AS active_left FROM journey.enrollments WHERE status = 'active';
