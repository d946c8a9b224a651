-- Installing pg_journey changes nothing for roles outside journey_*: every
-- event trigger of the extension (pg_journey_guard_audience_drop on sql_drop,
-- pg_journey_guard_audience_alter on ddl_command_end, pg_journey_drop_extension
-- on ddl_command_start) runs when an ordinary role creates, alters and drops
-- its own tables, views, functions, types, schemas and extensions, and none of
-- them may fail for lack of a privilege on schema journey. A registered table
-- of that role is guarded with the guard's own error, never a permission error.
BEGIN;
SELECT plan(32);

CREATE ROLE ddl_plain;
GRANT CREATE ON SCHEMA public TO ddl_plain;
SELECT format('GRANT CREATE ON DATABASE %I TO ddl_plain', current_database()) AS grant_db \gset
:grant_db;
SELECT ok(NOT pg_has_role('ddl_plain', r, 'MEMBER'), 'ddl_plain is not a member of ' || r)
  FROM unnest(ARRAY['journey_reader', 'journey_app', 'journey_admin']) r;
SELECT ok(NOT has_schema_privilege('ddl_plain', 'journey', 'USAGE'),
          'ddl_plain has no privilege on schema journey');

SET ROLE ddl_plain;
-- Tables.
SELECT lives_ok($$CREATE TABLE public.ddl_t (x int, y text)$$, 'CREATE TABLE');
SELECT lives_ok($$ALTER TABLE public.ddl_t ADD COLUMN z int$$, 'ALTER TABLE ADD COLUMN');
SELECT lives_ok($$ALTER TABLE public.ddl_t RENAME COLUMN y TO y2$$, 'ALTER TABLE RENAME COLUMN');
SELECT lives_ok($$ALTER TABLE public.ddl_t ALTER COLUMN z TYPE bigint$$, 'ALTER TABLE ALTER COLUMN TYPE');
SELECT lives_ok($$ALTER TABLE public.ddl_t DROP COLUMN z$$, 'ALTER TABLE DROP COLUMN');
SELECT lives_ok($$ALTER TABLE public.ddl_t RENAME TO ddl_t2$$, 'ALTER TABLE RENAME');
SELECT lives_ok($$CREATE INDEX ddl_t2_x ON public.ddl_t2 (x)$$, 'CREATE INDEX');
SELECT lives_ok($$DROP INDEX public.ddl_t2_x$$, 'DROP INDEX');
SELECT lives_ok($$DROP TABLE public.ddl_t2$$, 'DROP TABLE');
-- Views.
SELECT lives_ok($$CREATE VIEW public.ddl_v AS SELECT 1 AS one$$, 'CREATE VIEW');
SELECT lives_ok($$ALTER VIEW public.ddl_v RENAME TO ddl_v2$$, 'ALTER VIEW RENAME');
SELECT lives_ok($$DROP VIEW public.ddl_v2$$, 'DROP VIEW');
-- Functions.
SELECT lives_ok($$CREATE FUNCTION public.ddl_f() RETURNS int LANGUAGE sql AS 'SELECT 1'$$, 'CREATE FUNCTION');
SELECT lives_ok($$ALTER FUNCTION public.ddl_f() RENAME TO ddl_f2$$, 'ALTER FUNCTION RENAME');
SELECT lives_ok($$DROP FUNCTION public.ddl_f2()$$, 'DROP FUNCTION');
-- A column dropped by a cascade (sql_drop sees a 'table column' outside ALTER TABLE).
SELECT lives_ok($$CREATE DOMAIN public.ddl_d AS int; CREATE TABLE public.ddl_u (id int, d public.ddl_d)$$,
                'CREATE DOMAIN and a table using it');
SELECT lives_ok($$DROP DOMAIN public.ddl_d CASCADE$$, 'DROP DOMAIN CASCADE drops a column');
SELECT lives_ok($$DROP TABLE public.ddl_u$$, 'DROP TABLE again');
-- Schemas and (trusted) extensions: DROP EXTENSION fires pg_journey_drop_extension.
SELECT lives_ok($$CREATE SCHEMA ddl_s; CREATE TABLE ddl_s.t (x int); CREATE VIEW ddl_s.v AS SELECT * FROM ddl_s.t$$,
                'CREATE SCHEMA with a table and a view');
SELECT lives_ok($$DROP SCHEMA ddl_s CASCADE$$, 'DROP SCHEMA CASCADE');
SELECT lives_ok($$CREATE EXTENSION citext SCHEMA public$$, 'CREATE EXTENSION (trusted)');
SELECT lives_ok($$DROP EXTENSION citext$$, 'DROP EXTENSION of another extension');

-- A table of ddl_plain registered as an audience (by an administrator) with a
-- live journey that reads its column "plan".
SELECT lives_ok($$CREATE TABLE public.ddl_customers (id int PRIMARY KEY, email text, plan text, note text)$$,
                'CREATE TABLE (to be registered)');
RESET ROLE;
SELECT journey.register_audience('public.ddl_customers', 'id', 'email');
SELECT journey.create_template('ddl_t', 'email', 's', 'b');
SELECT journey.import('{"name": "ddl-j", "audience": "public.ddl_customers", "start": "s",
  "exit": [{"type": "condition", "when": {"field": "plan", "op": "eq", "value": "gone"}}],
  "steps": [{"key": "s", "type": "send_email", "template": "ddl_t"}]}');
SELECT journey.publish('ddl-j');
SET ROLE ddl_plain;
SELECT lives_ok($$ALTER TABLE public.ddl_customers ADD COLUMN extra int$$,
                'ALTER TABLE ADD COLUMN of a registered table');
SELECT lives_ok($$ALTER TABLE public.ddl_customers RENAME COLUMN note TO remark$$,
                'renaming a column no journey reads');
SELECT lives_ok($$INSERT INTO public.ddl_customers (id, email, plan) VALUES (1, 'a@x.test', 'free');
                  UPDATE public.ddl_customers SET plan = 'pro'$$,
                'ddl_plain writes its registered table');
SELECT throws_ok($$ALTER TABLE public.ddl_customers RENAME COLUMN plan TO tier$$, '2BP01', NULL,
                 'renaming the column a live journey reads is refused by the guard (not 42501)');
SELECT throws_ok($$DROP TABLE public.ddl_customers$$, '2BP01', NULL,
                 'dropping the registered table is refused by the guard (not 42501)');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
