-- Task r9 (audit-9b S6, S7): what publish(migrate => true) and
-- resume(catch_up => 'skip') do to parked enrollments is decided in core from
-- the compiled steps (journey._migrations, journey._skip_rearms). The cases the
-- other files do not show: a wait that became a delay and a delay that became a
-- wait (entered afresh: nothing to wait for until then), a delay whose "until"
-- was added or removed (re-armed under the new config), an enrollment that is
-- not parked (moves as it is), preview and publish agreeing, and the steps a
-- 'skip' re-arms (a delay until a time of day, of the version the enrollment is
-- on; not a duration or a date column, not one not yet due).
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE r9_people (id int PRIMARY KEY, email text, renews timestamptz);
INSERT INTO r9_people SELECT g, 'r' || g || '@x.test', ref_time('2030-03-01 00:00+00') FROM generate_series(1, 12) g;
SELECT journey.register_audience('r9_people', 'id', 'email');
SELECT journey.create_template('r9_t', 'email', 'Hi', 'Hello');
CREATE VIEW r9_state AS
  SELECT j.name, e.customer_id AS who, e.version, e.status, e.step_key, e.waiting_for, e.rearm,
         ref_shown(e.parked_at) AS parked_at, ref_shown(e.wait_deadline) AS wait_deadline,
         ref_shown(e.next_run_at) AS next_run_at, e.next_run_at <= now() AS due_now
    FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
   WHERE j.audience = 'r9_people'::regclass
   ORDER BY j.name, e.customer_id::int;

