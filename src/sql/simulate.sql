-- Simulation (docs/analytics.md, "Simulating a journey"): the draft or a
-- version of a journey run over real customers on a virtual clock, by the
-- engine's own tick, inside a subtransaction that is always rolled back; the
-- prediction is the funnel of that run.

-- C++ helpers (src/pg/simulate_api.cpp).
CREATE OR REPLACE FUNCTION journey._simulation(journey_id bigint, version int) RETURNS void
AS 'MODULE_PATHNAME', 'pgj_simulation'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION journey._simulation(bigint, int) IS
  'begins (ends, with nulls) the simulation of a journey version in this backend';

CREATE OR REPLACE FUNCTION journey._simulation_check() RETURNS void
AS 'MODULE_PATHNAME', 'pgj_simulation_check'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION journey._simulation_check() IS
  'refuses a simulation inside a running tick or another simulation';

CREATE OR REPLACE FUNCTION journey._simulate_run(journey_id bigint, version int, name text,
                                                 until timestamptz) RETURNS int
AS 'MODULE_PATHNAME', 'pgj_simulate_run'
LANGUAGE C VOLATILE STRICT SET search_path = pg_catalog, journey, pg_temp;
COMMENT ON FUNCTION journey._simulate_run(bigint, int, text, timestamptz) IS
  'runs the running simulation''s virtual clock from now() up to until; returns its ticks';

CREATE OR REPLACE FUNCTION journey._customer_keys(customers text, search_path text) RETURNS text[]
AS 'MODULE_PATHNAME', 'pgj_customer_keys'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION journey._customer_keys(text, text) IS
  'the first column of a query, as text, run as the role that called in with its search_path';

CREATE OR REPLACE FUNCTION journey._restore_sequence(seq regclass, before bigint, after bigint)
RETURNS text
AS 'MODULE_PATHNAME', 'pgj_restore_sequence'
LANGUAGE C VOLATILE SET search_path = pg_catalog, journey, pg_temp;

-- The sequences a simulation may advance and can put back: those that number a
-- column (serial, identity), one value at a time (cache 1: values another
-- backend cached could not be told apart), readable and settable here; each
-- with its last value (null: never called).
CREATE OR REPLACE FUNCTION journey._sequence_values() RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  seq oid;
  v bigint;
  out jsonb := '{}';
BEGIN
  -- Read as a table (an ACCESS SHARE lock), not by pg_sequence_last_value(),
  -- whose ROW EXCLUSIVE lock on every serial of the database would last until
  -- the caller's transaction ends and stop other simulations putting theirs back.
  FOR seq IN
    SELECT s.seqrelid FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
     WHERE s.seqcache = 1 AND NOT pg_is_other_temp_schema(c.relnamespace)
       AND EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid
                      AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
                      AND d.deptype IN ('a', 'i'))
       AND has_sequence_privilege(s.seqrelid, 'SELECT')
       AND has_sequence_privilege(s.seqrelid, 'UPDATE')
  LOOP
    EXECUTE format('SELECT CASE WHEN is_called THEN last_value END FROM %s', seq::regclass) INTO v;
    out := out || jsonb_build_object(seq::text, v);
  END LOOP;
  RETURN out;
END
$$;

