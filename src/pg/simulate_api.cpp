// SQL-callable helpers of journey.simulate (src/sql/simulate.sql): the scope of
// a simulation's ticks, its tick, and putting back the sequences its rolled-back
// rows advanced.
#include <string>

#include "core/error.hpp"
#include "pg/bridge.hpp"
#include "pg/journey_cache.hpp"
#include "pg/tick.hpp"
#include "pg/worker.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

using namespace pgj;

namespace {

// Whether this transaction was going to wake the workers when the simulation
// began (put back when it ends), and whether that is still to do.
bool wake_before_simulation = false;
bool wake_saved = false;

}  // namespace

// journey._simulation(journey_id, version): begins the simulation of that
// journey version in this backend (ticks claim only its enrollments, call steps
// call nothing); with nulls, ends it: the workers are woken at commit only if
// they were going to be before, and the compiled journeys are forgotten.
PGJ_FUNCTION(pgj_simulation) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) {
    pg::end_simulation();
    if (wake_saved) pg::set_wake_workers_on_commit(wake_before_simulation);
    wake_saved = false;
    pg::forget_cached_journeys();
    PG_RETURN_VOID();
  }
  if (pg::tick_in_progress())
    throw core::Error("55000", "journey.simulate cannot run inside a running tick",
                      "a call step's function called journey.simulate");
  if (pg::simulating())
    throw core::Error("55000", "journey.simulate cannot run inside a simulation");
  wake_before_simulation = pg::wakes_workers_on_commit();
  wake_saved = true;
  pg::begin_simulation(PG_GETARG_INT64(0), PG_GETARG_INT32(1));
  PG_RETURN_VOID();
}

// journey._simulate_tick(as_of): one tick of the running simulation at virtual
// time as_of (its enrollments only, so no permission to move the clock is
// needed); returns how many enrollments it advanced.
PGJ_FUNCTION(pgj_simulate_tick) {
  if (!pg::simulating())
    throw core::Error("55000", "journey._simulate_tick runs only inside journey.simulate");
  return Int32GetDatum(pg::run_tick(10000, PG_GETARG_TIMESTAMPTZ(0)));
}

// journey._restore_sequence(seq, before, after): after a simulation rolled back,
// puts a sequence (owned by a column, cache 1) back to where it was, without
// ever handing out a value twice. Under a lock that keeps nextval out, and only
// when nobody else took a value since the simulation's last one (its value is
// still `after`) and no transaction that took one is still open (the lock was
// free): the sequence goes back to `before`, or to the largest value its column
// holds in the latest snapshot when that is higher (committed rows of other
// sessions that took values meanwhile). before/after null: never called.
// Returns 'restored', 'busy' (a session that took a value is still open) or
// 'moved' (a value was taken after the simulation's).
PGJ_FUNCTION(pgj_restore_sequence) {
  Oid seq = PG_GETARG_OID(0);
  bool before_null = PG_ARGISNULL(1), after_null = PG_ARGISNULL(2);
  int64 before = before_null ? 0 : PG_GETARG_INT64(1);
  int64 after = after_null ? 0 : PG_GETARG_INT64(2);
  const char* result = pg::pg_guard([&]() -> const char* {
    if (!ConditionalLockRelationOid(seq, ShareRowExclusiveLock)) return "busy";
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "pg_journey: SPI_connect failed");
    const char* name =
        quote_qualified_identifier(get_namespace_name(get_rel_namespace(seq)), get_rel_name(seq));
    StringInfoData sql;
    initStringInfo(&sql);
    appendStringInfo(&sql, "SELECT last_value, is_called FROM %s", name);
    if (SPI_execute(sql.data, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
      elog(ERROR, "pg_journey: cannot read sequence %s", name);
    bool isnull;
    int64 current =
        DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    bool called =
        DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
    if (called == after_null || (called && current != after)) {
      SPI_finish();
      UnlockRelationOid(seq, ShareRowExclusiveLock);
      return "moved";
    }
    // The column the sequence numbers (serial or identity), and its largest
    // value as of now, whatever the transaction's isolation level.
    resetStringInfo(&sql);
    appendStringInfo(
        &sql,
        "SELECT format('SELECT max(%%I)::int8 FROM %%s', a.attname, d.refobjid::regclass)"
        "  FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_attribute a"
        "    ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid"
        " WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = %u"
        "   AND d.refclassid = 'pg_catalog.pg_class'::regclass"
        "   AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')",
        seq);
    if (SPI_execute(sql.data, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
      elog(ERROR, "pg_journey: sequence %s is not owned by a column", name);
    char* max_query = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
    SPIPlanPtr plan = SPI_prepare(max_query, 0, nullptr);
    if (!plan) elog(ERROR, "pg_journey: cannot prepare %s", max_query);
    if (SPI_execute_snapshot(plan, nullptr, nullptr, GetLatestSnapshot(), InvalidSnapshot, true,
                             false, 1) != SPI_OK_SELECT ||
        SPI_processed != 1)
      elog(ERROR, "pg_journey: cannot run %s", max_query);
    Datum max_datum = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    bool target_null = before_null;
    int64 target = before;
    if (!isnull && (before_null || DatumGetInt64(max_datum) > before)) {
      target = DatumGetInt64(max_datum);
      target_null = false;
    }
    if (target_null) {
      // Never called before: back to its start, not called.
      resetStringInfo(&sql);
      appendStringInfo(&sql,
                       "SELECT pg_catalog.setval(%u, s.seqstart, false)"
                       "  FROM pg_catalog.pg_sequence s WHERE s.seqrelid = %u",
                       seq, seq);
    } else {
      resetStringInfo(&sql);
      appendStringInfo(&sql, "SELECT pg_catalog.setval(%u, " INT64_FORMAT ", true)", seq, target);
    }
    if (SPI_execute(sql.data, false, 1) != SPI_OK_SELECT)
      elog(ERROR, "pg_journey: cannot set sequence %s", name);
    SPI_finish();
    UnlockRelationOid(seq, ShareRowExclusiveLock);
    return "restored";
  });
  return pg::pg_guard([result] { return CStringGetTextDatum(result); });
}
