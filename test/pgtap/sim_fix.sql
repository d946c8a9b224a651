-- Issue 10, the simulate probe (F11): journey_reader runs journey.simulate
-- (through journey._simulate_checked, which makes every check simulate makes)
-- but not journey._simulate, which would skip them, nor the C helpers; PUBLIC
-- runs none of them.
BEGIN;
SELECT plan(12);

SELECT function_privs_are('journey', f, a, 'journey_reader', ARRAY['EXECUTE'],
                          'journey_reader may run journey.' || f)
  FROM (VALUES ('simulate', ARRAY['text', 'text', 'interval', 'integer']),
               ('_simulate_checked', ARRAY['text', 'text', 'interval', 'integer', 'text'])) x(f, a);
SELECT function_privs_are('journey', f, a, r, ARRAY[]::text[],
                          r || ' may not run journey.' || f)
  FROM (VALUES ('_simulate', ARRAY['bigint', 'text[]', 'interval', 'integer', 'jsonb']),
               ('_simulate_run', ARRAY['bigint', 'integer', 'text', 'timestamp with time zone']),
               ('_customer_keys', ARRAY['text', 'text']),
               ('_simulation_check', ARRAY[]::text[])) x(f, a),
       (VALUES ('journey_reader'), ('public')) y(r);
SELECT function_privs_are('journey', '_simulate_checked', ARRAY['text', 'text', 'interval', 'integer', 'text'],
                          'public', ARRAY[]::text[], 'public may not run journey._simulate_checked');
SELECT ok((SELECT prosecdef FROM pg_proc
            WHERE oid = 'journey._simulate_checked(text,text,interval,integer,text)'::regprocedure),
          '_simulate_checked runs as the extension owner');

SELECT * FROM finish();
ROLLBACK;
