// The shared library's module entry: magic block and load-time initialization.
#include "pg/postgres.hpp"

extern "C" {
PG_MODULE_MAGIC;

void _PG_init(void);

// Loaded at server start (shared_preload_libraries) or on first use.
void _PG_init(void) {}
}
