-- core9c (issue 9, audit-9b S8, S1, S2, S4, S5): decisions the PL/pgSQL made
-- itself are core's now, each behind one C function:
--   journey._audience_capture: what the customer-table triggers capture, from
--     the versions the trigger itself loads and compiles (core::capture_needs);
--   journey._entity_key: which context key is an enrollment's entity and the
--     per-entity refusals of enroll, enroll_query, scheduled triggers and
--     simulate (core::context_entity, core::refuse_key_list);
--   journey._engagement_accepted: engagement only with a message handed out;
--   journey._check_engagement: what a caller may report to message_event.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE c9_people (id bigint PRIMARY KEY, email text, level int NOT NULL DEFAULT 0,
                        gone boolean NOT NULL DEFAULT false);
INSERT INTO c9_people (id, email) SELECT g, 'p' || g || '@x.test' FROM generate_series(1, 4) g;
SELECT journey.register_audience('c9_people', 'id', 'email');
SELECT journey.create_template('c9_hi', 'email', 'Hi', 'Level {{level}}');
CREATE VIEW c9_capture AS
  SELECT (journey._audience_capture('c9_people')).*,
         (SELECT string_agg(t.tgname || ':' || (t.tgnewtable IS NOT NULL OR t.tgoldtable IS NOT NULL),
                            ' ' ORDER BY t.tgname)
            FROM pg_trigger t WHERE t.tgrelid = 'c9_people'::regclass) AS installed;

-- 1. S8: no journey, a draft: nothing captured.
SELECT * FROM c9_capture;
SELECT journey.import($${"name": "c9-wait", "audience": "c9_people", "start": "w",
  "steps": [{"key": "w", "type": "wait_until", "when": {"field": "level", "op": "gte", "value": 3},
             "timeout": "30 days", "branches": {"met": "hi"}},
            {"key": "hi", "type": "send_email", "template": "c9_hi"}]}$$) > 0 AS imported;
SELECT * FROM c9_capture;
-- Published with a wait_until step: changes and deletes; the trigger wakes the
-- wait in the transaction of the change.
SELECT journey.publish('c9-wait');
SELECT * FROM c9_capture;
SELECT journey.enroll('c9-wait', '1') > 0 AS enrolled;
SELECT journey.run_due(10, now()) AS processed;
UPDATE c9_people SET level = 5 WHERE id = 1;
SELECT e.step_key, e.next_run_at <= now() AS due FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'c9-wait';
-- A new version without it: the retired version still holds an enrollment, so
-- changes stay captured (published and retired versions of a live journey).
SELECT journey.enroll('c9-wait', '2') > 0 AS enrolled;
SELECT journey.run_due(10, now()) AS processed;
SELECT journey.import($${"name": "c9-wait", "audience": "c9_people", "start": "hi",
  "steps": [{"key": "hi", "type": "send_email", "template": "c9_hi"}]}$$) > 0 AS reimported;
SELECT journey.publish('c9-wait') AS version;
SELECT * FROM c9_capture;
-- Archived: nothing captured.
SELECT journey.archive('c9-wait');
SELECT * FROM c9_capture;

