-- The customer-table triggers capture transition tables only while a journey
-- of the audience needs the changed rows (journey._install_audience_triggers):
-- PostgreSQL copies every changed row into a transition table for a trigger
-- declared with REFERENCING, whether or not anything reads it.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE cap_members (id bigint PRIMARY KEY, email text, tier text NOT NULL DEFAULT 'basic',
                      points int NOT NULL DEFAULT 0, gone boolean NOT NULL DEFAULT false);
SELECT journey.register_audience('cap_members', 'id', 'email');
SELECT journey.create_template('cap_mem', 'email', 'Hi', 'Tier {{tier}}');
-- What each trigger captures: OLD and NEW transition table or nothing.
CREATE VIEW capture AS
  SELECT t.tgname, t.tgtype, t.tgoldtable IS NOT NULL AS old_rows,
         t.tgnewtable IS NOT NULL AS new_rows
    FROM pg_trigger t WHERE t.tgrelid = 'cap_members'::regclass ORDER BY t.tgname;
CREATE VIEW cap_state AS
  SELECT j.name, e.customer_id AS who, e.status, e.step_key, e.exit_reason
    FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
   WHERE j.audience = 'cap_members'::regclass ORDER BY j.name, e.customer_id::int, e.id;

-- Registered, no journey: the three triggers exist and capture nothing.
SELECT * FROM capture;
INSERT INTO cap_members (id, email) SELECT g, 'm' || g || '@x.test' FROM generate_series(1, 10) g;
UPDATE cap_members SET points = points + 1;
DELETE FROM cap_members WHERE id = 10;

-- A draft journey needs nothing yet.
SELECT journey.import($${"name": "cap-tiered", "audience": "cap_members", "start": "hello",
  "entry": [{"type": "attribute", "when": {"field": "tier", "op": "eq", "value": "gold"}}],
  "steps": [{"key": "hello", "type": "send_email", "template": "cap_mem", "next": "rest"},
            {"key": "rest", "type": "delay", "duration": "1 day"}]}$$) > 0 AS imported;
SELECT * FROM capture;

-- Published with an attribute entry trigger: INSERT and UPDATE capture NEW (and
-- OLD for UPDATE); DELETE captures OLD (its enrollments may end).
SELECT journey.publish('cap-tiered');
SELECT * FROM capture;
UPDATE cap_members SET tier = 'gold' WHERE id IN (1, 2);
INSERT INTO cap_members (id, email, tier) VALUES (11, 'm11@x.test', 'gold');
SELECT * FROM cap_state;
DELETE FROM cap_members WHERE id = 2;
SELECT * FROM cap_state;

-- Paused: its attribute entry trigger is not live, so INSERT and UPDATE stop
-- capturing; DELETE still captures (the enrollments are still active).
SELECT journey.pause('cap-tiered');
SELECT * FROM capture;
UPDATE cap_members SET tier = 'gold' WHERE id = 3;
DELETE FROM cap_members WHERE id = 1;
SELECT * FROM cap_state;
-- Resumed: capturing again, and the entry trigger fires again.
SELECT journey.resume('cap-tiered');
SELECT * FROM capture;
UPDATE cap_members SET tier = 'gold' WHERE id = 4;
SELECT * FROM cap_state;

-- A second journey whose only entry is an event, with a condition exit rule:
-- the rule reads changed rows, so changes stay captured, even while it is
-- paused (its enrollments are still active).
SELECT journey.import($${"name": "cap-evented", "audience": "cap_members", "start": "hello",
  "entry": [{"type": "event", "event": "cap_signup"}],
  "exit": [{"type": "condition", "when": {"field": "gone", "op": "eq", "value": true}}],
  "steps": [{"key": "hello", "type": "send_email", "template": "cap_mem", "next": "rest"},
            {"key": "rest", "type": "delay", "duration": "1 day"}]}$$) > 0 AS imported;
SELECT journey.publish('cap-evented');
SELECT journey.archive('cap-tiered');
SELECT * FROM capture;
SELECT journey.track('5', 'cap_signup', audience => 'cap_members') > 0 AS tracked;
SELECT journey.pause('cap-evented');
SELECT * FROM capture;
UPDATE cap_members SET gone = true WHERE id = 5;
SELECT * FROM cap_state WHERE name = 'cap-evented';
SELECT journey.resume('cap-evented');

-- A new version without the exit rule: the retired version keeps the
-- enrollments it still holds, so changes stay captured while a published or
-- paused journey has the rule in any of its live versions.
SELECT journey.track('6', 'cap_signup', audience => 'cap_members') > 0 AS tracked;
SELECT journey.remove_exit_rule('cap-evented', 1);
SELECT journey.publish('cap-evented') AS version;
SELECT * FROM capture;
UPDATE cap_members SET gone = true WHERE id = 6;
SELECT * FROM cap_state WHERE name = 'cap-evented';

-- A rolled-back lifecycle change rolls its trigger change back too.
BEGIN;
SELECT journey.archive('cap-evented');
SELECT * FROM capture;
ROLLBACK;
SELECT * FROM capture;

-- A wait_until step needs the changed rows as well.
SELECT journey.archive('cap-evented');
SELECT * FROM capture;
SELECT journey.import($${"name": "cap-waiting", "audience": "cap_members", "start": "hold",
  "entry": [{"type": "event", "event": "cap_ping"}],
  "steps": [{"key": "hold", "type": "wait_until", "when": {"field": "points", "op": "gte", "value": 100},
             "timeout": "30 days", "branches": {"met": "yes", "timeout": "no"}},
            {"key": "yes", "type": "send_email", "template": "cap_mem"},
            {"key": "no", "type": "send_email", "template": "cap_mem"}]}$$) > 0 AS imported;
SELECT journey.publish('cap-waiting');
SELECT * FROM capture;
SELECT journey.track('7', 'cap_ping', audience => 'cap_members') > 0 AS tracked;
SELECT journey.run_due(100, now()) AS parked;
UPDATE cap_members SET points = 100 WHERE id = 7;
SELECT e.customer_id, e.next_run_at <= now() AS woken FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'cap-waiting';
SELECT journey.archive('cap-waiting');
SELECT * FROM capture;

-- A journey with event entries only and no row rule: only deletes capture.
SELECT journey.import($${"name": "cap-pinged", "audience": "cap_members", "start": "hello",
  "entry": [{"type": "event", "event": "cap_ping"}],
  "steps": [{"key": "hello", "type": "send_email", "template": "cap_mem", "next": "rest"},
            {"key": "rest", "type": "delay", "duration": "1 day"}]}$$) > 0 AS imported;
SELECT journey.publish('cap-pinged');
SELECT * FROM capture;
SELECT journey.track('8', 'cap_ping', audience => 'cap_members') > 0 AS tracked;
UPDATE cap_members SET tier = 'gold', points = 5 WHERE id = 8;
DELETE FROM cap_members WHERE id = 8;
SELECT * FROM cap_state WHERE name = 'cap-pinged';
SELECT journey.archive('cap-pinged');

-- Every journey archived: nothing captured, statements still work.
UPDATE cap_members SET points = 0;
DELETE FROM cap_members WHERE id = 9;
SELECT count(*) AS active FROM cap_state WHERE status = 'active';
