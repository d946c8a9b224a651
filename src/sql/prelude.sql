-- Changing pg_journey's tables from the install and update scripts, on a
-- single node and on a distributed (Citus) install alike. First in every
-- script (the install's and each update's), so that an update's state file can
-- use it; docs/development.md, "Changing tables in scripts".
--
-- Why: on a Citus coordinator, a statement of an extension script that changes
-- a Citus table (ALTER TABLE, CREATE INDEX, CREATE TRIGGER, ...) is sent by
-- Citus to the shards and to the workers' copies of the table with the text of
-- the WHOLE script as its query text ("cannot insert multiple commands into a
-- prepared statement", docs/citus-notes.md section 11), and before the workers
-- have run their own script (Citus sends them ALTER EXTENSION UPDATE after the
-- coordinator's, in the same transaction, with DDL propagation off), so a new
-- trigger function does not exist there yet, and their script would run the
-- statement a second time. So every node changes its own copies, in its own
-- run of the script (journey._alter), and a data change runs once, from the
-- coordinator (journey._alter_rows).

-- Where rel stands on this node: 'worker' (a Citus table, and this node a
-- Citus worker), 'coordinator' (a Citus table, and this node the coordinator:
-- Citus group 0), 'local' (no Citus, or rel not a Citus table here).
CREATE OR REPLACE FUNCTION journey._citus_place(rel regclass) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  place text;
BEGIN
  IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
    RETURN 'local';
  END IF;
  -- Dynamic: without Citus the catalogs do not exist.
  EXECUTE $q$SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition
                                           WHERE logicalrelid = $1) THEN 'local'
                         WHEN (SELECT groupid FROM pg_catalog.pg_dist_local_group) = 0
                           THEN 'coordinator'
                         ELSE 'worker' END$q$
    INTO place USING rel;
  RETURN place;
END
$$;

-- Runs command, one DDL statement on the table rel (ALTER TABLE, CREATE INDEX,
-- CREATE OR REPLACE TRIGGER, ...; not DML), on this node's table and, on a
-- Citus install, on the shards of rel placed on this node (the coordinator's
-- placements of reference tables too), with Citus's DDL propagation off: every
-- node runs the update script (Citus sends ALTER EXTENSION UPDATE to each
-- worker, in the coordinator's transaction), so each changes its own copies,
-- after its script has created what the statement names (a trigger's new
-- function). worker_apply_shard_ddl_command is Citus's own way of applying a
-- statement to a shard (it gives index and trigger names the shard's suffix).
-- Triggers on Citus tables are pg_journey's own (they write co-located tables
-- only), hence citus.enable_unsafe_triggers.
CREATE OR REPLACE FUNCTION journey._alter(rel regclass, command text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp
SET citus.enable_ddl_propagation = off SET citus.enable_unsafe_triggers = on AS $$
DECLARE
  shard bigint;
BEGIN
  EXECUTE command;
  IF journey._citus_place(rel) = 'local' THEN
    RETURN;
  END IF;
  FOR shard IN EXECUTE $q$SELECT s.shardid FROM pg_catalog.pg_dist_shard s
                            JOIN pg_catalog.pg_dist_placement p ON p.shardid = s.shardid
                           WHERE s.logicalrelid = $1
                             AND p.groupid = (SELECT groupid FROM pg_catalog.pg_dist_local_group)
                           ORDER BY s.shardid$q$ USING rel LOOP
    EXECUTE 'SELECT pg_catalog.worker_apply_shard_ddl_command($1, $2, $3)'
      USING shard, (SELECT n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE c.oid = rel), command;
  END LOOP;
END
$$;

-- Runs command, one data change (UPDATE, INSERT, DELETE) of the table rel,
-- once: on a Citus install the coordinator's Citus runs it on every placement,
-- so a worker, running the script after the coordinator, skips it. It runs
-- before the workers' scripts: it may name only columns every node has before
-- the update (fill a new column by the DEFAULT of its ADD COLUMN instead).
CREATE OR REPLACE FUNCTION journey._alter_rows(rel regclass, command text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  IF journey._citus_place(rel) <> 'worker' THEN
    EXECUTE command;
  END IF;
END
$$;

REVOKE ALL ON FUNCTION journey._citus_place(regclass), journey._alter(regclass, text),
  journey._alter_rows(regclass, text) FROM PUBLIC;
