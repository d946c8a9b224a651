-- The execution engine: every step type and every way out, merge tags, the
-- outbox, exit rules and goals. Engine time is fixed (run_due as_of, in the
-- reference calendar of setup.sql) so the output is deterministic.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE shoppers (
  id text PRIMARY KEY, email text, first_name text, plan text DEFAULT 'free', score int,
  vip boolean NOT NULL DEFAULT false, unsubscribed boolean NOT NULL DEFAULT false,
  birthday date, tz text, last_seen timestamptz);
INSERT INTO shoppers (id, email, first_name, score, birthday, tz) VALUES
  ('ann', 'ann@x.test', 'Ann', 80, ref_time('2030-01-20')::date, 'Europe/Paris'),
  ('bob', 'bob@x.test', NULL, 10, NULL, NULL),
  ('cyd', 'cyd@x.test', 'Cyd', 30, ref_time('2030-01-10')::date, 'America/New_York'),
  ('dee', 'dee@x.test', 'Dee', 60, NULL, NULL);
SELECT journey.register_audience('shoppers', 'id', 'email', 'tz');
SELECT journey.create_template('hi', 'email', 'Hi {{first_name | default: "friend"}}',
  'Plan {{plan}}, coupon {{context.coupon | default: "none"}}, cart {{event.cart_id}}.');
SELECT journey.create_template('bye', 'email', NULL, 'Bye {{first_name}}');
CREATE FUNCTION public.enrich_shopper(customer_id text, context jsonb) RETURNS jsonb
  LANGUAGE sql AS $$ SELECT jsonb_build_object('tier', 'gold', 'who', customer_id) $$;

-- What happened to whom: visits in order, and the outbox.
CREATE VIEW trace AS
  SELECT e.customer_id AS who, a.visit, a.step_key, a.step_type, a.branch
    FROM journey.activity a JOIN journey.enrollments e ON e.id = a.enrollment_id
    JOIN journey.journeys j ON j.id = e.journey_id
   WHERE j.name = current_setting('test.journey')
   ORDER BY e.customer_id, a.visit;
CREATE VIEW state AS
  SELECT e.customer_id AS who, e.status, e.step_key, e.visits, e.waiting_for,
         ref_shown(e.next_run_at) AS next_run_at, e.exit_reason, e.converted_at IS NOT NULL AS converted, e.context
    FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
   WHERE j.name = current_setting('test.journey')
   ORDER BY e.customer_id, e.id;
CREATE VIEW outbox AS
  SELECT m.customer_id AS who, m.step_key, m.visit, m.channel, m.status, m.reason, m.send_after,
         m.payload
    FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
   WHERE j.name = current_setting('test.journey')
   ORDER BY m.customer_id, m.visit;

-------------------------------------------------------------------------------
-- 1. A journey with every step type.
SET test.journey = 'tour';
SELECT journey.import($${"name": "tour", "audience": "shoppers", "start": "hello",
 "settings": {"timezone": "UTC"},
 "steps": [
  {"key": "hello", "type": "send_email", "template": "hi", "next": "rich"},
  {"key": "rich", "type": "condition", "if": {"field": "score", "op": "gt", "value": 50},
   "branches": {"yes": "upgrade", "no": "route"}},
  {"key": "upgrade", "type": "update_field", "set": {"plan": "gold", "vip": true, "last_seen": {"now": true}},
   "next": "enrich"},
  {"key": "enrich", "type": "call", "function": "public.enrich_shopper", "next": "won"},
  {"key": "won", "type": "goal", "next": "push"},
  {"key": "push", "type": "send", "channel": "push",
   "payload": {"title": "{{first_name}} is {{context.tier}}", "plan": "{{plan}}"}, "next": "opened"},
  {"key": "opened", "type": "wait_for_event", "event": "email_opened", "timeout": "1 day",
   "where": {"field": "event.campaign", "op": "eq", "value": "tour"},
   "branches": {"event": "done", "timeout": "ab"}},
  {"key": "ab", "type": "split", "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}],
   "branches": {"a": "done", "b": "done"}},
  {"key": "route", "type": "branch",
   "cases": [{"name": "low", "when": {"field": "score", "op": "lt", "value": 20}},
             {"name": "mid", "when": {"field": "score", "op": "lt", "value": 50}}],
   "branches": {"low": "nap", "mid": "morning", "else": "done"}},
  {"key": "nap", "type": "delay", "duration": "2 days", "next": "bye"},
  {"key": "morning", "type": "delay", "until": {"time": "09:00", "days": ["mon"], "timezone": "customer"},
   "next": "eve"},
  {"key": "eve", "type": "delay", "until_field": "birthday", "offset": "-1 day", "next": "bye"},
  {"key": "bye", "type": "send_email", "template": "bye", "next": "done"},
  {"key": "done", "type": "exit"}]}$$) > 0 AS imported;
