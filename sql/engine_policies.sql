-- Engine policies: quiet hours, frequency cap, holdout, re-entry, entity scope,
-- versions and migration, pause/resume/archive, failure and retry, visit caps.
-- Engine time is fixed (run_due as_of, in the reference calendar of setup.sql);
-- every tick's count is exact: earlier files leave nothing due, and each
-- section here archives its journeys when it is done.
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
SELECT journey.run_due(1, ref_time('2030-01-01 22:30+00'));  -- 23:30 in Paris: inside the window
SELECT journey.run_due(1, ref_time('2030-01-01 12:00+00'));  -- 13:00 in Paris: outside
SELECT m.customer_id, ref_shown(m.created_at) AS created_at, ref_shown(m.send_after) AS send_after
  FROM journey.messages m JOIN journey.journeys j
    ON j.id = m.journey_id WHERE j.name = 'quiet' ORDER BY customer_id;
SELECT journey.archive('quiet');

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
SELECT journey.run_due(10, ref_time('2030-02-01 00:00+00'));
SELECT journey.run_due(10, ref_time('2030-02-02 00:00:01+00'));
SELECT m.step_key, m.status, m.reason FROM journey.messages m JOIN journey.journeys j
    ON j.id = m.journey_id WHERE j.name = 'chatty' ORDER BY m.visit;
SELECT journey.archive('chatty');

-------------------------------------------------------------------------------
-- Holdout: the control group travels the journey but gets no message; the
-- draw is stable per (journey, customer): pinned below (a change of the hash
-- would move live customers between the groups), and the same on re-entry.
SELECT journey.import($${"name": "lift", "audience": "members", "start": "s",
  "settings": {"holdout_percent": 25, "reentry": "after_exit"},
  "steps": [{"key": "s", "type": "send_email", "template": "note"}]}$$) > 0 AS imported;
SELECT journey.publish('lift');
SELECT journey.enroll_query('lift', 'SELECT id FROM members') AS enrolled;
SELECT journey.run_due(100, ref_time('2030-03-01 00:00+00')) AS processed;
SELECT e.holdout, m.status, m.reason, count(*)
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'lift'
  JOIN journey.messages m ON m.enrollment_id = e.id
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT string_agg(e.customer_id, ' ' ORDER BY e.customer_id::int) AS held_out
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'lift'
 WHERE e.holdout;
-- everyone enters again: each customer lands in the same group as before
SELECT journey.enroll_query('lift', 'SELECT id FROM members') AS enrolled_again;
SELECT journey.run_due(100, ref_time('2030-03-02 00:00+00')) AS processed;
SELECT count(*) AS customers, count(*) FILTER (WHERE n = 2 AND draws = 1) AS same_draw_twice,
       count(*) FILTER (WHERE completed = 2) AS completed_twice
  FROM (SELECT e.customer_id, count(*) AS n, count(DISTINCT e.holdout) AS draws,
               count(*) FILTER (WHERE e.status = 'completed') AS completed
          FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'lift'
         GROUP BY 1) c;
SELECT journey.archive('lift');

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
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT journey.archive(n) FROM unnest(ARRAY['again-never', 'again-after', 'again-cool', 'again-always']) n;

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
       journey.track('6', 'cart_abandoned', '{"cart_id": "A"}') > 0 AS a_again;
-- an entry event without its entity is an error (it would enroll no cart)
SELECT try($$SELECT journey.track('6', 'cart_abandoned', '{}')$$);
SELECT journey.run_due(100, now()) AS parked;
SELECT journey.track('6', 'checked_out', '{"cart_id": "A"}') > 0 AS checkout_a;
SELECT journey.track('6', 'cart_viewed', '{"cart_id": "B"}') > 0 AS viewed_b;
SELECT journey.run_due(100, now()) AS processed;
SELECT who, entity_key, status, step_key, exit_reason FROM mstate WHERE name = 'cart';
SELECT try($$SELECT journey.enroll('cart', '6')$$);
SELECT try($$SELECT journey.enroll_query('cart', 'SELECT 6')$$);
SELECT journey.archive('cart');

-------------------------------------------------------------------------------
-- Versions: enrollments keep their version; publish_preview and migrate.
SELECT journey.import($${"name": "versions", "audience": "members", "start": "one",
  "steps": [{"key": "one", "type": "delay", "duration": "1 day", "next": "two"},
            {"key": "two", "type": "delay", "duration": "1 day"}]}$$) > 0 AS imported;
SELECT journey.publish('versions');
SELECT count(journey.enroll('versions', id::text)) AS enrolled FROM members WHERE id BETWEEN 7 AND 9;
SELECT journey.run_due(100, now()) AS parked_at_one;
SELECT journey.import($${"name": "versions", "audience": "members", "start": "one",
  "steps": [{"key": "one", "type": "delay", "duration": "1 day", "next": "three"},
            {"key": "three", "type": "send_email", "template": "note"}]}$$) > 0 AS new_draft;
SELECT * FROM journey.publish_preview('versions');
SELECT journey.publish('versions', migrate => true) AS version;
SELECT who, version, step_key FROM mstate WHERE name = 'versions';
SELECT journey.run_due(100, now() + interval '25 hours') AS processed;
SELECT who, version, status, step_key FROM mstate WHERE name = 'versions';
-- without migrate, enrollments stay on the version they entered
SELECT journey.enroll('versions', '10') > 0 AS enrolled_on_v2;
SELECT journey.add_step('versions', 'four', 'goal');
SELECT journey.connect('versions', 'three', 'four');
SELECT journey.publish('versions') AS version;
SELECT who, version, step_key FROM mstate WHERE name = 'versions' AND who = '10';
SELECT journey.archive('versions');

