// The activity roll-up (journey.activity_hours, docs/analytics.md): one
// grouping statement, run by the trigger on journey.activity for the rows each
// INSERT wrote and by journey.rebuild_activity_hours for journey.activity
// itself.
#include <string>

#include "core/error.hpp"
#include "pg/bridge.hpp"
#include "pg/journey_cache.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "utils/lsyscache.h"
}

namespace pgj::pg {
namespace {

// Counts the activity rows of `written` (of journey $1; null: all) into
// journey.activity_hours: one row per group (journey, version, step, hour of
// arrival, outcome, branch, exit reason) with its visits, conversions and the
// whole seconds spent at the step as {seconds: visits}.
const char* const kCountActivity =
    "INSERT INTO journey.activity_hours (journey_id, version, step_key, hour, outcome, branch,"
    "                                    reason, visits, converted, spent)"
    " SELECT g.journey_id, g.version, g.step_key, g.hour, g.outcome, g.branch, g.reason,"
    "        sum(g.n), sum(g.c), jsonb_object_agg(g.secs, g.n)"
    "   FROM (SELECT a.journey_id, a.version, a.step_key,"
    "                date_trunc('hour', coalesce(a.arrived_at, a.at), 'UTC') AS hour, a.outcome,"
    "                a.branch, CASE WHEN a.outcome = 'exited' THEN a.reason END AS reason,"
    "                round(extract(epoch FROM greatest(a.at - coalesce(a.arrived_at, a.at),"
    "                                                  interval '0')))::bigint AS secs,"
    "                count(*) AS n, count(*) FILTER (WHERE a.converted) AS c"
    "           FROM written a"
    "          WHERE $1::int8 IS NULL OR a.journey_id = $1"
    "          GROUP BY 1, 2, 3, 4, 5, 6, 7, 8) g"
    "  GROUP BY 1, 2, 3, 4, 5, 6, 7";

// The trigger's: `written` is its transition table.
PreparedStatement count_written(kCountActivity, {INT8OID});
// The rebuild's: the same statement over journey.activity.
PreparedStatement count_all(map_tables(kCountActivity,
                                       TableMap{"", {{"written", "journey.activity"}}}),
                            {INT8OID});

// Forgets the plans when the extension was recreated.
void refresh_plans() {
  static uint64_t seen_generation = 0;
  forget_plans_when_refreshed(seen_generation, {&count_written, &count_all});
}

}  // namespace
}  // namespace pgj::pg

// journey._count_activity(): AFTER INSERT ... REFERENCING NEW TABLE AS written
// FOR EACH STATEMENT on journey.activity. On a Citus install (docs/scale-out.md)
// it also fires on the shards of activity, where it cannot write the reference
// table activity_hours: there it counts nothing.
PGJ_FUNCTION(pgj_count_activity) {
  using namespace pgj::pg;
  auto* trigdata = reinterpret_cast<TriggerData*>(fcinfo->context);
  if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ||
      trigdata->tg_newtable == nullptr)
    throw pgj::core::Error(
        "39P01",
        "journey._count_activity must fire AFTER INSERT ... REFERENCING NEW TABLE AS "
        "written FOR EACH STATEMENT");
  Oid activity =
      pg_guard([] { return get_relname_relid("activity", get_namespace_oid("journey", false)); });
  if (RelationGetRelid(trigdata->tg_relation) != activity)
    return PointerGetDatum(nullptr);  // a Citus shard of journey.activity
  SpiConnection spi;
  pg_guard([trigdata] {
    if (SPI_register_trigger_data(trigdata) != SPI_OK_TD_REGISTER)
      elog(ERROR, "pg_journey: SPI_register_trigger_data failed");
  });
  refresh_plans();
  Datum args[1] = {Datum(0)};
  const char nulls[1] = {'n'};
  count_written.execute(args, nulls, false);
  spi.finish();
  return PointerGetDatum(nullptr);
}

// journey._count_all_activity(journey_id): counts the rows of journey.activity
// (of that journey; null: all) into journey.activity_hours, as the trigger
// counts each INSERT's (journey.rebuild_activity_hours).
PGJ_FUNCTION(pgj_count_all_activity) {
  using namespace pgj::pg;
  Datum args[1] = {PG_ARGISNULL(0) ? Datum(0) : PG_GETARG_DATUM(0)};
  const char nulls[1] = {PG_ARGISNULL(0) ? 'n' : ' '};
  SpiConnection spi;
  refresh_plans();
  count_all.execute(args, nulls, false);
  spi.finish();
  return PointerGetDatum(nullptr);
}
