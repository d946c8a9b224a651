-- Schema contract: schema, types, tables, columns and keys of SPEC sections 2 and 3.
BEGIN;
SELECT plan(41);

SELECT has_schema('journey');
SELECT has_extension('pg_journey');
SELECT enum_has_labels('journey', 'journey_state', ARRAY['draft', 'published', 'paused', 'archived']);
SELECT enum_has_labels('journey', 'enrollment_status', ARRAY['active', 'completed', 'exited', 'failed']);
SELECT enum_has_labels('journey', 'step_type', ARRAY['send_email', 'send', 'delay', 'wait_for_event',
  'wait_until', 'condition', 'branch', 'split', 'update_field', 'call', 'goal', 'exit']);
SELECT enum_has_labels('journey', 'version_status', ARRAY['draft', 'published', 'retired']);

SELECT has_table('journey', t, 'table journey.' || t) FROM unnest(ARRAY['audiences', 'journeys',
  'versions', 'steps', 'connections', 'entry_triggers', 'exit_rules', 'templates']) t;

SELECT columns_are('journey', 'audiences', ARRAY['relation', 'key_column', 'email_column',
  'timezone_column', 'registered_at', 'registered_by', 'recipients', 'id'], 'columns of journey.audiences');
SELECT col_type_is('journey', 'audiences', 'relation', 'regclass', 'audiences.relation is regclass');
SELECT col_type_is('journey', 'audiences', 'key_column', 'name', 'audiences.key_column is name');
SELECT col_type_is('journey', 'journeys', 'state', 'journey.journey_state', 'journeys.state is journey.journey_state');
SELECT col_type_is('journey', 'journeys', 'settings', 'jsonb', 'journeys.settings is jsonb');
SELECT col_type_is('journey', 'journeys', 'audience', 'regclass', 'journeys.audience is regclass');
SELECT has_column('journey', 'journeys', c, 'journeys.' || c) FROM unnest(ARRAY['id', 'name',
  'description', 'published_version', 'created_at', 'updated_at']) c;
SELECT col_is_unique('journey', 'journeys', ARRAY['name'], 'journey names are unique');
SELECT col_is_pk('journey', 'versions', ARRAY['journey_id', 'version'], 'primary key of versions');
SELECT col_type_is('journey', 'versions', 'status', 'journey.version_status', 'versions.status is journey.version_status');
SELECT col_type_is('journey', 'versions', 'definition', 'jsonb', 'versions.definition is jsonb');
SELECT col_is_pk('journey', 'steps', ARRAY['journey_id', 'version', 'key'], 'primary key of steps');
SELECT col_type_is('journey', 'steps', 'type', 'journey.step_type', 'steps.type is journey.step_type');
SELECT col_type_is('journey', 'steps', 'config', 'jsonb', 'steps.config is jsonb');
SELECT col_is_pk('journey', 'connections', ARRAY['journey_id', 'version', 'from_key', 'branch'], 'primary key of connections');
SELECT has_column('journey', 'connections', 'to_key', 'connections.to_key');
SELECT col_type_is('journey', 'exit_rules', 'is_goal', 'boolean', 'exit_rules.is_goal is boolean');
SELECT col_is_pk('journey', 'templates', 'name', 'primary key of templates');
SELECT has_column('journey', 'templates', c, 'templates.' || c) FROM unnest(ARRAY['channel', 'subject', 'body']) c;

-- user data survives pg_dump: every table is a configuration table of the extension
SELECT set_eq($$SELECT c::regclass::text FROM pg_extension e, unnest(e.extconfig) c
                 WHERE e.extname = 'pg_journey'$$,
              ARRAY['journey.audiences', 'journey.journeys', 'journey.journeys_id_seq',
                    'journey.versions', 'journey.steps', 'journey.connections',
                    'journey.entry_triggers', 'journey.exit_rules', 'journey.templates',
                    'journey.enrollments', 'journey.enrollments_id_seq', 'journey.activity',
                    'journey.events', 'journey.events_id_seq',
                    'journey.segment_members', 'journey.scheduled_runs',
                    'journey.messages', 'journey.messages_id_seq',
                    'journey.trigger_runs', 'journey.trigger_runs_id_seq',
                    'journey.suppressions', 'journey.suppressions_id_seq',
                    'journey.message_events', 'journey.message_events_id_seq'],
              'every user-data table and its id sequence is dumped by pg_dump');

SELECT * FROM finish();
ROLLBACK;
