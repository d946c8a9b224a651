-- Engine policies: quiet hours, frequency cap, holdout, re-entry, entity scope,
-- versions and migration, pause/resume/archive, failure and retry, visit caps.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE members (id int PRIMARY KEY, email text, tier text DEFAULT 'basic', flaky boolean DEFAULT false);
INSERT INTO members (id, email) SELECT g, 'm' || g || '@x.test' FROM generate_series(1, 40) g;
SELECT journey.register_audience('members', 'id', 'email');
SELECT journey.create_template('note', 'email', 'Note', 'Hello {{email}}');

CREATE VIEW mstate AS
  SELECT j.name, e.customer_id AS who, e.version, e.status, e.step_key, e.exit_reason,
         e.attempts, e.last_error, e.entity_key
    FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
   WHERE j.audience = 'members'::regclass
   ORDER BY j.name, length(e.customer_id), e.customer_id, e.id;

-------------------------------------------------------------------------------
-- Quiet hours: a message produced inside the window waits for its end.
SELECT journey.import($${"name": "quiet", "audience": "members", "start": "s",
  "settings": {"timezone": "Europe/Paris", "quiet_hours": {"start": "21:00", "end": "08:00"}},
  "steps": [{"key": "s", "type": "send_email", "template": "note"}]}$$) > 0 AS imported;
SELECT journey.publish('quiet');
SELECT journey.enroll('quiet', '1') > 0 AS one, journey.enroll('quiet', '2') > 0 AS two;
SELECT journey.run_due(1, '2030-01-01 22:30+00');  -- 23:30 in Paris: inside the window
SELECT journey.run_due(1, '2030-01-01 12:00+00');  -- 13:00 in Paris: outside
SELECT m.customer_id, m.created_at, m.send_after FROM journey.messages m JOIN journey.journeys j
    ON j.id = m.journey_id WHERE j.name = 'quiet' ORDER BY customer_id;

-------------------------------------------------------------------------------
-- Frequency cap: at most 2 messages per customer per day, across journeys.
SELECT journey.import($${"name": "chatty", "audience": "members", "start": "a",
  "settings": {"frequency_cap": {"max": 2, "per": "1 day"}},
  "steps": [{"key": "a", "type": "send_email", "template": "note", "next": "b"},
            {"key": "b", "type": "send_email", "template": "note", "next": "c"},
            {"key": "c", "type": "send_email", "template": "note", "next": "d"},
            {"key": "d", "type": "delay", "duration": "1 day", "next": "e"},
            {"key": "e", "type": "send_email", "template": "note"}]}$$) > 0 AS imported;
SELECT journey.publish('chatty');
SELECT journey.enroll('chatty', '3') > 0 AS enrolled;
SELECT journey.run_due(10, '2030-02-01 00:00+00');
SELECT journey.run_due(10, '2030-02-02 00:00:01+00');
SELECT m.step_key, m.status, m.reason FROM journey.messages m JOIN journey.journeys j
    ON j.id = m.journey_id WHERE j.name = 'chatty' ORDER BY m.visit;

-------------------------------------------------------------------------------
-- Holdout: the control group travels the journey but gets no message; the
-- draw is stable per (journey, customer).
SELECT journey.import($${"name": "lift", "audience": "members", "start": "s",
  "settings": {"holdout_percent": 25},
  "steps": [{"key": "s", "type": "send_email", "template": "note"}]}$$) > 0 AS imported;
SELECT journey.publish('lift');
SELECT journey.enroll_query('lift', 'SELECT id FROM members') AS enrolled;
SELECT journey.run_due(100, '2030-03-01 00:00+00') AS processed;
SELECT e.holdout, m.status, m.reason, count(*)
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'lift'
  JOIN journey.messages m ON m.enrollment_id = e.id
 GROUP BY 1, 2, 3 ORDER BY 1;
SELECT bool_and(e.holdout = journey._in_holdout(25, 'lift', e.customer_id)) AS stable_draw,
       count(*) FILTER (WHERE e.status = 'completed') AS all_completed
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'lift';

