-- The validator: a journey using every step type, trigger, exit rule and
-- setting validates clean; each mutation below breaks one thing and the
-- validator names the step (or trigger, rule, setting) and the problem.
\set SHOW_CONTEXT never
CREATE FUNCTION public.enrich(customer_id text, context jsonb) RETURNS jsonb
  LANGUAGE sql AS $$ SELECT '{"score": 1}'::jsonb $$;
CREATE FUNCTION public.bad_enrich(customer_id text, context jsonb) RETURNS int
  LANGUAGE sql AS $$ SELECT 1 $$;

CREATE TEMP TABLE base AS SELECT $json$
{"name": "v", "audience": "customers",
 "settings": {"reentry": "after_exit", "reentry_cooldown": "1 day", "timezone": "Europe/Paris",
              "quiet_hours": {"start": "21:00", "end": "08:00"},
              "frequency_cap": {"max": 3, "per": "1 day"}, "holdout_percent": 10,
              "max_attempts": 5, "max_step_visits": 100, "entity_property": "cart_id"},
 "entry": [{"type": "event", "event": "signed_up", "where": {"field": "event.source", "op": "eq", "value": "web"}},
           {"type": "attribute", "when": {"field": "plan", "op": "changed_to", "value": "pro"}},
           {"type": "segment", "schedule": "0 9 * * 1-5", "when": {"field": "vip", "op": "eq", "value": true}},
           {"type": "date", "schedule": "@daily", "field": "birthday", "offset": "-1 day"},
           {"type": "manual"}],
 "exit": [{"type": "condition", "when": {"field": "unsubscribed", "op": "eq", "value": true}, "is_goal": false},
          {"type": "event", "event": "purchased", "is_goal": true}],
 "start": "hello",
 "steps": [
  {"key": "hello", "type": "send_email", "template": "welcome", "to_field": "email", "next": "sms"},
  {"key": "sms", "type": "send", "channel": "sms", "template": "sms_hi", "next": "hook"},
  {"key": "hook", "type": "send", "channel": "webhook", "payload": {"url": "https://example.test", "id": "{{id}}"}, "next": "pause"},
  {"key": "pause", "type": "delay", "duration": "2 days", "next": "morning"},
  {"key": "morning", "type": "delay", "until": {"time": "09:00", "days": ["mon", "tue"], "timezone": "customer"}, "next": "bday"},
  {"key": "bday", "type": "delay", "until_field": "birthday", "offset": "-1 day", "next": "opened"},
  {"key": "opened", "type": "wait_for_event", "event": "email_opened", "where": {"field": "event.campaign", "op": "eq", "value": "welcome"},
   "timeout": "3 days", "branches": {"event": "pro", "timeout": "upgraded"}},
  {"key": "upgraded", "type": "wait_until", "when": {"field": "plan", "op": "eq", "value": "pro"}, "timeout": "7 days",
   "branches": {"met": "pro", "timeout": "pro"}},
  {"key": "pro", "type": "condition",
   "if": {"all": [{"field": "age", "op": "gte", "value": 18},
                  {"any": [{"field": "plan", "op": "in", "value": ["pro", "team"]}, {"not": {"field": "vip", "op": "eq", "value": false}}]},
                  {"field": "signed_up_at", "op": "within", "value": "30 days"},
                  {"field": "context.cart_id", "op": "exists"},
                  {"event": "email_opened", "step": "hello", "happened": true, "within": "3 days"}]},
   "branches": {"yes": "route", "no": "ab"}},
  {"key": "route", "type": "branch", "cases": [{"name": "young", "when": {"field": "age", "op": "lt", "value": 30}},
                                               {"name": "rich", "when": {"field": "score", "op": "gt", "value": 0.5}}],
   "branches": {"young": "ab", "rich": "ab", "else": "ab"}},
  {"key": "ab", "type": "split", "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 3}], "branches": {"a": "mark", "b": "mark"}},
  {"key": "mark", "type": "update_field", "set": {"plan": "trial", "signed_up_at": {"now": true}, "age": null}, "next": "enrich"},
  {"key": "enrich", "type": "call", "function": "public.enrich", "next": "won"},
  {"key": "won", "type": "goal", "next": "bye"},
  {"key": "bye", "type": "exit"}]}
$json$::jsonb AS def;

SELECT count(*) AS problems_in_valid_journey FROM base, journey.validate_definition(base.def);

CREATE TEMP TABLE cases (n serial, label text, def jsonb);
INSERT INTO cases (label, def) SELECT c.label, c.def FROM base, LATERAL (VALUES
  ('not an object', '[]'::jsonb),
  ('no name', def - 'name'),
  ('unregistered audience', jsonb_set(def, '{audience}', '"pg_class"')),
  ('no steps', jsonb_set(def, '{steps}', '[]')),
  ('no start', def - 'start'),
  ('start names no step', jsonb_set(def, '{start}', '"nowhere"')),
  ('unknown step type', jsonb_set(def, '{steps,14,type}', '"teleport"')),
  ('duplicate key', jsonb_set(def, '{steps,14,key}', '"won"')),
  ('invalid key', jsonb_set(def, '{steps,13}', '{"key": "bad key", "type": "goal"}')),
  ('dangling connection', jsonb_set(def, '{steps,13,next}', '"ghost"')),
  ('connection without target', jsonb_set(def, '{steps,13,next}', '""')),
  ('branch the type does not have', jsonb_set(def, '{steps,8,branches,maybe}', '"bye"')),
  ('exit with a way out', jsonb_set(def, '{steps,14,next}', '"hello"')),
  ('unreachable step', jsonb_insert(def, '{steps,-1}', '{"key": "lost", "type": "goal"}', true)),
  ('cycle without a wait', jsonb_set(def, '{steps,13,next}', '"mark"')),
  ('cycle through a delay is fine', jsonb_set(def, '{steps,13,next}', '"pause"')),
  ('bad duration', jsonb_set(def, '{steps,3,duration}', '"3 fortnights"')),
  ('zero duration', jsonb_set(def, '{steps,3,duration}', '"0 days"')),
  ('delay with two modes', jsonb_set(def, '{steps,3,until_field}', '"birthday"')),
  ('delay with no mode', def #- '{steps,3,duration}'),
  ('bad time of day', jsonb_set(def, '{steps,4,until,time}', '"25:00"')),
  ('bad weekday', jsonb_set(def, '{steps,4,until,days}', '["mon", "funday"]')),
  ('bad time zone', jsonb_set(def, '{steps,4,until,timezone}', '"Mars/Olympus"')),
  ('until_field not a date', jsonb_set(def, '{steps,5,until_field}', '"plan"')),
  ('wait_for_event without event', def #- '{steps,6,event}'),
  ('timeout branch without timeout', def #- '{steps,6,timeout}'),
  ('wait_until without when', def #- '{steps,7,when}'),
  ('unknown column', jsonb_set(def, '{steps,8,if,all,0,field}', '"agee"')),
  ('value of the wrong type', jsonb_set(def, '{steps,8,if,all,0,value}', '"eighteen"')),
  ('unknown op', jsonb_set(def, '{steps,8,if,all,0,op}', '"equals"')),
  ('empty all', jsonb_set(def, '{steps,8,if}', '{"all": []}')),
  ('within needs a timestamp', jsonb_set(def, '{steps,8,if,all,2,field}', '"plan"')),
  ('changed outside a trigger', jsonb_set(def, '{steps,7,when}', '{"field": "plan", "op": "changed"}')),
  ('event field in wait_until', jsonb_set(def, '{steps,7,when,field}', '"event.plan"')),
  ('condition without if', def #- '{steps,8,if}'),
  ('branch case named else', jsonb_set(def, '{steps,9,cases,1,name}', '"else"')),
  ('branch without cases', def #- '{steps,9,cases}'),
  ('split weight not positive', jsonb_set(def, '{steps,10,variants,1,weight}', '0')),
  ('split duplicate variant', jsonb_set(def, '{steps,10,variants,1,name}', '"a"')),
  ('unknown template', jsonb_set(def, '{steps,0,template}', '"nope"')),
  ('template of another channel', jsonb_set(def, '{steps,0,template}', '"sms_hi"')),
  ('send_email without template', def #- '{steps,0,template}'),
  ('to_field unknown', jsonb_set(def, '{steps,0,to_field}', '"mail"')),
  ('send without channel', def #- '{steps,1,channel}'),
  ('send with template and payload', jsonb_set(def, '{steps,1,payload}', '{"a": 1}')),
  ('update_field unknown column', jsonb_set(def, '{steps,11,set,plann}', '"x"')),
  ('update_field key column', jsonb_set(def, '{steps,11,set,id}', '5')),
  ('update_field wrong type', jsonb_set(def, '{steps,11,set,age}', '"old"')),
  ('update_field now on text', jsonb_set(def, '{steps,11,set,plan}', '{"now": true}')),
  ('update_field empty set', jsonb_set(def, '{steps,11,set}', '{}')),
  ('call unknown function', jsonb_set(def, '{steps,12,function}', '"public.nope"')),
  ('call wrong return type', jsonb_set(def, '{steps,12,function}', '"public.bad_enrich"')),
  ('call invalid name', jsonb_set(def, '{steps,12,function}', '"drop table x;"')),
  ('unknown config key', jsonb_set(def, '{steps,0,templat}', '"x"')),
  ('event trigger without event', def #- '{entry,0,event}'),
  ('attribute trigger without when', def #- '{entry,1,when}'),
  ('segment with a bad schedule', jsonb_set(def, '{entry,2,schedule}', '"every day"')),
  ('date trigger on a text column', jsonb_set(def, '{entry,3,field}', '"plan"')),
  ('unknown entry type', jsonb_set(def, '{entry,4,type}', '"dream"')),
  ('exit condition without when', def #- '{exit,0,when}'),
  ('exit event without event', def #- '{exit,1,event}'),
  ('bad reentry', jsonb_set(def, '{settings,reentry}', '"sometimes"')),
  ('bad holdout', jsonb_set(def, '{settings,holdout_percent}', '150')),
  ('bad frequency cap', jsonb_set(def, '{settings,frequency_cap}', '{"max": 0}')),
  ('bad settings time zone', jsonb_set(def, '{settings,timezone}', '"Nowhere/Land"')),
  ('bad quiet hours', jsonb_set(def, '{settings,quiet_hours,start}', '"9pm"')),
  ('unknown setting', jsonb_set(def, '{settings,colour}', '"blue"'))
) c(label, def);

SELECT c.label, i.severity, i.step_key, i.message
  FROM cases c LEFT JOIN LATERAL journey.validate_definition(c.def) i ON true
 ORDER BY c.n, i.severity, i.step_key, i.message;

-- every problem is reported at once, not only the first: four broken things,
-- four errors
SELECT i.step_key, i.message
  FROM base, journey.validate_definition(jsonb_set(jsonb_set(jsonb_set(def, '{start}', '"x"'),
         '{steps,0,template}', '"nope"'), '{settings,reentry}', '"x"') #- '{steps,1,channel}') i
 WHERE i.severity = 'error' ORDER BY 1, 2;

-- validate(journey) validates the stored draft through the same validator
SELECT journey.import(def || '{"name": "v-stored"}') > 0 AS imported FROM base;
SELECT count(*) AS problems FROM journey.validate('v-stored');
SELECT journey.add_step('v-stored', 'dangling', 'send_email', '{"template": "nope"}');
SELECT severity, step_key, message FROM journey.validate('v-stored') ORDER BY 1, 2, 3;
SELECT journey.drop_journey('v-stored');
