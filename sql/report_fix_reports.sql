-- Issue 10, the remaining report and validation findings (probe-analytics-3):
--   F10: validate warns when a path from the start is longer than
--     max_step_visits, at the step where its enrollments fail.
--   F11: split_report refuses a control group without enrollments (22023:
--     a journey without holdout says it has none); funnel names a draft
--     version as one (55000), a missing one stays 42704.
--   A run that passes pg_journey.step_timeout after it moved on is charged at
--     the step it hung at: funnel, step_stats and the enrollment say so.
--   split_report's counts are unchanged by its rewrite (values pinned).
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE rfx_people (id int PRIMARY KEY, email text, plan text, touched boolean DEFAULT false);
INSERT INTO rfx_people SELECT g, 'p' || g || '@x.test', CASE WHEN g % 2 = 0 THEN 'pro' END
  FROM generate_series(1, 8) g;
SELECT journey.register_audience('rfx_people', 'id', 'email');

-------------------------------------------------------------------------------
-- F10: the probe's k1 (send, delay, branch, wait_until with a loop, goal,
-- exit) with max_step_visits 5: its longest path without a repeated step is 7
-- steps; the enrollments that take it fail at their 6th, "loopd".
SELECT journey.import($${"name": "rfx-k1", "audience": "rfx_people", "start": "mail",
  "settings": {"max_step_visits": 5},
  "steps": [{"key": "mail", "type": "send", "channel": "rfx", "payload": {}, "next": "untilf"},
            {"key": "untilf", "type": "delay", "duration": "1 hour", "next": "route"},
            {"key": "route", "type": "branch",
             "cases": [{"name": "pro", "when": {"field": "plan", "op": "eq", "value": "pro"}}],
             "branches": {"pro": "wu", "else": "g"}},
            {"key": "wu", "type": "wait_until", "when": {"field": "touched", "op": "eq", "value": true},
             "timeout": "1 day", "branches": {"met": "g", "timeout": "upd"}},
            {"key": "upd", "type": "update_field", "set": {"touched": true}, "next": "loopd"},
            {"key": "loopd", "type": "delay", "duration": "2 hours", "next": "ping"},
            {"key": "ping", "type": "send", "channel": "rfx", "payload": {}, "next": "loopd"},
            {"key": "g", "type": "goal", "next": "fin"},
            {"key": "fin", "type": "exit"}]}$$) > 0 AS imported;
SELECT step_key, severity, message FROM journey.validate('rfx-k1') ORDER BY step_key, message;
-- Enough visits for the whole path: nothing to say.
SELECT journey.set_settings('rfx-k1', '{"max_step_visits": 7}') IS NOT NULL AS set;
SELECT count(*) AS issues FROM journey.validate('rfx-k1');
-- A warning does not stop publishing.
SELECT journey.set_settings('rfx-k1', '{"max_step_visits": 6}') IS NOT NULL AS set;
SELECT step_key, severity, message FROM journey.validate('rfx-k1') ORDER BY step_key, message;
SELECT journey.publish('rfx-k1');

-------------------------------------------------------------------------------
-- F11: funnel of a version that is the draft, and of one that does not exist.
SELECT journey.set_settings('rfx-k1', '{"max_step_visits": 7}') IS NOT NULL AS draft_v2;
SELECT version, status FROM journey.versions v JOIN journey.journeys j ON j.id = v.journey_id
 WHERE j.name = 'rfx-k1' ORDER BY version;
SELECT try($$SELECT * FROM journey.funnel('rfx-k1', version => 2)$$);
SELECT try($$SELECT * FROM journey.funnel('rfx-k1', version => 3)$$);
SELECT count(*) AS steps FROM journey.funnel('rfx-k1', version => 1);
SELECT journey.archive('rfx-k1');

-------------------------------------------------------------------------------
-- F11: split_report's control. An A/B journey without holdout: a (1, 3, 5, 7
-- by the draw), b; b converts.
SELECT journey.import($${"name": "rfx-ab", "audience": "rfx_people", "start": "sp",
  "steps": [{"key": "sp", "type": "split", "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}],
             "branches": {"a": "hi", "b": "g"}},
            {"key": "g", "type": "goal", "next": "hi"},
            {"key": "hi", "type": "send", "channel": "rfx", "payload": {}}]}$$) > 0 AS imported;
SELECT journey.publish('rfx-ab');
SELECT count(journey.enroll('rfx-ab', c::text)) AS enrolled FROM generate_series(1, 8) c;
UPDATE journey.enrollments e SET entered_at = ref_time('2030-01-01 09:00+00')
  FROM journey.journeys j WHERE j.id = e.journey_id AND j.name = 'rfx-ab';
