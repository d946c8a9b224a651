-- Runtime behaviour the guides promise, each shown so that it fails when the
-- behaviour breaks: resume(catch_up => 'run'), nothing handed out from a paused
-- or archived journey, the frequency cap across journeys, backoff growth and its
-- cap, TRUNCATE and customer_deleted, quiet hours in the customer's time zone as
-- it is when the message is made. Engine time: the reference calendar of
-- setup.sql (ref_time, ref_shown).
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE proof_people (id int PRIMARY KEY, email text, tz text);
INSERT INTO proof_people (id, email) SELECT g, 'p' || g || '@x.test' FROM generate_series(1, 20) g;
SELECT journey.register_audience('proof_people', 'id', 'email', timezone_column => 'tz');
SELECT journey.create_template('proof_note', 'email', 'Note', 'Hello {{email}}');
CREATE VIEW proof_state AS
  SELECT j.name, e.customer_id AS who, e.status, e.step_key, e.exit_reason, e.attempts,
         ref_shown(e.next_run_at) AS next_run_at
    FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
   WHERE j.audience = 'proof_people'::regclass
   ORDER BY j.name, e.customer_id::int, e.id;
CREATE VIEW proof_visits AS
  SELECT j.name, a.customer_id AS who, a.visit, a.step_key, a.branch, ref_shown(a.at) AS at
    FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
   WHERE j.audience = 'proof_people'::regclass
   ORDER BY j.name, a.customer_id::int, a.visit;

-------------------------------------------------------------------------------
-- resume(catch_up => 'run'): what fell due during the pause runs at once on
-- resume (a delay "until" 09:00 that ended during the pause fires late, at the
-- tick after the resume; a duration delay likewise).
SELECT journey.import($${"name": "catch-up", "audience": "proof_people", "start": "hi",
  "steps": [{"key": "hi", "type": "send_email", "template": "proof_note", "next": "wake"},
            {"key": "wake", "type": "delay", "until": {"time": "09:00"}, "next": "rest"},
            {"key": "rest", "type": "delay", "duration": "2 hours", "next": "bye"},
            {"key": "bye", "type": "send_email", "template": "proof_note"}]}$$) > 0 AS imported;
SELECT journey.publish('catch-up');
SELECT count(journey.enroll('catch-up', id::text)) AS enrolled FROM proof_people WHERE id IN (1, 2);
SELECT journey.run_due(100, ref_time('2030-04-01 10:00+00')) AS processed;   -- parked until 09:00 tomorrow
SELECT who, step_key, next_run_at FROM proof_state WHERE name = 'catch-up';
SELECT journey.pause('catch-up');
SELECT journey.run_due(100, ref_time('2030-04-02 12:00+00')) AS processed_while_paused;
SELECT journey.resume('catch-up', catch_up => 'run');
SELECT journey.run_due(100, ref_time('2030-04-02 12:00+00')) AS processed_after_resume;
SELECT who, step_key, next_run_at FROM proof_state WHERE name = 'catch-up';
SELECT journey.run_due(100, ref_time('2030-04-02 14:00+00')) AS processed;
SELECT * FROM proof_visits WHERE name = 'catch-up';
SELECT who, status FROM proof_state WHERE name = 'catch-up';
SELECT journey.archive('catch-up');

