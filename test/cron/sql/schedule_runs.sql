-- Scheduled entry triggers, for real: pg_cron (here in database postgres, with
-- listen_addresses = '' as tools/cluster.sh sets it) fires pg_journey's jobs,
-- which connect through the Unix socket; every run's outcome, success or
-- failure, is recorded in journey.trigger_runs and shown by
-- journey.schedule_status; administrators run a trigger now with
-- journey.run_scheduled_trigger. Publishing refuses schedules the installed
-- pg_cron rejects and segment queries that do not plan as the journey owner.
-- drop_journey and DROP EXTENSION leave no job behind.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
SET client_min_messages = warning;  -- an earlier file may have created it
CREATE EXTENSION IF NOT EXISTS pg_cron;
RESET client_min_messages;
CREATE EXTENSION pg_journey;
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  st text; msg text; det text;
BEGIN
  EXECUTE sql;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
  RETURN st || ': ' || msg || coalesce(E'\ndetail: ' || nullif(det, ''), '');
END
$$;
CREATE TABLE runs_people (id int PRIMARY KEY, email text, plan text, born date);
INSERT INTO runs_people VALUES (1, 'a@x.test', 'pro', (now() - interval '30 years')::date),
  (2, 'b@x.test', 'free', (now() - interval '30 years' + interval '10 days')::date), (3, 'c@x.test', 'pro', NULL);
CREATE TABLE runs_extra (id int);
INSERT INTO runs_extra VALUES (2);
SELECT journey.register_audience('runs_people', 'id', 'email');
SELECT journey.create_template('runs_t', 'email', 'Hi', 'Hello');

-- 1. pg_cron fires the jobs of journey 1 (every minute: pg_cron 1.4 has no seconds), one
-- trigger that enrolls and one that fails at run time (its table is dropped
-- after the publish). Checked at the end of this file.
SELECT journey.import($${"name": "runs-cron", "audience": "runs_people", "start": "hi",
  "entry": [{"type": "segment", "schedule": "* * * * *", "when": {"field": "plan", "op": "eq", "value": "pro"}},
            {"type": "segment", "schedule": "* * * * *", "query": "SELECT id FROM public.runs_extra"}],
  "steps": [{"key": "hi", "type": "send_email", "template": "runs_t"}]}$$) > 0 AS imported;
BEGIN;  -- pg_cron sees the jobs when the table is already gone
SELECT journey.publish('runs-cron');
DROP TABLE runs_extra;
COMMIT;
-- The jobs connect the way the server is reachable: no TCP here, so through
-- the Unix socket directory.
SELECT jobname, schedule, command, nodename = current_setting('unix_socket_directories') AS via_socket
  FROM cron.job WHERE jobname LIKE 'pg_journey:%' ORDER BY jobname;

-- 2. Publishing refuses what would fail later: a schedule the installed pg_cron
-- rejects, segment queries that do not plan as the journey owner (who publishes).
CREATE ROLE regress_runs_admin IN ROLE journey_admin;
GRANT SELECT ON runs_people TO regress_runs_admin;
CREATE TABLE runs_secret (id int);
SET ROLE regress_runs_admin;
SELECT journey.import($${"name": "runs-bad", "audience": "runs_people", "start": "hi",
  "entry": [{"type": "segment", "schedule": "30 seconds", "when": {"field": "plan", "op": "eq", "value": "pro"}},
            {"type": "segment", "schedule": "@daily", "query": "SELECT id FROM public.runs_secret"},
            {"type": "segment", "schedule": "@daily", "query": "SELECT nope FROM public.runs_people"},
            {"type": "segment", "schedule": "@daily", "query": "SELECT id FROM public.runs_people; DELETE FROM public.runs_people"},
            {"type": "segment", "schedule": "@daily", "query": "SELECT id FROM public.runs_people -- all of them"}],
  "steps": [{"key": "hi", "type": "send_email", "template": "runs_t"}]}$$) > 0 AS imported;
