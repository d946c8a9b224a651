// The one statement that ends enrollments (see ending.hpp), and
// journey._end_enrollments, its SQL entry point.
#include "pg/ending.hpp"

#include "pg/bridge.hpp"
#include "pg/datum.hpp"
#include "pg/journey_cache.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}

namespace pgj::pg {

namespace {

// Locks the enrollments to end that are still active, in id order: a tick or
// another ending that holds one of them is waited for, and the ending
// statement, with a snapshot taken after the wait, sees where that left the
// enrollment (its step, its last visit). By id ($1), or, where the caller knows
// the customers ($2, aligned with $1), by customer and id: on a Citus shard the
// key is (customer_id, id), so only that finds a row without a scan.
PreparedStatement lock_statement(
    "SELECT count(*) FROM (SELECT 1 FROM journey.enrollments e"
    "  WHERE e.id = ANY ($1) AND e.status = 'active' ORDER BY e.id FOR UPDATE) l",
    {INT8ARRAYOID});
PreparedStatement lock_by_customer_statement(
    "SELECT count(*) FROM (SELECT 1 FROM unnest($1::int8[], $2::text[]) u(id, c)"
    "  JOIN journey.enrollments e ON e.customer_id = u.c AND e.id = u.id"
    "  WHERE e.status = 'active' ORDER BY e.id FOR UPDATE OF e) l",
    {INT8ARRAYOID, TEXTARRAYOID});

// The one statement that changes an enrollment's status away from active. For
// each enrollment i of $1 still active: status $2[i] ('exited', 'failed' or
// 'completed'), its exit_reason (exited) or last_error (failed) $3[i], converted
// at $6 (default $5) if $4[i] (a goal exit rule) and not converted before. When
// $7[i] (a tick ran it), its final state in the same update: step $8[i],
// context $9[i], last event $10[i], visits $11[i], converted at $12[i] by a goal
// visit, error SQLSTATE $13[i], nothing parked or due. And, in the same
// statement, the activity row of the step it ends at (outcome = the status,
// reason, converted when this ending converted it, arrived_at = when it reached
// that step), so that every enrollment that reached a step is counted there;
// not when $14[i] (the tick wrote that visit: a completion). The row's visit
// number follows the enrollment's last; enrollments.visits still counts the
// steps it ran. Returns the ids it ended, in order. by_customer: $15[i] is the
// enrollment's customer, and the enrollment and its activity are found by
// customer and id (the keys of a Citus shard; on a single node the id's key,
// then a filter); else by id alone.
std::string end_sql(bool by_customer) {
  const std::string c = by_customer ? "a.customer_id = o.customer_id AND " : "";
  return "/* pg_journey: end enrollments */ WITH input AS ("
         "  SELECT DISTINCT ON (u.id) u.id, u.st::journey.enrollment_status AS st, u.r,"
         "         coalesce(u.g, false) AS g, coalesce(u.f, false) AS f, u.s, u.cx, u.le, u.vi,"
         "         u.cv, u.lc, coalesce(u.vd, false) AS vd" +
         std::string(by_customer ? ", u.c" : "") +
         "    FROM unnest($1::int8[], $2::text[], $3::text[], $4::bool[], $7::bool[], $8::text[],"
         "                $9::text[], $10::text[], $11::int4[], $12::timestamptz[], $13::text[],"
         "                $14::bool[]" +
         std::string(by_customer ? ", $15::text[]" : "") +
         ")"
         "         WITH ORDINALITY u(id, st, r, g, f, s, cx, le, vi, cv, lc, vd, " +
         std::string(by_customer ? "c, " : "") +
         "o)"
         "   WHERE u.id IS NOT NULL"
         "   ORDER BY u.id, u.o),"
         " ended AS ("
         "  UPDATE journey.enrollments e"
         "     SET status = i.st, ended_at = $5, next_run_at = NULL, waiting_for = NULL,"
         "         step_key = CASE WHEN i.f THEN i.s ELSE e.step_key END,"
         "         context = CASE WHEN i.f THEN i.cx::jsonb ELSE e.context END,"
         "         last_event = CASE WHEN i.f THEN i.le::jsonb ELSE e.last_event END,"
         "         visits = CASE WHEN i.f THEN i.vi ELSE e.visits END,"
         "         parked_at = CASE WHEN i.f THEN NULL ELSE e.parked_at END,"
         "         wait_deadline = CASE WHEN i.f THEN NULL ELSE e.wait_deadline END,"
         "         attempts = CASE WHEN i.f THEN 0 ELSE e.attempts END,"
         "         woken_by = CASE WHEN i.f THEN '[]' ELSE e.woken_by END,"
         "         rearm = CASE WHEN i.f THEN false ELSE e.rearm END,"
         "         last_error_code = CASE WHEN i.f THEN i.lc ELSE e.last_error_code END,"
         "         exit_reason = CASE WHEN i.st = 'exited' THEN i.r WHEN i.f THEN NULL"
         "                            ELSE e.exit_reason END,"
         "         last_error = CASE WHEN i.st = 'failed' AND i.f THEN i.r"
         "                           WHEN i.st = 'failed' THEN coalesce(i.r, e.last_error)"
         "                           WHEN i.f THEN NULL ELSE e.last_error END,"
         "         converted_at = CASE WHEN i.g THEN coalesce(e.converted_at, i.cv, $6, $5)"
         "                             ELSE coalesce(e.converted_at, i.cv) END"
         "    FROM input i, journey.enrollments o,"
         "         LATERAL (SELECT CASE WHEN NOT i.vd"
         "                         THEN greatest(CASE WHEN i.f THEN i.vi ELSE o.visits END,"
         "                                       (SELECT max(a.visit) FROM journey.activity a"
         "                                         WHERE " +
         c +
         "a.enrollment_id = o.id)) + 1 END AS visit,"
         "                         CASE WHEN NOT i.vd"
         "                         THEN coalesce(CASE WHEN NOT i.f THEN o.parked_at END,"
         "                                       (SELECT max(a.at) FROM journey.activity a"
         "                                         WHERE " +
         c +
         "a.enrollment_id = o.id),"
         "                                       o.entered_at) END AS arrived) n"
         "   WHERE " +
         std::string(by_customer ? "e.customer_id = i.c AND o.customer_id = i.c AND " : "") +
         "e.id = i.id AND o.id = i.id AND e.status = 'active'"
         "  RETURNING e.id, e.journey_id, e.version, e.customer_id, e.step_key, n.visit, i.st, i.r,"
         "            i.g AND coalesce(o.converted_at, i.cv) IS NULL AS converted, n.arrived, "
         "i.vd),"
         " written AS ("
         "  INSERT INTO journey.activity (enrollment_id, journey_id, version, customer_id, "
         "step_key,"
         "                                step_type, branch, visit, at, outcome, reason, converted,"
         "                                arrived_at)"
         "  SELECT d.id, d.journey_id, d.version, d.customer_id, d.step_key, s.type, NULL, d.visit,"
         "         $5, d.st::text, d.r, d.converted, d.arrived"
         "    FROM ended d"
         // (in a function: Citus refuses a reference table beside shards)
         "    CROSS JOIN LATERAL journey._step_type(d.journey_id, d.version, d.step_key) s(type)"
         "   WHERE NOT d.vd AND s.type IS NOT NULL)"
         " SELECT coalesce(array_agg(d.id ORDER BY d.id), '{}') FROM ended d";
}

const std::vector<Oid> kEndTypes = {
    INT8ARRAYOID,   TEXTARRAYOID,        TEXTARRAYOID, BOOLARRAYOID, TIMESTAMPTZOID,
    TIMESTAMPTZOID, BOOLARRAYOID,        TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
    INT4ARRAYOID,   TIMESTAMPTZARRAYOID, TEXTARRAYOID, BOOLARRAYOID, TEXTARRAYOID};
PreparedStatement end_statement(end_sql(false), {kEndTypes.begin(), kEndTypes.end() - 1});
PreparedStatement end_by_customer_statement(end_sql(true), kEndTypes);

constexpr int kEndArgs = 15;  // the 15th: the customers, or null

// Forgets the plans when the extension was recreated.
void refresh_plans() {
  static uint64_t seen_generation = 0;
  forget_plans_when_refreshed(
      seen_generation,
      {&lock_statement, &end_statement, &lock_by_customer_statement, &end_by_customer_statement});
}

const CallInProgress* call_in_progress = nullptr;

// An ending without a run's final state ($7..$14 null) that reaches the
// enrollment whose call step is running (set_call_in_progress): gives that one
// the run's state, so that it ends at the call step (see ending.hpp).
void add_call_in_progress(Datum* args, char* nulls) {
  if (!call_in_progress || nulls[0] != ' ' || nulls[6] != 'n') return;
  const CallInProgress& call = *call_in_progress;
  std::vector<int64_t> ids;
  bool found = false;
  pg_guard([&] {
    Datum* elems = nullptr;
    bool* elem_nulls = nullptr;
    int n = 0;
    deconstruct_array(DatumGetArrayTypeP(args[0]), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
                      &elems, &elem_nulls, &n);
    ids.reserve(n);
    for (int i = 0; i < n; ++i) ids.push_back(elem_nulls[i] ? 0 : DatumGetInt64(elems[i]));
  });
  const size_t n = ids.size();
  std::vector<bool> final(n, false), visited(n, false);
  std::vector<std::optional<std::string>> step(n), context(n), last_event(n), error_code(n);
  std::vector<int32_t> visits(n, 0);
  std::vector<std::optional<int64_t>> converted(n);
  for (size_t i = 0; i < n; ++i) {
    if (ids[i] != call.enrollment) continue;
    found = true;
    final[i] = true;
    step[i] = call.step;
    context[i] = call.context;
    last_event[i] = call.last_event;
    visits[i] = call.visits;
  }
  if (!found) return;
  args[6] = bool_array(final);
  args[7] = text_array(step);
  args[8] = text_array(context);
  args[9] = text_array(last_event);
  args[10] = int4_array(visits);
  args[11] = timestamptz_array(converted);
  args[12] = text_array(error_code);
  args[13] = bool_array(visited);
  for (int i = 6; i <= 13; ++i) nulls[i] = ' ';  // $7..$14, not the customers
}

// Runs the ending statement (after the lock, when lock_first), by customer
// and id when the customers ($15) are given; returns its result (the ended
// ids, bigint[]) in SPI's memory, or 0 when $1 is null.
Datum run_ending(Datum* args, char* nulls, bool lock_first) {
  refresh_plans();
  add_call_in_progress(args, nulls);
  const bool by_customer = nulls[14] == ' ';
  if (lock_first && nulls[0] == ' ') {
    Datum lock_args[2] = {args[0], args[14]};
    const char lock_nulls[2] = {' ', ' '};
    (by_customer ? lock_by_customer_statement : lock_statement)
        .execute(lock_args, lock_nulls, false);
  }
  (by_customer ? end_by_customer_statement : end_statement).execute(args, nulls, false);
  return pg_guard([] {
    bool isnull = true;
    Datum ids = SPI_processed == 1
                    ? SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)
                    : Datum(0);
    return isnull ? Datum(0) : ids;
  });
}

}  // namespace

