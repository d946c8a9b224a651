// journey._track_effects: what an event does to the journeys of its audience.
// Reads the audience's journeys, the customer's active enrollments and the
// event rules of their versions, and lets core::track_effects decide;
// journey.track (src/sql/runtime.sql) records the event and writes the effects.
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/engine.hpp"
#include "core/entity.hpp"
#include "core/error.hpp"
#include "core/event_rules.hpp"
#include "pg/bridge.hpp"
#include "pg/convert.hpp"
#include "pg/datum.hpp"
#include "pg/journey_cache.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "utils/builtins.h"
}

namespace pgj::pg {
namespace {

// The audience's journeys, with the event's entity as each one names it
// ($2 ->> entity_property: the text PostgreSQL gives a JSON value, and its
// JSON type, which core::entity_id reads into the entity key).
PreparedStatement journeys_statement(
    "SELECT x.id, x.name, x.state = 'published', x.state IN ('published', 'paused'),"
    "       x.published_version, x.settings->>'entity_property',"
    "       coalesce($2 ? (x.settings->>'entity_property'), false),"
    "       $2 ->> (x.settings->>'entity_property'),"
    "       jsonb_typeof($2 -> (x.settings->>'entity_property'))"
    "  FROM journey.journeys x WHERE x.audience = $1",
    {OIDOID, JSONBOID});

// The entry time is never later than the transaction's (the tests date entries
// ahead with ref_time): an event is before an entry only if it is backdated.
// The customer's active enrollments in the audience's journeys ($2, read
// before): no join with journey.journeys, so that on a Citus install it is a
// query on the customer's shard alone, which a call routed to the customer's
// node may run (docs/scale-out.md).
PreparedStatement enrollments_statement(
    "SELECT e.id, e.journey_id, e.version, e.entity_key, e.waiting_for,"
    "       ((extract(epoch FROM least(e.entered_at, now())) - 946684800) * 1000000)::int8"
    "  FROM journey.enrollments e"
    " WHERE e.customer_id = $1 AND e.status = 'active' AND e.journey_id = ANY ($2)",
    {TEXTOID, INT8ARRAYOID});

// The event rules of the versions ($1, $2) that name this event ($3): entry
// triggers (kind 0) and exit rules (kind 1), in position order.
PreparedStatement rules_statement(
    "SELECT 0, t.journey_id, t.version, t.position, t.config->>'event', (t.config->'where')::text,"
    "       NULL, false"
    "  FROM journey.entry_triggers t"
    "  JOIN unnest($1::int8[], $2::int4[]) u(j, v) ON t.journey_id = u.j AND t.version = u.v"
    " WHERE t.type = 'event' AND t.config->>'event' = $3"
    " UNION ALL "
    "SELECT 1, r.journey_id, r.version, r.position, r.config->>'event', (r.config->'where')::text,"
    "       r.config->>'name', r.is_goal"
    "  FROM journey.exit_rules r"
    "  JOIN unnest($1::int8[], $2::int4[]) u(j, v) ON r.journey_id = u.j AND r.version = u.v"
    " WHERE r.type = 'event' AND r.config->>'event' = $3"
    " ORDER BY 1, 2, 3, 4",
    {INT8ARRAYOID, INT4ARRAYOID, TEXTOID});

using Version = std::pair<int64_t, int32_t>;

struct TrackInput {
  std::vector<core::TrackJourney> journeys;
  std::vector<core::TrackEnrollment> enrollments;
  std::map<Version, core::VersionEventRules> rules;
};

// The entity key of a JSON value given as its jsonb_typeof and ->> text (either
// null: absent): the one reading of entity ids, for track and enroll.
core::EntityId entity_of(const std::optional<std::string>& json_type,
                         const std::optional<std::string>& text) {
  return core::entity_id(json_type ? *json_type : std::string(),
                         text ? std::optional<std::string_view>(*text) : std::nullopt);
}

// A value that is no entity id of a journey run per entity: 22023 naming the
// journey, the property and where the value came from (`source`: `event "x"`,
// "the context"): core::entity_refusal.
[[noreturn]] void refuse_entity(const std::string& journey, const std::string& property,
                                const std::string& source, const std::string& problem) {
  throw core::entity_refusal(journey, property, source, problem);
}

void read_journeys(TrackInput& in, Oid audience, Datum properties, std::map<int64_t, size_t>& index,
                   std::vector<int32_t>& live_versions) {
  Datum args[2] = {ObjectIdGetDatum(audience), properties};
  const char nulls[2] = {' ', ' '};
  for (const Row& row : journeys_statement.rows(args, nulls)) {
    core::TrackJourney j;
    j.id = std::stoll(*row[0]);
    j.name = *row[1];
    j.published = *row[2] == "t";
    j.live = *row[3] == "t";
    j.entity_property = row[5];
    j.event_has_entity = *row[6] == "t";
    core::EntityId entity = entity_of(row[8], row[7]);
    j.event_entity = std::move(entity.key);
    j.entity_problem = std::move(entity.problem);
    index[j.id] = in.journeys.size();
    live_versions.push_back(j.published && row[4] ? std::stoi(*row[4]) : -1);
    in.journeys.push_back(std::move(j));
  }
}

void read_enrollments(TrackInput& in, const std::string& customer,
                      const std::map<int64_t, size_t>& index, std::vector<Version>& versions) {
  std::vector<int64_t> journey_ids;
  for (const auto& [id, position] : index) journey_ids.push_back(id);
  Datum args[2] = {string_to_text(customer), int8_array(journey_ids)};
  const char nulls[2] = {' ', ' '};
  for (const Row& row : enrollments_statement.rows(args, nulls)) {
    core::TrackEnrollment e;
    e.id = std::stoll(*row[0]);
    e.journey = index.at(std::stoll(*row[1]));
    versions.emplace_back(std::stoll(*row[1]), std::stoi(*row[2]));
    e.entity_key = row[3];
    e.waiting_for = row[4] ? *row[4] : std::string();
    e.entered_at = std::stoll(*row[5]);
    in.enrollments.push_back(std::move(e));
  }
}

void read_rules(TrackInput& in, const std::vector<Version>& versions, const std::string& event) {
  std::vector<int64_t> ids;
  std::vector<int32_t> numbers;
  for (const Version& v : versions) {
    in.rules[v];  // a version without event rules has empty ones
    ids.push_back(v.first);
    numbers.push_back(v.second);
  }
  Datum args[3] = {int8_array(ids), int4_array(numbers), string_to_text(event)};
  const char nulls[3] = {' ', ' ', ' '};
  for (const Row& row : rules_statement.rows(args, nulls)) {
    core::EventRule rule = core::compile_event_rule(
        row[4] ? *row[4] : std::string(), row[5] ? core::Json::parse(*row[5]) : core::Json());
    core::VersionEventRules& rules = in.rules[{std::stoll(*row[1]), std::stoi(*row[2])}];
    if (*row[0] == "0") {
      rules.entries.push_back(std::move(rule));
    } else {
      // (positions are 1-based in journey.exit_rules, 0-based in core)
      rule.reason = core::exit_reason_of(row[6] ? *row[6] : std::string(), std::stoi(*row[3]) - 1);
      rule.is_goal = *row[7] == "t";
      rules.exits.push_back(std::move(rule));
    }
  }
}

// Reads what track_effects needs (SPI connected).
void read_input(TrackInput& in, Oid audience, const std::string& customer, const std::string& event,
                Datum properties) {
  static uint64_t seen_generation = 0;
  if (uint64_t generation = refresh_cache_generation(); generation != seen_generation) {
    seen_generation = generation;
    for (PreparedStatement* s : {&journeys_statement, &enrollments_statement, &rules_statement})
      s->reset();
  }
  std::map<int64_t, size_t> index;
  std::vector<int32_t> live_versions;
  read_journeys(in, audience, properties, index, live_versions);
  std::vector<Version> versions;
  for (size_t i = 0; i < in.journeys.size(); ++i)
    if (live_versions[i] >= 0) versions.emplace_back(in.journeys[i].id, live_versions[i]);
  size_t first_enrollment = versions.size();
  read_enrollments(in, customer, index, versions);
  read_rules(in, versions, event);
  for (size_t i = 0; i < in.journeys.size(); ++i)
    if (live_versions[i] >= 0)
      in.journeys[i].rules = &in.rules[{in.journeys[i].id, live_versions[i]}];
  for (size_t i = 0; i < in.enrollments.size(); ++i)
    in.enrollments[i].rules = &in.rules[versions[first_enrollment + i]];
}

std::string quote_literal(const std::string& text) {
  const char* t = text.c_str();
  return std::string(pg_guard([&] { return static_cast<const char*>(quote_literal_cstr(t)); }));
}

// The event would enroll no one into a journey that runs per entity.
[[noreturn]] void refuse_missing_entity(const core::TrackJourney& journey, const std::string& event,
                                        const std::string& customer_given) {
  const std::string& property = *journey.entity_property;
  throw core::Error(core::sqlstate::kInvalidParameter,
                    "event \"" + event + "\" enters journey \"" + journey.name +
                        "\", which runs one enrollment per \"" + property +
                        "\": its properties need that key",
                    {},
                    "pass the entity, as in journey.track(" + quote_literal(customer_given) + ", " +
                        quote_literal(event) + ", '{\"" + property + "\": \"...\"}')");
}

}  // namespace
}  // namespace pgj::pg