-------------------------------------------------------------------------------
-- A wait for "opened" that became a one-day delay (1), and a 7-day delay that
-- became a wait for "clicked" (2): both enter the new step afresh at the next
-- tick; until then neither waits for an event (track does not wake them).
SELECT journey.import($${"name": "r9-w2d", "audience": "r9_people", "start": "s",
  "steps": [{"key": "s", "type": "wait_for_event", "event": "opened", "timeout": "3 days",
             "branches": {"event": "m", "timeout": "m"}},
            {"key": "m", "type": "send_email", "template": "r9_t"}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "r9-d2w", "audience": "r9_people", "start": "s",
  "steps": [{"key": "s", "type": "delay", "duration": "7 days", "next": "m"},
            {"key": "m", "type": "send_email", "template": "r9_t"}]}$$) > 0 AS imported;
SELECT journey.publish('r9-w2d'), journey.publish('r9-d2w');
SELECT journey.enroll('r9-w2d', '1') > 0 AS one, journey.enroll('r9-d2w', '2') > 0 AS two;
SELECT journey.run_due(1000, ref_time('2030-01-01 00:00+00')) AS processed;
SELECT * FROM r9_state WHERE name IN ('r9-w2d', 'r9-d2w');
SELECT journey.import($${"name": "r9-w2d", "audience": "r9_people", "start": "s",
  "steps": [{"key": "s", "type": "delay", "duration": "1 day", "next": "m"},
            {"key": "m", "type": "send_email", "template": "r9_t"}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "r9-d2w", "audience": "r9_people", "start": "s",
  "steps": [{"key": "s", "type": "wait_for_event", "event": "clicked", "timeout": "2 days",
             "branches": {"event": "m", "timeout": "m"}},
            {"key": "m", "type": "send_email", "template": "r9_t"}]}$$) > 0 AS imported;
SELECT * FROM journey.publish_preview('r9-w2d');
SELECT journey.publish('r9-w2d', migrate => true), journey.publish('r9-d2w', migrate => true);
SELECT name, who, version, step_key, waiting_for, rearm, parked_at, wait_deadline, due_now FROM r9_state WHERE name IN ('r9-w2d', 'r9-d2w');
SELECT journey.track('1', 'opened', audience => 'r9_people') > 0 AS tracked;
SELECT journey.run_due(1000, ref_time('2030-01-01 06:00+00')) AS processed;
-- 1 parks one day from now (not woken by "opened"); 2 waits for "clicked" until two days from now.
SELECT * FROM r9_state WHERE name IN ('r9-w2d', 'r9-d2w');
SELECT journey.archive('r9-w2d'), journey.archive('r9-d2w');

-------------------------------------------------------------------------------
-- A delay whose "until" was added (3: 7 days became "until 09:00") or removed
-- (4: "until 09:00" became 2 hours): kept in place and re-armed under the new
-- config (the duration counted from the arrival at 10:00).
SELECT journey.import($${"name": "r9-until-added", "audience": "r9_people", "start": "d",
  "steps": [{"key": "d", "type": "delay", "duration": "7 days", "next": "m"},
            {"key": "m", "type": "send_email", "template": "r9_t"}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "r9-until-removed", "audience": "r9_people", "start": "d",
  "steps": [{"key": "d", "type": "delay", "until": {"time": "09:00"}, "next": "m"},
            {"key": "m", "type": "send_email", "template": "r9_t"}]}$$) > 0 AS imported;
SELECT journey.publish('r9-until-added'), journey.publish('r9-until-removed');
SELECT journey.enroll('r9-until-added', '3') > 0 AS three, journey.enroll('r9-until-removed', '4') > 0 AS four;
SELECT journey.run_due(1000, ref_time('2030-01-01 10:00+00')) AS processed;
SELECT * FROM r9_state WHERE name LIKE 'r9-until-%';
SELECT journey.import($${"name": "r9-until-added", "audience": "r9_people", "start": "d",
  "steps": [{"key": "d", "type": "delay", "until": {"time": "09:00"}, "next": "m"},
            {"key": "m", "type": "send_email", "template": "r9_t"}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "r9-until-removed", "audience": "r9_people", "start": "d",
  "steps": [{"key": "d", "type": "delay", "duration": "2 hours", "next": "m"},
            {"key": "m", "type": "send_email", "template": "r9_t"}]}$$) > 0 AS imported;
SELECT journey.publish('r9-until-added', migrate => true), journey.publish('r9-until-removed', migrate => true);
SELECT name, who, version, step_key, waiting_for, rearm, parked_at, wait_deadline, due_now FROM r9_state WHERE name LIKE 'r9-until-%';
SELECT journey.run_due(1000, ref_time('2030-01-01 11:00+00')) AS processed;
-- 3 waits for the next 09:00; 4 for 12:00 (two hours after it arrived).
SELECT * FROM r9_state WHERE name LIKE 'r9-until-%';
SELECT journey.archive('r9-until-added'), journey.archive('r9-until-removed');

-------------------------------------------------------------------------------
-- Not parked (5: enrolled, its start step not run yet): it moves as it is,
-- due when it was. The step key gone (6 at "old", which the new version has
-- not): it stays on its version. publish_preview says the same as publish.
SELECT journey.import($${"name": "r9-asis", "audience": "r9_people", "start": "w",
  "steps": [{"key": "w", "type": "wait_for_event", "event": "opened", "branches": {"event": "m"}},
            {"key": "old", "type": "delay", "duration": "1 day", "next": "m"},
            {"key": "m", "type": "send_email", "template": "r9_t"}]}$$) > 0 AS imported;
SELECT journey.publish('r9-asis');
SELECT journey.enroll('r9-asis', '5') > 0 AS five, journey.enroll('r9-asis', '6') > 0 AS six;
UPDATE journey.enrollments e SET step_key = 'old', next_run_at = ref_time('2030-01-05 00:00+00')
  FROM journey.journeys j WHERE j.id = e.journey_id AND j.name = 'r9-asis' AND e.customer_id = '6';
SELECT who, version, step_key, waiting_for, rearm, parked_at, due_now FROM r9_state WHERE name = 'r9-asis';
CREATE TEMP TABLE r9_before AS SELECT who, next_run_at FROM r9_state WHERE name = 'r9-asis';
SELECT journey.import($${"name": "r9-asis", "audience": "r9_people", "start": "w",
  "steps": [{"key": "w", "type": "wait_for_event", "event": "clicked", "branches": {"event": "m"}},
            {"key": "m", "type": "send_email", "template": "r9_t"}]}$$) > 0 AS imported;
SELECT * FROM journey.publish_preview('r9-asis');
SELECT journey.publish('r9-asis', migrate => true);
SELECT s.who, s.version, s.step_key, s.waiting_for, s.rearm, s.parked_at,
       s.next_run_at IS NOT DISTINCT FROM b.next_run_at AS next_run_at_kept
  FROM r9_state s JOIN r9_before b USING (who) WHERE s.name = 'r9-asis' ORDER BY s.who;
SELECT journey.archive('r9-asis');

-------------------------------------------------------------------------------
-- resume(catch_up => 'skip'): overdue parked enrollments re-arm only at a delay
-- until a time of day of the version they are on. 7 and 8 are parked at "d"
-- of version 1 (until 09:00); version 2 (published without migrate) has a
-- duration there, and 9 is parked at it. 10 waits for a date column
-- (until_field). 8 is not overdue.
SELECT journey.import($${"name": "r9-skip", "audience": "r9_people", "start": "d",
  "steps": [{"key": "d", "type": "delay", "until": {"time": "09:00"}, "next": "m"},
            {"key": "m", "type": "send_email", "template": "r9_t"}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "r9-skip-field", "audience": "r9_people", "start": "d",
  "steps": [{"key": "d", "type": "delay", "until_field": "renews", "next": "m"},
            {"key": "m", "type": "send_email", "template": "r9_t"}]}$$) > 0 AS imported;
SELECT journey.publish('r9-skip'), journey.publish('r9-skip-field');
SELECT count(journey.enroll('r9-skip', id::text)) AS enrolled FROM r9_people WHERE id IN (7, 8);
SELECT journey.enroll('r9-skip-field', '10') > 0 AS ten;
SELECT journey.run_due(1000, ref_time('2030-01-01 10:00+00')) AS processed;
SELECT journey.import($${"name": "r9-skip", "audience": "r9_people", "start": "d",
  "steps": [{"key": "d", "type": "delay", "duration": "1 day", "next": "m"},
            {"key": "m", "type": "send_email", "template": "r9_t"}]}$$) > 0 AS imported;
SELECT journey.publish('r9-skip');
SELECT journey.enroll('r9-skip', '9') > 0 AS nine;
SELECT journey.run_due(1000, ref_time('2030-01-01 10:00+00')) AS processed;
SELECT journey.pause('r9-skip'), journey.pause('r9-skip-field');
UPDATE journey.enrollments e SET next_run_at = now() - interval '1 minute'
  FROM journey.journeys j WHERE j.id = e.journey_id AND j.name LIKE 'r9-skip%' AND e.customer_id <> '8';
SELECT journey.resume('r9-skip', catch_up => 'skip'), journey.resume('r9-skip-field', catch_up => 'skip');
SELECT name, who, version, step_key, rearm, due_now FROM r9_state WHERE name LIKE 'r9-skip%';
-- 7 waits for the next 09:00 instead of firing late; 9 and 10 run late.
SELECT journey.run_due(1000, ref_time('2030-01-03 10:00+00')) AS processed;
SELECT name, who, version, status, step_key, parked_at, next_run_at FROM r9_state WHERE name LIKE 'r9-skip%';

SELECT journey.archive('r9-skip'), journey.archive('r9-skip-field');
SELECT count(*) AS active_left FROM journey.enrollments WHERE status = 'active';
