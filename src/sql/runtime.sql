-- Runtime: enrolling, tracking events, exiting.

-- journey._enroll_rows on a Citus install (docs/scale-out.md): the customers
-- grouped by their shard group, one journey._enroll_group call a group, each
-- run on the node that holds the group (each (customer, entity) once, as on a
-- single node: a customer's rows all go to one group). Returns the new
-- enrollment ids.
CREATE OR REPLACE FUNCTION journey._enroll_rows_distributed(j journey.journeys, p_customers text[],
                                                            p_contexts jsonb[], p_events jsonb[],
                                                            p_entities text[])
RETURNS bigint[]
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  g record;
  ids bigint[] := '{}';
BEGIN
  FOR g IN EXECUTE $q$
    SELECT array_agg(u.c ORDER BY u.o) AS c, array_agg(u.ctx ORDER BY u.o) AS ctx,
           array_agg(u.ev ORDER BY u.o) AS ev, array_agg(u.ent ORDER BY u.o) AS ent
      FROM unnest($1::text[], $2::jsonb[], $3::jsonb[], $4::text[]) WITH ORDINALITY u(c, ctx, ev, ent, o)
     WHERE u.c IS NOT NULL
     GROUP BY pg_catalog.get_shard_id_for_distribution_column('journey.enrollments', u.c)
     ORDER BY min(u.o)$q$
    USING p_customers, p_contexts, p_events, p_entities LOOP
    ids := ids || journey._enroll_group(g.c[1], j.id, g.c, g.ctx, g.ev, g.ent);
  END LOOP;
  RETURN ids;
END
$$;

-- journey._enroll_rows for customers of p_customer's shard group (the others
-- are not found in the group's audience shard, so skipped): the single node's
-- statements (journey._enroll_rows_in) on the group's shards, on the node that
-- holds them. Called elsewhere (the coordinator), it sends itself there, in the
-- caller's transaction, as one query on p_customer's shard of the audience
-- (HAVING: one row whether or not p_customer exists), like
-- journey._end_customer_enrollments: Citus then takes a later call's query on
-- that shard over the same connection. Returns the new enrollment ids.
CREATE OR REPLACE FUNCTION journey._enroll_group(p_customer text, p_journey_id bigint,
                                                 p_customers text[], p_contexts jsonb[],
                                                 p_events jsonb[], p_entities text[])
RETURNS bigint[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp
SET enable_seqscan = off AS $$
DECLARE
  j journey.journeys;
  s record;
  audience_shard text;
  ids bigint[];
BEGIN
  SELECT * INTO j FROM journey.journeys x WHERE x.id = p_journey_id;
  PERFORM journey._require_enrollable(j);
  SELECT * INTO s FROM journey._citus_customer_shards(p_customer);
  IF NOT FOUND THEN
    PERFORM journey._citus_refuse_forwarding_loop(j.audience);
    -- Committed with the caller's transaction on every node it writes (two-phase):
    -- journey._citus_write_on_customer_node.
    PERFORM journey._citus_write_on_customer_node(p_customer);
    EXECUTE format('SELECT journey._enroll_group($1, $2, $3, $4, $5, $6) FROM %s t
                     WHERE t.%I = $1 HAVING true', j.audience, (journey._audience_keys(j.audience)).key_column)
      INTO ids USING p_customer, p_journey_id, p_customers, p_contexts, p_events, p_entities;
    RETURN coalesce(ids, '{}');
  END IF;
  -- shard_name leaves the schema out when it is public.
  EXECUTE $q$SELECT CASE WHEN c.relnamespace = 'public'::regnamespace THEN 'public.' ELSE '' END
                    || pg_catalog.shard_name($1, pg_catalog.get_shard_id_for_distribution_column($1, $2))
               FROM pg_catalog.pg_class c WHERE c.oid = $1$q$
    INTO audience_shard USING j.audience, p_customer;
  RETURN journey._enroll_rows_in(j, audience_shard, s.enrollments, s.activity, p_customers,
                                 p_contexts, p_events, p_entities);
END
$$;

-- Enrolls customers into a published journey, set-based, applying the re-entry
-- policy and the one-active-enrollment rule; customers missing from the
-- audience table are skipped. Ids are canonicalized through the key column's
-- type ('007' and '7' are the same bigint customer). Returns the new
-- enrollment ids.
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
BEGIN
  SELECT * INTO j FROM journey.journeys x WHERE x.id = p_journey_id;
  PERFORM journey._require_enrollable(j);
  IF journey._citus_distributed() THEN
    RETURN journey._enroll_rows_distributed(j, p_customers, p_contexts, p_events, p_entities);
  END IF;
  RETURN journey._enroll_rows_in(j, j.audience::text, 'journey.enrollments', 'journey.activity',
                                 p_customers, p_contexts, p_events, p_entities);
END
$$;

-- journey._enroll_rows on the given tables: p_audience (the audience, or on a
-- Citus node its shard), p_enrollments and p_activity (journey.enrollments and
-- journey.activity, or the co-located shards: journey._enroll_group).
CREATE OR REPLACE FUNCTION journey._enroll_rows_in(j journey.journeys, p_audience text,
                                                   p_enrollments regclass, p_activity regclass,
                                                   p_customers text[], p_contexts jsonb[],
                                                   p_events jsonb[], p_entities text[])
RETURNS bigint[]
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  k record;
  rule record;
  n int := cardinality(p_customers);
  c_ids text[];
  c_contexts jsonb[];
  c_events jsonb[];
  c_entities text[];
  since timestamptz;
  start_key text;
  ended bigint[];
  all_ids bigint[] := '{}';
  lost record;
  rounds int := 0;
BEGIN
  -- The policies are decided in core (journey._reentry_rule;
  -- journey._reentry_replaces and journey._reentry_blocks per earlier
  -- enrollment of a customer; journey._holdout_percent, journey._in_holdout);
  -- this applies them. Once the replaced enrollments ended, a customer enrolls
  -- unless an earlier enrollment blocks it.
  rule := journey._reentry_rule(j.settings);
  SELECT * INTO k FROM journey._audience_keys(j.audience);
  -- The customers that exist, by canonical id (the key as text), each
  -- (customer, entity) once: its first occurrence counts.
  EXECUTE format($sql$
    SELECT coalesce(array_agg(i.c), '{}'), array_agg(i.ctx), array_agg(i.ev), array_agg(i.ent)
      FROM (SELECT DISTINCT ON (t.%2$I, coalesce(u.ent, '')) t.%2$I::text AS c,
                   coalesce(u.ctx, '{}') AS ctx, u.ev, u.ent
              FROM unnest($1::text[], $2::jsonb[], $3::jsonb[], $4::text[])
                   WITH ORDINALITY u(c, ctx, ev, ent, o)
              JOIN %1$s t ON t.%2$I = u.c::%3$s
             WHERE u.c IS NOT NULL
             ORDER BY t.%2$I, coalesce(u.ent, ''), u.o) i$sql$, p_audience, k.key_column, k.cast_type)
  INTO c_ids, c_contexts, c_events, c_entities
  USING p_customers,
        coalesce(p_contexts, array_fill(NULL::jsonb, ARRAY[n])),
        coalesce(p_events, array_fill(NULL::jsonb, ARRAY[n])),
        coalesce(p_entities, array_fill(NULL::text, ARRAY[n]));
  IF cardinality(c_ids) = 0 THEN
    RETURN '{}';
  END IF;
  since := now() - rule.cooldown;
  SELECT v.start_key INTO start_key FROM journey.versions v
   WHERE v.journey_id = j.id AND v.version = j.published_version;
  -- One round decides every row; a row comes back for another round only when
  -- its insert lost to a concurrent enrollment of the same (customer, entity)
  -- that this round's snapshots did not show: the unique index
  -- enrollments_one_active made the insert wait until that one committed (had
  -- it rolled back, the insert would have gone in). The next round's
  -- statements see it (READ COMMITTED: a snapshot per statement) and decide as
  -- if the calls had run one after the other: `always` ends it `reentered` and
  -- enrolls, `never`/`after_exit` (and a cooldown) keep the customer out. No
  -- extra statement when nothing was lost (docs/runtime.md, Concurrency).
  LOOP
    IF rule.replaces_active THEN
      -- Re-entry replaces the active enrollments core says it replaces.
      EXECUTE format($sql$
        SELECT journey._end_enrollments_in($1, $2, array_agg(e.id), array_agg('exited'::text),
                                           array_agg('reentered'::text), NULL, now(), NULL,
                                           array_agg(e.customer_id))
          FROM %s e, unnest($3::text[], $4::text[]) u(c, ent)
         WHERE e.journey_id = $5 AND e.status = 'active' AND e.customer_id = u.c
           AND e.entity_key IS NOT DISTINCT FROM u.ent
           AND journey._reentry_replaces($6, true, $7, true, e.entered_at)
        HAVING count(*) > 0$sql$, p_enrollments)
      INTO ended USING p_enrollments, p_activity, c_ids, c_entities, j.id, rule.any_earlier_blocks,
                       since;
    END IF;
    -- cand: the rows no earlier enrollment keeps out; lost: those of them
    -- whose insert met an active enrollment (ON CONFLICT) after all, looked
    -- for only when fewer went in than cand holds (a one-time filter).
    EXECUTE format($sql$
      WITH cand AS MATERIALIZED (
        SELECT i.c, i.ctx, i.ev, i.ent, i.o
          FROM unnest($6::text[], $7::jsonb[], $8::jsonb[], $9::text[])
               WITH ORDINALITY i(c, ctx, ev, ent, o)
         WHERE NOT EXISTS (
                 SELECT 1 FROM %1$s p
                  WHERE p.journey_id = $1 AND p.customer_id = i.c
                    AND p.entity_key IS NOT DISTINCT FROM i.ent
                    AND journey._reentry_blocks($10, $11, $12, p.status = 'active', p.entered_at))),
      ins AS (
        INSERT INTO %1$s AS e
          (id, journey_id, version, customer_id, entity_key, step_key, next_run_at, context,
           last_event, holdout, entered_at)
        SELECT nextval('journey.enrollments_id_seq'), $1, $2, i.c, i.ent, $3, now(), i.ctx, i.ev,
               journey._in_holdout($4, $5, i.c), now()
          FROM cand i
        ON CONFLICT (journey_id, customer_id, (coalesce(entity_key, ''))) WHERE status = 'active'
        DO NOTHING
        RETURNING e.id, e.customer_id, e.entity_key),
      done AS (SELECT coalesce(array_agg(ins.id), '{}') AS ids, count(*) AS n FROM ins)
      SELECT done.ids, l.c, l.ctx, l.ev, l.ent
        FROM done,
             LATERAL (SELECT array_agg(l.c ORDER BY l.o) AS c, array_agg(l.ctx ORDER BY l.o) AS ctx,
                             array_agg(l.ev ORDER BY l.o) AS ev, array_agg(l.ent ORDER BY l.o) AS ent
                        FROM cand l
                       WHERE done.n < (SELECT count(*) FROM cand)
                         AND NOT EXISTS (SELECT 1 FROM ins
                                          WHERE ins.customer_id = l.c
                                            AND coalesce(ins.entity_key, '') = coalesce(l.ent, ''))) l$sql$,
      p_enrollments)
    INTO lost
    USING j.id, j.published_version, start_key, journey._holdout_percent(j.settings), j.name,
          c_ids, c_contexts, c_events, c_entities, rule.any_earlier_blocks, rule.replaces_active,
          since;
    all_ids := all_ids || lost.ids;
    EXIT WHEN lost.c IS NULL;
    -- REPEATABLE READ and SERIALIZABLE keep one snapshot, which cannot show
    -- the winner (PostgreSQL's ON CONFLICT raises 40001 first; this is the
    -- guard should it not), and a round cannot lose without a new concurrent
    -- commit, so the bound only stops a runaway loop.
    rounds := rounds + 1;
    IF current_setting('transaction_isolation') <> 'read committed' OR rounds > 100 THEN
      RAISE EXCEPTION 'could not enroll customer "%" into journey "%": a concurrent enrollment of it committed',
        lost.c[1], j.name
        USING ERRCODE = '40001', HINT = 'retry the transaction';
    END IF;
    c_ids := lost.c;
    c_contexts := lost.ctx;
    c_events := lost.ev;
    c_entities := lost.ent;
  END LOOP;
  IF cardinality(all_ids) > 0 THEN
    PERFORM journey._wake_workers();
  END IF;
  RETURN all_ids;
END
$$;

-- One customer of journey._enroll_rows on a Citus install: a Citus
-- distributed function (journey.distribute), so a call of it is routed to the
-- node that owns the customer. Returns the new enrollment's id, or null (no
-- such customer, not eligible, or this entity enrolled already).
CREATE OR REPLACE FUNCTION journey._enroll_customer(p_customer text, p_journey_id bigint,
                                                    p_context jsonb, p_event jsonb,
                                                    p_entity text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  RETURN (journey._enroll_group(p_customer, p_journey_id, ARRAY[p_customer], ARRAY[p_context],
                                ARRAY[p_event], ARRAY[p_entity]))[1];
END
$$;
REVOKE ALL ON FUNCTION journey._enroll_customer(text, bigint, jsonb, jsonb, text) FROM PUBLIC;

-- What enroll_query (which runs the caller's query as the caller) may do with
-- the keys it got: enroll them, nothing else (no context, no forged event).
CREATE OR REPLACE FUNCTION journey._enroll_keys(p_journey_id bigint, p_customers text[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys;
BEGIN
  SELECT * INTO j FROM journey.journeys x WHERE x.id = p_journey_id;
  -- A journey that runs one enrollment per entity refuses a list of keys (core).
  PERFORM journey._entity_key(j.name, j.settings, NULL, key_list => 'enroll');
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

-- Enrolls one customer (the id canonicalized through the audience's key type);
-- returns the enrollment id, or null when the customer is not eligible
-- (re-entry policy, already active, cooldown).
CREATE OR REPLACE FUNCTION journey.enroll(journey text, customer_id text, context jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys;
  entity text;
  ids bigint[];
  customer text;
BEGIN
  -- Called per row of a query on a Citus shard (journey._citus_refuse_per_row):
  -- before any read.
  IF journey._citus_shard_query_call() THEN
    PERFORM journey._citus_refuse_per_row('journey.enroll',
      'enroll the customers a query returns with journey.enroll_query(journey, query)');
  END IF;
  j := journey._journey(enroll.journey);
  PERFORM journey._require_enrollable(j);
  IF enroll.customer_id IS NULL THEN
    RAISE EXCEPTION 'customer_id must not be null' USING ERRCODE = '22004';
  END IF;
  IF enroll.context IS NOT NULL AND jsonb_typeof(enroll.context) <> 'object' THEN
    RAISE EXCEPTION 'context for journey "%" must be a JSON object', j.name USING ERRCODE = '22023';
  END IF;
  -- The entity of a journey that runs one enrollment per entity (null: per
  -- customer), decided in core from its settings: the context's value of the
  -- entity property, read as track reads an event's (core::entity_id); 22023
  -- when the context lacks it or it is no entity id.
  entity := journey._entity_key(j.name, j.settings, enroll.context);
  customer := (journey._resolve_customer(enroll.customer_id, j.audience)).key;
  ids := journey._enroll_rows(j.id, ARRAY[customer], ARRAY[coalesce(enroll.context, '{}')], NULL,
                              ARRAY[entity]);
  IF cardinality(ids) = 0 THEN
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
  -- Before it runs the caller's query: refused for a journey run per entity.
  PERFORM journey._entity_key(j.name, j.settings, NULL, key_list => 'enroll');
  IF enroll_query.query IS NULL THEN
    RAISE EXCEPTION 'query of enroll_query for journey "%" must not be null', j.name
      USING ERRCODE = '22004', HINT = 'pass a SELECT whose first column is the customer key';
  END IF;
  IF btrim(enroll_query.query, E' \t\n\r') = '' THEN
    RAISE EXCEPTION 'query of enroll_query for journey "%" must not be empty', j.name
      USING ERRCODE = '22023', HINT = 'pass a SELECT whose first column is the customer key';
  END IF;
  EXECUTE format('SELECT array_agg(k::text) FROM (%s) q(k)', enroll_query.query) INTO keys;
  RETURN journey._enroll_keys(j.id, coalesce(keys, '{}'));
END
$$;

-- Records an event of one audience's customer, and in the same transaction,
-- among the journeys of that audience: ends enrollments whose event exit rules
-- it matches, wakes enrollments waiting for it, and enrolls the customer into
-- journeys it triggers. The customer is resolved (and its id canonicalized)
-- through the audience's key type: `audience` names the customer table, or,
-- when null, the one registered audience that has this customer does.
-- Returns the event id (null for a repeated idempotency_key, which changes
-- nothing).
CREATE OR REPLACE FUNCTION journey.track(customer_id text, event text, properties jsonb DEFAULT '{}',
                              occurred_at timestamptz DEFAULT now(),
                              idempotency_key text DEFAULT NULL,
                              audience regclass DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  props jsonb := coalesce(track.properties, '{}');
  resolved record;
  rel regclass;
  customer text;
  fx record;
  event_id bigint;
  delivered jsonb;
BEGIN
  -- Called per row of a query on a Citus shard (journey._citus_refuse_per_row).
  IF journey._citus_shard_query_call() THEN
    PERFORM journey._citus_refuse_per_row('journey.track',
      'read the customer ids first, then call journey.track once for each (one statement a call)');
  END IF;
  IF track.customer_id IS NULL OR track.event IS NULL OR track.event = '' THEN
    RAISE EXCEPTION 'track needs a customer_id and an event name' USING ERRCODE = '22004';
  END IF;
  IF jsonb_typeof(props) <> 'object' THEN
    RAISE EXCEPTION 'properties of event "%" must be a JSON object', track.event
      USING ERRCODE = '22023';
  END IF;
  IF NOT isfinite(track.occurred_at) THEN
    RAISE EXCEPTION 'occurred_at of event "%" must be a finite time, got %', track.event,
      track.occurred_at USING ERRCODE = '22023';
  END IF;
  resolved := journey._resolve_customer(track.customer_id, track.audience, track.event);
  rel := resolved.audience;
  customer := resolved.key;
  -- What the event does is decided in core (journey._track_effects): the
  -- journeys it enters (refused when one runs per entity and the event names
  -- none), the enrollments its event exit rules end, those waiting for it.
  fx := journey._track_effects(rel, customer, track.event, props, track.customer_id,
                               coalesce(track.occurred_at, now()));

  INSERT INTO journey.events AS ev (customer_id, name, properties, occurred_at, idempotency_key,
                                    audience, audience_id)
  VALUES (customer, track.event, props, coalesce(track.occurred_at, now()), track.idempotency_key,
          rel, journey._audience_id(rel))
  ON CONFLICT ON CONSTRAINT events_idempotency_key_key DO NOTHING
  RETURNING ev.id INTO event_id;
  IF event_id IS NULL THEN
    RETURN NULL;
  END IF;
  delivered := jsonb_build_object('id', event_id, 'name', track.event, 'properties', props,
                                  'occurred_at', coalesce(track.occurred_at, now()));

  -- Event exit rules (goals mark the conversion).
  IF cardinality(fx.exit_ids) > 0 THEN
    PERFORM journey._end_customer_enrollments(
      customer, fx.exit_ids, array_fill('exited'::text, ARRAY[cardinality(fx.exit_ids)]),
      fx.exit_reasons, fx.exit_goals, now(), coalesce(track.occurred_at, now()));
  END IF;

  -- Wake enrollments waiting for this event (core leaves out those that
  -- entered after a backdated event); the engine checks their "where".
  IF cardinality(fx.wake_ids) > 0 THEN
    UPDATE journey.enrollments e
       SET woken_by = e.woken_by || jsonb_build_array(delivered), next_run_at = now()
     WHERE e.customer_id = customer AND e.id = ANY (fx.wake_ids) AND e.status = 'active'
       AND e.waiting_for = track.event;
    IF FOUND THEN
      PERFORM journey._wake_workers();
    END IF;
  END IF;

  -- Enter the journeys the event triggers.
  FOR i IN 1 .. cardinality(fx.enter_journeys) LOOP
    PERFORM journey._enroll_rows(fx.enter_journeys[i], ARRAY[customer], NULL, ARRAY[props],
                                 ARRAY[fx.enter_entities[i]]);
  END LOOP;
  RETURN event_id;
END
$$;

-- Ends an active enrollment by hand; its exit reason is "manual" or
-- "manual: <reason>" (docs/runtime.md).
CREATE OR REPLACE FUNCTION journey.exit(enrollment_id bigint, reason text DEFAULT 'manual') RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  current_status journey.enrollment_status;
  customer text;
BEGIN
  -- Called per row of a query on a Citus shard (journey._citus_refuse_per_row).
  IF journey._citus_shard_query_call() THEN
    PERFORM journey._citus_refuse_per_row('journey.exit',
      'read the enrollment ids first, then call journey.exit once for each (one statement a call)');
  END IF;
  IF exit.enrollment_id IS NULL THEN
    RAISE EXCEPTION 'enrollment_id must not be null' USING ERRCODE = '22004';
  END IF;
  -- A manual exit reads "manual", or "manual: <reason>": never the name of an
  -- exit rule (no rule name starts with "manual"), so no rule is credited.
  -- The customer first: on a Citus install every statement after this one is
  -- pinned to the customer (docs/scale-out.md).
  SELECT e.customer_id INTO customer FROM journey.enrollments e WHERE e.id = exit.enrollment_id;
  IF customer IS NULL OR cardinality(journey._end_customer_enrollments(
       customer, ARRAY[exit.enrollment_id], ARRAY['exited'],
       ARRAY[CASE WHEN coalesce(exit.reason, 'manual') = 'manual' THEN 'manual'
                  ELSE 'manual: ' || exit.reason END])) = 0 THEN
    SELECT e.status INTO current_status FROM journey.enrollments e
     WHERE e.customer_id = customer AND e.id = exit.enrollment_id;
    IF current_status IS NULL THEN
      RAISE EXCEPTION 'enrollment % does not exist', exit.enrollment_id USING ERRCODE = '42704';
    END IF;
    RAISE EXCEPTION 'enrollment % is already %', exit.enrollment_id, current_status
      USING ERRCODE = '55000';
  END IF;
END
$$;
