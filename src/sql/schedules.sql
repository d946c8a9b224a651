-- Scheduled entry triggers (segment, date) through pg_cron.

-- Runs one scheduled entry trigger of a published journey now: enrolls the
-- customers newly matching a segment, or those whose date falls due since the
-- last run; returns how many enrolled. The callers record the outcome.
CREATE OR REPLACE FUNCTION journey._run_entry_trigger(j journey.journeys, t journey.entry_triggers)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  a journey.audiences;
  segment record;
  keys text[];
  members text[];
  fresh text[];
  gone text[];
  last_run timestamptz;
  n bigint;
BEGIN
  SELECT * INTO a FROM journey.audiences x WHERE x.relation = j.audience;
  SELECT r.last_run_at INTO last_run FROM journey.scheduled_runs r
   WHERE r.journey_id = j.id AND r.version = t.version AND r.position = t.position FOR UPDATE;

  IF t.type = 'segment' THEN
    -- Its members' source (its SQL query, or its condition rendered as SQL) is
    -- compiled by core (journey._segment_source).
    SELECT s.query, s.member_sql INTO segment FROM journey._segment_source(t.config, j.audience) s;
    IF segment.query IS NOT NULL THEN
      -- The query's keys by canonical id ('007' is customer 7), customers only,
      -- so that membership compares like with like.
      keys := journey._canonical_keys(j.audience, journey._owner_query_keys(segment.query, j.owner));
    ELSE
      EXECUTE format('SELECT coalesce(array_agg(t.%I::text), ''{}'') FROM %s t WHERE %s',
                     a.key_column, j.audience, segment.member_sql)
        INTO keys;
    END IF;
    -- Who enters (the customers newly matching since the last run) and who
    -- leaves is decided in core (journey._segment_changes) from the members
    -- of the last run.
    members := ARRAY(SELECT m.customer_id FROM journey.segment_members m
                      WHERE m.journey_id = j.id AND m.version = t.version
                        AND m.position = t.position);
    SELECT c.entering, c.leaving INTO fresh, gone FROM journey._segment_changes(keys, members) c;
    DELETE FROM journey.segment_members m
     WHERE m.journey_id = j.id AND m.version = t.version AND m.position = t.position
       AND m.customer_id = ANY (gone);
    INSERT INTO journey.segment_members (journey_id, version, position, customer_id)
    SELECT j.id, t.version, t.position, k FROM unnest(fresh) k ON CONFLICT DO NOTHING;
  ELSE
    -- date: when a customer's date is due on this run (field + offset since
    -- the last run, yearly anniversaries) is compiled and rendered by core
    -- (journey._date_due_sql; $1 the last run, $2 now).
    EXECUTE format('SELECT coalesce(array_agg(t.%I::text), ''{}'') FROM %s t WHERE %s',
                   a.key_column, j.audience, journey._date_due_sql(t.config))
      INTO fresh USING last_run, now();
  END IF;

  n := cardinality(journey._enroll_rows(j.id, fresh));
  INSERT INTO journey.scheduled_runs AS r (journey_id, version, position, last_run_at, enrolled)
  VALUES (j.id, t.version, t.position, now(), n)
  ON CONFLICT ON CONSTRAINT scheduled_runs_pkey
  DO UPDATE SET last_run_at = excluded.last_run_at, enrolled = r.enrolled + excluded.enrolled;
  RETURN n;
END
$$;

-- Runs a scheduled trigger and records the outcome in journey.trigger_runs,
-- whatever it is: the enrollments it made, or (rolled back) the error. A
-- cancel or statement timeout is not caught: it ends the run unrecorded (pg_cron's
-- cron.job_run_details and journey.schedule_status show it).
CREATE OR REPLACE FUNCTION journey._record_trigger_run(j journey.journeys, t journey.entry_triggers,
                                                       p_run_by text)
RETURNS journey.trigger_runs
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  run journey.trigger_runs;
  failure text;
  failure_detail text;
BEGIN
  run.started_at := clock_timestamp();
  BEGIN
    run.enrolled := journey._run_entry_trigger(j, t);
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT, failure_detail = PG_EXCEPTION_DETAIL;
    run.error := failure || coalesce(nullif(E'\n' || failure_detail, E'\n'), '');
    run.enrolled := NULL;
  END;
  INSERT INTO journey.trigger_runs AS r (journey_id, version, position, run_by, started_at,
                                         finished_at, enrolled, error)
  VALUES (j.id, t.version, t.position, p_run_by, run.started_at, clock_timestamp(), run.enrolled,
          run.error)
  RETURNING r.* INTO run;
  DELETE FROM journey.trigger_runs r
   WHERE r.journey_id = j.id AND r.position = t.position AND r.started_at < now() - interval '30 days';
  RETURN run;
