-- Authoring: every editing function, its errors, export/import round trips and
-- the draft/published version model.
\set SHOW_CONTEXT never

-- create_journey
SELECT journey.create_journey('welcome', 'customers', 'Welcome series') > 0 AS created;
SELECT try($$SELECT journey.create_journey('welcome', 'customers')$$);
SELECT try($$SELECT journey.create_journey('', 'customers')$$);
SELECT try($$SELECT journey.create_journey('x', 'pg_class')$$);
SELECT name, description, audience, state, published_version, owner = current_user::regrole AS owned
  FROM journey.journeys WHERE name = 'welcome';
SELECT version, status, start_key FROM journey.versions v JOIN journey.journeys j ON j.id = v.journey_id
 WHERE j.name = 'welcome';

-- add_step: the first step becomes the start step
SELECT journey.add_step('welcome', 'welcome', 'send_email', '{"template": "welcome"}');
SELECT journey.add_step('welcome', 'wait', 'wait_for_event', '{"event": "email_opened", "timeout": "3 days"}');
SELECT journey.add_step('welcome', 'tips', 'send_email', '{"template": "tips"}');
SELECT journey.add_step('welcome', 'nudge', 'send_email', '{"template": "nudge"}');
SELECT try($$SELECT journey.add_step('welcome', 'tips', 'send_email', '{"template": "tips"}')$$);
SELECT try($$SELECT journey.add_step('welcome', 'bad key!', 'goal')$$);
SELECT try($$SELECT journey.add_step('welcome', '', 'goal')$$);
SELECT try($$SELECT journey.add_step('welcome', 'g', 'goal', '[1]')$$);
SELECT try($$SELECT journey.add_step('welcome', 'g', 'goal', '{"next": "tips"}')$$);
SELECT try($$SELECT journey.add_step('welcome', 'g', 'teleport')$$);
SELECT try($$SELECT journey.add_step('welcome', 'g', NULL)$$);
SELECT try($$SELECT journey.add_step('nope', 'g', 'goal')$$);

-- connect / disconnect
SELECT journey.connect('welcome', 'welcome', 'wait');
SELECT journey.connect('welcome', 'wait', 'tips', 'event');
SELECT journey.connect('welcome', 'wait', 'tips', 'timeout');
SELECT journey.connect('welcome', 'wait', 'nudge', 'timeout');  -- rewires the branch
SELECT try($$SELECT journey.connect('welcome', 'ghost', 'tips')$$);
SELECT try($$SELECT journey.connect('welcome', 'tips', 'ghost')$$);
SELECT try($$SELECT journey.connect('welcome', 'tips', 'nudge', '')$$);
SELECT try($$SELECT journey.disconnect('welcome', 'tips')$$);
SELECT from_key, branch, to_key FROM journey.connections c JOIN journey.journeys j ON j.id = c.journey_id
 WHERE j.name = 'welcome' ORDER BY 1, 2;

-- remove_step drops the step and every connection from or to it
SELECT journey.add_step('welcome', 'extra', 'goal');
SELECT journey.connect('welcome', 'tips', 'extra');
SELECT journey.connect('welcome', 'extra', 'nudge');
SELECT journey.remove_step('welcome', 'extra');
SELECT try($$SELECT journey.remove_step('welcome', 'extra')$$);
SELECT count(*) AS connections_left_for_extra FROM journey.connections
 WHERE 'extra' IN (from_key, to_key);
SELECT journey.connect('welcome', 'tips', 'nudge');
SELECT journey.disconnect('welcome', 'tips');
SELECT count(*) AS tips_links FROM journey.connections WHERE from_key = 'tips';

-- set_start
SELECT try($$SELECT journey.set_start('welcome', 'ghost')$$);
SELECT journey.set_start('welcome', 'wait');
SELECT journey.set_start('welcome', 'welcome');

-- entry triggers and exit rules
SELECT journey.add_entry_trigger('welcome', 'event', '{"event": "signed_up"}') AS position;
SELECT journey.add_entry_trigger('welcome', 'manual') AS position;
SELECT try($$SELECT journey.add_entry_trigger('welcome', 'telepathy', '{}')$$);
SELECT try($$SELECT journey.add_entry_trigger('welcome', 'event', '{"type": "event"}')$$);
SELECT journey.remove_entry_trigger('welcome', 2);
SELECT try($$SELECT journey.remove_entry_trigger('welcome', 5)$$);
SELECT journey.add_exit_rule('welcome', 'condition', '{"when": {"field": "unsubscribed", "op": "eq", "value": true}}') AS position;
SELECT journey.add_exit_rule('welcome', 'event', '{"event": "purchased"}', is_goal => true) AS position;
SELECT try($$SELECT journey.add_exit_rule('welcome', 'mood', '{}')$$);
SELECT try($$SELECT journey.add_exit_rule('welcome', 'event', '{"is_goal": true}')$$);
SELECT position, type, config, is_goal FROM journey.exit_rules r JOIN journey.journeys j ON j.id = r.journey_id
 WHERE j.name = 'welcome' ORDER BY position;

