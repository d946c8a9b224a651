-- A call step whose function ends its own enrollment (attack-9 F1): it deletes
-- the customer, changes the row so that an exit rule matches, tracks an exit
-- event, re-enters with reentry "always", or calls journey.exit on it. The
-- enrollment ends as that ending says, once, at the call step (its visit
-- numbered after the visits before it), the call's effect stays, and the run
-- goes no further (no message, no field update after it). Before the fix each
-- failed with 23505 activity_pkey and the call was rolled back on every retry.
-- And (F2) steps after a call step read the customer row as the call left it.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE fe_customers (id int PRIMARY KEY, email text, plan text NOT NULL DEFAULT 'free',
                           note text);
INSERT INTO fe_customers (id, email) SELECT g, 'fe' || g || '@x.test' FROM generate_series(1, 8) g;
SELECT journey.register_audience('fe_customers', 'id', 'email');
CREATE FUNCTION fe_delete(customer_id text, context jsonb) RETURNS jsonb LANGUAGE sql AS
  $$ DELETE FROM public.fe_customers WHERE id = customer_id::int RETURNING jsonb_build_object('deleted', id) $$;
CREATE FUNCTION fe_vip(customer_id text, context jsonb) RETURNS jsonb LANGUAGE sql AS
  $$ UPDATE public.fe_customers SET plan = 'vip' WHERE id = customer_id::int RETURNING jsonb_build_object('vip', id) $$;
CREATE FUNCTION fe_track(customer_id text, context jsonb) RETURNS jsonb LANGUAGE sql AS
  $$ SELECT jsonb_build_object('tracked', journey.track(customer_id, context->>'event', '{}', now(), NULL, 'public.fe_customers')) $$;
CREATE FUNCTION fe_exit(customer_id text, context jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  PERFORM journey.exit(e.id, 'from call') FROM journey.enrollments e
    JOIN journey.journeys j ON j.id = e.journey_id
   WHERE j.name = 'fe-exit' AND e.customer_id = fe_exit.customer_id AND e.status = 'active';
  RETURN '{}';
END
$$;
-- Each journey: a message, the call, then a field update and a message that
-- an ended enrollment must not reach.
CREATE FUNCTION fe_journey(p_name text, p_function text, p_extra text DEFAULT '',
                           p_settings text DEFAULT '{"max_attempts": 2}') RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM journey.import(format($j${"name": %s, "audience": "fe_customers", "start": "hi",
    "settings": %s %s,
    "steps": [{"key": "hi", "type": "send", "channel": "fe", "payload": {}, "next": "c"},
              {"key": "c", "type": "call", "function": %s, "next": "u"},
              {"key": "u", "type": "update_field", "set": {"note": "after"}, "next": "m"},
              {"key": "m", "type": "send", "channel": "fe", "payload": {}}]}$j$,
    to_json(p_name), p_settings, p_extra, to_json(p_function))::jsonb);
  PERFORM journey.publish(p_name);
END
$$;
SELECT fe_journey('fe-delete', 'public.fe_delete');
SELECT fe_journey('fe-vip', 'public.fe_vip',
  $$, "exit": [{"type": "condition", "name": "became vip", "when": {"field": "plan", "op": "eq", "value": "vip"}}]$$);
SELECT fe_journey('fe-event', 'public.fe_track',
  $$, "exit": [{"type": "event", "event": "fe_stop", "name": "stopped"}]$$);
SELECT fe_journey('fe-reenter', 'public.fe_track',
  $$, "entry": [{"type": "event", "event": "fe_again"}]$$, '{"max_attempts": 2, "reentry": "always"}');
SELECT fe_journey('fe-exit', 'public.fe_exit');
SELECT journey.enroll('fe-delete', '1') > 0 AS e1;
SELECT journey.enroll('fe-vip', '2') > 0 AS e2;
SELECT journey.enroll('fe-event', '3', '{"event": "fe_stop"}') > 0 AS e3;
SELECT journey.enroll('fe-reenter', '4', '{"event": "fe_again"}') > 0 AS e4;
SELECT journey.enroll('fe-exit', '5') > 0 AS e5;
-- One tick runs all five (and the new enrollment of 4's re-entry, enrolled
-- inside it, is due in the next).
SELECT journey.run_due(100, ref_time('2030-01-01 10:00+00')) AS processed;
SELECT j.name, e.customer_id, e.status, e.step_key, e.exit_reason, e.visits, e.attempts,
       e.last_error_code, e.last_error
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name LIKE 'fe-%' ORDER BY j.name, e.id;
-- Every visit numbered once: "hi" moved (1), "c" ended there (2).
SELECT j.name, a.customer_id, a.visit, a.step_key, a.step_type, a.outcome, a.reason
  FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
 WHERE j.name LIKE 'fe-%' ORDER BY j.name, a.enrollment_id, a.visit;
-- Messages: only "hi"'s (the second of fe-reenter is the new enrollment's, next tick).
SELECT j.name, m.customer_id, m.step_key, m.visit
  FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
 WHERE j.name LIKE 'fe-%' ORDER BY j.name, m.enrollment_id, m.visit;
-- The calls' effects stay (1 deleted, 2 vip); no field update after a call.
SELECT id, plan, note FROM fe_customers ORDER BY id;
-- The funnel counts each at its call step, exited.
SELECT step_key, entered, now_at, branches FROM journey.step_stats
 WHERE name = 'fe-vip' ORDER BY step_key;

SELECT journey.archive(name) FROM journey.journeys
 WHERE name IN ('fe-delete', 'fe-vip', 'fe-event', 'fe-reenter', 'fe-exit') ORDER BY name;

-- F2: after a call step, a condition and a wait_until read the row as the
-- call left it (before: "no" branch, and a wait_until parked for ever).
SELECT journey.import($j${"name": "fe-callcond", "audience": "fe_customers", "start": "c",
  "steps": [{"key": "c", "type": "call", "function": "public.fe_vip", "next": "k"},
            {"key": "k", "type": "condition", "if": {"field": "plan", "op": "eq", "value": "vip"},
             "branches": {"yes": "m", "no": "late"}},
            {"key": "m", "type": "send", "channel": "fe", "payload": {"plan": "{{plan}}"}},
            {"key": "late", "type": "exit"}]}$j$) > 0 AS imported;
SELECT journey.publish('fe-callcond');
SELECT journey.import($j${"name": "fe-callwait", "audience": "fe_customers", "start": "c",
  "steps": [{"key": "c", "type": "call", "function": "public.fe_vip", "next": "w"},
            {"key": "w", "type": "wait_until", "when": {"field": "plan", "op": "eq", "value": "vip"},
             "branches": {"met": "m"}},
            {"key": "m", "type": "send", "channel": "fe", "payload": {}}]}$j$) > 0 AS imported;
SELECT journey.publish('fe-callwait');
SELECT journey.enroll('fe-callcond', '6') > 0 AS e6;
SELECT journey.enroll('fe-callwait', '7') > 0 AS e7;
SELECT journey.run_due(100, ref_time('2030-01-01 10:01+00')) AS processed;
SELECT j.name, e.customer_id, e.status, e.step_key, e.exit_reason, e.last_error
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name IN ('fe-callcond', 'fe-callwait') ORDER BY j.name, e.id;
SELECT j.name, m.step_key, m.payload
  FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
 WHERE j.name IN ('fe-callcond', 'fe-callwait') ORDER BY j.name, m.id;

SELECT journey.archive(name) FROM journey.journeys
 WHERE name IN ('fe-callcond', 'fe-callwait') ORDER BY name;
