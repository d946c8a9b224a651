-- The claim decides the suppressions of its whole batch at once (issue 9, audit
-- 11f): journey._claim_stops reads the batch's suppressions and its versions'
-- ignored reasons in two queries and asks core (core::stopping_reasons) per
-- message, with core::stopping_suppression's rule. One batch here mixes two
-- audiences whose tables share customer ids, a plain and a transactional
-- journey of the same customer, every-channel and channel suppressions, and
-- suppressed messages that leave room for more.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE c9a (id int PRIMARY KEY, email text);
CREATE TABLE c9b (id int PRIMARY KEY, email text);
INSERT INTO c9a SELECT g, 'a' || g || '@x.test' FROM generate_series(1, 4) g;
INSERT INTO c9b SELECT g, 'b' || g || '@x.test' FROM generate_series(1, 4) g;
SELECT journey.register_audience('c9a', 'id', 'email'), journey.register_audience('c9b', 'id', 'email');
SELECT journey.create_template('c9_mail', 'email', 'Hi', 'Hi {{email}}');
SELECT journey.import($${"name": "c9_plain", "audience": "c9a", "start": "mail",
  "steps": [{"key": "mail", "type": "send_email", "template": "c9_mail"}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "c9_tx", "audience": "c9a", "start": "mail",
  "settings": {"transactional": true},
  "steps": [{"key": "mail", "type": "send_email", "template": "c9_mail"}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "c9_other", "audience": "c9b", "start": "mail",
  "steps": [{"key": "mail", "type": "send_email", "template": "c9_mail"}]}$$) > 0 AS imported;
SELECT journey.publish('c9_plain'), journey.publish('c9_tx'), journey.publish('c9_other');
SELECT journey.enroll_query('c9_plain', 'SELECT id FROM c9a') AS enrolled;
SELECT journey.enroll_query('c9_tx', 'SELECT id FROM c9a') AS enrolled;
SELECT journey.enroll_query('c9_other', 'SELECT id FROM c9b') AS enrolled;
SELECT journey.run_due(20, now()) AS processed;
CREATE VIEW c9msg AS
  SELECT j.name, m.customer_id AS who, m.status, m.reason
    FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
   WHERE j.name LIKE 'c9_%' ORDER BY j.name, m.customer_id;
SELECT * FROM c9msg;

-- Suppressions written behind the sends' back (no withdraw): only the claim
-- sees them. c9a 1: unsubscribed from everything, then its e-mail bounced;
-- c9a 2: an SMS complaint (stops no e-mail); c9a 3: unsubscribed from e-mail;
-- c9b 2: bounced everywhere (c9a's customer 2 is another person).
INSERT INTO journey.suppressions (audience, customer_id, channel, reason, source, at, audience_id)
VALUES ('c9a', '1', NULL, 'unsubscribed', 'c9', '2030-01-01', journey._audience_id('c9a')),
       ('c9a', '1', 'email', 'bounced', 'c9', '2030-01-02', journey._audience_id('c9a')),
       ('c9a', '2', 'sms', 'complained', 'c9', '2030-01-01', journey._audience_id('c9a')),
       ('c9a', '3', 'email', 'unsubscribed', 'c9', '2030-01-01', journey._audience_id('c9a')),
       ('c9b', '2', NULL, 'bounced', 'c9', '2030-01-01', journey._audience_id('c9b'));

-- Core's answer for a batch, element by element: c9a 1 plain (the every-channel
-- unsubscribe comes first), c9a 1 transactional (ignores it: the bounce), c9a 2
-- (none of e-mail), c9a 3 transactional (ignored), c9b 2, c9b 1 (none), and a
-- message whose audience is not registered (null: nobody to stop).
SELECT journey._claim_stops(
  ARRAY['1', '1', '2', '3', '2', '1', '1'],
  ARRAY[journey._audience_id('c9a'), journey._audience_id('c9a'), journey._audience_id('c9a'),
        journey._audience_id('c9a'), journey._audience_id('c9b'), journey._audience_id('c9b'),
        NULL],
  ARRAY(SELECT id FROM journey.journeys j, unnest(ARRAY['c9_plain', 'c9_tx', 'c9_plain', 'c9_tx',
                                                        'c9_other', 'c9_other', 'c9_plain'])
                  WITH ORDINALITY n(name, i)
         WHERE j.name = n.name ORDER BY n.i),
  ARRAY[1, 1, 1, 1, 1, 1, 1], 'email') AS stops;
SELECT journey._claim_stops('{}', '{}', '{}', '{}', 'email') AS empty_batch;
SELECT try($$SELECT journey._claim_stops('{1,2}', '{1}', '{1,2}', '{1,1}', 'email')$$);

-- Claims of 3: suppressed messages leave room for more, so each claim hands out
-- 3 while there are; 4 of the 12 are suppressed, each with core's reason.
SELECT j.name, c.customer_id FROM journey.claim_messages('email', 3) c
  JOIN journey.journeys j ON j.id = c.journey_id ORDER BY c.id;
SELECT j.name, c.customer_id FROM journey.claim_messages('email', 3) c
  JOIN journey.journeys j ON j.id = c.journey_id ORDER BY c.id;
SELECT j.name, c.customer_id FROM journey.claim_messages('email', 3) c
  JOIN journey.journeys j ON j.id = c.journey_id ORDER BY c.id;
SELECT count(*) AS nothing_left FROM journey.claim_messages('email', 3);
SELECT * FROM c9msg;

SELECT journey.archive('c9_plain'), journey.archive('c9_tx'), journey.archive('c9_other');
