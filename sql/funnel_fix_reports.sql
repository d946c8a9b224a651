-- Issue 10, second pass: the reports refuse what they cannot answer, count
-- what they show the same way, and tell manual exits from exit rules.
--   journey.exit: the reason reads "manual" or "manual: <reason>", never an
--     exit rule's name (the drawings credit no rule with it); a null id is 22004.
--   customer_journeys: the id in the audience's key form ('007' is 7), one
--     audience only (42725 when the id names customers of several), an
--     unregistered audience refused (22023).
--   funnel / split_report: infinite or reversed windows and an unknown
--     control refused (22023); funnel and step_stats agree on completions.
--   exit rule names: characters not bytes, reserved words in any case; the
--     drawings write control characters out.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE ffr_people (id int PRIMARY KEY, email text);
INSERT INTO ffr_people SELECT g, 'p' || g || '@x.test' FROM generate_series(1, 6) g;
INSERT INTO ffr_people VALUES (70007, 'p70007@x.test');
CREATE TABLE ffr_accounts (id text PRIMARY KEY, email text);
INSERT INTO ffr_accounts VALUES ('70007', 'a70007@x.test'), ('070007', 'a070007@x.test');
SELECT journey.register_audience('ffr_people', 'id', 'email');
SELECT journey.register_audience('ffr_accounts', 'id', 'email');

-------------------------------------------------------------------------------
-- Exit rule names: 63 characters of two bytes each pass, 64 do not; reserved
-- words in any case, "manual:" and "exit rule " in any case are refused.
SELECT step_key, message FROM journey.validate_definition(jsonb_build_object(
  'name', 'ffr-names', 'audience', 'ffr_people', 'start', 'a',
  'steps', jsonb_build_array(jsonb_build_object('key', 'a', 'type', 'exit')),
  'exit', jsonb_build_array(
    jsonb_build_object('type', 'event', 'event', 'x', 'name', repeat('é', 63)),
    jsonb_build_object('type', 'event', 'event', 'y', 'name', repeat('é', 64)),
    jsonb_build_object('type', 'event', 'event', 'z', 'name', 'Manual'),
    jsonb_build_object('type', 'event', 'event', 'w', 'name', 'Customer_Deleted'),
    jsonb_build_object('type', 'event', 'event', 'v', 'name', 'manual: refund'),
    jsonb_build_object('type', 'event', 'event', 'u', 'name', 'EXIT RULE exit[0]'))))
 ORDER BY step_key, message;

-------------------------------------------------------------------------------
-- A journey: hello -> wait (1 day) -> bye (the end). Exit rules "support"
-- (an event) and one whose name has a newline and a tab.
SELECT journey.import($${"name": "ffr-flow", "audience": "ffr_people", "start": "hello",
  "exit": [{"type": "event", "event": "support", "name": "support"},
           {"type": "event", "event": "stop", "name": "stop\nnow\t!"}],
  "steps": [{"key": "hello", "type": "send", "channel": "ffr", "payload": {}, "next": "wait"},
            {"key": "wait", "type": "delay", "duration": "1 day", "next": "bye"},
            {"key": "bye", "type": "send", "channel": "ffr", "payload": {}}]}$$) > 0 AS imported;
SELECT journey.publish('ffr-flow');
SELECT count(journey.enroll('ffr-flow', c::text)) AS enrolled FROM generate_series(1, 6) c;
SELECT journey.enroll('ffr-flow', '70007') > 0 AS enrolled;
UPDATE journey.enrollments e SET entered_at = ref_time('2030-01-01 09:00+00')
  FROM journey.journeys j WHERE j.id = e.journey_id AND j.name = 'ffr-flow';
SELECT journey.run_due(100, ref_time('2030-01-01 09:40+00')) AS ran;
-- Manual exits: customer 1 with the reason "support" (the name of a rule),
-- 2 without a reason; 3 leaves by the rule "support", 4 by the other rule.
SELECT journey.exit(e.id, 'support') FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'ffr-flow' AND e.customer_id = '1';
SELECT journey.exit(e.id) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'ffr-flow' AND e.customer_id = '2';
SELECT journey.track('3', 'support', audience => 'ffr_people') > 0 AS tracked;
SELECT journey.track('4', 'stop', audience => 'ffr_people') > 0 AS tracked;
SELECT try($$SELECT journey.exit(NULL)$$);
SELECT try($$SELECT journey.exit(NULL, 'why')$$);
-- The others reach bye a day later and end there.
SELECT journey.run_due(100, ref_time('2030-01-02 10:00+00')) AS ran;
SELECT e.customer_id::int AS c, e.status, e.step_key, e.exit_reason FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'ffr-flow' ORDER BY 1;

-- The rule "support" is credited with its one exit, not the manual one.
SELECT kind, n, label, count FROM journey._drawing_parts(
  (SELECT id FROM journey.journeys WHERE name = 'ffr-flow'), 1)
 WHERE kind IN ('exit', 'outcome') ORDER BY kind, n, from_key, label;
-- Control characters are written out in both drawings.
SELECT line FROM regexp_split_to_table(journey.to_mermaid('ffr-flow'), E'\n') line
 WHERE line LIKE '  x%';
