-- A run that moves on through several steps in one tick and fails at a later
-- one fails at that step (issue 10): the visits before it are kept (with
-- their messages), the enrollment is at the failing step while it waits for
-- its retry, its failed visit is written there, the funnel counts the failure
-- there, the tick's error context names that step, and split_report counts
-- the enrollments that failed after the split in the variant they drew.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE ffx_customers (id int PRIMARY KEY, email text);
INSERT INTO ffx_customers SELECT g, 'f' || g || '@x.test' FROM generate_series(1, 8) g;
SELECT journey.register_audience('ffx_customers', 'id', 'email');
-- What the tick's error context says while the call step runs (kept for the
-- customers it lets through: a failing run's writes are rolled back).
CREATE TABLE ffx_context (customer_id text, context text);
CREATE FUNCTION ffx_check(customer_id text, context jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  ctx text;
BEGIN
  IF customer_id::int % 2 = 0 THEN
    RAISE EXCEPTION 'ffx_check refuses customer %', customer_id;
  END IF;
  GET DIAGNOSTICS ctx = PG_CONTEXT;
  INSERT INTO public.ffx_context
  SELECT customer_id, regexp_replace(l, 'enrollment \d+', 'enrollment N')
    FROM regexp_split_to_table(ctx, E'\n') l WHERE l LIKE 'pg_journey enrollment%';
  RETURN '{}';
END
$$;
SELECT journey.import($${"name": "ffx-fail", "audience": "ffx_customers", "start": "hello",
  "settings": {"max_attempts": 2},
  "steps": [{"key": "hello", "type": "send", "channel": "ffx", "payload": {}, "next": "ab"},
            {"key": "ab", "type": "split", "variants": [{"name": "a", "weight": 1},
                                                        {"name": "b", "weight": 1}],
             "branches": {"a": "check", "b": "check"}},
            {"key": "check", "type": "call", "function": "public.ffx_check", "next": "won"},
            {"key": "won", "type": "goal"}]}$$) > 0 AS imported;
SELECT journey.publish('ffx-fail');
SELECT count(journey.enroll('ffx-fail', c::text)) AS enrolled FROM generate_series(1, 8) c;

-- One tick: the odd customers go through to "won"; the even ones pass hello
-- and ab and fail at check (attempt 1 of 2): they wait at check for the retry.
SELECT journey.run_due(100, ref_time('2030-01-01 10:00+00')) AS ran;
SELECT e.customer_id::int AS c, e.status, e.step_key, e.attempts, e.last_error,
       e.next_run_at = ref_time('2030-01-01 10:00:10+00') AS retry_in_10s
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'ffx-fail' ORDER BY 1;
-- The retry fails them at check: out of attempts.
SELECT journey.run_due(100, ref_time('2030-01-01 11:00+00')) AS ran;
SELECT a.customer_id::int AS c, a.visit, a.step_key, a.branch, a.outcome, a.reason, a.converted
  FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
 WHERE j.name = 'ffx-fail' ORDER BY 1, a.visit;
SELECT e.customer_id::int AS c, e.status, e.step_key, e.attempts, e.last_error
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'ffx-fail' ORDER BY 1;
-- hello's message was written once per customer (kept, not sent again by the retry).
SELECT m.customer_id::int AS c, m.step_key, count(*) AS messages FROM journey.messages m
  JOIN journey.journeys j ON j.id = m.journey_id WHERE j.name = 'ffx-fail'
 GROUP BY 1, 2 ORDER BY 1, 2;
-- The funnel: 4 failed at check, none at hello.
SELECT step_key, entered, now_at, moved, completed, exited, converted, failed
  FROM journey.funnel('ffx-fail');
SELECT step_key, entered, now_at, branches FROM journey.step_stats
 WHERE name = 'ffx-fail' ORDER BY step_key;
-- The split: every enrollment in the variant it drew, the failed ones too.
SELECT split_step, variant, enrolled, converted, rate FROM journey.split_report('ffx-fail');
-- The tick's error context named the step running (check), not where the run began.
SELECT customer_id::int AS c, context FROM ffx_context ORDER BY 1;

SELECT journey.archive('ffx-fail');
SELECT journey.drop_journey('ffx-fail');
SELECT journey.unregister_audience('ffx_customers');
DROP FUNCTION ffx_check(text, jsonb);
DROP TABLE ffx_context;
DROP TABLE ffx_customers;
