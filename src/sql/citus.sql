-- Scale-out on Citus (docs/scale-out.md): journey.distribute() turns a single-node
-- install into the distributed layout on a Citus coordinator. Nothing here runs
-- unless it is called; without Citus the schema is the single-node one.
--
-- Layout: the audience distributed by its key; every journey table with a
-- customer_id column (enrollments, activity, events, messages, segment_members,
-- suppressions, message_events) distributed by customer_id and co-located with
-- the audience; every other journey table (the definitions) a reference table.
-- Citus needs the distribution column in every primary key and unique
-- constraint: those of the distributed tables get customer_id as their first
-- column (same constraint names), on the distributed install only.

-- The journey tables and their place in the layout: 'distributed' (they have a
-- customer_id column) or 'reference'.
CREATE OR REPLACE FUNCTION journey._citus_layout()
RETURNS TABLE (rel regclass, kind text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT c.oid::regclass,
         CASE WHEN EXISTS (SELECT 1 FROM pg_attribute a
                            WHERE a.attrelid = c.oid AND a.attname = 'customer_id'
                              AND NOT a.attisdropped)
              THEN 'distributed' ELSE 'reference' END
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
    JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'pg_journey'
   WHERE n.nspname = 'journey' AND c.relkind = 'r'
   ORDER BY c.relname
$$;

-- The DDL that makes the journey tables distributable, as statements that are
-- run on every node (the workers' copies of the extension's tables become the
-- shell tables of the distributed ones, so they must match): drop the foreign
-- keys between journey tables, and put customer_id first in the primary keys and
-- unique constraints of the tables distributed by customer. Empty once done.
-- Without p_foreign_keys, the keys only (a node added to a distributed install,
-- whose shell tables keep their foreign keys like every other node's).
CREATE OR REPLACE FUNCTION journey._citus_prepare_ddl(p_foreign_keys boolean DEFAULT true)
RETURNS SETOF text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', k.conrelid::regclass, k.conname)
    FROM pg_constraint k
    JOIN journey._citus_layout() l ON l.rel = k.conrelid
   WHERE p_foreign_keys
     AND k.contype = 'f' AND k.confrelid IN (SELECT rel FROM journey._citus_layout())
  UNION ALL
  SELECT format('ALTER TABLE %s DROP CONSTRAINT %I, ADD CONSTRAINT %I %s (customer_id, %s)',
                k.conrelid::regclass, k.conname, k.conname,
                CASE k.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END,
                (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY o)
                   FROM unnest(k.conkey) WITH ORDINALITY u(attnum, o)
                   JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum))
    FROM pg_constraint k
    JOIN journey._citus_layout() l ON l.rel = k.conrelid AND l.kind = 'distributed'
   WHERE k.contype IN ('p', 'u')
     AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                      WHERE a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey)
                        AND a.attname = 'customer_id')
$$;

-- What journey.distribute(audience) refuses (see there), each with its
-- SQLSTATE; returns the audience's row.
CREATE OR REPLACE FUNCTION journey._citus_distribute_checks(audience regclass)
RETURNS journey.audiences
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  a journey.audiences;
  other record;
  stmt text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
    RAISE EXCEPTION 'cannot distribute audience %: extension "citus" is not installed in this database',
      _citus_distribute_checks.audience
      USING ERRCODE = '0A000',
            HINT = 'install Citus (postgresql-15-citus-13.2), put citus first in shared_preload_libraries, '
                   'run CREATE EXTENSION citus and add the worker nodes (docs/scale-out.md)';
  END IF;
  IF NOT citus_is_coordinator() THEN
    RAISE EXCEPTION 'cannot distribute audience %: this node is not the Citus coordinator',
      _citus_distribute_checks.audience
      USING ERRCODE = '55000', HINT = 'call journey.distribute on the coordinator';
  END IF;
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RAISE EXCEPTION 'permission denied to distribute audience %', _citus_distribute_checks.audience
      USING ERRCODE = '42501',
            DETAIL = 'journey.distribute changes the keys of pg_journey''s tables on every node',
            HINT = 'call it as a superuser';
  END IF;
  SELECT * INTO a FROM journey.audiences x WHERE x.relation = _citus_distribute_checks.audience;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'cannot distribute audience %: it is not a registered audience', _citus_distribute_checks.audience
      USING ERRCODE = '42704', HINT = 'register it with journey.register_audience first';
  END IF;
  -- Every registered audience is distributed, co-located with this one: the
  -- journey tables hold the customers of all of them, and a reference table
  -- row naming an audience must name a table that exists on every node.
  FOR other IN SELECT x.*, t.atttypid::regtype AS key_type, p.partmethod,
                      CASE WHEN p.partmethod = 'h'
                           THEN column_to_column_name(p.logicalrelid, p.partkey) END AS column_name
                 FROM journey.audiences x
                 JOIN pg_attribute t ON t.attrelid = x.relation AND t.attname = x.key_column
                 LEFT JOIN pg_dist_partition p ON p.logicalrelid = x.relation
                ORDER BY x.relation = _citus_distribute_checks.audience DESC, x.relation::text LOOP
    IF other.key_type <> 'text'::regtype THEN
      RAISE EXCEPTION 'cannot distribute audience %: % key column "%" is %, not text', _citus_distribute_checks.audience,
        CASE WHEN other.relation = _citus_distribute_checks.audience THEN 'its'
             ELSE format('the registered audience %s has its', other.relation) END,
        other.key_column, other.key_type
        USING ERRCODE = '42804',
              DETAIL = 'Citus co-locates only tables whose distribution columns have the same type, '
                       'and pg_journey''s customer_id columns are text',
              HINT = 'key every audience by text (e.g. a text copy of the id as key column), '
                     'or unregister the audiences that are not';
    END IF;
    IF other.partmethod IS NOT NULL
       AND (other.partmethod <> 'h' OR other.column_name <> other.key_column) THEN
      RAISE EXCEPTION 'cannot distribute audience %: % is already a Citus table, not distributed by its key "%"',
        _citus_distribute_checks.audience, other.relation, other.key_column
        USING ERRCODE = '55000',
              DETAIL = 'the journey tables are distributed by customer_id, co-located with each audience by its key',
              HINT = 'undistribute_table() it, or distribute it by its key column';
    END IF;
  END LOOP;
  -- Unique indexes that are not constraints cannot be rewritten here: they must
  -- already include customer_id.
  SELECT format('%s (%s)', i.indexrelid::regclass, pg_get_indexdef(i.indexrelid)) INTO stmt
    FROM pg_index i
    JOIN journey._citus_layout() l ON l.rel = i.indrelid AND l.kind = 'distributed'
   WHERE i.indisunique
     AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
     AND NOT EXISTS (SELECT 1 FROM pg_attribute t
                      WHERE t.attrelid = i.indrelid AND t.attnum = ANY (i.indkey)
                        AND t.attname = 'customer_id')
   LIMIT 1;
  IF stmt IS NOT NULL THEN
    RAISE EXCEPTION 'cannot distribute audience %: unique index % does not include customer_id',
      _citus_distribute_checks.audience, stmt
      USING ERRCODE = '0A000',
            DETAIL = 'Citus enforces uniqueness only on keys that include the distribution column';
  END IF;

  RETURN a;
END
$$;