-- set_settings merges; null removes a key; invalid settings are refused whole
SELECT journey.set_settings('welcome', '{"reentry": "never", "timezone": "UTC", "holdout_percent": 10}');
SELECT journey.set_settings('welcome', '{"holdout_percent": null, "max_attempts": 3}');
SELECT try($$SELECT journey.set_settings('welcome', '{"reentry": "sometimes", "timezone": "Mars/Olympus"}')$$);
SELECT try($$SELECT journey.set_settings('welcome', '[]')$$);
SELECT v.settings FROM journey.versions v JOIN journey.journeys j ON j.id = v.journey_id WHERE j.name = 'welcome' AND v.status = 'draft';

-- templates
SELECT try($$SELECT journey.create_template('welcome', 'email', 's', 'b')$$);
SELECT try($$SELECT journey.create_template('broken', 'email', 'Hi {{name', 'b')$$);
SELECT try($$SELECT journey.create_template('nochannel', '', 's', 'b')$$);
SELECT try($$SELECT journey.create_template('nobody', 'email', 's', NULL)$$);
SELECT journey.create_template('tips', 'email', 'Tips, {{email}}', 'More tips', replace => true);
SELECT name, channel, subject, body FROM journey.templates ORDER BY name;

-- export: the journey JSON format
SELECT jsonb_pretty(journey.export('welcome'));
SELECT severity, step_key, message FROM journey.validate('welcome') ORDER BY 1, 2, 3;

-- publish freezes version 1; the first edit after it starts draft 2 from it
SELECT journey.publish('welcome') AS version;
CREATE TEMP TABLE v1_at_publish AS
  SELECT journey.export('welcome', 1) AS def,
         (SELECT jsonb_agg(jsonb_build_array(s.key, s.type, s.config) ORDER BY s.key)
            FROM journey.steps s JOIN journey.journeys j ON j.id = s.journey_id
           WHERE j.name = 'welcome' AND s.version = 1) AS steps,
         (SELECT jsonb_agg(jsonb_build_array(c.from_key, c.branch, c.to_key) ORDER BY c.from_key, c.branch)
            FROM journey.connections c JOIN journey.journeys j ON j.id = c.journey_id
           WHERE j.name = 'welcome' AND c.version = 1) AS connections;
SELECT jsonb_array_length(def->'steps') AS steps, jsonb_array_length(connections) AS connections
  FROM v1_at_publish;
SELECT version, status, definition IS NOT NULL AS frozen, published_by IS NOT NULL AS by
  FROM journey.versions v JOIN journey.journeys j ON j.id = v.journey_id WHERE j.name = 'welcome' ORDER BY 1;
SELECT journey.add_step('welcome', 'thanks', 'send_email', '{"template": "tips"}');
SELECT journey.connect('welcome', 'tips', 'thanks');
SELECT version, status FROM journey.versions v JOIN journey.journeys j ON j.id = v.journey_id
 WHERE j.name = 'welcome' ORDER BY 1;
-- the edits went to draft 2: version 1 (its frozen definition, its steps and
-- connections) is what it was at publish
SELECT journey.export('welcome', 1) = p.def AS v1_definition_unchanged,
       (SELECT jsonb_agg(jsonb_build_array(s.key, s.type, s.config) ORDER BY s.key)
          FROM journey.steps s JOIN journey.journeys j ON j.id = s.journey_id
         WHERE j.name = 'welcome' AND s.version = 1) = p.steps AS v1_steps_unchanged,
       (SELECT jsonb_agg(jsonb_build_array(c.from_key, c.branch, c.to_key) ORDER BY c.from_key, c.branch)
          FROM journey.connections c JOIN journey.journeys j ON j.id = c.journey_id
         WHERE j.name = 'welcome' AND c.version = 1) = p.connections AS v1_connections_unchanged
  FROM v1_at_publish p;
SELECT jsonb_array_length(journey.export('welcome', 1)->'steps') AS v1_steps,
       jsonb_array_length(journey.export('welcome', 2)->'steps') AS v2_steps,
       jsonb_array_length(journey.export('welcome')->'steps') AS latest_steps;
SELECT try($$SELECT journey.export('welcome', 9)$$);
SELECT journey.publish('welcome') AS version;
SELECT version, status FROM journey.versions v JOIN journey.journeys j ON j.id = v.journey_id
 WHERE j.name = 'welcome' ORDER BY 1;