using namespace pgj;

// journey._track_effects(audience, customer, event, properties, customer_given,
// occurred_at):
// what the event does (core::track_effects): the journeys it enters (with the
// entity), the enrollments it ends (reason, goal) and those it wakes. Raises
// 22023 when it enters a journey that runs per entity without naming one.
PGJ_FUNCTION(pgj_track_effects) {
  for (int i = 0; i < 6; ++i)
    if (PG_ARGISNULL(i)) throw core::Error("22004", "_track_effects: arguments must not be null");
  Oid audience = PG_GETARG_OID(0);
  std::string customer = pg::arg_string(fcinfo, 1);
  std::string event = pg::arg_string(fcinfo, 2);
  Datum properties = PG_GETARG_DATUM(3);
  std::string customer_given = pg::arg_string(fcinfo, 4);
  core::Json props = pg::jsonb_to_json(properties);
  pg::SpiConnection spi;
  pg::TrackInput in;
  pg::read_input(in, audience, customer, event, properties);
  const int64_t occurred_at = PG_GETARG_TIMESTAMPTZ(5);  // microseconds since 2000
  core::TrackEffects fx =
      core::track_effects(event, props, in.journeys, in.enrollments, occurred_at);
  if (const core::TrackJourney* j = fx.invalid_entity)
    pg::refuse_entity(j->name, *j->entity_property, "event \"" + event + "\"", j->entity_problem);
  if (fx.missing_entity) pg::refuse_missing_entity(*fx.missing_entity, event, customer_given);
  spi.finish();
  std::vector<int64_t> enter_ids, exit_ids;
  std::vector<std::optional<std::string>> entities, reasons;
  std::vector<bool> goals;
  for (const auto& e : fx.entered) {
    enter_ids.push_back(e.journey_id);
    entities.push_back(e.entity);
  }
  for (const auto& x : fx.exits) {
    exit_ids.push_back(x.enrollment_id);
    reasons.push_back(x.reason);
    goals.push_back(x.is_goal);
  }
  Datum values[6] = {pg::int8_array(enter_ids), pg::text_array(entities), pg::int8_array(exit_ids),
                     pg::text_array(reasons),   pg::bool_array(goals),    pg::int8_array(fx.wakes)};
  bool nulls[6] = {false, false, false, false, false, false};
  return pg::result_record(fcinfo, values, nulls);
}

