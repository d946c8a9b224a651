-- Editing a draft in place (src/sql/editing.sql): step config, rename, moving
-- connections, editing and reordering triggers and rules, the canvas layout
-- carried through export/import and versions, clone, discard_draft, list,
-- diff, catalog; each edit returns the issues it introduced.
\set SHOW_CONTEXT never

SELECT journey.import($${"name": "ed-welcome", "audience": "customers",
  "entry": [{"type": "event", "event": "signed_up"}, {"type": "manual"}],
  "exit": [{"type": "condition", "when": {"field": "unsubscribed", "op": "eq", "value": true}},
           {"type": "event", "event": "purchased", "is_goal": true}],
  "start": "welcome",
  "steps": [
    {"key": "welcome", "type": "send_email", "template": "welcome", "next": "wait"},
    {"key": "wait", "type": "wait_for_event", "event": "email_opened", "timeout": "3 days",
     "branches": {"event": "check", "timeout": "nudge"}},
    {"key": "check", "type": "condition",
     "if": {"event": "email_opened", "step": "welcome", "happened": true}, "branches": {"yes": "tips", "no": "nudge"}},
    {"key": "tips", "type": "send_email", "template": "tips"},
    {"key": "nudge", "type": "send_email", "template": "nudge"}]}$$) > 0 AS imported;
SELECT * FROM journey.validate('ed-welcome');

-- set_step_config: returns only what the edit broke; a fix returns nothing
SELECT * FROM journey.set_step_config('ed-welcome', 'wait', '{"event": "email_opened", "timeout": "3 dayz"}');
SELECT * FROM journey.set_step_config('ed-welcome', 'tips', '{"template": "no_such_template"}');
SELECT * FROM journey.validate('ed-welcome') ORDER BY 1, 3;
SELECT * FROM journey.set_step_config('ed-welcome', 'wait', '{"event": "email_opened", "timeout": "2 days"}');
SELECT * FROM journey.set_step_config('ed-welcome', 'tips', '{"template": "tips"}');
SELECT count(*) AS issues_left FROM journey.validate('ed-welcome');
SELECT config FROM journey.steps s JOIN journey.journeys j ON j.id = s.journey_id
 WHERE j.name = 'ed-welcome' AND s.key = 'wait';
SELECT try($$SELECT * FROM journey.set_step_config('ed-welcome', 'ghost', '{}')$$);
SELECT try($$SELECT * FROM journey.set_step_config('ed-welcome', 'tips', '[1]')$$);
SELECT try($$SELECT * FROM journey.set_step_config('ed-welcome', 'tips', '{"next": "nudge"}')$$);
SELECT try($$SELECT * FROM journey.set_step_config('ed-welcome', 'tips', NULL)$$);
SELECT try($$SELECT * FROM journey.set_step_config('ed-nope', 'tips', '{}')$$);

-- rename_step: connections both ways, the start step and behaviour conditions follow
SELECT * FROM journey.rename_step('ed-welcome', 'welcome', 'hello');
SELECT * FROM journey.rename_step('ed-welcome', 'wait', 'wait-open');
SELECT journey.export('ed-welcome')->'start' AS start,
       jsonb_path_query_array(journey.export('ed-welcome'), '$.steps[*].key') AS keys;
SELECT s->'next' AS hello_next FROM jsonb_array_elements(journey.export('ed-welcome')->'steps') s
 WHERE s->>'key' = 'hello';
SELECT s->'if' AS check_if FROM jsonb_array_elements(journey.export('ed-welcome')->'steps') s
 WHERE s->>'key' = 'check';
SELECT s->'branches' AS wait_branches FROM jsonb_array_elements(journey.export('ed-welcome')->'steps') s
 WHERE s->>'key' = 'wait-open';
