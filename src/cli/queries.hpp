// SQL shared by several commands and the builder's routes. Every query takes
// its inputs as parameters ($1, ...); none is built from user text.
#pragma once

namespace pgj::cli::sql {

// Per-step counts of one version of a journey ($1 name, $2 version or null for
// the live one): {"journey", "state", "version", "steps": [{step, type,
// entered, now_at, branches}] in definition order, "totals": {enrolled,
// active, completed, exited, failed, converted}}. version is null when the
// journey was never published.
// (No correlated subqueries: on a Citus coordinator, docs/scale-out.md, the
// enrollments and step_stats are distributed and Citus plans only joins with
// the journey read first.)
inline constexpr const char* kStats = R"sql(
WITH jv AS MATERIALIZED (
  SELECT j.id, j.name, j.state, coalesce($2::int, j.published_version) AS ver
    FROM journey._journey($1) j),
steps AS (
  SELECT coalesce(jsonb_agg(jsonb_build_object(
             'step', s.step_key, 'type', s.step_type, 'entered', s.entered,
             'now_at', s.now_at, 'branches', s.branches) ORDER BY st.position), '[]') AS steps
    FROM jv
    JOIN journey.step_stats s ON s.journey_id = jv.id AND s.version = jv.ver
    JOIN journey.steps st ON st.journey_id = s.journey_id AND st.version = s.version
                         AND st.key = s.step_key),
totals AS (
  SELECT jsonb_build_object(
             'enrolled', count(*),
             'active', count(*) FILTER (WHERE e.status = 'active'),
             'completed', count(*) FILTER (WHERE e.status = 'completed'),
             'exited', count(*) FILTER (WHERE e.status = 'exited'),
             'failed', count(*) FILTER (WHERE e.status = 'failed'),
             'converted', count(e.converted_at)) AS totals
    FROM jv JOIN journey.enrollments e ON e.journey_id = jv.id AND e.version = jv.ver)
SELECT jsonb_build_object('journey', jv.name, 'state', jv.state, 'version', jv.ver,
                          'steps', steps.steps, 'totals', totals.totals)
  FROM jv, steps, totals
)sql";

}  // namespace pgj::cli::sql
