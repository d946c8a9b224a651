-- API contract: every public function of SPEC section 7 (authoring and
-- lifecycle, and the runtime's track) with its signature, return type and
-- pinned search_path.
BEGIN;
SELECT plan(36);

SELECT has_function('journey', 'register_audience', ARRAY['regclass', 'name', 'name', 'name', 'jsonb']);
SELECT has_function('journey', 'unregister_audience', ARRAY['regclass']);
SELECT function_returns('journey', 'create_journey', ARRAY['text', 'regclass', 'text'], 'bigint');
SELECT has_function('journey', 'add_step', ARRAY['text', 'text', 'journey.step_type', 'jsonb']);
SELECT has_function('journey', 'connect', ARRAY['text', 'text', 'text', 'text']);
SELECT has_function('journey', 'disconnect', ARRAY['text', 'text', 'text']);
SELECT has_function('journey', 'remove_step', ARRAY['text', 'text']);
SELECT has_function('journey', 'set_start', ARRAY['text', 'text']);
SELECT function_returns('journey', 'add_entry_trigger', ARRAY['text', 'text', 'jsonb'], 'integer');
SELECT function_returns('journey', 'add_exit_rule', ARRAY['text', 'text', 'jsonb', 'boolean'], 'integer');
SELECT has_function('journey', 'remove_entry_trigger', ARRAY['text', 'integer']);
SELECT has_function('journey', 'remove_exit_rule', ARRAY['text', 'integer']);
SELECT function_returns('journey', 'set_settings', ARRAY['text', 'jsonb'], 'jsonb');
SELECT has_function('journey', 'create_template', ARRAY['text', 'text', 'text', 'text', 'boolean']);
SELECT function_returns('journey', 'import', ARRAY['jsonb'], 'bigint');
SELECT function_returns('journey', 'export', ARRAY['text', 'integer'], 'jsonb');
SELECT function_returns('journey', 'validate', ARRAY['text'], 'setof record');
SELECT function_returns('journey', 'validate_definition', ARRAY['jsonb', 'regrole'], 'setof record');
SELECT function_returns('journey', 'publish', ARRAY['text', 'boolean'], 'integer');
SELECT has_function('journey', 'pause', ARRAY['text']);
SELECT has_function('journey', 'resume', ARRAY['text', 'text']);
SELECT has_function('journey', 'archive', ARRAY['text']);
SELECT has_function('journey', 'drop_journey', ARRAY['text']);
SELECT function_returns('journey', 'to_mermaid', ARRAY['text', 'integer'], 'text');
SELECT function_returns('journey', 'to_dot', ARRAY['text', 'integer'], 'text');
SELECT function_returns('journey', 'track',
                        ARRAY['text', 'text', 'jsonb', 'timestamp with time zone', 'text', 'regclass'],
                        'bigint');
SELECT hasnt_function('journey', 'track', ARRAY['text', 'text', 'jsonb', 'timestamp with time zone', 'text'],
                      'track has no overload without audience (0.1''s signature is dropped)');

-- defaults a caller can rely on
SELECT is((SELECT pg_get_function_arguments('journey.publish(text,boolean)'::regprocedure)),
          'journey text, migrate boolean DEFAULT false', 'publish(journey, migrate => false)');
SELECT is((SELECT pg_get_function_arguments('journey.connect(text,text,text,text)'::regprocedure)),
          'journey text, from_key text, to_key text, branch text DEFAULT ''next''::text',
          'connect(..., branch => ''next'')');
SELECT is((SELECT pg_get_function_arguments('journey.track(text,text,jsonb,timestamptz,text,regclass)'::regprocedure)),
          'customer_id text, event text, properties jsonb DEFAULT ''{}''::jsonb, '
          'occurred_at timestamp with time zone DEFAULT now(), idempotency_key text DEFAULT NULL::text, '
          'audience regclass DEFAULT NULL::regclass',
          'track(customer_id, event, ..., audience => null): the 0.1 arguments keep their positions');
SELECT is((SELECT pg_get_function_result('journey.validate(text)'::regprocedure)),
          'TABLE(step_key text, severity text, message text)', 'validate returns (step_key, severity, message)');

-- every function pins search_path
SELECT is((SELECT count(*)::int FROM pg_proc p WHERE p.pronamespace = 'journey'::regnamespace
            AND p.prokind = 'f' AND p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c')
            AND p.oid <> 'journey.enroll_query(text,text)'::regprocedure
            AND p.oid <> 'journey.simulate(text,text,interval,integer)'::regprocedure
            AND NOT coalesce(p.proconfig::text LIKE '%search_path=%', false)), 0,
          'every SQL function of schema journey sets search_path (but enroll_query and simulate, which run the caller''s query)');
SELECT is((SELECT count(*)::int FROM pg_proc p WHERE p.pronamespace = 'journey'::regnamespace
            AND p.prosecdef AND NOT coalesce(p.proconfig::text LIKE '%pg_temp%', false)), 0,
          'SECURITY DEFINER functions put pg_temp last in search_path');
-- writers are SECURITY DEFINER (callers get no direct write access); readers are not
SELECT ok((SELECT prosecdef FROM pg_proc WHERE oid = 'journey.publish(text,boolean)'::regprocedure),
          'publish runs as the extension owner');
SELECT ok((SELECT NOT prosecdef FROM pg_proc WHERE oid = 'journey.export(text,integer)'::regprocedure),
          'export runs as the caller');
SELECT ok((SELECT NOT prosecdef FROM pg_proc WHERE oid = 'journey.validate(text)'::regprocedure),
          'validate runs as the caller');

SELECT * FROM finish();
ROLLBACK;