SELECT state, published_version, settings FROM journey.journeys WHERE name = 'welcome';

-- import: round trip, replacing a draft, and every refusal
SELECT journey.import(journey.export('welcome') || '{"name": "welcome-copy"}') > 0 AS imported;
SELECT journey.export('welcome-copy') = journey.export('welcome') || '{"name": "welcome-copy"}' AS round_trip;
-- publishing the copy freezes exactly the draft it exported
CREATE TEMP TABLE copy_draft AS SELECT journey.export('welcome-copy') AS def;
SELECT journey.publish('welcome-copy') AS copy_version;
SELECT journey.export('welcome-copy', 1) = def AS frozen_as_exported FROM copy_draft;
SELECT journey.archive('welcome-copy');
CREATE TEMP TABLE spec AS SELECT '{"name": "spec-example", "audience": "public.customers",
 "settings": {"reentry": "never", "timezone": "UTC"},
 "entry": [{"type": "event", "event": "signed_up"}],
 "exit": [{"type": "condition", "when": {"field": "unsubscribed", "op": "eq", "value": true}, "is_goal": false}],
 "start": "welcome",
 "steps": [
   {"key": "welcome", "type": "send_email", "template": "welcome", "next": "wait"},
   {"key": "wait", "type": "wait_for_event", "event": "email_opened", "timeout": "3 days",
    "branches": {"event": "tips", "timeout": "nudge"}},
   {"key": "tips", "type": "send_email", "template": "tips"},
   {"key": "nudge", "type": "send_email", "template": "nudge"}]}'::jsonb AS def;
SELECT journey.import(def) > 0 AS imported FROM spec;
SELECT journey.export('spec-example') = def AS export_import_identity FROM spec;
SELECT journey.publish('spec-example') AS version;
SELECT journey.export('spec-example', 1) = def AS published_definition_identity FROM spec;
SELECT try($$SELECT journey.import('[]')$$);
SELECT try($$SELECT journey.import('{"audience": "customers"}')$$);
SELECT try($$SELECT journey.import('{"name": "n"}')$$);
SELECT try($$SELECT journey.import('{"name": "n", "audience": "pg_class"}')$$);
SELECT try($$SELECT journey.import('{"name": "n", "audience": "customers", "steps": {}}')$$);
SELECT try($$SELECT journey.import('{"name": "n", "audience": "customers", "settings": []}')$$);
SELECT try($$SELECT journey.import('{"name": "n", "audience": "customers", "steps": [{"type": "goal"}]}')$$);
SELECT try($$SELECT journey.import('{"name": "n", "audience": "customers", "steps": [{"key": "a", "type": "warp"}]}')$$);
SELECT try($$SELECT journey.import('{"name": "n", "audience": "customers", "steps": [{"key": "a", "type": "goal"}, {"key": "a", "type": "exit"}]}')$$);
SELECT try($$SELECT journey.import('{"name": "n", "audience": "customers", "steps": [{"key": "a", "type": "goal", "next": 5}]}')$$);
SELECT try($$SELECT journey.import('{"name": "n", "audience": "customers", "steps": [{"key": "a", "type": "goal", "next": "a", "branches": {"next": "a"}}]}')$$);
SELECT try($$SELECT journey.import('{"name": "n", "audience": "customers", "entry": [{"type": "dream"}]}')$$);
SELECT try($$SELECT journey.import('{"name": "n", "audience": "customers", "exit": [{"type": "event", "is_goal": "yes"}]}')$$);
SELECT count(*) AS no_half_imported_journey FROM journey.journeys WHERE name = 'n';
-- importing over an existing journey replaces its draft (not the published version)
SELECT journey.import('{"name": "welcome", "audience": "customers", "start": "only",
                        "steps": [{"key": "only", "type": "goal"}]}') = (SELECT id FROM journey.journeys WHERE name = 'welcome') AS same_id;
SELECT jsonb_array_length(journey.export('welcome')->'steps') AS draft_steps,
       jsonb_array_length(journey.export('welcome', 2)->'steps') AS published_steps;
CREATE TABLE other_people (id int PRIMARY KEY);
SELECT journey.register_audience('other_people', 'id');
SELECT try($$SELECT journey.import('{"name": "welcome", "audience": "other_people"}')$$);

-- drop_journey: only drafts that never went live, and archived journeys
SELECT try($$SELECT journey.drop_journey('welcome')$$);
SELECT journey.archive('spec-example');
SELECT journey.drop_journey('spec-example');
SELECT name FROM journey.journeys ORDER BY name;
SELECT journey.unregister_audience('other_people');
DROP TABLE other_people;
