-- Analytics: funnels, A/B reports, one customer's journeys (docs/analytics.md).
--
-- Counting rests on journey.activity: one row per step visit, written when the
-- enrollment leaves the step, whichever way (moved on, completed, exited or
-- failed there; journey._end_enrollments writes the rows of endings outside a
-- step run). An enrollment still at a step is active with that step_key. So
-- every enrollment that reached a step is either a row there or there now:
--   entered = now_at + moved + completed + exited + failed.

-- The version whose graph orders a journey's steps: the one asked for, else
-- the published one, else the newest non-draft one.
CREATE OR REPLACE FUNCTION journey._report_version(j journey.journeys, p_version int)
RETURNS int
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  v int;
BEGIN
  IF p_version IS NOT NULL THEN
    SELECT x.version INTO v FROM journey.versions x
     WHERE x.journey_id = j.id AND x.version = p_version AND x.status <> 'draft';
    IF NOT FOUND THEN
      RAISE EXCEPTION 'journey "%" has no published version %', j.name, p_version
        USING ERRCODE = '42704';
    END IF;
    RETURN v;
  END IF;
  SELECT x.version INTO v FROM journey.versions x
   WHERE x.journey_id = j.id AND x.status <> 'draft'
   ORDER BY (x.version = j.published_version) DESC, x.version DESC LIMIT 1;
  RETURN v;
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
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(funnel.journey);
  ref int := journey._report_version(j, funnel.version);
  lo timestamptz := coalesce(funnel.since, '-infinity');
  hi timestamptz := coalesce(funnel.until, 'infinity');
BEGIN
  RETURN QUERY
  WITH RECURSIVE
  vs AS (SELECT x.version FROM journey.versions x
          WHERE x.journey_id = j.id AND x.status <> 'draft'
            AND (funnel.version IS NULL OR x.version = funnel.version)),
  walk(key, depth) AS (
    SELECT x.start_key, 0 FROM journey.versions x WHERE x.journey_id = j.id AND x.version = ref
    UNION
    SELECT c.to_key, w.depth + 1
      FROM walk w
      JOIN journey.connections c ON c.journey_id = j.id AND c.version = ref AND c.from_key = w.key
     WHERE w.depth < (SELECT count(*) FROM journey.steps s
                       WHERE s.journey_id = j.id AND s.version = ref)),
  depth AS (SELECT w.key, min(w.depth) AS d FROM walk w GROUP BY w.key),
  st AS (SELECT DISTINCT ON (s.key) s.key, s.type, s.position, s.version = ref AS in_ref
           FROM journey.steps s JOIN vs ON vs.version = s.version
          WHERE s.journey_id = j.id
          ORDER BY s.key, (s.version = ref) DESC, s.version DESC),
  visits AS (
    SELECT a.step_key, a.outcome, a.branch, a.reason, a.converted,
           greatest(a.at - coalesce(a.arrived_at, a.at), interval '0') AS spent
      FROM journey.activity a
     WHERE a.journey_id = j.id AND a.version IN (SELECT vs.version FROM vs)
       AND coalesce(a.arrived_at, a.at) >= lo AND coalesce(a.arrived_at, a.at) < hi),
  here AS (
    SELECT e.step_key, count(*) AS n
      FROM journey.enrollments e
     WHERE e.journey_id = j.id AND e.status = 'active' AND e.version IN (SELECT vs.version FROM vs)
       AND (funnel.since IS NULL AND funnel.until IS NULL
            OR coalesce(e.parked_at,
                        (SELECT max(a.at) FROM journey.activity a WHERE a.enrollment_id = e.id),
                        e.entered_at) >= lo
               AND coalesce(e.parked_at,
                            (SELECT max(a.at) FROM journey.activity a
                              WHERE a.enrollment_id = e.id),
                            e.entered_at) < hi)
     GROUP BY e.step_key),
  agg AS (
    SELECT v.step_key, count(*) AS n,
           count(*) FILTER (WHERE v.outcome = 'completed') AS completed,
           count(*) FILTER (WHERE v.outcome = 'failed') AS failed,
           count(*) FILTER (WHERE v.converted) AS converted,
           percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY v.spent) AS pct
      FROM visits v GROUP BY v.step_key),
  moves AS (
    SELECT m.step_key, jsonb_object_agg(m.branch, m.n) AS moved
      FROM (SELECT v.step_key, v.branch, count(*) AS n FROM visits v
             WHERE v.outcome = 'moved' GROUP BY 1, 2) m GROUP BY m.step_key),
  exits AS (
    SELECT x.step_key, jsonb_object_agg(x.reason, x.n) AS exited
      FROM (SELECT v.step_key, coalesce(v.reason, '(none)') AS reason, count(*) AS n
              FROM visits v WHERE v.outcome = 'exited' GROUP BY 1, 2) x GROUP BY x.step_key)
  SELECT st.key, st.type,
         coalesce(agg.n, 0) + coalesce(here.n, 0), coalesce(here.n, 0),
         coalesce(moves.moved, '{}'), coalesce(agg.completed, 0), coalesce(exits.exited, '{}'),
         coalesce(agg.converted, 0), coalesce(agg.failed, 0),
         date_trunc('second', agg.pct[1] + interval '0.5 second'),
         date_trunc('second', agg.pct[2] + interval '0.5 second')
    FROM st
    LEFT JOIN depth ON depth.key = st.key AND st.in_ref
    LEFT JOIN agg ON agg.step_key = st.key
    LEFT JOIN here ON here.step_key = st.key
    LEFT JOIN moves ON moves.step_key = st.key
    LEFT JOIN exits ON exits.step_key = st.key
   ORDER BY depth.d NULLS LAST, st.in_ref DESC, st.position, st.key;
