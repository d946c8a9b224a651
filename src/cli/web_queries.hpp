// SQL of the builder's routes. Inputs are parameters ($1, ...) only.
#pragma once

namespace pgj::cli::sql {

// One journey for the canvas ($1 name, $2 version or null: the latest, which
// is the draft when there is one): the journey, the version's definition and
// its validation issues (a published version's with the templates it froze),
// and every version.
inline constexpr const char* kJourneyDoc = R"sql(
SELECT jsonb_build_object(
  'journey', jsonb_build_object(
     'id', j.id, 'name', j.name, 'description', j.description, 'state', j.state,
     'audience', journey._relation_name(j.audience), 'owner', j.owner::text,
     'live_version', j.published_version,
     'draft_version', (SELECT x.version FROM journey.versions x
                        WHERE x.journey_id = j.id AND x.status = 'draft')),
  'version', v.version, 'status', v.status,
  'definition', journey.export(j.name, v.version),
  'issues', (SELECT coalesce(jsonb_agg(to_jsonb(i)), '[]')
               FROM journey._validate_version(journey.export(j.name, v.version), j.owner,
                                              v.templates) i),
  'versions', (SELECT jsonb_agg(jsonb_build_object(
                  'version', x.version, 'status', x.status, 'created_at', x.created_at,
                  'published_at', x.published_at, 'published_by', x.published_by)
                  ORDER BY x.version DESC)
                 FROM journey.versions x WHERE x.journey_id = j.id))
  FROM journey._journey($1) j
  JOIN journey.versions v ON v.journey_id = j.id
   AND v.version = coalesce($2::int, (SELECT max(x.version) FROM journey.versions x
                                       WHERE x.journey_id = j.id))
)sql";

// Registered audiences with their columns (for column pickers).
inline constexpr const char* kAudiences = R"sql(
SELECT coalesce(jsonb_agg(jsonb_build_object(
         'relation', journey._relation_name(a.relation), 'key_column', a.key_column,
         'email_column', a.email_column, 'timezone_column', a.timezone_column,
         'columns', (SELECT jsonb_agg(jsonb_build_object('name', c.name, 'type', c.type_name,
                                                        'category', c.category) ORDER BY c.attnum)
                       FROM journey._audience_columns(a.relation) c))
         ORDER BY journey._relation_name(a.relation)), '[]')
  FROM journey.audiences a
)sql";

// Before a publish ($1 name): per step, the active enrollments and their fate
// (publish_preview), and the draft's issues.
inline constexpr const char* kPublishPreview = R"sql(
SELECT jsonb_build_object(
  'live_version', j.published_version,
  'draft_version', (SELECT x.version FROM journey.versions x
                     WHERE x.journey_id = j.id AND x.status = 'draft'),
  'in_flight', (SELECT coalesce(jsonb_agg(to_jsonb(p)), '[]') FROM journey.publish_preview(j.name) p),
  'issues', (SELECT coalesce(jsonb_agg(to_jsonb(i)), '[]') FROM journey.validate(j.name) i))
  FROM journey._journey($1) j
)sql";

// A customer's enrollments in a journey ($1 name, $2 customer id), newest
// first, each with its path (the step visits and the ways out taken).
inline constexpr const char* kCustomerPath = R"sql(
SELECT coalesce(jsonb_agg(jsonb_build_object(
         'enrollment', e.id, 'version', e.version, 'status', e.status, 'step', e.step_key,
         'entered_at', e.entered_at, 'ended_at', e.ended_at, 'exit_reason', e.exit_reason,
         'converted_at', e.converted_at, 'next_run_at', e.next_run_at,
         'waiting_for', e.waiting_for, 'last_error', e.last_error, 'context', e.context,
         'path', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                            'step', a.step_key, 'type', a.step_type, 'branch', a.branch, 'at', a.at)
                          ORDER BY a.visit), '[]')
                    FROM journey.activity a WHERE a.enrollment_id = e.id))
         ORDER BY e.entered_at DESC, e.id DESC), '[]')
  FROM journey._journey($1) j
  JOIN journey.enrollments e ON e.journey_id = j.id AND e.customer_id = $2
)sql";

}  // namespace pgj::cli::sql
