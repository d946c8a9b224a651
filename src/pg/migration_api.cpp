// SQL-callable functions behind journey.publish(migrate => true), its
// preview and resume(catch_up => 'skip'): what they do to the enrollments at
// each step is decided by core (src/core/migration.hpp) from the compiled steps;
// src/sql/lifecycle.sql applies the answers set-based (audit-9b S6, S7).
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/engine.hpp"
#include "core/error.hpp"
#include "core/graph.hpp"
#include "core/migration.hpp"
#include "pg/bridge.hpp"
#include "pg/convert.hpp"
#include "pg/journey_cache.hpp"
#include "pg/spi.hpp"

namespace pgj::pg {
namespace {

core::StepType step_type(const Cell& name) {
  auto type = name ? core::parse_step_type(*name) : std::nullopt;
  if (!type) throw core::Error("XX000", "pg_journey: unknown step type " + name.value_or("null"));
  return *type;
}

// Adds a row to the materialized result of a set-returning function.
void put_row(FunctionCallInfo fcinfo, Datum* values, bool* nulls) {
  pg_guard([&] {
    auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  });
}

// The steps of version `version` a migration moves enrollments to, by key: the
// compiled steps of a published version (through the cache the tick uses), or,
// for a draft (publish_preview), each step's key and type only (all a preview
// shows is whether an enrollment moves).
struct NewSteps {
  const CachedJourney* published = nullptr;
  std::map<std::string, core::CompiledStep> draft;

  const core::CompiledStep* find(const std::string& key) const {
    if (published) {
      int i = published->compiled.find(key);
      return i < 0 ? nullptr : &published->compiled.steps[i];
    }
    auto it = draft.find(key);
    return it == draft.end() ? nullptr : &it->second;
  }
};

NewSteps new_steps(int64_t journey_id, int32_t version) {
  const std::vector<Cell> params = {std::to_string(journey_id), std::to_string(version)};
  NewSteps steps;
  auto published = spi_rows(
      "SELECT 1 FROM journey.versions v"
      " WHERE v.journey_id = $1::int8 AND v.version = $2::int4 AND v.definition IS NOT NULL",
      params, /*read_only=*/false);
  if (!published.empty()) {
    steps.published = &cached_journey(journey_id, version);
    return steps;
  }
  for (const Row& row : spi_rows("SELECT s.key, s.type::text FROM journey.steps s"
                                 " WHERE s.journey_id = $1::int8 AND s.version = $2::int4",
                                 params, /*read_only=*/false)) {
    core::CompiledStep step;
    step.key = row.at(0).value_or("");
    step.type = step_type(row.at(1));
    steps.draft.emplace(step.key, std::move(step));
  }
  return steps;
}

}  // namespace
}  // namespace pgj::pg

using namespace pgj;

// journey._migrations(journey_id, new_version): per step of the journey's other
// versions (old_version, step_key), what publish(migrate => true) onto
// new_version does to an active enrollment there (core::migration_of): whether
// it moves; whether it keeps its place (parked_at, wait_deadline); and, parked,
// what it waits for, whether the next tick re-arms it and whether it runs at
// the next tick (due_now: next_run_at at the latest now). One not parked moves
// as it is. new_version a published version (publish, after it made it live) or
// the draft (publish_preview: moves only).
PGJ_FUNCTION(pgj_migrations) {
  const int64_t journey_id = PG_GETARG_INT64(0);
  const int32_t new_version = PG_GETARG_INT32(1);
  pg::SpiConnection spi;
  // First: the publish calling this announced its new version
  // (journey._journeys_changed), and the versions it retired.
  pg::refresh_cache_generation();
  pg::CachePin pin;  // `steps` points into the journey cache
  pg::NewSteps steps = pg::new_steps(journey_id, new_version);
  auto old_steps = pg::spi_rows(
      "SELECT s.version::text, s.key, s.type::text FROM journey.steps s"
      " WHERE s.journey_id = $1::int8 AND s.version <> $2::int4 ORDER BY s.version, s.key",
      {std::to_string(journey_id), std::to_string(new_version)}, /*read_only=*/false);
  pg::pg_guard([&] { InitMaterializedSRF(fcinfo, 0); });
  // Probes for the wake time of a parked enrollment: one due far ahead is run
  // now when core brings its wake time forward.
  constexpr int64_t kNow = 0, kLater = std::numeric_limits<int64_t>::max();
  for (const pg::Row& row : old_steps) {
    const std::string& key = row.at(1).value();
    core::Migration m =
        core::migration_of(pg::step_type(row.at(2)), steps.find(key), true, kLater, kNow);
    Datum values[7] = {Int32GetDatum(std::stoi(row.at(0).value())),
                       pg::string_to_text(key),
                       BoolGetDatum(m.moves),
                       BoolGetDatum(m.keeps_place),
                       m.waiting_for ? pg::string_to_text(*m.waiting_for) : Datum(0),
                       BoolGetDatum(m.rearm),
                       BoolGetDatum(m.next_run_at != kLater)};
    bool nulls[7] = {false, false, false, false, !m.waiting_for, false, false};
    pg::put_row(fcinfo, values, nulls);
  }
  spi.finish();
  return static_cast<Datum>(0);
}

// journey._skip_rearms(journey_id, versions): the steps (version, step_key) of
// these published versions of the journey at which resume(catch_up => 'skip')
// re-arms a parked enrollment that fell due during the pause
// (core::rearms_on_skip: a delay until a time of day), from the compiled steps.
PGJ_FUNCTION(pgj_skip_rearms) {
  const int64_t journey_id = PG_GETARG_INT64(0);
  pg::ArrayElements versions = pg::array_arg(fcinfo, 1, INT4OID);
  pg::SpiConnection spi;
  pg::refresh_cache_generation();
  pg::CachePin pin;
  pg::pg_guard([&] { InitMaterializedSRF(fcinfo, 0); });
  for (int i = 0; i < versions.count; ++i) {
    if (versions.nulls[i]) continue;
    const int32_t version = DatumGetInt32(versions.values[i]);
    const pg::CachedJourney& journey = pg::cached_journey(journey_id, version);
    for (const core::CompiledStep& step : journey.compiled.steps) {
      if (!core::rearms_on_skip(step, true, 0, 0)) continue;  // parked, due now
      Datum values[2] = {Int32GetDatum(version), pg::string_to_text(step.key)};
      bool nulls[2] = {false, false};
      pg::put_row(fcinfo, values, nulls);
    }
  }
  spi.finish();
  return static_cast<Datum>(0);
}
