-- Role contract (SPEC section 9): journey_reader reads, journey_app runs,
-- journey_admin authors and publishes; PUBLIC gets nothing; writes to the
-- definition tables happen only through the functions.
BEGIN;
SELECT plan(31);

SELECT has_role(r) FROM unnest(ARRAY['journey_reader', 'journey_app', 'journey_admin']) r;
SELECT is_member_of('journey_reader', 'journey_app');
SELECT is_member_of('journey_app', 'journey_admin');
SELECT schema_privs_are('journey', 'journey_reader', ARRAY['USAGE']);
SELECT schema_privs_are('journey', 'public', ARRAY[]::text[]);

SELECT table_privs_are('journey', t, 'journey_reader', ARRAY['SELECT'], 'journey_reader reads journey.' || t)
  FROM unnest(ARRAY['journeys', 'versions', 'steps', 'templates']) t;
SELECT table_privs_are('journey', 'steps', 'journey_admin', ARRAY['SELECT'],
                       'journey_admin only reads journey.steps: writes go through the functions');

SELECT function_privs_are('journey', 'export', ARRAY['text', 'integer'], 'journey_reader', ARRAY['EXECUTE']);
SELECT function_privs_are('journey', 'validate', ARRAY['text'], 'journey_reader', ARRAY['EXECUTE']);
SELECT function_privs_are('journey', 'publish', ARRAY['text', 'boolean'], 'journey_reader', ARRAY[]::text[]);
SELECT function_privs_are('journey', 'publish', ARRAY['text', 'boolean'], 'journey_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('journey', 'import', ARRAY['jsonb'], 'public', ARRAY[]::text[]);
SELECT function_privs_are('journey', '_bridge_selftest', ARRAY['text'], 'journey_admin', ARRAY[]::text[]);
SELECT function_privs_are('journey', 'track',
                          ARRAY['text', 'text', 'jsonb', 'timestamp with time zone', 'text', 'regclass'],
                          'journey_app', ARRAY['EXECUTE']);
SELECT function_privs_are('journey', 'track',
                          ARRAY['text', 'text', 'jsonb', 'timestamp with time zone', 'text', 'regclass'],
                          'journey_reader', ARRAY[]::text[]);
SELECT function_privs_are('journey', 'run_due', ARRAY['integer', 'timestamp with time zone'],
                          'journey_app', ARRAY['EXECUTE']);
SELECT is((SELECT count(*)::int FROM pg_proc p WHERE p.pronamespace = 'journey'::regnamespace
            AND has_function_privilege('public', p.oid, 'EXECUTE')), 0,
          'PUBLIC may execute no function of schema journey');

-- Acting as real roles.
CREATE ROLE tap_admin IN ROLE journey_admin;
CREATE ROLE tap_reader IN ROLE journey_reader;
CREATE TABLE public.tap_customers (id int PRIMARY KEY, plan text);
GRANT SELECT ON public.tap_customers TO tap_admin;
SELECT journey.register_audience('public.tap_customers', 'id');
SELECT journey.create_template('tap_t', 'email', 's', 'b');

SET ROLE tap_admin;
SELECT lives_ok($$SELECT journey.create_journey('tap-j', 'public.tap_customers')$$, 'an admin creates a journey');
SELECT lives_ok($$SELECT journey.add_step('tap-j', 's', 'send_email', '{"template": "tap_t"}')$$, 'an admin adds a step');
SELECT throws_ok($$INSERT INTO journey.steps VALUES (1, 1, 'x', 'goal', '{}', 1)$$, '42501', NULL,
                 'an admin cannot write the definition tables directly');
SELECT lives_ok($$SELECT journey.publish('tap-j')$$, 'an admin publishes');
RESET ROLE;
SELECT is((SELECT owner::text FROM journey.journeys WHERE name = 'tap-j'), 'tap_admin',
          'the journey owner is the role that created it (not the function owner)');

SET ROLE tap_reader;
SELECT lives_ok($$SELECT journey.export('tap-j')$$, 'a reader exports');
SELECT lives_ok($$SELECT * FROM journey.validate('tap-j')$$, 'a reader validates');
SELECT throws_ok($$SELECT journey.pause('tap-j')$$, '42501', NULL, 'a reader cannot pause');
SELECT throws_ok($$SELECT journey.create_journey('tap-k', 'public.tap_customers')$$, '42501', NULL,
                 'a reader cannot create journeys');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
