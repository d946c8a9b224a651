-- journey.preview renders a step's message for a real customer without writing
-- anything; template filters (upcase, downcase, capitalize, truncate, date,
-- number, default) and context/event values render as the engine renders them.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE pv_shoppers (id int PRIMARY KEY, email text, phone text, first_name text,
                       balance numeric, renews_at timestamptz, gone boolean DEFAULT false,
                       note text, points int);
INSERT INTO pv_shoppers VALUES
  (1, 'ann@x.test', '+331', 'ann', 1234.5, '2030-03-05 14:00+00', false),
  (2, NULL, NULL, NULL, NULL, NULL, false),
  (3, 'cy@x.test', NULL, 'CYRIL', 7, NULL, true);
SELECT journey.register_audience('pv_shoppers', 'id', 'email', recipients => '{"sms": "phone"}');
SELECT journey.create_template('p_renew', 'email',
  'Hi {{first_name | default: "friend" | capitalize}}',
  'Balance {{balance | number: 2}} on {{renews_at | date: "%a %e %B %Y"}}. {{context.coupon | upcase}} {{event.item | truncate: 6}}');
SELECT journey.create_template('p_sms', 'sms', NULL, '{{first_name | upcase | default: "YOU"}}');
SELECT journey.import($${"name": "renewal", "audience": "pv_shoppers", "start": "mail",
  "exit": [{"type": "condition", "when": {"field": "gone", "op": "eq", "value": true}}],
  "steps": [{"key": "mail", "type": "send_email", "template": "p_renew", "next": "text"},
            {"key": "text", "type": "send", "channel": "sms", "template": "p_sms", "next": "wait"},
            {"key": "wait", "type": "delay", "duration": "1 day"}]}$$) > 0 AS imported;
CREATE TEMP TABLE before AS
  SELECT (SELECT count(*) FROM journey.messages) AS messages,
         (SELECT count(*) FROM journey.activity) AS activity,
         (SELECT count(*) FROM journey.enrollments) AS enrollments,
         (SELECT count(*) FROM journey.events) AS events;

-- The draft, with the templates as they are now.
SELECT channel, recipient, status, reason, payload->>'subject' AS subject, payload->>'body' AS body
  FROM journey.preview('renewal', 'mail', '1', '{"coupon": "save10"}', '{"item": "blue sneakers"}');
SELECT channel, recipient, status, reason, payload->>'subject' AS subject, payload->>'body' AS body
  FROM journey.preview('renewal', 'mail', '2');
SELECT channel, recipient, status, reason, payload FROM journey.preview('renewal', 'text', '1');
SELECT channel, recipient, status, reason, payload FROM journey.preview('renewal', 'text', '2');
-- An exit rule would end the enrollment first.
SELECT channel, recipient, status, reason, payload FROM journey.preview('renewal', 'mail', '3');

-- Published: the frozen templates; a later template change waits for the next publish.
SELECT journey.publish('renewal');
SELECT journey.create_template('p_sms', 'sms', NULL, 'changed', replace => true);
SELECT payload->>'body' AS body FROM journey.preview('renewal', 'text', '1');
SELECT journey.add_step('renewal', 'later', 'send', '{"channel": "sms", "template": "p_sms"}');
SELECT payload->>'body' AS draft_body FROM journey.preview('renewal', 'later', '1');
SELECT payload->>'body' AS published_body FROM journey.preview('renewal', 'text', '1', version => 1);
-- Suppressions show.
SELECT journey.add_suppression('1', 'sms', 'unsubscribed', audience => 'pv_shoppers');
SELECT status, reason FROM journey.preview('renewal', 'text', '1', version => 1);
SELECT journey.remove_suppression('1', audience => 'pv_shoppers');

-- Nothing was written.
SELECT (SELECT count(*) FROM journey.messages) - messages AS messages,
       (SELECT count(*) FROM journey.activity) - activity AS activity,
       (SELECT count(*) FROM journey.enrollments) - enrollments AS enrollments,
       (SELECT count(*) FROM journey.events) - events AS events
  FROM before;

