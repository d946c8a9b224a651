-- Scheduled entry triggers (segment, date) through pg_cron.

-- Runs one scheduled entry trigger of a published journey now: enrolls the
-- customers newly matching a segment, or those whose date falls due since the
-- last run. Called by the pg_cron job publish creates; returns how many enrolled.
CREATE OR REPLACE FUNCTION journey.run_entry_trigger(journey_id bigint, "position" int) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys;
  t journey.entry_triggers;
  a journey.audiences;
  keys text[];
  fresh text[];
  last_run timestamptz;
  due text;
  n bigint;
BEGIN
  SELECT * INTO j FROM journey.journeys x WHERE x.id = run_entry_trigger.journey_id;
  IF NOT FOUND OR j.state <> 'published' THEN
    RETURN 0;  -- paused, archived or gone: the schedule waits
  END IF;
  SELECT * INTO t FROM journey.entry_triggers x
   WHERE x.journey_id = j.id AND x.version = j.published_version
     AND x.position = run_entry_trigger.position AND x.type IN ('segment', 'date');
  IF NOT FOUND THEN
    RETURN 0;
  END IF;
  SELECT * INTO a FROM journey.audiences x WHERE x.relation = j.audience;
  SELECT r.last_run_at INTO last_run FROM journey.scheduled_runs r
   WHERE r.journey_id = j.id AND r.version = t.version AND r.position = t.position FOR UPDATE;

  IF t.type = 'segment' THEN
    IF t.config ? 'query' THEN
      keys := journey._owner_query_keys(t.config->>'query', j.owner);
    ELSE
      EXECUTE format('SELECT coalesce(array_agg(t.%I::text), ''{}'') FROM %s t WHERE %s',
                     a.key_column, j.audience, journey._condition_sql(t.config->'when', j.audience))
        INTO keys;
    END IF;
    -- Only customers newly matching since the last run enter.
    SELECT coalesce(array_agg(k), '{}') INTO fresh FROM unnest(keys) k
     WHERE NOT EXISTS (SELECT 1 FROM journey.segment_members m
                        WHERE m.journey_id = j.id AND m.version = t.version
                          AND m.position = t.position AND m.customer_id = k);
    DELETE FROM journey.segment_members m
     WHERE m.journey_id = j.id AND m.version = t.version AND m.position = t.position
       AND NOT (m.customer_id = ANY (keys));
    INSERT INTO journey.segment_members (journey_id, version, position, customer_id)
    SELECT j.id, t.version, t.position, k FROM unnest(fresh) k ON CONFLICT DO NOTHING;
  ELSE
    -- date: field + offset (this year's anniversary when recurring yearly) fell
    -- due since the last run (the first run looks back one day).
    due := format('(t.%I + %L::interval)', t.config->>'field',
                  coalesce(journey._duration(t.config->>'offset'), interval '0'));
    IF t.config->>'recurring' = 'yearly' THEN
      due := format('(t.%1$I + make_interval(years => (extract(year from now()) - extract(year from t.%1$I))::int) + %2$L::interval)',
                    t.config->>'field', coalesce(journey._duration(t.config->>'offset'), interval '0'));
    END IF;
    EXECUTE format('SELECT coalesce(array_agg(t.%I::text), ''{}'') FROM %s t WHERE %s > $1 AND %s <= now()',
                   a.key_column, j.audience, due, due)
      INTO fresh USING coalesce(last_run, now() - interval '1 day');
  END IF;

  n := cardinality(journey._enroll_rows(j.id, fresh));
  INSERT INTO journey.scheduled_runs AS r (journey_id, version, position, last_run_at, enrolled)
  VALUES (j.id, t.version, t.position, now(), n)
  ON CONFLICT ON CONSTRAINT scheduled_runs_pkey
  DO UPDATE SET last_run_at = excluded.last_run_at, enrolled = r.enrolled + excluded.enrolled;
  RETURN n;
END
$$;

-- Whether pg_cron can be used from this database.
CREATE OR REPLACE FUNCTION journey._pg_cron_available() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT to_regprocedure('cron.schedule(text,text,text)') IS NOT NULL
     AND to_regprocedure('cron.unschedule(bigint)') IS NOT NULL
$$;

-- Makes the pg_cron jobs of a journey match its scheduled entry triggers: one
-- job per trigger of the published version while it is published or paused,
-- none once archived (or dropped). Job names: pg_journey:<journey id>:<position>.
CREATE OR REPLACE FUNCTION journey._sync_schedules(p_journey_id bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys;
  t record;
  wanted text[] := '{}';
  job text;
  cron_ok boolean := journey._pg_cron_available();
BEGIN
  SELECT * INTO j FROM journey.journeys x WHERE x.id = p_journey_id;
  IF FOUND AND j.state IN ('published', 'paused') THEN
    FOR t IN SELECT x.position, x.type, x.config->>'schedule' AS schedule
               FROM journey.entry_triggers x
              WHERE x.journey_id = j.id AND x.version = j.published_version
                AND x.type IN ('segment', 'date')
              ORDER BY x.position LOOP
      IF NOT cron_ok THEN
        RAISE EXCEPTION 'journey "%" has a % entry trigger, which needs pg_cron', j.name, t.type
          USING ERRCODE = '55000',
                DETAIL = format('pg_cron is not installed in database %I', current_database()),
                HINT = 'install the postgresql-15-cron package, add pg_cron to shared_preload_libraries, '
                       'set cron.database_name to this database, restart, and CREATE EXTENSION pg_cron';
      END IF;
      job := format('pg_journey:%s:%s', j.id, t.position);
      wanted := wanted || job;
      EXECUTE 'SELECT cron.schedule($1, $2, $3)'
        USING job, t.schedule, format('SELECT journey.run_entry_trigger(%s, %s)', j.id, t.position);
    END LOOP;
  END IF;
  IF cron_ok THEN
    FOR t IN EXECUTE 'SELECT jobid, jobname FROM cron.job WHERE jobname LIKE $1'
               USING format('pg_journey:%s:%%', p_journey_id) LOOP
      IF NOT t.jobname = ANY (wanted) THEN
        EXECUTE 'SELECT cron.unschedule($1)' USING t.jobid;
      END IF;
    END LOOP;
  END IF;
END
$$;
