-- Delivery hardening (issue 11, a new user's probe): merge tags in HTML
-- e-mail bodies are HTML-escaped (the raw filter opts out), only the links a
-- template wrote itself are listed for click tracking, a "message_of" wait or
-- condition counts only the message of the latest visit of its step, channel
-- names are checked everywhere they are taken, set_recipients cannot take the
-- recipient column of a channel live journeys send on, message_event checks
-- its arguments and records one-time engagement once.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE hd_people (id int PRIMARY KEY, email text, phone text, first_name text,
                        site text, balance numeric, renews_at timestamptz, born date);
INSERT INTO hd_people VALUES
  (1, 'ann@x.test', '+331', '<script>alert(1)</script>', 'https://evil.test/phish', 12345678901234567.89,
   '2030-03-05 14:00+00', '2000-01-01'),
  (2, 'bob@x.test', NULL, 'Bob & "Co"', 'shop.test', 0.1, NULL, NULL),
  (3, 'cy@x.test', NULL, 'Cy', NULL, -98765432109876543210.5, '294276-12-31 00:00+00', NULL);
SELECT journey.register_audience('hd_people', 'id', 'email', recipients => '{"sms": "phone"}');

-- 1. HTML bodies escape merge tags; "| raw" opts out; plain text is unchanged.
SELECT journey.create_template('hd_html', 'email', 'Hi {{first_name}}',
  '<p>Hi {{first_name}}, {{first_name | raw}}</p><p><a href="https://shop.test/sale?a=1&amp;b=2">sale</a> '
  '<a href="{{site}}">yours</a> <a href="https://shop.test/u/{{id}}">profile</a> {{site}}</p>');
SELECT journey.create_template('hd_text', 'email', 'Hi', 'Hi {{first_name}}, see https://shop.test/blog or {{site}}');
SELECT try($$SELECT journey.create_template('hd_bad', 'email', 'x', '<p>{{first_name | raw: 1}}</p>')$$);
SELECT journey.import($${"name": "hd_mail", "audience": "hd_people", "start": "h",
  "steps": [{"key": "h", "type": "send_email", "template": "hd_html", "next": "t"},
            {"key": "t", "type": "send_email", "template": "hd_text"}]}$$) > 0 AS imported;
SELECT payload->>'subject' AS subject, payload->>'body' AS body, payload->>'format' AS format,
       payload->'tracked_links' AS tracked_links
  FROM journey.preview('hd_mail', 'h', '1');
SELECT payload->>'body' AS body, payload->>'format' AS format, payload->'tracked_links' AS tracked_links
  FROM journey.preview('hd_mail', 't', '1');
SELECT payload->>'body' AS body FROM journey.preview('hd_mail', 'h', '2');
-- The engine writes the same into the outbox.
SELECT journey.publish('hd_mail');
SELECT journey.enroll('hd_mail', '1') > 0 AS enrolled;
SELECT journey.run_due(10, now()) AS processed;
SELECT step_key, payload->>'format' AS format, payload->'tracked_links' AS tracked_links,
       payload->>'body' LIKE '%&lt;script&gt;alert(1)&lt;/script&gt;, <script>%' AS escaped
  FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
 WHERE j.name = 'hd_mail' ORDER BY m.visit;
SELECT journey.archive('hd_mail');

-- 3. A loop sends step "s" again: the wait for the open of "s" ignores the
-- open of the earlier visit's message, and wakes on the new one.
SELECT journey.create_template('hd_plain', 'email', 'Loop', 'Hello');
SELECT journey.import($${"name": "hd_loop", "audience": "hd_people", "start": "s",
  "steps": [{"key": "s", "type": "send_email", "template": "hd_plain", "next": "w"},
            {"key": "w", "type": "wait_for_event", "event": "opened", "message_of": "s",
             "timeout": "1 hour", "branches": {"event": "done", "timeout": "s"}},
            {"key": "done", "type": "goal"}]}$$) > 0 AS imported;
SELECT journey.publish('hd_loop');
CREATE FUNCTION hd_msg(journey_name text, who text, n int) RETURNS bigint LANGUAGE sql AS $$
  SELECT m.id FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
   WHERE j.name = journey_name AND m.customer_id = who ORDER BY m.visit OFFSET n - 1 LIMIT 1 $$;
CREATE VIEW hd_state AS
  SELECT j.name, e.customer_id AS who, e.status, e.step_key,
         (SELECT count(*) FROM journey.messages m WHERE m.enrollment_id = e.id) AS messages
    FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
   WHERE j.audience = 'hd_people'::regclass AND j.name <> 'hd_mail' ORDER BY j.name, e.customer_id;
SELECT journey.enroll('hd_loop', '2') > 0 AS enrolled;
SELECT journey.run_due(10, now()) AS processed;
SELECT count(*) AS claimed FROM journey.claim_messages('email', 10);
SELECT journey.run_due(10, now() + interval '2 hours') AS processed;  -- timeout: s again
SELECT * FROM hd_state;
-- The first visit's message is opened: recorded, but not delivered to the
-- wait as engagement with its message (only track's plain event, which a
-- wait with "message_of" never takes).
SELECT journey.message_event(hd_msg('hd_loop', '2', 1), 'opened') > 0 AS recorded;
SELECT (SELECT count(*) FROM jsonb_array_elements(e.woken_by) w WHERE w ? 'message') AS with_message,
       jsonb_array_length(e.woken_by) AS woken
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'hd_loop';
SELECT journey.run_due(10, now() + interval '150 minutes') AS processed;
SELECT * FROM hd_state;
-- The open of the latest visit's message wakes it.
UPDATE journey.messages SET send_after = now() WHERE id = hd_msg('hd_loop', '2', 2);
SELECT count(*) AS claimed FROM journey.claim_messages('email', 10);
SELECT journey.message_event(hd_msg('hd_loop', '2', 2), 'opened') > 0 AS recorded;
SELECT journey.run_due(10, now() + interval '150 minutes') AS processed;
SELECT * FROM hd_state;
SELECT journey.archive('hd_loop');

-- 3. A behaviour condition about "message_of" asks about the latest visit's
-- message: the loop goes round again only while each new message is opened.
SELECT journey.import($${"name": "hd_again", "audience": "hd_people", "start": "s",
  "steps": [{"key": "s", "type": "send_email", "template": "hd_plain", "next": "d"},
            {"key": "d", "type": "delay", "duration": "1 hour", "next": "c"},
            {"key": "c", "type": "condition", "if": {"event": "opened", "message_of": "s"},
             "branches": {"yes": "s", "no": "stop"}},
            {"key": "stop", "type": "exit"}]}$$) > 0 AS imported;
SELECT journey.publish('hd_again');
SELECT journey.enroll('hd_again', '1') > 0 AS enrolled;
SELECT journey.run_due(10, now()) AS processed;
SELECT count(*) AS claimed FROM journey.claim_messages('email', 10);
SELECT journey.message_event(hd_msg('hd_again', '1', 1), 'opened') > 0 AS recorded;
SELECT journey.run_due(10, now() + interval '2 hours') AS processed;  -- opened: s again
SELECT * FROM hd_state WHERE name = 'hd_again';
SELECT journey.run_due(10, now() + interval '4 hours') AS processed;  -- the new one was not
SELECT * FROM hd_state WHERE name = 'hd_again';
SELECT journey.archive('hd_again');

-- 4. Channel names: 'EMAIL' or ' email' name no channel; refused everywhere.
SELECT try($$SELECT journey.add_suppression('1', 'EMAIL')$$);
SELECT try($$SELECT journey.add_suppression('1', ' email')$$);
SELECT try($$SELECT journey.add_suppression('1', 'e mail')$$);
SELECT try($$SELECT journey.remove_suppression('1', 'Sms')$$);
SELECT try($$SELECT * FROM journey.list_suppressions('1', 'SMS')$$);
SELECT try($$SELECT * FROM journey.claim_messages('Email', 1)$$);
SELECT try($$SELECT journey.set_recipients('hd_people', '{"SMS": "phone"}')$$);
SELECT try($$SELECT journey.create_template('hd_t', 'Email', 'x', 'y')$$);
SELECT step_key, message FROM journey.validate_definition($${"name": "hd_ch", "audience": "hd_people",
  "start": "x", "steps": [{"key": "x", "type": "send", "channel": "SMS", "payload": {"t": "hi"}}]}$$)
 WHERE severity = 'error';
SELECT journey.add_suppression('1', 'push_2', audience => 'hd_people') AS added;  -- a well-formed name is taken
SELECT journey.remove_suppression('1', 'push_2', audience => 'hd_people') AS removed;
SELECT count(*) AS suppressions FROM journey.suppressions WHERE audience = 'hd_people'::regclass;

-- 5. The recipient column of a channel live journeys send on cannot be removed.
SELECT journey.import($${"name": "hd_live", "audience": "hd_people", "start": "m",
  "steps": [{"key": "m", "type": "send_email", "template": "hd_plain", "next": "x"},
            {"key": "x", "type": "send", "channel": "sms", "payload": {"text": "hi"}}]}$$) > 0 AS imported;
SELECT journey.publish('hd_live');
SELECT try($$SELECT journey.set_recipients('hd_people', '{"email": null}')$$);
SELECT try($$SELECT journey.set_recipients('hd_people', '{"sms": null, "push": null}')$$);
SELECT email_column, recipients FROM journey.audiences WHERE relation = 'hd_people'::regclass;
SELECT journey.archive('hd_live');
SELECT journey.set_recipients('hd_people', '{"sms": null}');
SELECT email_column, recipients FROM journey.audiences WHERE relation = 'hd_people'::regclass;
SELECT journey.set_recipients('hd_people', '{"sms": "phone"}');

-- 6. numeric columns render their exact digits (not float8's), number too.
SELECT journey.create_template('hd_num', 'email', 'Balance {{balance}}',
  'Balance {{balance}} / {{balance | number: 2}} / {{balance | number: 0, " "}}');
SELECT journey.import($${"name": "hd_num", "audience": "hd_people", "start": "m",
  "steps": [{"key": "m", "type": "send_email", "template": "hd_num", "next": "big"},
            {"key": "big", "type": "condition",
             "if": {"field": "balance", "op": "gt", "value": 12345678901234500},
             "branches": {"yes": "rich", "no": "poor"}},
            {"key": "rich", "type": "goal"}, {"key": "poor", "type": "exit"}]}$$) > 0 AS imported;
SELECT payload->>'subject' AS subject, payload->>'body' AS body FROM journey.preview('hd_num', 'm', '1');
SELECT payload->>'body' AS body FROM journey.preview('hd_num', 'm', '2');
SELECT journey.publish('hd_num');
SELECT journey.enroll('hd_num', '1') > 0 AS enrolled;
SELECT journey.run_due(10, now()) AS processed;
SELECT m.payload->>'body' AS body, (SELECT string_agg(a.step_key, ',' ORDER BY a.visit) FROM journey.activity a
                                     WHERE a.enrollment_id = m.enrollment_id) AS path
  FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id WHERE j.name = 'hd_num';
SELECT journey.archive('hd_num');

-- 7. A time past what journeys compute with (294246 AD): an error naming the
-- column (and, in preview, the journey, step and customer), not "bigint out of range".
SELECT journey.create_template('hd_when', 'email', 'Renews', 'On {{renews_at | date: "%Y"}}');
SELECT journey.create_template('hd_born', 'email', 'Born', 'On {{born}}');
SELECT journey.import($${"name": "hd_when", "audience": "hd_people", "start": "m",
  "steps": [{"key": "m", "type": "send_email", "template": "hd_when", "next": "b"},
            {"key": "b", "type": "send_email", "template": "hd_born"}]}$$) > 0 AS imported;
SELECT payload->>'body' AS body FROM journey.preview('hd_when', 'm', '1');
SELECT try($$SELECT * FROM journey.preview('hd_when', 'm', '3')$$);
UPDATE hd_people SET renews_at = '294246-12-31 00:00+00', born = '294276-12-31' WHERE id = 3;
SELECT try($$SELECT * FROM journey.preview('hd_when', 'b', '3')$$);
UPDATE hd_people SET born = NULL WHERE id = 3;
SELECT payload->>'body' AS body FROM journey.preview('hd_when', 'm', '3');  -- the last year that fits
UPDATE hd_people SET renews_at = '294276-12-31 00:00+00' WHERE id = 3;
-- The engine: that enrollment fails naming the column; the other goes on.
SELECT journey.publish('hd_when');
SELECT journey.enroll('hd_when', '1') > 0 AS enrolled, journey.enroll('hd_when', '3') > 0 AS enrolled;
SELECT journey.run_due(10, now()) AS processed;
SELECT e.customer_id, e.status, e.step_key, e.last_error
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'hd_when' ORDER BY e.customer_id;
SELECT journey.archive('hd_when');

-- 11. message_event checks its arguments; delivered, bounced, complained and
-- unsubscribed are recorded once per message (a replay returns the first).
SELECT journey.import($${"name": "hd_ev", "audience": "hd_people", "start": "m",
  "steps": [{"key": "m", "type": "send_email", "template": "hd_plain"}]}$$) > 0 AS imported;
SELECT journey.publish('hd_ev');
SELECT journey.enroll('hd_ev', '1') > 0 AS enrolled;
SELECT journey.run_due(10, now()) AS processed;
SELECT count(*) AS claimed FROM journey.claim_messages('email', 10);
SELECT try(format($$SELECT journey.message_event(%s, 'opened', '{}', 'infinity')$$, hd_msg('hd_ev', '1', 1)));
SELECT try(format($$SELECT journey.message_event(%s, 'opened', '{}', '-infinity')$$, hd_msg('hd_ev', '1', 1)));
SELECT try(format($$SELECT journey.message_event(%s, 'opened', NULL)$$, hd_msg('hd_ev', '1', 1)));
SELECT try(format($$SELECT journey.message_event(%s, 'unsubscribed', '{"scope": "everything"}')$$, hd_msg('hd_ev', '1', 1)));
SELECT try(format($$SELECT journey.message_event(%s, 'unsubscribed', '{"scope": null}')$$, hd_msg('hd_ev', '1', 1)));
SELECT count(*) AS recorded FROM journey.message_events me JOIN journey.journeys j ON j.id = me.journey_id
 WHERE j.name = 'hd_ev';
SELECT journey.message_event(hd_msg('hd_ev', '1', 1), 'delivered')
     = journey.message_event(hd_msg('hd_ev', '1', 1), 'delivered') AS same_event;
SELECT journey.message_event(hd_msg('hd_ev', '1', 1), 'bounced', '{"type": "soft"}')
     = journey.message_event(hd_msg('hd_ev', '1', 1), 'bounced', '{"type": "soft"}') AS same_bounce;
SELECT journey.message_event(hd_msg('hd_ev', '1', 1), 'opened')
     < journey.message_event(hd_msg('hd_ev', '1', 1), 'opened') AS opens_each_recorded;
SELECT me.kind, me.properties FROM journey.message_events me JOIN journey.journeys j ON j.id = me.journey_id
 WHERE j.name = 'hd_ev' ORDER BY me.id;
SELECT journey.archive('hd_ev');
