-- One statement ends enrollments (issue 9): every change of an enrollment's
-- status away from 'active' happens inside the ending statement of
-- src/pg/ending.cpp, whoever ends it (the tick's completions, exits, visit-cap
-- failures and exhausted retries; the customer-table trigger's exit rules and
-- deletes; track's event exit rules; journey.exit; re-entry; archive), and a
-- tick that ends an enrollment updates its row once (no second UPDATE of it).
-- A trigger of this test logs every row update of journey.enrollments with the
-- innermost SQL statement running (SPI's error context line, PG_CONTEXT).
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE oe_log (seq serial, xid xid8, id bigint, old_status text, new_status text,
                     in_ending boolean);
CREATE FUNCTION oe_log_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  ctx text;
BEGIN
  GET DIAGNOSTICS ctx = PG_CONTEXT;
  INSERT INTO public.oe_log (xid, id, old_status, new_status, in_ending)
  VALUES (pg_current_xact_id(), NEW.id, OLD.status, NEW.status,
          -- the line after this function's own: the statement that updates the row
          coalesce(split_part(ctx, E'\n', 2) LIKE 'SQL statement "/* pg_journey: end enrollments */%',
                   false));
  RETURN NULL;
END
$$;
CREATE TRIGGER oe_log AFTER UPDATE ON journey.enrollments
  FOR EACH ROW EXECUTE FUNCTION oe_log_update();

CREATE TABLE oe_customers (id int PRIMARY KEY, email text, gone boolean NOT NULL DEFAULT false);
INSERT INTO oe_customers SELECT g, 'o' || g || '@x.test', false FROM generate_series(1, 12) g;
SELECT journey.register_audience('oe_customers', 'id', 'email');
CREATE FUNCTION oe_check(customer_id text, context jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  IF customer_id IN ('3', '4') THEN
    RAISE EXCEPTION 'oe_check refuses customer %', customer_id;
  END IF;
  RETURN '{}';
END
$$;
-- Customers 1-4 run "oe-main": 1 and 2 complete in the first tick beside the
-- parked ones; 3 and 4 fail at "check" (max_attempts 1: failed at once).
-- Customers 5-12 park at "wait" and end in the other ways.
SELECT journey.import($${"name": "oe-main", "audience": "oe_customers", "start": "route",
  "settings": {"max_attempts": 1, "reentry": "always"},
  "exit": [{"type": "condition", "name": "gone", "when": {"field": "gone", "op": "eq", "value": true}},
           {"type": "event", "event": "bought", "is_goal": true, "name": "bought"}],
  "steps": [{"key": "route", "type": "condition", "if": {"field": "id", "op": "lte", "value": 4},
             "branches": {"yes": "check", "no": "wait"}},
            {"key": "check", "type": "call", "function": "public.oe_check", "next": "done"},
            {"key": "done", "type": "send", "channel": "oe", "payload": {}},
            {"key": "wait", "type": "delay", "duration": "1 day", "next": "hello"},
            {"key": "hello", "type": "send", "channel": "oe", "payload": {}}]}$$) > 0 AS imported;
SELECT journey.publish('oe-main');
-- 12 is gone before it enters: the tick's own exit rule check ends it.
UPDATE oe_customers SET gone = true WHERE id = 12;
SELECT count(journey.enroll('oe-main', c::text)) AS enrolled FROM generate_series(1, 12) c;
-- (other suites' enrollments may be due too: the queries below count this journey's)
SELECT journey.run_due(100, ref_time('2030-01-01 10:00+00')) >= 12 AS ran;
-- While 5-11 wait: 5 is gone (customer-table trigger), 6 buys (event exit
-- rule), 7 is exited by hand, 8 re-enters (re-entry ends the active one), 9
-- is deleted; 10 and 11 complete a day later; then the journey is archived
-- while 8's new enrollment waits.
UPDATE oe_customers SET gone = true WHERE id = 5;
SELECT journey.track('6', 'bought', audience => 'oe_customers') > 0 AS tracked;
SELECT journey.exit(e.id, 'asked') FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'oe-main' AND e.customer_id = '7';
SELECT journey.enroll('oe-main', '8') > 0 AS reentered;
DELETE FROM oe_customers WHERE id = 9;
SELECT journey.run_due(100, ref_time('2030-01-02 11:00+00')) >= 3 AS ran;
SELECT journey.archive('oe-main');

-- Every enrollment, how it ended.
SELECT e.customer_id::int AS c, e.status, e.step_key, e.exit_reason, e.last_error,
       e.converted_at IS NOT NULL AS converted, e.visits
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'oe-main' ORDER BY 1, e.id;
-- Every status change away from active, by the statement that made it: all in
-- the ending statement.
CREATE VIEW oe_main_log AS
  SELECT l.* FROM oe_log l JOIN journey.enrollments e ON e.id = l.id
    JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'oe-main';
SELECT new_status, in_ending, count(*) FROM oe_main_log
 WHERE old_status = 'active' AND new_status <> 'active' GROUP BY 1, 2 ORDER BY 1, 2;
-- An enrollment a tick ran and ended (completed or exited) was updated once in
-- that tick's transaction (3 and 4 failed: their failure's charge is written
-- before the ending, as for every failed run).
SELECT count(*) AS ended_by_a_tick,
       count(*) FILTER (WHERE (SELECT count(*) FROM oe_log l
                                WHERE l.xid = x.xid AND l.id = x.id) = 1) AS updated_once
  FROM oe_main_log x JOIN journey.enrollments e ON e.id = x.id
 WHERE x.old_status = 'active' AND x.new_status <> 'active' AND e.customer_id IN
       ('1', '2', '10', '11', '12');
-- The activity rows of the endings (one per enrollment at the step it ended).
SELECT a.customer_id::int AS c, a.visit, a.step_key, a.outcome, a.reason, a.converted
  FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
 WHERE j.name = 'oe-main' AND a.outcome <> 'moved' ORDER BY 1, a.enrollment_id, a.visit;

DROP TRIGGER oe_log ON journey.enrollments;
