-- ALTER TABLE of a registered audience (pg_journey_guard_audience_alter, and
-- pg_journey_guard_audience_drop for columns dropped by a cascade): a change
-- that a live version of a journey can no longer run with (a column it reads
-- renamed, retyped or dropped) is refused naming the journeys, versions and
-- steps; the audience row follows renames of its key, e-mail and time zone
-- columns, which cannot be dropped; a journey that no longer compiles (the
-- guard bypassed) is skipped with a WARNING, so writes it does not concern work.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE ddl_people (id bigint PRIMARY KEY, email text, plan text, age int, score int,
                         tz text, note text, spare text);
INSERT INTO ddl_people (id, email, plan, age, score, tz)
  VALUES (1, 'a@x.test', 'free', 30, 1, 'UTC'), (2, 'b@x.test', 'free', 40, 1, 'UTC');
SELECT journey.register_audience('ddl_people', 'id', 'email', 'tz');
-- A default: the test renames "email", and a tag without one must name a column of the audience.
SELECT journey.create_template('ddl_hi', 'email', 'Hi', 'Hello {{email | default: "you"}}');
SELECT journey.import($${"name": "ddl-live", "audience": "ddl_people", "start": "hi",
  "entry": [{"type": "attribute", "when": {"field": "score", "op": "gt", "value": 10}}],
  "exit": [{"type": "condition", "when": {"field": "plan", "op": "eq", "value": "gone"}}],
  "steps": [{"key": "hi", "type": "send_email", "template": "ddl_hi", "next": "older"},
            {"key": "older", "type": "wait_until", "when": {"field": "age", "op": "gt", "value": 50},
             "branches": {"met": "mark"}},
            {"key": "mark", "type": "update_field", "set": {"note": "older"}}]}$$) > 0 AS imported;
SELECT journey.publish('ddl-live');
SELECT journey.enroll('ddl-live', '1') > 0 AS enrolled;
SELECT journey.run_due(10, now()) AS ran;

CREATE VIEW ddl_state AS
  SELECT e.customer_id AS who, e.version, e.status, e.step_key, e.exit_reason
    FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
   WHERE j.audience = 'ddl_people'::regclass ORDER BY e.customer_id, e.id;

-- 1. Changes a live version cannot run with are refused, naming journey, version and step.
SELECT try($$ALTER TABLE ddl_people ALTER COLUMN plan TYPE int USING 0$$);
SELECT try($$ALTER TABLE ddl_people RENAME COLUMN age TO years$$);
SELECT try($$ALTER TABLE ddl_people DROP COLUMN score$$);
SELECT try($$ALTER TABLE ddl_people DROP COLUMN note$$);
SELECT try($$ALTER TABLE ddl_people DROP COLUMN age, ALTER COLUMN plan TYPE boolean USING false$$);
-- The table is unchanged by the refused statements.
SELECT name, type_name FROM journey._audience_columns('ddl_people');

-- 2. Changes it can run with pass: new columns, columns no journey reads, a
-- type of the same kind.
ALTER TABLE ddl_people ADD COLUMN extra int;
ALTER TABLE ddl_people RENAME COLUMN spare TO spare2;
ALTER TABLE ddl_people DROP COLUMN spare2;
ALTER TABLE ddl_people ALTER COLUMN age TYPE bigint;
ALTER TABLE ddl_people ALTER COLUMN plan TYPE varchar(20);
-- and the journey still runs: an exit by condition, a wake-up, an entry.
UPDATE ddl_people SET age = 60 WHERE id = 1;
SELECT journey.run_due(10, now()) AS ran;
UPDATE ddl_people SET score = 11 WHERE id = 2;
UPDATE ddl_people SET plan = 'gone' WHERE id = 2;
SELECT * FROM ddl_state;
SELECT id, note FROM ddl_people ORDER BY id;