SELECT journey.run_due(100, ref_time('2030-01-01 09:10+00')) AS processed;
-- Two of the messages sent.
UPDATE journey.messages m SET status = 'sent'
  FROM journey.journeys j WHERE j.id = m.journey_id AND j.name = 'rfx-ab' AND m.customer_id IN ('1', '2');
SELECT split_step, variant, enrolled, converted, rate, baseline, lift, lift_low, lift_high, z,
       messages, messages_per_conversion
  FROM journey.split_report('rfx-ab');
SELECT variant, enrolled, baseline, lift FROM journey.split_report('rfx-ab', control => 'b');
-- No holdout: (holdout) is refused, naming the journey.
SELECT try($$SELECT * FROM journey.split_report('rfx-ab', control => '(holdout)')$$);
-- A variant with no enrollments in the window, and (journey) when the split
-- groups them: refused too.
SELECT split_part(try($$SELECT * FROM journey.split_report('rfx-ab', since => ref_time('2030-02-01 00:00+00'),
                                                control => 'a')$$), E'\n', 1) AS refused;
SELECT try($$SELECT * FROM journey.split_report('rfx-ab', control => '(journey)')$$);
-- Not a variant at all: refused as before.
SELECT try($$SELECT * FROM journey.split_report('rfx-ab', control => 'c')$$);
-- The window without control: no rows, no error.
SELECT count(*) AS groups FROM journey.split_report('rfx-ab', since => ref_time('2030-02-01 00:00+00'));
-- DETAIL and HINT of the holdout refusal.
DO $$
DECLARE d text; h text;
BEGIN
  PERFORM * FROM journey.split_report('rfx-ab', control => '(holdout)');
EXCEPTION WHEN invalid_parameter_value THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
  RAISE NOTICE 'detail: %', d;
  RAISE NOTICE 'hint: %', h;
END $$;
SELECT journey.archive('rfx-ab');

-- A journey with a holdout and no split: (journey) against (holdout), and
-- control => '(holdout)' accepted.
SELECT journey.import($${"name": "rfx-hold", "audience": "rfx_people", "start": "hi",
  "settings": {"holdout_percent": 50},
  "steps": [{"key": "hi", "type": "send", "channel": "rfx", "payload": {}, "next": "g"},
            {"key": "g", "type": "goal"}]}$$) > 0 AS imported;
SELECT journey.publish('rfx-hold');
SELECT count(journey.enroll('rfx-hold', c::text)) AS enrolled FROM generate_series(1, 8) c;
SELECT journey.run_due(100, ref_time('2030-01-01 09:10+00')) AS processed;
SELECT split_step, variant, enrolled, converted, baseline, lift
  FROM journey.split_report('rfx-hold', control => '(holdout)');
SELECT journey.archive('rfx-hold');

-------------------------------------------------------------------------------
-- pg_journey.step_timeout in a run that moved on: hello (send) -> nap (call,
-- hangs for customer 2) -> bye. Customer 2's failure is charged at "nap", where
-- it hung; its visit of "hello" is kept; the others are not held up.
SET pg_journey.step_timeout = '300ms';
CREATE FUNCTION rfx_nap(customer_id text, context jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  IF customer_id = '2' THEN
    PERFORM pg_sleep(5);
  END IF;
  RETURN '{}';
END $$;
SELECT journey.import($${"name": "rfx-nap", "audience": "rfx_people", "start": "hello",
  "settings": {"max_attempts": 1},
  "steps": [{"key": "hello", "type": "send", "channel": "rfx", "payload": {}, "next": "nap"},
            {"key": "nap", "type": "call", "function": "public.rfx_nap", "next": "bye"},
            {"key": "bye", "type": "send", "channel": "rfx", "payload": {}}]}$$) > 0 AS imported;
SELECT journey.publish('rfx-nap');
SELECT count(journey.enroll('rfx-nap', c::text)) AS enrolled FROM generate_series(1, 3) c;
SELECT journey.run_due(100, ref_time('2030-01-01 10:00+00')) AS processed;
RESET pg_journey.step_timeout;
SELECT e.customer_id, e.status, e.step_key, e.last_error
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'rfx-nap' ORDER BY e.customer_id;
SELECT step_key, entered, now_at, moved, completed, failed FROM journey.funnel('rfx-nap');
SELECT step_key, entered, now_at, branches FROM journey.step_stats WHERE name = 'rfx-nap'
 ORDER BY step_key;
SELECT a.customer_id, a.step_key, a.outcome FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
 WHERE j.name = 'rfx-nap' ORDER BY a.customer_id, a.visit;
SELECT m.customer_id, m.step_key FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
 WHERE j.name = 'rfx-nap' ORDER BY m.customer_id, m.step_key;
SELECT journey.archive('rfx-nap');
SELECT count(*) AS active_left FROM journey.enrollments WHERE status = 'active';
