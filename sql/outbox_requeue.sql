-- requeue_claimed after a sender died: a claimed message goes back to pending,
-- unless its enrollment exited or its journey was archived since, in which
-- case it is withdrawn like the pending ones (never handed out again).
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE orq_customers (id int PRIMARY KEY, email text);
INSERT INTO orq_customers SELECT g, 'c' || g || '@x.test' FROM generate_series(1, 4) g;
SELECT journey.register_audience('orq_customers', 'id', 'email');
SELECT journey.import($${"name": "orq-live", "audience": "orq_customers", "start": "hi",
  "steps": [{"key": "hi", "type": "send", "channel": "orq", "payload": {"n": 1}, "next": "wait"},
            {"key": "wait", "type": "delay", "duration": "1 day"}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "orq-gone", "audience": "orq_customers", "start": "hi",
  "steps": [{"key": "hi", "type": "send", "channel": "orq", "payload": {"n": 2}, "next": "wait"},
            {"key": "wait", "type": "delay", "duration": "1 day"}]}$$) > 0 AS imported;
SELECT journey.publish(j) FROM unnest(ARRAY['orq-live', 'orq-gone']) j;
SELECT count(journey.enroll('orq-live', c::text)) AS enrolled FROM generate_series(1, 3) c;
SELECT journey.enroll('orq-gone', '4') > 0 AS enrolled;
SELECT journey.run_due(100) AS ran;
SELECT count(*) AS claimed FROM journey.claim_messages('orq', 10);
-- Customer 2 exits and orq-gone is archived while their messages are out.
SELECT journey.exit(e.id, 'manual') FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'orq-live' AND e.customer_id = '2';
SELECT journey.archive('orq-gone');
-- The sender died an hour ago (claims of other test files stay as they are).
UPDATE journey.messages m SET claimed_at = now() - interval '1 hour'
  FROM journey.journeys j WHERE j.id = m.journey_id AND j.name LIKE 'orq-%';
SELECT journey.requeue_claimed('30 minutes') AS requeued;
SELECT j.name, m.customer_id, m.status, m.reason, m.claimed_at IS NULL AS unclaimed,
       m.completed_at IS NOT NULL AS completed
  FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
 WHERE j.name LIKE 'orq-%' ORDER BY j.name, m.customer_id;
-- Only the messages of customers still in a live journey are handed out again.
SELECT customer_id FROM journey.claim_messages('orq', 10) ORDER BY customer_id;
UPDATE journey.messages m SET claimed_at = now() - interval '1 hour'
  FROM journey.journeys j WHERE j.id = m.journey_id AND j.name LIKE 'orq-%';
SELECT journey.requeue_claimed('30 minutes') AS requeued_again;
SELECT j.name, m.customer_id, m.status FROM journey.messages m
  JOIN journey.journeys j ON j.id = m.journey_id WHERE j.name LIKE 'orq-%' ORDER BY 1, 2;

SELECT journey.archive('orq-live');
SELECT journey.drop_journey(j) FROM unnest(ARRAY['orq-live', 'orq-gone']) j;
SELECT journey.unregister_audience('orq_customers');
DROP TABLE orq_customers;
