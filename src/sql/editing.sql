-- Editing a draft in place (what the builder and journeyctl need, usable on its
-- own): change a step's config, rename a step, move a connection, edit and
-- reorder entry triggers and exit rules, lay steps out on a canvas; clone,
-- discard a draft, list journeys, compare versions. Every edit goes to the
-- draft (started from the latest version on the first edit after a publish),
-- validates it and returns the issues the edit introduced.

-- The issues of version v of journey j as a JSON array of
-- {step_key, severity, message}.
CREATE OR REPLACE FUNCTION journey._version_issues(j journey.journeys, v int) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT coalesce(jsonb_agg(to_jsonb(i)), '[]')
    FROM journey.validate_definition(journey.export(j.name, v), j.owner) i
$$;

-- The issues in `after` that were not in `before` (as multisets), after
-- renaming in `before` what the edit renamed: `renames` maps old names to new
-- ones, applied to step keys exactly and, in messages, to the quoted key
-- ("old") or the literal (entry[0]) in one pass.
CREATE OR REPLACE FUNCTION journey._introduced(before jsonb, after jsonb, renames jsonb DEFAULT '{}')
RETURNS TABLE (step_key text, severity text, message text)
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  mapped jsonb := '[]';
  item jsonb;
  k text;
  msg text;
  r record;
  n int;
BEGIN
  FOR item IN SELECT e.value FROM jsonb_array_elements(before) e LOOP
    k := item->>'step_key';
    msg := item->>'message';
    IF renames <> '{}' THEN
      -- Two passes through placeholders, so that swapped names do not chain.
      n := 0;
      FOR r IN SELECT e.key, e.value #>> '{}' AS value FROM jsonb_each(renames) e ORDER BY e.key LOOP
        n := n + 1;
        IF r.key LIKE 'entry[%' OR r.key LIKE 'exit[%' THEN
          msg := replace(msg, r.key, format('%s%s%s', chr(1), n, chr(2)));
        ELSE
          msg := replace(msg, format('"%s"', r.key), format('%s%s%s', chr(1), n, chr(2)));
        END IF;
      END LOOP;
      n := 0;
      FOR r IN SELECT e.key, e.value #>> '{}' AS value FROM jsonb_each(renames) e ORDER BY e.key LOOP
        n := n + 1;
        msg := replace(msg, format('%s%s%s', chr(1), n, chr(2)),
                       CASE WHEN r.key LIKE 'entry[%' OR r.key LIKE 'exit[%' THEN r.value
                            ELSE format('"%s"', r.value) END);
      END LOOP;
      IF k IS NOT NULL AND renames ? k THEN
        k := renames->>k;
      END IF;
    END IF;
    mapped := mapped || jsonb_build_array(jsonb_build_object('step_key', k, 'severity',
                                                              item->>'severity', 'message', msg));
  END LOOP;
  RETURN QUERY
  SELECT d.step_key, d.severity, d.message
    FROM (SELECT a.step_key, a.severity, a.message
            FROM jsonb_to_recordset(after) a(step_key text, severity text, message text)
          EXCEPT ALL
          SELECT b.step_key, b.severity, b.message
            FROM jsonb_to_recordset(mapped) b(step_key text, severity text, message text)) d
   ORDER BY d.severity, d.step_key NULLS FIRST, d.message;
END
$$;