// journey._entity_key(journey, settings, context, key_list): the entity key of
// the enrollment journey.enroll makes with this context in a journey with
// these (published) settings: the context's value of the property core names
// (core::entity_property_of), read as track reads an event's (core::entity_id);
// null for a journey that runs one enrollment per customer. Raises 22023 naming
// the journey and the property when the context lacks the key or its value is
// no entity id (core::context_entity). With key_list ('enroll': enroll_query
// and scheduled triggers; 'simulate') the caller has a list of customer keys
// instead: refused (22023) for a journey that runs per entity
// (core::refuse_key_list), else null.
PGJ_FUNCTION(pgj_entity_key) {
  if (PG_ARGISNULL(0)) throw core::Error("22004", "_entity_key: journey must not be null");
  std::string journey = pg::arg_string(fcinfo, 0);
  core::Json settings_json =
      PG_ARGISNULL(1) ? core::Json::object() : pg::jsonb_to_json(PG_GETARG_DATUM(1));
  if (!PG_ARGISNULL(3)) {
    std::string what = pg::arg_string(fcinfo, 3);
    if (what != "enroll" && what != "simulate")
      throw core::Error("22023", "_entity_key: key_list must be 'enroll' or 'simulate'");
    // A draft's settings that cannot be read refuse nothing here: simulate
    // validates the draft next and reports them.
    core::JourneySettings settings;
    try {
      settings = core::parse_settings(settings_json);
    } catch (const core::Error&) {
      PG_RETURN_NULL();
    }
    core::refuse_key_list(journey, settings,
                          what == "simulate" ? core::KeyList::Simulate : core::KeyList::Enroll);
    PG_RETURN_NULL();
  }
  core::JourneySettings settings = core::parse_settings(settings_json);
  std::optional<std::string> property = core::entity_property_of(settings);
  if (!property) PG_RETURN_NULL();
  pg::JsonbKey value;
  if (!PG_ARGISNULL(2)) value = pg::jsonb_key(PG_GETARG_DATUM(2), *property);
  std::optional<std::string> entity = core::context_entity(
      journey, settings, value.json_type,
      value.text ? std::optional<std::string_view>(*value.text) : std::nullopt);
  if (!entity) PG_RETURN_NULL();
  return pg::string_to_text(*entity);
}
