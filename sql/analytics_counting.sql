-- Counting right by construction (issue 10): every enrollment that reaches a
-- step is counted there, whether it moved on, is parked there, exited there or
-- failed there; exits and conversions belong to the step where they happened.
-- Every way an enrollment ends writes the activity row of its step
-- (journey._end_enrollments): a customer-table exit rule, an event exit rule,
-- journey.exit(), re-entry, a deleted customer, archive, the engine's own exit
-- rule check, the visit cap, and retries running out. Exit rules can be named
-- and the exit reason is that name; unnamed ones read "exit rule exit[N]".
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE anc_customers (id int PRIMARY KEY, email text, unsubscribed boolean NOT NULL DEFAULT false);
INSERT INTO anc_customers SELECT g, 'c' || g || '@x.test', false FROM generate_series(1, 12) g;
SELECT journey.register_audience('anc_customers', 'id', 'email');

-- Names are checked: 1 to 63 characters, unique, not a reason pg_journey records.
SELECT step_key, severity, message FROM journey.validate_definition($${"name": "anc-bad",
  "audience": "anc_customers", "start": "a", "steps": [{"key": "a", "type": "exit"}],
  "exit": [{"type": "event", "event": "x", "name": "gone"},
           {"type": "event", "event": "y", "name": "gone"},
           {"type": "event", "event": "z", "name": "archived"},
           {"type": "event", "event": "w", "name": ""},
           {"type": "event", "event": "v", "name": 7},
           {"type": "event", "event": "u", "name": "exit rule 3"}]}$$::jsonb)
 ORDER BY step_key, message;

SELECT journey.import($${"name": "anc-series", "audience": "anc_customers", "start": "hello",
  "settings": {"reentry": "always"},
  "exit": [{"type": "condition", "name": "unsubscribed",
            "when": {"field": "unsubscribed", "op": "eq", "value": true}},
           {"type": "event", "event": "purchased", "is_goal": true, "name": "purchased"},
           {"type": "event", "event": "complained"}],
  "steps": [{"key": "hello", "type": "send", "channel": "anc", "payload": {"n": 1}, "next": "wait"},
            {"key": "wait", "type": "delay", "duration": "1 day", "next": "again"},
            {"key": "again", "type": "send", "channel": "anc", "payload": {"n": 2}, "next": "listen"},
            {"key": "listen", "type": "wait_for_event", "event": "clicked", "timeout": "2 days",
             "branches": {"event": "won"}},
            {"key": "won", "type": "goal"}]}$$) > 0 AS imported;
SELECT journey.publish('anc-series');
-- The exit reason each rule gives (the SQL and C++ paths agree with the engine).
SELECT position, type, config->>'name' AS name FROM journey.exit_rules r
  JOIN journey.journeys j ON j.id = r.journey_id WHERE j.name = 'anc-series' ORDER BY position;

CREATE VIEW anc_rows AS
  SELECT a.customer_id::int AS c, a.version AS v, a.visit, a.step_key, a.branch, a.outcome,
         a.reason, a.converted,
         CASE WHEN a.arrived_at < ref_time('2030-01-01') THEN 'now()'
              ELSE ref_shown(a.arrived_at)::text END AS arrived,
         CASE WHEN a.at < ref_time('2030-01-01') THEN 'now()' ELSE ref_shown(a.at)::text END AS at
    FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
   WHERE j.name = 'anc-series' ORDER BY 1, a.enrollment_id, a.visit;
CREATE VIEW anc_state AS
  SELECT e.customer_id::int AS c, e.status, e.step_key, e.exit_reason, e.converted_at IS NOT NULL AS converted, e.visits
    FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
   WHERE j.name = 'anc-series' ORDER BY 1, e.id;

-------------------------------------------------------------------------------
-- 1. Twelve customers enter; customer 12 is already unsubscribed, so the
-- engine's own exit rule check ends it at the start step (an activity row
-- there, reason "unsubscribed").
UPDATE anc_customers SET unsubscribed = true WHERE id = 12;
SELECT count(journey.enroll('anc-series', c::text)) AS enrolled FROM generate_series(1, 12) c;
-- enroll() stamps entered_at with now(); this run is in engine time.
UPDATE journey.enrollments e SET entered_at = ref_time('2030-01-01 09:00+00')
  FROM journey.journeys j WHERE j.id = e.journey_id AND j.name = 'anc-series';
SELECT journey.run_due(100, ref_time('2030-01-01 10:00+00')) AS ran;