-- The id layout of a distributed install (docs/scale-out.md, "Ids on a
-- distributed install"): the runtime tables' sequences of the node of Citus
-- group g hand out (g << shift) + 1 up to ((g + 1) << shift) - 1, and the
-- coordinator's (group 0, whose sequences made the single node's ids) at most
-- (1 << shift) - 1. The shift is 42 (ids stay below 2^53, exact in JSON and
-- JavaScript, up to group 2047); an install that an earlier build distributed
-- keeps the 48 it was given (its ranges are in use). The coordinator's
-- sequence records it: its maximum is capped by the first call.
CREATE OR REPLACE FUNCTION journey._citus_id_shift(runtime_distributed boolean) RETURNS int
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN s.seqmax = (1::bigint << 42) - 1 THEN 42
              WHEN s.seqmax = (1::bigint << 48) - 1 OR runtime_distributed THEN 48
              ELSE 42 END
    FROM pg_sequence s WHERE s.seqrelid = 'journey.enrollments_id_seq'::regclass
$$;

-- The sequences of the tables distributed by customer (their ids: enrollments,
-- events, messages, suppressions, message_events), found by the columns'
-- defaults (the sequence a default's nextval() names), not by the OWNED BY
-- link: the shell tables Citus makes again on a node added a second time lack
-- that link (attack-13c H1).
CREATE OR REPLACE FUNCTION journey._citus_runtime_sequences() RETURNS SETOF regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT DISTINCT d.refobjid::regclass
    FROM journey._citus_layout() l
    JOIN pg_attrdef ad ON ad.adrelid = l.rel
    JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
                    AND d.refclassid = 'pg_class'::regclass
    JOIN pg_class s ON s.oid = d.refobjid AND s.relkind = 'S'
   WHERE l.kind = 'distributed'
$$;

-- On a worker node (journey.distribute runs it on each): gives this node's
-- sequences of the runtime tables the range of its Citus group g, (g << shift)
-- + 1 up to ((g + 1) << shift) - 1. A sequence that has that range is left
-- alone (its ids are in use); one that has another is moved into it: a node
-- added for the first time (the coordinator's range, from 1), or one removed
-- and added again, which Citus gives a new group while its sequences still
-- hold the old group's range (the ids it made there stay unique: Citus hands
-- each group id out once, unless citus_add_node is given one; docs/scale-out.md,
-- "Adding a removed node's server again"). A value already inside the new range
-- is kept. p_sequences: the
-- coordinator's list (journey._citus_runtime_sequences(), by name); a node
-- whose list differs is refused, never skipped. Returns what it moved, by the
-- range moved from ('' when nothing).
CREATE OR REPLACE FUNCTION journey._citus_node_id_range(shift int, p_sequences text[]) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  g bigint;
  lo bigint;
  hi bigint;
  mine text[];
  s text;
  q record;
  restart bigint;
  moved text[] := '{}';
  froms text[] := '{}';
BEGIN
  EXECUTE 'SELECT groupid FROM pg_catalog.pg_dist_local_group' INTO g;
  lo := (g << shift) + 1;
  hi := ((g + 1) << shift) - 1;
  SELECT array_agg(x::text ORDER BY x::text) INTO mine FROM journey._citus_runtime_sequences() x;
  IF mine IS NULL OR NOT (mine <@ p_sequences AND p_sequences <@ mine) THEN
    RAISE EXCEPTION 'cannot give the id sequences of this node (Citus group %) their range: its runtime tables use %, the coordinator''s %',
      g, coalesce(mine::text, 'no sequence'), p_sequences
      USING ERRCODE = '55000',
            DETAIL = 'each node''s sequences of the tables distributed by customer need a range of their own',
            HINT = 'check the defaults of the id columns of the journey tables on this node';
  END IF;
  PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
  FOREACH s IN ARRAY mine LOOP
    EXECUTE format('SELECT q.seqmin, q.seqmax, l.last_value, l.is_called
                      FROM pg_catalog.pg_sequence q, %s l WHERE q.seqrelid = %L::regclass', s, s)
      INTO q;
    CONTINUE WHEN q.seqmin = lo AND q.seqmax = hi;
    restart := CASE WHEN q.last_value BETWEEN lo AND hi - 1 AND q.is_called THEN q.last_value + 1
                    WHEN q.last_value BETWEEN lo AND hi AND NOT q.is_called THEN q.last_value
                    ELSE lo END;
    EXECUTE format('ALTER SEQUENCE %s MINVALUE %s MAXVALUE %s START WITH %s RESTART WITH %s',
                   s, lo, hi, lo, restart);
    moved := moved || s;
    froms := froms || (CASE WHEN q.seqmin = 1 THEN 'the coordinator''s range'
                            ELSE format('group %s''s range', (q.seqmin - 1) >> shift) END
                       || CASE WHEN restart <> lo THEN format(' (next %s)', restart) ELSE '' END);
  END LOOP;
  -- One line a range moved from (all of them, as a rule).
  RETURN coalesce((SELECT string_agg(format('%s from %s to group %s''s, (%s << %s) + 1 up',
                                            x.seqs, x.src, g, g, shift), '; ')
                     FROM (SELECT m.src, string_agg(m.seq, ', ' ORDER BY m.seq) AS seqs
                             FROM unnest(moved, froms) m(seq, src) GROUP BY m.src ORDER BY m.src) x), '');
END
$$;

-- Step 1 of journey.distribute, on the worker nodes (see there). Returns a
-- line for each worker node whose id sequences it moved into the node's range.
CREATE OR REPLACE FUNCTION journey._citus_prepare_workers(runtime_distributed boolean)
RETURNS SETOF text
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  shift int := journey._citus_id_shift(runtime_distributed);
  propagation text := current_setting('citus.enable_ddl_propagation');
  sequences text[] := ARRAY(SELECT x::text FROM journey._citus_runtime_sequences() x ORDER BY 1);
  s regclass;
  r record;
BEGIN
  -- 1. On the workers, before anything of this transaction reaches them (their
  -- commands run in connections of their own, which would wait for the locks
  -- this transaction takes there): keys and foreign keys of their copies of
  -- the journey tables (those copies become the shell tables), the settings of
  -- the functions that send themselves to a customer's node (a node added since
  -- has its functions from CREATE EXTENSION, without them, and the
  -- coordinator, which has them, propagates no ALTER: attack-13e F1), and node
  -- ranges for ids (below). Done steps are skipped, so a second call finishes a
  -- first one that failed after this point, and prepares a node added since.
  PERFORM journey._citus_on_workers(format(
    $cmd$DO $do$ DECLARE s text; BEGIN
        SET LOCAL citus.enable_ddl_propagation = off;
        FOR s IN SELECT journey._citus_prepare_ddl(%L) LOOP EXECUTE s; END LOOP;
        PERFORM journey._citus_function_settings();
      END $do$ $cmd$, NOT runtime_distributed));
  -- Ids unique across nodes: a row inserted on a worker (a call routed to
  -- the node that owns the customer) takes its id from that node's sequence,
  -- which gets the range of its group, (group id << shift) + n; every call
  -- checks every worker's (journey._citus_node_id_range).
  IF cardinality(sequences) = 0 THEN
    RAISE EXCEPTION 'cannot distribute: the tables distributed by customer have no id sequence on the coordinator'
      USING ERRCODE = '55000', HINT = 'check the defaults of the id columns of the journey tables';
  END IF;
  FOR r IN SELECT * FROM run_command_on_workers(format('SELECT journey._citus_node_id_range(%s, %L)',
                                                       shift, sequences)) LOOP
    IF NOT r.success THEN
      RAISE EXCEPTION 'cannot distribute: the worker node %:% failed: %', r.nodename, r.nodeport, r.result
        USING ERRCODE = '58000';
    END IF;
    IF r.result <> '' THEN
      RETURN NEXT format('node %s:%s: %s', r.nodename, r.nodeport, r.result);
    END IF;
  END LOOP;
  -- The coordinator's ids (the single node's, and those it still makes) stay
  -- below group 1's range; this also records the shift.
  PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
  FOR s IN SELECT journey._citus_runtime_sequences() LOOP
    IF (SELECT seqmax FROM pg_sequence WHERE seqrelid = s) <> (1::bigint << shift) - 1 THEN
      EXECUTE format('ALTER SEQUENCE %s MAXVALUE %s', s, (1::bigint << shift) - 1);
    END IF;
  END LOOP;
  PERFORM set_config('citus.enable_ddl_propagation', propagation, true);
  PERFORM journey._citus_warn_id_ranges(shift);
