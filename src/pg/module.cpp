// The shared library's module entry: magic block and load-time initialization.
#include "pg/postgres.hpp"
#include "pg/null_customer.hpp"
#include "pg/worker.hpp"

extern "C" {
PG_MODULE_MAGIC;

void _PG_init(void);

// Defines the GUCs on every load; when preloaded (and not in a binary upgrade)
// also registers the background worker launcher. Without preloading the
// extension works, but journeys advance only through journey.run_due (pg_cron).
void _PG_init(void) {
  pgj::pg::define_gucs(process_shared_preload_libraries_in_progress);
  if (!process_shared_preload_libraries_in_progress || IsBinaryUpgrade) return;
  pgj::pg::install_null_customer_check();
  pgj::pg::register_launcher();
}
}