END
$$;

-- The command of the pg_cron job publish creates (pg_journey:<journey>:<position>):
-- runs that scheduled trigger of the journey's published version and records
-- the outcome (journey.trigger_runs); returns how many enrolled, or null when
-- the run failed (with a WARNING; the error is recorded). A paused, archived
-- or dropped journey's schedule waits: nothing runs, nothing is recorded.
CREATE OR REPLACE FUNCTION journey.run_entry_trigger(journey_id bigint, "position" int) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys;
  t journey.entry_triggers;
  run journey.trigger_runs;
BEGIN
  SELECT * INTO j FROM journey.journeys x WHERE x.id = run_entry_trigger.journey_id;
  -- pg_cron runs the schedules on the coordinator; a call on a worker node would
  -- run a trigger a second time.
  PERFORM journey._citus_require_coordinator(
    format('run entry trigger %s of journey "%s"', run_entry_trigger.position,
           coalesce(j.name, run_entry_trigger.journey_id::text)));
  IF j.id IS NULL OR j.state <> 'published' THEN
    RETURN 0;
  END IF;
  SELECT * INTO t FROM journey.entry_triggers x
   WHERE x.journey_id = j.id AND x.version = j.published_version
     AND x.position = run_entry_trigger.position AND x.type IN ('segment', 'date');
  IF NOT FOUND THEN
    RETURN 0;
  END IF;
  run := journey._record_trigger_run(j, t, 'schedule');
  IF run.error IS NOT NULL THEN
    RAISE WARNING 'scheduled % entry trigger % of journey "%" failed: %', t.type, t.position, j.name, run.error
      USING HINT = 'see journey.schedule_status and journey.trigger_runs';
  END IF;
  RETURN run.enrolled;
END
$$;

