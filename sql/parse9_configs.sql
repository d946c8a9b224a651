-- One compile of each config (issue 9, audit-9b 2a, S9, S12): the SQL reads
-- no raw trigger or step config any more. A date trigger's config is compiled
-- by core::compile_date_trigger, which the validator calls too (they disagreed
-- on "recurring": null); a segment's member source, a scheduled trigger's cron
-- schedule, which steps send on a channel's recipient column and which
-- templates a version renders all come from C functions over core's compile.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE p9_people (id int PRIMARY KEY, email text, phone text, plan text,
                        signup_at timestamptz);
INSERT INTO p9_people VALUES
  (1, 'a@x.test', '+331', 'pro', '2030-01-01 10:00+00'),
  (2, 'b@x.test', '+332', 'free', NULL),
  (3, 'c@x.test', NULL, 'pro', NULL);
SELECT journey.register_audience('p9_people', 'id', 'email', recipients => '{"sms": "phone"}');

-- 1. A date trigger's "recurring": null (or "offset": null) is not "absent":
-- the validator refused it since 0.1, and the compiler the run uses
-- (journey._date_due_sql) now refuses it too, in the validator's words.
SELECT try($$SELECT journey._date_due_sql('{"field": "signup_at", "recurring": null}')$$);
SELECT try($$SELECT journey._date_due_sql('{"field": "signup_at", "offset": null}')$$);
SELECT step_key, message FROM journey.validate_definition($${"name": "p9_date", "audience": "p9_people",
  "entry": [{"type": "date", "schedule": "@daily", "field": "signup_at", "recurring": null,
             "offset": null},
            {"type": "date", "schedule": "@daily", "field": "plan", "offset": "soon"}],
  "start": "x", "steps": [{"key": "x", "type": "exit"}]}$$)
 WHERE severity = 'error' ORDER BY step_key, message;
-- A valid one renders as before.
SELECT journey._date_due_sql('{"field": "signup_at", "offset": "1 day", "recurring": "yearly"}') IS NOT NULL AS renders;

-- 2. A segment's member source: its query (run as the owner), or its
-- condition rendered as SQL over the audience aliased t.
SELECT * FROM journey._segment_source('{"schedule": "@daily", "query": "SELECT id FROM p9_people"}',
                                      'p9_people');
SELECT * FROM journey._segment_source(
  '{"schedule": "@daily", "when": {"field": "plan", "op": "eq", "value": "pro"}}', 'p9_people');
SELECT try($$SELECT * FROM journey._segment_source('{"schedule": "@daily"}', 'p9_people')$$);
SELECT try($$SELECT * FROM journey._segment_source('{"query": "SELECT 1",
  "when": {"field": "plan", "op": "exists"}}', 'p9_people')$$);
SELECT try($$SELECT * FROM journey._segment_source('{"query": ""}', 'p9_people')$$);
SELECT try($$SELECT * FROM journey._segment_source('{"when": {"field": "plan", "op": "exists"}}', 'pg_class')$$);
SELECT step_key, message FROM journey.validate_definition($${"name": "p9_seg", "audience": "p9_people",
  "entry": [{"type": "segment", "schedule": "@daily"},
            {"type": "segment", "schedule": "@daily", "query": ""}],
  "start": "x", "steps": [{"key": "x", "type": "exit"}]}$$)
 WHERE severity = 'error' ORDER BY step_key, message;

-- 3. A scheduled trigger's cron schedule, as its pg_cron job gets it.
SELECT journey._trigger_schedule('date', '{"schedule": "0 9 * * *", "field": "signup_at"}') AS schedule;
SELECT try($$SELECT journey._trigger_schedule('segment', '{"query": "SELECT 1"}')$$);
SELECT try($$SELECT journey._trigger_schedule('date', '{"schedule": 9}')$$);

-- 4. Which steps send on a channel's recipient column: as the engine
-- addresses them. A send step's stray "to_field" (an unknown key: a warning)
-- does not change its recipient, so its channel's column stays needed: the
-- raw reading took it for an address of its own and let the column go.
SELECT * FROM journey._channels_sent($${"name": "p9_c", "audience": "p9_people", "start": "a",
  "steps": [{"key": "a", "type": "send_email", "template": "p9_t", "next": "b"},
            {"key": "b", "type": "send_email", "template": "p9_t", "to_field": "plan", "next": "c"},
            {"key": "c", "type": "send", "channel": "sms", "payload": {"t": "hi"}, "to_field": "plan",
             "next": "d"},
            {"key": "d", "type": "delay", "duration": "1 day"}]}$$, 'p9_people')
 ORDER BY step_key;
SELECT journey.import($${"name": "p9_sms", "audience": "p9_people", "start": "c",
  "steps": [{"key": "c", "type": "send", "channel": "sms", "payload": {"t": "hi"}, "to_field": "plan"}]}$$) > 0 AS imported;
SELECT journey.publish('p9_sms');
SELECT try($$SELECT journey.set_recipients('p9_people', '{"sms": null}')$$);
SELECT recipients FROM journey.audiences WHERE relation = 'p9_people'::regclass;
SELECT journey.archive('p9_sms');
SELECT journey.set_recipients('p9_people', '{"sms": null}');
SELECT recipients FROM journey.audiences WHERE relation = 'p9_people'::regclass;

-- 5. The templates a version renders (frozen at publish): its send steps'
-- templates, each once; a stray "template" of another step renders nothing.
SELECT journey.create_template('p9_t', 'email', 'Hi', 'Hello {{id}}');
SELECT journey.create_template('p9_u', 'email', 'Bye', 'Bye {{id}}');
SELECT journey._templates_named($${"steps": [
  {"key": "a", "type": "send_email", "template": "p9_u", "next": "b"},
  {"key": "b", "type": "send_email", "template": "p9_t", "next": "c"},
  {"key": "c", "type": "send_email", "template": "p9_t", "next": "d"},
  {"key": "d", "type": "delay", "duration": "1 day", "template": "p9_x"}]}$$) AS templates;
SELECT journey.import($${"name": "p9_tpl", "audience": "p9_people", "start": "a",
  "steps": [{"key": "a", "type": "send_email", "template": "p9_t", "next": "d"},
            {"key": "d", "type": "delay", "duration": "1 day", "template": "p9_u"}]}$$) > 0 AS imported;
SELECT journey.publish('p9_tpl');
SELECT array(SELECT jsonb_object_keys(v.templates) ORDER BY 1) AS frozen
  FROM journey.versions v JOIN journey.journeys j ON j.id = v.journey_id
 WHERE j.name = 'p9_tpl' AND v.version = 1;
SELECT journey.archive('p9_tpl');