SELECT count(*) AS issues_after_renames FROM journey.validate('ed-welcome');
SELECT try($$SELECT * FROM journey.rename_step('ed-welcome', 'hello', 'tips')$$);
SELECT try($$SELECT * FROM journey.rename_step('ed-welcome', 'hello', 'bad key!')$$);
SELECT try($$SELECT * FROM journey.rename_step('ed-welcome', 'ghost', 'x')$$);
SELECT * FROM journey.rename_step('ed-welcome', 'hello', 'hello');  -- no-op
-- A rename keeps a broken step's issues under its new key: nothing "introduced".
SELECT * FROM journey.set_step_config('ed-welcome', 'nudge', '{"template": "nope"}');
SELECT * FROM journey.rename_step('ed-welcome', 'nudge', 'reminder');
SELECT * FROM journey.validate('ed-welcome');
SELECT * FROM journey.set_step_config('ed-welcome', 'reminder', '{"template": "nudge"}');

-- move_connection: new target, new source, new branch; collisions refused
SELECT * FROM journey.move_connection('ed-welcome', 'check', 'no', new_to_key => 'tips');
SELECT * FROM journey.move_connection('ed-welcome', 'check', 'yes', new_branch => 'maybe');
SELECT * FROM journey.move_connection('ed-welcome', 'check', 'maybe', new_branch => 'yes', new_to_key => 'reminder');
SELECT * FROM journey.move_connection('ed-welcome', 'check', 'no', new_from_key => 'tips', new_branch => 'next',
                                      new_to_key => 'reminder');
SELECT from_key, branch, to_key FROM journey.connections c JOIN journey.journeys j ON j.id = c.journey_id
 WHERE j.name = 'ed-welcome' ORDER BY 1, 2;
SELECT try($$SELECT * FROM journey.move_connection('ed-welcome', 'check', 'no', new_to_key => 'tips')$$);
SELECT try($$SELECT * FROM journey.move_connection('ed-welcome', 'check', 'yes')$$);
SELECT try($$SELECT * FROM journey.move_connection('ed-welcome', 'check', 'yes', new_to_key => 'ghost')$$);
SELECT try($$SELECT * FROM journey.move_connection('ed-welcome', 'hello', 'next', new_from_key => 'wait-open', new_branch => 'event')$$);
SELECT try($$SELECT * FROM journey.move_connection('ed-welcome', 'hello', 'next', new_branch => '')$$);
SELECT * FROM journey.move_connection('ed-welcome', 'tips', 'next', new_from_key => 'check', new_branch => 'no');

-- entry triggers and exit rules: edit in place, reorder (issues follow their item)
SELECT * FROM journey.set_entry_trigger('ed-welcome', 2, 'attribute', '{"when": {"field": "plann", "op": "changed"}}');
SELECT * FROM journey.move_entry_trigger('ed-welcome', 2, 1);
SELECT jsonb_path_query_array(journey.export('ed-welcome'), '$.entry[*].type') AS entry_types;
SELECT * FROM journey.validate('ed-welcome');
SELECT * FROM journey.set_entry_trigger('ed-welcome', 1, 'manual');
SELECT try($$SELECT * FROM journey.set_entry_trigger('ed-welcome', 3, 'manual')$$);
SELECT try($$SELECT * FROM journey.set_entry_trigger('ed-welcome', 1, 'teleport')$$);
SELECT try($$SELECT * FROM journey.set_entry_trigger('ed-welcome', 1, 'event', '{"type": "x"}')$$);
SELECT try($$SELECT * FROM journey.move_entry_trigger('ed-welcome', 1, 3)$$);
SELECT try($$SELECT * FROM journey.move_entry_trigger('ed-welcome', 0, 1)$$);
SELECT * FROM journey.set_exit_rule('ed-welcome', 2, 'event', '{"event": "purchased", "where": {"field": "total", "op": "gt", "value": 0}}', true);
SELECT * FROM journey.move_exit_rule('ed-welcome', 2, 1);
SELECT * FROM journey.set_exit_rule('ed-welcome', 1, 'event', '{"event": "purchased"}', true);
SELECT jsonb_pretty(journey.export('ed-welcome')->'exit') AS exit_rules;
SELECT try($$SELECT * FROM journey.set_exit_rule('ed-welcome', 9, 'event', '{"event": "x"}')$$);
SELECT try($$SELECT * FROM journey.set_exit_rule('ed-welcome', 1, 'goal', '{}')$$);
SELECT try($$SELECT * FROM journey.set_exit_rule('ed-welcome', 1, 'event', '{"is_goal": true}')$$);
SELECT try($$SELECT * FROM journey.move_exit_rule('ed-welcome', 1, NULL)$$);

