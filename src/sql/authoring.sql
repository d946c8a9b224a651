-- Authoring: journeys, steps, connections, triggers, exit rules, settings,
-- templates; export, import and validation. Edits always go to the draft.

-- Creates a journey (state draft, version 1 empty); returns its id.
CREATE OR REPLACE FUNCTION journey.create_journey(name text, audience regclass, description text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  jid bigint;
BEGIN
  IF create_journey.name IS NULL OR btrim(create_journey.name) = '' THEN
    RAISE EXCEPTION 'journey name must be a non-empty string' USING ERRCODE = '22023';
  END IF;
  PERFORM journey._citus_require_coordinator(format('create journey "%s"', create_journey.name));
  PERFORM 1 FROM journey.audiences a WHERE a.relation = create_journey.audience;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'relation "%" is not a registered audience', create_journey.audience
      USING ERRCODE = '42704',
            HINT = format('register it first: SELECT journey.register_audience(%L, ''key_column'')',
                          create_journey.audience::text);
  END IF;
  BEGIN
    INSERT INTO journey.journeys (name, description, audience, owner)
    VALUES (create_journey.name, create_journey.description, create_journey.audience,
            journey._invoking_role())
    RETURNING id INTO jid;
  EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'journey "%" already exists', create_journey.name USING ERRCODE = '23505';
  END;
  INSERT INTO journey.versions (journey_id, version) VALUES (jid, 1);
  RETURN jid;
END
$$;

-- Deletes a journey that never went live, or an archived one, with its history:
-- nothing of it is left. Its versions, steps, triggers, enrollments, segment
-- members, scheduled and trigger runs go by their foreign keys; activity and
-- messages (no foreign key: they are the hot, append-mostly tables) here; its
-- pg_cron jobs through _sync_schedules. Events stay: they are the customers'.
CREATE OR REPLACE FUNCTION journey.drop_journey(journey text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys;
BEGIN
  PERFORM journey._citus_require_coordinator(format('drop journey "%s"', drop_journey.journey));
  j := journey._journey(drop_journey.journey, true);
  IF j.state NOT IN ('draft', 'archived') THEN
    RAISE EXCEPTION 'cannot drop journey "%": it is %', j.name, j.state
      USING ERRCODE = '55000', HINT = 'archive it first (journey.archive)';
  END IF;
  -- On Citus: the deletes below span shards, and a reference table may be
  -- written after them in one transaction only in sequential mode (local to
  -- this function: its SET clause restores the setting at exit).
  IF journey._citus_distributed() THEN
    PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
  END IF;
  DELETE FROM journey.activity x WHERE x.journey_id = j.id;
  DELETE FROM journey.activity_hours x WHERE x.journey_id = j.id;
  DELETE FROM journey.messages x WHERE x.journey_id = j.id;
  DELETE FROM journey.journeys x WHERE x.id = j.id;
  PERFORM journey._sync_schedules(j.id);
END
$$;

-- Adds a step to the draft; the first step added becomes the start step.
CREATE OR REPLACE FUNCTION journey.add_step(journey text, key text, type journey.step_type,
                                 config jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(add_step.journey);
BEGIN
  IF add_step.type IS NULL THEN
    RAISE EXCEPTION 'step type must not be null (step "%" of journey "%")', add_step.key, (d.j).name
      USING ERRCODE = '22004';
  END IF;
  PERFORM journey._insert_step(d.j, d.v, add_step.key, add_step.type::text,
                               coalesce(add_step.config, '{}'));
  UPDATE journey.versions x SET start_key = add_step.key
   WHERE x.journey_id = (d.j).id AND x.version = d.v AND x.start_key IS NULL;
END
$$;

-- Removes a step from the draft with every connection from or to it.
CREATE OR REPLACE FUNCTION journey.remove_step(journey text, key text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(remove_step.journey);
BEGIN
  PERFORM journey._require_step(d.j, d.v, remove_step.key);
  DELETE FROM journey.connections c
   WHERE c.journey_id = (d.j).id AND c.version = d.v AND c.to_key = remove_step.key;
  DELETE FROM journey.steps s
   WHERE s.journey_id = (d.j).id AND s.version = d.v AND s.key = remove_step.key;
  UPDATE journey.versions x SET start_key = NULL
   WHERE x.journey_id = (d.j).id AND x.version = d.v AND x.start_key = remove_step.key;
END
$$;

-- Makes `key` the step every enrollment starts at.
CREATE OR REPLACE FUNCTION journey.set_start(journey text, key text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(set_start.journey);
BEGIN
  PERFORM journey._require_step(d.j, d.v, set_start.key);
  UPDATE journey.versions x SET start_key = set_start.key
   WHERE x.journey_id = (d.j).id AND x.version = d.v;
END
$$;

-- Connects branch `branch` of step from_key to step to_key (replacing any
-- earlier target of that branch).
CREATE OR REPLACE FUNCTION journey.connect(journey text, from_key text, to_key text, branch text DEFAULT 'next')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(connect.journey);
BEGIN
  PERFORM journey._require_step(d.j, d.v, connect.from_key);
  PERFORM journey._require_step(d.j, d.v, connect.to_key);
  IF connect.branch IS NULL OR connect.branch = '' THEN
    RAISE EXCEPTION 'branch of step "%" in journey "%" must be a non-empty name', connect.from_key,
      (d.j).name USING ERRCODE = '22023';
  END IF;
  INSERT INTO journey.connections AS c (journey_id, version, from_key, branch, to_key)
  VALUES ((d.j).id, d.v, connect.from_key, connect.branch, connect.to_key)
  ON CONFLICT ON CONSTRAINT connections_pkey DO UPDATE SET to_key = excluded.to_key;
END
$$;

-- Removes the connection leaving step from_key by branch `branch`.
CREATE OR REPLACE FUNCTION journey.disconnect(journey text, from_key text, branch text DEFAULT 'next')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(disconnect.journey);
BEGIN
  PERFORM journey._require_step(d.j, d.v, disconnect.from_key);
  DELETE FROM journey.connections c
   WHERE c.journey_id = (d.j).id AND c.version = d.v AND c.from_key = disconnect.from_key
     AND c.branch = disconnect.branch;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'step "%" of journey "%" has no connection "%"', disconnect.from_key, (d.j).name,
      disconnect.branch USING ERRCODE = '42704';
  END IF;
END
$$;

-- Adds an entry trigger to the draft; returns its position (1-based).
CREATE OR REPLACE FUNCTION journey.add_entry_trigger(journey text, type text, config jsonb DEFAULT '{}')
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(add_entry_trigger.journey);
BEGIN
  RETURN journey._insert_entry_trigger(d.j, d.v, add_entry_trigger.type,
                                       coalesce(add_entry_trigger.config, '{}'));
END
$$;

-- Removes the entry trigger at `position` from the draft; later ones move up.
CREATE OR REPLACE FUNCTION journey.remove_entry_trigger(journey text, "position" int) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT journey._remove_list_item($1, 'entry', $2)
$$;

-- Adds an exit rule to the draft; returns its position (1-based).
CREATE OR REPLACE FUNCTION journey.add_exit_rule(journey text, type text, config jsonb DEFAULT '{}',
                                      is_goal boolean DEFAULT false)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(add_exit_rule.journey);
BEGIN
  RETURN journey._insert_exit_rule(d.j, d.v, add_exit_rule.type,
                                   coalesce(add_exit_rule.config, '{}'), add_exit_rule.is_goal);
END
$$;

-- Removes the exit rule at `position` from the draft; later ones move up.
CREATE OR REPLACE FUNCTION journey.remove_exit_rule(journey text, "position" int) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT journey._remove_list_item($1, 'exit', $2)
$$;

-- Merges `settings` into the draft's settings (a key set to null is removed)
-- and returns the result; refuses settings with errors.
CREATE OR REPLACE FUNCTION journey.set_settings(journey text, settings jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(set_settings.journey);
  merged jsonb;
  problems jsonb;
BEGIN
  IF set_settings.settings IS NULL OR jsonb_typeof(set_settings.settings) <> 'object' THEN
    RAISE EXCEPTION 'settings of journey "%" must be a JSON object', (d.j).name USING ERRCODE = '22023';
  END IF;
  SELECT x.settings || set_settings.settings INTO merged FROM journey.versions x
   WHERE x.journey_id = (d.j).id AND x.version = d.v;
  SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}') INTO merged
    FROM jsonb_each(merged) e WHERE jsonb_typeof(e.value) <> 'null';
  SELECT coalesce(jsonb_agg(to_jsonb(i)), '[]') INTO problems
    FROM journey._settings_issues(merged) i WHERE i.severity = 'error';
  PERFORM journey._raise_issues(format('settings of journey "%s"', (d.j).name), problems);
  UPDATE journey.versions x SET settings = merged WHERE x.journey_id = (d.j).id AND x.version = d.v;
  RETURN merged;
END
$$;


-- Creates a message template (replace => true overwrites one of the same name).
CREATE OR REPLACE FUNCTION journey.create_template(name text, channel text, subject text, body text,
                                        replace boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  problems jsonb;
  -- A value, not now() in DO UPDATE SET: Citus refuses a non-IMMUTABLE function
  -- there on a reference table (docs/scale-out.md).
  stamp timestamptz := now();
BEGIN
  IF create_template.name IS NULL OR create_template.name = '' THEN
    RAISE EXCEPTION 'template name must be a non-empty string' USING ERRCODE = '22023';
  END IF;
  PERFORM journey._citus_require_coordinator(format('create template "%s"', create_template.name));
  IF create_template.channel IS NULL OR create_template.channel = '' THEN
    RAISE EXCEPTION 'template "%" needs a channel (email, sms, push, ...)', create_template.name
      USING ERRCODE = '22023';
  END IF;
  PERFORM journey._check_channel(create_template.channel,
                                 format('template "%s"', create_template.name));
  IF create_template.body IS NULL THEN
    RAISE EXCEPTION 'template "%" needs a body', create_template.name USING ERRCODE = '22023';
  END IF;
  SELECT coalesce(jsonb_agg(jsonb_build_object('step_key', p.part, 'message', i.message)), '[]')
    INTO problems
    FROM (VALUES ('subject', create_template.subject), ('body', create_template.body)) p(part, text)
    CROSS JOIN LATERAL journey._template_errors(p.text) i;
  PERFORM journey._raise_issues(format('template "%s"', create_template.name), problems);
  INSERT INTO journey.templates AS t (name, channel, subject, body)
  VALUES (create_template.name, create_template.channel, create_template.subject, create_template.body)
  ON CONFLICT ON CONSTRAINT templates_pkey DO UPDATE
     SET channel = excluded.channel, subject = excluded.subject, body = excluded.body,
         updated_at = stamp
   WHERE create_template.replace;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'template "%" already exists', create_template.name
      USING ERRCODE = '23505', HINT = 'pass replace => true to overwrite it';
  END IF;
END
$$;


-- The JSON definition of a version (default: the latest, the draft if any).
CREATE OR REPLACE FUNCTION journey.export(journey text, version int DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(export.journey);
  v journey.versions := journey._version_of(j, export.version);
BEGIN
  IF v.definition IS NOT NULL THEN
    RETURN v.definition;  -- published versions are frozen as they were exported
  END IF;
  RETURN jsonb_build_object(
    'name', j.name,
    'audience', journey._relation_name(j.audience),
    'settings', v.settings,
    'entry', coalesce((SELECT jsonb_agg(jsonb_build_object('type', t.type) || t.config
                                         ORDER BY t.position)
                         FROM journey.entry_triggers t
                        WHERE t.journey_id = j.id AND t.version = v.version), '[]'),
    'exit', coalesce((SELECT jsonb_agg(jsonb_build_object('type', r.type, 'is_goal', r.is_goal)
                                        || r.config ORDER BY r.position)
                        FROM journey.exit_rules r
                       WHERE r.journey_id = j.id AND r.version = v.version), '[]'),
    'steps', coalesce((SELECT jsonb_agg(jsonb_build_object('key', s.key, 'type', s.type)
                                         || s.config || links.l ORDER BY s.position)
                         FROM journey.steps s
                         CROSS JOIN LATERAL (
                           SELECT CASE
                                    WHEN count(*) = 0 THEN '{}'::jsonb
                                    WHEN bool_and(c.branch = 'next') THEN jsonb_build_object('next', min(c.to_key))
                                    ELSE jsonb_build_object('branches', jsonb_object_agg(c.branch, c.to_key))
                                  END AS l
                             FROM journey.connections c
                            WHERE c.journey_id = s.journey_id AND c.version = s.version
                              AND c.from_key = s.key) links
                        WHERE s.journey_id = j.id AND s.version = v.version), '[]'))
    || CASE WHEN v.start_key IS NULL THEN '{}' ELSE jsonb_build_object('start', v.start_key) END
    || journey._layout_member(j.id, v.version)
    || CASE WHEN j.description IS NULL THEN '{}' ELSE jsonb_build_object('description', j.description) END;
END
$$;

-- The name of the journey a definition for journey.import describes, after
-- checking the shape of its top level (22023 naming what is wrong).
CREATE OR REPLACE FUNCTION journey._import_name(def jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  jname text;
  member text;
BEGIN
  IF def IS NULL OR jsonb_typeof(def) <> 'object' THEN
    RAISE EXCEPTION 'a journey definition must be a JSON object' USING ERRCODE = '22023';
  END IF;
  IF jsonb_typeof(def->'name') IS DISTINCT FROM 'string' OR def->>'name' = '' THEN
    RAISE EXCEPTION 'a journey definition needs "name", a non-empty string' USING ERRCODE = '22023';
  END IF;
  jname := def->>'name';
  IF jsonb_typeof(def->'audience') IS DISTINCT FROM 'string' THEN
    RAISE EXCEPTION 'journey "%": the definition needs "audience", the customer table''s name', jname
      USING ERRCODE = '22023';
  END IF;
  FOREACH member IN ARRAY ARRAY['steps', 'entry', 'exit'] LOOP
    IF def ? member AND jsonb_typeof(def->member) <> 'array' THEN
      RAISE EXCEPTION 'journey "%": "%" must be an array', jname, member USING ERRCODE = '22023';
    END IF;
  END LOOP;
  IF def ? 'settings' AND jsonb_typeof(def->'settings') <> 'object' THEN
    RAISE EXCEPTION 'journey "%": "settings" must be an object', jname USING ERRCODE = '22023';
  END IF;
  IF def ? 'start' AND jsonb_typeof(def->'start') <> 'string' THEN
    RAISE EXCEPTION 'journey "%": "start" must be a step key (a string)', jname USING ERRCODE = '22023';
  END IF;
  IF def ? 'description' AND jsonb_typeof(def->'description') NOT IN ('string', 'null') THEN
    RAISE EXCEPTION 'journey "%": "description" must be a string', jname USING ERRCODE = '22023';
  END IF;
  -- A key the definition does not have would be dropped without a word (e.g.
  -- holdout_percent written beside "settings" instead of inside it).
  member := (journey._unknown_definition_keys(def))[1];
  IF member IS NOT NULL THEN
    RAISE EXCEPTION 'journey "%": unknown key "%" in the definition', jname, member
      USING ERRCODE = '22023',
            HINT = 'A definition has name, audience, description, settings, entry, exit, start and '
                   'steps (an export adds version, state, id and layout); settings such as '
                   'holdout_percent go inside "settings".';
  END IF;
  RETURN jname;
END
$$;

-- The steps of an imported definition and their connections, into draft
-- version p_version of journey p_journey (emptied by journey.import).
CREATE OR REPLACE FUNCTION journey._import_steps(p_journey journey.journeys, p_version int,
                                                 def jsonb)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  jname text := p_journey.name;
  step jsonb;
  link record;
  pos bigint;
  duplicate text;
BEGIN
  -- Every key once (checked here at once, not step by step).
  SELECT e.value->>'key' INTO duplicate
    FROM jsonb_array_elements(coalesce(def->'steps', '[]')) WITH ORDINALITY e(value, n)
   WHERE jsonb_typeof(e.value) = 'object' AND jsonb_typeof(e.value->'key') = 'string'
   GROUP BY e.value->>'key' HAVING count(*) > 1
   ORDER BY (array_agg(e.n ORDER BY e.n))[2] LIMIT 1;
  IF duplicate IS NOT NULL THEN
    RAISE EXCEPTION 'step "%" already exists in journey "%"', duplicate, jname USING ERRCODE = '23505';
  END IF;
  FOR step, pos IN SELECT e.value, e.n FROM jsonb_array_elements(coalesce(def->'steps', '[]'))
                                             WITH ORDINALITY e(value, n) LOOP
    IF jsonb_typeof(step) <> 'object' THEN
      RAISE EXCEPTION 'journey "%": every step must be a JSON object, found %', jname, step
        USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(step->'key') IS DISTINCT FROM 'string' THEN
      RAISE EXCEPTION 'journey "%": a step has no "key" (a string): %', jname, step
        USING ERRCODE = '22023';
    END IF;
    -- Positions follow the definition's order (the draft was emptied above).
    PERFORM journey._insert_step_at(p_journey, p_version, step->>'key', step->>'type',
                                    step - ARRAY['key', 'type', 'next', 'branches'], pos::int);
  END LOOP;
  FOR step IN SELECT e.value FROM jsonb_array_elements(coalesce(def->'steps', '[]')) e LOOP
    IF step ? 'branches' AND jsonb_typeof(step->'branches') <> 'object' THEN
      RAISE EXCEPTION 'journey "%", step "%": "branches" must be an object of branch: step key',
        jname, step->>'key' USING ERRCODE = '22023';
    END IF;
    IF step ? 'next' AND step->'branches' ? 'next' THEN
      RAISE EXCEPTION 'journey "%", step "%": branch "next" is given twice', jname, step->>'key'
        USING ERRCODE = '22023';
    END IF;
    FOR link IN
      SELECT 'next' AS branch, step->'next' AS target WHERE step ? 'next'
      UNION ALL
      SELECT b.key, b.value FROM jsonb_each(CASE WHEN step ? 'branches' THEN step->'branches' ELSE '{}' END) b
    LOOP
      IF jsonb_typeof(link.target) <> 'string' OR link.branch = '' THEN
        RAISE EXCEPTION 'journey "%", step "%": branch "%" must name a step key', jname,
          step->>'key', link.branch USING ERRCODE = '22023';
      END IF;
      INSERT INTO journey.connections (journey_id, version, from_key, branch, to_key)
      VALUES (p_journey.id, p_version, step->>'key', link.branch, link.target #>> '{}');
    END LOOP;
  END LOOP;
END
$$;

-- Creates a journey from its JSON definition, or replaces the draft of the
-- journey of that name; returns the journey id.
CREATE OR REPLACE FUNCTION journey.import(definition jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  def jsonb := import.definition;
  jname text;
  rel regclass;
  d record;
  item jsonb;
BEGIN
  jname := journey._import_name(def);
  PERFORM journey._citus_require_coordinator(format('import journey "%s"', jname));
  rel := journey._audience_by_name(def->>'audience');

  PERFORM 1 FROM journey.journeys x WHERE x.name = jname;
  IF NOT FOUND THEN
    PERFORM journey.create_journey(jname, rel, def->>'description');
  END IF;
  d := journey._draft_for_edit(jname);
  IF (d.j).audience <> rel THEN
    RAISE EXCEPTION 'journey "%" has audience %, the definition names %', jname,
      journey._relation_name((d.j).audience), def->>'audience' USING ERRCODE = '22023';
  END IF;
  IF def ? 'description' THEN
    UPDATE journey.journeys x SET description = def->>'description' WHERE x.id = (d.j).id;
  END IF;

  -- The draft is replaced as a whole.
  DELETE FROM journey.steps s WHERE s.journey_id = (d.j).id AND s.version = d.v;
  DELETE FROM journey.entry_triggers t WHERE t.journey_id = (d.j).id AND t.version = d.v;
  DELETE FROM journey.exit_rules r WHERE r.journey_id = (d.j).id AND r.version = d.v;
  UPDATE journey.versions x SET start_key = def->>'start', settings = coalesce(def->'settings', '{}')
   WHERE x.journey_id = (d.j).id AND x.version = d.v;

  PERFORM journey._import_steps(d.j, d.v, def);
  PERFORM journey._import_layout(d.j, d.v, def->'layout');
  FOR item IN SELECT e.value FROM jsonb_array_elements(coalesce(def->'entry', '[]')) e LOOP
    IF jsonb_typeof(item) <> 'object' THEN
      RAISE EXCEPTION 'journey "%": every entry trigger must be a JSON object', jname
        USING ERRCODE = '22023';
    END IF;
    PERFORM journey._insert_entry_trigger(d.j, d.v, item->>'type', item - 'type');
  END LOOP;
  FOR item IN SELECT e.value FROM jsonb_array_elements(coalesce(def->'exit', '[]')) e LOOP
    IF jsonb_typeof(item) <> 'object' OR jsonb_typeof(item->'is_goal') NOT IN ('boolean', 'null') THEN
      RAISE EXCEPTION 'journey "%": every exit rule must be a JSON object (is_goal a boolean)', jname
        USING ERRCODE = '22023';
    END IF;
    PERFORM journey._insert_exit_rule(d.j, d.v, item->>'type', item - ARRAY['type', 'is_goal'],
                                      (item->>'is_goal')::boolean);
  END LOOP;
  RETURN (d.j).id;
END
$$;

-- Every problem of the journey's draft (or latest version), errors and warnings.
-- A published version is checked with the templates it froze (a template
-- replaced since reaches the journey through its next publish, which checks it).
CREATE OR REPLACE FUNCTION journey.validate(journey text)
RETURNS TABLE (step_key text, severity text, message text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(validate.journey);
  v journey.versions := journey._version_of(j, NULL);
BEGIN
  RETURN QUERY SELECT i.step_key, i.severity, i.message
                 FROM journey._validate_version(journey.export(j.name, v.version), j.owner,
                                                v.templates) i;
END
$$;
