-- Global suppressions: added by hand, by an unsubscribe, a complaint or a hard
-- bounce (journey.message_event); checked when a message is created and again
-- when it is claimed; transactional journeys ignore unsubscribes.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE subs (id int PRIMARY KEY, email text, phone text);
INSERT INTO subs SELECT g, 's' || g || '@x.test', '+33' || g FROM generate_series(1, 6) g;
SELECT journey.register_audience('subs', 'id', 'email', recipients => '{"sms": "phone"}');
SELECT journey.create_template('s_mail', 'email', 'News', 'News for {{email}}');
SELECT journey.create_template('s_sms', 'sms', NULL, 'Text');
CREATE VIEW smsg AS
  SELECT j.name, m.customer_id AS who, m.step_key, m.channel, m.status, m.reason
    FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
   WHERE j.audience = 'subs'::regclass ORDER BY j.name, m.customer_id, m.visit;

-- Adding, listing, removing.
SELECT journey.add_suppression('1', reason => 'unsubscribed', source => 'test', audience => 'subs') AS added;
SELECT journey.add_suppression('1', reason => 'manual', audience => 'subs') AS added_again;
SELECT journey.add_suppression('2', 'sms', 'manual', audience => 'subs') AS added;
SELECT journey.add_suppression('3', 'email', 'bounced', audience => 'subs') AS added;
SELECT customer_id, channel, reason, source FROM journey.list_suppressions() WHERE audience = 'subs'::regclass;
SELECT customer_id, channel, reason FROM journey.list_suppressions(channel => 'sms') WHERE audience = 'subs'::regclass;
SELECT customer_id, channel, reason FROM journey.list_suppressions('3') WHERE audience = 'subs'::regclass;
SELECT try($$SELECT journey.add_suppression('99', audience => 'subs')$$);
SELECT try($$SELECT journey.add_suppression('1', '', audience => 'subs')$$);
SELECT try($$SELECT journey.add_suppression('1', 'sms', '', audience => 'subs')$$);
SELECT try($$SELECT journey.add_suppression(NULL)$$);

-- Checked at creation: 1 gets nothing (every channel), 2 no sms, 3 no e-mail.
SELECT journey.import($${"name": "news", "audience": "subs", "start": "mail",
  "steps": [{"key": "mail", "type": "send_email", "template": "s_mail", "next": "text"},
            {"key": "text", "type": "send", "channel": "sms", "template": "s_sms"}]}$$) > 0 AS imported;
SELECT journey.publish('news');
-- A transactional journey still reaches 1 (unsubscribed), not 3 (bounced).
SELECT journey.import($${"name": "receipt", "audience": "subs", "start": "mail",
  "settings": {"transactional": true},
  "steps": [{"key": "mail", "type": "send_email", "template": "s_mail"}]}$$) > 0 AS imported;
SELECT journey.publish('receipt');
SELECT journey.enroll_query('news', 'SELECT id FROM subs WHERE id <= 4') AS enrolled;
SELECT journey.enroll_query('receipt', 'SELECT id FROM subs WHERE id <= 4') AS enrolled;
SELECT journey.run_due(20, now()) AS processed;
SELECT * FROM smsg;

-- Checked again at claim, and adding a suppression withdraws pending messages:
-- 4's e-mail is withdrawn at once; a message written without seeing the
-- suppression (the row below) is suppressed when claimed, and the claim hands
-- out the next one instead.
SELECT journey.add_suppression('4', 'email', 'complained', audience => 'subs') AS added;
SELECT who, channel, status, reason FROM smsg WHERE who = '4';
UPDATE journey.messages SET status = 'pending', reason = NULL, completed_at = NULL
 WHERE customer_id = '4' AND channel = 'email' AND status = 'suppressed';
SELECT customer_id, step_key FROM journey.claim_messages('email', 3) ORDER BY customer_id, step_key;
SELECT who, channel, status, reason FROM smsg WHERE who = '4';
-- Removing lifts it for later messages.
SELECT journey.remove_suppression('4', audience => 'subs') AS removed,
       journey.remove_suppression('4', audience => 'subs') AS none_left;
SELECT journey.remove_suppression('2', 'email', 'subs') AS removed_none;
SELECT customer_id, channel FROM journey.list_suppressions() WHERE audience = 'subs'::regclass ORDER BY 1, 2;

-- Settings: transactional must be a boolean (validator and catalog).
SELECT * FROM journey.validate_definition($${"name": "t", "audience": "subs", "start": "a",
  "settings": {"transactional": "yes"},
  "steps": [{"key": "a", "type": "send_email", "template": "s_mail"}]}$$);
SELECT f->>'kind' AS kind, f->'default' AS def FROM jsonb_array_elements(journey.catalog()->'settings') f
 WHERE f->>'name' = 'transactional';
SELECT journey.archive('news');
SELECT journey.archive('receipt');
