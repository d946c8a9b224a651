// One engine tick (journey.run_due and the background worker): claim due
// enrollments, advance each until it parks or ends, write every effect in
// batched statements, and keep one enrollment's failure inside it.
#pragma once
#include <string>
#include <vector>

#include "core/condition.hpp"
#include "pg/catalog.hpp"
#include "pg/postgres.hpp"

namespace pgj::pg {

// Processes up to max_enrollments due enrollments at engine time as_of, in the
// current transaction; returns how many it processed. SPI must not be connected.
int run_tick(int max_enrollments, TimestampTz as_of);

// Whether this backend's last run_tick ran on the local shards of a Citus
// install (docs/scale-out.md): the worker then does not look for the next due
// time through the distributed table, and sleeps pg_journey.naptime instead.
bool last_tick_on_shards();

// A simulation (journey.simulate) is running in this backend: its ticks claim
// only the enrollments of that journey version (the simulated ones), leave the
// records of interrupted ticks for the real ticks, and call steps do not call
// their function (pg_runtime.cpp). Cleared at the end of the top transaction
// whatever happens.
void begin_simulation(int64_t journey_id, int32_t version);
void end_simulation();
bool simulating();
// The simulation's ticks claim nothing due before `floor` (the virtual time
// up to which everything is known to have run; DT_NOBEGIN: no bound).
void set_simulation_floor(TimestampTz floor);
// Whether a tick of the simulation wrote field updates since the last call:
// the customer table's triggers may have made enrollments due at now().
bool simulation_wrote_customers();

// What the tick was doing when error `e` was raised, read from the line its
// error context callback added ("running enrollment 5034 of journey \"napj\"
// version 1 at step \"c\"", "writing the effects of a batch of 3
// enrollments"), palloc'd; null when it was doing neither. Plain C: safe in a
// PG_CATCH block (the worker's log line of a tick a SIGTERM interrupted).
char* tick_work_of(const ErrorData* e);

// Whether a tick is running in this backend (user code it runs must not
// author or publish journeys: see journey._invoking_role).
bool tick_in_progress();

// Reads one customer's row of an audience as the tick reads it (`columns`
// converted, the others null) into *row; false when the customer does not
// exist. SPI must be connected. (journey.preview) exact_text, when given,
// receives the exact text of its numeric columns (run_enrollment's).
bool read_customer_row(const AudienceInfo& audience, const std::string& customer,
                       const std::vector<int>& columns, std::vector<core::Value>* row,
                       std::vector<std::optional<std::string>>* exact_text = nullptr);

}  // namespace pgj::pg
