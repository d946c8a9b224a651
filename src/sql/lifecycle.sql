-- Lifecycle: publish (and its preview), pause, resume, archive.

-- Validates the draft and makes it the published version; returns its number.
-- A draft journey becomes published; a paused one stays paused on the new version.
CREATE OR REPLACE FUNCTION journey.publish(journey text, migrate boolean DEFAULT false) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  publisher regrole := journey._invoking_role();  -- first: refused for code run on others' behalf
  j journey.journeys := journey._journey_for(publish.journey, 'publish');
  v int;
  def jsonb;
  problems jsonb;
  publisher_name name;
  -- now() as a value: Citus refuses a non-IMMUTABLE function in CASE in an
  -- UPDATE of a distributed table (migrate below).
  t_now timestamptz := now();
  mv record;  -- migrate: core's answers per step of the older versions, as arrays
BEGIN
  SELECT x.version INTO v FROM journey.versions x WHERE x.journey_id = j.id AND x.status = 'draft';
  IF NOT FOUND THEN
    RAISE EXCEPTION 'journey "%" has no draft to publish', j.name
      USING ERRCODE = '55000',
            DETAIL = format('version %s is live and nothing was edited since it was published',
                            j.published_version),
            HINT = 'edit the journey (add_step, connect, set_settings, import) to start a new draft';
  END IF;
  def := journey.export(j.name, v);
  -- The templates the version renders are checked and frozen as they are now:
  -- share-locked until commit, so a concurrent replace cannot slip in between.
  PERFORM 1 FROM journey.templates t
   WHERE t.name = ANY (journey._templates_named(def))
     FOR SHARE;
  -- The role that publishes owns what goes live: call steps, segment queries and
  -- field updates run with its privileges, and are validated against them.
  j.owner := publisher;
  IF NOT has_table_privilege(j.owner, j.audience, 'SELECT') THEN
    RAISE EXCEPTION 'permission denied for table %', j.audience USING ERRCODE = '42501',
      DETAIL = format('publishing journey "%s" needs SELECT on its audience', j.name);
  END IF;
  SELECT coalesce(jsonb_agg(to_jsonb(i)), '[]') INTO problems
    FROM journey.validate_definition(def, j.owner) i WHERE i.severity = 'error';
  PERFORM journey._raise_issues(format('journey "%s" cannot be published: it', j.name), problems);

  -- Looked up first: on a Citus install journey.versions is a reference table,
  -- and Citus refuses a subquery on a catalog in its UPDATE.
  SELECT r.rolname INTO publisher_name FROM pg_roles r WHERE r.oid = publisher;
  UPDATE journey.versions x SET status = 'retired'
   WHERE x.journey_id = j.id AND x.status = 'published';
  UPDATE journey.versions x
     SET status = 'published', definition = def, published_at = now(), owner = j.owner,
         templates = journey._definition_templates(def),
         published_by = publisher_name,
         ignored_suppression_reasons = journey._ignored_suppression_reasons(def->'settings')
   WHERE x.journey_id = j.id AND x.version = v;
  UPDATE journey.journeys x
     SET published_version = v, settings = def->'settings', published_at = now(), updated_at = now(),
         owner = j.owner,
         state = CASE WHEN x.state = 'draft' THEN 'published'::journey.journey_state ELSE x.state END
   WHERE x.id = j.id;
  PERFORM journey._sync_schedules(j.id);
  PERFORM journey._install_audience_triggers(j.audience);
  PERFORM journey._journeys_changed();
  IF publish.migrate THEN
    -- Active enrollments at a step whose key the new version has move onto it.
    -- What that does to them is core's (journey._migrations, src/core/migration):
    -- one parked at a step of the same type keeps its place and is re-armed by
    -- the next tick under the new config (event, where, timeout, duration),
    -- counted from when it arrived at the step (parked_at); meanwhile track()
    -- wakes it for the event it now waits for. At a step of another type it
    -- enters the new step afresh at the next tick. One not parked moves as it
    -- is. The answers are read first, once per step of the older versions (on
    -- Citus by the coordinator, which sees the version this transaction made
    -- live), and applied to every enrollment at once.
    SELECT array_agg(m.old_version) AS versions, array_agg(m.step_key) AS keys,
           array_agg(m.keeps_place) AS keeps, array_agg(m.waiting_for) AS waits,
           array_agg(m.rearm) AS rearms, array_agg(m.due_now) AS due
      INTO mv FROM journey._migrations(j.id, v) m WHERE m.moves;
    UPDATE journey.enrollments e
       SET version = v,
           parked_at = CASE WHEN m.keeps_place THEN e.parked_at END,
           wait_deadline = CASE WHEN m.keeps_place THEN e.wait_deadline END,
           waiting_for = CASE WHEN e.parked_at IS NOT NULL THEN m.waiting_for END,
           rearm = e.parked_at IS NOT NULL AND m.rearm,
           next_run_at = CASE WHEN e.parked_at IS NOT NULL AND m.due_now
                              THEN least(coalesce(e.next_run_at, t_now), t_now)
                              ELSE e.next_run_at END
      FROM unnest(mv.versions, mv.keys, mv.keeps, mv.waits, mv.rearms, mv.due)
           AS m(old_version, step_key, keeps_place, waiting_for, rearm, due_now)
     WHERE e.journey_id = j.id AND e.status = 'active' AND e.version <> v
       AND e.version = m.old_version AND e.step_key = m.step_key;
  END IF;
  RETURN v;
