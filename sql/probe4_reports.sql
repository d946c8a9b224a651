-- Issue 10, fourth analyst probe (docs/analytics.md). Last in REGRESS: its
-- ticks at 2030 clocks run what the other files left due.
--   F2 split variants and branch cases may not take a name starting with "("
--      (the reports' own groups: (holdout), (journey), (end), (exited), (failed));
--   F4 a goal event that occurred before the enrollment entered neither ends
--      nor converts it;
--   F1 journey.compact_activity_hours merges the roll-up's rows of a group into
--      one; funnel reads the same numbers before and after;
--   F3 journey.rebuild_activity_hours builds the roll-up anew from activity;
--   F8 funnel with since in the last hour of the timestamp range: empty report;
--   F7 customer_journeys' entered row carries the version entered.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE p4_people (id int PRIMARY KEY, email text, plan text);
INSERT INTO p4_people
  SELECT g, 'p' || g || '@x.test', CASE WHEN g % 2 = 0 THEN 'pro' ELSE 'free' END
    FROM generate_series(1, 12) g;
SELECT journey.register_audience('p4_people', 'id', 'email');

-------------------------------------------------------------------------------
-- F2: reserved variant and case names are errors, naming journey, step and name.
SELECT step_key, severity, message FROM journey.validate_definition($${"name": "p4-names",
  "audience": "p4_people", "start": "r",
  "steps": [{"key": "r", "type": "branch",
             "cases": [{"name": "(exited)", "when": {"field": "plan", "op": "eq", "value": "pro"}},
                       {"name": "pro (annual)", "when": {"field": "plan", "op": "eq", "value": "x"}}],
             "branches": {"(exited)": "sp", "pro (annual)": "sp", "else": "sp"}},
            {"key": "sp", "type": "split",
             "variants": [{"name": "(holdout)", "weight": 1}, {"name": "b", "weight": 1}],
             "branches": {"(holdout)": "e", "b": "e"}},
            {"key": "e", "type": "exit"}]}$$::jsonb)
 WHERE severity = 'error' ORDER BY step_key, message;
SELECT journey.import($${"name": "p4-names", "audience": "p4_people", "start": "sp",
  "steps": [{"key": "sp", "type": "split",
             "variants": [{"name": "(journey)", "weight": 1}, {"name": "b", "weight": 1}],
             "branches": {"(journey)": "e", "b": "e"}},
            {"key": "e", "type": "exit"}]}$$) > 0 AS imported;
SELECT try($$SELECT journey.publish('p4-names')$$);

-------------------------------------------------------------------------------
-- F1: a -> wait (1 hour) -> b -> end, customers 1..12 entering one per tick
-- (as a worker woken by enroll runs them): one roll-up row per visit.
SELECT journey.import($${"name": "p4-roll", "audience": "p4_people", "start": "a",
  "exit": [{"type": "event", "event": "stop", "name": "stopped"}],
  "steps": [{"key": "a", "type": "send", "channel": "p4", "payload": {}, "next": "w"},
            {"key": "w", "type": "delay", "duration": "1 hour", "next": "b"},
            {"key": "b", "type": "send", "channel": "p4", "payload": {}, "next": "e"},
            {"key": "e", "type": "exit"}]}$$) > 0 AS imported;
SELECT journey.publish('p4-roll');
-- Enters customers 1..n one a tick (a at 09:00 + c minutes), then, with
-- leave, runs their waits out one a tick (w due at 10:00 + c minutes). Each
-- tick's clock has exactly one of this journey's enrollments due (other
-- files' leftovers may run too: the counts below are this journey's).
CREATE FUNCTION pg_temp.one_by_one(n int, leave boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  FOR c IN 1 .. n LOOP
    IF leave THEN
      PERFORM journey.run_due(1000, ref_time('2030-01-01 10:00:30+00') + c * interval '1 minute');
      CONTINUE;
    END IF;
    PERFORM journey.enroll('p4-roll', c::text);
    UPDATE journey.enrollments e SET entered_at = ref_time('2030-01-01 09:00+00'),
           next_run_at = ref_time('2030-01-01 09:00+00') + c * interval '1 minute'
      FROM journey.journeys j
     WHERE j.id = e.journey_id AND j.name = 'p4-roll' AND e.customer_id = c::text;
    PERFORM journey.run_due(1000, ref_time('2030-01-01 09:00+00') + c * interval '1 minute');
  END LOOP;
END
$$;
SELECT pg_temp.one_by_one(12, false);
-- 11 and 12 leave by the rule "stopped" while parked at w.
SELECT journey.track(c, 'stop', audience => 'p4_people') > 0 AS tracked FROM unnest(ARRAY['11', '12']) c;
SELECT pg_temp.one_by_one(12, true);
SELECT e.status, count(*) FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'p4-roll' GROUP BY 1 ORDER BY 1;
SELECT count(*) AS roll_up_rows, sum(visits) AS visits
  FROM journey.activity_hours h JOIN journey.journeys j ON j.id = h.journey_id AND j.name = 'p4-roll';
CREATE TEMP TABLE p4_before AS
  SELECT * FROM journey.funnel('p4-roll');
CREATE TEMP TABLE p4_before_window AS
  SELECT * FROM journey.funnel('p4-roll', ref_time('2030-01-01 09:00+00'), ref_time('2030-01-01 10:00+00'));
-- Hours before 10:00 only: the 9 o'clock rows merge, the 10 o'clock rows stay
-- (it merges every journey's rows: the other files' too).
SELECT journey.compact_activity_hours(ref_time('2030-01-01 10:00+00')) > 0 AS merged;
SELECT ref_shown(h.hour) AS hour, h.step_key, h.outcome, h.branch, h.visits, h.spent
  FROM journey.activity_hours h JOIN journey.journeys j ON j.id = h.journey_id AND j.name = 'p4-roll'
 ORDER BY 1, 2, 3, h.visits;
SELECT journey.compact_activity_hours(ref_time('2030-01-02 00:00+00')) > 0 AS merged;
SELECT journey.compact_activity_hours(ref_time('2030-01-02 00:00+00')) AS removed_again;
SELECT count(*) AS roll_up_rows, sum(visits) AS visits
  FROM journey.activity_hours h JOIN journey.journeys j ON j.id = h.journey_id AND j.name = 'p4-roll';
-- The funnel reads the same numbers (whole and windowed) as before merging.
(SELECT * FROM p4_before EXCEPT ALL SELECT * FROM journey.funnel('p4-roll'))
UNION ALL
(SELECT * FROM journey.funnel('p4-roll') EXCEPT ALL SELECT * FROM p4_before);
(SELECT * FROM p4_before_window EXCEPT ALL
 SELECT * FROM journey.funnel('p4-roll', ref_time('2030-01-01 09:00+00'), ref_time('2030-01-01 10:00+00')))
UNION ALL
(SELECT * FROM journey.funnel('p4-roll', ref_time('2030-01-01 09:00+00'), ref_time('2030-01-01 10:00+00'))
 EXCEPT ALL SELECT * FROM p4_before_window);
SELECT step_key, entered, now_at, moved, completed, median_time FROM journey.funnel('p4-roll');
SELECT try($$SELECT journey.compact_activity_hours(NULL)$$);

-------------------------------------------------------------------------------
-- F3: the roll-up lost (as after a restore with --disable-triggers): funnel
-- shows nothing; rebuilt, it shows what it showed before.
DELETE FROM journey.activity_hours;
SELECT step_key, entered FROM journey.funnel('p4-roll');
SELECT journey.rebuild_activity_hours('p4-roll') AS counted;
(SELECT * FROM p4_before EXCEPT ALL SELECT * FROM journey.funnel('p4-roll'))
UNION ALL
(SELECT * FROM journey.funnel('p4-roll') EXCEPT ALL SELECT * FROM p4_before);
SELECT journey.rebuild_activity_hours() = (SELECT count(*) FROM journey.activity) AS all_counted;
SELECT (SELECT sum(visits) FROM journey.activity_hours) = (SELECT count(*) FROM journey.activity) AS sums_agree;
SELECT try($$SELECT journey.rebuild_activity_hours('p4-nope')$$);

-------------------------------------------------------------------------------
-- F8: since in the last hour of the timestamp range: an empty report.
SELECT step_key, entered, now_at FROM journey.funnel('p4-roll', '294276-12-31 23:30:00+00');
SELECT step_key, entered FROM journey.funnel('p4-roll', '294276-12-31 23:00:00+00', '294276-12-31 23:59:59+00');
-------------------------------------------------------------------------------
-- F4: hello -> wait (1 day) -> bye; the goal rule "bought" (event purchased).
-- Customers 1 and 2 entered a day ago; 1's purchase is dated ten days ago
-- (before the entry): it stays; 2's an hour ago: converted.
SELECT journey.import($${"name": "p4-goal", "audience": "p4_people", "start": "hello",
  "exit": [{"type": "event", "event": "purchased", "name": "bought", "is_goal": true}],
  "steps": [{"key": "hello", "type": "send", "channel": "p4", "payload": {}, "next": "wait"},
            {"key": "wait", "type": "delay", "duration": "1 day", "next": "bye"},
            {"key": "bye", "type": "exit"}]}$$) > 0 AS imported;
SELECT journey.publish('p4-goal');
SELECT count(journey.enroll('p4-goal', c::text)) AS enrolled FROM generate_series(1, 2) c;
UPDATE journey.enrollments e SET entered_at = now() - interval '1 day'
  FROM journey.journeys j WHERE j.id = e.journey_id AND j.name = 'p4-goal';
SELECT journey.track('1', 'purchased', '{}', now() - interval '10 days', audience => 'p4_people') > 0 AS tracked;
SELECT journey.track('2', 'purchased', '{}', now() - interval '1 hour', audience => 'p4_people') > 0 AS tracked;
SELECT e.customer_id, e.status, e.exit_reason, e.converted_at IS NOT NULL AS converted,
       e.converted_at >= e.entered_at AS after_entry
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'p4-goal' ORDER BY e.customer_id;

-------------------------------------------------------------------------------
-- F7: customer 1 of p4-goal leaves hello (v1) and waits at wait; a migrating
-- publish of v2 moves it: the entered row says version 1, where it entered.
SELECT journey.run_due(1000, now()) >= 1 AS ran;
SELECT journey.import($${"name": "p4-goal", "audience": "p4_people", "start": "hello",
  "exit": [{"type": "event", "event": "purchased", "name": "bought", "is_goal": true}],
  "steps": [{"key": "hello", "type": "send", "channel": "p4", "payload": {}, "next": "wait"},
            {"key": "wait", "type": "delay", "duration": "2 days", "next": "bye"},
            {"key": "bye", "type": "exit"}]}$$) > 0 AS imported;
SELECT journey.publish('p4-goal', migrate => true);
SELECT version, kind, step_key FROM journey.customer_journeys('1', 'p4_people')
 WHERE journey = 'p4-goal' AND kind IN ('entered', 'visit', 'at') ORDER BY at, kind;