-- Runs the scheduled (segment, date) entry triggers of a published journey now,
-- all of them or the one at trigger_position (1-based, as add_entry_trigger
-- numbers them), exactly as their pg_cron jobs do, and records each outcome;
-- returns one row per trigger run: how many it enrolled, or why it failed.
CREATE OR REPLACE FUNCTION journey.run_scheduled_trigger(journey text, trigger_position int DEFAULT NULL)
RETURNS TABLE ("position" int, type text, enrolled bigint, error text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(run_scheduled_trigger.journey);
  t journey.entry_triggers;
  run journey.trigger_runs;
  ran boolean := false;
BEGIN
  PERFORM journey._citus_require_coordinator(format('run the entry triggers of journey "%s"', j.name));
  IF j.state <> 'published' THEN
    RAISE EXCEPTION 'cannot run the entry triggers of journey "%": it is %', j.name, j.state
      USING ERRCODE = '55000', HINT = 'only a published journey enrolls';
  END IF;
  FOR t IN SELECT * FROM journey.entry_triggers x
            WHERE x.journey_id = j.id AND x.version = j.published_version
              AND x.type IN ('segment', 'date')
              AND (run_scheduled_trigger.trigger_position IS NULL
                   OR x.position = run_scheduled_trigger.trigger_position)
            ORDER BY x.position LOOP
    run := journey._record_trigger_run(j, t, 'manual');
    ran := true;
    "position" := t.position;
    type := t.type;
    enrolled := run.enrolled;
    error := run.error;
    RETURN NEXT;
  END LOOP;
  IF NOT ran THEN
    RAISE EXCEPTION 'journey "%" has no scheduled entry trigger%', j.name,
      coalesce(format(' at position %s', run_scheduled_trigger.trigger_position), '')
      USING ERRCODE = '42704', HINT = 'scheduled entry triggers are those of type segment or date';
  END IF;
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
  job_id bigint;
  cron_ok boolean := journey._pg_cron_available();
BEGIN
  SELECT * INTO j FROM journey.journeys x WHERE x.id = p_journey_id;
  IF FOUND AND j.state IN ('published', 'paused') THEN
    FOR t IN SELECT x.position, x.type, journey._trigger_schedule(x.type, x.config) AS schedule
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
        USING job, t.schedule, format('SELECT journey.run_entry_trigger(%s, %s)', j.id, t.position)
        INTO job_id;
      PERFORM journey._cron_reach(job_id, job);
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

-- The host a pg_cron job must connect to for this server, when pg_cron's
-- default (cron.host = localhost, over TCP) cannot reach it because the server
-- listens on no loopback address (say listen_addresses = ''): the first Unix
-- socket directory, or '' when there is none either. Null when the default
-- works, when the DBA set cron.host, or when jobs run in background workers
-- (cron.use_background_workers = on: no connection at all).
CREATE OR REPLACE FUNCTION journey._cron_nodename() RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  listen text[] := string_to_array(replace(current_setting('listen_addresses'), ' ', ''), ',');
  socket text;
BEGIN
  IF current_setting('cron.use_background_workers', true) = 'on'
     OR coalesce(current_setting('cron.host', true), 'localhost') <> 'localhost'
     OR listen && ARRAY['*', 'localhost', '127.0.0.1', '::1', '0.0.0.0', '::'] THEN
    RETURN NULL;
  END IF;
  BEGIN
    socket := btrim(split_part(current_setting('unix_socket_directories'), ',', 1));
  EXCEPTION WHEN insufficient_privilege THEN
    socket := NULL;
  END;
  RETURN coalesce(socket, '');
END
$$;

-- Makes a pg_cron job connect the way this server is reachable
-- (journey._cron_nodename); warns when that cannot be done.
CREATE OR REPLACE FUNCTION journey._cron_reach(p_job_id bigint, p_job text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  host text := journey._cron_nodename();
BEGIN
  IF host IS NULL THEN
    RETURN;
  END IF;
  IF host <> '' AND has_table_privilege('cron.job', 'UPDATE') THEN
    EXECUTE 'UPDATE cron.job SET nodename = $1 WHERE jobid = $2 AND nodename IS DISTINCT FROM $1'
      USING host, p_job_id;
    RETURN;
  END IF;
  RAISE WARNING 'pg_cron job % cannot reach this server: it listens on no loopback address', p_job
    USING HINT = 'set cron.use_background_workers = on, or cron.host to the Unix socket directory, and restart';
END
$$;

-- Why the installed pg_cron refuses a schedule (its own message), or null when
-- it accepts it or cannot be asked (not installed here, a read-only
-- transaction). Asks pg_cron itself: schedules a probe job in a subtransaction
-- that is always rolled back, so nothing is left behind.
CREATE OR REPLACE FUNCTION journey._cron_schedule_error(schedule text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  problem text;
BEGIN
  IF schedule IS NULL OR NOT journey._pg_cron_available()
     OR current_setting('transaction_read_only') = 'on' THEN
    RETURN NULL;
  END IF;
  BEGIN
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' USING 'pg_journey:schedule-check', schedule, 'SELECT 1';
    RAISE EXCEPTION USING ERRCODE = 'PJ001';  -- accepted: undo the probe job
  EXCEPTION
    WHEN SQLSTATE 'PJ001' THEN
      RETURN NULL;
    WHEN invalid_parameter_value THEN  -- pg_cron: invalid schedule
      GET STACKED DIAGNOSTICS problem = MESSAGE_TEXT;
      RETURN problem;
  END;
END
$$;

-- The pg_cron side of a pg_journey job, for journey.schedule_status: whether it
-- exists and is active, and its last run as pg_cron recorded it (a job that
-- cannot connect never reaches journey.trigger_runs). Reads pg_cron's tables as
-- the extension's owner (they show each role its own jobs); only jobs named
-- pg_journey:*. All null without pg_cron.
CREATE OR REPLACE FUNCTION journey._cron_job_state(p_job text,
                                                   OUT job_exists boolean, OUT active boolean,
                                                   OUT last_status text, OUT last_message text,
                                                   OUT last_start timestamptz, OUT last_end timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  IF left(p_job, 11) <> 'pg_journey:' OR to_regclass('cron.job') IS NULL THEN
    RETURN;
  END IF;
  EXECUTE 'SELECT true, j.active FROM cron.job j WHERE j.jobname = $1 AND j.database = current_database()'
     INTO job_exists, active USING p_job;
  job_exists := coalesce(job_exists, false);
  IF job_exists AND to_regclass('cron.job_run_details') IS NOT NULL THEN
    EXECUTE 'SELECT d.status, d.return_message, d.start_time, d.end_time
               FROM cron.job_run_details d JOIN cron.job j USING (jobid)
              WHERE j.jobname = $1 AND j.database = current_database()
              ORDER BY d.runid DESC LIMIT 1'
       INTO last_status, last_message, last_start, last_end USING p_job;
  END IF;
END
$$;
