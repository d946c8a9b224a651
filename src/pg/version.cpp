// Version check between the loaded library and the installed extension
// (Citus's CheckCitusVersion is the model).
#include "pg/version.hpp"

#include "pg/postgres.hpp"

extern "C" {
#include "access/genam.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "catalog/namespace.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
}

#ifndef PGJ_EXTVERSION
#error "PGJ_EXTVERSION must be defined by the build (pg_journey.control's default_version)"
#endif

namespace pgj::pg {

namespace {
// Whether the installed extension was found of the library's version, and the
// OID journey.enrollments had then. A session may drop the extension and create
// it anew at another version (CREATE EXTENSION pg_journey VERSION '0.1'): the
// drop of journey.enrollments is a relcache invalidation of that OID, which
// makes the next call check again (a check per call or per transaction would
// cost a catalog scan each time).
bool version_checked = false;
Oid checked_relation = InvalidOid;
bool callback_registered = false;

void forget_version_check(Datum, Oid relid) {
  if (relid == InvalidOid || relid == checked_relation) version_checked = false;
}
}  // namespace

const char* library_version() {
  return PGJ_EXTVERSION;
}

char* installed_extension_version() {
  Relation rel = table_open(ExtensionRelationId, AccessShareLock);
  ScanKeyData key;
  ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
              CStringGetDatum("pg_journey"));
  SysScanDesc scan = systable_beginscan(rel, ExtensionNameIndexId, true, nullptr, 1, &key);
  char* version = nullptr;
  HeapTuple tuple = systable_getnext(scan);
  if (HeapTupleIsValid(tuple)) {
    bool isnull = false;
    Datum value = heap_getattr(tuple, Anum_pg_extension_extversion, RelationGetDescr(rel), &isnull);
    if (!isnull) version = text_to_cstring(DatumGetTextPP(value));
  }
  systable_endscan(scan);
  table_close(rel, AccessShareLock);
  return version;
}

void require_extension_version() {
  if (version_checked || creating_extension) return;
  if (!callback_registered) {
    CacheRegisterRelcacheCallback(forget_version_check, 0);
    callback_registered = true;
  }
  char* installed = installed_extension_version();
  if (installed && strcmp(installed, PGJ_EXTVERSION) != 0)
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("loaded pg_journey library version %s differs from installed extension "
                           "version %s",
                           PGJ_EXTVERSION, installed),
                    errhint("Run ALTER EXTENSION pg_journey UPDATE and try again.")));
  // Not installed at all: nothing to compare yet (the check runs again later).
  if (installed) {
    Oid schema = get_namespace_oid("journey", true);
    checked_relation = OidIsValid(schema) ? get_relname_relid("enrollments", schema) : InvalidOid;
    version_checked = OidIsValid(checked_relation);
  }
}

}  // namespace pgj::pg
