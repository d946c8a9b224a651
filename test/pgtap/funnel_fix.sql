-- Issue 10, second pass: journey_reader runs the reports and the drawings
-- (the helpers they call are granted to it), reads journey.activity_hours,
-- and PUBLIC runs none of the helpers.
BEGIN;
SELECT plan(14);

SELECT function_privs_are('journey', f, a, 'journey_reader', ARRAY['EXECUTE'],
                          'journey_reader may run journey.' || f)
  FROM (VALUES ('_report_window', ARRAY['timestamp with time zone', 'timestamp with time zone']),
               ('_weighted_percentiles', ARRAY['bigint[]', 'bigint[]', 'double precision[]']),
               ('_canonical_id', ARRAY['regclass', 'text']),
               ('_visible', ARRAY['text'])) x(f, a);
SELECT function_privs_are('journey', '_count_activity', ARRAY[]::text[], 'journey_reader', ARRAY[]::text[],
                          'the roll-up trigger function is not the reader''s');
SELECT table_privs_are('journey', 'activity_hours', 'journey_reader', ARRAY['SELECT']);
SELECT table_privs_are('journey', 'activity_hours', 'public', ARRAY[]::text[]);

CREATE TABLE public.tap_ff_people (id int PRIMARY KEY, email text);
INSERT INTO public.tap_ff_people VALUES (7, 'p7@x.test');
SELECT journey.register_audience('public.tap_ff_people', 'id', 'email');
SELECT journey.import('{"name": "tap-ff", "audience": "public.tap_ff_people", "start": "a",
  "exit": [{"type": "event", "event": "x", "name": "tab\there"}],
  "steps": [{"key": "a", "type": "delay", "duration": "1 day"}]}');
SELECT journey.publish('tap-ff');
SELECT journey.enroll('tap-ff', '7');
GRANT SELECT ON public.tap_ff_people TO journey_reader;
SET LOCAL ROLE journey_reader;
SELECT is((SELECT now_at FROM journey.funnel('tap-ff', now() - interval '1 day', now() + interval '1 minute')),
          1::bigint, 'a reader runs funnel with a window');
SELECT is((SELECT count(*) FROM journey.customer_journeys('007', 'public.tap_ff_people')), 2::bigint,
          'a reader runs customer_journeys (the id read as the key)');
SELECT ok(position('tab\there' IN journey.to_mermaid('tap-ff')) > 0,
          'a reader draws (control characters written out)');
SELECT is((SELECT enrolled FROM journey.split_report('tap-ff', now() - interval '1 day',
                                                     now() + interval '1 minute')), 1::bigint,
          'a reader runs split_report with a window');
SELECT throws_ok($$SELECT * FROM journey.funnel('tap-ff', now(), now() - interval '1 day')$$, '22023',
                 NULL, 'a reversed window is refused');
SELECT lives_ok($$SELECT * FROM journey.activity_hours$$, 'a reader reads activity_hours');
RESET ROLE;
SELECT is((SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
            WHERE j.name = 'tap-ff'), 1::bigint, 'the enrollment is there');

SELECT * FROM finish();
ROLLBACK;