-- 2. S8: a live version whose rules no longer compile against the table (a
-- column renamed behind the DDL guard's back) keeps the triggers capturing, so
-- that the trigger can say with a WARNING why it skips the version.
SELECT journey.import($${"name": "c9-exit", "audience": "c9_people", "start": "hi",
  "exit": [{"type": "condition", "when": {"field": "gone", "op": "eq", "value": true}}],
  "steps": [{"key": "hi", "type": "send_email", "template": "c9_hi"}]}$$) > 0 AS imported;
SELECT journey.publish('c9-exit');
SELECT * FROM c9_capture;
ALTER EVENT TRIGGER pg_journey_guard_audience_alter DISABLE;
ALTER TABLE c9_people RENAME COLUMN gone TO left_us;
ALTER EVENT TRIGGER pg_journey_guard_audience_alter ENABLE;
SELECT changes, deletes FROM c9_capture;
UPDATE c9_people SET level = 1 WHERE id = 3;
ALTER EVENT TRIGGER pg_journey_guard_audience_alter DISABLE;
ALTER TABLE c9_people RENAME COLUMN left_us TO gone;
ALTER EVENT TRIGGER pg_journey_guard_audience_alter ENABLE;
SELECT journey.archive('c9-exit');
SELECT * FROM c9_capture;

-- 3. S1, S2: which context key is the entity, from the settings (core).
SELECT journey._entity_key('j', '{"entity_property": "cart_id"}', '{"cart_id": "A-1"}') AS string_key,
       journey._entity_key('j', '{"entity_property": "cart_id"}', '{"cart_id": 4.20e1}') AS integer_key,
       journey._entity_key('j', '{"entity_property": "cart_id"}',
                           '{"cart_id": 123456789012345678901234567890}') AS exact_digits,
       journey._entity_key('j', '{}', '{"cart_id": "A-1"}') AS per_customer,
       journey._entity_key('j', NULL, NULL) AS no_settings;
SELECT try($$SELECT journey._entity_key('j', '{"entity_property": "cart_id"}', '{}')$$);
SELECT try($$SELECT journey._entity_key('j', '{"entity_property": "cart_id"}', '{"cart_id": null}')$$);
SELECT try($$SELECT journey._entity_key('j', '{"entity_property": "cart_id"}', NULL)$$);
SELECT try($$SELECT journey._entity_key('j', '{"entity_property": "cart_id"}', '{"cart_id": {"a": [1, 2]}}')$$);
SELECT try($$SELECT journey._entity_key('j', '{"entity_property": "cart_id"}', '{"cart_id": 1.50}')$$);
-- A list of customer keys: refused with what to do instead, per caller.
SELECT try($$SELECT journey._entity_key('j', '{"entity_property": "cart_id"}', NULL, key_list => 'enroll')$$);
SELECT try($$SELECT journey._entity_key('j', '{"entity_property": "cart_id"}', NULL, key_list => 'simulate')$$);
SELECT journey._entity_key('j', '{"reentry": "always"}', NULL, key_list => 'enroll') IS NULL AS list_ok;
SELECT try($$SELECT journey._entity_key('j', '{}', NULL, key_list => 'sometimes')$$);
-- Through enroll, enroll_query and simulate on a journey run per cart.
SELECT journey.import($${"name": "c9-carts", "audience": "c9_people", "start": "hi",
  "settings": {"entity_property": "cart_id", "reentry": "always"},
  "entry": [{"type": "event", "event": "c9_cart"}],
  "steps": [{"key": "hi", "type": "send_email", "template": "c9_hi"}]}$$) > 0 AS imported;
SELECT journey.publish('c9-carts');
SELECT journey.enroll('c9-carts', '1', '{"cart_id": 7}') > 0 AS enrolled;
SELECT try($$SELECT journey.enroll('c9-carts', '1', '{"other": 7}')$$);
SELECT try($$SELECT journey.enroll_query('c9-carts', 'SELECT id FROM c9_people')$$);
SELECT try($$SELECT * FROM journey.simulate('c9-carts', 'SELECT id FROM c9_people', '1 day')$$);
SELECT e.customer_id, e.entity_key FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'c9-carts';
-- simulate reads the settings of the version it simulates: a draft that runs
-- per cart is refused (its journey has no live settings yet), and a draft of
-- c9-carts that no longer runs per cart is simulated over customer keys.
SELECT journey.import($${"name": "c9-draft", "audience": "c9_people", "start": "hi",
  "settings": {"entity_property": "cart_id"},
  "steps": [{"key": "hi", "type": "send_email", "template": "c9_hi"}]}$$) > 0 AS imported;
SELECT try($$SELECT * FROM journey.simulate('c9-draft', 'SELECT id FROM c9_people', '1 day')$$);
SELECT journey.set_settings('c9-carts', '{"entity_property": null}');
SELECT step_key, entered FROM journey.simulate('c9-carts', 'SELECT id FROM c9_people', '1 day');
SELECT try($$SELECT * FROM journey.simulate('c9-carts', 'SELECT id FROM c9_people', '1 day', version => 1)$$);

-- 4. S4: engagement only with a message handed out to a sender.
SELECT s AS status, journey._engagement_accepted(s) AS accepted
  FROM unnest(ARRAY['pending', 'claimed', 'sent', 'failed', 'suppressed']) s;
SELECT journey.run_due(10, now()) AS processed;
SELECT try(format($$SELECT journey.message_event(%s, 'delivered')$$,
                  (SELECT m.id FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
                    WHERE j.name = 'c9-carts')));

-- 5. S5: what a caller may report, checked before the message is looked up
-- (the message need not exist); values shown as jsonb shows them.
SELECT try($$SELECT journey.message_event(-1, NULL)$$);
SELECT try($$SELECT journey.message_event(-1, 'read')$$);
SELECT try($$SELECT journey.message_event(-1, 'opened', '[1]')$$);
SELECT try($$SELECT journey.message_event(-1, 'bounced', '{"type": {"code": 5.10, "x": [true]}}')$$);
SELECT try($$SELECT journey.message_event(-1, 'bounced', '{"type": null}')$$);
SELECT try($$SELECT journey.message_event(-1, 'bounced', '{"type": "m\"x"}')$$);
SELECT try($$SELECT journey.message_event(-1, 'unsubscribed', '{"scope": 1e2}')$$);
SELECT try($$SELECT journey.message_event(-1, 'bounced', '{"type": "soft", "scope": 1}')$$);
