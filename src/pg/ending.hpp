// The one statement that ends enrollments (status away from active): the
// tick's completed, exited and failed runs, and journey._end_enrollments (track's
// and the customer-table trigger's exit rules, journey.exit, re-entry, archive,
// bounces) all run it, as one prepared plan kept per backend (and per table map
// on a Citus node, docs/scale-out.md).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "pg/postgres.hpp"

namespace pgj::pg {

// The enrollments to end, one entry each: status ('completed', 'exited' or
// 'failed'), reason (exit_reason when exited, last_error when failed),
// goal (an exit by a goal exit rule: converts). A tick that ran an enrollment
// also gives its final state (`final`), written in the same update: its step,
// context, last event, visits, conversion by a goal visit and error SQLSTATE;
// `visited` when the run wrote the visit of the step it ended at itself (a
// completion), so that no second activity row is written for it.
struct Endings {
  std::vector<int64_t> id;
  std::vector<std::optional<std::string>> status, reason;
  std::vector<bool> goal;
  // the final state of a run (the tick); empty for other callers
  std::vector<bool> final, visited;
  std::vector<std::optional<std::string>> step, context, last_event, error_code;
  std::vector<int32_t> visits;
  std::vector<std::optional<int64_t>> converted_at;  // unix microseconds
  // each one's customer, where the caller knows it (empty: read by id); the
  // ending matches (customer_id, id), the key of a Citus shard
  std::vector<std::optional<std::string>> customer;

  bool empty() const { return id.empty(); }
};

// Ends the active ones of `endings` at `at` (a goal exit converts at
// converted_at, default `at`) and writes the activity row of the step each ends
// at. lock_first: lock them in id order first and end them as the holder of a
// lock left them (callers that have not claimed them). SPI must be connected.
void end_enrollments(const Endings& endings, TimestampTz at,
                     std::optional<TimestampTz> converted_at, bool lock_first);

// A call step's function running in this backend's tick (set by the tick just
// before the function runs, cleared when it returns): an ending that reaches
// this enrollment meanwhile (the function deleted the customer, fired an exit
// rule, called journey.exit, track of an exit event or a re-entry) ends it at
// the call step with the state the run reached, as the tick would have: its
// step, visits before the call, context and last event; the ending's activity
// row is then the call step's visit (docs/runtime.md, failure handling).
struct CallInProgress {
  int64_t enrollment = 0;
  std::string step;
  int32_t visits = 0;
  std::string context;
  std::optional<std::string> last_event;
};
// Sets (or clears, nullptr) the call under way; `call` must outlive it.
void set_call_in_progress(const CallInProgress* call);

}  // namespace pgj::pg
