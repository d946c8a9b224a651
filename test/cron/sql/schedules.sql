-- Scheduled entry triggers with a real pg_cron (this suite runs in the database
-- pg_cron serves, cron.database_name): publishing schedules one job per
-- segment/date trigger, run_entry_trigger enrolls the newly matching
-- customers, re-publishing and archiving update and remove the jobs.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
SET client_min_messages = warning;  -- an earlier file may have created it
CREATE EXTENSION IF NOT EXISTS pg_cron;
RESET client_min_messages;
CREATE EXTENSION pg_journey;
CREATE TABLE subscribers (id int PRIMARY KEY, email text, plan text DEFAULT 'free',
                          trial_ends timestamptz, birthday date);
-- Customer 2's birthday is 3 days ahead (28 years back: the same weekday and
-- day of the year, Feb 29 included, whatever the date of the run).
INSERT INTO subscribers (id, email, plan, trial_ends, birthday) VALUES
  (1, 'a@x.test', 'pro',  now() - interval '2 hours', (now() - interval '30 years')::date),
  (2, 'b@x.test', 'free', now() + interval '5 days',  current_date + 3 - interval '28 years'),
  (3, 'c@x.test', 'pro',  now() - interval '3 days',  NULL);
SELECT journey.register_audience('subscribers', 'id', 'email');
SELECT journey.create_template('s', 'email', 'S', 'Hello');

SELECT journey.import($${"name": "pro-segment", "audience": "subscribers", "start": "hi",
  "entry": [{"type": "segment", "schedule": "*/5 * * * *", "when": {"field": "plan", "op": "eq", "value": "pro"}},
            {"type": "date", "schedule": "0 9 * * *", "field": "trial_ends", "offset": "1 hour"}],
  "settings": {"reentry": "after_exit"},
  "steps": [{"key": "hi", "type": "send_email", "template": "s"}]}$$) > 0 AS imported;
SELECT journey.publish('pro-segment');
SELECT jobname, schedule, command FROM cron.job WHERE jobname LIKE 'pg_journey:%' ORDER BY jobname;

-- The segment enrolls the customers matching now; running it again enrolls
-- only those newly matching.
SELECT journey.run_entry_trigger(j.id, 1) AS enrolled FROM journey.journeys j WHERE j.name = 'pro-segment';
SELECT journey.run_due() AS ran;
SELECT journey.run_entry_trigger(j.id, 1) AS again FROM journey.journeys j WHERE j.name = 'pro-segment';
UPDATE subscribers SET plan = 'pro' WHERE id = 2;
SELECT journey.run_entry_trigger(j.id, 1) AS newly_matching FROM journey.journeys j WHERE j.name = 'pro-segment';
SELECT customer_id, count(*) FROM journey.enrollments GROUP BY 1 ORDER BY 1;

-- The date trigger enrolls those whose trial_ends + 1 hour fell due since the
-- last run (the first run looks back one day).
SELECT journey.run_entry_trigger(j.id, 2) AS trial_due FROM journey.journeys j WHERE j.name = 'pro-segment';
SELECT e.customer_id, count(*) FROM journey.enrollments e GROUP BY 1 ORDER BY 1;

-- Re-publishing updates the jobs: here the date trigger becomes a yearly one
-- (birthdays: 3 days before this year's anniversary).
SELECT journey.import($${"name": "pro-segment", "audience": "subscribers", "start": "hi",
  "entry": [{"type": "segment", "schedule": "*/10 * * * *", "when": {"field": "plan", "op": "eq", "value": "pro"}},
            {"type": "date", "schedule": "0 8 * * *", "field": "birthday", "offset": "-3 days", "recurring": "yearly"}],
  "settings": {"reentry": "after_exit"},
  "steps": [{"key": "hi", "type": "send_email", "template": "s"}]}$$) > 0 AS imported;
SELECT journey.publish('pro-segment');
SELECT jobname, schedule FROM cron.job WHERE jobname LIKE 'pg_journey:%' ORDER BY jobname;
SELECT journey.run_due() AS ran;
SELECT journey.run_entry_trigger(j.id, 2) AS birthdays FROM journey.journeys j WHERE j.name = 'pro-segment';
SELECT e.customer_id, e.version, count(*) FROM journey.enrollments e GROUP BY 1, 2 ORDER BY 1, 2;
-- Without the date trigger, its job goes.
SELECT journey.import($${"name": "pro-segment", "audience": "subscribers", "start": "hi",
  "entry": [{"type": "segment", "schedule": "*/10 * * * *", "when": {"field": "plan", "op": "eq", "value": "pro"}}],
  "settings": {"reentry": "after_exit"},
  "steps": [{"key": "hi", "type": "send_email", "template": "s"}]}$$) > 0 AS imported;
SELECT journey.publish('pro-segment');
SELECT jobname, schedule FROM cron.job WHERE jobname LIKE 'pg_journey:%' ORDER BY jobname;

-- A segment given as SQL runs with the privileges of the journey's owner (the
-- role that published it), not of whoever runs the trigger (here a superuser):
-- the query returns its customer only when current_user is the owner.
CREATE ROLE cron_segment_owner IN ROLE journey_admin;
GRANT SELECT ON subscribers TO cron_segment_owner;
SET ROLE cron_segment_owner;
SELECT journey.import($${"name": "sql-segment", "audience": "subscribers", "start": "hi",
  "entry": [{"type": "segment", "schedule": "@hourly",
             "query": "SELECT id FROM public.subscribers WHERE id > 2 AND current_user = 'cron_segment_owner'"}],
  "steps": [{"key": "hi", "type": "send_email", "template": "s"}]}$$) > 0 AS imported;
SELECT journey.publish('sql-segment');
RESET ROLE;
SELECT current_user AS caller, j.owner, journey.run_entry_trigger(j.id, 1) AS enrolled
  FROM journey.journeys j WHERE j.name = 'sql-segment';

-- Paused journeys do not run their schedule; archiving removes the jobs.
SELECT journey.pause('sql-segment');
SELECT journey.run_entry_trigger(j.id, 1) AS while_paused FROM journey.journeys j WHERE j.name = 'sql-segment';
-- A job left behind by a dropped journey runs nothing.
SELECT journey.run_entry_trigger(-1, 1) AS unknown_journey;
SELECT journey.archive('pro-segment');
SELECT journey.archive('sql-segment');
SELECT count(*) AS jobs_left FROM cron.job WHERE jobname LIKE 'pg_journey:%';

DROP EXTENSION pg_journey CASCADE;
DROP TABLE subscribers;
-- pg_cron stays: its scheduler does not see the jobs of a pg_cron dropped and
-- created again in the same server (a later file's jobs would never fire).
DROP ROLE cron_segment_owner;
