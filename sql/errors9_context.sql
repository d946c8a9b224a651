-- Enrollment failures that carry their context (issue 9; attack-9 F3, F8,
-- F11, F13): last_error names the step, the column and where a value came
-- from, keeps PostgreSQL's message and its SQLSTATE, and stays bounded.
\set SHOW_CONTEXT never
SET timezone = 'UTC';

CREATE TABLE e9_people (id int PRIMARY KEY, email text, score int DEFAULT 0,
                        small smallint DEFAULT 0, code varchar(3), note text,
                        tz text DEFAULT 'UTC', due timestamptz, dd date);
INSERT INTO e9_people (id, email, due, dd)
  SELECT g, 'e9-' || g || '@x.test', '2030-01-01', '2030-01-01' FROM generate_series(1, 9) g;
SELECT journey.register_audience('e9_people', 'id', 'email', 'tz');

-- F3: a value the column's type refuses (out of range, too long) fails the
-- update_field step with the type-mismatch message's form, PostgreSQL's
-- message appended and its SQLSTATE kept.
SELECT journey.import($j${"name": "e9-update", "audience": "e9_people", "start": "u",
  "settings": {"max_attempts": 1},
  "entry": [{"type": "event", "event": "e9buy"}],
  "steps": [{"key": "u", "type": "update_field",
             "set": {"score": {"from": "event.qty"}, "small": {"from": "event.big"},
                     "code": {"from": "event.code"}}, "next": "p"},
            {"key": "p", "type": "delay", "duration": "1 day"}]}$j$) > 0 AS imported;
SELECT journey.publish('e9-update') IS NOT NULL AS published;
SELECT journey.track('1', 'e9buy', '{"qty": "many"}', audience => 'e9_people') IS NOT NULL AS tracked;
SELECT journey.track('2', 'e9buy', '{"qty": 5, "big": 99999}', audience => 'e9_people') IS NOT NULL AS tracked;
SELECT journey.track('3', 'e9buy', '{"qty": 5, "big": 7, "code": "abcd"}', audience => 'e9_people') IS NOT NULL AS tracked;
SELECT journey.track('4', 'e9buy', '{"qty": 6, "big": 8, "code": "abc"}', audience => 'e9_people') IS NOT NULL AS tracked;
-- (other suites' enrollments may be due too: the rows below are the check)
SELECT journey.run_due(100, ref_time('2030-01-01 10:00+00')) > 0 AS ran;
SELECT e.customer_id, e.status, e.step_key, e.last_error_code, e.last_error
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'e9-update' ORDER BY e.customer_id;
-- Nothing of the failed runs was written; the good one was.
SELECT id, score, small, code FROM e9_people WHERE id BETWEEN 1 AND 4 ORDER BY id;
SELECT journey.archive('e9-update');

-- F13: an error message of any size is kept bounded (8 kB, with a marker),
-- in last_error, the activity reason and the log line; the SQLSTATE stays.
CREATE FUNCTION e9_shout(customer_id text, context jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '%', repeat('E', 20000) USING ERRCODE = 'P0042';
END $$;
SELECT journey.import($j${"name": "e9-shout", "audience": "e9_people", "start": "c",
  "settings": {"max_attempts": 1},
  "steps": [{"key": "c", "type": "call", "function": "public.e9_shout"}]}$j$) > 0 AS imported;
SELECT journey.publish('e9-shout') IS NOT NULL AS published;
SELECT journey.enroll('e9-shout', '5') > 0 AS enrolled;
-- (other suites' enrollments may be due too: the rows below are the check)
SELECT journey.run_due(100, ref_time('2030-01-01 10:00+00')) > 0 AS ran;
SELECT e.status, e.last_error_code, length(e.last_error) AS kept,
       left(e.last_error, 3) AS starts, right(e.last_error, 40) AS ends
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'e9-shout';
SELECT a.step_key, a.outcome, length(a.reason) AS kept, right(a.reason, 40) AS ends
  FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
 WHERE j.name = 'e9-shout' AND a.reason IS NOT NULL;
SELECT journey.archive('e9-shout');

-- F8: a version that no longer compiles (its column dropped with the guard
-- disabled) fails its enrollments with 42703 undefined_column, not XX000.
SELECT journey.import($j${"name": "e9-cond", "audience": "e9_people", "start": "c",
  "settings": {"max_attempts": 1},
  "steps": [{"key": "c", "type": "condition", "if": {"field": "note", "op": "exists"},
             "branches": {"yes": "p", "no": "p"}},
            {"key": "p", "type": "delay", "duration": "1 day"}]}$j$) > 0 AS imported;
SELECT journey.publish('e9-cond') IS NOT NULL AS published;
SELECT journey.enroll('e9-cond', '6') > 0 AS enrolled;
ALTER EVENT TRIGGER pg_journey_guard_audience_alter DISABLE;
SET client_min_messages = error;  -- the table's writes warn about the journey
ALTER TABLE e9_people DROP COLUMN note;
RESET client_min_messages;
ALTER EVENT TRIGGER pg_journey_guard_audience_alter ENABLE;
-- (other suites' enrollments may be due too: the rows below are the check)
SELECT journey.run_due(100, ref_time('2030-01-01 10:00+00')) > 0 AS ran;
SELECT e.status, e.step_key, e.last_error_code, e.last_error
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'e9-cond';
SELECT journey.archive('e9-cond');

-- F11: a date beyond the range journeys compute with names its column and
-- audience, as a timestamptz does (22008).
UPDATE e9_people SET due = '294270-01-01' WHERE id = 7;
UPDATE e9_people SET dd = '5874897-12-31' WHERE id = 8;
SELECT journey.import($j${"name": "e9-dates", "audience": "e9_people", "start": "w",
  "settings": {"max_attempts": 1},
  "steps": [{"key": "w", "type": "delay", "until_field": "due", "offset": "1 hour", "next": "w2"},
            {"key": "w2", "type": "delay", "until_field": "dd", "offset": "-1 day"}]}$j$) > 0 AS imported;
SELECT journey.publish('e9-dates') IS NOT NULL AS published;
SELECT count(journey.enroll('e9-dates', g::text)) AS enrolled FROM generate_series(7, 8) g;
-- (other suites' enrollments may be due too: the rows below are the check)
SELECT journey.run_due(100, ref_time('2030-01-01 10:00+00')) > 0 AS ran;
SELECT e.customer_id, e.status, e.step_key, e.last_error_code, e.last_error
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'e9-dates' ORDER BY e.customer_id;
SELECT journey.archive('e9-dates');

SELECT journey.drop_journey(n) FROM unnest(ARRAY['e9-update', 'e9-shout', 'e9-cond', 'e9-dates']) n;
SELECT journey.unregister_audience('e9_people');
DROP TABLE e9_people;
DROP FUNCTION e9_shout(text, jsonb);
