-- Customer-table triggers under the other statements docs/triggers.md names:
-- COPY FROM, INSERT ... ON CONFLICT, session_replication_role = replica, an
-- UPDATE of the key column; and the drop guard under DROP SCHEMA ... CASCADE
-- and DROP OWNED.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE proof_subs (id int PRIMARY KEY, email text, plan text NOT NULL DEFAULT 'free',
                         churned boolean NOT NULL DEFAULT false);
SELECT journey.register_audience('proof_subs', 'id', 'email');
SELECT journey.import($${"name": "pro-welcome", "audience": "proof_subs", "start": "wait",
  "entry": [{"type": "attribute", "when": {"field": "plan", "op": "eq", "value": "pro"}}],
  "exit": [{"type": "condition", "when": {"field": "churned", "op": "eq", "value": true}}],
  "steps": [{"key": "wait", "type": "delay", "duration": "1 day"}]}$$) > 0 AS imported;
SELECT journey.publish('pro-welcome');
CREATE VIEW subs_state AS
  SELECT e.customer_id AS who, e.status, e.exit_reason
    FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
   WHERE j.name = 'pro-welcome' ORDER BY e.customer_id::int, e.id;

-- COPY FROM fires the insert trigger: the pro rows enroll.
COPY proof_subs (id, email, plan) FROM stdin;
1	a@x.test	pro
2	b@x.test	free
3	c@x.test	pro
\.
SELECT * FROM subs_state;

-- INSERT ... ON CONFLICT DO UPDATE: the inserted row (4) fires the insert
-- trigger; the updated ones the update trigger: 2 goes free -> pro and enrolls,
-- 3 churns and exits.
INSERT INTO proof_subs AS s (id, email, plan, churned)
VALUES (2, 'b@x.test', 'pro', false), (3, 'c@x.test', 'pro', true), (4, 'd@x.test', 'pro', false)
ON CONFLICT (id) DO UPDATE SET plan = excluded.plan, churned = excluded.churned;
SELECT * FROM subs_state;
-- ON CONFLICT DO NOTHING changes no row: nothing fires.
INSERT INTO proof_subs (id, email, plan, churned) VALUES (1, 'a@x.test', 'pro', true)
ON CONFLICT DO NOTHING;
SELECT * FROM subs_state;

-- With session_replication_role = replica (as logical replication applies
-- changes) the triggers do not fire: 5 does not enroll, 1 does not exit.
SET session_replication_role = replica;
INSERT INTO proof_subs (id, email, plan) VALUES (5, 'e@x.test', 'pro');
UPDATE proof_subs SET churned = true WHERE id = 1;
RESET session_replication_role;
SELECT * FROM subs_state;
-- the same update in the ordinary role does (an exit rule is a level, not an edge)
UPDATE proof_subs SET churned = true WHERE id = 1;
SELECT * FROM subs_state WHERE who = '1';

-- An UPDATE of the key column makes the row a new customer: 40 (formerly 4,
-- pro) enrolls; the enrollment under the old key stays as it is.
UPDATE proof_subs SET id = 40 WHERE id = 4;
SELECT * FROM subs_state;
-- at its next step the engine finds no row with key 4: customer_deleted
SELECT journey.run_due(100, now() + interval '2 days') AS processed;
SELECT * FROM subs_state;
SELECT journey.archive('pro-welcome');
SELECT journey.drop_journey('pro-welcome');
DROP VIEW subs_state;
SELECT journey.unregister_audience('proof_subs');
DROP TABLE proof_subs;

-------------------------------------------------------------------------------
-- The drop guard: a registered table cannot go with its schema (DROP SCHEMA
-- ... CASCADE) or with its owner's objects (DROP OWNED); once unregistered it
-- can.
CREATE SCHEMA proof_crm;
CREATE TABLE proof_crm.contacts (id int PRIMARY KEY, email text);
SELECT journey.register_audience('proof_crm.contacts', 'id', 'email');
SELECT try($$DROP SCHEMA proof_crm CASCADE$$);
SELECT to_regclass('proof_crm.contacts') AS still_there;
CREATE ROLE proof_table_owner;
CREATE TABLE proof_owned (id int PRIMARY KEY, email text);
ALTER TABLE proof_owned OWNER TO proof_table_owner;
SELECT journey.register_audience('proof_owned', 'id', 'email');
SELECT try($$DROP OWNED BY proof_table_owner$$);
SELECT to_regclass('proof_owned') AS still_there;
SELECT relation FROM journey.audiences WHERE relation::text LIKE 'proof%' ORDER BY relation::text;
SELECT journey.unregister_audience('proof_crm.contacts'), journey.unregister_audience('proof_owned');
DROP SCHEMA proof_crm CASCADE;
DROP OWNED BY proof_table_owner;
DROP ROLE proof_table_owner;
SELECT to_regclass('proof_crm.contacts') AS contacts, to_regclass('proof_owned') AS owned;
