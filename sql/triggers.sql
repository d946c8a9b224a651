-- Customer-table triggers: attribute entry (edge-triggered), condition exits,
-- wait_until wake-ups and deletes fire in the transaction of the change.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE accounts (id bigint PRIMARY KEY, email text, plan text NOT NULL DEFAULT 'free',
                       seats int NOT NULL DEFAULT 1, churned boolean NOT NULL DEFAULT false,
                       note text);
SELECT journey.register_audience('accounts', 'id', 'email');
SELECT tgname, tgtype FROM pg_trigger WHERE tgrelid = 'accounts'::regclass ORDER BY tgname;
SELECT journey.create_template('acct', 'email', 'Hi', 'Plan {{plan}}');

CREATE VIEW acct_state AS
  SELECT j.name, e.customer_id AS who, e.status, e.step_key, e.exit_reason,
         e.converted_at IS NOT NULL AS converted
    FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
   WHERE j.audience = 'accounts'::regclass
   ORDER BY j.name, length(e.customer_id), e.customer_id, e.id;

SELECT journey.import($${"name": "upgraded", "audience": "accounts", "start": "hello",
  "entry": [{"type": "attribute", "when": {"field": "plan", "op": "eq", "value": "pro"}}],
  "exit": [{"type": "condition", "when": {"field": "churned", "op": "eq", "value": true}},
           {"type": "condition", "when": {"field": "seats", "op": "gte", "value": 50}, "is_goal": true}],
  "steps": [{"key": "hello", "type": "send_email", "template": "acct", "next": "grow"},
            {"key": "grow", "type": "wait_until", "when": {"field": "seats", "op": "gte", "value": 10},
             "timeout": "30 days", "branches": {"met": "big", "timeout": "small"}},
            {"key": "big", "type": "send_email", "template": "acct"},
            {"key": "small", "type": "send_email", "template": "acct"}]}$$) > 0 AS imported;
SELECT journey.publish('upgraded');
SELECT journey.import($${"name": "seat-jump", "audience": "accounts", "start": "note",
  "settings": {"reentry": "after_exit"},
  "entry": [{"type": "attribute", "when": {"field": "seats", "op": "changed"}},
            {"type": "attribute", "when": {"field": "plan", "op": "changed_to", "value": "team"}}],
  "steps": [{"key": "note", "type": "goal"}]}$$) > 0 AS imported;
SELECT journey.publish('seat-jump');

-- INSERT that matches enrolls; one that does not, does not.
INSERT INTO accounts (id, email, plan) VALUES (1, 'a@x.test', 'pro'), (2, 'b@x.test', 'free');
SELECT * FROM acct_state;
-- An UPDATE that makes the condition true enrolls (edge: false -> true) ...
UPDATE accounts SET plan = 'pro' WHERE id = 2;
-- ... a no-op update, or one that keeps it true, does not enroll again.
UPDATE accounts SET plan = 'pro' WHERE id IN (1, 2);
UPDATE accounts SET note = 'hello' WHERE id = 1;
SELECT * FROM acct_state;
-- changed / changed_to compare OLD and NEW (an INSERT counts as a change of
-- every non-null column). Complete the first enrollments so re-entry is open.
SELECT journey.run_due(100, now()) AS ran;
SELECT who, status FROM acct_state WHERE name = 'seat-jump';
UPDATE accounts SET seats = seats WHERE id = 1;        -- not a change
SELECT count(*) AS after_noop FROM acct_state WHERE name = 'seat-jump' AND who = '1';
UPDATE accounts SET seats = 3 WHERE id = 1;            -- a change
UPDATE accounts SET plan = 'team' WHERE id = 2;        -- changed_to team
SELECT who, count(*) AS enrollments FROM acct_state WHERE name = 'seat-jump' GROUP BY 1 ORDER BY 1;

-- A rolled-back update leaves nothing behind.
BEGIN;
INSERT INTO accounts (id, email, plan) VALUES (3, 'c@x.test', 'pro');
SELECT count(*) AS inside FROM acct_state WHERE who = '3';
ROLLBACK;
SELECT count(*) AS after_rollback FROM acct_state WHERE who = '3';

-- wait_until: the row change makes the parked enrollment due at once; the
-- engine then takes "met". The other one times out.
SELECT journey.run_due(100, now()) AS ran;
SELECT who, status, step_key FROM acct_state WHERE name = 'upgraded';
UPDATE accounts SET seats = 12 WHERE id = 1;
SELECT who, e.next_run_at <= now() AS due_now FROM acct_state s
  JOIN journey.enrollments e ON e.customer_id = s.who AND e.step_key = s.step_key
 WHERE s.name = 'upgraded' AND s.status = 'active' ORDER BY 1;
SELECT journey.run_due(100, now()) AS ran;
SELECT journey.run_due(100, now() + interval '31 days') AS ran;
SELECT a.customer_id AS who, a.step_key, a.branch FROM journey.activity a
  JOIN journey.journeys j ON j.id = a.journey_id AND j.name = 'upgraded'
 ORDER BY a.customer_id, a.visit;

-- Condition exit rules end enrollments in the statement's transaction; a goal
-- exit marks the conversion.
INSERT INTO accounts (id, email, plan) VALUES (4, 'd@x.test', 'pro'), (5, 'e@x.test', 'pro');
SELECT journey.run_due(100, now()) AS parked;
UPDATE accounts SET churned = true WHERE id = 4;
UPDATE accounts SET seats = 60 WHERE id = 5;
SELECT who, status, step_key, exit_reason, converted FROM acct_state WHERE name = 'upgraded' AND who IN ('4', '5');

