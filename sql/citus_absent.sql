-- journey.distribute without Citus: refused with 0A000 and a hint, nothing
-- changed. The layout it would apply is computed from the catalog: tables with
-- a customer_id column are distributed by it, the others are reference tables,
-- and the keys that lack customer_id are the ones it rewrites (test/citus/
-- runs the conversion itself on a Citus cluster: make test-citus).
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE TABLE ca_customers (id text PRIMARY KEY, email text);
SELECT journey.register_audience('ca_customers', 'id', 'email');
SELECT journey.distribute('ca_customers');
SELECT count(*) AS keys_unchanged FROM pg_constraint
 WHERE conrelid = 'journey.enrollments'::regclass AND conname = 'enrollments_pkey'
   AND pg_get_constraintdef(oid) = 'PRIMARY KEY (id)';
SELECT rel, kind FROM journey._citus_layout();
SELECT journey._citus_prepare_ddl() AS ddl ORDER BY 1;
-- Only a superuser may call it (PUBLIC has no EXECUTE).
SELECT has_function_privilege('journey_admin', 'journey.distribute(regclass)', 'EXECUTE') AS admin_may;
SELECT journey.unregister_audience('ca_customers');
DROP TABLE ca_customers;
