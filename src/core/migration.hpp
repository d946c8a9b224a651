// Version migration and resume's re-arm (audit-9b S6, S7): what
// publish(migrate => true) does to an active enrollment of an older version,
// and which parked enrollments resume(catch_up => 'skip') re-arms, decided
// from the compiled steps. The pg layer (src/pg/runtime_api.cpp:
// journey._migrations, journey._skip_rearms) asks once per step of the older
// versions; src/sql/lifecycle.sql applies the answers set-based.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "core/engine.hpp"
#include "core/graph.hpp"

namespace pgj::core {

// An enrollment after a migrating publish.
struct Migration {
  // It moves onto the new version: the new version has a step of its key
  // (new_step). When it does not move, nothing below applies: it stays as it
  // is, on its version.
  bool moves = false;
  // parked_at and wait_deadline are kept (a step of the same type: the next
  // tick re-arms it, counted from its arrival); otherwise cleared (a step of
  // another type is entered afresh).
  bool keeps_place = false;
  // The event a parked enrollment now waits for (track() wakes it with it): the
  // new step's, at a wait_for_event kept in place; nothing otherwise.
  std::optional<std::string> waiting_for;
  // The next tick re-arms the parked step under the new version's config
  // (event, where, timeout, duration, until).
  bool rearm = false;
  // When it runs next: a parked enrollment at the next tick (its wake time at
  // the latest now: a re-armed one parks again under the new config, one at a
  // step of another type enters it), one that is not parked when it was due.
  std::optional<int64_t> next_run_at;
};

// The migration of an enrollment at a step of type `old_type` of its version,
// `new_step` the new version's step of the same key (null: none), parked or
// not, due at `next_run_at` (null: never), at `now`.
Migration migration_of(StepType old_type, const CompiledStep* new_step, bool parked,
                       std::optional<int64_t> next_run_at, int64_t now);

// Whether resume(catch_up => 'skip') re-arms an enrollment at `step`: parked at
// a delay until a time of day (not a duration, not a date column) that fell due
// during the pause (next_run_at at or before `now`): it waits for the next
// window instead of firing late (the tick's re-arm, engine.cpp).
bool rearms_on_skip(const CompiledStep& step, bool parked, std::optional<int64_t> next_run_at,
                    int64_t now);

}  // namespace pgj::core
