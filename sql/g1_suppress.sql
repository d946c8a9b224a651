-- The suppression rule, written once in core (issue 9, item G1): a suppression
-- stops the messages of its channel (every channel when null) unless the
-- message's journey ignores its reason (transactional: 'unsubscribed'). Core
-- decides the ignored reasons at publish (journey.versions), and every site
-- reads that: the tick, preview, add_suppression's withdraw, the claim and
-- message_event's unsubscribe.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE g1c (id int PRIMARY KEY, email text, phone text);
INSERT INTO g1c SELECT g, 'g' || g || '@x.test', '+44' || g FROM generate_series(1, 6) g;
SELECT journey.register_audience('g1c', 'id', 'email', recipients => '{"sms": "phone"}');
SELECT journey.create_template('g1_mail', 'email', 'Hi', 'Hi {{email}}');
SELECT journey.create_template('g1_text', 'sms', NULL, 'Text');
CREATE VIEW g1msg AS
  SELECT j.name, m.customer_id AS who, m.channel, m.status, m.reason
    FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
   WHERE j.audience = 'g1c'::regclass ORDER BY m.customer_id, j.name, m.id;

SELECT journey.import($${"name": "g1_plain", "audience": "g1c", "start": "mail",
  "steps": [{"key": "mail", "type": "send_email", "template": "g1_mail"}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "g1_tx", "audience": "g1c", "start": "mail",
  "settings": {"transactional": true},
  "steps": [{"key": "mail", "type": "send_email", "template": "g1_mail"}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "g1_sms", "audience": "g1c", "start": "text",
  "steps": [{"key": "text", "type": "send", "channel": "sms", "template": "g1_text"}]}$$) > 0 AS imported;
-- A draft, never published.
SELECT journey.import($${"name": "g1_draft", "audience": "g1c", "start": "mail",
  "settings": {"transactional": true},
  "steps": [{"key": "mail", "type": "send_email", "template": "g1_mail"}]}$$) > 0 AS imported;
SELECT journey.publish('g1_plain'), journey.publish('g1_tx'), journey.publish('g1_sms');

-- Core's decision (core::ignored_suppression_reasons), stored per version at publish.
SELECT journey._ignored_suppression_reasons('{"transactional": true}') AS transactional,
       journey._ignored_suppression_reasons('{"transactional": false}') AS not_transactional,
       journey._ignored_suppression_reasons('{}') AS none,
       journey._ignored_suppression_reasons(NULL) AS null_settings;
SELECT j.name, v.version, v.status, v.ignored_suppression_reasons
  FROM journey.versions v JOIN journey.journeys j ON j.id = v.journey_id
 WHERE j.audience = 'g1c'::regclass ORDER BY j.name, v.version;

-- 1: unsubscribed from everything; 2: complained about e-mail; 3: unsubscribed
-- from everything, and its e-mail bounced later.
SELECT journey.add_suppression('1', NULL, 'unsubscribed', audience => 'g1c') AS added;
SELECT journey.add_suppression('2', 'email', 'complained', audience => 'g1c') AS added;
SELECT journey.add_suppression('3', NULL, 'unsubscribed', audience => 'g1c') AS added;
SELECT journey.add_suppression('3', 'email', 'bounced', audience => 'g1c') AS added;

-- The tick: a plain journey's messages stop at every suppression; a
-- transactional one's reach the unsubscribed (1), not the complainer (2), and
-- 3's every-channel unsubscribe gives way to the e-mail bounce.
SELECT journey.enroll_query('g1_plain', 'SELECT id FROM g1c WHERE id <= 4') AS enrolled;
SELECT journey.enroll_query('g1_tx', 'SELECT id FROM g1c WHERE id <= 4') AS enrolled;
SELECT journey.run_due(20, now()) AS processed;
SELECT * FROM g1msg;

-- preview: the same rule, for a published version and a draft.
SELECT 'g1_plain' AS journey, p.status, p.reason FROM journey.preview('g1_plain', 'mail', '1') p
UNION ALL
SELECT 'g1_tx', p.status, p.reason FROM journey.preview('g1_tx', 'mail', '1') p
UNION ALL
SELECT 'g1_tx 3', p.status, p.reason FROM journey.preview('g1_tx', 'mail', '3') p
UNION ALL
SELECT 'g1_draft', p.status, p.reason FROM journey.preview('g1_draft', 'mail', '1') p;

-- add_suppression withdraws the pending messages it stops: 4's plain e-mail,
-- not the transactional one.
SELECT journey.add_suppression('4', 'email', 'unsubscribed', audience => 'g1c') AS added;
SELECT * FROM g1msg WHERE who = '4';

-- The claim checks again: 5's suppression is written behind the sends' back
-- (no withdraw), so the claim suppresses the plain message and hands out the
-- transactional ones (1, 4, 5).
SELECT journey.enroll('g1_plain', '5') > 0 AS enrolled, journey.enroll('g1_tx', '5') > 0 AS enrolled;
SELECT journey.run_due(20, now()) AS processed;
INSERT INTO journey.suppressions (audience, customer_id, channel, reason, source, audience_id)
VALUES ('g1c', '5', NULL, 'unsubscribed', 'g1 test', journey._audience_id('g1c'));
SELECT j.name, c.customer_id FROM journey.claim_messages('email', 10) c
  JOIN journey.journeys j ON j.id = c.journey_id ORDER BY c.customer_id, j.name;
SELECT * FROM g1msg WHERE who = '5';

-- message_event: 6 unsubscribes from everything through its text message; the
-- suppression withdraws 6's pending plain e-mail, not the transactional one,
-- which the next claim hands out.
SELECT journey.enroll('g1_sms', '6') > 0 AS a, journey.enroll('g1_plain', '6') > 0 AS b,
       journey.enroll('g1_tx', '6') > 0 AS c;
SELECT journey.run_due(20, now()) AS processed;
SELECT count(*) AS claimed FROM journey.claim_messages('sms', 10);
SELECT journey.message_event(m.id, 'unsubscribed', '{"scope": "all"}') > 0 AS recorded
  FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
 WHERE j.name = 'g1_sms' AND m.customer_id = '6';
SELECT customer_id, channel, reason FROM journey.list_suppressions('6') WHERE audience = 'g1c'::regclass;
SELECT * FROM g1msg WHERE who = '6';
SELECT j.name, c.customer_id FROM journey.claim_messages('email', 10) c
  JOIN journey.journeys j ON j.id = c.journey_id ORDER BY c.customer_id, j.name;

SELECT journey.archive('g1_plain'), journey.archive('g1_tx'), journey.archive('g1_sms');
