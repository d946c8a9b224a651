// Keeps a step that hangs or is interrupted from stalling the engine, whatever
// the calling mode (worker, pg_cron, a manual run_due):
//  - pg_journey.step_timeout bounds the user code of one enrollment's run (call
//    steps, the triggers its field updates fire). It is our own timeout
//    (RegisterTimeout): the tick recognises the cancel it causes and charges it
//    to that enrollment as an ordinary failure, inside its subtransaction,
//    without aborting the tick.
//  - A cancel, statement timeout, pg_terminate_backend or fast shutdown that
//    ends the whole transaction leaves a record that survives the transaction
//    and the connection: a small file under $PGDATA/pg_journey/, written by a
//    transaction-abort callback. The next tick of that database, in any
//    backend, charges the interrupted enrollment (if it is still where it was)
//    and removes the file after its commit.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "pg/postgres.hpp"

namespace pgj::pg {

// Defines pg_journey.step_timeout (called with the other GUCs).
void define_step_guard_gucs();

// pg_journey.step_timeout in milliseconds (0: no limit).
int step_timeout_ms();

// ---- what the tick is doing, for the abort callback ---------------------------

// The tick is running (or writing) one enrollment: an interrupt now is its
// failure. `row_version` is the xmin of the enrollment's row as claimed: the
// charge applies only while nobody has changed the row since.
void inflight_running(Oid extension, int64_t enrollment, int64_t row_version);
// The tick is writing a whole batch: an interrupt now cannot be attributed, so
// the next tick runs these enrollments one at a time.
void inflight_writing(Oid extension, const std::vector<int64_t>& enrollments);
// Nothing that could be cut short (an ordinary failure is charged by the tick).
void inflight_clear();

// ---- our step timeout ---------------------------------------------------------

// Arms pg_journey.step_timeout from now (no-op when 0).
void step_timer_start();
// Disarms it; a cancel it requested but nobody has seen yet is withdrawn.
void step_timer_stop();
// The step (a run, or the writing of effects) returned normally: disarms the
// timer, and terminates the backend if a termination was requested meanwhile
// (see request_tick_termination).
void step_returned();
// Whether `e` is the cancel our step timeout caused (not a statement timeout,
// a lock timeout or a pg_cancel_backend).
bool is_step_timeout(const ErrorData* e);

// ---- a worker terminated during a tick -----------------------------------------

// Called by a worker's SIGTERM handler during a tick (async-signal-safe): the
// cancel the handler raises ends the tick and is never taken for a step
// timeout; should user code swallow it, the tick terminates the backend (die)
// as soon as control returns to it.
void request_tick_termination();

// ---- records left by interrupted ticks ----------------------------------------

struct InterruptedRun {
  int64_t enrollment = 0;
  int64_t row_version = 0;  // xmin of the enrollment's row when it was claimed
};

struct Interrupted {
  std::vector<InterruptedRun> runs;  // to charge
  std::set<int64_t> suspects;        // to run one at a time
};

// Reads the records of this database left for `extension` (records of a
// dropped and recreated extension are discarded); they are removed when the
// current transaction commits, and kept if it aborts.
Interrupted take_interrupted(Oid extension);

}  // namespace pgj::pg