-- Replaces the config of a step of the draft; returns the issues it introduced.
CREATE OR REPLACE FUNCTION journey.set_step_config(journey text, key text, config jsonb)
RETURNS TABLE (step_key text, severity text, message text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(set_step_config.journey);
  before jsonb;
BEGIN
  PERFORM journey._require_step(d.j, d.v, set_step_config.key);
  PERFORM journey._check_step_config(d.j, set_step_config.key, set_step_config.config);
  before := journey._version_issues(d.j, d.v);
  UPDATE journey.steps s SET config = set_step_config.config
   WHERE s.journey_id = (d.j).id AND s.version = d.v AND s.key = set_step_config.key;
  RETURN QUERY SELECT * FROM journey._introduced(before, journey._version_issues(d.j, d.v));
END
$$;

-- A copy of a JSON value in which the step references to old_key (behaviour
-- conditions {"event", "step"} and "message_of") name new_key instead.
CREATE OR REPLACE FUNCTION journey._rename_step_refs(value jsonb, old_key text, new_key text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT CASE jsonb_typeof(value)
    WHEN 'object' THEN
      (SELECT coalesce(jsonb_object_agg(e.key,
                CASE WHEN e.value = to_jsonb(old_key)
                          AND (e.key = 'message_of' OR (e.key = 'step' AND value ? 'event'))
                     THEN to_jsonb(new_key)
                     ELSE journey._rename_step_refs(e.value, old_key, new_key) END), '{}')
         FROM jsonb_each(value) e)
    WHEN 'array' THEN
      (SELECT coalesce(jsonb_agg(journey._rename_step_refs(e.value, old_key, new_key)
                                 ORDER BY e.n), '[]')
         FROM jsonb_array_elements(value) WITH ORDINALITY e(value, n))
    ELSE value
  END
$$;

-- Renames a step of the draft: its connections (both ways), the start step and
-- the conditions that name it (behaviour conditions, "message_of") follow.
-- Returns the issues the rename introduced.
CREATE OR REPLACE FUNCTION journey.rename_step(journey text, key text, new_key text)
RETURNS TABLE (step_key text, severity text, message text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(rename_step.journey);
  jid bigint := (d.j).id;
  before jsonb;
BEGIN
  PERFORM journey._require_step(d.j, d.v, rename_step.key);
  PERFORM journey._check_step_key((d.j).name, rename_step.new_key);
  IF rename_step.new_key = rename_step.key THEN
    RETURN;
  END IF;
  PERFORM 1 FROM journey.steps s
   WHERE s.journey_id = jid AND s.version = d.v AND s.key = rename_step.new_key;
  IF FOUND THEN
    RAISE EXCEPTION 'step "%" already exists in journey "%"', rename_step.new_key, (d.j).name
      USING ERRCODE = '23505';
  END IF;
  before := journey._version_issues(d.j, d.v);
  INSERT INTO journey.steps (journey_id, version, key, type, config, position, layout)
    SELECT s.journey_id, s.version, rename_step.new_key, s.type, s.config, s.position, s.layout
      FROM journey.steps s WHERE s.journey_id = jid AND s.version = d.v AND s.key = rename_step.key;
  UPDATE journey.connections c SET from_key = rename_step.new_key
   WHERE c.journey_id = jid AND c.version = d.v AND c.from_key = rename_step.key;
  UPDATE journey.connections c SET to_key = rename_step.new_key
   WHERE c.journey_id = jid AND c.version = d.v AND c.to_key = rename_step.key;
  DELETE FROM journey.steps s WHERE s.journey_id = jid AND s.version = d.v AND s.key = rename_step.key;
  UPDATE journey.versions x SET start_key = rename_step.new_key
   WHERE x.journey_id = jid AND x.version = d.v AND x.start_key = rename_step.key;
  UPDATE journey.steps s
     SET config = journey._rename_step_refs(s.config, rename_step.key, rename_step.new_key)
   WHERE s.journey_id = jid AND s.version = d.v
     AND s.config <> journey._rename_step_refs(s.config, rename_step.key, rename_step.new_key);
  UPDATE journey.entry_triggers t
     SET config = journey._rename_step_refs(t.config, rename_step.key, rename_step.new_key)
   WHERE t.journey_id = jid AND t.version = d.v;
  UPDATE journey.exit_rules r
     SET config = journey._rename_step_refs(r.config, rename_step.key, rename_step.new_key)
   WHERE r.journey_id = jid AND r.version = d.v;
  RETURN QUERY SELECT * FROM journey._introduced(before, journey._version_issues(d.j, d.v),
                                                 jsonb_build_object(rename_step.key, rename_step.new_key));
END
$$;

-- Moves the connection that leaves step from_key by `branch`: to another
-- target (new_to_key), another source step (new_from_key) and/or another
-- branch (new_branch); what is not given stays. Returns the issues introduced.
CREATE OR REPLACE FUNCTION journey.move_connection(journey text, from_key text, branch text,
                                                   new_to_key text DEFAULT NULL,
                                                   new_from_key text DEFAULT NULL,
                                                   new_branch text DEFAULT NULL)
RETURNS TABLE (step_key text, severity text, message text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(move_connection.journey);
  jid bigint := (d.j).id;
  c journey.connections;
  f text;
  b text;
  t text;
  before jsonb;
BEGIN
  SELECT * INTO c FROM journey.connections x
   WHERE x.journey_id = jid AND x.version = d.v AND x.from_key = move_connection.from_key
     AND x.branch = move_connection.branch;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'step "%" of journey "%" has no connection "%"', move_connection.from_key,
      (d.j).name, move_connection.branch USING ERRCODE = '42704';
  END IF;
  IF move_connection.new_to_key IS NULL AND move_connection.new_from_key IS NULL
     AND move_connection.new_branch IS NULL THEN
    RAISE EXCEPTION 'moving connection "%" of step "%" in journey "%" needs a new target, source or branch',
      move_connection.branch, move_connection.from_key, (d.j).name USING ERRCODE = '22023';
  END IF;
  f := coalesce(move_connection.new_from_key, c.from_key);
  b := coalesce(move_connection.new_branch, c.branch);
  t := coalesce(move_connection.new_to_key, c.to_key);
  PERFORM journey._require_step(d.j, d.v, f);
  PERFORM journey._require_step(d.j, d.v, t);
  IF b = '' THEN
    RAISE EXCEPTION 'branch of step "%" in journey "%" must be a non-empty name', f, (d.j).name
      USING ERRCODE = '22023';
  END IF;
  IF (f, b) IS DISTINCT FROM (c.from_key, c.branch) THEN
    PERFORM 1 FROM journey.connections x
     WHERE x.journey_id = jid AND x.version = d.v AND x.from_key = f AND x.branch = b;
    IF FOUND THEN
      RAISE EXCEPTION 'step "%" of journey "%" already has a connection "%"', f, (d.j).name, b
        USING ERRCODE = '23505', HINT = 'disconnect it first, or move that one';
    END IF;
  END IF;
  before := journey._version_issues(d.j, d.v);
  UPDATE journey.connections x SET from_key = f, branch = b, to_key = t
   WHERE x.journey_id = jid AND x.version = d.v AND x.from_key = c.from_key AND x.branch = c.branch;
  RETURN QUERY SELECT * FROM journey._introduced(before, journey._version_issues(d.j, d.v));
END
$$;

-- Moves the item at `from_pos` of a draft's entry triggers (kind 'entry') or
-- exit rules ('exit') to `to_pos` (1-based); the others shift. Returns the
-- renames of the validator's keys (entry[0], ...) the move made.
CREATE OR REPLACE FUNCTION journey._reorder(d_j journey.journeys, d_v int, kind text, from_pos int,
                                            to_pos int) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  n int;
  ord int[];
  renames jsonb := '{}';
  i int;
  k record := journey._list_kind(kind);
  what text := k.what;
BEGIN
  EXECUTE format('SELECT count(*) FROM %s x WHERE x.journey_id = $1 AND x.version = $2', k.tbl)
    INTO n USING d_j.id, d_v;
  IF from_pos IS NULL OR from_pos < 1 OR from_pos > n THEN
    RAISE EXCEPTION 'journey "%" has no % at position %', d_j.name, what, coalesce(from_pos::text, 'null')
      USING ERRCODE = '42704';
  END IF;
  IF to_pos IS NULL OR to_pos < 1 OR to_pos > n THEN
    RAISE EXCEPTION 'position % is out of range for the % of journey "%" (1 to %)',
      coalesce(to_pos::text, 'null'), what || 's', d_j.name, n USING ERRCODE = '22023';
  END IF;
  -- ord[new position] = old position
  SELECT array_agg(p ORDER BY o) INTO ord
    FROM (SELECT p, CASE WHEN p = from_pos THEN to_pos
                         WHEN from_pos < to_pos AND p > from_pos AND p <= to_pos THEN p - 1
                         WHEN from_pos > to_pos AND p >= to_pos AND p < from_pos THEN p + 1
                         ELSE p END AS o
            FROM generate_series(1, n) p) x;
  FOR i IN 1 .. n LOOP
    IF ord[i] <> i THEN
      renames := renames || jsonb_build_object(format('%s[%s]', kind, ord[i] - 1), format('%s[%s]', kind, i - 1));
    END IF;
  END LOOP;
  EXECUTE format('UPDATE %s x SET position = -x.position WHERE x.journey_id = $1 AND x.version = $2',
                 k.tbl)
    USING d_j.id, d_v;
  EXECUTE format('UPDATE %s x SET position = m.np FROM unnest($3) WITH ORDINALITY m(op, np)
                   WHERE x.journey_id = $1 AND x.version = $2 AND x.position = -m.op', k.tbl)
    USING d_j.id, d_v, ord;
  RETURN renames;
END
$$;

-- Moves the draft's entry trigger ('entry') or exit rule ('exit') at `pos` to
-- `new_pos` (1-based); returns the issues the move introduced.
CREATE OR REPLACE FUNCTION journey._move_list_item(p_journey text, kind text, pos int, new_pos int)
RETURNS TABLE (step_key text, severity text, message text)
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(p_journey);
  before jsonb := journey._version_issues(d.j, d.v);
  renames jsonb;
BEGIN
  renames := journey._reorder(d.j, d.v, kind, pos, new_pos);
  RETURN QUERY SELECT * FROM journey._introduced(before, journey._version_issues(d.j, d.v), renames);
END
$$;

-- Moves the draft's entry trigger at `position` to `new_position` (1-based).
CREATE OR REPLACE FUNCTION journey.move_entry_trigger(journey text, "position" int, new_position int)
RETURNS TABLE (step_key text, severity text, message text)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT * FROM journey._move_list_item($1, 'entry', $2, $3)
$$;

-- Moves the draft's exit rule at `position` to `new_position` (1-based).
CREATE OR REPLACE FUNCTION journey.move_exit_rule(journey text, "position" int, new_position int)
RETURNS TABLE (step_key text, severity text, message text)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT * FROM journey._move_list_item($1, 'exit', $2, $3)
$$;

-- Replaces the type and config (and an exit rule's goal flag) of the entry
-- trigger or exit rule at `pos` of journey p_journey's draft; returns the issues
-- the change introduced.
CREATE OR REPLACE FUNCTION journey._set_list_item(p_journey text, kind text, pos int, p_type text,
                                                  p_config jsonb, p_is_goal boolean)
RETURNS TABLE (step_key text, severity text, message text)
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(p_journey);
  k record := journey._list_kind(kind);
  cfg jsonb := coalesce(p_config, '{}');
  before jsonb;
BEGIN
  PERFORM journey._require_list_item(d.j, d.v, kind, pos);
  PERFORM journey._check_list_item(d.j, kind, p_type, cfg);
  before := journey._version_issues(d.j, d.v);
  EXECUTE format('UPDATE %s x SET type = $4, config = $5%s
                   WHERE x.journey_id = $1 AND x.version = $2 AND x.position = $3', k.tbl,
                 CASE kind WHEN 'exit' THEN ', is_goal = coalesce($6, false)' ELSE '' END)
    USING (d.j).id, d.v, pos, p_type, cfg, p_is_goal;
  RETURN QUERY SELECT * FROM journey._introduced(before, journey._version_issues(d.j, d.v));
END
$$;

-- Replaces the type and config of the draft's entry trigger at `position`.
CREATE OR REPLACE FUNCTION journey.set_entry_trigger(journey text, "position" int, type text,
                                                     config jsonb DEFAULT '{}')
RETURNS TABLE (step_key text, severity text, message text)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT * FROM journey._set_list_item($1, 'entry', $2, $3, $4, NULL)
$$;

-- Replaces the type, config and goal flag of the draft's exit rule at `position`.
CREATE OR REPLACE FUNCTION journey.set_exit_rule(journey text, "position" int, type text,
                                                 config jsonb DEFAULT '{}', is_goal boolean DEFAULT false)
RETURNS TABLE (step_key text, severity text, message text)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT * FROM journey._set_list_item($1, 'exit', $2, $3, $4, $5)
$$;

-- Checks one step position {"x": number, "y": number} for step p_key.
CREATE OR REPLACE FUNCTION journey._check_layout(j journey.journeys, p_key text, p jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  IF jsonb_typeof(p) IS DISTINCT FROM 'object' OR jsonb_typeof(p->'x') IS DISTINCT FROM 'number'
     OR jsonb_typeof(p->'y') IS DISTINCT FROM 'number' OR (SELECT count(*) FROM jsonb_object_keys(p)) <> 2 THEN
    RAISE EXCEPTION 'layout of step "%" in journey "%" must be {"x": number, "y": number}', p_key, j.name
      USING ERRCODE = '22023', DETAIL = format('got %s', p);
  END IF;
END
$$;

-- Sets the canvas positions of steps of the draft: layout is
-- {"step key": {"x": number, "y": number}}; a step given null loses its
-- position (the builder lays it out automatically). Steps not named keep theirs.
CREATE OR REPLACE FUNCTION journey.set_layout(journey text, layout jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(set_layout.journey);
  e record;
BEGIN
  IF jsonb_typeof(set_layout.layout) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION 'layout of journey "%" must be an object {"step key": {"x": number, "y": number}}',
      (d.j).name USING ERRCODE = '22023';
  END IF;
  FOR e IN SELECT x.key, x.value FROM jsonb_each(set_layout.layout) x LOOP
    PERFORM journey._require_step(d.j, d.v, e.key);
    IF jsonb_typeof(e.value) <> 'null' THEN
      PERFORM journey._check_layout(d.j, e.key, e.value);
    END IF;
    UPDATE journey.steps s SET layout = CASE WHEN jsonb_typeof(e.value) = 'null' THEN NULL ELSE e.value END
     WHERE s.journey_id = (d.j).id AND s.version = d.v AND s.key = e.key;
  END LOOP;
END
$$;

-- The "layout" member of an export: {"layout": {step key: position}} when a
-- step of the version has a position, else {}.
CREATE OR REPLACE FUNCTION journey._layout_member(journey_id bigint, version int) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT coalesce((SELECT jsonb_build_object('layout', jsonb_object_agg(s.key, s.layout))
                     FROM journey.steps s
                    WHERE s.journey_id = $1 AND s.version = $2 AND s.layout IS NOT NULL
                   HAVING count(*) > 0), '{}')
$$;

-- Stores the "layout" member of an imported definition (null: none).
CREATE OR REPLACE FUNCTION journey._import_layout(j journey.journeys, v int, layout jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  e record;
BEGIN
  IF layout IS NULL OR jsonb_typeof(layout) = 'null' THEN
    RETURN;
  END IF;
  IF jsonb_typeof(layout) <> 'object' THEN
    RAISE EXCEPTION 'journey "%": "layout" must be an object {"step key": {"x": number, "y": number}}',
      j.name USING ERRCODE = '22023';
  END IF;
  FOR e IN SELECT x.key, x.value FROM jsonb_each(layout) x LOOP
    PERFORM 1 FROM journey.steps s WHERE s.journey_id = j.id AND s.version = v AND s.key = e.key;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'journey "%": "layout" names step "%", which the definition does not have',
        j.name, e.key USING ERRCODE = '22023';
    END IF;
    PERFORM journey._check_layout(j, e.key, e.value);
    UPDATE journey.steps s SET layout = e.value
     WHERE s.journey_id = j.id AND s.version = v AND s.key = e.key;
  END LOOP;
END
$$;

-- Creates journey new_name (a draft) as a copy of the latest version of
-- `journey` (its draft when it has one): steps, connections, triggers, exit
-- rules, settings, layout and description. Returns the new journey's id.
CREATE OR REPLACE FUNCTION journey.clone(journey text, new_name text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(clone.journey);
  def jsonb;
BEGIN
  PERFORM journey._citus_require_coordinator(format('clone journey "%s"', j.name));
  IF clone.new_name IS NULL OR btrim(clone.new_name) = '' THEN
    RAISE EXCEPTION 'journey name must be a non-empty string' USING ERRCODE = '22023';
  END IF;
  PERFORM 1 FROM journey.journeys x WHERE x.name = clone.new_name;
  IF FOUND THEN
    RAISE EXCEPTION 'journey "%" already exists', clone.new_name USING ERRCODE = '23505';
  END IF;
  def := journey.export(j.name) || jsonb_build_object('name', clone.new_name);
  RETURN journey.import(def);
END
$$;

-- Throws away the draft of a journey that has a published (or retired)
-- version; the next edit starts a new draft from the latest version.
CREATE OR REPLACE FUNCTION journey.discard_draft(journey text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys;
  v int;
BEGIN
  PERFORM journey._citus_require_coordinator(format('discard the draft of journey "%s"', discard_draft.journey));
  j := journey._journey(discard_draft.journey, true);
  SELECT x.version INTO v FROM journey.versions x WHERE x.journey_id = j.id AND x.status = 'draft';
  IF NOT FOUND THEN
    RAISE EXCEPTION 'journey "%" has no draft to discard', j.name USING ERRCODE = '55000';
  END IF;
  PERFORM 1 FROM journey.versions x WHERE x.journey_id = j.id AND x.status <> 'draft';
  IF NOT FOUND THEN
    RAISE EXCEPTION 'cannot discard the draft of journey "%": it has never been published', j.name
      USING ERRCODE = '55000', HINT = 'drop the journey instead (journey.drop_journey)';
  END IF;
  DELETE FROM journey.versions x WHERE x.journey_id = j.id AND x.version = v;
  UPDATE journey.journeys x SET updated_at = now() WHERE x.id = j.id;
END
$$;

-- The journey list: one row per journey (archived ones only when asked), with
-- its live version, its draft, who is in it and when something last happened
-- (an edit, a publish, an entry or an exit).
CREATE OR REPLACE FUNCTION journey.list(include_archived boolean DEFAULT false)
RETURNS TABLE (journey_id bigint, name text, description text, state journey.journey_state,
               audience text, owner text, live_version int, draft_version int, steps int,
               enrolled bigint, active bigint, completed bigint, exited bigint, failed bigint,
               converted bigint, last_activity timestamptz, created_at timestamptz,
               updated_at timestamptz)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  -- (PL/pgSQL: Citus plans no parameter of an SQL function.)
  RETURN QUERY
  -- The enrollments counted first, on their own (on Citus: one aggregate pushed
  -- down to the nodes; joined with the reference tables it had no plan).
  WITH e AS MATERIALIZED (
    SELECT x.journey_id, count(*) AS enrolled,
           count(*) FILTER (WHERE x.status = 'active') AS active,
           count(*) FILTER (WHERE x.status = 'completed') AS completed,
           count(*) FILTER (WHERE x.status = 'exited') AS exited,
           count(*) FILTER (WHERE x.status = 'failed') AS failed,
           count(x.converted_at) AS converted,
           max(x.entered_at) AS last_entered, max(x.ended_at) AS last_ended
      FROM journey.enrollments x GROUP BY x.journey_id)
  SELECT j.id, j.name, j.description, j.state, journey._relation_name(j.audience), j.owner::text,
         j.published_version, dv.version,
         (SELECT count(*)::int FROM journey.steps s
           WHERE s.journey_id = j.id AND s.version = coalesce(dv.version, j.published_version)),
         coalesce(e.enrolled, 0), coalesce(e.active, 0), coalesce(e.completed, 0),
         coalesce(e.exited, 0), coalesce(e.failed, 0), coalesce(e.converted, 0),
         greatest(j.updated_at, j.published_at, j.archived_at, e.last_entered, e.last_ended),
         j.created_at, j.updated_at
    FROM journey.journeys j
    LEFT JOIN journey.versions dv ON dv.journey_id = j.id AND dv.status = 'draft'
    LEFT JOIN e ON e.journey_id = j.id
   WHERE list.include_archived OR j.state <> 'archived'
   ORDER BY j.name;
END
$$;

-- What changed from one version of a journey to another (to_version null: the
-- latest, the draft if any): one row per change, kind journey, settings,
-- entry, exit, step, connection or layout; change added, removed or changed.
CREATE OR REPLACE FUNCTION journey.diff(journey text, from_version int, to_version int DEFAULT NULL)
RETURNS TABLE (kind text, key text, change text, old jsonb, new jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(diff.journey);
  a jsonb;
  b jsonb;
BEGIN
  IF diff.from_version IS NULL THEN
    RAISE EXCEPTION 'from_version must not be null' USING ERRCODE = '22004';
  END IF;
  a := journey.export(j.name, diff.from_version);
  b := journey.export(j.name, diff.to_version);
  RETURN QUERY
  WITH
  sa AS (SELECT s->>'key' AS k, s - ARRAY['key', 'next', 'branches'] AS v,
                coalesce(s->'branches', '{}') || CASE WHEN s ? 'next' THEN jsonb_build_object('next', s->'next') ELSE '{}' END AS links,
                n FROM jsonb_array_elements(a->'steps') WITH ORDINALITY x(s, n)),
  sb AS (SELECT s->>'key' AS k, s - ARRAY['key', 'next', 'branches'] AS v,
                coalesce(s->'branches', '{}') || CASE WHEN s ? 'next' THEN jsonb_build_object('next', s->'next') ELSE '{}' END AS links,
                n FROM jsonb_array_elements(b->'steps') WITH ORDINALITY x(s, n)),
  ca AS (SELECT sa.k || '.' || l.key AS k, l.value AS v FROM sa, jsonb_each(sa.links) l),
  cb AS (SELECT sb.k || '.' || l.key AS k, l.value AS v FROM sb, jsonb_each(sb.links) l),
  ea AS (SELECT n::text AS k, e AS v FROM jsonb_array_elements(coalesce(a->'entry', '[]')) WITH ORDINALITY x(e, n)),
  eb AS (SELECT n::text AS k, e AS v FROM jsonb_array_elements(coalesce(b->'entry', '[]')) WITH ORDINALITY x(e, n)),
  xa AS (SELECT n::text AS k, e AS v FROM jsonb_array_elements(coalesce(a->'exit', '[]')) WITH ORDINALITY x(e, n)),
  xb AS (SELECT n::text AS k, e AS v FROM jsonb_array_elements(coalesce(b->'exit', '[]')) WITH ORDINALITY x(e, n)),
  ta AS (SELECT e.key AS k, e.value AS v FROM jsonb_each(coalesce(a->'settings', '{}')) e),
  tb AS (SELECT e.key AS k, e.value AS v FROM jsonb_each(coalesce(b->'settings', '{}')) e),
  ja AS (SELECT e.key AS k, e.value AS v FROM jsonb_each(a) e WHERE e.key IN ('description', 'start', 'audience')),
  jb AS (SELECT e.key AS k, e.value AS v FROM jsonb_each(b) e WHERE e.key IN ('description', 'start', 'audience')),
  pairs AS (
    SELECT 1 AS o, 'journey' AS kd, coalesce(x.k, y.k) AS k, x.v AS ov, y.v AS nv
      FROM ja x FULL JOIN jb y ON x.k = y.k
    UNION ALL
    SELECT 2, 'settings', coalesce(x.k, y.k), x.v, y.v FROM ta x FULL JOIN tb y ON x.k = y.k
    UNION ALL
    SELECT 3, 'entry', coalesce(x.k, y.k), x.v, y.v FROM ea x FULL JOIN eb y ON x.k = y.k
    UNION ALL
    SELECT 4, 'exit', coalesce(x.k, y.k), x.v, y.v FROM xa x FULL JOIN xb y ON x.k = y.k
    UNION ALL
    SELECT 5, 'step', coalesce(x.k, y.k), x.v, y.v FROM sa x FULL JOIN sb y ON x.k = y.k
    UNION ALL
    SELECT 6, 'connection', coalesce(x.k, y.k), x.v, y.v FROM ca x FULL JOIN cb y ON x.k = y.k
    UNION ALL
    SELECT 7, 'layout', NULL, a->'layout', b->'layout'
  )
  SELECT p.kd, p.k,
         CASE WHEN p.ov IS NULL THEN 'added' WHEN p.nv IS NULL THEN 'removed' ELSE 'changed' END,
         p.ov, p.nv
    FROM pairs p
   WHERE p.ov IS DISTINCT FROM p.nv
   ORDER BY p.o, CASE WHEN p.kd IN ('entry', 'exit') THEN lpad(p.k, 10, '0') ELSE p.k END;
END
$$;

-- Grants: src/sql/security.sql (the roles exist only from there on).