END
$$;

-- Warns about the nodes whose ids pass 2^53 (Citus group ids are never reused:
-- each node added takes the next): JSON readers that hold numbers as doubles
-- (JavaScript) cannot keep such ids exact.
CREATE OR REPLACE FUNCTION journey._citus_warn_id_ranges(shift int) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  n record;
BEGIN
  FOR n IN SELECT nodename, nodeport, groupid FROM pg_dist_node
            WHERE ((groupid::bigint + 1) << shift) - 1 > (1::bigint << 53)
            ORDER BY groupid LOOP
    RAISE WARNING 'ids made on node %:% pass 2^53: its range starts at %', n.nodename, n.nodeport,
      (n.groupid::bigint << shift) + 1
      USING DETAIL = format('a node''s ids are (Citus group id << %s) + n, and this node is group %s; '
                            'JSON readers that hold numbers as doubles (JavaScript) cannot keep them exact: '
                            'message_id in payloads and events, the webhook Idempotency-Key', shift, n.groupid),
            HINT = 'read these ids as strings in such consumers (docs/scale-out.md, "Ids on a distributed install")';
  END LOOP;
END
$$;

-- Distributes pg_journey over a Citus cluster, by customer, co-located with the
-- audience `audience` (a registered customer table whose key is text; every
-- other registered audience is distributed too, co-located with it). Run it on
-- the coordinator, as a superuser, with the worker nodes added. Steps that are
-- done are skipped, so calling it again finishes a call that stopped halfway (a
-- node down) and prepares worker nodes added since (docs/scale-out.md).
CREATE OR REPLACE FUNCTION journey.distribute(audience regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  a journey.audiences;
  runtime_distributed boolean;
  unsafe_triggers text;
  modify_mode text;
  -- Citus's notices about copying each table's rows are not news here; the
  -- caller's level comes back for the id ranges moved (at the end).
  messages text := current_setting('client_min_messages');
  moved text[];
  m text;
BEGIN
  -- One call at a time (attack-13d F6): a second caller waits here, before it
  -- has read or locked anything, and then finds the first one's work done. The
  -- coordinator's tick skips while this is held (src/pg/tick.cpp,
  -- local_shard_groups).
  PERFORM pg_advisory_xact_lock(hashtext('journey.distribute')::bigint);
  PERFORM set_config('client_min_messages', 'warning', true);
  a := journey._citus_distribute_checks(distribute.audience);
  runtime_distributed := EXISTS (SELECT 1 FROM pg_dist_partition p
                                  WHERE p.logicalrelid = 'journey.enrollments'::regclass);
  moved := ARRAY(SELECT journey._citus_prepare_workers(runtime_distributed));
  -- The analytics views in the shape Citus can plan (views.sql), on this node,
  -- unless they have it (CREATE OR REPLACE VIEW locks them; an update of the
  -- extension writes the single-node shape, whose joins are LATERAL, again).
  IF NOT runtime_distributed
     OR pg_get_viewdef('journey.journey_overview'::regclass) ~ 'LATERAL'
     OR pg_get_viewdef('journey.step_stats'::regclass) ~ 'LATERAL' THEN
    PERFORM journey._analytics_views(true);
  END IF;

  -- Triggers (pg_journey's on the audience and the enrollments) are fine here:
  -- they run on the shards and write only co-located tables. One connection a
  -- node: what this transaction creates on a node is seen by what follows there.
  unsafe_triggers := current_setting('citus.enable_unsafe_triggers');
  modify_mode := current_setting('citus.multi_shard_modify_mode');
  PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
  PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);

  PERFORM journey._citus_distribute_audiences(a.relation, runtime_distributed);
  IF runtime_distributed THEN
    -- A node added since: its copies of the definitions must hold its own OIDs.
    PERFORM journey._citus_fix_reference_oids();
  ELSE
    PERFORM journey._citus_distribute_tables(a.relation);
  END IF;
  PERFORM journey._citus_route_functions();
  -- The rest of the caller's transaction runs with the caller's settings.
  PERFORM set_config('citus.enable_unsafe_triggers', unsafe_triggers, true);
  PERFORM set_config('citus.multi_shard_modify_mode', modify_mode, true);
  PERFORM set_config('client_min_messages', messages, true);
  FOREACH m IN ARRAY moved LOOP
    RAISE NOTICE 'id range given: %', m
      USING DETAIL = 'each node''s sequences of the tables distributed by customer hand out the ids of its Citus '
                     'group''s range (docs/scale-out.md, "Ids on a distributed install")';
  END LOOP;
END
$$;

-- Step 2 of journey.distribute: the audiences, by their keys: `audience` first
-- (the journey tables are co-located with it), then the other registered ones,
-- co-located with it (with journey.enrollments once that is distributed).
CREATE OR REPLACE FUNCTION journey._citus_distribute_audiences(audience regclass,
                                                               runtime_distributed boolean)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  other record;
BEGIN
  FOR other IN SELECT x.relation, x.key_column FROM journey.audiences x
                WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = x.relation)
                ORDER BY x.relation = _citus_distribute_audiences.audience DESC, x.relation::text LOOP
    IF runtime_distributed THEN
      PERFORM create_distributed_table(other.relation, other.key_column::text,
                                       colocate_with => 'journey.enrollments');
    ELSIF other.relation = _citus_distribute_audiences.audience THEN
      PERFORM create_distributed_table(other.relation, other.key_column::text);
    ELSE
      PERFORM create_distributed_table(other.relation, other.key_column::text,
                                       colocate_with => _citus_distribute_audiences.audience::text);
    END IF;
  END LOOP;
END
$$;

