-- Messages of a journey that stops: archiving withdraws its pending messages
-- (suppressed, reason 'archived'), those of ended enrollments too, since
-- nothing leaves an archived journey; a message a sender already claimed stays
-- its to complete. Pausing keeps them: nothing is handed out while paused, and
-- they go out after resume.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE rar_customers (id int PRIMARY KEY, email text);
INSERT INTO rar_customers SELECT g, 'c' || g || '@x.test' FROM generate_series(1, 5) g;
SELECT journey.register_audience('rar_customers', 'id', 'email');
SELECT journey.import($${"name": "rar-series", "audience": "rar_customers", "start": "first",
  "steps": [{"key": "first", "type": "send", "channel": "rar_a", "payload": {"n": 1}, "next": "wait"},
            {"key": "wait", "type": "delay", "duration": "1 day", "next": "second"},
            {"key": "second", "type": "send", "channel": "rar_a", "payload": {"n": 2}}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "rar-once", "audience": "rar_customers", "start": "only",
  "steps": [{"key": "only", "type": "send", "channel": "rar_a", "payload": {"n": 0}}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "rar-paused", "audience": "rar_customers", "start": "only",
  "steps": [{"key": "only", "type": "send", "channel": "rar_p", "payload": {"n": 0}}]}$$) > 0 AS imported;
SELECT journey.publish(j) FROM unnest(ARRAY['rar-series', 'rar-once', 'rar-paused']) j;
CREATE VIEW rar_outbox AS
  SELECT j.name, m.customer_id, m.step_key, m.status, m.reason
    FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
   WHERE j.name LIKE 'rar-%' ORDER BY j.name, m.customer_id, m.visit;
CREATE VIEW rar_state AS
  SELECT j.name, e.customer_id, e.status, e.step_key, e.exit_reason
    FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
   WHERE j.name LIKE 'rar-%' ORDER BY j.name, e.customer_id;

-------------------------------------------------------------------------------
-- 1. Archive: customers 1-3 parked in the series with a pending message each,
-- customer 4 done with "once" and its message pending; a sender claims one.
SELECT journey.enroll('rar-series', c::text) > 0 AS enrolled FROM generate_series(1, 3) c;
SELECT journey.enroll('rar-once', '4') > 0 AS enrolled;
SELECT journey.run_due(100, now()) AS ran;
SELECT m.customer_id AS claimed FROM journey.claim_messages('rar_a', 1) m;
SELECT * FROM rar_state WHERE name <> 'rar-paused';
SELECT journey.archive('rar-series');
SELECT journey.archive('rar-once');
SELECT * FROM rar_state WHERE name <> 'rar-paused';
SELECT * FROM rar_outbox WHERE name <> 'rar-paused';
-- Nothing is left to hand out; the claimed message can still be completed.
SELECT count(*) AS handed_out FROM journey.claim_messages('rar_a', 10);
SELECT journey.complete_message(m.id, true) FROM journey.messages m
  JOIN journey.journeys j ON j.id = m.journey_id WHERE j.name = 'rar-series' AND m.status = 'claimed';
SELECT status, count(*) FROM rar_outbox WHERE name <> 'rar-paused' GROUP BY 1 ORDER BY 1;

-------------------------------------------------------------------------------
-- 2. Pause and resume keep pending messages: none handed out while paused,
-- all of them after resume.
SELECT journey.enroll('rar-paused', '5') > 0 AS enrolled;
SELECT journey.run_due(100, now()) AS ran;
SELECT journey.pause('rar-paused');
SELECT count(*) AS while_paused FROM journey.claim_messages('rar_p', 10);
SELECT * FROM rar_outbox WHERE name = 'rar-paused';
SELECT journey.resume('rar-paused');
SELECT m.customer_id, m.status FROM journey.claim_messages('rar_p', 10) m;

SELECT journey.archive('rar-paused');
SELECT journey.drop_journey(j) FROM unnest(ARRAY['rar-series', 'rar-once', 'rar-paused']) j;
SELECT journey.unregister_audience('rar_customers');
