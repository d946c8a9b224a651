// SQL-callable helpers of journey.simulate (src/sql/simulate.sql): the scope of
// a simulation's ticks, its clock, its customers query, and putting back the
// sequences its rolled-back rows advanced.
#include <optional>
#include <string>

#include "core/error.hpp"
#include "pg/as_owner.hpp"
#include "pg/bridge.hpp"
#include "pg/convert.hpp"
#include "pg/due_index.hpp"
#include "pg/journey_cache.hpp"
#include "pg/spi.hpp"
#include "pg/tick.hpp"
#include "pg/worker.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "storage/lmgr.h"
#include "access/xact.h"
#include "utils/builtins.h"
#include "utils/guc.h"
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

// When the simulated version's next enrollment falls due after $3 (its due
// index walked from $3 on, past the entries the run has left behind).
pg::PreparedStatement next_due_statement(
    "SELECT e.next_run_at FROM journey.enrollments e"
    " WHERE e.status = 'active' AND e.next_run_at > $3"
    "   AND e.journey_id = $1 AND e.version = $2"
    " ORDER BY e.next_run_at LIMIT 1",
    {INT8OID, INT4OID, TIMESTAMPTZOID});

// Ticks of one virtual time before a simulation is said not to settle.
constexpr int kMaxTicksAtOneTime = 1000;

// The next time an enrollment of the simulation falls due after t (nullopt:
// none).
std::optional<TimestampTz> next_due(int64_t journey_id, int32_t version, TimestampTz t) {
  pg::SpiConnection spi;
  static uint64_t seen_generation = 0;
  if (uint64_t generation = pg::refresh_cache_generation(); generation != seen_generation) {
    next_due_statement.reset();
    seen_generation = generation;
  }
  Datum args[3] = {Int64GetDatum(journey_id), Int32GetDatum(version), TimestampTzGetDatum(t)};
  const char nulls[3] = {' ', ' ', ' '};
  int guc_level = pg::pg_guard([] { return pg::begin_due_index_walk(); });
  uint64 found = next_due_statement.execute(args, nulls, false);  // sees the ticks
  pg::pg_guard([&] { pg::end_due_index_walk(guc_level); });
  std::optional<TimestampTz> next;
  if (found == 1)
    next = pg::pg_guard([] {
      bool isnull;
      Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
      return DatumGetTimestampTz(d);
    });
  spi.finish();
  return next;
}

}  // namespace

// Refuses a simulation where none can run: inside a tick (a call step's
// function or a trigger of a field update) or inside another simulation.
void check_can_simulate() {
  if (pg::tick_in_progress())
    throw core::Error(
        "55000", "journey.simulate cannot run inside a running tick",
        "a call step's function or a trigger of a field update called journey.simulate");
  if (pg::simulating())
    throw core::Error("55000", "journey.simulate cannot run inside a simulation");
}

// journey._simulation_check(): check_can_simulate, before a simulation does
// anything else.
PGJ_FUNCTION(pgj_simulation_check) {
  check_can_simulate();
  PG_RETURN_VOID();
}

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
  check_can_simulate();
  wake_before_simulation = pg::wakes_workers_on_commit();
  wake_saved = true;
  pg::begin_simulation(PG_GETARG_INT64(0), PG_GETARG_INT32(1));
  PG_RETURN_VOID();
}

// journey._customer_keys(query, search_path): the first column of every row of
// the query, as text (null: no row), the query run as the role that called in
// (journey.simulate does its work as the extension's owner) with that role's
// search_path, as a subquery (its closing parenthesis on a line of its own, so
// that a trailing comment is fine). The customers of journey.simulate.
PGJ_FUNCTION(pgj_customer_keys) {
  std::string query = pg::arg_string(fcinfo, 0);
  std::string path = pg::arg_string(fcinfo, 1);
  std::string sql = "SELECT pg_catalog.array_agg(k::pg_catalog.text) FROM (" + query + "\n) q(k)";
  Oid caller = pg::pg_guard([] { return GetOuterUserId(); });
  pg::SpiConnection spi;
  Datum keys = 0;
  bool isnull = true;
  {
    pg::AsOwner as_caller(caller, /*restricted=*/false);  // its settings undone after
    pg::pg_guard([&] {
      (void)set_config_option("search_path", path.c_str(), PGC_USERSET, PGC_S_SESSION,
                              GUC_ACTION_SAVE, true, 0, false);
      if (SPI_execute(sql.c_str(), false, 0) != SPI_OK_SELECT || SPI_processed != 1)
        elog(ERROR, "pg_journey: the customers query returned no result");
      Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
      if (!isnull) keys = SPI_datumTransfer(d, false, -1);
    });
  }
  spi.finish();
  if (isnull) PG_RETURN_NULL();
  return keys;
}

// journey._simulate_run(journey_id, version, name, until): the running
// simulation's clock, from now(): ticks at each time one of its enrollments
// falls due, each time until nothing more is due, up to `until`; returns the
// ticks. Each tick walks the due index only from the time up to which
// everything has run (the rows it moved on stay in the index until the
// rollback: walking them all again at every due time made the run quadratic
// in the number of distinct due times), except after a tick wrote field
// updates: the customer table's triggers wake enrollments (and enter
// customers) at now(), so the ticks of that time walk from now().
PGJ_FUNCTION(pgj_simulate_run) {
  if (!pg::simulating())
    throw core::Error("55000", "journey._simulate_run runs only inside journey.simulate");
  int64_t journey_id = PG_GETARG_INT64(0);
  int32_t version = PG_GETARG_INT32(1);
  std::string name = pg::arg_string(fcinfo, 2);
  TimestampTz until = PG_GETARG_TIMESTAMPTZ(3);
  TimestampTz start = pg::pg_guard([] { return GetCurrentTransactionStartTimestamp(); });
  TimestampTz t = start;
  int ticks = 0;
  for (;;) {
    bool woken = false;  // triggers may have made enrollments due at now()
    for (int at_t = 0;; ++at_t) {
      if (at_t >= kMaxTicksAtOneTime)
        throw core::Error("54000",
                          "simulation of journey \"" + name + "\" does not settle at " +
                              std::string(pg::pg_guard([t] { return timestamptz_to_str(t); })),
                          "enrollments were still due after " + std::to_string(kMaxTicksAtOneTime) +
                              " ticks at the same time");
      pg::set_simulation_floor(woken ? start : t);
      int n = pg::run_tick(10000, t);
      ++ticks;
      if (pg::simulation_wrote_customers()) woken = true;
      if (n == 0) break;
    }
    std::optional<TimestampTz> next = next_due(journey_id, version, t);
    if (!next || *next > until) break;
    t = *next;
  }
  pg::set_simulation_floor(DT_NOBEGIN);
  PG_RETURN_INT32(ticks);
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
