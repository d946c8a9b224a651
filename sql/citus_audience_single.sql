-- The id layout journey.distribute gives a distributed install (docs/scale-out.md,
-- "Ids on a distributed install": node ranges (group << shift) + n), decided on the
-- coordinator before anything changes: 42 bits a node on a first call (ids below 2^53
-- up to group 2047); an install an earlier build distributed (runtime tables
-- distributed, the coordinator's sequences not lowered) keeps its 48; a layout a call
-- recorded (the coordinator's sequences lowered to (1 << shift) - 1) is kept.
-- test/citus/audience.sh runs it on a Citus cluster.
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT journey._citus_id_shift(false) AS first_call, journey._citus_id_shift(true) AS distributed_before;
SELECT journey._citus_runtime_sequences()::text AS sequences ORDER BY 1;
BEGIN;
ALTER SEQUENCE journey.enrollments_id_seq MAXVALUE 4398046511103;
SELECT journey._citus_id_shift(true) AS recorded_42;
ROLLBACK;
BEGIN;
ALTER SEQUENCE journey.enrollments_id_seq MAXVALUE 281474976710655;
SELECT journey._citus_id_shift(false) AS recorded_48;
ROLLBACK;
-- Without Citus, register_audience has nothing to check of the table's distribution:
-- a local table is an audience, as before.
CREATE TABLE cau_leads (id text PRIMARY KEY, email text);
SELECT journey.register_audience('cau_leads', 'id', 'email');
SELECT relation, key_column, email_column FROM journey.audiences WHERE relation = 'cau_leads'::regclass;
SELECT journey.unregister_audience('cau_leads');
DROP TABLE cau_leads;
