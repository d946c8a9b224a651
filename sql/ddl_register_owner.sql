-- Registering an audience needs ownership of the table: a registered table is
-- guarded against DROP and ALTER, so a journey_admin with only TRIGGER on
-- another role's table must not be able to lock its owner out. Unregistering
-- needs ownership too.
\set SHOW_CONTEXT never
CREATE ROLE regress_ddl_owner;
CREATE ROLE regress_ddl_admin IN ROLE journey_admin;
CREATE TABLE ddl_owned (id int PRIMARY KEY, email text);
ALTER TABLE ddl_owned OWNER TO regress_ddl_owner;
GRANT SELECT, TRIGGER ON ddl_owned TO regress_ddl_admin;

-- SELECT and TRIGGER are not enough.
SET ROLE regress_ddl_admin;
SELECT try($$SELECT journey.register_audience('ddl_owned', 'id')$$);
RESET ROLE;
SELECT count(*) AS registered FROM journey.audiences WHERE relation = 'ddl_owned'::regclass;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'ddl_owned'::regclass;

-- A member of the owning role may (as for ALTER TABLE), and may register again.
GRANT regress_ddl_owner TO regress_ddl_admin;
SET ROLE regress_ddl_admin;
SELECT journey.register_audience('ddl_owned', 'id');
SELECT journey.register_audience('ddl_owned', 'id', 'email');
RESET ROLE;
SELECT relation, key_column, email_column, registered_by FROM journey.audiences
 WHERE relation = 'ddl_owned'::regclass;

-- Once that membership ends, neither re-registering nor unregistering is allowed.
REVOKE regress_ddl_owner FROM regress_ddl_admin;
SET ROLE regress_ddl_admin;
SELECT try($$SELECT journey.register_audience('ddl_owned', 'id')$$);
SELECT try($$SELECT journey.unregister_audience('ddl_owned')$$);
RESET ROLE;
-- The owner's side: a superuser (or the owner, through journey_admin) unregisters.
GRANT journey_admin TO regress_ddl_owner;
SET ROLE regress_ddl_owner;
SELECT journey.unregister_audience('ddl_owned');
DROP TABLE ddl_owned;
RESET ROLE;
REVOKE journey_admin FROM regress_ddl_owner;
DROP ROLE regress_ddl_admin;
DROP ROLE regress_ddl_owner;