SELECT step_key, message FROM journey.validate('runs-bad') WHERE severity = 'error' ORDER BY step_key, message;
SELECT pg_temp.try($$SELECT journey.publish('runs-bad')$$);
RESET ROLE;
SELECT count(*) AS rows_kept FROM runs_people;
-- Planning a query may run functions (constant folding): it is planned as the
-- owner only by a role that has the owner's privileges (the publisher
-- publishing); validate_definition naming another owner checks its form only.
CREATE FUNCTION public.runs_whoami() RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE 'planned as %', current_user;
  RETURN 1;
END $$;
SET ROLE regress_runs_admin;
SELECT count(*) AS errors FROM journey.validate_definition($${"name": "runs-plan", "audience": "runs_people",
  "start": "hi", "steps": [{"key": "hi", "type": "send_email", "template": "runs_t"}],
  "entry": [{"type": "segment", "schedule": "@daily",
             "query": "SELECT id FROM public.runs_people WHERE id = public.runs_whoami()"}]}$$, 'postgres')
 WHERE severity = 'error';
SELECT journey.import($${"name": "runs-plan", "audience": "runs_people",
  "start": "hi", "steps": [{"key": "hi", "type": "send_email", "template": "runs_t"}],
  "entry": [{"type": "segment", "schedule": "@daily",
             "query": "SELECT id FROM public.runs_people WHERE id = public.runs_whoami()"}]}$$) > 0 AS imported;
SELECT journey.publish('runs-plan');
RESET ROLE;
SELECT count(*) AS probe_jobs_left FROM cron.job WHERE jobname = 'pg_journey:schedule-check';

-- 3. An administrator runs a journey's scheduled triggers now; each run is recorded.
SELECT journey.import($${"name": "runs-now", "audience": "runs_people", "start": "hi",
  "entry": [{"type": "segment", "schedule": "@daily", "when": {"field": "plan", "op": "eq", "value": "pro"}},
            {"type": "event", "event": "x"},
            {"type": "segment", "schedule": "@daily", "query": "SELECT id FROM public.runs_gone"}],
  "steps": [{"key": "hi", "type": "send_email", "template": "runs_t"}]}$$) > 0 AS imported;
CREATE TABLE runs_gone (id int);
SELECT journey.publish('runs-now');
DROP TABLE runs_gone;
SET ROLE regress_runs_admin;
SELECT * FROM journey.run_scheduled_trigger('runs-now');
SELECT * FROM journey.run_scheduled_trigger('runs-now', trigger_position => 1);
SELECT pg_temp.try($$SELECT * FROM journey.run_scheduled_trigger('runs-now', 2)$$);
RESET ROLE;
SELECT r.position, r.run_by, r.enrolled, r.error, r.finished_at >= r.started_at AS timed
  FROM journey.trigger_runs r JOIN journey.journeys j ON j.id = r.journey_id
 WHERE j.name = 'runs-now' ORDER BY r.id;
SELECT name, position, type, schedule, cron_job_exists, cron_job_active, last_run_by, last_enrolled,
       last_error, last_success_at IS NOT NULL AS succeeded_once, failures_since_success
  FROM journey.schedule_status WHERE name = 'runs-now' ORDER BY position;
SELECT customer_id, count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'runs-now' GROUP BY 1 ORDER BY 1;
SELECT journey.pause('runs-now');
SELECT pg_temp.try($$SELECT * FROM journey.run_scheduled_trigger('runs-now')$$);

-- Recurring date triggers (birthdays): this year's anniversary, or last or
-- next year's when the offset crosses New Year. Customer 1 was born 30 years
-- ago today: "-1 year" before next year's birthday and "1 year" after last
-- year's are both today.
SELECT journey.import(format($${"name": "runs-%s", "audience": "runs_people", "start": "hi",
  "settings": {"reentry": "after_exit"},
  "entry": [{"type": "date", "schedule": "0 8 * * *", "field": "born", "offset": "%s", "recurring": "yearly"}],
  "steps": [{"key": "hi", "type": "send_email", "template": "runs_t"}]}$$, n, o)::jsonb) > 0 AS imported,
       journey.publish('runs-' || n) AS published
  FROM (VALUES ('before', '-1 year'), ('after', '1 year'), ('today', '0 days')) v(n, o);
