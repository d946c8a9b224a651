-- Reading: views and drawings for analysts and DBAs.

CREATE OR REPLACE VIEW journey.journey_overview AS
SELECT j.id AS journey_id, j.name, v.version, j.state,
       coalesce(e.enrolled, 0) AS enrolled, coalesce(e.active, 0) AS active,
       coalesce(e.completed, 0) AS completed, coalesce(e.exited, 0) AS exited,
       coalesce(e.failed, 0) AS failed, coalesce(e.converted, 0) AS converted,
       round(coalesce(e.converted, 0)::numeric / nullif(e.enrolled, 0), 4) AS conversion_rate,
       coalesce(m.sent, 0) AS messages_sent
  FROM journey.journeys j
  JOIN journey.versions v ON v.journey_id = j.id AND v.status <> 'draft'
  LEFT JOIN LATERAL (
    SELECT count(*) AS enrolled,
           count(*) FILTER (WHERE x.status = 'active') AS active,
           count(*) FILTER (WHERE x.status = 'completed') AS completed,
           count(*) FILTER (WHERE x.status = 'exited') AS exited,
           count(*) FILTER (WHERE x.status = 'failed') AS failed,
           count(x.converted_at) AS converted
      FROM journey.enrollments x WHERE x.journey_id = j.id AND x.version = v.version) e ON true
  LEFT JOIN LATERAL (
    SELECT count(*) AS sent FROM journey.messages y
     WHERE y.journey_id = j.id AND y.version = v.version AND y.status = 'sent') m ON true
 WHERE j.state <> 'archived';
COMMENT ON VIEW journey.journey_overview IS 'one row per live journey version: funnel and conversion';

CREATE OR REPLACE VIEW journey.step_stats AS
SELECT j.id AS journey_id, j.name, s.version, s.key AS step_key, s.type AS step_type,
       coalesce(a.visits, 0) + coalesce(n.now_at, 0) AS entered,
       coalesce(n.now_at, 0) AS now_at,
       coalesce(a.branches, '{}') AS branches
  FROM journey.steps s
  JOIN journey.versions v ON v.journey_id = s.journey_id AND v.version = s.version
  JOIN journey.journeys j ON j.id = s.journey_id
  LEFT JOIN LATERAL (
    SELECT sum(b.n)::bigint AS visits, jsonb_object_agg(b.branch, b.n) AS branches
      FROM (SELECT coalesce(x.branch, '(end)') AS branch, count(*) AS n FROM journey.activity x
             WHERE x.journey_id = s.journey_id AND x.version = s.version AND x.step_key = s.key
             GROUP BY 1) b) a ON true
  LEFT JOIN LATERAL (
    SELECT count(*) AS now_at FROM journey.enrollments e
     WHERE e.journey_id = s.journey_id AND e.version = s.version AND e.step_key = s.key
       AND e.status = 'active') n ON true
 WHERE v.status <> 'draft';
COMMENT ON VIEW journey.step_stats IS
  'one row per step of each published or retired version: visits, who is there now, ways out taken';

CREATE OR REPLACE VIEW journey.customer_timeline AS
SELECT a.customer_id, j.name, a.version, a.step_key, a.step_type, a.branch, a.at, a.enrollment_id,
       a.visit
  FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id;
COMMENT ON VIEW journey.customer_timeline IS 'every step visit of every customer, by time';

-- The steps of a version with their per-step counts (visits so far plus who is
-- there now), for the drawings.
CREATE OR REPLACE FUNCTION journey._drawing_steps(journey text, version int)
RETURNS TABLE (n int, key text, type journey.step_type, entered bigint, now_at bigint,
               is_start boolean, journey_id bigint, v int)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(_drawing_steps.journey);
  ver journey.versions;
BEGIN
  IF _drawing_steps.version IS NULL THEN
    SELECT * INTO ver FROM journey.versions x WHERE x.journey_id = j.id
     ORDER BY (x.status = 'published') DESC, x.version DESC LIMIT 1;
  ELSE
    SELECT * INTO ver FROM journey.versions x WHERE x.journey_id = j.id AND x.version = _drawing_steps.version;
  END IF;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'journey "%" has no version %', j.name, _drawing_steps.version USING ERRCODE = '42704';
  END IF;
  RETURN QUERY
  SELECT row_number() OVER (ORDER BY s.position)::int, s.key, s.type,
         (SELECT count(*) FROM journey.activity a
           WHERE a.journey_id = j.id AND a.version = ver.version AND a.step_key = s.key)
         + (SELECT count(*) FROM journey.enrollments e
             WHERE e.journey_id = j.id AND e.version = ver.version AND e.step_key = s.key
               AND e.status = 'active'),
         (SELECT count(*) FROM journey.enrollments e
           WHERE e.journey_id = j.id AND e.version = ver.version AND e.step_key = s.key
             AND e.status = 'active'),
         s.key = ver.start_key, j.id, ver.version
    FROM journey.steps s WHERE s.journey_id = j.id AND s.version = ver.version
   ORDER BY s.position;
END
$$;