void set_call_in_progress(const CallInProgress* call) {
  call_in_progress = call;
}

void end_enrollments(const Endings& x, TimestampTz at, std::optional<TimestampTz> converted_at,
                     bool lock_first) {
  if (x.empty()) return;
  const bool final = !x.final.empty();
  Datum args[kEndArgs] = {int8_array(x.id),
                          text_array(x.status),
                          text_array(x.reason),
                          bool_array(x.goal),
                          TimestampTzGetDatum(at),
                          TimestampTzGetDatum(converted_at.value_or(0)),
                          final ? bool_array(x.final) : Datum(0),
                          final ? text_array(x.step) : Datum(0),
                          final ? text_array(x.context) : Datum(0),
                          final ? text_array(x.last_event) : Datum(0),
                          final ? int4_array(x.visits) : Datum(0),
                          final ? timestamptz_array(x.converted_at) : Datum(0),
                          final ? text_array(x.error_code) : Datum(0),
                          final ? bool_array(x.visited) : Datum(0),
                          x.customer.empty() ? Datum(0) : text_array(x.customer)};
  char nulls[kEndArgs];
  for (int i = 0; i < kEndArgs; ++i) nulls[i] = i >= 6 && !final ? 'n' : ' ';
  nulls[5] = converted_at ? ' ' : 'n';
  nulls[14] = x.customer.empty() ? 'n' : ' ';
  run_ending(args, nulls, lock_first);
}

