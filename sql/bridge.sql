-- The error bridge, both directions: C++ exceptions become PostgreSQL errors
-- with their SQLSTATE; PostgreSQL errors inside C++ unwind C++ frames
-- (destructors run) and reach the client unchanged.
\set SHOW_CONTEXT never
SELECT journey._bridge_selftest('ok');
SELECT try($$SELECT journey._bridge_selftest('cpp_error')$$);
SELECT try($$SELECT journey._bridge_selftest('std_error')$$);
SELECT journey._bridge_selftest('destructor_runs') AS before;
SELECT try($$SELECT journey._bridge_selftest('pg_error')$$);
SELECT journey._bridge_selftest('destructor_runs') AS after;
SELECT try($$SELECT journey._bridge_selftest('no such mode')$$);
-- The session is healthy after every kind of error.
SELECT journey._bridge_selftest('ok');
-- Not callable by ordinary users.
SELECT has_function_privilege('journey_app', 'journey._bridge_selftest(text)', 'EXECUTE');
-- Shown as the client sees it: message, detail and hint.
SELECT journey._bridge_selftest('cpp_error');
SELECT journey._bridge_selftest('pg_error');