SELECT journey.publish('tour');
SELECT journey.enroll('tour', 'ann', '{"coupon": "C10"}') IS NOT NULL AS ann,
       journey.enroll('tour', 'bob') IS NOT NULL AS bob,
       journey.enroll('tour', 'cyd') IS NOT NULL AS cyd;
-- 2030-01-01 is a Tuesday.
SELECT journey.run_due(100, ref_time('2030-01-01 10:00+00')) AS processed;
SELECT * FROM trace;
SELECT who, status, step_key, visits, waiting_for, next_run_at, context FROM state;
SELECT who, step_key, visit, channel, status, payload FROM outbox;
SELECT id, plan, vip, ref_shown(last_seen) AS last_seen FROM shoppers WHERE id = 'ann';

-- ann waits for an opened e-mail of campaign "tour": another campaign wakes her
-- but does not match, so she parks again; the matching one moves her on.
SELECT journey.track('ann', 'email_opened', '{"campaign": "other"}') IS NOT NULL AS tracked;
SELECT who, waiting_for, next_run_at <= ref_shown(now()) AS due_now FROM state WHERE who = 'ann';
SELECT journey.run_due(100, ref_time('2030-01-01 11:00+00')) AS processed;
SELECT who, status, step_key, waiting_for, next_run_at FROM state WHERE who = 'ann';
SELECT journey.track('ann', 'email_opened', '{"campaign": "tour"}') IS NOT NULL AS tracked;
SELECT journey.run_due(100, ref_time('2030-01-01 12:00+00')) AS processed;
SELECT * FROM trace WHERE who = 'ann' AND visit > 5;
-- nothing is due before bob's two days are up
SELECT journey.run_due(100, ref_time('2030-01-02 12:00+00')) AS processed;
SELECT journey.run_due(100, ref_time('2030-01-03 10:00+00')) AS processed;
-- cyd waits for Monday 09:00 New York time, then for the day before her birthday
SELECT journey.run_due(100, ref_time('2030-01-07 14:00+00')) AS processed;
SELECT who, step_key, next_run_at FROM state WHERE who = 'cyd';
SELECT journey.run_due(100, ref_time('2030-01-08 00:00+00')) AS processed;
SELECT journey.run_due(100, ref_time('2030-01-09 00:00+00')) AS processed;
SELECT who, status, step_key FROM state;
SELECT * FROM trace WHERE who IN ('bob', 'cyd');
SELECT who, step_key, visit, status, payload->>'body' AS body FROM outbox WHERE step_key = 'bye';

-------------------------------------------------------------------------------
-- 2. Timeouts, and a step with no way out completes the enrollment.
SET test.journey = 'timeouts';
SELECT journey.import($${"name": "timeouts", "audience": "shoppers", "start": "w",
 "steps": [
  {"key": "w", "type": "wait_for_event", "event": "clicked", "timeout": "1 day",
   "branches": {"event": "yes_click", "timeout": "u"}},
  {"key": "yes_click", "type": "goal"},
  {"key": "u", "type": "wait_until", "when": {"field": "vip", "op": "eq", "value": true}, "timeout": "2 days",
   "branches": {"met": "vip_now", "timeout": "never_vip"}},
  {"key": "vip_now", "type": "goal"},
  {"key": "never_vip", "type": "send_email", "template": "bye"}]}$$) > 0 AS imported;
