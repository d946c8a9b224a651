// SQL shared by several commands and the builder's routes. Every query takes
// its inputs as parameters ($1, ...); none is built from user text.
#pragma once

namespace pgj::cli::sql {

// Per-step counts of one version of a journey ($1 name, $2 version or null for
// the live one): {"journey", "state", "version", "steps": [{step, type,
// entered, now_at, branches}] in definition order, "totals": {enrolled,
// active, completed, exited, failed, converted}}. version is null when the
// journey was never published.
inline constexpr const char* kStats = R"sql(
SELECT jsonb_build_object(
  'journey', j.name, 'state', j.state, 'version', v.ver,
  'steps', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'step', s.step_key, 'type', s.step_type, 'entered', s.entered,
                'now_at', s.now_at, 'branches', s.branches) ORDER BY st.position), '[]')
              FROM journey.step_stats s
              JOIN journey.steps st ON st.journey_id = s.journey_id AND st.version = s.version
                                   AND st.key = s.step_key
             WHERE s.journey_id = j.id AND s.version = v.ver),
  'totals', (SELECT jsonb_build_object(
                'enrolled', count(*),
                'active', count(*) FILTER (WHERE e.status = 'active'),
                'completed', count(*) FILTER (WHERE e.status = 'completed'),
                'exited', count(*) FILTER (WHERE e.status = 'exited'),
                'failed', count(*) FILTER (WHERE e.status = 'failed'),
                'converted', count(e.converted_at))
              FROM journey.enrollments e WHERE e.journey_id = j.id AND e.version = v.ver))
  FROM journey._journey($1) j
 CROSS JOIN LATERAL (SELECT coalesce($2::int, j.published_version) AS ver) v
)sql";

}  // namespace pgj::cli::sql