-- 2. While parked at "wait": 1 unsubscribes (customer-table trigger), 2 buys
-- (goal event exit rule: converted at "wait"), 3 complains (unnamed rule), 4
-- is exited by hand, 5 re-enters (reentry always), 6 is deleted.
UPDATE anc_customers SET unsubscribed = true WHERE id = 1;
SELECT journey.track('2', 'purchased', audience => 'anc_customers') > 0 AS tracked;
SELECT journey.track('3', 'complained', audience => 'anc_customers') > 0 AS tracked;
SELECT journey.exit(e.id, 'support request') FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'anc-series' AND e.customer_id = '4';
SELECT journey.enroll('anc-series', '5') > 0 AS reentered;
DELETE FROM anc_customers WHERE id = 6;

-- 3. A day later the rest go on to "listen"; 7 clicks (goal step "won"), 8
-- buys while listening (converted at "listen"), 9, 10 and 11 time out; the new
-- 5 follows a day behind, and archive ends it at "listen".
SELECT journey.run_due(100, ref_time('2030-01-02 10:00+00')) AS ran;
SELECT journey.track('7', 'clicked', audience => 'anc_customers') > 0 AS tracked;
SELECT journey.run_due(100, ref_time('2030-01-02 11:00+00')) AS ran;
SELECT journey.track('8', 'purchased', audience => 'anc_customers') > 0 AS tracked;
SELECT journey.run_due(100, ref_time('2030-01-04 12:00+00')) AS ran;
UPDATE anc_customers SET unsubscribed = true WHERE id = 9;  -- already completed: nothing happens
SELECT * FROM anc_state;
SELECT journey.archive('anc-series');
SELECT * FROM anc_rows;
SELECT * FROM anc_state;

-- Every enrollment that ended has exactly one row at the step it ended at,
-- and rows + those still at a step (none now) are every arrival.
SELECT count(*) AS ended_without_final_row FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'anc-series' AND e.status <> 'active'
   AND NOT EXISTS (SELECT 1 FROM journey.activity a WHERE a.enrollment_id = e.id
                    AND a.step_key = e.step_key AND a.outcome <> 'moved'
                    AND a.visit = (SELECT max(b.visit) FROM journey.activity b
                                    WHERE b.enrollment_id = e.id));
SELECT name, step_key, entered, now_at, branches FROM journey.step_stats
 WHERE name = 'anc-series' ORDER BY step_key;

-------------------------------------------------------------------------------
-- 4. Failures: the visit cap fails an enrollment at the step it reached; a
-- call step that keeps failing fails it there once its attempts run out.
CREATE FUNCTION anc_broken(customer_id text, context jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'anc_broken is broken'; END $$;
SELECT journey.import($${"name": "anc-fail", "audience": "anc_customers", "start": "a",
  "settings": {"max_step_visits": 3, "max_attempts": 2},
  "steps": [{"key": "a", "type": "condition", "if": {"field": "id", "op": "lt", "value": 3},
             "branches": {"yes": "w", "no": "c"}},
            {"key": "w", "type": "delay", "duration": "1 hour", "next": "s"},
            {"key": "s", "type": "send", "channel": "anc_fail", "payload": {}, "next": "w"},
            {"key": "c", "type": "call", "function": "public.anc_broken"}]}$$) > 0 AS imported;
SELECT journey.publish('anc-fail');
SELECT count(journey.enroll('anc-fail', c::text)) AS enrolled FROM generate_series(2, 3) c;
-- 2 loops w -> s -> w and fails at w, its fourth visit (max_step_visits 3);
-- 3 fails in c twice: it fails at c, the step it reached (its visit of a
-- stands; sql/funnel_fix_failures.sql).
SELECT journey.run_due(100, ref_time('2030-01-05 10:00+00')) AS ran;
SELECT journey.run_due(100, ref_time('2030-01-05 11:00+00')) AS ran;
SELECT journey.run_due(100, ref_time('2030-01-05 12:00+00')) AS ran;
SELECT a.customer_id, a.visit, a.step_key, a.branch, a.outcome, a.reason
  FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
 WHERE j.name = 'anc-fail' ORDER BY a.customer_id, a.visit;
SELECT e.customer_id, e.status, e.step_key, e.last_error, e.attempts FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'anc-fail' ORDER BY e.customer_id;

SELECT journey.archive('anc-fail');
SELECT journey.drop_journey(j) FROM unnest(ARRAY['anc-series', 'anc-fail']) j;
DROP VIEW anc_rows;
DROP VIEW anc_state;
SELECT journey.unregister_audience('anc_customers');
DROP FUNCTION anc_broken(text, jsonb);
