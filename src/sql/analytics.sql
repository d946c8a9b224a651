-- Analytics: funnels, A/B reports, one customer's journeys (docs/analytics.md).
--
-- Counting rests on journey.activity: one row per step visit, written when the
-- enrollment leaves the step, whichever way (moved on, completed, exited or
-- failed there; journey._end_enrollments writes the rows of endings outside a
-- step run). An enrollment still at a step is active with that step_key. So
-- every enrollment that reached a step is either a row there or there now:
--   entered = now_at + moved + completed + exited + failed.

-- The version whose graph orders a journey's steps: the one asked for, else
-- the published one, else the newest non-draft one. A version asked for that
-- does not exist is 42704; the journey's draft, 55000 (reports cover only
-- what ran: published and retired versions).
CREATE OR REPLACE FUNCTION journey._report_version(j journey.journeys, p_version int)
RETURNS int
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  v int;
  st journey.version_status;
BEGIN
  IF p_version IS NOT NULL THEN
    SELECT x.version, x.status INTO v, st FROM journey.versions x
     WHERE x.journey_id = j.id AND x.version = p_version;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'journey "%" has no published version %', j.name, p_version
        USING ERRCODE = '42704';
    END IF;
    IF st = 'draft' THEN
      RAISE EXCEPTION 'version % of journey "%" is its draft, not a published or retired version',
        p_version, j.name USING ERRCODE = '55000',
        HINT = 'Reports cover published and retired versions; journey.simulate predicts a draft''s.';
    END IF;
    RETURN v;
  END IF;
  SELECT x.version INTO v FROM journey.versions x
   WHERE x.journey_id = j.id AND x.status <> 'draft'
   ORDER BY (x.version = j.published_version) DESC, x.version DESC LIMIT 1;
  RETURN v;
END
$$;

-- Counts each INSERT into journey.activity into journey.activity_hours (one
-- row per group of the statement's rows; see tables.sql). On a Citus install
-- (docs/scale-out.md) the trigger also fires on the shards of activity, where
-- it cannot write the reference table activity_hours: there it counts nothing.
-- Its grouping statement (src/pg/activity_hours.cpp) is the one
-- journey._count_all_activity runs over journey.activity.
CREATE OR REPLACE FUNCTION journey._count_activity() RETURNS trigger
AS 'MODULE_PATHNAME', 'pgj_count_activity'
LANGUAGE C SET search_path = pg_catalog, journey, pg_temp;
-- Counts the rows of journey.activity (of one journey; null: all) into
-- journey.activity_hours, as the trigger counts each INSERT's.
CREATE OR REPLACE FUNCTION journey._count_all_activity(journey_id bigint) RETURNS void
AS 'MODULE_PATHNAME', 'pgj_count_all_activity'
LANGUAGE C SET search_path = pg_catalog, journey, pg_temp;
SELECT journey._alter('journey.activity', $ddl$
CREATE OR REPLACE TRIGGER count_activity AFTER INSERT ON journey.activity
  REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION journey._count_activity()$ddl$);

-- percentile_cont of each fraction in ps over values vals[i] each counts[i]
-- times (vals ascending): what percentile_cont gives over the values themselves.
CREATE OR REPLACE FUNCTION journey._weighted_percentiles(vals bigint[], counts bigint[],
                                                         ps float8[])
RETURNS float8[]
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  total bigint;
  result float8[] := '{}';
  p float8;
  pos float8;
  lo_i bigint;
  hi_i bigint;
  v_lo float8;
  v_hi float8;
  seen bigint;
BEGIN
  SELECT sum(c) INTO total FROM unnest(counts) c;
  IF coalesce(total, 0) = 0 THEN
    RETURN NULL;
  END IF;
  FOREACH p IN ARRAY ps LOOP
    pos := p * (total - 1);
    lo_i := floor(pos);
    hi_i := ceil(pos);
    seen := 0;
    v_lo := NULL;
    v_hi := NULL;
    FOR i IN 1 .. cardinality(vals) LOOP
      seen := seen + counts[i];
      IF v_lo IS NULL AND seen > lo_i THEN
        v_lo := vals[i];
      END IF;
      IF seen > hi_i THEN
        v_hi := vals[i];
        EXIT;
      END IF;
    END LOOP;
    result := result || (v_lo + (v_hi - v_lo) * (pos - lo_i));
  END LOOP;
  RETURN result;
END
$$;

-- Refuses a report window that is not one: since or until infinite (null is
-- unbounded), or since after until (22023, naming the argument).
CREATE OR REPLACE FUNCTION journey._report_window(since timestamptz, until timestamptz)
RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  IF NOT isfinite(since) THEN
    RAISE EXCEPTION 'since must be a finite time, not %', since USING ERRCODE = '22023',
      HINT = 'Leave since null for a window without a start.';
  END IF;
  IF NOT isfinite(until) THEN
    RAISE EXCEPTION 'until must be a finite time, not %', until USING ERRCODE = '22023',
      HINT = 'Leave until null for a window without an end.';
  END IF;
  IF since > until THEN
    RAISE EXCEPTION 'since (%) is after until (%)', since, until USING ERRCODE = '22023';
  END IF;
END
$$;

-- The whole UTC hours inside [lo, hi): [h_lo, h_hi), empty (both hi) when
-- there is none. In the last hour of the timestamp range there is no next
-- hour: none whole.
CREATE OR REPLACE FUNCTION journey._whole_hours(lo timestamptz, hi timestamptz,
                                                OUT h_lo timestamptz, OUT h_hi timestamptz)
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  h_lo := CASE WHEN lo = '-infinity' OR lo = date_trunc('hour', lo, 'UTC') THEN lo
               WHEN lo >= '294276-12-31 23:00:00+00' THEN 'infinity'
               ELSE date_trunc('hour', lo, 'UTC') + interval '1 hour' END;
  h_hi := CASE WHEN hi = 'infinity' THEN hi ELSE date_trunc('hour', hi, 'UTC') END;
  IF h_lo >= h_hi THEN
    h_lo := hi;
    h_hi := hi;
  END IF;
END
$$;

-- The steps a report on journey p_journey lists: each step key of its
-- published and retired versions (of version p_version alone when not null)
-- once, as report version ref has it, else as the newest version that has
-- it; depth: its distance from ref's start step (null when ref cannot reach
-- it), which orders the report.
CREATE OR REPLACE FUNCTION journey._report_steps(p_journey bigint, ref int, p_version int)
RETURNS TABLE (key text, type journey.step_type, "position" int, in_ref boolean, depth int)
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  WITH RECURSIVE
  walk(key, depth) AS (
    SELECT x.start_key, 0 FROM journey.versions x WHERE x.journey_id = p_journey AND x.version = ref
    UNION
    SELECT c.to_key, w.depth + 1
      FROM walk w
      JOIN journey.connections c ON c.journey_id = p_journey AND c.version = ref
                                AND c.from_key = w.key
     WHERE w.depth < (SELECT count(*) FROM journey.steps s
                       WHERE s.journey_id = p_journey AND s.version = ref)),
  depth AS (SELECT w.key, min(w.depth) AS d FROM walk w GROUP BY w.key),
  st AS (SELECT DISTINCT ON (s.key) s.key, s.type, s.position, s.version = ref AS in_ref
           FROM journey.steps s JOIN journey.versions v ON v.journey_id = s.journey_id
                                                      AND v.version = s.version
          WHERE s.journey_id = p_journey AND v.status <> 'draft'
            AND (p_version IS NULL OR s.version = p_version)
          ORDER BY s.key, (s.version = ref) DESC, s.version DESC)
  SELECT st.key, st.type, st.position, st.in_ref, depth.d::int
    FROM st LEFT JOIN depth ON depth.key = st.key AND st.in_ref