namespace {

// Runs the ending with the SQL arguments ids, statuses, reasons, goals, at
// (default: the transaction's start), converted_at and customers (null: by id
// alone), from argument `first` on; returns the ids it ended (bigint[]).
Datum end_enrollments_call(FunctionCallInfo fcinfo, int first) {
  Datum args[kEndArgs] = {};
  char nulls[kEndArgs];
  for (int i = 0; i < kEndArgs; ++i) nulls[i] = 'n';
  for (int i = 0; i < 6; ++i)
    if (!PG_ARGISNULL(first + i)) {
      args[i] = PG_GETARG_DATUM(first + i);
      nulls[i] = ' ';
    }
  if (PG_NARGS() > first + 6 && !PG_ARGISNULL(first + 6)) {
    args[14] = PG_GETARG_DATUM(first + 6);
    nulls[14] = ' ';
  }
  if (nulls[4] == 'n') {  // at: now()
    args[4] = TimestampTzGetDatum(pg_guard([] { return GetCurrentTransactionStartTimestamp(); }));
    nulls[4] = ' ';
  }
  SpiConnection spi;
  Datum ids = run_ending(args, nulls, true);
  Datum result = ids ? pg_guard([ids] { return SPI_datumTransfer(ids, false, -1); }) : Datum(0);
  spi.finish();
  if (!ids) {
    ArrayType* empty = pg_guard([] { return construct_empty_array(INT8OID); });
    return PointerGetDatum(empty);
  }
  return result;
}

// The schema-qualified, quoted name of a relation, as a table map names it.
std::string qualified_name(Oid relid) {
  return pg_guard([relid] {
    char* name = get_rel_name(relid);
    if (!name)
      ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                      errmsg("relation with OID %u does not exist", relid)));
    return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), name);
  });
}

}  // namespace
}  // namespace pgj::pg

// journey._end_enrollments(ids, statuses, reasons, goals, at, converted_at,
// customers): ends the active ones of the enrollments (src/sql/internal.sql);
// returns the ids it ended.
PGJ_FUNCTION(pgj_end_enrollments) {
  return pgj::pg::end_enrollments_call(fcinfo, 0);
}

// journey._end_enrollments_in(enrollments, activity, ids, statuses, reasons,
// goals, at, converted_at, customers): the same on the given tables in place of
// journey.enrollments and journey.activity (on a Citus node, one customer's
// shards: journey._end_customer_enrollments).
PGJ_FUNCTION(pgj_end_enrollments_in) {
  using namespace pgj::pg;
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
    pg_guard([] {
      ereport(ERROR,
              (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
               errmsg("journey._end_enrollments_in needs its enrollments and activity tables")));
    });
  std::string enrollments = qualified_name(PG_GETARG_OID(0));
  std::string activity = qualified_name(PG_GETARG_OID(1));
  TableMap map{"in:" + enrollments + "," + activity,
               {{"journey.enrollments", enrollments}, {"journey.activity", activity}}};
  TableMapScope scope(&map);
  return end_enrollments_call(fcinfo, 2);
}
