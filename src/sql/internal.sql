-- Internal helpers shared by the authoring, lifecycle and runtime functions.

-- Columns of an audience table with the type category conditions compare by
-- (core::classify_column, src/core/column_class.cpp: the one classification).
CREATE OR REPLACE FUNCTION journey._audience_columns(relation regclass)
RETURNS TABLE (attnum int, name text, type_name text, category text)
AS 'MODULE_PATHNAME', 'pgj_audience_columns'
LANGUAGE C STABLE STRICT SET search_path = pg_catalog, journey, pg_temp;

-- Schema-qualified, quoted name of a relation (what export writes).
CREATE OR REPLACE FUNCTION journey._relation_name(relation regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT format('%I.%I', n.nspname, c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = $1
$$;

-- The journey named p_name (locked for update when asked); 42704 when missing.
CREATE OR REPLACE FUNCTION journey._journey(p_name text, p_lock boolean DEFAULT false)
RETURNS journey.journeys
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys;
BEGIN
  IF p_name IS NULL THEN
    RAISE EXCEPTION 'journey name must not be null' USING ERRCODE = '22004';
  END IF;
  IF p_lock THEN
    SELECT * INTO j FROM journey.journeys x WHERE x.name = p_name FOR UPDATE;
  ELSE
    SELECT * INTO j FROM journey.journeys x WHERE x.name = p_name;
  END IF;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'journey "%" does not exist', p_name USING ERRCODE = '42704';
  END IF;
  RETURN j;
END
$$;

-- The registered audience a definition names: schema-qualified, or by table
-- name alone when exactly one registered audience has that name (so a name
-- means the same whatever the caller's search_path). NULL when none.
CREATE OR REPLACE FUNCTION journey._find_audience(p_name text) RETURNS regclass
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  found regclass[];
BEGIN
  SELECT array_agg(a.relation) INTO found
    FROM journey.audiences a
    JOIN pg_class c ON c.oid = a.relation
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE p_name IN (format('%I.%I', n.nspname, c.relname), n.nspname || '.' || c.relname,
                    format('%I', c.relname), c.relname::text);
  IF cardinality(found) > 1 THEN
    RAISE EXCEPTION 'audience name "%" is ambiguous', p_name
      USING ERRCODE = '42725', HINT = 'qualify it with its schema, as in public.customers';
  END IF;
  RETURN found[1];
END
$$;

-- Like _find_audience, but a name that is not registered is an error.
CREATE OR REPLACE FUNCTION journey._audience_by_name(p_name text) RETURNS regclass
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  rel regclass := journey._find_audience(p_name);
BEGIN
  IF rel IS NULL THEN
    RAISE EXCEPTION 'audience "%" is not registered', p_name
      USING ERRCODE = '42704',
            HINT = 'register the customer table first: SELECT journey.register_audience(''table'', ''key_column'')';
  END IF;
  RETURN rel;
END
$$;

-- Raises the error for a state transition the journey's state does not allow.
CREATE OR REPLACE FUNCTION journey._illegal_transition(j journey.journeys, verb text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'cannot % journey "%": it is %', verb, j.name,
    j.state::text || CASE j.state
                 WHEN 'draft' THEN ' (a draft journey can only be published or archived)'
                 WHEN 'published' THEN ' (a published journey can only be paused or archived)'
                 WHEN 'paused' THEN ' (a paused journey can only be resumed, published or archived)'
                 ELSE ' (archived is final: no transition is allowed)'
               END
    USING ERRCODE = '55000';
END
$$;

-- Version p_version of journey j (42704 naming both when it has none); null:
-- its latest version (the draft when it has one).
CREATE OR REPLACE FUNCTION journey._version_of(j journey.journeys, p_version int)
RETURNS journey.versions
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  v journey.versions;
BEGIN
  SELECT * INTO v FROM journey.versions x
   WHERE x.journey_id = j.id AND (x.version = p_version OR p_version IS NULL)
   ORDER BY x.version DESC LIMIT 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'journey "%" has no version %', j.name, p_version USING ERRCODE = '42704';
  END IF;
  RETURN v;
END
$$;

-- Locks journey p_journey for a lifecycle verb and returns it; raises the
-- illegal transition unless its state allows the verb: publish and archive
-- anything but an archived journey, pause a published one, resume a paused one.
CREATE OR REPLACE FUNCTION journey._journey_for(p_journey text, verb text) RETURNS journey.journeys
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys;
BEGIN
  PERFORM journey._citus_require_coordinator(format('%s journey "%s"', verb, p_journey));
  j := journey._journey(p_journey, true);
  IF NOT (CASE verb WHEN 'pause' THEN j.state = 'published'
                    WHEN 'resume' THEN j.state = 'paused'
                    ELSE j.state <> 'archived' END) THEN
    PERFORM journey._illegal_transition(j, verb);
  END IF;
  RETURN j;
END
$$;

-- Locks the journey and returns its draft version, starting a new draft from
-- the latest version when there is none (the first edit after a publish).
CREATE OR REPLACE FUNCTION journey._draft_for_edit(p_journey text, OUT j journey.journeys, OUT v int)
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  src int;
BEGIN
  PERFORM journey._citus_require_coordinator(format('edit journey "%s"', p_journey));
  j := journey._journey(p_journey, true);
  IF j.state = 'archived' THEN
    RAISE EXCEPTION 'journey "%" is archived and cannot be edited', j.name
      USING ERRCODE = '55000',
            HINT = 'import its export under a new name to start again from it';
  END IF;
  SELECT x.version INTO v FROM journey.versions x WHERE x.journey_id = j.id AND x.status = 'draft';
  IF FOUND THEN
    UPDATE journey.journeys x SET updated_at = now() WHERE x.id = j.id;
    RETURN;
  END IF;
  SELECT max(x.version) INTO src FROM journey.versions x WHERE x.journey_id = j.id;
  v := src + 1;
  INSERT INTO journey.versions (journey_id, version, status, start_key, settings)
    SELECT x.journey_id, v, 'draft', x.start_key, x.settings
      FROM journey.versions x WHERE x.journey_id = j.id AND x.version = src;
  INSERT INTO journey.steps (journey_id, version, key, type, config, position, layout)
    SELECT s.journey_id, v, s.key, s.type, s.config, s.position, s.layout
      FROM journey.steps s WHERE s.journey_id = j.id AND s.version = src;
  INSERT INTO journey.connections (journey_id, version, from_key, branch, to_key)
    SELECT c.journey_id, v, c.from_key, c.branch, c.to_key
      FROM journey.connections c WHERE c.journey_id = j.id AND c.version = src;
  INSERT INTO journey.entry_triggers (journey_id, version, position, type, config)
    SELECT t.journey_id, v, t.position, t.type, t.config
      FROM journey.entry_triggers t WHERE t.journey_id = j.id AND t.version = src;
  INSERT INTO journey.exit_rules (journey_id, version, position, type, config, is_goal)
    SELECT r.journey_id, v, r.position, r.type, r.config, r.is_goal
      FROM journey.exit_rules r WHERE r.journey_id = j.id AND r.version = src;
  UPDATE journey.journeys x SET updated_at = now() WHERE x.id = j.id;
END
$$;

-- Checks a step key's form; 22023 naming the journey otherwise.
CREATE OR REPLACE FUNCTION journey._check_step_key(p_journey text, p_key text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  IF p_key IS NULL OR p_key !~ '^[A-Za-z0-9_.-]{1,63}$' THEN
    RAISE EXCEPTION 'invalid step key "%" in journey "%"', p_key, p_journey
      USING ERRCODE = '22023',
            HINT = 'step keys are 1 to 63 letters, digits, "_", "-" or "."';
  END IF;
END
$$;

-- Checks that a step exists in the draft; 42704 naming step and journey otherwise.
CREATE OR REPLACE FUNCTION journey._require_step(j journey.journeys, v int, p_key text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  PERFORM 1 FROM journey.steps s WHERE s.journey_id = j.id AND s.version = v AND s.key = p_key;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'step "%" does not exist in journey "%"', p_key, j.name
      USING ERRCODE = '42704';
  END IF;
END
$$;

-- Inserts one step at the end of a draft (add_step). The caller holds the
-- journey's row lock (_draft_for_edit), so the duplicate check cannot race.
CREATE OR REPLACE FUNCTION journey._insert_step(j journey.journeys, v int, p_key text, p_type text,
                                     p_config jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  PERFORM 1 FROM journey.steps s WHERE s.journey_id = j.id AND s.version = v AND s.key = p_key;
  IF FOUND THEN
    RAISE EXCEPTION 'step "%" already exists in journey "%"', p_key, j.name
      USING ERRCODE = '23505';
  END IF;
  PERFORM journey._insert_step_at(j, v, p_key, p_type, p_config,
                                  coalesce((SELECT max(s.position) + 1 FROM journey.steps s
                                             WHERE s.journey_id = j.id AND s.version = v), 1));
END
$$;

-- Checks a step config for storing (an object without the members the
-- definition uses for the key, the type and the connections).
CREATE OR REPLACE FUNCTION journey._check_step_config(j journey.journeys, p_key text, p_config jsonb)
RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  reserved text;
BEGIN
  IF p_config IS NULL OR jsonb_typeof(p_config) <> 'object' THEN
    RAISE EXCEPTION 'config of step "%" of journey "%" must be a JSON object', p_key, j.name
      USING ERRCODE = '22023';
  END IF;
  SELECT k INTO reserved FROM unnest(ARRAY['key', 'type', 'next', 'branches']) k
   WHERE p_config ? k LIMIT 1;
  IF reserved IS NOT NULL THEN
    RAISE EXCEPTION 'config of step "%" of journey "%" may not contain "%"', p_key, j.name, reserved
      USING ERRCODE = '22023', HINT = 'connect steps with journey.connect()';
  END IF;
END
$$;

-- Inserts one step into a draft at `p_position`, with the checks add_step and
-- import share; the caller has made sure the key is new. Import passes the
-- definition's order and checks its keys at once, so importing n steps reads
-- no step row per step (a max(position) + 1 over the steps so far made it
-- quadratic), and needs no subtransaction per step.
CREATE OR REPLACE FUNCTION journey._insert_step_at(j journey.journeys, v int, p_key text, p_type text,
                                                   p_config jsonb, p_position int) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  PERFORM journey._check_step_key(j.name, p_key);
  IF p_type IS NULL OR NOT p_type = ANY (enum_range(NULL::journey.step_type)::text[]) THEN
    RAISE EXCEPTION 'unknown step type "%" for step "%" of journey "%"', p_type, p_key, j.name
      USING ERRCODE = '22023',
            HINT = 'step types: ' || array_to_string(enum_range(NULL::journey.step_type)::text[], ', ');
  END IF;
  PERFORM journey._check_step_config(j, p_key, p_config);
  INSERT INTO journey.steps (journey_id, version, key, type, config, position)
  VALUES (j.id, v, p_key, p_type::journey.step_type, p_config, p_position);
END
$$;

-- A draft's entry triggers (kind 'entry') and exit rules ('exit') are both
-- lists ordered by position; this is what differs between the two: the table,
-- the name, the types and the keys a config may not hold.
CREATE OR REPLACE FUNCTION journey._list_kind(kind text, OUT tbl regclass, OUT what text,
                                              OUT types text[], OUT reserved text[])
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT CASE kind WHEN 'entry' THEN 'journey.entry_triggers'::regclass
                   ELSE 'journey.exit_rules'::regclass END,
         CASE kind WHEN 'entry' THEN 'entry trigger' ELSE 'exit rule' END,
         CASE kind WHEN 'entry' THEN ARRAY['event', 'attribute', 'segment', 'date', 'manual']
                   ELSE ARRAY['event', 'condition'] END,
         CASE kind WHEN 'entry' THEN ARRAY['type'] ELSE ARRAY['type', 'is_goal'] END
$$;

-- Checks the type and config of an entry trigger or exit rule of journey j
-- (22023 naming the journey).
CREATE OR REPLACE FUNCTION journey._check_list_item(j journey.journeys, kind text, p_type text,
                                                    p_config jsonb) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  k record := journey._list_kind(kind);
BEGIN
  IF p_type IS NULL OR NOT p_type = ANY (k.types) THEN
    RAISE EXCEPTION 'unknown % type "%" for journey "%"', k.what, p_type, j.name
      USING ERRCODE = '22023', HINT = k.what || ' types: ' || array_to_string(k.types, ', ');
  END IF;
  IF p_config IS NULL OR jsonb_typeof(p_config) <> 'object' OR p_config ?| k.reserved THEN
    RAISE EXCEPTION 'config of the % % of journey "%" must be a JSON object without %', p_type, k.what,
      j.name, '"' || array_to_string(k.reserved, '" or "') || '"' USING ERRCODE = '22023';
  END IF;
END
$$;

-- Checks that the draft has an entry trigger or exit rule at `pos` (42704).
CREATE OR REPLACE FUNCTION journey._require_list_item(j journey.journeys, v int, kind text, pos int)
RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  k record := journey._list_kind(kind);
  present boolean;
BEGIN
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s x
                                  WHERE x.journey_id = $1 AND x.version = $2 AND x.position = $3)',
                 k.tbl)
    INTO present USING j.id, v, pos;
  IF NOT present THEN
    RAISE EXCEPTION 'journey "%" has no % at position %', j.name, k.what, coalesce(pos::text, 'null')
      USING ERRCODE = '42704';
  END IF;
END
$$;

-- Inserts one entry trigger or exit rule (is_goal: exit rules only) at the end
-- of a draft's list; returns its position.
CREATE OR REPLACE FUNCTION journey._insert_list_item(j journey.journeys, v int, kind text, p_type text,
                                                     p_config jsonb, p_is_goal boolean) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  k record := journey._list_kind(kind);
  pos int;
BEGIN
  PERFORM journey._check_list_item(j, kind, p_type, p_config);
  EXECUTE format('SELECT coalesce(max(x.position), 0) + 1 FROM %s x
                   WHERE x.journey_id = $1 AND x.version = $2', k.tbl)
    INTO pos USING j.id, v;
  EXECUTE format('INSERT INTO %s (journey_id, version, position, type, config%s)
                  VALUES ($1, $2, $3, $4, $5%s)', k.tbl,
                 CASE kind WHEN 'exit' THEN ', is_goal' ELSE '' END,
                 CASE kind WHEN 'exit' THEN ', coalesce($6, false)' ELSE '' END)
    USING j.id, v, pos, p_type, p_config, p_is_goal;
  RETURN pos;
END
$$;

-- Inserts one entry trigger (at the end) into a draft; returns its position.
CREATE OR REPLACE FUNCTION journey._insert_entry_trigger(j journey.journeys, v int, p_type text,
                                              p_config jsonb) RETURNS int
LANGUAGE sql SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT journey._insert_list_item(j, v, 'entry', p_type, p_config, NULL)
$$;

-- Inserts one exit rule (at the end) into a draft; returns its position.
CREATE OR REPLACE FUNCTION journey._insert_exit_rule(j journey.journeys, v int, p_type text, p_config jsonb,
                                          p_is_goal boolean) RETURNS int
LANGUAGE sql SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT journey._insert_list_item(j, v, 'exit', p_type, p_config, p_is_goal)
$$;

-- Removes the entry trigger or exit rule at `pos` from the draft of journey
-- p_journey; later ones move up.
CREATE OR REPLACE FUNCTION journey._remove_list_item(p_journey text, kind text, pos int) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(p_journey);
  k record := journey._list_kind(kind);
  removed bigint;
BEGIN
  EXECUTE format('DELETE FROM %s x WHERE x.journey_id = $1 AND x.version = $2 AND x.position = $3',
                 k.tbl)
    USING (d.j).id, d.v, pos;
  GET DIAGNOSTICS removed = ROW_COUNT;
  IF removed = 0 THEN
    RAISE EXCEPTION 'journey "%" has no % at position %', (d.j).name, k.what, pos
      USING ERRCODE = '42704';
  END IF;
  EXECUTE format('UPDATE %s x SET position = x.position - 1
                   WHERE x.journey_id = $1 AND x.version = $2 AND x.position > $3', k.tbl)
    USING (d.j).id, d.v, pos;
END
$$;

-- Raises one 22023 error listing every error-severity issue, if there are any.
CREATE OR REPLACE FUNCTION journey._raise_issues(p_what text, p_issues jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  n int := jsonb_array_length(p_issues);
BEGIN
  IF n > 0 THEN
    RAISE EXCEPTION '% has % error%', p_what, n, CASE WHEN n = 1 THEN '' ELSE 's' END
      USING ERRCODE = '22023',
            DETAIL = (SELECT string_agg(format('%s: %s', coalesce(i->>'step_key', 'journey'),
                                               i->>'message'), E'\n')
                        FROM jsonb_array_elements(p_issues) i);
  END IF;
END
$$;

-- What reading customer ids of an audience in SQL needs to know about its key
-- column: the type ids are cast to before they are compared with it, and the
-- key's declared type (for messages). The cast type is the column's base type
-- without its typmod, so that an id is never truncated to another customer's
-- key ('abcdef'::char(3)) nor checked against a domain's constraints, named by
-- its catalog name ("bpchar", not "character", which means char(1)); one id at
-- a time, _lookup_customer (C) reads it the same way.
CREATE OR REPLACE FUNCTION journey._key_type(p_relation regclass, p_key_column name,
                                             OUT cast_type text, OUT type_name text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  typ record;
BEGIN
  SELECT t.typtype, t.typbasetype, format('%I.%I', n.nspname, t.typname) AS cast_type,
         format_type(att.atttypid, att.atttypmod) AS type_name
    INTO typ
    FROM pg_attribute att
    JOIN pg_type t ON t.oid = att.atttypid
    JOIN pg_namespace n ON n.oid = t.typnamespace
   WHERE att.attrelid = p_relation AND att.attname = p_key_column;
  type_name := typ.type_name;
  WHILE typ.typtype = 'd' LOOP  -- a domain: its base type
    SELECT t.typtype, t.typbasetype, format('%I.%I', n.nspname, t.typname) AS cast_type
      INTO typ
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE t.oid = typ.typbasetype;
  END LOOP;
  cast_type := typ.cast_type;
END
$$;

-- Registered audiences (all of them when p_audience is null, in name order)
-- with their key column and its types (_key_type).
CREATE OR REPLACE FUNCTION journey._audience_keys(p_audience regclass DEFAULT NULL)
RETURNS TABLE (relation regclass, key_column name, cast_type text, type_name text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  -- Two statements, not "p_audience IS NULL OR ...": one audience is an index
  -- probe even where sequential scans are off (_enroll_rows), whose disabled
  -- cost would otherwise have every call planned as a huge query and JIT-compiled.
  IF p_audience IS NULL THEN  -- (an audience whose table is gone is left out)
    RETURN QUERY
    SELECT a.relation, a.key_column, k.cast_type, k.type_name
      FROM journey.audiences a, journey._key_type(a.relation, a.key_column) k
     WHERE EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = a.relation)
     ORDER BY a.relation::text;
  ELSE
    RETURN QUERY
    SELECT a.relation, a.key_column, k.cast_type, k.type_name
      FROM journey.audiences a, journey._key_type(a.relation, a.key_column) k
     WHERE a.relation = p_audience;
  END IF;
END
$$;

-- The canonical ids of the keys that name customers of the audience, each once;
-- keys of no customer are left out (a key that is not a value of the key's
-- type raises, like a bad cast).
CREATE OR REPLACE FUNCTION journey._canonical_keys(p_audience regclass, p_keys text[]) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  k record;
  keys text[];
BEGIN
  SELECT * INTO k FROM journey._audience_keys(p_audience);
  EXECUTE format('SELECT coalesce(array_agg(DISTINCT t.%1$I::text), ''{}'')
                    FROM unnest($1::text[]) u(c) JOIN %2$s t ON t.%1$I = u.c::%3$s',
                 k.key_column, p_audience, k.cast_type)
    INTO keys USING p_keys;
  RETURN keys;
END
$$;

-- Raises 42P01 when the table of registered audience p_audience no longer
-- exists: a temporary table registered before 0.2 refused them is dropped with
-- its session without the drop guard (which unregisters a dropped table)
-- seeing it.
CREATE OR REPLACE FUNCTION journey._require_live_audience(p_audience regclass) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = p_audience) THEN
    RAISE EXCEPTION 'the table of audience % no longer exists', p_audience::oid
      USING ERRCODE = '42P01',
            DETAIL = 'it was dropped without the drop guard seeing it (a temporary table ends with its session)',
            HINT = format('unregister it: SELECT journey.unregister_audience(%s::regclass)', p_audience::oid);
  END IF;
END
$$;

-- The audience and canonical id of the customer an event or an enrollment
-- names. With p_audience: that audience's customer (42704 unregistered, 22P02
-- not a value of its key type, 23503 no such customer). Without: the one
-- registered audience whose key type accepts the id and that has the customer
-- (23503 none, 42725 several: the caller must say which).
CREATE OR REPLACE FUNCTION journey._resolve_customer(p_id text, p_audience regclass,
                                                     p_event text DEFAULT NULL,
                                                     OUT audience regclass, OUT key text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  a record;
  k record;
  r record;
  found_in regclass[] := '{}';
  keys text[] := '{}';
  why text[] := '{}';
  swapped text;
BEGIN
  IF p_audience IS NOT NULL THEN
    SELECT x.relation, x.key_column INTO a FROM journey.audiences x WHERE x.relation = p_audience;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'relation "%" is not a registered audience', p_audience USING ERRCODE = '42704';
    END IF;
    PERFORM journey._require_live_audience(a.relation);
    r := journey._lookup_customer(a.relation, p_id);
    IF r.problem = 'invalid' THEN
      k := journey._key_type(a.relation, a.key_column);
      RAISE EXCEPTION 'customer id "%" is not a valid key of audience %', p_id, p_audience
        USING ERRCODE = '22P02',
              DETAIL = format('the key column %I is of type %s', a.key_column, k.type_name);
    ELSIF r.problem = 'missing' THEN
      RAISE EXCEPTION 'customer "%" does not exist in %', p_id, p_audience USING ERRCODE = '23503';
    END IF;
    audience := p_audience;
    key := r.key;
    RETURN;
  END IF;

  -- One prepared lookup per audience (_lookup_customer): this runs for every event.
  -- An audience whose table is gone (a temporary table registered before
  -- 0.2 refused them, dropped with its session) is skipped.
  FOR a IN SELECT x.relation, x.key_column FROM journey.audiences x
            WHERE EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = x.relation)
            ORDER BY x.relation::text LOOP
    r := journey._lookup_customer(a.relation, p_id);
    IF r.problem IS NULL THEN
      found_in := found_in || a.relation;
      keys := keys || r.key;
    ELSE
      k := journey._key_type(a.relation, a.key_column);
      why := why || format('%s (key %I of type %s): %s', a.relation, a.key_column, k.type_name,
                           CASE r.problem WHEN 'invalid' THEN 'not a valid ' || k.type_name
                                          ELSE 'no such customer' END);
    END IF;
  END LOOP;
  IF cardinality(found_in) = 1 THEN
    audience := found_in[1];
    key := keys[1];
    RETURN;
  END IF;
  IF cardinality(found_in) > 1 THEN
    RAISE EXCEPTION 'customer id "%" is ambiguous: it names a customer of each of %', p_id,
      array_to_string(found_in::text[], ', ')
      USING ERRCODE = '42725',
            HINT = format('say whose customer it is: journey.track(%L, %L, audience => %L)', p_id,
                          coalesce(p_event, 'event'), found_in[1]::text);
  END IF;
  IF cardinality(why) = 0 THEN
    RAISE EXCEPTION 'customer "%" does not exist: no audience is registered', p_id
      USING ERRCODE = '23503',
            HINT = 'register the customer table first: SELECT journey.register_audience(''table'', ''key_column'')';
  END IF;
  -- The usual cause besides a missing row: the event name and the customer id swapped.
  -- (Not on a Citus install: there the event name would be another customer's
  -- key, on another node than this call's, docs/scale-out.md.)
  IF p_event IS NOT NULL AND NOT journey._citus_distributed() THEN
    FOR a IN SELECT * FROM journey._audience_keys() LOOP
      IF (journey._lookup_customer(a.relation, p_event)).problem IS NULL THEN
        swapped := format('"%s" is a customer of %s: were the customer id and the event name swapped? '
                          'journey.track(customer_id, event, ...) takes the customer id first',
                          p_event, a.relation);
        EXIT;
      END IF;
    END LOOP;
  END IF;
  RAISE EXCEPTION 'customer "%" does not exist in any registered audience', p_id
    USING ERRCODE = '23503', DETAIL = array_to_string(why, E'\n'),
          HINT = coalesce(swapped, 'insert the customer row before tracking its events');
END
$$;

-- The templates a journey definition's send steps render (journey._templates_named,
-- from its one compile), as they are now:
-- {name: {channel, subject, body}}. publish freezes them into the version, so a
-- template replaced later reaches the journey only through its next publish.
CREATE OR REPLACE FUNCTION journey._definition_templates(def jsonb) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT coalesce(jsonb_object_agg(t.name, jsonb_build_object(
                    'channel', t.channel, 'subject', t.subject, 'body', t.body)), '{}')
    FROM journey.templates t
   WHERE t.name = ANY (journey._templates_named(def))
$$;

-- Ends active enrollments: the one place that does (archive, exit, track's
-- event exit rules, re-entry, the customer-table trigger's exits and deletes,
-- bounces, and the tick's completions, exits, failures and exhausted retries
-- all run its statement: src/pg/ending.cpp, one prepared plan kept per
-- backend). For each enrollment i of p_ids still active: status p_statuses[i]
-- ('exited', 'failed' or 'completed'), its exit_reason (exited) or last_error
-- (failed) p_reasons[i], converted at p_converted_at (default p_at) if
-- p_goals[i] and not converted before; and, in the same statement, the
-- activity row of the step it ends at (outcome = the status, reason,
-- converted when this ending converted it, arrived_at = when it reached that
-- step), so that every enrollment that reached a step is counted there. The
-- row's visit number follows the enrollment's last; enrollments.visits still
-- counts the steps it ran. Locks them in id order first: one that a tick or
-- another ending holds is waited for and ended where that left it.
-- p_customers: their customers, where the caller knows them (null: each is
-- read by its id); the ending finds the rows by customer and id (on a Citus
-- shard, its key). Returns the ids it ended.
CREATE OR REPLACE FUNCTION journey._end_enrollments(p_ids bigint[], p_statuses text[],
                                                    p_reasons text[], p_goals boolean[] DEFAULT NULL,
                                                    p_at timestamptz DEFAULT now(),
                                                    p_converted_at timestamptz DEFAULT NULL,
                                                    p_customers text[] DEFAULT NULL)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'pgj_end_enrollments'
LANGUAGE C SET search_path = pg_catalog, journey, pg_temp;

-- journey._end_enrollments on the given tables in place of journey.enrollments
-- and journey.activity: on a Citus node, the shards of one customer's group
-- (journey._end_customer_enrollments).
CREATE OR REPLACE FUNCTION journey._end_enrollments_in(p_enrollments regclass, p_activity regclass,
                                                       p_ids bigint[], p_statuses text[],
                                                       p_reasons text[], p_goals boolean[],
                                                       p_at timestamptz,
                                                       p_converted_at timestamptz,
                                                       p_customers text[] DEFAULT NULL)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'pgj_end_enrollments_in'
LANGUAGE C SET search_path = pg_catalog, journey, pg_temp;

-- The type of a step of a journey version (null when there is no such step).
CREATE OR REPLACE FUNCTION journey._step_type(p_journey_id bigint, p_version int, p_key text)
RETURNS journey.step_type
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT s.type FROM journey.steps s
   WHERE s.journey_id = p_journey_id AND s.version = p_version AND s.key = p_key
$$;
