-- F14 (attack-9): a customer time zone that is no zone name ("Mars/Olympus")
-- is taken like a missing one (empty or null): the journey's zone, for quiet
-- hours "customer" and for a delay until ... "timezone": "customer" alike
-- (it used to mean UTC). Times in 2030's calendar (ref_time, ref_shown).
\set SHOW_CONTEXT never
CREATE TABLE i9_tz (id int PRIMARY KEY, email text, tz text);
INSERT INTO i9_tz VALUES (11, 'q1@example.com', 'Mars/Olympus'), (12, 'q2@example.com', ''),
  (13, 'q3@example.com', 'Pacific/Kiritimati'), (14, 'q4@example.com', NULL),
  (15, 'q5@example.com', 'utc'), (16, 'q6@example.com', 'America/New_Yrok');
SELECT journey.register_audience('i9_tz', 'id', 'email', 'tz');

-- Quiet hours in the customer's zone: 00:00-23:59 local, so at 23:29 UTC on
-- 15 January every message waits for 23:59 local time.
SELECT journey.import('{"name": "i9_qh", "audience": "i9_tz", "start": "m", "settings": {"max_attempts": 1,
  "timezone": "America/New_York", "quiet_hours": {"start": "00:00", "end": "23:59", "timezone": "customer"}},
  "steps": [{"key": "m", "type": "send_email", "template": "tips"}]}') IS NOT NULL AS imported;
SELECT journey.publish('i9_qh') AS published;
SELECT count(journey.enroll('i9_qh', g::text)) AS enrolled FROM generate_series(11, 16) g;
SELECT journey.run_due(100, ref_time('2030-01-15 23:29+00')) AS ran;
SELECT m.customer_id, c.tz, ref_shown(m.send_after) AT TIME ZONE 'UTC' AS send_after_utc
  FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
  JOIN i9_tz c ON c.id::text = m.customer_id WHERE j.name = 'i9_qh' ORDER BY 1;

-- A delay until 09:00 in the customer's zone, from 10:00 UTC on 15 January.
SELECT journey.import('{"name": "i9_until", "audience": "i9_tz", "start": "d",
  "settings": {"timezone": "America/New_York"},
  "steps": [{"key": "d", "type": "delay", "until": {"time": "09:00", "timezone": "customer"}}]}')
  IS NOT NULL AS imported;
SELECT journey.publish('i9_until') AS published;
SELECT count(journey.enroll('i9_until', g::text)) AS enrolled FROM generate_series(11, 16) g;
SELECT journey.run_due(100, ref_time('2030-01-15 10:00+00')) AS ran;
SELECT e.customer_id, c.tz, e.step_key, ref_shown(e.next_run_at) AT TIME ZONE 'UTC' AS wakes_utc
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
  JOIN i9_tz c ON c.id::text = e.customer_id WHERE j.name = 'i9_until' ORDER BY 1;

SELECT journey.archive('i9_qh');
SELECT journey.archive('i9_until');