END
$$;
COMMENT ON FUNCTION journey.funnel(text, timestamptz, timestamptz, int) IS
  'per step in graph order: visits that began in [since, until) and what became of them';

-- Per split variant of a journey (every split step, by variant name) and for
-- the holdout group: enrollments, conversions, conversion rate, lift over the
-- baseline (the variant named by control; else the holdout when the journey
-- has one; else the split's first variant) with a 95% confidence interval
-- of the difference of the two rates (two-proportion z, unpooled standard
-- error), the z statistic, and messages sent per conversion. Enrollments
-- that entered in [since, until) (null: unbounded) and reached the split; a
-- holdout enrollment counts in the split's holdout row only. A journey
-- without a split: '(journey)' against '(holdout)'.
CREATE OR REPLACE FUNCTION journey.split_report(journey text, since timestamptz DEFAULT NULL,
                                                until timestamptz DEFAULT NULL,
                                                control text DEFAULT NULL)
RETURNS TABLE (split_step text, variant text, enrolled bigint, converted bigint, rate numeric,
               baseline text, lift numeric, lift_low numeric, lift_high numeric, z numeric,
               messages bigint, messages_per_conversion numeric)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(split_report.journey);
  lo timestamptz := coalesce(split_report.since, '-infinity');
  hi timestamptz := coalesce(split_report.until, 'infinity');
BEGIN
  RETURN QUERY
  WITH
  cohort AS (
    SELECT e.id, e.holdout, e.converted_at IS NOT NULL AS conv
      FROM journey.enrollments e
     WHERE e.journey_id = j.id AND e.entered_at >= lo AND e.entered_at < hi),
  -- The variant each enrollment was sent down, per split step (its first
  -- visit there); holdout enrollments travel the split too and form the
  -- split's '(holdout)' group, whatever variant they drew.
  assigned AS (
    SELECT DISTINCT ON (a.enrollment_id, a.step_key) a.step_key AS split,
           CASE WHEN c.holdout THEN '(holdout)' ELSE a.branch END AS variant, c.id, c.conv
      FROM journey.activity a JOIN cohort c ON c.id = a.enrollment_id
     WHERE a.journey_id = j.id AND a.step_type = 'split' AND a.branch IS NOT NULL
     ORDER BY a.enrollment_id, a.step_key, a.visit),
  groups AS (
    SELECT x.split, x.variant, x.id, x.conv FROM assigned x
    UNION ALL
    SELECT NULL, CASE WHEN c.holdout THEN '(holdout)' ELSE '(journey)' END, c.id, c.conv
      FROM cohort c WHERE NOT EXISTS (SELECT 1 FROM assigned)),
  counts AS (
    SELECT g.split, g.variant, count(*) AS n, count(*) FILTER (WHERE g.conv) AS k,
           (SELECT count(*) FROM journey.messages m
             WHERE m.enrollment_id = ANY (array_agg(g.id)) AND m.status = 'sent') AS sent
      FROM groups g GROUP BY g.split, g.variant),
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
           b.n AS n0
      FROM counts c LEFT JOIN base b ON b.split IS NOT DISTINCT FROM c.split)
  SELECT s.split, s.variant, s.n, s.k, round(s.p1::numeric, 4),
         CASE WHEN s.variant = s.bname THEN NULL ELSE s.bname END,
         CASE WHEN s.variant <> s.bname THEN round((s.p1 - s.p0)::numeric, 4) END,
         CASE WHEN s.variant <> s.bname
              THEN round((s.p1 - s.p0 - 1.959964 * sqrt(s.p1 * (1 - s.p1) / s.n
                                                        + s.p0 * (1 - s.p0) / s.n0))::numeric, 4)
         END,
         CASE WHEN s.variant <> s.bname
              THEN round((s.p1 - s.p0 + 1.959964 * sqrt(s.p1 * (1 - s.p1) / s.n
                                                        + s.p0 * (1 - s.p0) / s.n0))::numeric, 4)
         END,
         CASE WHEN s.variant <> s.bname
              THEN round(((s.p1 - s.p0)
                          / nullif(sqrt(s.p1 * (1 - s.p1) / s.n + s.p0 * (1 - s.p0) / s.n0), 0)
                         )::numeric, 3)
         END,
         s.sent, round(s.sent::numeric / nullif(s.k, 0), 2)
    FROM stats s
   ORDER BY s.split NULLS FIRST, s.variant = '(holdout)', s.variant;
