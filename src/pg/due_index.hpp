// The rule "walk the due index whatever the statistics say", in one place.
// Right after a bulk enrollment the statistics still describe a small
// journey.enrollments, and the planner would pick (and a prepared plan keep) a
// sequential scan plus a sort of every enrollment for the tick's claim and for
// the worker's "when is the next one due" query. Between begin and end the
// planner walks an index in order instead (enable_seqscan and enable_sort off).
#pragma once
#include "pg/postgres.hpp"

namespace pgj::pg {

// Plain PostgreSQL calls that may ereport: from C++, call them inside pg_guard.
// begin returns the GUC nest level that end restores.
int begin_due_index_walk();
void end_due_index_walk(int level);

}  // namespace pgj::pg