-- Errors name the journey and step.
SELECT try($$SELECT * FROM journey.preview('renewal', 'wait', '1')$$);
SELECT try($$SELECT * FROM journey.preview('renewal', 'nope', '1', version => 1)$$);
SELECT try($$SELECT * FROM journey.preview('renewal', 'mail', '99')$$);
SELECT try($$SELECT * FROM journey.preview('nope', 'mail', '1')$$);
SELECT try($$SELECT * FROM journey.preview('renewal', 'mail', '1', '[]')$$);
SELECT try($$SELECT * FROM journey.preview('renewal', 'mail', '1', version => 7)$$);
SELECT journey.set_step_config('renewal', 'later', '{"channel": "sms", "template": "missing"}');
SELECT try($$SELECT * FROM journey.preview('renewal', 'later', '1')$$);
-- The caller must be able to read the customers.
CREATE ROLE preview_reader IN ROLE journey_reader;
SET ROLE preview_reader;
SELECT try($$SELECT * FROM journey.preview('renewal', 'mail', '1', version => 1)$$);
RESET ROLE;
GRANT SELECT ON pv_shoppers TO preview_reader;
SET ROLE preview_reader;
SELECT status, payload->>'subject' AS subject FROM journey.preview('renewal', 'mail', '1', version => 1);
RESET ROLE;
DROP OWNED BY preview_reader;
DROP ROLE preview_reader;
SELECT journey.archive('renewal');

-- A null timestamp column reads as null (it read as -infinity: "exists" held
-- and templates rendered "-infinity").
SELECT journey.import($${"name": "renews", "audience": "pv_shoppers", "start": "q",
  "steps": [{"key": "q", "type": "condition", "if": {"field": "renews_at", "op": "exists"},
             "branches": {"yes": "y", "no": "n"}},
            {"key": "y", "type": "goal"}, {"key": "n", "type": "exit"}]}$$) > 0 AS imported;
SELECT journey.publish('renews');
SELECT journey.enroll_query('renews', 'SELECT id FROM pv_shoppers WHERE id IN (1, 2)') AS enrolled;
SELECT journey.run_due(10, now()) AS processed;
SELECT a.customer_id, a.branch FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
 WHERE j.name = 'renews' AND a.step_key = 'q' ORDER BY 1;
SELECT journey.archive('renews');

-- update_field takes values from the enrollment context and the triggering
-- event: {"from": "context.<key>"} / {"from": "event.<property>"}, typed when
-- the step runs.
SELECT journey.import($${"name": "remember", "audience": "pv_shoppers", "start": "set",
  "entry": [{"type": "event", "event": "pv_bought"}],
  "steps": [{"key": "set", "type": "update_field",
             "set": {"note": {"from": "event.item"}, "points": {"from": "event.qty"},
                     "first_name": {"from": "context.nope"}}}]}$$) > 0 AS imported;
SELECT journey.publish('remember');
SELECT journey.track('1', 'pv_bought', '{"item": "sneakers", "qty": 3}', audience => 'pv_shoppers') > 0 AS tracked;
SELECT journey.track('2', 'pv_bought', '{"item": 42, "qty": "many"}', audience => 'pv_shoppers') > 0 AS tracked;
SELECT journey.track('3', 'pv_bought', '{"item": 42, "qty": null}', audience => 'pv_shoppers') > 0 AS tracked;
UPDATE pv_shoppers SET points = 9 WHERE id = 3;
SELECT journey.run_due(10, now()) AS processed;
-- A missing key leaves the column as it is (first_name), a null sets null.
SELECT id, first_name, note, points FROM pv_shoppers ORDER BY id;
SELECT e.customer_id, e.status, e.attempts, e.last_error
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'remember' ORDER BY 1;
SELECT journey.archive('remember');
SELECT * FROM journey.validate_definition($${"name": "v", "audience": "pv_shoppers", "start": "s",
  "steps": [{"key": "s", "type": "update_field",
             "set": {"note": {"from": "customer.x"}, "points": {"from": "context.p"}}}]}$$);
