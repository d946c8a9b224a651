-- Errors that carry their context (issue 9): a C++ exception inside pg_guard
-- leaves PostgreSQL's exception stack sound; every enrollment failure keeps
-- its SQLSTATE in last_error_code; whatever is raised or logged while an
-- enrollment runs (a call step's NOTICE, the tick's failure log line) names
-- the enrollment, its journey, version and step (an error context callback).
\set SHOW_CONTEXT never
SET timezone = 'UTC';

-- A C++ exception thrown inside pg_guard is reported (XX000) once the
-- PostgreSQL exception stack is restored; later errors still reach the client.
SELECT try($$SELECT journey._bridge_selftest('cpp_in_guard')$$);
SELECT try($$SELECT journey._bridge_selftest('pg_error')$$);
SELECT try($$SELECT journey._bridge_selftest('cpp_in_guard')$$);
SELECT journey._bridge_selftest('ok');

-- Fixed enrollment ids for this file (the context names them); restored at the end.
SELECT last_value AS saved_enrollment_id FROM journey.enrollments_id_seq \gset
SELECT setval('journey.enrollments_id_seq', 900000000) AS enrollment_ids_from;

CREATE TABLE arch_people (id int PRIMARY KEY, email text);
INSERT INTO arch_people SELECT g, 'a' || g || '@x.test' FROM generate_series(1, 4) g;
SELECT journey.register_audience('arch_people', 'id', 'email');
CREATE TABLE arch_seen (customer text, context text);
GRANT INSERT ON arch_seen TO PUBLIC;
-- A call step that records the error context it runs in, then fails for
-- customer 2 (its own SQLSTATE) and 3 (division by zero).
CREATE FUNCTION arch_check(customer_id text, context jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  ctx text;
BEGIN
  GET DIAGNOSTICS ctx = PG_CONTEXT;
  INSERT INTO public.arch_seen VALUES (customer_id, ctx);
  IF customer_id = '2' THEN
    RAISE EXCEPTION 'crm unreachable for %', customer_id USING ERRCODE = '08006';
  ELSIF customer_id = '3' THEN
    PERFORM 1 / (customer_id::int - 3);
  ELSIF customer_id = '4' THEN
    RAISE NOTICE 'checking customer %', customer_id;
  END IF;
  RETURN '{}';
END $$;
SELECT journey.import($${"name": "arch-errors", "audience": "arch_people", "start": "check",
  "settings": {"max_attempts": 2},
  "steps": [{"key": "check", "type": "call", "function": "public.arch_check", "next": "pause"},
            {"key": "pause", "type": "delay", "duration": "1 day"}]}$$) > 0 AS imported;
SELECT journey.publish('arch-errors');
SELECT count(journey.enroll('arch-errors', id::text)) AS enrolled FROM arch_people;
SELECT e.customer_id, e.id - 900000000 AS nth FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'arch-errors' ORDER BY e.id;

-- The tick's failure log line and a call step's NOTICE carry the context.
\set SHOW_CONTEXT always
SET client_min_messages = log;
SELECT journey.run_due(100, ref_time('2030-01-01 00:00+00')) AS processed;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- Seen from inside the call step: its enrollment, journey, version and step.
SELECT s.customer, l AS context_line
  FROM arch_seen s, regexp_split_to_table(s.context, E'\n') l
 WHERE l LIKE 'pg_journey%' ORDER BY s.customer;

-- last_error keeps the message, last_error_code its SQLSTATE.
SELECT e.customer_id, e.status, e.attempts, e.last_error, e.last_error_code
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'arch-errors' ORDER BY e.customer_id;
-- The retry (max_attempts 2) fails them; the code stays.
SET client_min_messages = log;
\set SHOW_CONTEXT always
SELECT journey.run_due(100, ref_time('2030-01-01 01:00+00')) AS processed;
RESET client_min_messages;
\set SHOW_CONTEXT never
SELECT e.customer_id, e.status, e.attempts, e.last_error_code, e.ended_at IS NOT NULL AS ended
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'arch-errors' ORDER BY e.customer_id;

-- A run the engine fails (the visit cap) is program_limit_exceeded.
SELECT journey.import($${"name": "arch-loop", "audience": "arch_people", "start": "tick",
  "settings": {"max_step_visits": 2},
  "steps": [{"key": "tick", "type": "delay", "duration": "1 minute", "next": "tock"},
            {"key": "tock", "type": "goal", "next": "tick"}]}$$) > 0 AS imported;
SELECT journey.publish('arch-loop');
SELECT journey.enroll('arch-loop', '1') > 0 AS enrolled;
SELECT g AS minute, journey.run_due(10, ref_time('2030-02-01 00:00+00') + g * interval '1 minute') AS processed
  FROM generate_series(0, 1) g ORDER BY g;
SELECT e.status, e.last_error, e.last_error_code FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'arch-loop';

-- A run that passes pg_journey.step_timeout: query_canceled.
SET pg_journey.step_timeout = '200ms';
CREATE FUNCTION arch_nap(customer_id text, context jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_sleep(5);
  RETURN '{}';
END $$;
SELECT journey.import($${"name": "arch-nap", "audience": "arch_people", "start": "nap",
  "steps": [{"key": "nap", "type": "call", "function": "public.arch_nap"}]}$$) > 0 AS imported;
SELECT journey.publish('arch-nap');
SELECT journey.enroll('arch-nap', '1') > 0 AS enrolled;
SELECT journey.run_due(10, ref_time('2030-03-01 00:00+00')) AS processed;
RESET pg_journey.step_timeout;
SELECT e.status, e.attempts, e.last_error, e.last_error_code FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'arch-nap';

-- A later successful run clears both.
CREATE OR REPLACE FUNCTION arch_nap(customer_id text, context jsonb) RETURNS jsonb
  LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
SELECT journey.run_due(10, ref_time('2030-03-02 00:00+00')) AS processed;
SELECT e.status, e.attempts, e.last_error, e.last_error_code FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'arch-nap';

SELECT journey.archive(name) FROM journey.journeys WHERE name LIKE 'arch-%' ORDER BY name;
SELECT setval('journey.enrollments_id_seq', :saved_enrollment_id) > 0 AS restored;
SELECT count(*) AS active_left FROM journey.enrollments WHERE status = 'active';
