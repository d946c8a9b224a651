// One engine tick (journey.run_due and the background worker): claim due
// enrollments, advance each until it parks or ends, write every effect in
// batched statements, and keep one enrollment's failure inside it.
#pragma once
#include "pg/postgres.hpp"

namespace pgj::pg {

// Processes up to max_enrollments due enrollments at engine time as_of, in the
// current transaction; returns how many it processed. SPI must not be connected.
int run_tick(int max_enrollments, TimestampTz as_of);

}  // namespace pgj::pg
