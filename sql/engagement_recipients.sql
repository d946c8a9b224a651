-- Recipients per channel (journey.set_recipients, register_audience's
-- recipients): each message carries its recipient; a customer without one for
-- the channel is recorded as suppressed with reason 'no_recipient', never sent.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE contacts (id int PRIMARY KEY, email text, phone text, token text, n int);
INSERT INTO contacts VALUES (1, 'a@x.test', '+331', 'tok1', 1), (2, 'b@x.test', NULL, NULL, 2),
                            (3, NULL, '+333', '', 3);
SELECT journey.register_audience('contacts', 'id', email_column => 'email',
                                 recipients => '{"sms": "phone"}');
SELECT relation, email_column, recipients FROM journey.audiences WHERE relation = 'contacts'::regclass;
-- Changing them later merges; null removes a channel.
SELECT journey.set_recipients('contacts', '{"push": "token"}');
SELECT journey.set_recipients('contacts', '{"push": null, "in_app": "token"}');
SELECT recipients FROM journey.audiences WHERE relation = 'contacts'::regclass;
-- Re-registering keeps the other channels.
SELECT journey.register_audience('contacts', 'id', 'email');
SELECT email_column, recipients FROM journey.audiences WHERE relation = 'contacts'::regclass;
-- Errors name the audience, channel and column.
SELECT try($$SELECT journey.set_recipients('contacts', '{"sms": "nope"}')$$);
SELECT try($$SELECT journey.set_recipients('contacts', '{"sms": "n"}')$$);
SELECT try($$SELECT journey.set_recipients('contacts', '{"sms": 3}')$$);
SELECT try($$SELECT journey.set_recipients('contacts', '["phone"]')$$);
SELECT try($$SELECT journey.set_recipients('contacts', '{"": "phone"}')$$);
SELECT try($$SELECT journey.set_recipients('customers_nope', '{"sms": "phone"}')$$);
SELECT try($$SELECT journey.register_audience('contacts', 'id', 'email', recipients => '{"email": "phone"}')$$);
SELECT try($$SELECT journey.set_recipients('journey.journeys', '{"sms": "name"}')$$);

SELECT journey.create_template('c_mail', 'email', 'Hi', 'Hello {{email}}');
SELECT journey.create_template('c_sms', 'sms', NULL, 'Code {{n}}');
SELECT journey.create_template('c_hook', 'webhook', NULL, 'ping {{n}}');
SELECT journey.import($${"name": "reach", "audience": "contacts", "start": "mail",
  "steps": [{"key": "mail", "type": "send_email", "template": "c_mail", "next": "text"},
            {"key": "text", "type": "send", "channel": "sms", "template": "c_sms", "next": "app"},
            {"key": "app", "type": "send", "channel": "in_app", "payload": {"t": "{{n}}"}, "next": "hook"},
            {"key": "hook", "type": "send", "channel": "webhook", "template": "c_hook"}]}$$) > 0 AS imported;
SELECT journey.publish('reach');
SELECT journey.enroll_query('reach', 'SELECT id FROM contacts') AS enrolled;
SELECT journey.run_due(10, now()) AS processed;
SELECT m.customer_id, m.step_key, m.channel, m.recipient, m.status, m.reason
  FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
 WHERE j.name = 'reach' ORDER BY m.customer_id, m.visit;
-- claim_messages hands out the recipient; never the skipped ones.
SELECT customer_id, recipient, payload->>'body' AS body FROM journey.claim_messages('sms', 10) ORDER BY customer_id;
SELECT customer_id, recipient, payload->>'to' AS "to" FROM journey.claim_messages('email', 10) ORDER BY customer_id;
-- The activity shows every visit (the skip is the message's status).
SELECT a.customer_id, count(*) FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
 WHERE j.name = 'reach' GROUP BY 1 ORDER BY 1;

-- A new recipient column reaches backends that compiled the journey already.
SELECT journey.set_recipients('contacts', '{"webhook": "email"}');
SELECT journey.enroll('reach', '1') IS NULL AS not_again;
SELECT journey.import($${"name": "reach2", "audience": "contacts", "start": "hook",
  "steps": [{"key": "hook", "type": "send", "channel": "webhook", "template": "c_hook"}]}$$) > 0 AS imported;
SELECT journey.publish('reach2');
SELECT journey.enroll_query('reach2', 'SELECT id FROM contacts') AS enrolled;
SELECT journey.run_due(10, now()) AS processed;
SELECT m.customer_id, m.recipient, m.status, m.reason
  FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
 WHERE j.name = 'reach2' ORDER BY m.customer_id;
SELECT journey.archive('reach');
SELECT journey.archive('reach2');

-- The DDL guard keeps recipient columns: a rename follows, a drop or a type
-- change is refused.
ALTER TABLE contacts RENAME COLUMN phone TO mobile;
SELECT recipients FROM journey.audiences WHERE relation = 'contacts'::regclass;
ALTER TABLE contacts RENAME COLUMN email TO mail;
SELECT email_column, recipients FROM journey.audiences WHERE relation = 'contacts'::regclass;
SELECT try($$ALTER TABLE contacts DROP COLUMN mobile$$);
SELECT try($$ALTER TABLE contacts ALTER COLUMN token TYPE int USING 0$$);
SELECT journey.set_recipients('contacts', '{"sms": null}');
SELECT try($$ALTER TABLE contacts DROP COLUMN mobile$$);
