// Background workers: GUCs, the launcher, the per-database workers, wake-ups.
#pragma once

namespace pgj::pg {

// Defines the pg_journey.* GUCs and reserves the prefix (every load; the
// workers' topology settings only while preloading).
void define_gucs(bool preloading);

// Registers the launcher and the shared memory of the workers (only while
// shared_preload_libraries is being processed).
void register_launcher();

// Sets the latches of this database's workers when the current transaction
// commits (nothing when the library was not preloaded).
void wake_workers_after_commit();

// Whether this transaction will wake the workers when it commits; and setting
// that (journey.simulate puts back what it found, so that its rolled-back
// enrollments wake nobody).
bool wakes_workers_on_commit();
void set_wake_workers_on_commit(bool wake);

}  // namespace pgj::pg