-- Steps 3 to 5 of journey.distribute (the first call): the journey tables
-- become Citus tables, the runtime tables co-located with `audience`.
CREATE OR REPLACE FUNCTION journey._citus_distribute_tables(audience regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  stmt text;
  tbl record;
  fks text[];
  fk text;
BEGIN
  -- The same keys on the coordinator; the foreign keys between journey tables
  -- are dropped, and put back once both sides are Citus tables.
  SELECT array_agg(format('ALTER TABLE %s ADD CONSTRAINT %I %s', k.conrelid::regclass, k.conname,
                          pg_get_constraintdef(k.oid))
                   ORDER BY (k.conrelid IN (SELECT rel FROM journey._citus_layout()
                                             WHERE kind = 'distributed')), k.conrelid::regclass::text,
                            k.conname)
    INTO fks
    FROM pg_constraint k
   WHERE k.contype = 'f'
     AND k.conrelid IN (SELECT rel FROM journey._citus_layout())
     AND k.confrelid IN (SELECT rel FROM journey._citus_layout());
  FOR stmt IN SELECT journey._citus_prepare_ddl() LOOP
    EXECUTE stmt;
  END LOOP;

  -- 3. The definitions: reference tables, with the node's own OIDs in their
  -- regclass and regrole columns (Citus copies the coordinator's OIDs, which
  -- mean nothing, or something else, on another node).
  FOR tbl IN SELECT * FROM journey._citus_layout() x WHERE x.kind = 'reference'
             AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = x.rel) LOOP
    PERFORM create_reference_table(tbl.rel);
    PERFORM truncate_local_data_after_distributing_table(tbl.rel);
  END LOOP;
  PERFORM journey._citus_fix_oids('reference');

  -- 4. The runtime tables, by customer, co-located with the audience.
  FOR tbl IN SELECT * FROM journey._citus_layout() x WHERE x.kind = 'distributed'
             AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = x.rel) LOOP
    PERFORM create_distributed_table(tbl.rel, 'customer_id', colocate_with => _citus_distribute_tables.audience::text);
    PERFORM truncate_local_data_after_distributing_table(tbl.rel);
  END LOOP;
  PERFORM journey._citus_fix_oids('distributed');

  -- 5. The foreign keys again (Citus propagates them now): reference to
  -- reference and distributed to reference are what Citus enforces.
  FOREACH fk IN ARRAY coalesce(fks, '{}') LOOP
    EXECUTE fk;
  END LOOP;
END
$$;

-- The functions journey.distribute makes Citus distributed functions (step 6,
-- below), each with the argument that names its customer; nested: the call
-- sends itself to the customer's node as a query on the customer's shard where
-- Citus does not route it (journey._citus_function_settings). One list, so that
-- the two cannot drift apart.
CREATE OR REPLACE FUNCTION journey._citus_routed_functions(OUT fn regprocedure, OUT arg text, OUT nested boolean)
RETURNS SETOF record
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT x.fn::regprocedure, x.arg, x.nested FROM (VALUES
    ('journey.enroll(text,text,jsonb)', 'customer_id', false),
    ('journey.track(text,text,jsonb,timestamptz,text,regclass)', 'customer_id', false),
    ('journey._enroll_customer(text,bigint,jsonb,jsonb,text)', 'p_customer', false),
    ('journey._enroll_group(text,bigint,text[],jsonb[],jsonb[],text[])', 'p_customer', true),
    ('journey._end_customer_enrollments(text,bigint[],text[],text[],boolean[],timestamptz,timestamptz)',
     'p_customer', true),
    ('journey._message_event_of(text,bigint,text,jsonb,timestamptz)', 'p_customer', true)) x(fn, arg, nested)
$$;