END
$$;

-- Stops a published journey: no entry, no step runs; enrollments keep their place.
CREATE OR REPLACE FUNCTION journey.pause(journey text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey_for(pause.journey, 'pause');
BEGIN
  UPDATE journey.journeys x SET state = 'paused', updated_at = now() WHERE x.id = j.id;
  PERFORM journey._install_audience_triggers(j.audience);
END
$$;

-- Puts a paused journey back to work. catch_up => 'run' (default): enrollments
-- whose delays or waits fell due during the pause run at once; 'skip': delays
-- "until" a time of day that fell due during the pause wait for their next
-- window instead of firing late.
CREATE OR REPLACE FUNCTION journey.resume(journey text, catch_up text DEFAULT 'run') RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey_for(resume.journey, 'resume');
  rearms record;
BEGIN
  IF resume.catch_up IS NULL OR resume.catch_up NOT IN ('run', 'skip') THEN
    RAISE EXCEPTION 'catch_up must be ''run'' or ''skip'', not %', coalesce(resume.catch_up, 'null')
      USING ERRCODE = '22023';
  END IF;
  IF resume.catch_up = 'skip' THEN
    -- On Citus: this update spans shards, and the reference table journeys is
    -- written after it only in sequential mode (local to this function).
    IF journey._citus_distributed() THEN
      PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
    END IF;
    -- Parked enrollments that fell due during the pause, at a step where core
    -- re-arms them (journey._skip_rearms, src/core/migration: a delay until a
    -- time of day), from the compiled versions they are on.
    SELECT array_agg(r.version) AS versions, array_agg(r.step_key) AS keys INTO rearms
      FROM journey._skip_rearms(j.id, ARRAY(
             SELECT e.version FROM journey.enrollments e
              WHERE e.journey_id = j.id AND e.status = 'active' AND e.parked_at IS NOT NULL
                AND e.next_run_at <= now()
              GROUP BY e.version)) r;
    UPDATE journey.enrollments e SET rearm = true
      FROM unnest(rearms.versions, rearms.keys) AS r(version, step_key)
     WHERE e.journey_id = j.id AND e.status = 'active' AND e.parked_at IS NOT NULL
       AND e.next_run_at <= now()
       AND e.version = r.version AND e.step_key = r.step_key;
  END IF;
  UPDATE journey.journeys x SET state = 'published', updated_at = now() WHERE x.id = j.id;
  PERFORM journey._install_audience_triggers(j.audience);
  PERFORM journey._wake_workers();
END
$$;

-- Deactivates a journey for good: active enrollments end (exit_reason
-- 'archived') and pending messages are withdrawn (suppressed, reason 'archived').
CREATE OR REPLACE FUNCTION journey.archive(journey text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey_for(archive.journey, 'archive');
  customers text[];
  ids bigint[];
  first int := 1;
BEGIN
  UPDATE journey.journeys x SET state = 'archived', archived_at = now(), updated_at = now()
   WHERE x.id = j.id;
  -- Nothing leaves an archived journey (claim_messages skips it): its pending
  -- messages, of ended enrollments too, are withdrawn rather than left pending
  -- (on Citus after waiting for a shard move: journey._citus_hold_moves).
  PERFORM journey._citus_hold_moves(NULL);
  UPDATE journey.messages m SET status = 'suppressed', reason = 'archived', completed_at = now()
   WHERE m.journey_id = j.id AND m.status = 'pending';
  IF journey._citus_distributed() THEN
    -- On a Citus install, each customer's on the node that owns it
    -- (journey._end_customer_enrollments): a row lock across shards is refused.
    -- The pairs are read first, so no distributed query is open meanwhile.
    SELECT array_agg(e.customer_id ORDER BY e.customer_id, e.id), array_agg(e.id ORDER BY e.customer_id, e.id)
      INTO customers, ids
      FROM journey.enrollments e WHERE e.journey_id = j.id AND e.status = 'active';
    FOR i IN 1 .. coalesce(cardinality(ids), 0) LOOP
      IF i = cardinality(ids) OR customers[i + 1] <> customers[i] THEN
        PERFORM journey._end_customer_enrollments(
          customers[i], ids[first:i], array_fill('exited'::text, ARRAY[i - first + 1]),
          array_fill('archived'::text, ARRAY[i - first + 1]));
        first := i + 1;
      END IF;
    END LOOP;
  ELSE
    PERFORM journey._end_enrollments(array_agg(e.id), array_agg('exited'::text), array_agg('archived'::text),
                                     p_customers => array_agg(e.customer_id))
       FROM journey.enrollments e
      WHERE e.journey_id = j.id AND e.status = 'active'
     HAVING count(*) > 0;
  END IF;
  PERFORM journey._sync_schedules(j.id);
  PERFORM journey._install_audience_triggers(j.audience);
END
$$;

-- Before a publish: per step, how many active enrollments sit there and what
-- publish(migrate => true) would do to them: move to the new version, or stay on
-- theirs because the draft has no step of that key.
CREATE OR REPLACE FUNCTION journey.publish_preview(journey text)
RETURNS TABLE (step_key text, enrolled bigint, fate text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(publish_preview.journey);
  draft int;
  mv record;  -- core's answers per step of the older versions (as publish's)
BEGIN
  SELECT v.version INTO draft FROM journey.versions v WHERE v.journey_id = j.id AND v.status = 'draft';
  SELECT array_agg(m.old_version) AS versions, array_agg(m.step_key) AS keys,
         array_agg(m.moves) AS moves
    INTO mv FROM journey._migrations(j.id, draft) m;
  RETURN QUERY
  SELECT e.step_key, count(*),
         CASE WHEN draft IS NULL THEN 'stay (no draft to publish)'
              WHEN bool_or(m.moves) THEN 'move'
              ELSE 'stay (step not in the draft)' END
    FROM journey.enrollments e
    LEFT JOIN unnest(mv.versions, mv.keys, mv.moves) AS m(old_version, step_key, moves)
      ON m.old_version = e.version AND m.step_key = e.step_key
   WHERE e.journey_id = j.id AND e.status = 'active'
   GROUP BY e.step_key
   ORDER BY e.step_key;
END
$$;
