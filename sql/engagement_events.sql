-- Engagement with messages: journey.message_event records delivered, opened,
-- clicked, bounced, complained and unsubscribed against the message, its step
-- and enrollment; waits and behaviour conditions naming "message_of" count
-- only engagement with that step's message of the same enrollment.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE fans (id int PRIMARY KEY, email text);
INSERT INTO fans SELECT g, 'f' || g || '@x.test' FROM generate_series(1, 5) g;
SELECT journey.register_audience('fans', 'id', 'email');
SELECT journey.create_template('f_invite', 'email', 'Invite', 'Come, {{email}}');
SELECT journey.create_template('f_other', 'email', 'Other', 'Other news');
CREATE VIEW fstate AS
  SELECT j.name, e.customer_id AS who, e.status, e.step_key, e.exit_reason
    FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
   WHERE j.audience = 'fans'::regclass ORDER BY j.name, e.customer_id, e.id;
CREATE FUNCTION msg(journey_name text, who text, step text) RETURNS bigint LANGUAGE sql AS $$
  SELECT m.id FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
   WHERE j.name = journey_name AND m.customer_id = who AND m.step_key = step $$;

-- The event follow-up: did they open the invite? Another journey's message
-- (and another step's) must not count.
SELECT journey.import($${"name": "followup", "audience": "fans", "start": "invite",
  "steps": [{"key": "invite", "type": "send_email", "template": "f_invite", "next": "other"},
            {"key": "other", "type": "send_email", "template": "f_other", "next": "wait"},
            {"key": "wait", "type": "wait_for_event", "event": "opened", "message_of": "invite",
             "timeout": "3 days", "branches": {"event": "thanks", "timeout": "clicked_q"}},
            {"key": "clicked_q", "type": "condition",
             "if": {"event": "clicked", "message_of": "invite", "within": "7 days"},
             "branches": {"yes": "clicker", "no": "nothing"}},
            {"key": "thanks", "type": "goal"},
            {"key": "clicker", "type": "goal"},
            {"key": "nothing", "type": "exit"}]}$$) > 0 AS imported;
SELECT journey.publish('followup');
SELECT journey.import($${"name": "blast", "audience": "fans", "start": "b",
  "steps": [{"key": "b", "type": "send_email", "template": "f_other"}]}$$) > 0 AS imported;
SELECT journey.publish('blast');
SELECT journey.enroll_query('followup', 'SELECT id FROM fans') AS enrolled;
SELECT journey.enroll_query('blast', 'SELECT id FROM fans') AS enrolled;
SELECT journey.run_due(20, now()) AS processed;
SELECT count(*) AS claimed FROM journey.claim_messages('email', 100);

-- 1 opens the blast and the other step's mail: the wait stays.
SELECT journey.message_event(msg('blast', '1', 'b'), 'opened') > 0 AS recorded;
SELECT journey.message_event(msg('followup', '1', 'other'), 'opened') > 0 AS recorded;
-- 2 opens the invite: the "event" branch.
SELECT journey.message_event(msg('followup', '2', 'invite'), 'delivered') > 0 AS recorded;
SELECT journey.message_event(msg('followup', '2', 'invite'), 'opened', '{"ua": "x"}') > 0 AS recorded;
-- 3 clicks the invite (without an open): the condition after the timeout.
SELECT journey.message_event(msg('followup', '3', 'invite'), 'clicked', '{"url": "https://x.test"}') > 0 AS recorded;
SELECT journey.run_due(20, now()) AS processed;
SELECT * FROM fstate WHERE name = 'followup';
SELECT journey.run_due(20, now() + interval '4 days') AS processed;
SELECT * FROM fstate WHERE name = 'followup';
SELECT me.customer_id, j.name, me.step_key, me.kind, me.properties
  FROM journey.message_events me JOIN journey.journeys j ON j.id = me.journey_id
 WHERE j.audience = 'fans'::regclass ORDER BY me.id;
-- Each is also the event `kind` of journey.events (exit rules, entry triggers,
-- waits without message_of), with the message named.
SELECT ev.customer_id, ev.name, ev.properties - 'message_id' AS properties
  FROM journey.events ev WHERE ev.audience = 'fans'::regclass ORDER BY ev.id;
SELECT journey.archive('followup');

-- Unsubscribing ends the enrollment and suppresses the channel; a complaint
-- too; a hard bounce suppresses, a soft one does not.
SELECT journey.import($${"name": "drip", "audience": "fans", "start": "one",
  "steps": [{"key": "one", "type": "send_email", "template": "f_invite", "next": "pause"},
            {"key": "pause", "type": "delay", "duration": "1 day", "next": "two"},
            {"key": "two", "type": "send_email", "template": "f_invite"}]}$$) > 0 AS imported;
SELECT journey.publish('drip');
SELECT journey.enroll_query('drip', 'SELECT id FROM fans') AS enrolled;
SELECT journey.run_due(20, now()) AS processed;
SELECT count(*) AS claimed FROM journey.claim_messages('email', 100);
SELECT journey.message_event(msg('drip', '1', 'one'), 'unsubscribed') > 0 AS recorded;
SELECT journey.message_event(msg('drip', '2', 'one'), 'complained') > 0 AS recorded;
SELECT journey.message_event(msg('drip', '3', 'one'), 'bounced', '{"type": "hard"}') > 0 AS recorded;
SELECT journey.message_event(msg('drip', '4', 'one'), 'bounced', '{"type": "soft"}') > 0 AS recorded;
SELECT customer_id, channel, reason, source ~ '^message [0-9]+$' AS source_is_message
  FROM journey.list_suppressions() WHERE audience = 'fans'::regclass;
SELECT journey.run_due(20, now() + interval '2 days') AS processed;
SELECT * FROM fstate WHERE name = 'drip';
SELECT m.customer_id, m.step_key, m.status, m.reason
  FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
 WHERE j.name = 'drip' AND m.step_key = 'two' ORDER BY m.customer_id;

-- A failed delivery reaches the journey as the message event "failed".
SELECT journey.complete_message(msg('blast', '5', 'b'), false, '550 mailbox unavailable');
SELECT journey.complete_message(msg('blast', '4', 'b'), true);
SELECT m.customer_id, m.status, m.error FROM journey.messages m
 WHERE m.id IN (msg('blast', '4', 'b'), msg('blast', '5', 'b')) ORDER BY 1;
SELECT me.customer_id, me.step_key, me.kind, me.properties
  FROM journey.message_events me JOIN journey.journeys j ON j.id = me.journey_id
 WHERE me.kind = 'failed' AND j.audience = 'fans'::regclass;
SELECT ev.customer_id, ev.name, ev.properties->>'error' AS error
  FROM journey.events ev WHERE ev.name = 'failed' AND ev.audience = 'fans'::regclass;

-- Errors.
SELECT try($$SELECT journey.message_event(999999, 'opened')$$);
SELECT try($$SELECT journey.message_event(msg('blast', '4', 'b'), 'read')$$);
SELECT try($$SELECT journey.message_event(msg('blast', '4', 'b'), 'bounced', '{"type": "odd"}')$$);
SELECT try($$SELECT journey.message_event(msg('blast', '4', 'b'), 'opened', '[]')$$);
SELECT try($$SELECT journey.message_event(msg('drip', '4', 'two'), 'opened')$$);
SELECT try($$SELECT journey.message_event(msg('drip', '3', 'two'), 'opened')$$);

-- The validator: message_of must name a send step before the wait or condition,
-- and the event must be an engagement kind.
SELECT * FROM journey.validate_definition($${"name": "v", "audience": "fans", "start": "w",
  "steps": [{"key": "w", "type": "wait_for_event", "event": "opened", "message_of": "s",
             "timeout": "1 day", "branches": {"event": "s", "timeout": "c"}},
            {"key": "s", "type": "send_email", "template": "f_invite"},
            {"key": "c", "type": "condition",
             "if": {"any": [{"event": "opened", "message_of": "nope"},
                            {"event": "clicked", "message_of": "w"},
                            {"event": "signed_up", "message_of": "s"},
                            {"event": "opened", "message_of": "s", "step": "s"}]}}]}$$)
 ORDER BY step_key, message;
SELECT * FROM journey.validate_definition($${"name": "v", "audience": "fans", "start": "s",
  "steps": [{"key": "s", "type": "send_email", "template": "f_invite", "next": "w"},
            {"key": "w", "type": "wait_for_event", "event": "email_opened", "message_of": 7}]}$$)
 ORDER BY step_key, message;
SELECT f->>'kind' AS kind FROM jsonb_array_elements(journey.catalog()->'steps') t,
       jsonb_array_elements(t->'fields') f
 WHERE t->>'type' = 'wait_for_event' AND f->>'name' = 'message_of';
SELECT journey.archive('drip');
SELECT journey.archive('blast');
