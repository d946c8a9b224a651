-- A segment's SQL query may return customer keys in any spelling ('007', an
-- upper-case uuid): run_entry_trigger canonicalizes them through the
-- audience's key type before comparing them with the last run's members, so
-- a customer is one member whatever the spelling, and keys of no customer are
-- not remembered as members.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
SET client_min_messages = warning;  -- an earlier file may have created it
CREATE EXTENSION IF NOT EXISTS pg_cron;
RESET client_min_messages;
CREATE EXTENSION pg_journey;
CREATE TABLE rsk_customers (id bigint PRIMARY KEY, email text);
INSERT INTO rsk_customers VALUES (7, 'a@x.test'), (8, 'b@x.test');
CREATE TABLE rsk_spelling (k text);
INSERT INTO rsk_spelling VALUES ('007'), ('7'), ('+8'), ('999');
SELECT journey.register_audience('rsk_customers', 'id', 'email');
SELECT journey.create_template('rsk', 'email', 'S', 'Hello');
SELECT journey.import($${"name": "rsk-segment", "audience": "rsk_customers", "start": "hi",
  "settings": {"reentry": "after_exit"},
  "entry": [{"type": "segment", "schedule": "@hourly", "query": "SELECT k FROM public.rsk_spelling"}],
  "steps": [{"key": "hi", "type": "send_email", "template": "rsk"}]}$$) > 0 AS imported;
SELECT journey.publish('rsk-segment');
SELECT journey.run_entry_trigger(j.id, 1) AS enrolled FROM journey.journeys j WHERE j.name = 'rsk-segment';
SELECT customer_id FROM journey.segment_members ORDER BY customer_id;
SELECT customer_id, status FROM journey.enrollments ORDER BY customer_id;
-- The next run spells them differently: still the same members, nobody new.
SELECT journey.run_due() AS ran;
UPDATE rsk_spelling SET k = k::bigint::text;
SELECT journey.run_entry_trigger(j.id, 1) AS enrolled_again FROM journey.journeys j WHERE j.name = 'rsk-segment';
SELECT customer_id FROM journey.segment_members ORDER BY customer_id;
SELECT customer_id, status FROM journey.enrollments ORDER BY customer_id, id;

SELECT journey.archive('rsk-segment');
SELECT journey.drop_journey('rsk-segment');
SELECT journey.unregister_audience('rsk_customers');
DROP EXTENSION pg_journey CASCADE;
DROP TABLE rsk_customers, rsk_spelling;