SELECT line FROM regexp_split_to_table(journey.to_dot('ffr-flow'), E'\n') line
 WHERE line LIKE '  x%';

-- funnel and step_stats agree: bye completed 3 (funnel "completed", step_stats "(end)").
SELECT step_key, entered, now_at, moved, completed, exited, failed, median_time
  FROM journey.funnel('ffr-flow');
SELECT step_key, entered, now_at, branches FROM journey.step_stats
 WHERE name = 'ffr-flow' ORDER BY step_key;
-- Windows whose edges are not whole hours give what activity itself says
-- (whole hours come from activity_hours, the edges from activity): hello's
-- visits arrived at 09:00, wait's at 09:40, bye's at 10:00 on the 2nd.
SELECT w.since, f.step_key, f.entered, f.moved, f.completed, f.exited
  FROM (VALUES ('08:30'), ('09:30'), ('09:50')) w(since),
       journey.funnel('ffr-flow', ref_time('2030-01-01 ' || w.since || '+00'),
                      ref_time('2030-01-02 10:30+00')) f
 ORDER BY 1, 2;
SELECT w.since, a.step_key, count(*) AS visits, count(*) FILTER (WHERE a.outcome = 'moved') AS moved,
       count(*) FILTER (WHERE a.outcome = 'completed') AS completed,
       count(*) FILTER (WHERE a.outcome = 'exited') AS exited
  FROM (VALUES ('08:30'), ('09:30'), ('09:50')) w(since),
       journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
 WHERE j.name = 'ffr-flow' AND a.arrived_at >= ref_time('2030-01-01 ' || w.since || '+00')
   AND a.arrived_at < ref_time('2030-01-02 10:30+00')
 GROUP BY 1, 2 ORDER BY 1, 2;
-- activity_hours holds what activity holds.
SELECT (SELECT sum(h.visits) FROM journey.activity_hours h JOIN journey.journeys j ON j.id = h.journey_id
         WHERE j.name = 'ffr-flow') AS counted,
       (SELECT count(*) FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
         WHERE j.name = 'ffr-flow') AS written;

-- Windows and controls that are not one.
SELECT try($$SELECT * FROM journey.funnel('ffr-flow', ref_time('2030-01-02 00:00+00'), ref_time('2030-01-01 00:00+00'))$$);
SELECT try($$SELECT * FROM journey.funnel('ffr-flow', since => 'infinity')$$);
SELECT try($$SELECT * FROM journey.funnel('ffr-flow', until => '-infinity')$$);
SELECT try($$SELECT * FROM journey.split_report('ffr-flow', since => '-infinity')$$);
SELECT try($$SELECT * FROM journey.split_report('ffr-flow', ref_time('2030-01-02 00:00+00'), ref_time('2030-01-01 00:00+00'))$$);
SELECT try($$SELECT * FROM journey.split_report('ffr-flow', control => 'nope')$$);
SELECT variant, enrolled FROM journey.split_report('ffr-flow', control => '(holdout)');

-------------------------------------------------------------------------------
-- customer_journeys: account "70007" has a journey too (ids no other test uses:
-- without an audience, every registered audience is looked in).
SELECT journey.import($${"name": "ffr-accounts", "audience": "ffr_accounts", "start": "w",
  "steps": [{"key": "w", "type": "delay", "duration": "1 day"}]}$$) > 0 AS imported;
SELECT journey.publish('ffr-accounts');
SELECT journey.enroll('ffr-accounts', '70007') > 0 AS enrolled;
-- "070007" is person 70007 (integer key); account "070007" is in no journey.
SELECT journey, kind, step_key FROM journey.customer_journeys('070007');
SELECT journey, kind, step_key FROM journey.customer_journeys('070007', 'ffr_people');
SELECT count(*) AS rows FROM journey.customer_journeys('070007', 'ffr_accounts');
SELECT journey, kind, step_key FROM journey.customer_journeys('70007', 'ffr_accounts');
-- "70007" names a person and an account that both have journeys: say which.
SELECT try($$SELECT * FROM journey.customer_journeys('70007')$$);
SELECT try($$SELECT * FROM journey.customer_journeys('70007', 'pg_class')$$);
SELECT try($$SELECT * FROM journey.customer_journeys('70007', 'ffr_nope')$$);
SELECT try($$SELECT * FROM journey.customer_journeys('x70007', 'ffr_people')$$);
SELECT try($$SELECT * FROM journey.customer_journeys(NULL)$$);
SELECT count(*) AS rows FROM journey.customer_journeys('x70007');

SELECT journey.archive(j) FROM unnest(ARRAY['ffr-flow', 'ffr-accounts']) j;
SELECT journey.drop_journey(j) FROM unnest(ARRAY['ffr-flow', 'ffr-accounts']) j;
SELECT count(*) AS left_behind FROM journey.activity_hours h
 WHERE NOT EXISTS (SELECT 1 FROM journey.journeys j WHERE j.id = h.journey_id);
SELECT journey.unregister_audience('ffr_people');
SELECT journey.unregister_audience('ffr_accounts');
DROP TABLE ffr_people;
DROP TABLE ffr_accounts;
