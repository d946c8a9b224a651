-- Reading: views and drawings for analysts and DBAs.

-- The analytics views journey_overview and step_stats, written from one column
-- list in either of two shapes, so that the shapes cannot drift apart:
--   p_grouped false (a single node's, installed here): the counts of each
--     version's or step's rows in a LATERAL subquery that reads that version's
--     or step's rows by index;
--   p_grouped true (a distributed install's: journey.distribute writes it on
--     the coordinator, docs/scale-out.md): the counts of every row grouped by
--     version or step first, then joined with the definitions. Citus has no
--     plan for the LATERAL subqueries (runtime tables joined on no
--     customer_id); on a single node the groups would read every row.
-- The rows are the same in both shapes (a version or step without rows counts
-- 0 either way). Creates the views on this node only (no Citus DDL propagation).
CREATE OR REPLACE FUNCTION journey._analytics_views(p_grouped boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp
SET citus.enable_ddl_propagation = off AS $f$
DECLARE
  join_kind constant text := CASE WHEN p_grouped THEN 'LEFT JOIN' ELSE 'LEFT JOIN LATERAL' END;
  -- The LATERAL shape filters the subquery's rows by the outer row's keys.
  keys_of_version constant text := CASE WHEN p_grouped THEN 'true' ELSE
    'x.journey_id = j.id AND x.version = v.version' END;
  keys_of_step constant text := CASE WHEN p_grouped THEN 'true' ELSE
    'x.journey_id = s.journey_id AND x.version = s.version AND x.step_key = s.key' END;
BEGIN
  EXECUTE format($v$
CREATE OR REPLACE VIEW journey.journey_overview AS
SELECT j.id AS journey_id, j.name, v.version, j.state,
       coalesce(e.enrolled, 0) AS enrolled, coalesce(e.active, 0) AS active,
       coalesce(e.completed, 0) AS completed, coalesce(e.exited, 0) AS exited,
       coalesce(e.failed, 0) AS failed, coalesce(e.converted, 0) AS converted,
       round(coalesce(e.converted, 0)::numeric / nullif(e.enrolled, 0), 4) AS conversion_rate,
       coalesce(m.sent, 0) AS messages_sent
  FROM journey.journeys j
  JOIN journey.versions v ON v.journey_id = j.id AND v.status <> 'draft'
  %1$s (
    SELECT x.journey_id, x.version, count(*) AS enrolled,
           count(*) FILTER (WHERE x.status = 'active') AS active,
           count(*) FILTER (WHERE x.status = 'completed') AS completed,
           count(*) FILTER (WHERE x.status = 'exited') AS exited,
           count(*) FILTER (WHERE x.status = 'failed') AS failed,
           count(x.converted_at) AS converted
      FROM journey.enrollments x WHERE %2$s GROUP BY x.journey_id, x.version) e
    ON e.journey_id = j.id AND e.version = v.version
  %1$s (
    SELECT x.journey_id, x.version, count(*) AS sent FROM journey.messages x
     WHERE x.status = 'sent' AND %2$s GROUP BY x.journey_id, x.version) m
    ON m.journey_id = j.id AND m.version = v.version
 WHERE j.state <> 'archived'$v$, join_kind, keys_of_version);
  EXECUTE format($v$
CREATE OR REPLACE VIEW journey.step_stats AS
SELECT j.id AS journey_id, j.name, s.version, s.key AS step_key, s.type AS step_type,
       coalesce(a.visits, 0) + coalesce(n.now_at, 0) AS entered,
       coalesce(n.now_at, 0) AS now_at,
       coalesce(a.branches, '{}') AS branches
  FROM journey.steps s
  JOIN journey.versions v ON v.journey_id = s.journey_id AND v.version = s.version
  JOIN journey.journeys j ON j.id = s.journey_id
  %1$s (
    SELECT b.journey_id, b.version, b.step_key, sum(b.n)::bigint AS visits,
           jsonb_object_agg(b.branch, b.n) AS branches
      -- A visit that ended the journey is "(end)" even when it left by a branch
      -- (a last step's "next"): it went nowhere, as funnel's "completed" says.
      FROM (SELECT x.journey_id, x.version, x.step_key,
                   CASE WHEN x.outcome IN ('exited', 'failed') THEN '(' || x.outcome || ')'
                        WHEN x.outcome = 'completed' THEN '(end)'
                        ELSE coalesce(x.branch, '(end)') END AS branch,
                   count(*) AS n FROM journey.activity x
             WHERE %2$s GROUP BY 1, 2, 3, 4) b
     GROUP BY b.journey_id, b.version, b.step_key) a
    ON a.journey_id = s.journey_id AND a.version = s.version AND a.step_key = s.key
  %1$s (
    SELECT x.journey_id, x.version, x.step_key, count(*) AS now_at FROM journey.enrollments x
     WHERE x.status = 'active' AND %2$s GROUP BY x.journey_id, x.version, x.step_key) n
    ON n.journey_id = s.journey_id AND n.version = s.version AND n.step_key = s.key
 WHERE v.status <> 'draft'$v$, join_kind, keys_of_step);
END
$f$;
REVOKE ALL ON FUNCTION journey._analytics_views(boolean) FROM PUBLIC;

-- The single node's shape; on a distributed install's coordinator (an update
-- reruns this file) the shape journey.distribute wrote there.
SELECT journey._analytics_views(journey._citus_place('journey.enrollments') = 'coordinator');
COMMENT ON VIEW journey.journey_overview IS 'one row per live journey version: funnel and conversion';
COMMENT ON VIEW journey.step_stats IS
  'one row per step of each published or retired version: visits, who is there now, ways out taken';

CREATE OR REPLACE VIEW journey.customer_timeline AS
SELECT a.customer_id, j.name, a.version, a.step_key, a.step_type, a.branch, a.at, a.enrollment_id,
       a.visit, a.outcome, a.reason, a.converted, a.arrived_at
  FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id;
COMMENT ON VIEW journey.customer_timeline IS
  'every step visit of every customer, by time: how it ended (outcome, reason), conversions; see journey.customer_journeys for a whole path';

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
    ver := journey._version_of(j, _drawing_steps.version);
  END IF;
  -- The counts first, by step, then joined (on Citus: aggregates pushed down to
  -- the nodes; correlated with the reference table steps they had no plan).
  RETURN QUERY
  WITH act AS MATERIALIZED (
    SELECT a.step_key, count(*) AS c FROM journey.activity a
     WHERE a.journey_id = j.id AND a.version = ver.version GROUP BY a.step_key),
  here AS MATERIALIZED (
    SELECT e.step_key, count(*) AS c FROM journey.enrollments e
     WHERE e.journey_id = j.id AND e.version = ver.version AND e.status = 'active'
     GROUP BY e.step_key)
  SELECT row_number() OVER (ORDER BY s.position)::int, s.key, s.type,
         coalesce(act.c, 0) + coalesce(here.c, 0), coalesce(here.c, 0),
         s.key = ver.start_key, j.id, ver.version
    FROM journey.steps s
    LEFT JOIN act ON act.step_key = s.key
    LEFT JOIN here ON here.step_key = s.key
   WHERE s.journey_id = j.id AND s.version = ver.version
   ORDER BY s.position;
END
$$;

-- A condition in words, for the drawings: {"field": "plan", "op": "eq",
-- "value": "pro"} reads plan equals "pro" (the catalog's labels of the ops).
CREATE OR REPLACE FUNCTION journey._condition_words(c jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT CASE
    WHEN c IS NULL OR jsonb_typeof(c) = 'null' THEN NULL
    WHEN jsonb_typeof(c) <> 'object' THEN c::text
    WHEN c ? 'all' THEN (SELECT string_agg(journey._condition_words(x), ' and ')
                           FROM jsonb_array_elements(c->'all') x)
    WHEN c ? 'any' THEN '(' || (SELECT string_agg(journey._condition_words(x), ' or ')
                                  FROM jsonb_array_elements(c->'any') x) || ')'
    WHEN c ? 'not' THEN 'not (' || journey._condition_words(c->'not') || ')'
    WHEN c ? 'event' THEN
      CASE WHEN (c->>'happened')::boolean IS FALSE THEN 'no event ' ELSE 'event ' END
      || (c->>'event') || coalesce(' after step ' || (c->>'step'), '')
      || coalesce(' within ' || (c->>'within'), '')
    ELSE concat_ws(' ', c->>'field',
                   CASE c->>'op' WHEN 'eq' THEN 'equals' WHEN 'ne' THEN 'does not equal'
                     WHEN 'lt' THEN 'is less than' WHEN 'lte' THEN 'is at most'
                     WHEN 'gt' THEN 'is greater than' WHEN 'gte' THEN 'is at least'
                     WHEN 'in' THEN 'is one of' WHEN 'not_in' THEN 'is none of'
                     WHEN 'contains' THEN 'contains' WHEN 'starts_with' THEN 'starts with'
                     WHEN 'exists' THEN 'is set' WHEN 'not_exists' THEN 'is not set'
                     WHEN 'changed' THEN 'changed' WHEN 'changed_to' THEN 'changed to'
                     WHEN 'within' THEN 'is within the last' ELSE c->>'op' END,
                   CASE WHEN c ? 'value' THEN
                     CASE jsonb_typeof(c->'value') WHEN 'string' THEN c->>'value'
                       ELSE (c->'value')::text END END)
  END
$$;

-- A step's essential config in one line, for the drawings: its template or
-- channel, its delay, what it waits for and its timeout, its condition in
-- words, its cases or variants, what it sets or calls.
CREATE OR REPLACE FUNCTION journey._step_words(t journey.step_type, c jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT CASE t
    WHEN 'send_email' THEN 'template ' || coalesce(c->>'template', '?')
    WHEN 'send' THEN concat_ws(' ', c->>'channel', 'template ' || (c->>'template'))
    WHEN 'delay' THEN
      CASE WHEN c ? 'duration' THEN c->>'duration'
           WHEN c ? 'until' THEN
             'until ' || coalesce(c->'until'->>'time', '?')
             || coalesce(' on ' || (SELECT string_agg(d, ',')
                                      FROM jsonb_array_elements_text(
                                             CASE WHEN jsonb_typeof(c->'until'->'days') = 'array'
                                                  THEN c->'until'->'days' END) d), '')
             || CASE WHEN c->'until'->>'timezone' = 'customer' THEN ' in the customer''s zone'
                     ELSE coalesce(' in ' || (c->'until'->>'timezone'), '') END
           ELSE 'until ' || coalesce(c->>'until_field', '?')
                || coalesce(' ' || (c->>'offset'), '') END
    WHEN 'wait_for_event' THEN 'for ' || coalesce(c->>'event', '?')
                               || coalesce(' where ' || journey._condition_words(c->'where'), '')
                               || coalesce(', timeout ' || (c->>'timeout'), '')
    WHEN 'wait_until' THEN 'until ' || journey._condition_words(c->'when')
                           || coalesce(', timeout ' || (c->>'timeout'), '')
    WHEN 'condition' THEN 'if ' || journey._condition_words(c->'if')
    WHEN 'branch' THEN (SELECT string_agg((x->>'name') || ': ' || journey._condition_words(x->'when'), '; ')
                          FROM jsonb_array_elements(c->'cases') x)
    WHEN 'split' THEN (SELECT string_agg((x->>'name') || ' ' || coalesce(x->>'weight', '1'), ' / ')
                         FROM jsonb_array_elements(c->'variants') x)
    WHEN 'update_field' THEN 'set ' || (SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(c->'set') k)
    WHEN 'call' THEN c->>'function'
    ELSE NULL END
$$;

-- A label for the drawings with its control characters written out (\n, \r,
-- \t, else \xNN): a rule name, a value or a branch cannot break a drawing's
-- syntax or hide in it.
CREATE OR REPLACE FUNCTION journey._visible(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT CASE WHEN t !~ '[\x01-\x1f\x7f]' THEN t ELSE
    (SELECT string_agg(CASE WHEN x.c = E'\n' THEN '\n' WHEN x.c = E'\r' THEN '\r'
                            WHEN x.c = E'\t' THEN '\t'
                            WHEN ascii(x.c) < 32 OR ascii(x.c) = 127
                            THEN '\x' || lpad(to_hex(ascii(x.c)), 2, '0')
                            ELSE x.c END, '' ORDER BY x.o)
       FROM regexp_split_to_table(t, '') WITH ORDINALITY x(c, o)) END
$$;

-- What the drawings show of a version: per step (n as in _drawing_steps) its
-- config in words and how many exited, failed and converted there; per
-- connection the moves along it; entry triggers and exit rules in words, each
-- exit rule with how many it ended. Labels through _visible.
CREATE OR REPLACE FUNCTION journey._drawing_parts(p_journey_id bigint, p_version int)
RETURNS TABLE (kind text, n int, from_key text, to_key text, label text, count bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  -- The version's activity counted first, by step, outcome, branch and reason
  -- (on Citus: one aggregate pushed down to the nodes; correlated with the
  -- reference tables it had no plan, nor had parameters of an SQL function).
  RETURN QUERY
  WITH act AS MATERIALIZED (
    SELECT a.step_key, a.outcome, a.branch, a.reason, a.converted, count(*) AS c
      FROM journey.activity a
     WHERE a.journey_id = p_journey_id AND a.version = p_version
     GROUP BY 1, 2, 3, 4, 5)
  SELECT p.kind, p.n, p.from_key, p.to_key, journey._visible(p.label), p.count FROM (
  SELECT 'step' AS kind, NULL::int AS n, s.key AS from_key, NULL AS to_key,
         journey._step_words(s.type, s.config) AS label, NULL::bigint AS count
    FROM journey.steps s WHERE s.journey_id = p_journey_id AND s.version = p_version
  UNION ALL
  SELECT 'outcome', NULL, a.step_key, NULL, x.label, sum(a.c)::bigint
    FROM act a
    CROSS JOIN LATERAL (VALUES (CASE WHEN a.outcome IN ('exited', 'failed') THEN a.outcome END),
                               (CASE WHEN a.converted THEN 'converted' END)) x(label)
   WHERE (a.outcome IN ('exited', 'failed') OR a.converted) AND x.label IS NOT NULL
   GROUP BY a.step_key, x.label
  UNION ALL
  SELECT 'edge', NULL, c.from_key, c.to_key, c.branch,
         (SELECT coalesce(sum(a.c), 0)::bigint FROM act a
           WHERE a.step_key = c.from_key AND a.branch = c.branch AND a.outcome = 'moved')
    FROM journey.connections c WHERE c.journey_id = p_journey_id AND c.version = p_version
  UNION ALL
  SELECT 'entry', t.position, NULL, NULL,
         t.type || coalesce(' ' || (t.config->>'event'), '')
         || coalesce(' when ' || journey._condition_words(t.config->'when'), '')
         || coalesce(' ' || (t.config->>'field') || coalesce(' + ' || (t.config->>'offset'), ''), '')
         || coalesce(' (' || (t.config->>'schedule') || ')', ''),
         NULL
    FROM journey.entry_triggers t WHERE t.journey_id = p_journey_id AND t.version = p_version
  UNION ALL
  SELECT 'exit', r.position, NULL, NULL,
         journey._exit_reason(r.config->>'name', r.position) || ': '
         || CASE r.type WHEN 'event' THEN 'event ' || (r.config->>'event')
                          || coalesce(' where ' || journey._condition_words(r.config->'where'), '')
                        ELSE journey._condition_words(r.config->'when') END
         || CASE WHEN r.is_goal THEN ' (goal)' ELSE '' END,
         (SELECT coalesce(sum(a.c), 0)::bigint FROM act a
           WHERE a.outcome = 'exited'
             AND a.reason = journey._exit_reason(r.config->>'name', r.position))
    FROM journey.exit_rules r WHERE r.journey_id = p_journey_id AND r.version = p_version
  ) p;
END
$$;

-- The boxes of a drawing, one a step, in the steps' order: its key, its type
-- with its config in words, how many entered it and are there now, and how
-- many exited, failed and converted there: a line each (to_mermaid and to_dot
-- join and escape them their way).
CREATE OR REPLACE FUNCTION journey._drawing_nodes(journey text, version int)
RETURNS TABLE (n int, key text, is_start boolean, lines text[], journey_id bigint, v int)
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  WITH st AS (SELECT * FROM journey._drawing_steps($1, $2)),
  parts AS (SELECT p.* FROM journey._drawing_parts((SELECT journey_id FROM st LIMIT 1),
                                                   (SELECT v FROM st LIMIT 1)) p
             WHERE p.kind IN ('step', 'outcome'))
  SELECT st.n, st.key, st.is_start,
         array_remove(ARRAY[st.key,
                            concat_ws(': ', st.type::text,
                                      (SELECT p.label FROM parts p
                                        WHERE p.kind = 'step' AND p.from_key = st.key)),
                            format('entered %s, now %s', st.entered, st.now_at),
                            (SELECT string_agg(format('%s %s', p.label, p.count), ', '
                                               ORDER BY p.label)
                               FROM parts p
                              WHERE p.kind = 'outcome' AND p.from_key = st.key)], NULL),
         st.journey_id, st.v
    FROM st ORDER BY st.n
$$;

-- User text in a Mermaid label: the characters HTML and Mermaid give a meaning
-- written as Mermaid entity codes, so that a name or value is shown, never
-- read as markup (labels are HTML: a page rendering with securityLevel 'loose'
-- would run it).
CREATE OR REPLACE FUNCTION journey._mermaid_text(t text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT replace(replace(replace(replace($1, '&', '#amp;'), '<', '#lt;'), '>', '#gt;'), '"', '#quot;')
$$;

-- A Mermaid flowchart of a version (default: the published one, else the
-- latest): each step with its config in words, how many entered it, are there
-- now, exited, failed and converted there; each connection with the moves
-- along it; the entry triggers (into the start step) and the exit rules with
-- how many each ended.
CREATE OR REPLACE FUNCTION journey.to_mermaid(journey text, version int DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  WITH st AS (SELECT * FROM journey._drawing_nodes($1, $2)),
  parts AS (SELECT p.* FROM journey._drawing_parts((SELECT journey_id FROM st LIMIT 1),
                                                   (SELECT v FROM st LIMIT 1)) p),
  nodes AS (
    SELECT string_agg(format('  s%s["%s"]%s', st.n,
                             (SELECT string_agg(journey._mermaid_text(l.line), '<br/>' ORDER BY l.i)
                                FROM unnest(st.lines) WITH ORDINALITY l(line, i)),
                             CASE WHEN st.is_start THEN ':::start' ELSE '' END),
                      E'\n' ORDER BY st.n) AS text
      FROM st),
  entries AS (
    SELECT string_agg(format('  t%s(["entry: %s"]) --> s%s', p.n, journey._mermaid_text(p.label),
                             (SELECT st.n FROM st WHERE st.is_start)),
                      E'\n' ORDER BY p.n) AS text
      FROM parts p WHERE p.kind = 'entry'),
  exits AS (
    SELECT string_agg(format('  x%s{{"exit %s<br/>exited %s"}}', p.n, journey._mermaid_text(p.label),
                             p.count),
                      E'\n' ORDER BY p.n) AS text
      FROM parts p WHERE p.kind = 'exit'),
  edges AS (
    SELECT string_agg(format('  s%s -->|%s: %s| s%s', f.n, replace(journey._mermaid_text(p.label), '|', '#124;'), p.count,
                             t.n),
                      E'\n' ORDER BY f.n, p.label) AS text
      FROM parts p
      JOIN st f ON f.key = p.from_key
      JOIN st t ON t.key = p.to_key
     WHERE p.kind = 'edge')
  SELECT 'flowchart TD' || E'\n' || coalesce((SELECT text FROM nodes), '')
         || coalesce(E'\n' || (SELECT text FROM entries), '')
         || coalesce(E'\n' || (SELECT text FROM edges), '')
         || coalesce(E'\n' || (SELECT text FROM exits), '')
         || E'\n  classDef start stroke-width:3px'
$$;

-- The same drawing in Graphviz DOT.
CREATE OR REPLACE FUNCTION journey.to_dot(journey text, version int DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  WITH st AS (SELECT * FROM journey._drawing_nodes($1, $2)),
  parts AS (SELECT p.* FROM journey._drawing_parts((SELECT journey_id FROM st LIMIT 1),
                                                   (SELECT v FROM st LIMIT 1)) p)
  SELECT format('digraph %s {', '"' || replace(replace(journey._visible($1), '\', '\\'), '"', '\"') || '"') || E'\n'
         || '  node [shape=box];' || E'\n'
         || coalesce((SELECT string_agg(
                        format('  s%s [label="%s"%s];', st.n,
                               replace(replace(replace(array_to_string(st.lines, E'\n'),
                                                       '\', '\\'), '"', '\"'), E'\n', '\n'),
                               CASE WHEN st.is_start THEN ', penwidth=3' ELSE '' END),
                        E'\n' ORDER BY st.n) FROM st), '')
         || coalesce(E'\n' || (SELECT string_agg(
                        format('  t%s [shape=oval, label="entry: %s"];' || E'\n' || '  t%s -> s%s;',
                               p.n, replace(replace(p.label, '\', '\\'), '"', '\"'), p.n,
                               (SELECT st.n FROM st WHERE st.is_start)),
                        E'\n' ORDER BY p.n) FROM parts p WHERE p.kind = 'entry'), '')
         || coalesce(E'\n' || (SELECT string_agg(
                        format('  s%s -> s%s [label="%s: %s"];', f.n, t.n,
                               replace(replace(p.label, '\', '\\'), '"', '\"'), p.count),
                        E'\n' ORDER BY f.n, p.label)
                FROM parts p
                JOIN st f ON f.key = p.from_key
                JOIN st t ON t.key = p.to_key
               WHERE p.kind = 'edge'), '')
         || coalesce(E'\n' || (SELECT string_agg(
                        format('  x%s [shape=hexagon, label="exit %s\nexited %s"];', p.n,
                               replace(replace(p.label, '\', '\\'), '"', '\"'), p.count),
                        E'\n' ORDER BY p.n) FROM parts p WHERE p.kind = 'exit'), '')
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
