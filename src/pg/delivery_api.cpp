// SQL-callable helpers of delivery (src/sql/delivery.sql): recipients per
// channel, suppressions, message events, preview.
#include "pg/bridge.hpp"

extern "C" {
#include "utils/inval.h"
}

using namespace pgj;

// journey._invalidate_audience(relation regclass): makes every backend reload
// what it cached about the audience (its recipient columns, its e-mail and time
// zone columns) once this transaction commits.
PGJ_FUNCTION(pgj_invalidate_audience) {
  Oid relid = PG_GETARG_OID(0);
  pg::pg_guard([relid] { CacheInvalidateRelcacheByRelid(relid); });
  PG_RETURN_VOID();
}