$$;

-- The visits to the steps of journey p_journey's published and retired
-- versions (version p_version alone when not null) that began in [lo, hi),
-- counted by group: n visits, c of them converted, spent {seconds: n}. The
-- whole UTC hours inside [lo, hi), [h_lo, h_hi), are read from activity_hours;
-- the partial hours at the edges from activity. On a distributed install
-- (docs/scale-out.md) the roll-up counts nothing of the shards' activity:
-- every hour is read from activity, which Citus aggregates on each node
-- (grouped). jit off: as for funnel.
CREATE OR REPLACE FUNCTION journey._funnel_visits(p_journey bigint, p_version int,
                                                  lo timestamptz, hi timestamptz)
RETURNS TABLE (step_key text, outcome text, branch text, reason text,
               n bigint, c bigint, spent jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp SET jit = off AS $$
#variable_conflict use_column
DECLARE
  h_lo timestamptz;
  h_hi timestamptz;
BEGIN
  SELECT w.h_lo, w.h_hi INTO h_lo, h_hi FROM journey._whole_hours(lo, hi) w;
  IF journey._citus_distributed() THEN
    h_lo := hi;
    h_hi := hi;
  END IF;
  RETURN QUERY
  WITH
  vs AS (SELECT x.version FROM journey.versions x
          WHERE x.journey_id = p_journey AND x.status <> 'draft'
            AND (p_version IS NULL OR x.version = p_version))
  SELECT h.step_key, h.outcome, h.branch, h.reason, h.visits AS n, h.converted AS c, h.spent
    FROM journey.activity_hours h
   WHERE h.journey_id = p_journey AND h.version IN (SELECT vs.version FROM vs)
     AND h.hour >= h_lo AND h.hour < h_hi
  UNION ALL
  SELECT g.step_key, g.outcome, g.branch, g.reason, g.n, g.c, jsonb_build_object(g.secs, g.n)
    FROM (SELECT a.step_key, a.outcome, a.branch,
                 CASE WHEN a.outcome = 'exited' THEN a.reason END AS reason,
                 round(extract(epoch FROM greatest(a.at - coalesce(a.arrived_at, a.at),
                                                   interval '0')))::bigint AS secs,
                 count(*) AS n, count(*) FILTER (WHERE a.converted) AS c
            FROM journey.activity a
           WHERE a.journey_id = p_journey AND a.version IN (SELECT vs.version FROM vs)
             AND (coalesce(a.arrived_at, a.at) >= lo AND coalesce(a.arrived_at, a.at) < h_lo
                  OR coalesce(a.arrived_at, a.at) >= h_hi AND coalesce(a.arrived_at, a.at) < hi)
           GROUP BY 1, 2, 3, 4, 5) g;
END
$$;

-- Per step of a journey, in graph order (breadth first from the start step of
-- the report version; steps it cannot reach, and steps only older versions
-- have, follow by key): the step visits that began in [since, until) (null:
-- unbounded) and what became of them. version null combines every published
-- or retired version by step key (an enrollment migrated to a new version
-- while at a step is counted once, in the version it left the step in);
-- a version number reports that version alone.
--   entered     visits that reached the step (= now_at + moved + completed + exited + failed)
--   now_at      of those, enrollments still there
--   moved       {branch: n} that went on to another step
--   completed   the journey ended at this step (an exit step, or no way out)
--   exited      {reason: n} that ended here by an exit rule, exit(), archive, ...
--   converted   visits that converted the enrollment here (a goal step or goal exit rule)
--   failed      enrollments that failed here
--   median_time, p90_time  time spent at the step by the visits that left it
CREATE OR REPLACE FUNCTION journey.funnel(journey text, since timestamptz DEFAULT NULL,
                                          until timestamptz DEFAULT NULL, version int DEFAULT NULL)
RETURNS TABLE (step_key text, step_type journey.step_type, entered bigint, now_at bigint,
               moved jsonb, completed bigint, exited jsonb, converted bigint, failed bigint,
               median_time interval, p90_time interval)
-- jit off: the planner's estimate of the per-enrollment lookups is far above
-- what they cost, and compiling the plan took seconds (benchmarks.md).
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp SET jit = off AS $$
DECLARE
  j journey.journeys := journey._journey(funnel.journey);
  ref int := journey._report_version(j, funnel.version);
  lo timestamptz := coalesce(funnel.since, '-infinity');
  hi timestamptz := coalesce(funnel.until, 'infinity');
BEGIN
  PERFORM journey._report_window(funnel.since, funnel.until);
  RETURN QUERY
  WITH
  vs AS (SELECT x.version FROM journey.versions x
          WHERE x.journey_id = j.id AND x.status <> 'draft'
            AND (funnel.version IS NULL OR x.version = funnel.version)),
  st AS (SELECT * FROM journey._report_steps(j.id, ref, funnel.version)),
  visits AS (SELECT * FROM journey._funnel_visits(j.id, funnel.version, lo, hi)),
  -- Enrollments at a step now, by when they arrived there (read only for a
  -- window, and once per enrollment).
  present AS MATERIALIZED (
    SELECT e.step_key,
           CASE WHEN funnel.since IS NOT NULL OR funnel.until IS NOT NULL
                THEN coalesce(e.parked_at,
                              (SELECT max(a.at) FROM journey.activity a
                                WHERE a.customer_id = e.customer_id AND a.enrollment_id = e.id),
                              e.entered_at) END AS arrived
      FROM journey.enrollments e
     WHERE e.journey_id = j.id AND e.status = 'active' AND e.version IN (SELECT vs.version FROM vs)),
  here AS (
    SELECT p.step_key, count(*) AS n
      FROM present p
     WHERE funnel.since IS NULL AND funnel.until IS NULL OR p.arrived >= lo AND p.arrived < hi
     GROUP BY p.step_key),
  spent AS (
    SELECT v.step_key, t.key::bigint AS secs, sum(t.value::bigint)::bigint AS n
      FROM visits v, jsonb_each_text(v.spent) t GROUP BY 1, 2),
  pcts AS (
    SELECT x.step_key,
           journey._weighted_percentiles(array_agg(x.secs ORDER BY x.secs),
                                         array_agg(x.n ORDER BY x.secs), ARRAY[0.5, 0.9]) AS pct
      FROM spent x GROUP BY x.step_key),
  agg AS (
    SELECT v.step_key, sum(v.n)::bigint AS n,
           coalesce(sum(v.n) FILTER (WHERE v.outcome = 'completed'), 0)::bigint AS completed,
           coalesce(sum(v.n) FILTER (WHERE v.outcome = 'failed'), 0)::bigint AS failed,
           sum(v.c)::bigint AS converted
      FROM visits v GROUP BY v.step_key),
  moves AS (
    SELECT m.step_key, jsonb_object_agg(m.branch, m.n) AS moved
      FROM (SELECT v.step_key, v.branch, sum(v.n) AS n FROM visits v
             WHERE v.outcome = 'moved' GROUP BY 1, 2) m GROUP BY m.step_key),
  exits AS (
    SELECT x.step_key, jsonb_object_agg(x.reason, x.n) AS exited
      FROM (SELECT v.step_key, coalesce(v.reason, '(none)') AS reason, sum(v.n) AS n
              FROM visits v WHERE v.outcome = 'exited' GROUP BY 1, 2) x GROUP BY x.step_key)
  SELECT st.key, st.type,
         coalesce(agg.n, 0) + coalesce(here.n, 0), coalesce(here.n, 0),
         coalesce(moves.moved, '{}'), coalesce(agg.completed, 0), coalesce(exits.exited, '{}'),
         coalesce(agg.converted, 0), coalesce(agg.failed, 0),
         justify_hours(date_trunc('second', make_interval(secs => pcts.pct[1])
                                                + interval '0.5 second')),
         justify_hours(date_trunc('second', make_interval(secs => pcts.pct[2])
                                                + interval '0.5 second'))
    FROM st
    LEFT JOIN agg ON agg.step_key = st.key
    LEFT JOIN pcts ON pcts.step_key = st.key
    LEFT JOIN here ON here.step_key = st.key
    LEFT JOIN moves ON moves.step_key = st.key
    LEFT JOIN exits ON exits.step_key = st.key
   ORDER BY st.depth NULLS LAST, st.in_ref DESC, st.position, st.key;
END
$$;
COMMENT ON FUNCTION journey.funnel(text, timestamptz, timestamptz, int) IS
  'per step in graph order: visits that began in [since, until) and what became of them';

-- Refuses a control that is not one of journey j's groups: a name that is
-- no variant of any split step of its published or retired versions, nor
-- '(holdout)' or '(journey)' (22023).
CREATE OR REPLACE FUNCTION journey._split_control(j journey.journeys, control text)
RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  IF control IS NOT NULL AND control NOT IN ('(holdout)', '(journey)')
     AND NOT EXISTS (SELECT 1 FROM journey.steps s
                       JOIN journey.versions v ON v.journey_id = s.journey_id
                                              AND v.version = s.version AND v.status <> 'draft',
                            jsonb_array_elements(CASE WHEN jsonb_typeof(s.config->'variants') = 'array'
                                                      THEN s.config->'variants' END) x
                      WHERE s.journey_id = j.id AND s.type = 'split' AND x->>'name' = control) THEN
    RAISE EXCEPTION 'control "%" is not a variant of a split step of journey "%"', control, j.name
      USING ERRCODE = '22023', HINT = 'Name a variant of the split, or (holdout).';
  END IF;
END
$$;

-- The groups split_report compares, for the enrollments of journey p_journey
-- that entered in [lo, hi): a jsonb array of {split, variant, n (enrolled),
-- k (converted), sent (messages sent)}. Per split step, the variant each
-- enrollment was sent down (its first visit there; a holdout enrollment
-- travels the split too and counts in '(holdout)' whatever it drew); when no
-- enrollment reached a split, '(journey)' and '(holdout)'. Reads the split
-- steps' activity only (activity_journey_step), none for a journey without
-- a split. The statements run with the window's values (EXECUTE): a plan for
-- unknown bounds guessed a narrow window and read every enrollment's
-- activity one by one (10 s at 1M enrollments). jit off: as for funnel.
CREATE OR REPLACE FUNCTION journey._split_counts(p_journey bigint, lo timestamptz,
                                                 hi timestamptz)
RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp SET jit = off AS $$
DECLARE
  counted jsonb;
BEGIN
  IF EXISTS (SELECT 1 FROM journey.steps s WHERE s.journey_id = p_journey AND s.type = 'split') THEN
    EXECUTE $q$
      WITH assigned AS MATERIALIZED (
        SELECT DISTINCT ON (a.customer_id, a.enrollment_id, a.step_key) a.step_key AS split,
               CASE WHEN e.holdout THEN '(holdout)' ELSE a.branch END AS variant, e.id,
               e.customer_id, e.converted_at IS NOT NULL AS conv
          FROM journey.steps s
          JOIN journey.activity a ON a.journey_id = s.journey_id AND a.version = s.version
                                 AND a.step_key = s.key
          JOIN journey.enrollments e ON e.customer_id = a.customer_id AND e.id = a.enrollment_id
         WHERE s.journey_id = $1 AND s.type = 'split' AND a.step_type = 'split'
           AND a.branch IS NOT NULL AND e.entered_at >= $2 AND e.entered_at < $3
         ORDER BY a.customer_id, a.enrollment_id, a.step_key, a.visit),
      sent AS (
        SELECT x.split, x.variant, count(*) AS n
          FROM assigned x JOIN journey.messages m ON m.customer_id = x.customer_id
                                                 AND m.enrollment_id = x.id
         WHERE m.status = 'sent' GROUP BY 1, 2)
      SELECT jsonb_agg(jsonb_build_object('split', c.split, 'variant', c.variant, 'n', c.n,
                                          'k', c.k, 'sent', coalesce(sent.n, 0)))
        FROM (SELECT x.split, x.variant, count(*) AS n, count(*) FILTER (WHERE x.conv) AS k
                FROM assigned x GROUP BY 1, 2) c
        LEFT JOIN sent ON sent.split = c.split AND sent.variant = c.variant $q$
      INTO counted USING p_journey, lo, hi;
    IF counted IS NOT NULL THEN
      RETURN counted;
    END IF;
  END IF;
  EXECUTE $q$
    SELECT jsonb_agg(jsonb_build_object('split', NULL, 'variant', c.variant, 'n', c.n, 'k', c.k,
                                        'sent', coalesce(sent.n, 0)))
      FROM (SELECT CASE WHEN e.holdout THEN '(holdout)' ELSE '(journey)' END AS variant,
                   count(*) AS n, count(*) FILTER (WHERE e.converted_at IS NOT NULL) AS k
              FROM journey.enrollments e
             WHERE e.journey_id = $1 AND e.entered_at >= $2 AND e.entered_at < $3
             GROUP BY 1) c
      LEFT JOIN (SELECT CASE WHEN e.holdout THEN '(holdout)' ELSE '(journey)' END AS variant,
                        count(*) AS n
                   FROM journey.messages m
                   JOIN journey.enrollments e ON e.customer_id = m.customer_id
                                             AND e.id = m.enrollment_id
                  WHERE m.journey_id = $1 AND m.status = 'sent' AND e.journey_id = $1
                    AND e.entered_at >= $2 AND e.entered_at < $3
                  GROUP BY 1) sent ON sent.variant = c.variant $q$
    INTO counted USING p_journey, lo, hi;
  RETURN coalesce(counted, '[]');
END
$$;

-- Per split variant of a journey (every split step, by variant name) and for
-- the holdout group: enrollments, conversions, conversion rate, lift over the
-- baseline (the variant named by control; else the holdout when the journey
-- has one; else the split's first variant) with a 95% confidence interval
-- of the difference of the two rates (Newcombe's hybrid score interval), the
-- two-proportion z statistic (pooled standard error), and messages sent per
-- conversion. Enrollments that entered in [since, until) (null: unbounded)
-- and reached the split (journey._split_counts). A journey without a split:
-- '(journey)' against '(holdout)'. A control group without enrollments in
-- the report is refused (22023): no lift can be taken against it.
CREATE OR REPLACE FUNCTION journey.split_report(journey text, since timestamptz DEFAULT NULL,
                                                until timestamptz DEFAULT NULL,
                                                control text DEFAULT NULL)
RETURNS TABLE (split_step text, variant text, enrolled bigint, converted bigint, rate numeric,
               baseline text, lift numeric, lift_low numeric, lift_high numeric, z numeric,
               messages bigint, messages_per_conversion numeric)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp SET jit = off AS $$
DECLARE
  j journey.journeys := journey._journey(split_report.journey);
  counted jsonb;
  win text := CASE WHEN split_report.since IS NOT NULL OR split_report.until IS NOT NULL
                   THEN format(' that entered in [%s, %s)', coalesce(split_report.since::text, '-infinity'),
                               coalesce(split_report.until::text, 'infinity')) ELSE '' END;
BEGIN
  PERFORM journey._report_window(split_report.since, split_report.until);
  PERFORM journey._split_control(j, split_report.control);
  counted := journey._split_counts(j.id, coalesce(split_report.since, '-infinity'),
                                   coalesce(split_report.until, 'infinity'));
  IF split_report.control IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(counted) c
                      WHERE c->>'variant' = split_report.control) THEN
    IF split_report.control = '(holdout)' THEN
      RAISE EXCEPTION 'journey "%" has no holdout to compare with', j.name USING ERRCODE = '22023',
        DETAIL = format('No enrollment%s is in its holdout group.', win),
        HINT = 'The setting holdout_percent keeps a holdout group; or name a variant of the split as control.';
    END IF;
    RAISE EXCEPTION 'control "%" of journey "%" has no enrollments to compare with',
      split_report.control, j.name USING ERRCODE = '22023',
      DETAIL = format('No enrollment%s is in that group.', win),
      HINT = 'Name a group the report shows, or leave control null.';
  END IF;
  RETURN QUERY
  WITH
  counts AS (SELECT * FROM jsonb_to_recordset(counted)
                             AS x(split text, variant text, n bigint, k bigint, sent bigint)),
  -- The first variant of each split step in the published (else newest) version.
  firsts AS (
    SELECT s.key AS split, s.config->'variants'->0->>'name' AS first
      FROM journey.steps s
     WHERE s.journey_id = j.id AND s.type = 'split'
       AND s.version = journey._report_version(j, NULL)),
  base AS (
    SELECT c.split, c.variant, c.n, c.k
      FROM counts c LEFT JOIN firsts f ON f.split IS NOT DISTINCT FROM c.split
     WHERE c.variant = CASE WHEN split_report.control IS NOT NULL THEN split_report.control
                            WHEN EXISTS (SELECT 1 FROM counts h
                                          WHERE h.split IS NOT DISTINCT FROM c.split
                                            AND h.variant = '(holdout)')
                            THEN '(holdout)'
                            ELSE coalesce(f.first, '(holdout)') END),
  stats AS (
    SELECT c.split, c.variant, c.n, c.k, c.sent, b.variant AS bname,
           c.k::float8 / nullif(c.n, 0) AS p1, b.k::float8 / nullif(b.n, 0) AS p0,
           b.n AS n0, b.k AS k0
      FROM counts c LEFT JOIN base b ON b.split IS NOT DISTINCT FROM c.split),
  -- Wilson score intervals (95%) of both rates, for Newcombe's interval of
  -- their difference: unlike the Wald interval it stays within [-1, 1] and is
  -- not zero-wide when a rate is 0 or 1.
  bounds AS (
    SELECT s.*,
           (s.p1 + w.z2 / (2 * s.n) - w.z * sqrt(s.p1 * (1 - s.p1) / s.n + w.z2 / (4.0 * s.n * s.n)))
             / (1 + w.z2 / s.n) AS l1,
           (s.p1 + w.z2 / (2 * s.n) + w.z * sqrt(s.p1 * (1 - s.p1) / s.n + w.z2 / (4.0 * s.n * s.n)))
             / (1 + w.z2 / s.n) AS u1,
           (s.p0 + w.z2 / (2 * s.n0) - w.z * sqrt(s.p0 * (1 - s.p0) / s.n0 + w.z2 / (4.0 * s.n0 * s.n0)))
             / (1 + w.z2 / s.n0) AS l0,
           (s.p0 + w.z2 / (2 * s.n0) + w.z * sqrt(s.p0 * (1 - s.p0) / s.n0 + w.z2 / (4.0 * s.n0 * s.n0)))
             / (1 + w.z2 / s.n0) AS u0,
           (s.k + s.k0)::float8 / (s.n + s.n0) AS pooled
      FROM stats s CROSS JOIN (SELECT 1.959964::float8 AS z, 1.959964::float8 ^ 2 AS z2) w)
  SELECT s.split, s.variant, s.n, s.k, round(s.p1::numeric, 4),
         CASE WHEN s.variant = s.bname THEN NULL ELSE s.bname END,
         CASE WHEN s.variant <> s.bname THEN round((s.p1 - s.p0)::numeric, 4) END,
         CASE WHEN s.variant <> s.bname
              THEN round((s.p1 - s.p0 - sqrt((s.p1 - s.l1) ^ 2 + (s.u0 - s.p0) ^ 2))::numeric, 4)
         END,
         CASE WHEN s.variant <> s.bname
              THEN round((s.p1 - s.p0 + sqrt((s.u1 - s.p1) ^ 2 + (s.p0 - s.l0) ^ 2))::numeric, 4)
         END,
         -- The two-proportion z statistic, with the pooled rate's standard error.
         CASE WHEN s.variant <> s.bname
              THEN round(((s.p1 - s.p0)
                          / nullif(sqrt(s.pooled * (1 - s.pooled) * (1.0 / s.n + 1.0 / s.n0)), 0)
                         )::numeric, 3)
         END,
         s.sent, round(s.sent::numeric / nullif(s.k, 0), 2)
    FROM bounds s
   ORDER BY s.split NULLS FIRST, s.variant = '(holdout)', s.variant;
END
$$;
COMMENT ON FUNCTION journey.split_report(text, timestamptz, timestamptz, text) IS
  'per split variant and the holdout: enrolled, converted, rate, lift with a 95% confidence interval';

-- The canonical id (the key as text) of customer id p_id in the audience's key
-- type, whether or not the customer still exists; null when p_id is not a
-- value of that type. SECURITY DEFINER: a reader may not call the audience
-- helpers it uses (it only casts p_id to the key's type).
CREATE OR REPLACE FUNCTION journey._canonical_id(p_audience regclass, p_id text, OUT c text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  k record;
BEGIN
  SELECT * INTO k FROM journey._audience_keys(p_audience);
  BEGIN
    EXECUTE format('SELECT $1::%s::text', k.cast_type) INTO c USING p_id;
  EXCEPTION WHEN data_exception THEN
    c := NULL;
  END;
END
$$;

-- The audience and the canonical id of customer p_id for customer_journeys:
-- audience p_audience when given (refused when it is not registered, 22023,
-- or p_id is not a value of its key, 22P02); else the one audience whose
-- journeys have this customer (the id in the form of that audience's key;
-- several: 42725, the caller must say which; none: both null).
CREATE OR REPLACE FUNCTION journey._customer_audience(p_id text, p_audience regclass,
                                                      OUT aud regclass, OUT cid text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  reg record;
  k record;
  one text;
  jids bigint[];
  found_in text[] := '{}';
BEGIN
  IF p_id IS NULL THEN
    RAISE EXCEPTION 'customer_id must not be null' USING ERRCODE = '22004';
  END IF;
  IF p_audience IS NOT NULL THEN
    IF NOT EXISTS (SELECT 1 FROM journey.audiences x WHERE x.relation = p_audience) THEN
      RAISE EXCEPTION 'audience "%" is not a registered audience', p_audience
        USING ERRCODE = '22023', HINT = 'See journey.audiences for the registered ones.';
    END IF;
    aud := p_audience;
    PERFORM journey._require_live_audience(aud);
    cid := journey._canonical_id(aud, p_id);
    IF cid IS NULL THEN
      SELECT * INTO k FROM journey._audience_keys(aud);
      RAISE EXCEPTION 'customer id "%" is not a valid key of audience %',
        p_id, aud USING ERRCODE = '22P02',
        DETAIL = format('the key column %I is of type %s', k.key_column, k.type_name);
    END IF;
  ELSE
    -- The one audience whose journeys have this customer (the id in the form
    -- of that audience's key); several: the caller must say which.
    FOR reg IN SELECT x.relation FROM journey.audiences x  -- (a table that is gone: skipped)
                WHERE EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = x.relation)
                ORDER BY x.relation::text LOOP
      one := journey._canonical_id(reg.relation, p_id);
      -- (The journeys read on their own first: on Citus a regclass compared
      -- on another node would be this node's OID there.)
      jids := ARRAY(SELECT j.id FROM journey.journeys j WHERE j.audience = reg.relation);
      IF one IS NOT NULL AND EXISTS (SELECT 1 FROM journey.enrollments e
                                      WHERE e.customer_id = one AND e.journey_id = ANY (jids)) THEN
        found_in := found_in || reg.relation::text;
        aud := reg.relation;
        cid := one;
      END IF;
    END LOOP;
    IF cardinality(found_in) > 1 THEN
      RAISE EXCEPTION 'customer id "%" names customers of several audiences: %',
        p_id, array_to_string(found_in, ', ') USING ERRCODE = '42725',
        HINT = 'Pass the audience: journey.customer_journeys(customer_id, audience => ...).';
    END IF;
  END IF;
END
$$;

-- Every journey a customer is or was in, one row per event of their path in time order: kind
-- 'entered' (with the version entered: that of the first visit); 'visit' (a step left: branch or outcome, time spent); 'at' (the
-- step an active enrollment is at now, with what it waits for and until when);
-- 'message' (each message of a step, with its status and reason); 'exited'
-- (with the reason), 'failed' (with the error), 'completed'; 'converted'.
-- The id is read as the audience's key ('007' is customer 7 of an integer
-- key, as enroll reads it); audience null: the one audience whose journeys
-- have that customer (42725 when several do). One audience only, never a mix.
CREATE OR REPLACE FUNCTION journey.customer_journeys(customer_id text, audience regclass DEFAULT NULL)
RETURNS TABLE (journey text, enrollment_id bigint, version int, at timestamptz, kind text,
               step_key text, detail text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
#variable_conflict use_column
DECLARE
  aud regclass;
  cid text;
  jids bigint[];
BEGIN
  SELECT x.aud, x.cid INTO aud, cid
    FROM journey._customer_audience(customer_journeys.customer_id, customer_journeys.audience) x;
  IF aud IS NULL THEN
    RETURN;
  END IF;
  -- One customer's rows: on Citus every table below is read on the node that
  -- holds the customer (each joined on customer_id); the audience's journeys
  -- first, as above.
  jids := ARRAY(SELECT j.id FROM journey.journeys j WHERE j.audience = aud);
  RETURN QUERY
  WITH en AS (
    SELECT e.*, j.name FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
     WHERE e.customer_id = cid AND e.journey_id = ANY (jids)),
  first_visit AS (
    SELECT DISTINCT ON (a.enrollment_id) a.enrollment_id, a.version FROM journey.activity a
     WHERE a.customer_id = cid AND a.journey_id = ANY (jids)
     ORDER BY a.enrollment_id, a.visit)
  SELECT r.name, r.id, r.version, r.at, r.kind, r.step_key, r.detail FROM (
    -- The version entered: that of the first visit (a migrating publish moves
    -- the enrollment to the new version, so en.version is where it is now).
    SELECT en.name, en.id, coalesce(f.version, en.version) AS version,
           en.entered_at AS at, 'entered' AS kind, NULL AS step_key,
           CASE WHEN en.holdout THEN 'holdout' END AS detail, 0 AS o, 0 AS visit
      FROM en LEFT JOIN first_visit f ON f.enrollment_id = en.id
    UNION ALL
    SELECT en.name, en.id, a.version, a.at,
           CASE a.outcome WHEN 'moved' THEN 'visit' WHEN 'completed' THEN 'visit' ELSE a.outcome END,
           a.step_key,
           concat_ws(', ', CASE WHEN a.branch IS NOT NULL THEN 'by ' || a.branch END,
                     CASE WHEN a.outcome IN ('exited', 'failed') THEN a.reason END,
                     CASE WHEN a.arrived_at IS NOT NULL
                          THEN 'spent ' || greatest(a.at - a.arrived_at, interval '0')::text END),
           2, a.visit
      FROM en JOIN journey.activity a ON a.customer_id = en.customer_id AND a.enrollment_id = en.id
    UNION ALL
    SELECT en.name, en.id, a.version, a.at, 'converted', a.step_key, NULL, 3, a.visit
      FROM en JOIN journey.activity a ON a.customer_id = en.customer_id AND a.enrollment_id = en.id
                                     AND a.converted
    UNION ALL
    SELECT en.name, en.id, en.version, en.ended_at, 'completed', en.step_key, NULL, 4, 1000000000
      FROM en WHERE en.status = 'completed'
    UNION ALL
    SELECT en.name, en.id, en.version, coalesce(en.parked_at, en.entered_at), 'at', en.step_key,
           concat_ws(', ', CASE WHEN en.waiting_for IS NOT NULL THEN 'waiting for ' || en.waiting_for END,
                     CASE WHEN en.next_run_at IS NOT NULL THEN 'due ' || en.next_run_at::text END,
                     CASE WHEN en.wait_deadline IS NOT NULL
                          THEN 'times out ' || en.wait_deadline::text END),
           5, 1000000000
      FROM en WHERE en.status = 'active'
    UNION ALL
    SELECT en.name, en.id, m.version, m.created_at, 'message', m.step_key,
           concat_ws(', ', m.channel, m.status, m.reason), 1, m.visit
      FROM en JOIN journey.messages m ON m.customer_id = en.customer_id AND m.enrollment_id = en.id) r
  ORDER BY r.id, r.visit, r.o, r.at;
END
$$;
COMMENT ON FUNCTION journey.customer_journeys(text, regclass) IS
  'one customer''s journeys: entries, step visits, where they are now, messages, exits, conversions';

-- Merges the rows of journey.activity_hours that count the same group (journey,
-- version, step, hour, outcome, branch, reason) into one, for the hours before
-- `before` (default: every hour that has ended). The trigger adds one row per
-- group per INSERT statement, so a tick that ran one enrollment adds one row a
-- visit; merged, funnel reads a few rows an hour and step. Concurrent-safe
-- without blocking the engine: it deletes the rows its snapshot sees (a row
-- another compaction deleted first is skipped) and inserts their sums; rows
-- inserted meanwhile are left for the next run. Returns the number of rows
-- removed (rows read minus rows written). The background workers call it
-- (journey.compact_activity_hours_every, docs/analytics.md).
CREATE OR REPLACE FUNCTION journey.compact_activity_hours(
    before timestamptz DEFAULT date_trunc('hour', now(), 'UTC'))
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  removed bigint := 0;
  coordinator boolean;
BEGIN
  IF compact_activity_hours.before IS NULL THEN
    RAISE EXCEPTION 'before must not be null' USING ERRCODE = '22004';
  END IF;
  -- On a Citus install the roll-up is a reference table that only the
  -- coordinator writes (the shards' triggers count nothing): the coordinator
  -- compacts it, the worker nodes' workers would only contend for its locks.
  IF journey._citus_distributed() THEN
    EXECUTE 'SELECT pg_catalog.citus_is_coordinator()' INTO coordinator;
    IF NOT coordinator THEN
      RETURN 0;
    END IF;
  END IF;
  WITH groups AS (
    SELECT h.journey_id, h.version, h.step_key, h.hour, h.outcome, h.branch, h.reason
      FROM journey.activity_hours h
     WHERE h.hour < compact_activity_hours.before
     GROUP BY 1, 2, 3, 4, 5, 6, 7 HAVING count(*) > 1),
  gone AS (
    DELETE FROM journey.activity_hours h USING groups g
     WHERE h.journey_id = g.journey_id AND h.version = g.version AND h.step_key = g.step_key
       AND h.hour = g.hour AND h.outcome = g.outcome AND h.branch IS NOT DISTINCT FROM g.branch
       AND h.reason IS NOT DISTINCT FROM g.reason
    RETURNING h.*),
  merged AS (
    SELECT g.journey_id, g.version, g.step_key, g.hour, g.outcome, g.branch, g.reason,
           sum(g.visits) AS visits, sum(g.converted) AS converted, count(*) AS rows_read,
           array_agg(g.spent) AS spents
      FROM gone g GROUP BY 1, 2, 3, 4, 5, 6, 7),
  written AS (
    INSERT INTO journey.activity_hours (journey_id, version, step_key, hour, outcome, branch,
                                        reason, visits, converted, spent)
    SELECT m.journey_id, m.version, m.step_key, m.hour, m.outcome, m.branch, m.reason, m.visits,
           m.converted,
           (SELECT coalesce(jsonb_object_agg(t.k, t.n), '{}')
              FROM (SELECT s.key AS k, sum(s.value::bigint) AS n
                      FROM unnest(m.spents) x(spent), jsonb_each_text(x.spent) s
                     GROUP BY 1) t)
      FROM merged m
    RETURNING 1)
  SELECT coalesce((SELECT sum(m.rows_read) FROM merged m), 0) - (SELECT count(*) FROM written)
    INTO removed;
  RETURN removed;
END
$$;
COMMENT ON FUNCTION journey.compact_activity_hours(timestamptz) IS
  'merges the rows of journey.activity_hours of one group (journey, version, step, hour, outcome, branch, reason) into one, for the hours before `before`; returns the rows removed';

-- Builds journey.activity_hours anew from journey.activity, for one journey or
-- (null) all: after a data-only restore with --disable-triggers, on a logical
-- replica (the trigger does not fire under session_replication_role =
-- replica), or wherever activity arrived without its trigger. Locks
-- journey.activity against writes (SHARE) while it runs, so nothing is counted
-- twice or left out. Returns the number of activity rows counted.
CREATE OR REPLACE FUNCTION journey.rebuild_activity_hours(journey text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  jid bigint;
  counted bigint;
BEGIN
  -- On a distributed install journey.activity_hours is a reference table the
  -- coordinator keeps (scale-out.md).
  PERFORM journey._citus_require_coordinator('rebuild journey.activity_hours');
  IF rebuild_activity_hours.journey IS NOT NULL THEN
    jid := (journey._journey(rebuild_activity_hours.journey)).id;
  END IF;
  LOCK TABLE journey.activity IN SHARE MODE;
  DELETE FROM journey.activity_hours h WHERE jid IS NULL OR h.journey_id = jid;
  PERFORM journey._count_all_activity(jid);
  SELECT count(*) INTO counted FROM journey.activity a WHERE jid IS NULL OR a.journey_id = jid;
  RETURN counted;
END
$$;
COMMENT ON FUNCTION journey.rebuild_activity_hours(text) IS
  'builds journey.activity_hours anew from journey.activity (one journey, or null: all), e.g. after a data-only restore with --disable-triggers';