-------------------------------------------------------------------------------
-- Pause keeps places and sends nothing; resume(catch_up); archive ends.
-- The first messages are made at the wall clock (now), so that they are due
-- for delivery: only the pause keeps them from being handed out.
SELECT journey.import($${"name": "pausing", "audience": "members", "start": "hi",
  "steps": [{"key": "hi", "type": "send_email", "template": "note", "next": "wake"},
            {"key": "wake", "type": "delay", "until": {"time": "09:00"}, "next": "bye"},
            {"key": "bye", "type": "send_email", "template": "note"}]}$$) > 0 AS imported;
SELECT journey.publish('pausing');
SELECT count(journey.enroll('pausing', id::text)) AS enrolled FROM members WHERE id BETWEEN 11 AND 12;
SELECT journey.run_due(100, now()) AS processed;
SELECT journey.pause('pausing');
SELECT try($$SELECT journey.enroll('pausing', '13')$$);
SELECT count(*) AS pending_and_due FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
 WHERE j.name = 'pausing' AND m.status = 'pending' AND m.send_after <= now();
SELECT count(*) AS claimed_while_paused FROM journey.claim_messages('email', 100);
SELECT journey.run_due(100, ref_time('2030-04-03 10:00+00')) AS processed_while_paused;
SELECT who, step_key FROM mstate WHERE name = 'pausing';
SELECT count(*) AS visits FROM journey.activity a JOIN journey.journeys j
    ON j.id = a.journey_id WHERE j.name = 'pausing';
SELECT try($$SELECT journey.resume('pausing', 'later')$$);
UPDATE journey.enrollments SET next_run_at = now() - interval '1 minute'
 WHERE journey_id = (SELECT id FROM journey.journeys WHERE name = 'pausing');  -- due during the pause
SELECT journey.resume('pausing', catch_up => 'skip');
-- resumed: the messages held back are handed out now
SELECT c.customer_id, c.step_key FROM journey.claim_messages('email', 100) c ORDER BY 1;
SELECT journey.run_due(100, ref_time('2030-04-03 10:00+00')) AS processed;
-- the overdue 09:00 delay waits for the next 09:00 instead of firing late
SELECT e.customer_id, e.status, e.step_key, ref_shown(e.next_run_at) AS next_run_at
  FROM journey.enrollments e
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
SELECT journey.run_due(100, ref_time('2030-05-01 00:00+00')) AS processed;
SELECT who, status, step_key, attempts, last_error FROM mstate WHERE name = 'fragile';
SELECT count(*) AS messages_of_the_others FROM journey.messages m JOIN journey.journeys j
    ON j.id = m.journey_id WHERE j.name = 'fragile';
SELECT e.next_run_at - ref_time('2030-05-01 00:00+00') AS backoff FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'fragile' WHERE e.customer_id = '21';
SELECT journey.run_due(100, ref_time('2030-05-01 00:00:05+00')) AS before_the_backoff;
SELECT who, attempts FROM mstate WHERE name = 'fragile' AND who = '21';
SELECT journey.run_due(100, ref_time('2030-05-01 00:01+00')) AS retried;
SELECT who, status, attempts, last_error FROM mstate WHERE name = 'fragile' AND who = '21';
SELECT journey.archive('fragile');

-- A field update that violates a constraint fails that enrollment, not the batch.
ALTER TABLE members ADD CONSTRAINT tier_known CHECK (tier IN ('basic', 'gold'));
SELECT journey.import($${"name": "bad-update", "audience": "members", "start": "u",
  "steps": [{"key": "u", "type": "condition", "if": {"field": "id", "op": "eq", "value": 31},
             "branches": {"yes": "bad", "no": "good"}},
            {"key": "bad", "type": "update_field", "set": {"tier": "platinum"}},
            {"key": "good", "type": "update_field", "set": {"tier": "gold"}}]}$$) > 0 AS imported;
SELECT journey.publish('bad-update');
SELECT count(journey.enroll('bad-update', id::text)) AS enrolled FROM members WHERE id BETWEEN 30 AND 32;
SELECT journey.run_due(100, ref_time('2030-06-01 00:00+00')) AS processed;
SELECT who, status, attempts, last_error IS NOT NULL AS has_error FROM mstate WHERE name = 'bad-update';
SELECT id, tier FROM members WHERE id BETWEEN 30 AND 32 ORDER BY id;
SELECT journey.archive('bad-update');

-- A loop through a delay is valid, and the per-enrollment visit cap ends it.
SELECT journey.import($${"name": "loop", "audience": "members", "start": "tick",
  "settings": {"max_step_visits": 6},
  "steps": [{"key": "tick", "type": "delay", "duration": "1 minute", "next": "tock"},
            {"key": "tock", "type": "goal", "next": "tick"}]}$$) > 0 AS imported;
SELECT journey.publish('loop');
SELECT journey.enroll('loop', '33') > 0 AS enrolled;
SELECT g AS minute, journey.run_due(10, ref_time('2030-07-01 00:00+00') + g * interval '1 minute') AS processed
  FROM generate_series(0, 5) g ORDER BY g;
SELECT e.status, e.visits, e.last_error FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'loop';
SELECT journey.archive('loop');
SELECT count(*) AS active_left FROM journey.enrollments WHERE status = 'active';