-- 3. The audience row follows renames of its key, e-mail and time zone columns.
ALTER TABLE ddl_people RENAME COLUMN id TO person_id;
ALTER TABLE ddl_people RENAME COLUMN email TO mail;
ALTER TABLE ddl_people RENAME COLUMN tz TO zone;
SELECT relation, key_column, email_column, timezone_column FROM journey.audiences
 WHERE relation = 'ddl_people'::regclass;
INSERT INTO ddl_people (person_id, mail, plan, age, score, zone) VALUES (3, 'c@x.test', 'free', 20, 50, 'UTC');
SELECT * FROM ddl_state WHERE who = '3';
SELECT journey.run_due(10, now()) AS ran;
SELECT m.customer_id, m.payload->>'to' AS sent_to FROM journey.messages m
  JOIN journey.journeys j ON j.id = m.journey_id WHERE j.name = 'ddl-live' AND m.customer_id = '3';

-- 4. The key, e-mail and time zone columns cannot be dropped (nor become
-- non-text), journeys or not.
SELECT try($$ALTER TABLE ddl_people DROP COLUMN person_id$$);
SELECT try($$ALTER TABLE ddl_people DROP COLUMN mail$$);
SELECT try($$ALTER TABLE ddl_people DROP COLUMN zone$$);
SELECT try($$ALTER TABLE ddl_people ALTER COLUMN zone TYPE int USING 0$$);
CREATE TABLE ddl_plain_aud (k text PRIMARY KEY, e text);
SELECT journey.register_audience('ddl_plain_aud', 'k', 'e');
SELECT try($$ALTER TABLE ddl_plain_aud DROP COLUMN k CASCADE$$);
SELECT try($$ALTER TABLE ddl_plain_aud DROP COLUMN e$$);
SELECT journey.register_audience('ddl_plain_aud', 'k');  -- without the e-mail column ...
ALTER TABLE ddl_plain_aud DROP COLUMN e;                   -- ... it may go
SELECT journey.unregister_audience('ddl_plain_aud');
DROP TABLE ddl_plain_aud;

-- 5. A retired version counts while enrollments are still on it.
SELECT journey.import($${"name": "ddl-live", "audience": "ddl_people", "start": "hi",
  "steps": [{"key": "hi", "type": "send_email", "template": "ddl_hi"}]}$$) > 0 AS imported;
SELECT journey.publish('ddl-live');
SELECT * FROM ddl_state WHERE status = 'active';
SELECT try($$ALTER TABLE ddl_people DROP COLUMN age$$);    -- v1's wait_until: customer 3 waits there
SELECT try($$ALTER TABLE ddl_people DROP COLUMN score$$);  -- only v1's entry trigger: entries of a retired version never fire
SELECT journey.exit(e.id) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'ddl-live' AND e.status = 'active';
SELECT try($$ALTER TABLE ddl_people DROP COLUMN age$$);    -- nobody on v1 any more

-- 6. Columns dropped by a cascade (DROP DOMAIN ... CASCADE) are checked too.
CREATE DOMAIN ddl_level AS int;
ALTER TABLE ddl_people ADD COLUMN level ddl_level;
SELECT journey.import($${"name": "ddl-level", "audience": "ddl_people", "start": "hi",
  "exit": [{"type": "condition", "when": {"field": "level", "op": "gt", "value": 3}}],
  "steps": [{"key": "hi", "type": "send_email", "template": "ddl_hi", "next": "later"},
            {"key": "later", "type": "delay", "duration": "1 day"}]}$$) > 0 AS imported;
SELECT journey.publish('ddl-level');
SELECT journey.enroll('ddl-level', '1') > 0 AS enrolled;
SELECT try($$DROP DOMAIN ddl_level CASCADE$$);

