-- track() and audiences: an event belongs to one audience's customer. With
-- several registered audiences the customer is resolved unambiguously (the
-- audience argument, or the one audience that has the customer), only that
-- audience's journeys react (entry, exit rules, waits, behaviour conditions),
-- a key that is no value of one audience's key type never fails another's,
-- and every way to get it wrong is a clear error that records nothing.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE ra_people (id bigint PRIMARY KEY, email text);
CREATE TABLE ra_accounts (id bigint PRIMARY KEY, email text);
CREATE TABLE ra_devices (id uuid PRIMARY KEY, email text);
INSERT INTO ra_people VALUES (7001, 'p7001@x.test'), (7002, 'p7002@x.test');
INSERT INTO ra_accounts VALUES (7001, 'a7001@x.test'), (7003, 'a7003@x.test');
INSERT INTO ra_devices VALUES ('6f1c2a3b-0000-4000-8000-00000000d001', 'd1@x.test');
SELECT journey.register_audience('ra_people', 'id', 'email');
SELECT journey.register_audience('ra_accounts', 'id', 'email');
SELECT journey.register_audience('ra_devices', 'id', 'email');
SELECT journey.create_template('ra_hi', 'email', 'Hi', 'Hello {{email}}');

-- The same journey for each audience: a message, a wait for "ra_opened", then a
-- behaviour condition on "ra_clicked"; "ra_bought" is a goal exit.
CREATE FUNCTION ra_journey(name text, audience text) RETURNS bigint LANGUAGE sql AS $$
  SELECT journey.import(jsonb_build_object('name', name, 'audience', audience, 'start', 'hi',
    'entry', '[{"type": "event", "event": "ra_signed_up"}]'::jsonb,
    'exit', '[{"type": "event", "event": "ra_bought", "is_goal": true}]'::jsonb,
    'steps', '[{"key": "hi", "type": "send_email", "template": "ra_hi", "next": "wait"},
               {"key": "wait", "type": "wait_for_event", "event": "ra_opened", "timeout": "1 day",
                "branches": {"event": "clicked", "timeout": "late"}},
               {"key": "clicked", "type": "condition",
                "if": {"event": "ra_clicked", "happened": true},
                "branches": {"yes": "clicker", "no": "reader"}},
               {"key": "clicker", "type": "goal"},
               {"key": "reader", "type": "exit"},
               {"key": "late", "type": "exit"}]'::jsonb))
$$;
SELECT ra_journey('ra-people', 'ra_people') > 0 AS people,
       ra_journey('ra-accounts', 'ra_accounts') > 0 AS accounts,
       ra_journey('ra-devices', 'ra_devices') > 0 AS devices;
SELECT journey.publish(j) FROM unnest(ARRAY['ra-people', 'ra-accounts', 'ra-devices']) j;

CREATE VIEW ra_state AS
  SELECT j.name, e.customer_id AS who, e.status, e.step_key, e.exit_reason,
         e.converted_at IS NOT NULL AS converted
    FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
   WHERE j.name LIKE 'ra-%' ORDER BY j.name, e.customer_id;
CREATE VIEW ra_events AS
  SELECT ev.customer_id AS who, ev.name, ev.audience FROM journey.events ev
   WHERE ev.name LIKE 'ra\_%' ORDER BY ev.id;
-- The first line of an error (the detail may list other tests' audiences).
CREATE FUNCTION ra_try(sql text) RETURNS text LANGUAGE sql AS $$
  SELECT split_part(try(sql), E'\n', 1)
$$;

-------------------------------------------------------------------------------
-- 1. Resolving the customer.
-- 7001 is a customer of both bigint audiences: ambiguous, nothing recorded.
SELECT try($$SELECT journey.track('7001', 'ra_signed_up')$$);
-- With the audience named, only that audience's journey enters.
SELECT journey.track('7001', 'ra_signed_up', audience => 'ra_people') > 0 AS people_7001;
SELECT journey.track('7001', 'ra_signed_up', audience => 'ra_accounts') > 0 AS accounts_7001;
-- 7002 and 7003 exist in one audience each: no argument needed.
SELECT journey.track('7002', 'ra_signed_up') > 0 AS people_7002,
       journey.track('7003', 'ra_signed_up') > 0 AS accounts_7003;
-- A uuid is no bigint: the bigint audiences do not fail the call, the uuid
-- audience has the customer (upper case is the same uuid).
SELECT journey.track('6F1C2A3B-0000-4000-8000-00000000D001', 'ra_signed_up') > 0 AS device;
SELECT * FROM ra_state;
SELECT * FROM ra_events;

-------------------------------------------------------------------------------
-- 2. Waits, behaviour conditions and exit rules follow the event's audience.
SELECT journey.run_due(100, now()) AS sent_and_parked;
-- Customer 7001 of ra_accounts clicks; customer 7001 of ra_people opens.
SELECT journey.track('7001', 'ra_clicked', audience => 'ra_accounts') > 0 AS accounts_clicked;
SELECT journey.track('7001', 'ra_opened', audience => 'ra_people') > 0 AS people_opened;
SELECT journey.run_due(100, now()) AS ran;
-- People's 7001 woke and did not click (the click was another customer's);
-- accounts' 7001 still waits.
SELECT * FROM ra_state WHERE who = '7001';
-- People's goal event leaves accounts' 7001 where it is.
SELECT journey.track('7001', 'ra_bought', audience => 'ra_people') > 0 AS people_bought;
SELECT * FROM ra_state WHERE who = '7001';
SELECT journey.track('7001', 'ra_opened', audience => 'ra_accounts') > 0 AS accounts_opened;
SELECT journey.run_due(100, now()) AS ran;
SELECT * FROM ra_state WHERE who = '7001';
-- 7003 (only ra_accounts has it) converts; 7002 of ra_people keeps waiting.
SELECT journey.track('7003', 'ra_bought') > 0 AS accounts_7003_bought;
SELECT * FROM ra_state WHERE who IN ('7002', '7003');
-- An event recorded before 0.2 has no audience: behaviour conditions count it
-- for the customer id in every audience, as 0.1 did.
INSERT INTO journey.events (customer_id, name, occurred_at) VALUES ('7002', 'ra_clicked', now());
SELECT journey.track('7002', 'ra_opened') > 0 AS people_7002_opened;
SELECT journey.run_due(100, now()) AS ran;
SELECT * FROM ra_state WHERE who = '7002';
SELECT m.customer_id, j.name, m.status FROM journey.messages m
  JOIN journey.journeys j ON j.id = m.journey_id WHERE j.name LIKE 'ra-%'
 ORDER BY j.name, m.customer_id;

-------------------------------------------------------------------------------
-- 3. Errors: each says what is wrong, and nothing is recorded.
SELECT count(*) AS events_before FROM ra_events;
-- Ambiguous (42725), with the way out in the hint.
SELECT try($$SELECT journey.track('7001', 'ra_opened')$$);
-- A customer no audience has (23503); the detail says why, audience by audience.
SELECT ra_try($$SELECT journey.track('7099', 'ra_opened')$$);
SELECT try($$SELECT journey.track('7099', 'ra_opened')$$)
       LIKE E'%public.ra\\_devices (key id of type uuid): not a valid uuid%public.ra\\_people (key id of type bigint): no such customer%'
       AS detail_per_audience;
-- The arguments swapped: the hint says so.
SELECT try($$SELECT journey.track('ra_signed_up', '7002')$$)
       LIKE E'23503: customer "ra\\_signed\\_up" does not exist in any registered audience%hint: "7002" is a customer of public.ra\\_people: were the customer id and the event name swapped? journey.track(customer\\_id, event, ...) takes the customer id first'
       AS swapped_hint;
-- With an audience: its key type (22P02), its customers (23503), a registered one (42704).
SELECT try($$SELECT journey.track('7001', 'ra_opened', audience => 'ra_devices')$$);
SELECT try($$SELECT journey.track('7099', 'ra_opened', audience => 'ra_people')$$);
SELECT try($$SELECT journey.track('7001', 'ra_opened', audience => 'pg_class')$$);
SELECT count(*) AS events_after FROM ra_events;

-------------------------------------------------------------------------------
-- 4. An entry event of a journey run per entity must carry the entity.
SELECT journey.import($${"name": "ra-cart", "audience": "ra_people", "start": "hi",
  "settings": {"entity_property": "cart_id"},
  "entry": [{"type": "event", "event": "ra_cart_left", "where": {"field": "event.total", "op": "gt", "value": 10}}],
  "steps": [{"key": "hi", "type": "send_email", "template": "ra_hi"}]}$$) > 0 AS imported;
SELECT journey.publish('ra-cart');
SELECT try($$SELECT journey.track('7002', 'ra_cart_left', '{"total": 20}')$$);
SELECT try($$SELECT journey.track('7002', 'ra_cart_left', '{"total": 20, "cart_id": null}')$$);
-- An event the trigger's "where" does not take needs no entity; one with it enters.
SELECT journey.track('7002', 'ra_cart_left', '{"total": 5}') > 0 AS small_cart;
SELECT journey.track('7002', 'ra_cart_left', '{"total": 20, "cart_id": 42}') > 0 AS cart_42;
SELECT j.name, e.customer_id, e.entity_key FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'ra-cart';

-- Clean up: other suites resolve ids against every registered audience.
SELECT journey.archive(j) FROM unnest(ARRAY['ra-people', 'ra-accounts', 'ra-devices', 'ra-cart']) j;
SELECT journey.drop_journey(j) FROM unnest(ARRAY['ra-people', 'ra-accounts', 'ra-devices', 'ra-cart']) j;
SELECT journey.unregister_audience(a) FROM unnest(ARRAY['ra_people', 'ra_accounts', 'ra_devices']) a;
