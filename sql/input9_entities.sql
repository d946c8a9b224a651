-- F12 (attack-9): entity ids (setting entity_property) are strings or integers,
-- read into one canonical key (core::entity_id) by track and enroll alike: the
-- number 42, 42.0, 4.2e1 and the string "42" are one entity; 1.5 or 1.50,
-- booleans, objects and arrays are refused with 22023 naming the event, the
-- journey and the property (nothing recorded), as is an id over 1024 bytes
-- (never the index's 54000). Exit rules match by the same key.
\set SHOW_CONTEXT never
CREATE TABLE i9_ent (id int PRIMARY KEY, email text);
INSERT INTO i9_ent SELECT g, format('e%s@example.com', g) FROM generate_series(1, 5) g;
SELECT journey.register_audience('i9_ent', 'id', 'email');
SELECT journey.import('{"name": "i9_entj", "audience": "i9_ent", "start": "d",
  "settings": {"entity_property": "cart_id", "reentry": "always"},
  "entry": [{"type": "event", "event": "i9_ab"}],
  "exit": [{"type": "event", "event": "i9_co", "name": "co"}],
  "steps": [{"key": "d", "type": "delay", "duration": "1 day"}]}') IS NOT NULL AS imported;
SELECT journey.publish('i9_entj') AS published;
CREATE FUNCTION i9_enrollments() RETURNS TABLE (customer_id text, entity_key text, status text,
                                                exit_reason text)
LANGUAGE sql AS $$
  SELECT e.customer_id, e.entity_key, e.status::text, e.exit_reason
    FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
   WHERE j.name = 'i9_entj' ORDER BY e.id
$$;

-- Refused, naming event, journey and property; nothing recorded.
SELECT try($$SELECT journey.track('1', 'i9_ab', '{"cart_id": {"a": 1}}', audience => 'i9_ent')$$);
SELECT try($$SELECT journey.track('1', 'i9_ab', '{"cart_id": [1]}', audience => 'i9_ent')$$);
SELECT try($$SELECT journey.track('1', 'i9_ab', '{"cart_id": true}', audience => 'i9_ent')$$);
SELECT try($$SELECT journey.track('1', 'i9_ab', '{"cart_id": 1.50}', audience => 'i9_ent')$$);
SELECT try(format($$SELECT journey.track('1', 'i9_ab', %L, audience => 'i9_ent')$$,
  jsonb_build_object('cart_id', (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 1000) g))));
SELECT count(*) AS recorded FROM journey.events WHERE name = 'i9_ab';
SELECT count(*) AS enrollments FROM i9_enrollments();

-- One entity however the integer is written, and the same as its string.
SELECT journey.track('1', 'i9_ab', '{"cart_id": 42}', audience => 'i9_ent') IS NOT NULL AS tracked;
SELECT journey.track('1', 'i9_ab', '{"cart_id": 7}', audience => 'i9_ent') IS NOT NULL AS tracked;
SELECT journey.track('1', 'i9_ab', '{"cart_id": "x y"}', audience => 'i9_ent') IS NOT NULL AS tracked;
SELECT journey.track('1', 'i9_ab', jsonb_build_object('cart_id', repeat('k', 1024)), audience => 'i9_ent')
  IS NOT NULL AS tracked_longest;
-- re-entry "always": entering cart 42 again (as 42.0) replaces its enrollment.
SELECT journey.track('1', 'i9_ab', '{"cart_id": 42.0}', audience => 'i9_ent') IS NOT NULL AS tracked;
SELECT customer_id, left(entity_key, 10) AS entity_key, status, exit_reason FROM i9_enrollments();
-- Exit rules: 4.2e1 and "42" are cart 42; "7.0" (a string) is not cart 7; 7.000 is.
SELECT journey.track('1', 'i9_co', '{"cart_id": 4.2e1}', audience => 'i9_ent') IS NOT NULL AS tracked;
SELECT journey.track('1', 'i9_co', '{"cart_id": "7.0"}', audience => 'i9_ent') IS NOT NULL AS tracked;
SELECT customer_id, left(entity_key, 10) AS entity_key, status, exit_reason FROM i9_enrollments();
SELECT journey.track('1', 'i9_co', '{"cart_id": 7.000}', audience => 'i9_ent') IS NOT NULL AS tracked;
-- An exit event with a bad id is refused too (it concerns the journey).
SELECT try($$SELECT journey.track('1', 'i9_co', '{"cart_id": [7]}', audience => 'i9_ent')$$);
SELECT try($$SELECT journey.track('1', 'i9_co', '{"cart_id": 0.5}', audience => 'i9_ent')$$);
SELECT customer_id, left(entity_key, 10) AS entity_key, status, exit_reason FROM i9_enrollments();
-- An event that neither enters nor ends nor wakes the journey is not its concern.
SELECT journey.track('1', 'i9_other', '{"cart_id": {"a": 1}}', audience => 'i9_ent') IS NOT NULL AS tracked;

-- enroll reads the context's key the same way.
SELECT journey.enroll('i9_entj', '2', '{"cart_id": 5.0}') IS NOT NULL AS enrolled;
SELECT try($$SELECT journey.enroll('i9_entj', '2', '{"cart_id": {"a": 1}}')$$);
SELECT try($$SELECT journey.enroll('i9_entj', '2', '{"cart_id": -0.25}')$$);
SELECT try(format($$SELECT journey.enroll('i9_entj', '2', %L)$$,
  jsonb_build_object('cart_id', repeat('z', 2000))));
SELECT try(format($$SELECT journey.enroll('i9_entj', '2', %L)$$,
  jsonb_build_object('cart_id', repeat('9', 1025)::numeric)));
SELECT try($$SELECT journey.enroll('i9_entj', '2', '{"cart_id": null}')$$);
SELECT journey.track('2', 'i9_co', '{"cart_id": "5"}', audience => 'i9_ent') IS NOT NULL AS tracked;
SELECT customer_id, left(entity_key, 10) AS entity_key, status, exit_reason FROM i9_enrollments()
 WHERE customer_id = '2';

SELECT journey.archive('i9_entj');