-- layout: stored with the draft, exported only when present, validated
SELECT journey.export('ed-welcome') ? 'layout' AS has_layout_before;
SELECT journey.set_layout('ed-welcome', '{"hello": {"x": 0, "y": 0}, "wait-open": {"x": 10.5, "y": 120}}');
SELECT journey.export('ed-welcome')->'layout' AS layout;
SELECT journey.set_layout('ed-welcome', '{"hello": null, "check": {"x": -40, "y": 240}}');
SELECT journey.export('ed-welcome')->'layout' AS layout;
SELECT try($$SELECT journey.set_layout('ed-welcome', '{"ghost": {"x": 0, "y": 0}}')$$);
SELECT try($$SELECT journey.set_layout('ed-welcome', '{"check": {"x": "left", "y": 0}}')$$);
SELECT try($$SELECT journey.set_layout('ed-welcome', '{"check": {"x": 1, "y": 2, "z": 3}}')$$);
SELECT try($$SELECT journey.set_layout('ed-welcome', '[]')$$);
SELECT * FROM journey.validate('ed-welcome');

-- export(import(x)) = x with a layout; import refuses a layout it cannot keep
SELECT journey.import(journey.export('ed-welcome') || '{"name": "ed-copy"}') > 0 AS imported;
SELECT journey.export('ed-copy') = journey.export('ed-welcome') || '{"name": "ed-copy"}' AS round_trip;
SELECT try($$SELECT journey.import(journey.export('ed-welcome') || '{"name": "ed-copy", "layout": {"ghost": {"x": 1, "y": 1}}}')$$);
SELECT try($$SELECT journey.import(journey.export('ed-welcome') || '{"name": "ed-copy", "layout": [1]}')$$);
SELECT try($$SELECT journey.import(journey.export('ed-welcome') || '{"name": "ed-copy", "layout": {"check": {"x": 1}}}')$$);
SELECT step_key, severity, message FROM journey.validate_definition(
  journey.export('ed-welcome') || '{"layout": {"ghost": {"x": 1, "y": 1}, "check": [0, 0]}}');

-- clone: a new draft journey with the same definition, layout and description
SELECT journey.clone('ed-welcome', 'ed-clone') > 0 AS cloned;
SELECT journey.export('ed-clone') = journey.export('ed-welcome') || '{"name": "ed-clone"}' AS same_definition;
SELECT name, state, published_version, owner = current_user::regrole AS owned FROM journey.journeys WHERE name = 'ed-clone';
SELECT try($$SELECT journey.clone('ed-welcome', 'ed-clone')$$);
SELECT try($$SELECT journey.clone('ed-ghost', 'ed-x')$$);
SELECT try($$SELECT journey.clone('ed-welcome', '')$$);

-- versions: the layout is frozen with a published version and carried into the next draft
SELECT journey.publish('ed-welcome') AS v1;
SELECT definition->'layout' AS v1_layout FROM journey.versions v JOIN journey.journeys j ON j.id = v.journey_id
 WHERE j.name = 'ed-welcome' AND v.version = 1;
SELECT * FROM journey.set_step_config('ed-welcome', 'wait-open', '{"event": "email_opened", "timeout": "5 days"}');
SELECT version, status FROM journey.versions v JOIN journey.journeys j ON j.id = v.journey_id
 WHERE j.name = 'ed-welcome' ORDER BY 1;
SELECT journey.export('ed-welcome')->'layout' AS v2_layout;
SELECT journey.set_layout('ed-welcome', '{"check": {"x": 0, "y": 300}}');
SELECT journey.export('ed-welcome', 1)->'layout' AS v1_layout_unchanged;

