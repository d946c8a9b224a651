-- Delivery API contract (docs/delivery.md): signatures of recipients,
-- suppressions, message events and preview, and who may call them:
-- journey_admin sets recipients, journey_app reports engagement and manages
-- suppressions, journey_reader lists them; PUBLIC nothing.
BEGIN;
SELECT plan(29);

SELECT function_returns('journey', 'set_recipients', ARRAY['regclass', 'jsonb'], 'void');
SELECT hasnt_function('journey', 'register_audience', ARRAY['regclass', 'name', 'name', 'name'],
                      'register_audience has no 0.1 overload without recipients');
SELECT is((SELECT pg_get_function_arguments(
             'journey.register_audience(regclass,name,name,name,jsonb)'::regprocedure)),
          'relation regclass, key_column name, email_column name DEFAULT NULL::name, '
          'timezone_column name DEFAULT NULL::name, recipients jsonb DEFAULT NULL::jsonb',
          'register_audience(relation, key_column, email_column, timezone_column, recipients)');
SELECT function_returns('journey', 'add_suppression', ARRAY['text', 'text', 'text', 'text', 'regclass'],
                        'boolean');
SELECT function_returns('journey', 'remove_suppression', ARRAY['text', 'text', 'regclass'], 'bigint');
SELECT function_returns('journey', 'list_suppressions', ARRAY['text', 'text'], 'setof journey.suppressions');
SELECT function_returns('journey', 'message_event',
                        ARRAY['bigint', 'text', 'jsonb', 'timestamp with time zone'], 'bigint');
SELECT is((SELECT pg_get_function_arguments(
             'journey.message_event(bigint,text,jsonb,timestamptz)'::regprocedure)),
          'message_id bigint, kind text, properties jsonb DEFAULT ''{}''::jsonb, '
          'occurred_at timestamp with time zone DEFAULT now()',
          'message_event(message_id, kind, properties => ''{}'', occurred_at => now())');
SELECT function_returns('journey', 'preview', ARRAY['text', 'text', 'text', 'jsonb', 'jsonb', 'integer'],
                        'setof record');
SELECT function_privs_are('journey', 'preview', ARRAY['text', 'text', 'text', 'jsonb', 'jsonb', 'integer'],
                          'journey_reader', ARRAY['EXECUTE']);
SELECT has_column('journey', 'messages', 'recipient', 'messages carry their recipient');
SELECT is((SELECT max(attnum) FROM pg_attribute
            WHERE attrelid = 'journey.messages'::regclass AND NOT attisdropped AND attnum > 0),
          (SELECT attnum FROM pg_attribute
            WHERE attrelid = 'journey.messages'::regclass AND attname = 'recipient'),
          'recipient is the last column of journey.messages');
SELECT has_column('journey', 'audiences', 'recipients', 'audiences map channels to recipient columns');
SELECT has_table('journey', 'suppressions', 'table journey.suppressions');
SELECT has_table('journey', 'message_events', 'table journey.message_events');
SELECT ok(EXISTS (SELECT 1 FROM pg_extension e WHERE e.extname = 'pg_journey'
                    AND 'journey.suppressions'::regclass = ANY (e.extconfig)),
          'suppressions are dumped with the data (pg_extension_config_dump)');
SELECT ok(EXISTS (SELECT 1 FROM pg_extension e WHERE e.extname = 'pg_journey'
                    AND 'journey.message_events'::regclass = ANY (e.extconfig)),
          'message events are dumped with the data');

SELECT function_privs_are('journey', 'set_recipients', ARRAY['regclass', 'jsonb'],
                          'journey_app', ARRAY[]::text[]);
SELECT function_privs_are('journey', 'set_recipients', ARRAY['regclass', 'jsonb'],
                          'journey_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('journey', 'message_event',
                          ARRAY['bigint', 'text', 'jsonb', 'timestamp with time zone'],
                          'journey_app', ARRAY['EXECUTE']);
SELECT function_privs_are('journey', 'message_event',
                          ARRAY['bigint', 'text', 'jsonb', 'timestamp with time zone'],
                          'journey_reader', ARRAY[]::text[]);
SELECT function_privs_are('journey', 'add_suppression', ARRAY['text', 'text', 'text', 'text', 'regclass'],
                          'journey_app', ARRAY['EXECUTE']);
SELECT function_privs_are('journey', 'add_suppression', ARRAY['text', 'text', 'text', 'text', 'regclass'],
                          'journey_reader', ARRAY[]::text[]);
SELECT function_privs_are('journey', 'remove_suppression', ARRAY['text', 'text', 'regclass'],
                          'journey_app', ARRAY['EXECUTE']);
SELECT function_privs_are('journey', 'list_suppressions', ARRAY['text', 'text'],
                          'journey_reader', ARRAY['EXECUTE']);
SELECT table_privs_are('journey', 'suppressions', 'journey_app', ARRAY['SELECT'],
                       'apps change suppressions only through the functions');
SELECT table_privs_are('journey', 'message_events', 'journey_reader', ARRAY['SELECT']);
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'journey'
              AND p.proname IN ('_suppression', '_add_suppression', '_message_event',
                                '_set_recipients', '_invalidate_audience', 'set_recipients',
                                'add_suppression', 'remove_suppression', 'list_suppressions',
                                'message_event', 'preview')
              AND has_function_privilege('public', p.oid, 'EXECUTE')), 0,
          'PUBLIC may execute none of the delivery functions');

-- An app cannot forge suppressions or engagement through the tables.
CREATE ROLE tap_deliv_app IN ROLE journey_app;
SET ROLE tap_deliv_app;
SELECT throws_ok($$INSERT INTO journey.suppressions (audience, customer_id, reason)
                   VALUES ('journey.journeys', '1', 'x')$$, '42501');
RESET ROLE;
SELECT * FROM finish();
ROLLBACK;