-- 7. A partitioned audience: ALTER of the parent reaches the partitions.
CREATE TABLE ddl_parts (id int PRIMARY KEY, email text, tier text) PARTITION BY RANGE (id);
CREATE TABLE ddl_parts_1 PARTITION OF ddl_parts FOR VALUES FROM (0) TO (100);
SELECT journey.register_audience('ddl_parts_1', 'id', 'email');
SELECT journey.import($${"name": "ddl-part", "audience": "ddl_parts_1", "start": "hi",
  "exit": [{"type": "condition", "when": {"field": "tier", "op": "eq", "value": "x"}}],
  "steps": [{"key": "hi", "type": "send_email", "template": "ddl_hi"}]}$$) > 0 AS imported;
SELECT journey.publish('ddl-part');
SELECT try($$ALTER TABLE ddl_parts RENAME COLUMN tier TO level$$);
SELECT try($$ALTER TABLE ddl_parts ALTER COLUMN tier TYPE int USING 0$$);
SELECT try($$ALTER TABLE ddl_parts RENAME COLUMN email TO mail$$);
SELECT key_column, email_column FROM journey.audiences WHERE relation = 'ddl_parts_1'::regclass;

-- 8. With the guard bypassed (disabled by a superuser), writes of the table
-- keep working. A key column renamed behind the guard's back: nothing fires, a
-- WARNING says why; renaming it back repairs it.
ALTER EVENT TRIGGER pg_journey_guard_audience_alter DISABLE;
ALTER TABLE ddl_people RENAME COLUMN person_id TO pid;
ALTER EVENT TRIGGER pg_journey_guard_audience_alter ENABLE;
UPDATE ddl_people SET level = 5, note = 'no key' WHERE pid = 1;  -- would exit customer 1
DELETE FROM ddl_people WHERE pid = 3;
SELECT who, version, status, step_key FROM ddl_state WHERE who = '1' AND status = 'active';
ALTER TABLE ddl_people RENAME COLUMN pid TO person_id;
SELECT key_column FROM journey.audiences WHERE relation = 'ddl_people'::regclass;
UPDATE ddl_people SET level = 6 WHERE person_id = 1;
SELECT who, status, exit_reason FROM ddl_state WHERE who = '1' AND status <> 'completed';
-- A journey that no longer compiles is skipped with a WARNING: writes it does
-- not concern still work.
ALTER EVENT TRIGGER pg_journey_guard_audience_alter DISABLE;
ALTER TABLE ddl_people ALTER COLUMN level TYPE text;
ALTER EVENT TRIGGER pg_journey_guard_audience_alter ENABLE;
UPDATE ddl_people SET note = 'still writable' WHERE person_id = 1;
INSERT INTO ddl_people (person_id, mail, plan) VALUES (4, 'd@x.test', 'free');
SELECT person_id, note FROM ddl_people WHERE person_id IN (1, 4) ORDER BY 1;
-- The broken journey's enrollments fail in the tick (not the write).
SELECT journey.enroll('ddl-level', '4') > 0 AS enrolled;
SELECT journey.run_due(10, now()) AS ran;
SELECT e.status, e.last_error LIKE '%level%' AS names_the_column
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'ddl-level' AND e.customer_id = '4';
-- Until the journey fits again, the guard refuses further changes; one that
-- makes it fit passes.
SELECT try($$ALTER TABLE ddl_people ADD COLUMN later int$$);
ALTER TABLE ddl_people ALTER COLUMN level TYPE int USING level::int;
UPDATE ddl_people SET note = 'fits again' WHERE person_id = 1;

-- Clean up.
SELECT journey.archive(name) FROM journey.journeys WHERE name LIKE 'ddl-%' ORDER BY name;
SELECT journey.drop_journey(name) FROM journey.journeys WHERE name LIKE 'ddl-%' ORDER BY name;
SELECT journey.unregister_audience('ddl_people');
SELECT journey.unregister_audience('ddl_parts_1');
DROP VIEW ddl_state;
DROP TABLE ddl_people, ddl_parts;
DROP DOMAIN ddl_level;
DELETE FROM journey.templates WHERE name = 'ddl_hi';