-- diff between versions
SELECT journey.add_step('ed-welcome', 'bye', 'exit');
SELECT journey.connect('ed-welcome', 'reminder', 'bye');
SELECT journey.remove_exit_rule('ed-welcome', 2);
SELECT journey.set_settings('ed-welcome', '{"reentry": "always"}');
SELECT kind, key, change, old, new FROM journey.diff('ed-welcome', 1);
SELECT count(*) AS no_changes FROM journey.diff('ed-welcome', 1, 1);
SELECT try($$SELECT * FROM journey.diff('ed-welcome', 7)$$);
SELECT try($$SELECT * FROM journey.diff('ed-welcome', NULL)$$);

-- discard_draft: back to the published version; a journey never published has nothing to go back to
SELECT journey.discard_draft('ed-welcome');
SELECT version, status FROM journey.versions v JOIN journey.journeys j ON j.id = v.journey_id
 WHERE j.name = 'ed-welcome' ORDER BY 1;
SELECT try($$SELECT journey.discard_draft('ed-welcome')$$);
SELECT try($$SELECT journey.discard_draft('ed-clone')$$);

-- list: archived hidden unless asked; counts per journey
INSERT INTO customers (id, email, plan) VALUES (9001, 'ed@example.com', 'free');
SELECT journey.enroll('ed-welcome', '9001') > 0 AS enrolled;
SELECT journey.archive('ed-copy');
SELECT name, state, audience, live_version, draft_version, steps, enrolled, active, converted,
       last_activity >= created_at AS has_activity
  FROM journey.list() WHERE name LIKE 'ed-%';
SELECT name, state FROM journey.list(include_archived => true) WHERE name LIKE 'ed-%';

-- archived journeys cannot be edited
SELECT try($$SELECT * FROM journey.set_step_config('ed-copy', 'tips', '{"template": "tips"}')$$);
SELECT try($$SELECT * FROM journey.rename_step('ed-copy', 'tips', 'x')$$);
SELECT try($$SELECT journey.set_layout('ed-copy', '{}')$$);

-- the catalog
SELECT jsonb_path_query_array(journey.catalog(), '$.steps[*].type') AS step_types;
SELECT jsonb_path_query_array(journey.catalog(), '$.entry_triggers[*].type') AS entry_trigger_types;
SELECT jsonb_path_query_array(journey.catalog(), '$.exit_rules[*].type') AS exit_rule_types;
SELECT jsonb_path_query_array(journey.catalog(), '$.settings[*].name') AS settings;
SELECT jsonb_pretty(jsonb_path_query_first(journey.catalog(), '$.steps[*] ? (@.type == "wait_for_event")')) AS wait_for_event;
SELECT (SELECT array_agg(e::text ORDER BY e::text) FROM unnest(enum_range(NULL::journey.step_type)) e)
     = (SELECT array_agg(t ORDER BY t) FROM jsonb_array_elements_text(
          jsonb_path_query_array(journey.catalog(), '$.steps[*].type')) t) AS catalog_has_every_step_type;

-- privileges: readers list, diff and read the catalog; only admins edit
CREATE ROLE ed_reader IN ROLE journey_reader;
SET ROLE ed_reader;
SELECT count(*) > 0 AS reader_lists FROM journey.list();
SELECT count(*) >= 0 AS reader_diffs FROM journey.diff('ed-welcome', 1);
SELECT journey.catalog() ? 'steps' AS reader_reads_catalog;
SELECT try($$SELECT * FROM journey.set_step_config('ed-welcome', 'tips', '{"template": "tips"}')$$);
SELECT try($$SELECT journey.clone('ed-welcome', 'ed-reader')$$);
SELECT try($$SELECT journey.set_layout('ed-welcome', '{}')$$);
RESET ROLE;
DROP ROLE ed_reader;
DELETE FROM customers WHERE id = 9001;

-- Nothing left running for the files after this one.
SELECT journey.archive('ed-welcome'), journey.archive('ed-clone');
SELECT count(*) AS active_left FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name LIKE 'ed-%' AND e.status = 'active';