-- The version a simulation starts from: the one asked for, else the draft,
-- else the live one; refused when the role that asked may not read the
-- audience (or write it, for update_field steps) itself, since the run reads
-- and writes it as the journey's owner and its outcome tells what it read.
CREATE OR REPLACE FUNCTION journey._simulation_source(j journey.journeys, p_version int)
RETURNS journey.versions
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  src journey.versions;
BEGIN
  IF j.state = 'archived' THEN
    RAISE EXCEPTION 'journey "%" is archived and cannot be simulated', j.name
      USING ERRCODE = '55000', HINT = 'import its export under a new name to simulate it';
  END IF;
  IF p_version IS NOT NULL THEN
    src := journey._version_of(j, p_version);
  ELSE
    SELECT * INTO src FROM journey.versions x
     WHERE x.journey_id = j.id AND x.status IN ('draft', 'published')
     ORDER BY x.status = 'draft' DESC LIMIT 1;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'journey "%" has neither a draft nor a live version to simulate', j.name
        USING ERRCODE = '55000', HINT = 'name a version';
    END IF;
  END IF;
  -- A version that runs one enrollment per entity cannot take customer keys
  -- (core, from the settings of the version simulated: a draft's own).
  PERFORM journey._entity_key(j.name, src.settings, NULL, key_list => 'simulate');
  IF NOT has_table_privilege(journey._invoking_role(), j.audience, 'SELECT') THEN
    RAISE EXCEPTION 'permission denied to simulate journey "%": it reads table %', j.name,
      j.audience USING ERRCODE = '42501',
      HINT = format('simulating needs SELECT on %s', j.audience);
  END IF;
  IF EXISTS (SELECT 1 FROM jsonb_array_elements(journey.export(j.name, src.version)->'steps') st
              WHERE st->>'type' = 'update_field')
     AND NOT has_table_privilege(journey._invoking_role(), j.audience, 'UPDATE') THEN
    RAISE EXCEPTION 'permission denied to simulate journey "%": its update_field steps write table %',
      j.name, j.audience USING ERRCODE = '42501',
      HINT = format('simulating this journey needs UPDATE on %s', j.audience);
  END IF;
  RETURN src;
END
$$;

-- Makes the simulated version live, inside the simulation's subtransaction: the
-- draft published in place, or a copy of the version asked for under the next
-- number, so that every enrollment of it is one of this simulation's. Returns
-- its number.
CREATE OR REPLACE FUNCTION journey._simulation_version(j journey.journeys, src journey.versions)
RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  s int;
  def jsonb;
  problems jsonb;
BEGIN
  IF src.status = 'draft' THEN
    s := src.version;
    def := journey.export(j.name, s);
    SELECT coalesce(jsonb_agg(to_jsonb(i)), '[]') INTO problems
      FROM journey.validate_definition(def, j.owner) i WHERE i.severity = 'error';
    PERFORM journey._raise_issues(format('journey "%s" cannot be simulated: its draft', j.name),
                                  problems);
    UPDATE journey.versions x SET status = 'retired'
     WHERE x.journey_id = j.id AND x.status = 'published';
    UPDATE journey.versions x
       SET status = 'published', definition = def, published_at = now(), owner = j.owner,
           templates = journey._definition_templates(def),
           ignored_suppression_reasons = journey._ignored_suppression_reasons(def->'settings')
     WHERE x.journey_id = j.id AND x.version = s;
  ELSE
    SELECT max(x.version) + 1 INTO s FROM journey.versions x WHERE x.journey_id = j.id;
    def := src.definition;
    UPDATE journey.versions x SET status = 'retired'
     WHERE x.journey_id = j.id AND x.status = 'published';
    INSERT INTO journey.versions (journey_id, version, status, start_key, settings, definition,
                                  owner, published_at, published_by, templates,
                                  ignored_suppression_reasons)
      VALUES (j.id, s, 'published', src.start_key, src.settings, src.definition,
              coalesce(src.owner, j.owner), now(), src.published_by, src.templates,
              src.ignored_suppression_reasons);
    INSERT INTO journey.steps (journey_id, version, key, type, config, position, layout)
      SELECT x.journey_id, s, x.key, x.type, x.config, x.position, x.layout
        FROM journey.steps x WHERE x.journey_id = j.id AND x.version = src.version;
    INSERT INTO journey.connections (journey_id, version, from_key, branch, to_key)
      SELECT x.journey_id, s, x.from_key, x.branch, x.to_key
        FROM journey.connections x WHERE x.journey_id = j.id AND x.version = src.version;
    INSERT INTO journey.entry_triggers (journey_id, version, position, type, config)
      SELECT x.journey_id, s, x.position, x.type, x.config
        FROM journey.entry_triggers x WHERE x.journey_id = j.id AND x.version = src.version;
    INSERT INTO journey.exit_rules (journey_id, version, position, type, config, is_goal)
      SELECT x.journey_id, s, x.position, x.type, x.config, x.is_goal
        FROM journey.exit_rules x WHERE x.journey_id = j.id AND x.version = src.version;
  END IF;
  -- Live for this subtransaction only (no schedules: nothing runs on a cron
  -- during a simulation).
  UPDATE journey.journeys x
     SET published_version = s, settings = def->'settings', state = 'published'
   WHERE x.id = j.id;
  PERFORM journey._install_audience_triggers(j.audience);
  RETURN s;
END
$$;

-- Puts back what a simulation's rollback did not: the sequences that advanced
-- since seq_before (journey._restore_sequence), with a NOTICE for each it has
-- to leave advanced.
CREATE OR REPLACE FUNCTION journey._restore_sequences(p_name text, p_seq_before jsonb)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  seq_after jsonb := journey._sequence_values();
  k text;
  outcome text;
BEGIN
  FOR k IN SELECT a.key FROM jsonb_each(seq_after) a
            WHERE a.value IS DISTINCT FROM p_seq_before->a.key LOOP
    outcome := journey._restore_sequence(k::oid::regclass, (p_seq_before->>k)::bigint,
                                         (seq_after->>k)::bigint);
    IF outcome <> 'restored' THEN
      RAISE NOTICE 'simulation of journey "%" left sequence % advanced', p_name, k::oid::regclass
        USING DETAIL = CASE outcome WHEN 'busy' THEN 'a transaction that took values from it is still open'
                                    ELSE 'another session took values from it meanwhile' END;
    END IF;
  END LOOP;
END
$$;

-- The simulation itself, for customer keys already selected (journey.simulate
-- runs the caller's query). Everything it writes is written inside one
-- subtransaction that it always rolls back, even on a cancel; the sequences
-- that rollback cannot undo are put back to p_seq_before (taken before the
-- customers query ran), the workers are not woken and the compiled journeys of
-- this backend are forgotten. Errors are raised again as they were (context
-- included).
CREATE OR REPLACE FUNCTION journey._simulate(p_journey_id bigint, p_keys text[], p_horizon interval,
                                             p_version int, p_seq_before jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys;
  src journey.versions;
  s int;
  seq_before jsonb := coalesce(p_seq_before, journey._sequence_values());
  report jsonb;
  started boolean := false;
BEGIN
  SELECT * INTO j FROM journey.journeys x WHERE x.id = p_journey_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'journey % does not exist', p_journey_id USING ERRCODE = '42704';
  END IF;
  IF p_horizon IS NULL OR p_horizon <= interval '0' THEN
    RAISE EXCEPTION 'horizon of the simulation of journey "%" must be a positive interval, not %',
      j.name, coalesce(p_horizon::text, 'null') USING ERRCODE = '22023';
  END IF;
  src := journey._simulation_source(j, p_version);
  BEGIN
    s := journey._simulation_version(j, src);
    PERFORM journey._simulation(j.id, s);
    started := true;
    -- Enter the customers now and run every due time up to the horizon.
    PERFORM journey._enroll_rows(j.id, coalesce(p_keys, '{}'));
    PERFORM journey._simulate_run(j.id, s, j.name, now() + p_horizon);
    SELECT jsonb_agg(to_jsonb(f) ORDER BY f.ordinality) INTO report
      FROM journey.funnel(j.name, version => s) WITH ORDINALITY f;
    RAISE SQLSTATE 'PJ000';  -- roll everything back
  EXCEPTION
    WHEN SQLSTATE 'PJ000' THEN
      PERFORM journey._simulation(NULL, NULL);
    WHEN OTHERS OR query_canceled THEN
      -- Only the simulation this call began: a call refused because another
      -- one runs (a trigger of its field update called simulate) ends nothing.
      IF started THEN
        PERFORM journey._simulation(NULL, NULL);
      END IF;
      PERFORM journey._restore_sequences(j.name, seq_before);
      RAISE;
  END;
  PERFORM journey._restore_sequences(j.name, seq_before);
  RETURN report;
END
$$;

-- The customer keys a simulation's customers query selects (its first column,
-- as text), the query run as the role that called simulate, with its
-- search_path, and rolled back; each key checked against the audience's key
-- type. A trailing semicolon or comment is fine; the query is read as a
-- subquery, so a data-modifying WITH is refused, saying so.
CREATE OR REPLACE FUNCTION journey._simulation_keys(j journey.journeys, p_customers text,
                                                    p_search_path text)
RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  query text := regexp_replace(p_customers, '[\s;]+$', '');
  keys text[];
  kt record;
  st text;
  msg text;
BEGIN
  BEGIN
    keys := journey._customer_keys(query, p_search_path);
    RAISE SQLSTATE 'PJ000';  -- and roll back whatever the query did
  EXCEPTION
    WHEN SQLSTATE 'PJ000' THEN NULL;
    WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
      IF st = '0A000' AND msg LIKE '%data-modifying%' THEN
        RAISE EXCEPTION 'customers of the simulation of journey "%" must be a query returning customer keys: %',
          j.name, msg USING ERRCODE = st, DETAIL = format('customers: %s', p_customers),
          HINT = 'the query is read as a subquery: select the keys without a data-modifying WITH';
      END IF;
      RAISE EXCEPTION 'customers of the simulation of journey "%" must be a query returning customer keys: %',
        j.name, msg USING ERRCODE = st, DETAIL = format('customers: %s', p_customers);
  END;
  SELECT k.cast_type, k.type_name INTO kt
    FROM journey.audiences a, journey._key_type(a.relation, a.key_column) k
   WHERE a.relation = j.audience;
  BEGIN
    EXECUTE format('SELECT $1::%s[]', kt.cast_type) USING keys;
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RAISE EXCEPTION 'customers of the simulation of journey "%" must return keys of type % (the key of %): %',
      j.name, kt.type_name, j.audience, msg USING ERRCODE = st, DETAIL = format('customers: %s', p_customers);
  END;
  RETURN keys;
END
$$;

-- journey.simulate's work, as the extension's owner: checks the arguments,
-- notes the sequences' values, selects the customers (as the role that asked,
-- with p_search_path) and runs the simulation. Granted as simulate is: it does
-- every check simulate does.
CREATE OR REPLACE FUNCTION journey._simulate_checked(p_journey text, p_customers text,
                                                     p_horizon interval, p_version int,
                                                     p_search_path text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(p_journey);
  seq_before jsonb;
  keys text[];
BEGIN
  PERFORM journey._simulation_check();
  -- A simulation runs the engine in the caller's transaction, on the
  -- coordinator, which holds no shards (docs/scale-out.md).
  IF journey._citus_distributed() THEN
    RAISE EXCEPTION 'cannot simulate journey "%" on a distributed install', j.name
      USING ERRCODE = '0A000',
            DETAIL = 'the simulation runs the engine in this transaction on the coordinator, '
                     'which holds no customers',
            HINT = 'simulate on a single-node copy of the definitions (journey.export, journey.import)';
  END IF;
  IF p_horizon IS NULL OR p_horizon <= interval '0' THEN
    RAISE EXCEPTION 'horizon of the simulation of journey "%" must be a positive interval, not %',
      j.name, coalesce(p_horizon::text, 'null') USING ERRCODE = '22023';
  END IF;
  BEGIN
    PERFORM now() + p_horizon;
  EXCEPTION WHEN datetime_field_overflow THEN
    RAISE EXCEPTION 'horizon of the simulation of journey "%" is out of range: %', j.name, p_horizon
      USING ERRCODE = '22023', HINT = 'now() plus the horizon must be a valid timestamp';
  END;
  IF p_customers IS NULL THEN
    RAISE EXCEPTION 'customers of the simulation of journey "%" must not be null', j.name
      USING ERRCODE = '22004', HINT = 'pass a query returning customer keys';
  END IF;
  IF current_setting('transaction_read_only')::boolean THEN
    RAISE EXCEPTION 'cannot simulate journey "%" in a read-only transaction', j.name
      USING ERRCODE = '25006',
            DETAIL = 'a simulation writes its run and rolls it back',
            HINT = 'run it in a read-write transaction on the primary';
  END IF;
  -- Before the customers query: what it advances is put back too.
  seq_before := journey._sequence_values();
  BEGIN
    keys := journey._simulation_keys(j, p_customers, p_search_path);
  EXCEPTION WHEN OTHERS OR query_canceled THEN
    PERFORM journey._restore_sequences(j.name, seq_before);
    RAISE;
  END;
  RETURN journey._simulate(j.id, keys, p_horizon, p_version, seq_before);
END
$$;

-- Runs the draft of a journey (or the version given) over the customers the
-- query selects, from now to now + horizon on a virtual clock, and returns
-- the predicted funnel (journey.funnel's columns); nothing of it remains.
-- The query runs as the caller, with the caller's search_path, and what it
-- writes is rolled back too.
CREATE OR REPLACE FUNCTION journey.simulate(journey text, customers text, horizon interval,
                                            version int DEFAULT NULL)
RETURNS TABLE (step_key text, step_type journey.step_type, entered bigint, now_at bigint,
               moved jsonb, completed bigint, exited jsonb, converted bigint, failed bigint,
               median_time interval, p90_time interval)
LANGUAGE sql AS $$
  SELECT r.step_key, r.step_type, r.entered, r.now_at, r.moved, r.completed, r.exited,
         r.converted, r.failed, r.median_time, r.p90_time
    FROM jsonb_array_elements(coalesce(
           journey._simulate_checked(simulate.journey, simulate.customers, simulate.horizon,
                                     simulate.version, pg_catalog.current_setting('search_path')),
           '[]')) WITH ORDINALITY a(x, o),
         jsonb_to_record(a.x)
           AS r(step_key text, step_type journey.step_type, entered bigint, now_at bigint,
                moved jsonb, completed bigint, exited jsonb, converted bigint, failed bigint,
                median_time interval, p90_time interval)
   ORDER BY a.o
$$;
COMMENT ON FUNCTION journey.simulate(text, text, interval, int) IS
  'the funnel a journey''s draft (or version) would produce over these customers up to the horizon; rolled back';

REVOKE ALL ON FUNCTION journey._simulation(bigint, int), journey._simulation_check(),
  journey._simulate_run(bigint, int, text, timestamptz), journey._customer_keys(text, text),
  journey._restore_sequence(regclass, bigint, bigint), journey._sequence_values(),
  journey._restore_sequences(text, jsonb),
  journey._simulation_source(journey.journeys, int),
  journey._simulation_version(journey.journeys, journey.versions),
  journey._simulation_keys(journey.journeys, text, text),
  journey._simulate(bigint, text[], interval, int, jsonb),
  journey._simulate_checked(text, text, interval, int, text),
  journey.simulate(text, text, interval, int)
  FROM PUBLIC;
-- journey._simulate is not granted: calling it directly would skip simulate's
-- checks (journey._simulate_checked does them all).
GRANT EXECUTE ON FUNCTION
  journey.simulate(text, text, interval, int),
  journey._simulate_checked(text, text, interval, int, text)
TO journey_reader;
