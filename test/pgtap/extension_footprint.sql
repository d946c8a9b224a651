-- What CREATE EXTENSION pg_journey creates outside the extension and what DROP
-- EXTENSION leaves (docs/operations.md, "What the extension creates outside
-- itself"). The drop is rolled back.
BEGIN;
SELECT plan(11);

-- Cluster-wide roles, not members of the extension.
SELECT has_role(r) FROM unnest(ARRAY['journey_reader', 'journey_app', 'journey_admin']) r;
SELECT is((SELECT count(*)::int FROM pg_depend d
            WHERE d.refclassid = 'pg_extension'::regclass
              AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_journey')
              AND d.classid = 'pg_authid'::regclass), 0,
          'the roles are not members of the extension');
-- The event triggers are members: they go with it.
SELECT is((SELECT count(*)::int FROM pg_event_trigger e JOIN pg_depend d
             ON d.classid = 'pg_event_trigger'::regclass AND d.objid = e.oid AND d.deptype = 'e'
            WHERE e.evtname LIKE 'pg_journey%'), 3,
          'its three event triggers are members of the extension');

CREATE TABLE tap_footprint (id int PRIMARY KEY, email text);
SELECT journey.register_audience('tap_footprint', 'id', 'email');
SELECT throws_ok('DROP EXTENSION pg_journey', '2BP01', NULL,
                 'DROP EXTENSION without CASCADE refuses while a table is registered');
SELECT lives_ok('DROP EXTENSION pg_journey CASCADE', 'DROP EXTENSION ... CASCADE');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'tap_footprint'::regclass), 0,
          'the registered table stays, without its triggers');
SELECT is((SELECT count(*)::int FROM pg_roles
            WHERE rolname IN ('journey_reader', 'journey_app', 'journey_admin')), 3,
          'the roles stay');
SELECT is((SELECT count(*)::int FROM pg_event_trigger WHERE evtname LIKE 'pg_journey%'), 0,
          'no event trigger stays');
SELECT is((SELECT count(*)::int FROM pg_class WHERE relnamespace = 'journey'::regnamespace)
          + (SELECT count(*)::int FROM pg_proc WHERE pronamespace = 'journey'::regnamespace), 0,
          'schema journey stays, empty');

SELECT * FROM finish();
ROLLBACK;
