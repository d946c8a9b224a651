// SQL-callable helpers of scheduled (segment and date) entry triggers.
#include <memory>

#include "core/condition_sql.hpp"
#include "core/schedule_rules.hpp"
#include "core/error.hpp"
#include "pg/as_owner.hpp"
#include "pg/bridge.hpp"
#include "pg/catalog.hpp"
#include "pg/convert.hpp"
#include "pg/datum.hpp"
#include "pg/spi.hpp"

using namespace pgj;

namespace {

// PostgreSQL's quoting, for the SQL core renders.
core::SqlQuoting sql_quoting() {
  return {[](const std::string& name) {
            const char* n = name.c_str();
            return std::string(pg::pg_guard([&] { return quote_identifier(n); }));
          },
          [](const std::string& text) {
            const char* t = text.c_str();
            return std::string(
                pg::pg_guard([&] { return static_cast<const char*>(quote_literal_cstr(t)); }));
          }};
}

// A condition as a SQL expression over the audience table aliased "t".
std::string condition_sql(const core::Json& condition, Oid relid) {
  pg::SpiConnection spi;
  auto audience = pg::load_audience_info(relid);
  if (!audience) throw core::Error("42704", "relation is not a registered audience");
  spi.finish();
  return core::condition_to_sql(condition, audience->schema, sql_quoting());
}

}  // namespace

// journey._condition_sql(condition jsonb, audience regclass), of the frozen 0.1
// script: 0.2 drops the function (a segment's source is journey._segment_source),
// but CREATE EXTENSION pg_journey VERSION '0.1' with this library must still
// find its symbol before ALTER EXTENSION UPDATE.
PGJ_FUNCTION(pgj_condition_sql) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
    throw core::Error("22004", "condition and audience must not be null");
  return pg::string_to_text(condition_sql(pg::jsonb_to_json(PG_GETARG_DATUM(0)), PG_GETARG_OID(1)));
}

// journey._date_due_sql(config jsonb): a date entry trigger's "due on this
// run" test over the audience table aliased "t" ($1 the last run or null, $2
// now), compiled and rendered by core (core::date_due_sql).
PGJ_FUNCTION(pgj_date_due_sql) {
  if (PG_ARGISNULL(0))
    throw core::Error("22004", "config of a date entry trigger must not be null");
  core::DateTrigger trigger = core::compile_date_trigger(pg::jsonb_to_json(PG_GETARG_DATUM(0)));
  return pg::string_to_text(core::date_due_sql(trigger, sql_quoting()));
}

// journey._trigger_schedule(type text, config jsonb): the cron schedule of a
// scheduled entry trigger, as core reads it (core::trigger_schedule), for the
// pg_cron job journey._sync_schedules makes.
PGJ_FUNCTION(pgj_trigger_schedule) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
    throw core::Error("22004", "type and config of an entry trigger must not be null");
  std::string type = pg::arg_string(fcinfo, 0);
  return pg::string_to_text(core::trigger_schedule(pg::jsonb_to_json(PG_GETARG_DATUM(1)), type));
}

// journey._segment_source(config jsonb, audience regclass, OUT query text,
// OUT member_sql text): where a segment entry trigger's members come from,
// compiled by core (core::compile_segment_trigger): its SQL query (run as the
// journey owner by journey._owner_query_keys), or its condition as a SQL
// expression over the audience table aliased "t" (core::condition_to_sql);
// the other is null.
PGJ_FUNCTION(pgj_segment_source) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
    throw core::Error("22004", "config and audience of a segment entry trigger must not be null");
  core::SegmentTrigger trigger =
      core::compile_segment_trigger(pg::jsonb_to_json(PG_GETARG_DATUM(0)));
  std::string member_sql;
  if (trigger.when) member_sql = condition_sql(*trigger.when, PG_GETARG_OID(1));
  Datum values[2] = {trigger.query ? pg::string_to_text(*trigger.query) : Datum(0),
                     trigger.when ? pg::string_to_text(member_sql) : Datum(0)};
  bool nulls[2] = {!trigger.query, !trigger.when};
  return pg::result_record(fcinfo, values, nulls);
}

// journey._segment_changes(matching text[], members text[]): the customers a
// segment's run enrolls (matching, not members) and those leaving it
// (core::segment_changes).
PGJ_FUNCTION(pgj_segment_changes) {
  std::vector<std::string> matching, members;
  if (!PG_ARGISNULL(0)) matching = pg::text_array_values(PG_GETARG_DATUM(0));
  if (!PG_ARGISNULL(1)) members = pg::text_array_values(PG_GETARG_DATUM(1));
  core::SegmentChanges changes = core::segment_changes(matching, members);
  Datum values[2] = {pg::text_array({changes.entering.begin(), changes.entering.end()}),
                     pg::text_array({changes.leaving.begin(), changes.leaving.end()})};
  bool nulls[2] = {false, false};
  return pg::result_record(fcinfo, values, nulls);
}

// journey._owner_query_keys(query text, owner regrole): the first column of
// `query` as text, run with the privileges of the journey owner (a segment's
// SQL must not run as the extension owner).
PGJ_FUNCTION(pgj_owner_query_keys) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
    throw core::Error("22004", "query and owner must not be null");
  std::string query = pg::arg_string(fcinfo, 0);
  Oid owner = PG_GETARG_OID(1);
  std::string sql = pg::segment_query_sql(query);
  pg::SpiConnection spi;
  const char* text = sql.c_str();
  const char* user_query = query.c_str();
  Datum result;
  {
    pg::AsOwner as_owner(owner, /*restricted=*/true);
    result = pg::pg_guard([&] {
      pg::require_single_select(user_query);
      int rc = SPI_execute(text, true, 1);
      if (rc != SPI_OK_SELECT || SPI_processed != 1)
        elog(ERROR, "pg_journey: segment query failed");
      bool isnull;
      Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
      return SPI_datumTransfer(d, false, -1);
    });
  }
  spi.finish();
  return result;
}