-------------------------------------------------------------------------------
-- Re-entry: never (default), after_exit with a cooldown, always.
SELECT journey.import($${"name": "again-never", "audience": "members", "start": "s",
  "steps": [{"key": "s", "type": "delay", "duration": "1 hour"}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "again-after", "audience": "members", "start": "s",
  "settings": {"reentry": "after_exit"},
  "steps": [{"key": "s", "type": "delay", "duration": "1 hour"}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "again-cool", "audience": "members", "start": "s",
  "settings": {"reentry": "after_exit", "reentry_cooldown": "7 days"},
  "steps": [{"key": "s", "type": "delay", "duration": "1 hour"}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "again-always", "audience": "members", "start": "s",
  "settings": {"reentry": "always"},
  "steps": [{"key": "s", "type": "delay", "duration": "1 hour"}]}$$) > 0 AS imported;
SELECT journey.publish(n) FROM unnest(ARRAY['again-never', 'again-after', 'again-cool', 'again-always']) n;
SELECT n AS journey,
       journey.enroll(n, '5') IS NOT NULL AS first,
       journey.enroll(n, '5') IS NOT NULL AS while_active
  FROM unnest(ARRAY['again-never', 'again-after', 'again-cool', 'again-always']) n;
SELECT journey.run_due(100, now() + interval '2 hours') AS parked,
       journey.run_due(100, now() + interval '4 hours') AS completed;
SELECT n AS journey, journey.enroll(n, '5') IS NOT NULL AS after_completion
  FROM unnest(ARRAY['again-never', 'again-after', 'again-cool', 'again-always']) n;
SELECT name, status, exit_reason, count(*) FROM mstate WHERE name LIKE 'again-%' AND who = '5'
 GROUP BY 1, 2, 3 ORDER BY 1, 2;

-------------------------------------------------------------------------------
-- Entity scope: one enrollment per cart; the checkout of one cart ends only its
-- own enrollment, and a wait for an event listens to its own cart only.
SELECT journey.import($${"name": "cart", "audience": "members", "start": "wait",
  "settings": {"entity_property": "cart_id"},
  "entry": [{"type": "event", "event": "cart_abandoned"}],
  "exit": [{"type": "event", "event": "checked_out", "is_goal": true}],
  "steps": [{"key": "wait", "type": "wait_for_event", "event": "cart_viewed", "timeout": "1 day",
             "branches": {"event": "viewed", "timeout": "remind"}},
            {"key": "viewed", "type": "goal"},
            {"key": "remind", "type": "send_email", "template": "note"}]}$$) > 0 AS imported;
SELECT journey.publish('cart');
SELECT journey.track('6', 'cart_abandoned', '{"cart_id": "A"}') > 0 AS a,
       journey.track('6', 'cart_abandoned', '{"cart_id": "B"}') > 0 AS b,
       journey.track('6', 'cart_abandoned', '{"cart_id": "A"}') > 0 AS a_again,
       journey.track('6', 'cart_abandoned', '{}') > 0 AS no_cart;
SELECT journey.run_due(100, now()) >= 2 AS parked;
SELECT journey.track('6', 'checked_out', '{"cart_id": "A"}') > 0 AS checkout_a;
SELECT journey.track('6', 'cart_viewed', '{"cart_id": "B"}') > 0 AS viewed_b;
SELECT journey.run_due(100, now()) >= 1 AS processed;
SELECT who, entity_key, status, step_key, exit_reason FROM mstate WHERE name = 'cart';
SELECT try($$SELECT journey.enroll('cart', '6')$$);
SELECT try($$SELECT journey.enroll_query('cart', 'SELECT 6')$$);

-------------------------------------------------------------------------------
-- Versions: enrollments keep their version; publish_preview and migrate.
SELECT journey.import($${"name": "versions", "audience": "members", "start": "one",
  "steps": [{"key": "one", "type": "delay", "duration": "1 day", "next": "two"},
            {"key": "two", "type": "delay", "duration": "1 day"}]}$$) > 0 AS imported;
SELECT journey.publish('versions');
SELECT count(journey.enroll('versions', id::text)) AS enrolled FROM members WHERE id BETWEEN 7 AND 9;
SELECT journey.run_due(100, now()) >= 3 AS parked_at_one;
SELECT journey.import($${"name": "versions", "audience": "members", "start": "one",
  "steps": [{"key": "one", "type": "delay", "duration": "1 day", "next": "three"},
            {"key": "three", "type": "send_email", "template": "note"}]}$$) > 0 AS new_draft;
SELECT * FROM journey.publish_preview('versions');
SELECT journey.publish('versions', migrate => true) AS version;
SELECT who, version, step_key FROM mstate WHERE name = 'versions';
SELECT journey.run_due(100, now() + interval '25 hours') >= 3 AS processed;
SELECT who, version, status, step_key FROM mstate WHERE name = 'versions';
-- without migrate, enrollments stay on the version they entered
SELECT journey.enroll('versions', '10') > 0 AS enrolled_on_v2;
SELECT journey.add_step('versions', 'four', 'goal');
SELECT journey.connect('versions', 'three', 'four');
SELECT journey.publish('versions') AS version;
SELECT who, version, step_key FROM mstate WHERE name = 'versions' AND who = '10';

-------------------------------------------------------------------------------
-- Pause keeps places and sends nothing; resume(catch_up); archive ends.
SELECT journey.import($${"name": "pausing", "audience": "members", "start": "hi",
  "steps": [{"key": "hi", "type": "send_email", "template": "note", "next": "wake"},
            {"key": "wake", "type": "delay", "until": {"time": "09:00"}, "next": "bye"},
            {"key": "bye", "type": "send_email", "template": "note"}]}$$) > 0 AS imported;
SELECT journey.publish('pausing');
SELECT count(journey.enroll('pausing', id::text)) AS enrolled FROM members WHERE id BETWEEN 11 AND 12;
SELECT journey.run_due(100, '2030-04-01 10:00+00') AS processed;
SELECT journey.pause('pausing');
SELECT try($$SELECT journey.enroll('pausing', '13')$$);
SELECT count(*) AS claimable_while_paused FROM journey.claim_messages('email', 100) c
  JOIN journey.journeys j ON j.id = c.journey_id WHERE j.name = 'pausing';
SELECT journey.run_due(100, '2030-04-03 10:00+00') >= 0 AS ran;
SELECT count(*) AS visits_while_paused FROM journey.activity a JOIN journey.journeys j
    ON j.id = a.journey_id WHERE j.name = 'pausing' AND a.at > '2030-04-01 10:00+00';
SELECT try($$SELECT journey.resume('pausing', 'later')$$);
UPDATE journey.enrollments SET next_run_at = now() - interval '1 minute'
 WHERE journey_id = (SELECT id FROM journey.journeys WHERE name = 'pausing');  -- due during the pause
SELECT journey.resume('pausing', catch_up => 'skip');
SELECT who, step_key FROM mstate WHERE name = 'pausing';
SELECT journey.run_due(100, '2030-04-03 10:00+00') >= 2 AS processed;
-- the overdue 09:00 delay waits for the next 09:00 instead of firing late
SELECT e.customer_id, e.status, e.step_key, e.next_run_at FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'pausing' ORDER BY 1;
SELECT journey.archive('pausing');
SELECT who, status, exit_reason FROM mstate WHERE name = 'pausing';

-------------------------------------------------------------------------------
-- Failure: a failing call step fails only its own enrollment (the rest of the
-- batch commits), is retried with backoff, and after max_attempts is failed.
CREATE FUNCTION public.sometimes(customer_id text, context jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  IF customer_id = '21' THEN
    RAISE EXCEPTION 'crm unavailable for %', customer_id;
  END IF;
  RETURN '{"checked": true}';
END $$;
SELECT journey.import($${"name": "fragile", "audience": "members", "start": "c",
  "settings": {"max_attempts": 2},
  "steps": [{"key": "c", "type": "call", "function": "public.sometimes", "next": "s"},
            {"key": "s", "type": "send_email", "template": "note"}]}$$) > 0 AS imported;
SELECT journey.publish('fragile');
SELECT count(journey.enroll('fragile', id::text)) AS enrolled FROM members WHERE id BETWEEN 20 AND 22;
SELECT journey.run_due(100, '2030-05-01 00:00+00') >= 3 AS processed;
SELECT who, status, step_key, attempts, last_error FROM mstate WHERE name = 'fragile';
SELECT count(*) AS messages_of_the_others FROM journey.messages m JOIN journey.journeys j
    ON j.id = m.journey_id WHERE j.name = 'fragile';
SELECT e.next_run_at - '2030-05-01 00:00+00'::timestamptz AS backoff FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'fragile' WHERE e.customer_id = '21';
SELECT journey.run_due(100, '2030-05-01 00:00:05+00') >= 0 AS ran;
SELECT who, attempts FROM mstate WHERE name = 'fragile' AND who = '21';
SELECT journey.run_due(100, '2030-05-01 00:01+00') >= 1 AS retried;
SELECT who, status, attempts, last_error FROM mstate WHERE name = 'fragile' AND who = '21';

-- A field update that violates a constraint fails that enrollment, not the batch.
ALTER TABLE members ADD CONSTRAINT tier_known CHECK (tier IN ('basic', 'gold'));
SELECT journey.import($${"name": "bad-update", "audience": "members", "start": "u",
  "steps": [{"key": "u", "type": "condition", "if": {"field": "id", "op": "eq", "value": 31},
             "branches": {"yes": "bad", "no": "good"}},
            {"key": "bad", "type": "update_field", "set": {"tier": "platinum"}},
            {"key": "good", "type": "update_field", "set": {"tier": "gold"}}]}$$) > 0 AS imported;
SELECT journey.publish('bad-update');
SELECT count(journey.enroll('bad-update', id::text)) AS enrolled FROM members WHERE id BETWEEN 30 AND 32;
SELECT journey.run_due(100, '2030-06-01 00:00+00') >= 3 AS processed;
SELECT who, status, attempts, last_error IS NOT NULL AS has_error FROM mstate WHERE name = 'bad-update';
SELECT id, tier FROM members WHERE id BETWEEN 30 AND 32 ORDER BY id;

-- A loop through a delay is valid, and the per-enrollment visit cap ends it.
SELECT journey.import($${"name": "loop", "audience": "members", "start": "tick",
  "settings": {"max_step_visits": 6},
  "steps": [{"key": "tick", "type": "delay", "duration": "1 minute", "next": "tock"},
            {"key": "tock", "type": "goal", "next": "tick"}]}$$) > 0 AS imported;
SELECT journey.publish('loop');
SELECT journey.enroll('loop', '33') > 0 AS enrolled;
SELECT bool_and(journey.run_due(10, '2030-07-01 00:00+00'::timestamptz + g * interval '1 minute') >= 0)
  FROM generate_series(0, 5) g;
SELECT e.status, e.visits, e.last_error FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'loop';