-- A Mermaid flowchart of a version (default: the published one, else the
-- latest), each step with how many entered it and how many are there now.
CREATE OR REPLACE FUNCTION journey.to_mermaid(journey text, version int DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  WITH st AS (SELECT * FROM journey._drawing_steps($1, $2)),
  nodes AS (
    SELECT string_agg(format('  s%s["%s<br/>%s<br/>entered %s, now %s"]%s', st.n,
                             replace(st.key, '"', '#quot;'), st.type, st.entered, st.now_at,
                             CASE WHEN st.is_start THEN ':::start' ELSE '' END),
                      E'\n' ORDER BY st.n) AS text
      FROM st),
  edges AS (
    SELECT string_agg(format('  s%s -->|%s| s%s', f.n, replace(c.branch, '|', '#124;'), t.n),
                      E'\n' ORDER BY f.n, c.branch) AS text
      FROM journey.connections c
      JOIN st f ON f.key = c.from_key
      JOIN st t ON t.key = c.to_key
     WHERE c.journey_id = (SELECT journey_id FROM st LIMIT 1) AND c.version = (SELECT v FROM st LIMIT 1))
  SELECT 'flowchart TD' || E'\n' || coalesce((SELECT text FROM nodes), '')
         || coalesce(E'\n' || (SELECT text FROM edges), '')
         || E'\n  classDef start stroke-width:3px'
$$;

-- The same drawing in Graphviz DOT.
CREATE OR REPLACE FUNCTION journey.to_dot(journey text, version int DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  WITH st AS (SELECT * FROM journey._drawing_steps($1, $2))
  SELECT format('digraph %s {', '"' || replace(replace($1, '\', '\\'), '"', '\"') || '"') || E'\n'
         || '  node [shape=box];' || E'\n'
         || coalesce((SELECT string_agg(
                        format('  s%s [label="%s\n%s\nentered %s, now %s"%s];', st.n,
                               replace(replace(st.key, '\', '\\'), '"', '\"'), st.type, st.entered,
                               st.now_at, CASE WHEN st.is_start THEN ', penwidth=3' ELSE '' END),
                        E'\n' ORDER BY st.n) FROM st), '')
         || coalesce(E'\n' || (SELECT string_agg(
                        format('  s%s -> s%s [label="%s"];', f.n, t.n,
                               replace(replace(c.branch, '\', '\\'), '"', '\"')),
                        E'\n' ORDER BY f.n, c.branch)
                FROM journey.connections c
                JOIN st f ON f.key = c.from_key
                JOIN st t ON t.key = c.to_key
               WHERE c.journey_id = (SELECT journey_id FROM st LIMIT 1)
                 AND c.version = (SELECT v FROM st LIMIT 1)), '')
         || E'\n}'
$$;

CREATE OR REPLACE VIEW journey.worker_status AS
SELECT d.datname AS database, w.worker, w.pid, a.application_name, a.state, a.query,
       a.state_change, a.backend_start
  FROM journey._worker_slots() w
  LEFT JOIN pg_database d ON d.oid = w.database
  LEFT JOIN pg_stat_activity a ON a.pid = w.pid;
COMMENT ON VIEW journey.worker_status IS 'running background workers and what they do';

-- One row per scheduled (segment, date) entry trigger of each published or
-- paused journey: its pg_cron job, the job's last run as pg_cron saw it, and
-- the last run pg_journey recorded (journey.trigger_runs) with its outcome.
-- A failing trigger shows last_error; a job that cannot even connect shows
-- cron_status 'failed' and cron_message, with last_started_at falling behind.
CREATE OR REPLACE VIEW journey.schedule_status AS
  SELECT j.id AS journey_id, j.name, j.state, t.version, t.position, t.type,
         t.config->>'schedule' AS schedule,
         format('pg_journey:%s:%s', j.id, t.position) AS cron_job,
         c.job_exists AS cron_job_exists, c.active AS cron_job_active,
         c.last_status AS cron_status, c.last_message AS cron_message,
         c.last_start AS cron_started_at,
         r.run_by AS last_run_by, r.started_at AS last_started_at,
         r.finished_at AS last_finished_at, r.enrolled AS last_enrolled, r.error AS last_error,
         ok.started_at AS last_success_at,
         (SELECT count(*) FROM journey.trigger_runs x
           WHERE x.journey_id = j.id AND x.position = t.position AND x.error IS NOT NULL
             AND x.started_at > coalesce(ok.started_at, '-infinity')) AS failures_since_success
    FROM journey.journeys j
    JOIN journey.entry_triggers t
      ON t.journey_id = j.id AND t.version = j.published_version AND t.type IN ('segment', 'date')
    LEFT JOIN LATERAL (SELECT x.* FROM journey.trigger_runs x
                        WHERE x.journey_id = j.id AND x.position = t.position
                        ORDER BY x.started_at DESC, x.id DESC LIMIT 1) r ON true
    LEFT JOIN LATERAL (SELECT x.started_at FROM journey.trigger_runs x
                        WHERE x.journey_id = j.id AND x.position = t.position AND x.error IS NULL
                        ORDER BY x.started_at DESC, x.id DESC LIMIT 1) ok ON true
    LEFT JOIN LATERAL journey._cron_job_state(format('pg_journey:%s:%s', j.id, t.position)) c ON true
   WHERE j.state IN ('published', 'paused');
COMMENT ON VIEW journey.schedule_status IS
  'scheduled entry triggers of live journeys: their pg_cron job and last runs (see journey.trigger_runs)';