-------------------------------------------------------------------------------
-- Nothing is handed out from a paused or an archived journey. Messages are made
-- at the wall clock here (as_of now), so that they are due for delivery; the
-- channel is this file's own.
SELECT journey.import($${"name": "out-live", "audience": "proof_people", "start": "s",
  "steps": [{"key": "s", "type": "send", "channel": "proof", "payload": {"n": "{{id}}"}}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "out-paused", "audience": "proof_people", "start": "s",
  "steps": [{"key": "s", "type": "send", "channel": "proof", "payload": {"n": "{{id}}"}}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "out-archived", "audience": "proof_people", "start": "s",
  "steps": [{"key": "s", "type": "send", "channel": "proof", "payload": {"n": "{{id}}"}}]}$$) > 0 AS imported;
SELECT journey.publish(n) FROM unnest(ARRAY['out-live', 'out-paused', 'out-archived']) n;
SELECT journey.enroll(n, '3') > 0 AS enrolled FROM unnest(ARRAY['out-live', 'out-paused', 'out-archived']) n;
SELECT journey.run_due(100, now()) AS processed;
SELECT j.name, m.status, m.send_after <= now() AS due FROM journey.messages m
  JOIN journey.journeys j ON j.id = m.journey_id WHERE m.channel = 'proof' ORDER BY 1;
SELECT journey.pause('out-paused');
SELECT journey.archive('out-archived');
SELECT j.name FROM journey.claim_messages('proof', 100) c JOIN journey.journeys j ON j.id = c.journey_id
 ORDER BY 1;
SELECT count(*) AS claimed_again FROM journey.claim_messages('proof', 100);
-- resumed, the paused journey's message goes out; the archived one's never does
SELECT journey.resume('out-paused');
SELECT j.name FROM journey.claim_messages('proof', 100) c JOIN journey.journeys j ON j.id = c.journey_id
 ORDER BY 1;
SELECT count(*) AS archived_never FROM journey.claim_messages('proof', 100);
SELECT journey.archive(n) FROM unnest(ARRAY['out-live', 'out-paused']) n;

-------------------------------------------------------------------------------
-- Frequency cap across journeys: "capped" allows 2 messages per customer per
-- day, counting the messages of every journey. Customer 4 already got 2 from
-- "uncapped" today, so capped's message is suppressed; customer 5 got none;
-- customer 6 got 2 two days earlier, outside the window.
SELECT journey.import($${"name": "uncapped", "audience": "proof_people", "start": "a",
  "steps": [{"key": "a", "type": "send_email", "template": "proof_note", "next": "b"},
            {"key": "b", "type": "send_email", "template": "proof_note"}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "capped", "audience": "proof_people", "start": "c",
  "settings": {"frequency_cap": {"max": 2, "per": "1 day"}},
  "steps": [{"key": "c", "type": "send_email", "template": "proof_note"}]}$$) > 0 AS imported;
SELECT journey.publish('uncapped'), journey.publish('capped');
SELECT journey.enroll('uncapped', '6') > 0 AS six;
SELECT journey.run_due(100, ref_time('2030-05-01 09:00+00')) AS processed;
SELECT journey.enroll('uncapped', '4') > 0 AS four;
SELECT journey.run_due(100, ref_time('2030-05-03 08:00+00')) AS processed;
SELECT count(journey.enroll('capped', id::text)) AS enrolled FROM proof_people WHERE id IN (4, 5, 6);
SELECT journey.run_due(100, ref_time('2030-05-03 10:00+00')) AS processed;
SELECT j.name, m.customer_id, m.step_key, m.status, m.reason, ref_shown(m.created_at) AS created_at
  FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
 WHERE j.name IN ('uncapped', 'capped') ORDER BY m.customer_id, m.created_at, j.name, m.step_key;
SELECT journey.archive('uncapped'), journey.archive('capped');

-------------------------------------------------------------------------------
-- Backoff: each failure of an enrollment doubles its wait, from 10 seconds up
-- to 1 hour; it is not retried before; after max_attempts it is failed.
CREATE FUNCTION public.proof_always_fails(customer_id text, context jsonb) RETURNS jsonb
  LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the crm is down'; END $$;
SELECT journey.import($${"name": "backoff", "audience": "proof_people", "start": "c",
  "settings": {"max_attempts": 12},
  "steps": [{"key": "c", "type": "call", "function": "public.proof_always_fails"}]}$$) > 0 AS imported;
SELECT journey.publish('backoff');
SELECT journey.enroll('backoff', '7') > 0 AS enrolled;
CREATE TEMP TABLE backoffs (tick int, early int, processed int, attempts int, status text, backoff interval);
DO $$
DECLARE
  t timestamptz := ref_time('2030-06-01 00:00+00');
  early int;
  n int;
  e record;
BEGIN
  FOR i IN 1..12 LOOP
    -- a second before it is due: not retried yet (the first tick has nothing before it)
    early := CASE WHEN i = 1 THEN 0 ELSE journey.run_due(10, t - interval '1 second') END;
    n := journey.run_due(10, t);
    SELECT x.attempts, x.status, x.next_run_at INTO e FROM journey.enrollments x
      JOIN journey.journeys j ON j.id = x.journey_id AND j.name = 'backoff';
    INSERT INTO backoffs VALUES (i, early, n, e.attempts, e.status, e.next_run_at - t);
    t := e.next_run_at;
  END LOOP;
END $$;
SELECT * FROM backoffs ORDER BY tick;
SELECT who, status, attempts, next_run_at FROM proof_state WHERE name = 'backoff';
SELECT journey.archive('backoff');

-------------------------------------------------------------------------------
-- TRUNCATE fires no row or statement DELETE trigger: the enrollments stay
-- active, and the engine ends them with customer_deleted at their next step,
-- with no message for the gone customers.
CREATE TABLE proof_leads (id int PRIMARY KEY, email text);
INSERT INTO proof_leads SELECT g, 'l' || g || '@x.test' FROM generate_series(1, 3) g;
SELECT journey.register_audience('proof_leads', 'id', 'email');
SELECT journey.import($${"name": "leads", "audience": "proof_leads", "start": "wait",
  "steps": [{"key": "wait", "type": "delay", "duration": "1 day", "next": "mail"},
            {"key": "mail", "type": "send_email", "template": "proof_note"}]}$$) > 0 AS imported;
SELECT journey.publish('leads');
SELECT count(journey.enroll('leads', id::text)) AS enrolled FROM proof_leads;
SELECT journey.run_due(100, ref_time('2030-07-01 00:00+00')) AS parked;
TRUNCATE proof_leads;
SELECT e.customer_id, e.status, e.step_key FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'leads' ORDER BY 1;
SELECT journey.run_due(100, ref_time('2030-07-02 00:00+00')) AS processed;
SELECT e.customer_id, e.status, e.step_key, e.exit_reason FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'leads' ORDER BY 1;
SELECT count(*) AS messages FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
 WHERE j.name = 'leads';
SELECT journey.archive('leads');
SELECT journey.drop_journey('leads');
SELECT journey.unregister_audience('proof_leads');
DROP TABLE proof_leads;

-------------------------------------------------------------------------------
-- Quiet hours in the customer's time zone (the audience's tz column, read when
-- the message is made; the journey's zone when it is empty). At 21:30 UTC:
-- customer 8 moved from Tokyo to Paris after enrolling (22:30 there: quiet,
-- until 08:00 Paris = 07:00 UTC); 9 is in New York (16:30: not quiet); 10 has
-- no zone (the journey's, UTC: quiet until 08:00 UTC); 11 is in Tokyo (06:30
-- the next morning: quiet until 08:00 Tokyo = 23:00 UTC).
UPDATE proof_people SET tz = 'Asia/Tokyo' WHERE id IN (8, 11);
UPDATE proof_people SET tz = 'America/New_York' WHERE id = 9;
SELECT journey.import($${"name": "quiet-local", "audience": "proof_people", "start": "s",
  "settings": {"timezone": "UTC", "quiet_hours": {"start": "21:00", "end": "08:00", "timezone": "customer"}},
  "steps": [{"key": "s", "type": "send_email", "template": "proof_note"}]}$$) > 0 AS imported;
SELECT journey.publish('quiet-local');
SELECT count(journey.enroll('quiet-local', id::text)) AS enrolled FROM proof_people WHERE id BETWEEN 8 AND 11;
UPDATE proof_people SET tz = 'Europe/Paris' WHERE id = 8;
SELECT journey.run_due(100, ref_time('2030-01-01 21:30+00')) AS processed;
SELECT m.customer_id, p.tz, ref_shown(m.created_at) AS created_at, ref_shown(m.send_after) AS send_after
  FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id AND j.name = 'quiet-local'
  JOIN proof_people p ON p.id::text = m.customer_id ORDER BY m.customer_id::int;
SELECT journey.archive('quiet-local');

-------------------------------------------------------------------------------
SELECT count(*) AS active_left FROM journey.enrollments WHERE status = 'active';
SELECT journey.drop_journey(name) FROM journey.journeys WHERE audience = 'proof_people'::regclass ORDER BY name;
DROP VIEW proof_state;
DROP VIEW proof_visits;
SELECT journey.unregister_audience('proof_people');
DROP TABLE proof_people;