-- Step 6 of journey.distribute: the functions that act for one customer become
-- Citus distributed functions, distributed by their customer argument and
-- co-located with journey.enrollments, so that a call runs on the node that owns
-- the customer (its statements there are local, and its journey._wake_workers
-- wakes that node's workers). force_delegation: calls inside a transaction
-- block are routed too (every statement in them is pinned to the customer).
CREATE OR REPLACE FUNCTION journey._citus_route_functions() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  f record;
BEGIN
  FOR f IN SELECT r.fn, r.arg FROM journey._citus_routed_functions() r LOOP
    -- A function distributed so already is left alone: Citus would sync its
    -- metadata to every node again.
    CONTINUE WHEN EXISTS (SELECT 1 FROM pg_dist_object o
                           WHERE o.classid = 'pg_proc'::regclass AND o.objid = f.fn
                             AND o.distribution_argument_index IS NOT NULL AND o.force_delegation
                             AND o.colocationid = (SELECT colocationid FROM pg_dist_partition
                                                    WHERE logicalrelid = 'journey.enrollments'::regclass));
    PERFORM create_distributed_function(f.fn, f.arg, colocate_with => 'journey.enrollments',
                                        force_delegation => true);
  END LOOP;
  PERFORM journey._citus_function_settings();
END
$$;

-- A nested call (journey._citus_routed_functions) made where Citus does not
-- route it sends itself to the customer's node as a query on the customer's
-- shard; there it reads the definitions (reference tables, local on every node)
-- and writes the customer's shards: nested execution, all of it on that node.
-- (message_event calls journey._message_event_of so: it has no customer
-- argument to route by.) Called by journey.distribute (Citus propagates the
-- ALTERs to the workers) and at the end of every script (below): an update's
-- CREATE OR REPLACE FUNCTION resets the settings, on each node, which runs the
-- script itself. Set only where it is not yet (an ALTER FUNCTION is DDL on
-- every node).
CREATE OR REPLACE FUNCTION journey._citus_function_settings() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  f record;
BEGIN
  FOR f IN SELECT r.fn FROM journey._citus_routed_functions() r JOIN pg_proc p ON p.oid = r.fn
            WHERE r.nested
              AND NOT coalesce('citus.allow_nested_distributed_execution=on' = ANY (p.proconfig), false) LOOP
    EXECUTE format('ALTER FUNCTION %s SET citus.allow_nested_distributed_execution = on', f.fn);
  END LOOP;
END
$$;

-- Refuses journey.enroll / track / exit (fn) called once per row of a query on
-- a distributed table (`SELECT journey.enroll('j', id) FROM customers ...`,
-- `SELECT journey.exit((SELECT id FROM journey.enrollments ...))`): Citus runs
-- such a query on the shards, and there refuses every query the function makes
-- ("cannot execute a distributed query from a query on a shard", with a hint
-- to turn on a setting it calls incorrect), so pg_journey says what works
-- instead. Its callers call it when journey._citus_shard_query_call() says so
-- (src/pg/runtime_api.cpp: a Citus internal backend whose statement reads a
-- table; a call Citus routed, a distributed function, is the call alone).
CREATE OR REPLACE FUNCTION journey._citus_refuse_per_row(fn text, hint text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  RAISE EXCEPTION '% cannot be called once per row of a query on a distributed table', fn
    USING ERRCODE = '0A000',
          DETAIL = format('Citus runs that query on the shards, where %s cannot reach the other nodes.', fn),
          HINT = hint;
END
$$;

REVOKE ALL ON FUNCTION journey._citus_refuse_per_row(text, text), journey._citus_shard_query_call()
  FROM PUBLIC;

-- journey._enroll_group, about to send itself to the node of the customer's
-- shard of the audience, already runs in a call it sent so in this backend:
-- that shard is placed here but the customer's enrollments are not, so the
-- audience is not co-located with journey.enrollments (registered before
-- journey.register_audience refused such tables, or changed since) and the call
-- would send itself here again until the stack overflows. Raises instead.
CREATE OR REPLACE FUNCTION journey._citus_refuse_forwarding_loop(audience regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  stack text;
BEGIN
  GET DIAGNOSTICS stack = PG_CONTEXT;
  IF regexp_count(stack, 'function (journey\.)?_enroll_group\(') > 1 THEN
    RAISE EXCEPTION 'cannot enroll customers of audience %: it is not distributed by its key column co-located with journey.enrollments',
      audience
      USING ERRCODE = '55000',
            DETAIL = 'the customer''s row of the audience is not on the node that holds the customer''s enrollments',
            HINT = 'an audience of a distributed install is distributed by its key column with '
                   'colocate_with => ''journey.enrollments'' (docs/scale-out.md, "Audiences on a distributed install")';
  END IF;
END
$$;

REVOKE ALL ON FUNCTION journey._citus_refuse_forwarding_loop(regclass) FROM PUBLIC;

-- Runs a statement on every worker node (in a connection of its own, committed
-- there); raises the first node's error.
CREATE OR REPLACE FUNCTION journey._citus_on_workers(command text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT * FROM run_command_on_workers(command) LOOP
    IF NOT r.success THEN
      RAISE EXCEPTION 'cannot distribute: the worker node %:% failed: %', r.nodename, r.nodeport, r.result
        USING ERRCODE = '58000';
    END IF;
  END LOOP;
END
$$;

-- Rewrites the regclass and regrole columns of the Citus tables of one kind
-- ('reference', 'distributed') on every placement, in the caller's transaction:
-- the OID the coordinator wrote becomes each node's OID of the same name (Citus
-- sends a regclass or regrole constant to the nodes as its name).
CREATE OR REPLACE FUNCTION journey._citus_fix_oids(p_kind text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  c record;
  cases text;
  ids text;
BEGIN
  FOR c IN SELECT l.rel, t.attname, t.atttypid::regtype AS type
             FROM journey._citus_layout() l
             JOIN pg_attribute t ON t.attrelid = l.rel AND t.attnum > 0 AND NOT t.attisdropped
            WHERE l.kind = p_kind AND t.atttypid IN ('regclass'::regtype, 'regrole'::regtype) LOOP
    EXECUTE format($q$SELECT string_agg(format('WHEN %%s THEN %%L::%s', v::oid, v::text), ' '),
                             string_agg(v::oid::text, ', ')
                        FROM (SELECT DISTINCT %I AS v FROM %s WHERE %I IS NOT NULL) x$q$,
                   c.type, c.attname, c.rel, c.attname)
      INTO cases, ids;
    CONTINUE WHEN cases IS NULL;
    -- One statement: a value already rewritten on a node is never read again as
    -- a coordinator OID. (distribute() runs in sequential mode: the names
    -- resolve on the connection that made the node's uncommitted shell tables.)
    EXECUTE format('UPDATE %s SET %I = CASE %I::oid %s END WHERE %I::oid IN (%s)',
                   c.rel, c.attname, c.attname, cases, c.attname, ids);
  END LOOP;
END
$$;

-- Makes every node's copy of the reference tables name relations and roles by
-- that node's OIDs, row by row: each regclass or regrole value becomes the name
-- the coordinator's copy gives it, found by a key of the row that is no OID (for
-- journey.audiences its id). Idempotent: a node that already holds its own OIDs
-- keeps them. For a node added to a distributed install (distribute() again),
-- whose copies Citus made from the coordinator's, OIDs and all. The reference
-- tables are first copied to every node, so that none is left to a later
-- rebalance, which would copy them raw. When every node's copy already holds
-- its own OIDs it changes nothing (no DDL, no write: attack-13d F9, the
-- foreign keys' DROP took locks that deadlocked the application's calls).
CREATE OR REPLACE FUNCTION journey._citus_fix_reference_oids() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  c record;
  cases text;
  keys text;
  fks text[];
  fk text;
  updates text[] := '{}';
  copied boolean;
BEGIN
  -- Whether a node lacks a copy of a reference table (added since): the copy
  -- made now holds the coordinator's OIDs.
  copied := EXISTS (SELECT 1 FROM journey._citus_layout() l
                      JOIN pg_dist_shard s ON s.logicalrelid = l.rel
                     CROSS JOIN pg_dist_node n
                     WHERE l.kind = 'reference' AND n.isactive AND n.noderole = 'primary'
                       AND NOT EXISTS (SELECT 1 FROM pg_dist_placement p
                                        WHERE p.shardid = s.shardid AND p.groupid = n.groupid));
  PERFORM replicate_reference_tables('block_writes');
  -- Foreign keys on those columns (journeys.audience -> audiences.relation)
  -- would refuse a node's rows changing one table at a time: dropped, then put
  -- back (validated on every node) once each node's OIDs are in place.
  SELECT array_agg(format('ALTER TABLE %s ADD CONSTRAINT %I %s', k.conrelid::regclass, k.conname,
                          pg_get_constraintdef(k.oid)))
    INTO fks
    FROM pg_constraint k
    JOIN journey._citus_layout() l ON l.rel = k.conrelid AND l.kind = 'reference'
   WHERE k.contype = 'f'
     AND EXISTS (SELECT 1 FROM pg_attribute t
                  WHERE t.attrelid = k.conrelid AND t.attnum = ANY (k.conkey)
                    AND t.atttypid IN ('regclass'::regtype, 'regrole'::regtype));
  FOR c IN SELECT l.rel, t.attname, t.atttypid::regtype AS type,
                  -- An expression giving the condition that finds the row by
                  -- its primary key (or else a unique key) with no regclass or
                  -- regrole column in it: "journey_id = '1' AND version = '1'".
                  (SELECT 'concat_ws('' AND '', '
                          || string_agg(format('format(''%%I = %%L'', %L, %I)', a.attname, a.attname),
                                        ', ' ORDER BY u.o) || ')'
                     FROM (SELECT k.conrelid, k.conkey FROM pg_constraint k
                            WHERE k.conrelid = l.rel AND k.contype IN ('p', 'u')
                              AND NOT EXISTS (SELECT 1 FROM pg_attribute b
                                               WHERE b.attrelid = k.conrelid AND b.attnum = ANY (k.conkey)
                                                 AND b.atttypid IN ('regclass'::regtype, 'regrole'::regtype))
                            ORDER BY k.contype = 'p' DESC, k.conname LIMIT 1) k
                    CROSS JOIN unnest(k.conkey) WITH ORDINALITY u(attnum, o)
                     JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum) AS key
             FROM journey._citus_layout() l
             JOIN pg_attribute t ON t.attrelid = l.rel AND t.attnum > 0 AND NOT t.attisdropped
            WHERE l.kind = 'reference' AND t.atttypid IN ('regclass'::regtype, 'regrole'::regtype) LOOP
    IF c.key IS NULL THEN
      RAISE EXCEPTION 'cannot distribute: table % has no key to fix its column % by', c.rel, c.attname
        USING ERRCODE = '55000';
    END IF;
    -- The names as the coordinator's copy gives them (read here, on the
    -- coordinator); Citus sends each regclass or regrole constant to the
    -- nodes as its name, which each node resolves to its own OID.
    EXECUTE format($q$SELECT string_agg(format('WHEN %%s THEN %%L::%s', k, v::text), ' '),
                             string_agg('(' || k || ')', ' OR ')
                        FROM (SELECT %s AS k, %I AS v FROM %s WHERE %I IS NOT NULL) x$q$,
                   c.type, c.key, c.attname, c.rel, c.attname)
      INTO cases, keys;
    CONTINUE WHEN cases IS NULL;
    -- Else whether some node's copy holds another OID than the name gives
    -- there (each placement read on its node, over a connection of its own; a
    -- failure counts as to fix). run_command_on_placements formats the
    -- command: % doubled.
    CONTINUE WHEN NOT copied AND NOT EXISTS (
      SELECT 1 FROM run_command_on_placements(c.rel,
               'SELECT count(*) FROM %s WHERE '
               || replace(format('(%s) AND %I IS DISTINCT FROM (CASE %s END)', keys, c.attname, cases),
                          '%', '%%')) r
       WHERE NOT r.success OR r.result <> '0');
    updates := updates || format('UPDATE %s SET %I = CASE %s END WHERE %s', c.rel, c.attname, cases, keys);
  END LOOP;
  IF cardinality(updates) = 0 THEN
    RETURN;
  END IF;
  FOR fk IN SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', k.conrelid::regclass, k.conname)
              FROM pg_constraint k
              JOIN journey._citus_layout() l ON l.rel = k.conrelid AND l.kind = 'reference'
             WHERE k.contype = 'f'
               AND EXISTS (SELECT 1 FROM pg_attribute t
                            WHERE t.attrelid = k.conrelid AND t.attnum = ANY (k.conkey)
                              AND t.atttypid IN ('regclass'::regtype, 'regrole'::regtype)) LOOP
    EXECUTE fk;
  END LOOP;
  FOREACH fk IN ARRAY updates LOOP
    EXECUTE fk;
  END LOOP;
  FOREACH fk IN ARRAY coalesce(fks, '{}') LOOP
    EXECUTE fk;
  END LOOP;
END
$$;

REVOKE ALL ON FUNCTION
  journey._citus_fix_reference_oids(),
  journey._citus_function_settings(),
  journey._citus_layout(),
  journey._citus_prepare_ddl(boolean),
  journey.distribute(regclass),
  journey._citus_distribute_checks(regclass),
  journey._citus_prepare_workers(boolean),
  journey._citus_id_shift(boolean),
  journey._citus_runtime_sequences(),
  journey._citus_node_id_range(int, text[]),
  journey._citus_warn_id_ranges(int),
  journey._citus_distribute_audiences(regclass, boolean),
  journey._citus_distribute_tables(regclass),
  journey._citus_on_workers(text),
  journey._citus_fix_oids(text),
  journey._citus_routed_functions(),
  journey._citus_route_functions()
FROM PUBLIC;

-- Whether rel is a Citus table on this node: of the given partition method
-- (pg_dist_partition.partmethod: 'h' hash-distributed, 'n' reference or Citus
-- local), or of any when method is null. False without Citus.
CREATE OR REPLACE FUNCTION journey._citus_table(rel regclass, method "char" DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  found boolean;
BEGIN
  IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
    RETURN false;
  END IF;
  EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition
                           WHERE logicalrelid = $1 AND ($2 IS NULL OR partmethod = $2))'
    INTO found USING rel, method;
  RETURN found;
END
$$;

-- Whether journey.enrollments is a Citus distributed table on this node (the
-- tick then runs on the local shards: journey._citus_shard_groups). False
-- without Citus.
CREATE OR REPLACE FUNCTION journey._citus_distributed() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT journey._citus_table('journey.enrollments', 'h')
$$;

-- The tick's work on a Citus node (docs/scale-out.md): the shard groups of the
-- given shards of journey.enrollments (those placed on this node, listed and
-- locked by the tick: src/pg/tick.cpp, local_shard_groups), one row per table
-- of a group (the audiences and the runtime tables, co-located): the group's
-- enrollments shard, the table's qualified name and its shard's. The tick keeps
-- the result until the placements or the relcache change.
CREATE OR REPLACE FUNCTION journey._citus_shard_groups(p_shards bigint[])
RETURNS TABLE (shard bigint, relation text, shard_relation text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT journey._citus_distributed() THEN
    RETURN;
  END IF;
  RETURN QUERY EXECUTE $q$
    SELECT g.shardid, format('%I.%I', n.nspname, c.relname),
           format('%I.%I', n.nspname, c.relname || '_' || cs.shardid)
      FROM unnest($1) g(shardid)
      CROSS JOIN LATERAL unnest(pg_catalog.get_colocated_shard_array(g.shardid)) cs(shardid)
      JOIN pg_catalog.pg_dist_shard d ON d.shardid = cs.shardid
      JOIN pg_catalog.pg_class c ON c.oid = d.logicalrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace$q$ USING p_shards;
END
$$;

-- Refuses, on a worker node of a distributed install, a call that writes
-- pg_journey's definitions (what: "register audience public.leads", "publish
-- journey \"j\"", ...), before it writes anything. Citus would refuse only
-- the DDL some of them make (the audience's triggers: "operation is not allowed
-- on this node"), late; the others would write the reference tables with ids
-- from the worker's own sequences, which the coordinator's gives again
-- (journeys, trigger runs). Nothing without Citus or before journey.distribute.
CREATE OR REPLACE FUNCTION journey._citus_require_coordinator(what text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  coordinator boolean;
BEGIN
  IF NOT journey._citus_distributed() THEN
    RETURN;
  END IF;
  EXECUTE 'SELECT pg_catalog.citus_is_coordinator()' INTO coordinator;
  IF NOT coordinator THEN
    RAISE EXCEPTION 'cannot %: this node is not the Citus coordinator', what
      USING ERRCODE = '55000',
            DETAIL = 'on a distributed install pg_journey''s definitions (audiences, journeys, templates, '
                     'schedules) are written on the coordinator only',
            HINT = 'call it on the coordinator (docs/scale-out.md, "Authoring and analytics on the coordinator")';
  END IF;
END
$$;

-- What journey.register_audience refuses on a distributed install: a table
-- that is not distributed by its key column co-located with
-- journey.enrollments (a local table, which the worker nodes cannot read; a
-- reference table, another distribution column or colocation, where a
-- customer's row is not on the node of the customer's enrollments). Nothing
-- without Citus or before journey.distribute.
CREATE OR REPLACE FUNCTION journey._citus_check_audience(rel regclass, key_column name) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  p record;
  key_type regtype;
  recipe text;
BEGIN
  IF NOT journey._citus_distributed() THEN
    RETURN;
  END IF;
  SELECT t.atttypid::regtype INTO key_type FROM pg_attribute t
   WHERE t.attrelid = rel AND t.attname = _citus_check_audience.key_column;
  SELECT x.partmethod, x.repmodel, x.colocationid = e.colocationid AS colocated,
         CASE WHEN x.partmethod = 'h' THEN column_to_column_name(x.logicalrelid, x.partkey) END AS column_name
    INTO p
    FROM pg_dist_partition e LEFT JOIN pg_dist_partition x ON x.logicalrelid = rel
   WHERE e.logicalrelid = 'journey.enrollments'::regclass;
  IF p.partmethod = 'h' AND p.column_name = _citus_check_audience.key_column AND p.colocated THEN
    RETURN;
  END IF;
  recipe := format('SELECT create_distributed_table(%L, %L, colocate_with => %L)', rel::text,
                   _citus_check_audience.key_column, 'journey.enrollments');
  RAISE EXCEPTION 'cannot register audience %: on a distributed install it must be distributed by its key column "%", co-located with journey.enrollments',
    rel, _citus_check_audience.key_column
    USING ERRCODE = '55000',
          DETAIL = format('%s is %s', rel, CASE
            WHEN p.partmethod IS NULL THEN 'a local table of this node: the worker nodes, which hold the customers'' enrollments, cannot read it'
            WHEN p.partmethod = 'n' AND p.repmodel = 't' THEN 'a Citus reference table'
            WHEN p.partmethod = 'n' THEN 'a Citus local table'
            WHEN p.partmethod <> 'h' THEN 'a Citus table that is not hash-distributed'
            -- (by another column it has no unique index on the key: refused before)
            WHEN p.column_name <> _citus_check_audience.key_column
              THEN format('distributed by column "%s"', p.column_name)
            ELSE 'distributed by its key column, but not co-located with journey.enrollments' END)
            || CASE WHEN key_type <> 'text'::regtype
                    THEN format('; its key column "%s" is %s, and customer ids are text',
                                _citus_check_audience.key_column, key_type)
                    ELSE '' END,
          HINT = CASE WHEN key_type <> 'text'::regtype
                      THEN 'key it by text first (docs/scale-out.md, "A CRM keyed by bigint"), then '
                      ELSE '' END
                 || CASE WHEN p.partmethod IS NULL THEN 'distribute it first: '
                         ELSE format('SELECT undistribute_table(%L); ', rel::text) END
                 || recipe || '; then register it (docs/scale-out.md, "Audiences on a distributed install")';
END
$$;

REVOKE ALL ON FUNCTION journey._citus_table(regclass, "char"), journey._citus_distributed(),
  journey._citus_shard_groups(bigint[]), journey._citus_check_audience(regclass, name) FROM PUBLIC;
-- funnel (run by journey_reader, as the caller) asks it, and it asks _citus_table.
GRANT EXECUTE ON FUNCTION journey._citus_distributed(), journey._citus_table(regclass, "char")
  TO journey_reader;
-- Asked by the definition-writing functions (journey._draft_for_edit and the others).
REVOKE ALL ON FUNCTION journey._citus_require_coordinator(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION journey._citus_require_coordinator(text) TO journey_reader;

-- journey.claim_messages on a Citus install (docs/scale-out.md), normally on the
-- coordinator: SKIP LOCKED cannot span shards, so this picks the first due
-- messages without row locks, then claims them with one UPDATE that re-checks
-- that each is still pending (a message another claimer took meanwhile is left
-- to it: no message is handed out twice). Claims on one node take turns.
-- Suppressions are checked per message, as on a single node.
CREATE OR REPLACE FUNCTION journey._claim_messages_distributed(p_channel text, p_max int)
RETURNS SETOF journey.messages
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  want int := p_max;
  ids bigint[];
  customers text[];
  jids bigint[];
  vers int[];
  claim_ids bigint[];
  claim_customers text[];
  whys text[];
  got bigint;
  rounds int := 0;
BEGIN
  -- One claim at a time on this node until the caller's transaction ends: two
  -- multi-shard UPDATEs of different shards deadlock on Citus's shard locks.
  PERFORM pg_advisory_xact_lock(hashtext('journey.claim_messages')::bigint);
  LOOP
    rounds := rounds + 1;
    SELECT array_agg(c.id ORDER BY c.send_after, c.id), array_agg(c.customer_id ORDER BY c.send_after, c.id),
           array_agg(c.journey_id ORDER BY c.send_after, c.id), array_agg(c.version ORDER BY c.send_after, c.id)
      INTO ids, customers, jids, vers
      FROM (SELECT p.id, p.customer_id, p.journey_id, p.version, p.send_after
              FROM journey.messages p
             WHERE p.status = 'pending' AND p.channel = p_channel AND p.send_after <= now()
               -- nothing leaves for a paused or archived journey
               AND p.journey_id IN (SELECT j.id FROM journey.journeys j WHERE j.state = 'published')
             ORDER BY p.send_after, p.id
             LIMIT want) c;
    EXIT WHEN ids IS NULL;
    -- Which suppression stops each message: decided in core for the whole
    -- batch (two queries, not one a message).
    whys := journey._claim_stops(customers,
                                 ARRAY(SELECT a.id FROM unnest(jids) WITH ORDINALITY x(jid, n)
                                         LEFT JOIN journey.journeys j ON j.id = x.jid
                                         LEFT JOIN journey.audiences a ON a.relation = j.audience
                                        ORDER BY x.n),
                                 jids, vers, p_channel);
    claim_ids := '{}';
    claim_customers := '{}';
    -- A move of these customers' groups waited for first (journey._citus_hold_moves):
    -- on the move's target node the UPDATEs below would miss the moved rows.
    PERFORM journey._citus_hold_moves(customers);
    FOR i IN 1 .. cardinality(ids) LOOP
      IF whys[i] IS NULL THEN
        claim_ids := claim_ids || ids[i];
        claim_customers := claim_customers || customers[i];
      ELSE
        UPDATE journey.messages m
           SET status = 'suppressed', reason = 'suppression: ' || whys[i], completed_at = now()
         WHERE m.customer_id = customers[i] AND m.id = ids[i] AND m.status = 'pending';
      END IF;
    END LOOP;
    RETURN QUERY
    UPDATE journey.messages m
       SET status = 'claimed', claimed_at = now(), attempts = m.attempts + 1
     WHERE m.customer_id = ANY (claim_customers) AND m.id = ANY (claim_ids) AND m.status = 'pending'
    RETURNING m.*;
    GET DIAGNOSTICS got = ROW_COUNT;
    -- Done when max are claimed, when no more were pending, or after three
    -- rounds (others are claiming the same first messages).
    EXIT WHEN got = want OR cardinality(ids) < want OR rounds = 3;
    want := want - got::int;
  END LOOP;
END
$$;

REVOKE ALL ON FUNCTION journey._claim_messages_distributed(text, int) FROM PUBLIC;

-- rel's schema-qualified name, to compare a regclass column with in a query
-- Citus sends to other nodes as `col = name::regclass`: each node resolves the
-- name to its own OID (a regclass value would arrive as this node's OID).
CREATE OR REPLACE FUNCTION journey._qualified_name(rel regclass) RETURNS text
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('%I.%I', n.nspname, c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel
$$;

REVOKE ALL ON FUNCTION journey._qualified_name(regclass) FROM PUBLIC;

-- The shards of one customer's group on this node: the customer's shard of
-- journey.enrollments and of journey.activity, when that group is placed on
-- this node (a call routed to the node that owns the customer); no row
-- otherwise (or without Citus). Takes the group's metadata lock in share mode
-- first, as the tick does: no move of the group starts before this
-- transaction ends.
CREATE OR REPLACE FUNCTION journey._citus_customer_shards(p_customer text,
                                                          OUT enrollments regclass,
                                                          OUT activity regclass)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  shard bigint;
BEGIN
  IF NOT journey._citus_distributed() THEN
    RETURN;
  END IF;
  EXECUTE $q$SELECT pg_catalog.get_shard_id_for_distribution_column('journey.enrollments', $1)$q$
    INTO shard USING p_customer;
  EXECUTE 'SELECT pg_catalog.lock_shard_metadata(5, ARRAY[$1])' USING shard;
  RETURN QUERY EXECUTE $q$
    SELECT pg_catalog.shard_name('journey.enrollments', $1)::regclass,
           (SELECT pg_catalog.shard_name(d.logicalrelid, d.shardid)::regclass
              FROM unnest(pg_catalog.get_colocated_shard_array($1)) cs(shardid)
              JOIN pg_catalog.pg_dist_shard d ON d.shardid = cs.shardid
             WHERE d.logicalrelid = 'journey.activity'::regclass)
     WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_placement p
                    WHERE p.shardid = $1
                      AND p.groupid = (SELECT groupid FROM pg_catalog.pg_dist_local_group))$q$
    USING shard;
END
$$;

-- Before a call that sends itself to p_customer's node as a query on the
-- customer's shard (journey._enroll_group, journey._end_customer_enrollments,
-- journey._message_event_of, when Citus did not route the call: docs/scale-out.md,
-- "Atomicity: two-phase commit"): a write of no row on the customer's shard of
-- journey.enrollments, so that Citus counts this transaction as writing on that
-- node. Citus counts the query that follows as a read, which on its own would
-- leave that node's part out of the transaction's commit: no transaction block
-- for an autocommit statement (each node's part committed as it ran) and a
-- plain one-phase COMMIT for a transaction. After this write Citus opens a
-- transaction block there (also inside an autocommit statement), sends the
-- query over the same connection (the one that wrote the placement group), and
-- commits with two-phase commit (PREPARE TRANSACTION, COMMIT PREPARED) once
-- the transaction writes on a second node. The key (customer_id, id) finds no
-- row with a null id: one index probe.
CREATE OR REPLACE FUNCTION journey._citus_write_on_customer_node(p_customer text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  EXECUTE 'DELETE FROM journey.enrollments e WHERE e.customer_id = $1 AND e.id IS NULL'
    USING p_customer;
END
$$;
REVOKE ALL ON FUNCTION journey._citus_write_on_customer_node(text) FROM PUBLIC;

-- journey._end_enrollments for enrollments of one customer (p_ids must all be
-- that customer's). On a single node, the same. On a Citus install the ending
-- statement runs on the customer's shards, on the node that holds them: this
-- function is a distributed function (journey.distribute), so a call made
-- elsewhere is routed there; there, it ends them on the local shards of the
-- customer's group (journey._citus_customer_shards), as the tick does.
CREATE OR REPLACE FUNCTION journey._end_customer_enrollments(p_customer text, p_ids bigint[],
                                                             p_statuses text[], p_reasons text[],
                                                             p_goals boolean[] DEFAULT NULL,
                                                             p_at timestamptz DEFAULT now(),
                                                             p_converted_at timestamptz DEFAULT NULL)
RETURNS bigint[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  s record;
  ended bigint[];
BEGIN
  IF NOT journey._citus_distributed() THEN
    RETURN journey._end_enrollments(p_ids, p_statuses, p_reasons, p_goals, p_at, p_converted_at,
                                    array_fill(p_customer, ARRAY[cardinality(p_ids)]));
  END IF;
  IF cardinality(p_ids) IS DISTINCT FROM 0 AND p_ids[1] IS NOT NULL THEN
    SELECT * INTO s FROM journey._citus_customer_shards(p_customer);
    IF FOUND THEN
      RETURN journey._end_enrollments_in(s.enrollments, s.activity, p_ids, p_statuses, p_reasons,
                                         p_goals, p_at, p_converted_at,
                                         array_fill(p_customer, ARRAY[cardinality(p_ids)]));
    END IF;
    -- Not on the node that owns the customer (a call Citus did not route: one
    -- made inside another function here): send it there, in the caller's
    -- transaction, as a query on the customer's shard that calls this function
    -- (a write there first: journey._citus_write_on_customer_node).
    PERFORM journey._citus_write_on_customer_node(p_customer);
    EXECUTE 'SELECT journey._end_customer_enrollments($1, $2, $3, $4, $5, $6, $7)
               FROM journey.enrollments e WHERE e.customer_id = $1 AND e.id = $2[1]'
      INTO ended USING p_customer, p_ids, p_statuses, p_reasons, p_goals, p_at, p_converted_at;
  END IF;
  RETURN coalesce(ended, '{}');
END
$$;
REVOKE ALL ON FUNCTION journey._citus_customer_shards(text),
  journey._end_customer_enrollments(text, bigint[], text[], text[], boolean[], timestamptz, timestamptz)
FROM PUBLIC;

-- The customer-table trigger on a Citus node (src/pg/audience_trigger.cpp):
-- when the relation p_schema.p_name is a shard (its name ends in _<shard id>:
-- shards are hidden from pg_class listings on the workers, so the trigger gives
-- the name), its table, and the tables of its co-located group with their
-- shards on this node (journey.enrollments as journey.enrollments_<id>, ...).
-- No row otherwise.
CREATE OR REPLACE FUNCTION journey._citus_shard_group(p_schema text, p_name text)
RETURNS TABLE (logical regclass, relation text, shard_relation text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  shard bigint;
  rel regclass;
BEGIN
  IF NOT journey._citus_distributed() THEN
    RETURN;
  END IF;
  shard := substring(p_name FROM '_([0-9]+)$')::bigint;
  IF shard IS NULL THEN
    RETURN;
  END IF;
  EXECUTE $q$SELECT s.logicalrelid FROM pg_catalog.pg_dist_shard s
               JOIN pg_catalog.pg_class c ON c.oid = s.logicalrelid
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE s.shardid = $1 AND n.nspname = $2 AND c.relname || '_' || s.shardid = $3$q$
    INTO rel USING shard, p_schema, p_name;
  IF rel IS NULL THEN
    RETURN;
  END IF;
  RETURN QUERY EXECUTE $q$
    SELECT $2, format('%I.%I', n.nspname, c.relname),
           format('%I.%I', n.nspname, c.relname || '_' || cs.shardid)
      FROM unnest(pg_catalog.get_colocated_shard_array($1)) cs(shardid)
      JOIN pg_catalog.pg_dist_shard d ON d.shardid = cs.shardid
      JOIN pg_catalog.pg_class c ON c.oid = d.logicalrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace$q$ USING shard, rel;
END
$$;
REVOKE ALL ON FUNCTION journey._citus_shard_group(text, text) FROM PUBLIC;

-- Before a write of journey.messages on a Citus install (complete_message, the
-- claims, requeue_claimed, archive): waits, in a statement of its own, for a
-- shard move of the customers' shard groups (all of them when p_customers is
-- null) and holds it off to the end of the transaction (the metadata lock in
-- share mode, as the tick takes it). A write that waits for that lock itself,
-- inside its own statement, took its snapshot before the wait: on the move's
-- target node it then runs on the new local placement with a snapshot that does
-- not see the copied rows and updates none (docs/citus-notes.md, section 14).
-- The statement after this one takes its snapshot after the move. Nothing
-- without Citus.
CREATE OR REPLACE FUNCTION journey._citus_hold_moves(p_customers text[]) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF to_regclass('pg_catalog.pg_dist_partition') IS NULL OR NOT journey._citus_distributed() THEN
    RETURN;
  END IF;
  IF p_customers IS NULL THEN
    EXECUTE $q$SELECT pg_catalog.lock_shard_metadata(5, ARRAY(
                 SELECT s.shardid FROM pg_catalog.pg_dist_shard s
                  WHERE s.logicalrelid = 'journey.messages'::regclass ORDER BY 1))$q$;
  ELSE
    EXECUTE $q$SELECT pg_catalog.lock_shard_metadata(5, ARRAY(
                 SELECT DISTINCT pg_catalog.get_shard_id_for_distribution_column('journey.messages', c)
                   FROM unnest($1) c ORDER BY 1))$q$
      USING p_customers;
  END IF;
END
$$;
REVOKE ALL ON FUNCTION journey._citus_hold_moves(text[]) FROM PUBLIC;

-- An update on a distributed install (each node runs the script): the settings
-- journey.distribute gave the distributed functions, which the CREATE OR
-- REPLACE FUNCTIONs above reset (docs/scale-out.md, "Updating pg_journey").
SELECT journey._citus_function_settings() WHERE journey._citus_place('journey.enrollments') <> 'local';
