-- Templates are part of a published version (issue 8, item 2): publish freezes
-- the templates the version renders, checked against the step's channel and the
-- publisher's column privileges; a template replaced later reaches a journey
-- only through its next publish.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE ROLE regress_te_owner LOGIN IN ROLE journey_admin;
CREATE ROLE regress_te_other LOGIN IN ROLE journey_admin;
GRANT CREATE ON SCHEMA public TO regress_te_owner;

SET ROLE regress_te_owner;
CREATE TABLE public.te_people (id int PRIMARY KEY, email text, name text, ssn text);
INSERT INTO te_people VALUES (1, 'ann@x.test', 'Ann', '078-05-1120'), (2, 'bob@x.test', 'Bob', '219-09-9999');
SELECT journey.register_audience('te_people', 'id', 'email');
SELECT journey.create_template('te_hello', 'email', 'Hello {{name}}', 'Hi {{name}}, welcome.');
SELECT journey.import($${"name": "te-greet", "audience": "te_people", "start": "hi",
  "steps": [{"key": "hi", "type": "send_email", "template": "te_hello"}]}$$) > 0 AS imported;
SELECT journey.publish('te-greet');
RESET ROLE;
SELECT version, templates FROM journey.versions v JOIN journey.journeys j ON j.id = v.journey_id
 WHERE j.name = 'te-greet';

-- Another admin, who may not read te_people, replaces the template with the SSN
-- (and with a template of another channel): the published version still
-- renders what was frozen at publish.
SET ROLE regress_te_other;
SELECT try($$SELECT count(*) FROM public.te_people$$);
SELECT journey.create_template('te_hello', 'email', 'Hello {{name}}', 'Your SSN is {{ssn}}', replace => true);
SELECT journey.enroll('te-greet', '1') > 0 AS enrolled;
RESET ROLE;
SELECT journey.run_due(1000) AS processed;
SET ROLE regress_te_other;
SELECT journey.create_template('te_hello', 'sms', NULL, 'SMS {{ssn}}', replace => true);
SELECT journey.enroll('te-greet', '2') > 0 AS enrolled;
RESET ROLE;
SELECT journey.run_due(1000) AS processed;
SELECT m.customer_id, m.channel, m.payload->>'subject' AS subject, m.payload->>'body' AS body
  FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
 WHERE j.name = 'te-greet' ORDER BY m.customer_id;

-- The next publish takes the template as it is then, and checks it: an sms
-- template for a send_email step is refused.
SET ROLE regress_te_owner;
SELECT journey.set_settings('te-greet', '{"reentry": "always"}') IS NOT NULL AS edited;
SELECT try($$SELECT journey.publish('te-greet')$$);
SELECT journey.create_template('te_hello', 'email', 'Hello {{name}}', 'Hi again {{name}}', replace => true);
SELECT journey.publish('te-greet');
RESET ROLE;
SELECT version, templates FROM journey.versions v JOIN journey.journeys j ON j.id = v.journey_id
 WHERE j.name = 'te-greet' ORDER BY version;

-- A send step checks the channel too, and a template that renders a column
-- the publisher may not read is refused (validate_definition with that owner).
SELECT journey.create_template('te_text', 'sms', NULL, 'Hi {{name}}');
SELECT step_key, severity, message FROM journey.validate_definition($${"name": "te-x",
  "audience": "te_people", "start": "a",
  "steps": [{"key": "a", "type": "send", "channel": "push", "template": "te_text", "next": "b"},
            {"key": "b", "type": "send_email", "template": "te_hello", "next": "c"},
            {"key": "c", "type": "send", "channel": "webhook", "payload": {"who": "{{ssn}}"}}]}$$,
  'regress_te_other') ORDER BY 1, 3;
GRANT SELECT (id, name) ON te_people TO regress_te_other;
SELECT step_key, severity, message FROM journey.validate_definition($${"name": "te-x",
  "audience": "te_people", "start": "b",
  "steps": [{"key": "b", "type": "send_email", "template": "te_hello", "next": "c"},
            {"key": "c", "type": "send", "channel": "webhook", "payload": {"who": "{{ssn}}"}}]}$$,
  'regress_te_other') ORDER BY 1, 3;

-- A version frozen before these checks (a 0.1 install's version, say) whose
-- template has the wrong channel fails its enrollment instead of sending.
UPDATE journey.versions v SET templates = jsonb_set(v.templates, '{te_hello,channel}', '"sms"')
  FROM journey.journeys j WHERE j.id = v.journey_id AND j.name = 'te-greet' AND v.version = 2;
SELECT journey.enroll('te-greet', '1') > 0 AS enrolled;
SELECT journey.run_due(1000) AS processed;
SELECT e.customer_id, e.version, e.status, e.attempts, e.last_error
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'te-greet' AND e.status = 'active';

SELECT journey.archive('te-greet');
SELECT journey.drop_journey('te-greet');
SELECT count(*) AS active_left FROM journey.enrollments WHERE status = 'active';
SELECT journey.unregister_audience('te_people');
DROP TABLE te_people;
DELETE FROM journey.templates WHERE name IN ('te_hello', 'te_text');
REVOKE CREATE ON SCHEMA public FROM regress_te_owner;
DROP ROLE regress_te_owner;
DROP ROLE regress_te_other;