END
$$;
COMMENT ON FUNCTION journey.split_report(text, timestamptz, timestamptz, text) IS
  'per split variant and the holdout: enrolled, converted, rate, lift with a 95% confidence interval';

-- Every journey a customer is or was in (of one audience, or of any when
-- audience is null), one row per event of their path in time order: kind
-- 'entered'; 'visit' (a step left: branch or outcome, time spent); 'at' (the
-- step an active enrollment is at now, with what it waits for and until when);
-- 'message' (each message of a step, with its status and reason); 'exited'
-- (with the reason), 'failed' (with the error), 'completed'; 'converted'.
CREATE OR REPLACE FUNCTION journey.customer_journeys(customer_id text, audience regclass DEFAULT NULL)
RETURNS TABLE (journey text, enrollment_id bigint, version int, at timestamptz, kind text,
               step_key text, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  WITH en AS (
    SELECT e.*, j.name FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
     WHERE e.customer_id = $1 AND ($2 IS NULL OR j.audience = $2))
  SELECT r.name, r.id, r.version, r.at, r.kind, r.step_key, r.detail FROM (
    SELECT en.name, en.id, en.version, en.entered_at AS at, 'entered' AS kind, NULL AS step_key,
           CASE WHEN en.holdout THEN 'holdout' END AS detail, 0 AS o, 0 AS visit
      FROM en
    UNION ALL
    SELECT en.name, en.id, a.version, a.at,
           CASE a.outcome WHEN 'moved' THEN 'visit' WHEN 'completed' THEN 'visit' ELSE a.outcome END,
           a.step_key,
           concat_ws(', ', CASE WHEN a.branch IS NOT NULL THEN 'by ' || a.branch END,
                     CASE WHEN a.outcome IN ('exited', 'failed') THEN a.reason END,
                     CASE WHEN a.arrived_at IS NOT NULL
                          THEN 'spent ' || greatest(a.at - a.arrived_at, interval '0')::text END),
           2, a.visit
      FROM en JOIN journey.activity a ON a.enrollment_id = en.id
    UNION ALL
    SELECT en.name, en.id, a.version, a.at, 'converted', a.step_key, NULL, 3, a.visit
      FROM en JOIN journey.activity a ON a.enrollment_id = en.id AND a.converted
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
      FROM en JOIN journey.messages m ON m.enrollment_id = en.id) r
  ORDER BY r.id, r.visit, r.o, r.at
$$;
COMMENT ON FUNCTION journey.customer_journeys(text, regclass) IS
  'one customer''s journeys: entries, step visits, where they are now, messages, exits, conversions';