SELECT journey.publish('timeouts');
SELECT count(journey.enroll('timeouts', id)) AS enrolled FROM shoppers WHERE id IN ('bob', 'dee');
SELECT journey.run_due(100, ref_time('2030-02-01 00:00+00')) AS processed;
SELECT who, status, step_key, waiting_for, next_run_at FROM state;
SELECT journey.run_due(100, ref_time('2030-02-02 00:00+00')) AS processed;   -- wait_for_event times out
SELECT who, status, step_key, next_run_at FROM state;
UPDATE shoppers SET vip = true WHERE id = 'dee';
SELECT journey.run_due(100, ref_time('2030-02-04 00:00+00')) AS processed;   -- dee became vip; bob times out
SELECT * FROM trace;
SELECT who, status, step_key, converted FROM state;

-------------------------------------------------------------------------------
-- 3. Exit rules: a condition exit stops a customer before the next send; an
-- event exit ends them at once; a goal exit marks the conversion.
SET test.journey = 'exits';
SELECT journey.import($${"name": "exits", "audience": "shoppers", "start": "first",
 "exit": [{"type": "condition", "when": {"field": "unsubscribed", "op": "eq", "value": true}},
          {"type": "event", "event": "purchased", "is_goal": true},
          {"type": "event", "event": "complained", "where": {"field": "event.severity", "op": "gte", "value": 3}}],
 "steps": [
  {"key": "first", "type": "send_email", "template": "bye", "next": "pause"},
  {"key": "pause", "type": "delay", "duration": "1 day", "next": "second"},
  {"key": "second", "type": "send_email", "template": "bye"}]}$$) > 0 AS imported;
SELECT journey.publish('exits');
SELECT count(journey.enroll('exits', id)) AS enrolled FROM shoppers;
SELECT journey.run_due(100, ref_time('2030-03-01 00:00+00')) AS processed;
UPDATE shoppers SET unsubscribed = true WHERE id = 'ann';
SELECT journey.track('bob', 'purchased', '{"total": 12}') IS NOT NULL AS tracked;
SELECT journey.track('cyd', 'complained', '{"severity": 1}') IS NOT NULL AS mild;
SELECT journey.track('dee', 'complained', '{"severity": 5}') IS NOT NULL AS severe;
SELECT journey.run_due(100, ref_time('2030-03-03 00:00+00')) AS processed;
SELECT who, status, step_key, exit_reason, converted FROM state;
SELECT who, step_key, count(*) AS messages FROM outbox GROUP BY 1, 2 ORDER BY 1, 2;
UPDATE shoppers SET unsubscribed = false;

-------------------------------------------------------------------------------
-- 4. Manual exit, and errors of the runtime API.
SET test.journey = 'exits';
SELECT try($$SELECT journey.enroll('exits', 'nobody')$$);
SELECT try($$SELECT journey.enroll('exits', NULL)$$);
SELECT try($$SELECT journey.enroll('exits', 'ann', '[1]')$$);
SELECT try($$SELECT journey.enroll('missing', 'ann')$$);
SELECT journey.create_journey('draft-only', 'shoppers') > 0 AS created;
SELECT try($$SELECT journey.enroll('draft-only', 'ann')$$);
SELECT journey.drop_journey('draft-only');
SELECT try($$SELECT journey.exit(-1)$$);
SELECT regexp_replace(try($$SELECT journey.exit((SELECT min(id) FROM journey.enrollments
                                                WHERE status = 'completed'))$$),
                      'enrollment \d+', 'enrollment N');
-- a manual exit
SELECT journey.import($${"name": "manual", "audience": "shoppers", "start": "d",
  "steps": [{"key": "d", "type": "delay", "duration": "1 day"}]}$$) > 0 AS imported;