-- Deleting a customer ends their active enrollments.
INSERT INTO accounts (id, email, plan) VALUES (6, 'f@x.test', 'pro');
DELETE FROM accounts WHERE id = 6;
SELECT who, status, exit_reason FROM acct_state WHERE who = '6';

-- A bulk statement is one trigger call: 1,000 rows enroll at once.
INSERT INTO accounts (id, email) SELECT g, 'bulk' || g || '@x.test' FROM generate_series(100, 1099) g;
UPDATE accounts SET plan = 'pro' WHERE id BETWEEN 100 AND 1099;
SELECT count(*) AS bulk_enrolled FROM acct_state
 WHERE name = 'upgraded' AND who IN (SELECT g::text FROM generate_series(100, 1099) g);

-- Transition tables larger than work_mem spill to disk: still correct.
SET work_mem = '64kB';
INSERT INTO accounts (id, email, plan) SELECT g, 'spill' || g || '@x.test', 'pro'
  FROM generate_series(5000, 9999) g;
UPDATE accounts SET seats = 2 WHERE id BETWEEN 5000 AND 9999;
DELETE FROM accounts WHERE id BETWEEN 5000 AND 7499;
RESET work_mem;
SELECT status, count(*) FROM acct_state WHERE name = 'upgraded'
   AND who IN (SELECT g::text FROM generate_series(5000, 9999) g) GROUP BY 1 ORDER BY 1;

-- Paused journeys take no one; archived ones neither.
SELECT journey.pause('upgraded');
INSERT INTO accounts (id, email, plan) VALUES (7, 'g@x.test', 'pro');
SELECT count(*) AS while_paused FROM acct_state WHERE who = '7' AND name = 'upgraded';
SELECT journey.resume('upgraded');
SELECT journey.archive('seat-jump');
INSERT INTO accounts (id, email, seats) VALUES (8, 'h@x.test', 5);
SELECT count(*) AS archived_takes_none FROM acct_state WHERE who = '8' AND name = 'seat-jump';

-- A field update made by the engine fires the table's trigger too: when it makes
-- another journey's exit rule match, that exit stands even if that enrollment
-- was advanced in the same batch.
INSERT INTO accounts (id, email) VALUES (20, 'n@x.test');
SELECT journey.import($${"name": "nurture", "audience": "accounts", "start": "hi",
  "exit": [{"type": "condition", "when": {"field": "plan", "op": "eq", "value": "team"}}],
  "steps": [{"key": "hi", "type": "send_email", "template": "acct", "next": "later"},
            {"key": "later", "type": "delay", "duration": "1 day", "next": "again"},
            {"key": "again", "type": "send_email", "template": "acct"}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "promote", "audience": "accounts", "start": "up",
  "steps": [{"key": "up", "type": "update_field", "set": {"plan": "team"}}]}$$) > 0 AS imported;
SELECT journey.publish('nurture'), journey.publish('promote');
SELECT journey.enroll('nurture', '20') > 0 AS n, journey.enroll('promote', '20') > 0 AS p;
-- (the tick also runs the 1,000 bulk and 2,500 spill enrollments made above: 3,502)
SELECT journey.run_due(100000, now()) AS ran;
SELECT name, who, status, exit_reason FROM acct_state WHERE who = '20' ORDER BY name;
SELECT m.step_key, m.status, m.reason FROM journey.messages m
  JOIN journey.journeys j ON j.id = m.journey_id AND j.name = 'nurture' WHERE m.customer_id = '20';
SELECT journey.archive('nurture'), journey.archive('promote');

-- Scheduled entry triggers need pg_cron in this database: without it, publish
-- is refused (and the journey stays a draft) with a hint on installing it.
SELECT journey.import($${"name": "nightly", "audience": "accounts", "start": "s",
  "entry": [{"type": "segment", "schedule": "0 3 * * *", "when": {"field": "plan", "op": "eq", "value": "pro"}}],
  "steps": [{"key": "s", "type": "goal"}]}$$) > 0 AS imported;
SELECT try($$SELECT journey.publish('nightly')$$);
SELECT state, published_version FROM journey.journeys WHERE name = 'nightly';
SELECT journey.drop_journey('nightly');

-- unregister_audience: refused while any journey uses the table, archived ones
-- included (an archived journey keeps its enrollments, messages and history,
-- which name the table); the triggers stay. Once the journeys are dropped it
-- removes the three triggers and forgets the table, which can then be dropped.
SELECT journey.archive('upgraded');
SELECT name, state FROM journey.journeys WHERE audience = 'accounts'::regclass ORDER BY name;
SELECT try($$SELECT journey.unregister_audience('accounts')$$);
SELECT count(*) AS triggers_kept FROM pg_trigger WHERE tgrelid = 'accounts'::regclass;
SELECT journey.drop_journey(n) FROM unnest(ARRAY['nurture', 'promote', 'seat-jump', 'upgraded']) n;
SELECT journey.unregister_audience('accounts');
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid = 'accounts'::regclass;
SELECT count(*) AS still_registered FROM journey.audiences WHERE relation = 'accounts'::regclass;
DROP VIEW acct_state;
DROP TABLE accounts;
SELECT to_regclass('accounts') AS accounts_dropped;
