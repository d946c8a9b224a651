-- Runtime: enrolling, tracking events, exiting.

-- Enrolls customers into a published journey, set-based, applying the re-entry
-- policy and the one-active-enrollment rule; customers missing from the
-- audience table are skipped. Returns the new enrollment ids.
CREATE OR REPLACE FUNCTION journey._enroll_rows(p_journey_id bigint, p_customers text[],
                                     p_contexts jsonb[] DEFAULT NULL,
                                     p_events jsonb[] DEFAULT NULL,
                                     p_entities text[] DEFAULT NULL)
RETURNS bigint[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp
-- Probe indexes even when the statistics still describe an empty table (a new
-- install's first bulk enrollment): a sequential scan per candidate row in the
-- re-entry check would make a bulk enrollment quadratic.
SET enable_seqscan = off AS $$
DECLARE
  j journey.journeys;
  key_column name;
  key_type text;
  reentry text;
  cooldown interval;
  n int := cardinality(p_customers);
  ids bigint[];
BEGIN
  SELECT * INTO j FROM journey.journeys x WHERE x.id = p_journey_id;
  PERFORM journey._require_enrollable(j);
  reentry := coalesce(j.settings->>'reentry', 'never');
  cooldown := journey._duration(j.settings->>'reentry_cooldown');
  SELECT a.key_column INTO key_column FROM journey.audiences a WHERE a.relation = j.audience;
  SELECT c.type_name INTO key_type FROM journey._audience_columns(j.audience) c
   WHERE c.name = key_column;
  IF reentry = 'always' THEN
    -- Re-entry replaces the active enrollment (outside the cooldown).
    UPDATE journey.enrollments e
       SET status = 'exited', exit_reason = 'reentered', ended_at = now(), next_run_at = NULL,
           waiting_for = NULL
      FROM unnest(p_customers, coalesce(p_entities, array_fill(NULL::text, ARRAY[n]))) u(c, ent)
     WHERE e.journey_id = j.id AND e.status = 'active' AND e.customer_id = u.c
       AND e.entity_key IS NOT DISTINCT FROM u.ent
       AND (cooldown IS NULL OR e.entered_at <= now() - cooldown);
  END IF;
  EXECUTE format($sql$
    WITH input AS (
      SELECT DISTINCT ON (t.%2$I, coalesce(u.ent, '')) t.%2$I::text AS c,
             coalesce(u.ctx, '{}') AS ctx, u.ev, u.ent
        FROM unnest($1::text[], $2::jsonb[], $3::jsonb[], $4::text[]) u(c, ctx, ev, ent)
        JOIN %1$s t ON t.%2$I = u.c::%3$s
       WHERE u.c IS NOT NULL),
    ins AS (
      INSERT INTO journey.enrollments AS e
        (journey_id, version, customer_id, entity_key, step_key, next_run_at, context, last_event,
         holdout, entered_at)
      SELECT $5, $6, i.c, i.ent, v.start_key, now(), i.ctx, i.ev,
             journey._in_holdout($7, $8, i.c), now()
        FROM input i
        JOIN journey.versions v ON v.journey_id = $5 AND v.version = $6
       WHERE NOT EXISTS (
               SELECT 1 FROM journey.enrollments p
                WHERE p.journey_id = $5 AND p.customer_id = i.c
                  AND p.entity_key IS NOT DISTINCT FROM i.ent
                  AND ($9 = 'never' OR ($10::interval IS NOT NULL AND p.entered_at > now() - $10)))
      ON CONFLICT (journey_id, customer_id, (coalesce(entity_key, ''))) WHERE status = 'active'
      DO NOTHING
      RETURNING e.id)
    SELECT coalesce(array_agg(ins.id), '{}') FROM ins$sql$, j.audience, key_column, key_type)
  INTO ids
  USING p_customers,
        coalesce(p_contexts, array_fill(NULL::jsonb, ARRAY[n])),
        coalesce(p_events, array_fill(NULL::jsonb, ARRAY[n])),
        coalesce(p_entities, array_fill(NULL::text, ARRAY[n])),
        j.id, j.published_version,
        coalesce((j.settings->>'holdout_percent')::float8, 0), j.name, reentry, cooldown;
  IF cardinality(ids) > 0 THEN
    PERFORM journey._wake_workers();
  END IF;
  RETURN ids;
END
$$;

-- What enroll_query (which runs the caller's query as the caller) may do with
-- the keys it got: enroll them, nothing else (no context, no forged event).
CREATE OR REPLACE FUNCTION journey._enroll_keys(p_journey_id bigint, p_customers text[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys;
BEGIN
  SELECT * INTO j FROM journey.journeys x WHERE x.id = p_journey_id;
  IF j.settings ? 'entity_property' THEN
    RAISE EXCEPTION 'journey "%" runs one enrollment per "%": enroll its customers with journey.enroll(..., context)',
      j.name, j.settings->>'entity_property' USING ERRCODE = '22023';
  END IF;
  RETURN cardinality(journey._enroll_rows(p_journey_id, p_customers));
END
$$;

-- Raises unless the journey takes new enrollments (published).
CREATE OR REPLACE FUNCTION journey._require_enrollable(j journey.journeys) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  IF j.state <> 'published' THEN
    RAISE EXCEPTION 'cannot enroll into journey "%": it is %', j.name, j.state
      USING ERRCODE = '55000',
            HINT = CASE j.state WHEN 'draft' THEN 'publish it first'
                                WHEN 'paused' THEN 'resume it first'
                                ELSE 'an archived journey takes no one' END;
  END IF;
END
$$;

-- Enrolls one customer; returns the enrollment id, or null when the customer is
-- not eligible (re-entry policy, already active, cooldown).
CREATE OR REPLACE FUNCTION journey.enroll(journey text, customer_id text, context jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(enroll.journey);
  entity_property text := j.settings->>'entity_property';
  entity text;
  ids bigint[];
  a journey.audiences;
  found_customer boolean;
BEGIN
  PERFORM journey._require_enrollable(j);
  IF enroll.customer_id IS NULL THEN
    RAISE EXCEPTION 'customer_id must not be null' USING ERRCODE = '22004';
  END IF;
  IF enroll.context IS NOT NULL AND jsonb_typeof(enroll.context) <> 'object' THEN
    RAISE EXCEPTION 'context for journey "%" must be a JSON object', j.name USING ERRCODE = '22023';
  END IF;
  IF entity_property IS NOT NULL THEN
    entity := enroll.context->>entity_property;
    IF entity IS NULL THEN
      RAISE EXCEPTION 'journey "%" runs one enrollment per "%": the context needs that key',
        j.name, entity_property USING ERRCODE = '22023';
    END IF;
  END IF;
  ids := journey._enroll_rows(j.id, ARRAY[enroll.customer_id],
                              ARRAY[coalesce(enroll.context, '{}')], NULL, ARRAY[entity]);
  IF cardinality(ids) = 0 THEN
    SELECT * INTO a FROM journey.audiences x WHERE x.relation = j.audience;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s t WHERE t.%I::text = $1)', j.audience,
                   a.key_column)
      INTO found_customer USING enroll.customer_id;
    IF NOT found_customer THEN
      RAISE EXCEPTION 'customer "%" does not exist in %', enroll.customer_id, j.audience
        USING ERRCODE = '23503';
    END IF;
    RETURN NULL;
  END IF;
  RETURN ids[1];
END
$$;

-- Enrolls every customer whose key the query returns (first column); returns
-- how many were enrolled. The query runs with the caller's privileges and
-- search_path (so this function pins none; everything in it is qualified).
CREATE OR REPLACE FUNCTION journey.enroll_query(journey text, query text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  j journey.journeys := journey._journey(enroll_query.journey);
  keys text[];
BEGIN
  PERFORM journey._require_enrollable(j);
  IF j.settings ? 'entity_property' THEN
    RAISE EXCEPTION 'journey "%" runs one enrollment per "%": enroll its customers with journey.enroll(..., context)',
      j.name, j.settings->>'entity_property' USING ERRCODE = '22023';
  END IF;
  EXECUTE format('SELECT array_agg(k::text) FROM (%s) q(k)', enroll_query.query) INTO keys;
  RETURN journey._enroll_keys(j.id, coalesce(keys, '{}'));
END
$$;

-- Records an event, and in the same transaction: ends enrollments whose event
-- exit rules it matches, wakes enrollments waiting for it, and enrolls the
-- customer into journeys it triggers. Returns the event id (null for a repeated
-- idempotency_key, which changes nothing).
CREATE OR REPLACE FUNCTION journey.track(customer_id text, event text, properties jsonb DEFAULT '{}',
                              occurred_at timestamptz DEFAULT now(),
                              idempotency_key text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  props jsonb := coalesce(track.properties, '{}');
  event_id bigint;
  delivered jsonb;
  j journey.journeys;
  entity_property text;
BEGIN
  IF track.customer_id IS NULL OR track.event IS NULL OR track.event = '' THEN
    RAISE EXCEPTION 'track needs a customer_id and an event name' USING ERRCODE = '22004';
  END IF;
  IF jsonb_typeof(props) <> 'object' THEN
    RAISE EXCEPTION 'properties of event "%" must be a JSON object', track.event
      USING ERRCODE = '22023';
  END IF;
  INSERT INTO journey.events AS ev (customer_id, name, properties, occurred_at, idempotency_key)
  VALUES (track.customer_id, track.event, props, coalesce(track.occurred_at, now()),
          track.idempotency_key)
  ON CONFLICT ON CONSTRAINT events_idempotency_key_key DO NOTHING
  RETURNING ev.id INTO event_id;
  IF event_id IS NULL THEN
    RETURN NULL;
  END IF;
  delivered := jsonb_build_object('id', event_id, 'name', track.event, 'properties', props,
                                  'occurred_at', coalesce(track.occurred_at, now()));

  -- Event exit rules (goals mark the conversion).
  UPDATE journey.enrollments e
     SET status = 'exited', ended_at = now(), next_run_at = NULL, waiting_for = NULL,
         exit_reason = format('exit rule exit[%s]', r.position - 1),
         converted_at = CASE WHEN r.is_goal THEN coalesce(e.converted_at, coalesce(track.occurred_at, now()))
                             ELSE e.converted_at END
    FROM (SELECT DISTINCT ON (x.id) x.id, rr.position, rr.is_goal
            FROM journey.enrollments x
            JOIN journey.journeys jj ON jj.id = x.journey_id
            JOIN journey.exit_rules rr ON rr.journey_id = x.journey_id AND rr.version = x.version
           WHERE x.customer_id = track.customer_id AND x.status = 'active'
             AND jj.state IN ('published', 'paused')
             AND rr.type = 'event' AND rr.config->>'event' = track.event
             AND (NOT jj.settings ? 'entity_property' OR NOT props ? (jj.settings->>'entity_property')
                  OR x.entity_key = props->>(jj.settings->>'entity_property'))
             AND journey._event_matches(rr.config->'where', props)
           ORDER BY x.id, rr.position) r
   WHERE e.id = r.id AND e.status = 'active';

  -- Wake enrollments waiting for this event; the engine checks their "where".
  UPDATE journey.enrollments e
     SET woken_by = e.woken_by || jsonb_build_array(delivered), next_run_at = now()
    FROM journey.journeys x
   WHERE e.customer_id = track.customer_id AND e.status = 'active'
     AND e.waiting_for = track.event AND x.id = e.journey_id
     AND (NOT x.settings ? 'entity_property' OR NOT props ? (x.settings->>'entity_property')
          OR e.entity_key = props->>(x.settings->>'entity_property'));

  IF FOUND THEN
    PERFORM journey._wake_workers();
  END IF;

  -- Event entry triggers of published journeys.
  FOR j IN SELECT x.* FROM journey.journeys x
            WHERE x.state = 'published'
              AND EXISTS (SELECT 1 FROM journey.entry_triggers t
                           WHERE t.journey_id = x.id AND t.version = x.published_version
                             AND t.type = 'event' AND t.config->>'event' = track.event
                             AND journey._event_matches(t.config->'where', props))
            ORDER BY x.id LOOP
    entity_property := j.settings->>'entity_property';
    CONTINUE WHEN entity_property IS NOT NULL AND NOT props ? entity_property;
    PERFORM journey._enroll_rows(j.id, ARRAY[track.customer_id], NULL, ARRAY[props],
                                 ARRAY[props->>entity_property]);
  END LOOP;
  RETURN event_id;
END
$$;

-- Ends an active enrollment by hand.
CREATE OR REPLACE FUNCTION journey.exit(enrollment_id bigint, reason text DEFAULT 'manual') RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  current_status journey.enrollment_status;
BEGIN
  UPDATE journey.enrollments e
     SET status = 'exited', ended_at = now(), next_run_at = NULL, waiting_for = NULL,
         exit_reason = coalesce(exit.reason, 'manual')
   WHERE e.id = exit.enrollment_id AND e.status = 'active';
  IF NOT FOUND THEN
    SELECT e.status INTO current_status FROM journey.enrollments e WHERE e.id = exit.enrollment_id;
    IF current_status IS NULL THEN
      RAISE EXCEPTION 'enrollment % does not exist', exit.enrollment_id USING ERRCODE = '42704';
    END IF;
    RAISE EXCEPTION 'enrollment % is already %', exit.enrollment_id, current_status
      USING ERRCODE = '55000';
  END IF;
END
$$;