SELECT journey.publish('manual');
SELECT journey.exit(journey.enroll('manual', 'ann'), 'support request');
SET test.journey = 'manual';
SELECT who, status, exit_reason, next_run_at FROM state;
SELECT journey.run_due(100, ref_time('2030-05-01 00:00+00')) AS nothing_to_do;
SELECT try($$SELECT journey.track(NULL, 'x')$$);
SELECT try($$SELECT journey.track('ann', 'x', '[]')$$);
SELECT try($$SELECT journey.run_due(0)$$);
-- idempotent tracking: the same key records one event
SELECT journey.track('ann', 'pinged', '{}', now(), 'key-1') IS NOT NULL AS first,
       journey.track('ann', 'pinged', '{}', now(), 'key-1') IS NULL AS repeated;
SELECT count(*) FROM journey.events WHERE idempotency_key = 'key-1';

-------------------------------------------------------------------------------
-- 5. Delivery: claim and complete; a claimed message is not handed out again.
-- (Messages become claimable at their engine time: here, now.)
SELECT journey.import($${"name": "deliver", "audience": "shoppers", "start": "s",
  "steps": [{"key": "s", "type": "send_email", "template": "bye"}]}$$) > 0 AS imported;
SELECT journey.publish('deliver');
SELECT count(journey.enroll('deliver', id)) AS enrolled FROM shoppers;
SELECT journey.run_due() AS processed;
SELECT count(*) AS claimed FROM journey.claim_messages('email', 3);
SELECT count(*) AS claimed_again FROM journey.claim_messages('email', 100);
SELECT count(*) AS nothing_left FROM journey.claim_messages('email', 100);
SELECT count(*) AS no_push_messages FROM journey.claim_messages('push', 100);
SELECT journey.complete_message(id, true) FROM journey.messages
 WHERE status = 'claimed' AND customer_id IN ('ann', 'cyd', 'dee');
SELECT journey.complete_message(id, false, 'mailbox full') FROM journey.messages
 WHERE status = 'claimed' AND customer_id = 'bob';
SELECT customer_id, status, error, attempts FROM journey.messages
 WHERE status IN ('sent', 'failed') ORDER BY customer_id, id;
SELECT regexp_replace(try($$SELECT journey.complete_message((SELECT min(id) FROM journey.messages
                                                             WHERE status = 'sent'), true)$$),
                      'message \d+', 'message N');
SELECT try($$SELECT journey.complete_message(-5, true)$$);
-- A sender that died after claiming: requeue_claimed puts its messages back.
UPDATE journey.messages SET status = 'claimed', claimed_at = now() - interval '1 hour'
 WHERE customer_id = 'bob' AND status = 'failed';
SELECT journey.requeue_claimed(interval '15 minutes') AS requeued,
       journey.requeue_claimed(interval '15 minutes') AS again;
SELECT count(*) AS claimable FROM journey.claim_messages('email', 100) WHERE customer_id = 'bob';
SELECT try($$SELECT journey.claim_messages('email', 0)$$);

-- The views analysts read.
SELECT name, version, state, enrolled, active, completed, exited, failed, converted,
       conversion_rate, messages_sent
  FROM journey.journey_overview ORDER BY name, version;
SELECT name, step_key, step_type, entered, now_at, branches
  FROM journey.step_stats WHERE name = 'tour' ORDER BY step_key;
SELECT name, step_key, branch FROM journey.customer_timeline WHERE customer_id = 'bob'
 ORDER BY at, name, visit;

-- Drawings with per-step counts (entered so far, there now).
SELECT journey.to_mermaid('tour');
SELECT journey.to_dot('exits');
SELECT try($$SELECT journey.to_dot('tour', 7)$$);

-- Leave nothing due for the files after this one (their tick counts are exact).
SELECT name, journey.archive(name) FROM journey.journeys
 WHERE audience = 'shoppers'::regclass AND state <> 'archived' ORDER BY name;