SELECT j.name, r.* FROM journey.journeys j, journey.run_scheduled_trigger(j.name) r
 WHERE j.name IN ('runs-before', 'runs-after', 'runs-today') ORDER BY j.name;
SELECT j.name, e.customer_id FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name IN ('runs-before', 'runs-after', 'runs-today') ORDER BY 1, 2;

-- 4. drop_journey leaves nothing: segment members, scheduled and trigger runs, its jobs.
SELECT id AS now_id FROM journey.journeys WHERE name = 'runs-now' \gset
SELECT (SELECT count(*) FROM journey.segment_members WHERE journey_id = :now_id) > 0 AS members,
       (SELECT count(*) FROM journey.scheduled_runs WHERE journey_id = :now_id) > 0 AS scheduled,
       (SELECT count(*) FROM journey.trigger_runs WHERE journey_id = :now_id) > 0 AS runs,
       (SELECT count(*) FROM cron.job WHERE jobname LIKE format('pg_journey:%s:%%', :now_id)) AS jobs;
SELECT journey.archive('runs-now');
SELECT journey.drop_journey('runs-now');
SELECT (SELECT count(*) FROM journey.segment_members WHERE journey_id = :now_id) AS members,
       (SELECT count(*) FROM journey.scheduled_runs WHERE journey_id = :now_id) AS scheduled,
       (SELECT count(*) FROM journey.trigger_runs WHERE journey_id = :now_id) AS runs,
       (SELECT count(*) FROM cron.job WHERE jobname LIKE format('pg_journey:%s:%%', :now_id)) AS jobs;

-- 5. pg_cron fired both jobs of runs-cron (waits for the next minute boundary).
DO $$
BEGIN
  FOR i IN 1..150 LOOP
    EXIT WHEN (SELECT count(DISTINCT r.position) FROM journey.trigger_runs r
                 JOIN journey.journeys j ON j.id = r.journey_id
                WHERE j.name = 'runs-cron' AND r.run_by = 'schedule') = 2
          AND (SELECT count(DISTINCT c.jobname) FROM cron.job_run_details d JOIN cron.job c USING (jobid)
                WHERE c.jobname IN ('pg_journey:1:1', 'pg_journey:1:2')
                  AND d.status IN ('succeeded', 'failed')) = 2;
    PERFORM pg_sleep(1);
  END LOOP;
END
$$;
SELECT r.position, r.run_by, r.enrolled, r.error
  FROM journey.trigger_runs r JOIN journey.journeys j ON j.id = r.journey_id
 WHERE j.name = 'runs-cron' AND r.id IN (SELECT min(x.id) FROM journey.trigger_runs x GROUP BY x.journey_id, x.position)
 ORDER BY r.position;
SELECT DISTINCT c.jobname, d.status FROM cron.job_run_details d JOIN cron.job c USING (jobid)
 WHERE c.jobname IN ('pg_journey:1:1', 'pg_journey:1:2') AND d.status <> 'running' ORDER BY 1, 2;
SELECT position, cron_job_exists, cron_status, last_run_by, last_enrolled, last_error
  FROM journey.schedule_status WHERE name = 'runs-cron' ORDER BY position;
SELECT customer_id FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'runs-cron' ORDER BY 1;

-- 6. DROP EXTENSION removes the jobs of journeys that are still live.
SELECT count(*) AS jobs FROM cron.job WHERE jobname LIKE 'pg_journey:%';
DROP EXTENSION pg_journey CASCADE;
SELECT count(*) AS jobs_left FROM cron.job WHERE jobname LIKE 'pg_journey:%';
DELETE FROM cron.job_run_details WHERE command LIKE '%journey.run_entry_trigger%';
DROP TABLE runs_people, runs_secret;
DROP FUNCTION public.runs_whoami();
DROP ROLE regress_runs_admin;
-- pg_cron stays: its scheduler does not see the jobs of a pg_cron dropped and
-- created again in the same server (a later file's jobs would never fire).
