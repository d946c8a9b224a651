-- API contract of editing in place, the journey list, diffs and the catalog
-- (src/sql/editing.sql): signatures, result types, who may call what, and the
-- canvas layout column.
BEGIN;
SELECT plan(31);

SELECT has_column('journey', 'steps', 'layout', 'steps.layout: the canvas position of a step');
SELECT col_type_is('journey', 'steps', 'layout', 'jsonb', 'steps.layout is jsonb');
SELECT col_is_null('journey', 'steps', 'layout', 'a step needs no position');

-- every edit returns the issues it introduced
SELECT is(pg_get_function_result(p::regprocedure), 'TABLE(step_key text, severity text, message text)',
          p || ' returns (step_key, severity, message)')
  FROM unnest(ARRAY['journey.set_step_config(text,text,jsonb)', 'journey.rename_step(text,text,text)',
                    'journey.move_connection(text,text,text,text,text,text)',
                    'journey.move_entry_trigger(text,int,int)', 'journey.move_exit_rule(text,int,int)',
                    'journey.set_entry_trigger(text,int,text,jsonb)',
                    'journey.set_exit_rule(text,int,text,jsonb,boolean)']) p;
SELECT is(pg_get_function_arguments('journey.move_connection(text,text,text,text,text,text)'::regprocedure),
          'journey text, from_key text, branch text, new_to_key text DEFAULT NULL::text, '
          'new_from_key text DEFAULT NULL::text, new_branch text DEFAULT NULL::text',
          'move_connection(journey, from_key, branch, new_to_key, new_from_key, new_branch)');
SELECT function_returns('journey', 'clone', ARRAY['text', 'text'], 'bigint');
SELECT function_returns('journey', 'set_layout', ARRAY['text', 'jsonb'], 'void');
SELECT function_returns('journey', 'discard_draft', ARRAY['text'], 'void');
SELECT function_returns('journey', 'catalog', ARRAY[]::text[], 'jsonb');
SELECT is(pg_get_function_arguments('journey.list(boolean)'::regprocedure),
          'include_archived boolean DEFAULT false', 'list(include_archived => false)');
SELECT is(pg_get_function_result('journey.diff(text,int,int)'::regprocedure),
          'TABLE(kind text, key text, change text, old jsonb, new jsonb)', 'diff returns (kind, key, change, old, new)');

-- writers run as the extension owner, readers as the caller
SELECT ok((SELECT prosecdef FROM pg_proc WHERE oid = p::regprocedure), p || ' is SECURITY DEFINER')
  FROM unnest(ARRAY['journey.set_step_config(text,text,jsonb)', 'journey.rename_step(text,text,text)',
                    'journey.set_layout(text,jsonb)', 'journey.clone(text,text)',
                    'journey.discard_draft(text)']) p;
SELECT ok((SELECT NOT prosecdef FROM pg_proc WHERE oid = 'journey.list(boolean)'::regprocedure),
          'list runs as the caller');
SELECT ok((SELECT NOT prosecdef FROM pg_proc WHERE oid = 'journey.diff(text,int,int)'::regprocedure),
          'diff runs as the caller');

SELECT function_privs_are('journey', 'list', ARRAY['boolean'], 'journey_reader', ARRAY['EXECUTE']);
SELECT function_privs_are('journey', 'catalog', ARRAY[]::text[], 'journey_reader', ARRAY['EXECUTE']);
SELECT function_privs_are('journey', 'diff', ARRAY['text', 'integer', 'integer'], 'journey_reader', ARRAY['EXECUTE']);
SELECT function_privs_are('journey', 'set_step_config', ARRAY['text', 'text', 'jsonb'], 'journey_reader', ARRAY[]::text[]);
SELECT function_privs_are('journey', 'set_step_config', ARRAY['text', 'text', 'jsonb'], 'journey_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('journey', 'clone', ARRAY['text', 'text'], 'journey_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('journey', 'set_layout', ARRAY['text', 'jsonb'], 'journey_app', ARRAY[]::text[]);

SELECT * FROM finish();
ROLLBACK;
