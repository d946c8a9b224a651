// SQL-callable functions of the runtime: the engine tick and the small helpers
// the PL/pgSQL runtime functions use.
#include "core/condition.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/event_rules.hpp"
#include "core/hash.hpp"
#include "core/policy.hpp"
#include "pg/bridge.hpp"
#include "pg/convert.hpp"
#include "pg/datum.hpp"
#include "pg/tick.hpp"

extern "C" {
#include "nodes/plannodes.h"
#include "tcop/pquery.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/portal.h"
#include "utils/timestamp.h"
}

using namespace pgj;

namespace {

// Whether the calling role may run a tick at engine time as_of. The current
// time (from the transaction's start, now(), to the wall clock) is for
// everyone; any other time moves every journey's clock (a later one skips
// delays and fires timeouts early, an earlier one shortens them), so it is for
// superusers and members of journey_admin (administrators and tests) only.
bool may_run_at(TimestampTz as_of) {
  return pg::pg_guard([as_of] {
    if (as_of >= GetCurrentTransactionStartTimestamp() && as_of <= GetCurrentTimestamp())
      return true;
    Oid role = GetOuterUserId();
    Oid admin = get_role_oid("journey_admin", true);
    return superuser_arg(role) || (OidIsValid(admin) && has_privs_of_role(role, admin));
  });
}

}  // namespace

// journey._citus_shard_query_call(): whether the calling function (enroll,
// track, exit) runs once per row of a query Citus sent to a shard of this node
// (docs/scale-out.md, "Calls once per row of a query"), where Citus refuses
// every query it makes: a Citus internal backend (application_name
// "citus_internal ..."), nested distributed execution not allowed, and a
// top-level statement that reads a table. A call Citus routed here (a
// distributed function) is a statement of the call alone. Reads no table, so
// the PL/pgSQL caller evaluates it without running a query.
PGJ_FUNCTION(pgj_citus_shard_query_call) {
  return BoolGetDatum(pg::pg_guard([] {
    const char* app = GetConfigOption("application_name", true, false);
    if (!app || strncmp(app, "citus_internal", 14) != 0) return false;
    const char* nested = GetConfigOption("citus.allow_nested_distributed_execution", true, false);
    if ((nested && strcmp(nested, "on") == 0) || !ActivePortal) return false;
    ListCell* statement;
    foreach (statement, ActivePortal->stmts) {
      auto* planned = static_cast<PlannedStmt*>(lfirst(statement));
      if (!IsA(planned, PlannedStmt)) continue;
      ListCell* entry;
      foreach (entry, planned->rtable)
        if (static_cast<RangeTblEntry*>(lfirst(entry))->rtekind == RTE_RELATION) return true;
    }
    return false;
  }));
}

// journey.run_due(max_enrollments int, as_of timestamptz): one engine tick.
PGJ_FUNCTION(pgj_run_due) {
  int max_enrollments = PG_ARGISNULL(0) ? 1000 : PG_GETARG_INT32(0);
  if (max_enrollments < 1)
    throw core::Error("22023",
                      "max_enrollments must be at least 1, got " + std::to_string(max_enrollments));
  TimestampTz as_of = PG_ARGISNULL(1) ? pg::pg_guard([] { return GetCurrentTimestamp(); })
                                      : PG_GETARG_TIMESTAMPTZ(1);
  if (TIMESTAMP_NOT_FINITE(as_of))
    throw core::Error("22023", "as_of of run_due must be a finite time, got " +
                                   std::string(as_of > 0 ? "infinity" : "-infinity"));
  if (!may_run_at(as_of))
    throw core::Error("42501", "permission denied to run journeys at another time than now",
                      "as_of moves the clock of every journey: a later time skips delays and "
                      "fires timeouts early",
                      "omit as_of (it defaults to now()); only superusers and members of "
                      "journey_admin may pass another time");
  return Int32GetDatum(pg::run_tick(max_enrollments, as_of));
}

// journey._reentry_rule(settings): how a published journey's re-entry settings
// apply (core::reentry_rule); _enroll_rows applies it set-based.
PGJ_FUNCTION(pgj_reentry_rule) {
  core::Json settings =
      PG_ARGISNULL(0) ? core::Json::object() : pg::jsonb_to_json(PG_GETARG_DATUM(0));
  core::ReentryRule rule = core::reentry_rule(core::parse_settings(settings));
  std::string cooldown = rule.cooldown ? rule.cooldown->to_interval_text() : std::string();
  const char* cstr = cooldown.c_str();
  Datum values[3] = {BoolGetDatum(rule.any_earlier_blocks), BoolGetDatum(rule.replaces_active),
                     Datum(0)};
  bool nulls[3] = {false, false, !rule.cooldown};
  if (rule.cooldown)
    values[2] = pg::pg_guard([&] {
      return DirectFunctionCall3(interval_in, CStringGetDatum(cstr), ObjectIdGetDatum(InvalidOid),
                                 Int32GetDatum(-1));
    });
  return pg::result_record(fcinfo, values, nulls);
}

namespace {

// The rule and the earlier enrollment of the arguments (any_earlier_blocks,
// replaces_active, cooldown_since, active, entered_at) of
// journey._reentry_replaces and journey._reentry_blocks.
struct ReentryArgs {
  core::ReentryRule rule;
  core::EarlierEnrollment earlier;
  std::optional<int64_t> since;
};
ReentryArgs reentry_args(FunctionCallInfo fcinfo) {
  ReentryArgs a;
  a.rule.any_earlier_blocks = !PG_ARGISNULL(0) && PG_GETARG_BOOL(0);
  a.rule.replaces_active = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
  if (!PG_ARGISNULL(2)) a.since = pg::pg_to_unix(PG_GETARG_TIMESTAMPTZ(2));
  a.earlier.active = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
  if (!PG_ARGISNULL(4)) a.earlier.entered_at = pg::pg_to_unix(PG_GETARG_TIMESTAMPTZ(4));
  return a;
}

}  // namespace

// journey._reentry_replaces(any_earlier_blocks, replaces_active,
// cooldown_since, active, entered_at): whether re-entry replaces this earlier
// enrollment of the customer (core::reentry_replaces); _enroll_rows and
// _enroll_customer end those.
PGJ_FUNCTION(pgj_reentry_replaces) {
  ReentryArgs a = reentry_args(fcinfo);
  PG_RETURN_BOOL(core::reentry_replaces(a.rule, a.earlier, a.since));
}

// journey._reentry_blocks(the same arguments): whether this earlier enrollment
// keeps the customer out once the replaced ones ended (core::reentry_blocks).
PGJ_FUNCTION(pgj_reentry_blocks) {
  ReentryArgs a = reentry_args(fcinfo);
  PG_RETURN_BOOL(core::reentry_blocks(a.rule, a.earlier, a.since));
}

// journey._in_holdout(percent, journey, customer_id): the stable holdout draw.
PGJ_FUNCTION(pgj_in_holdout) {
  double percent = PG_GETARG_FLOAT8(0);
  std::string journey = pg::arg_string(fcinfo, 1);
  std::string customer = pg::arg_string(fcinfo, 2);
  return BoolGetDatum(core::in_holdout(percent, journey, customer));
}

// journey._exit_reason(name, position): the exit_reason of an exit rule's
// endings (core::exit_reason_of); position 1-based, as journey.exit_rules.
PGJ_FUNCTION(pgj_exit_reason) {
  const std::string name = pg::arg_string(fcinfo, 0);
  if (PG_ARGISNULL(1)) PG_RETURN_NULL();
  return pg::string_to_text(core::exit_reason_of(name, PG_GETARG_INT32(1) - 1));
}

// journey._holdout_percent(settings): the holdout share of a published
// journey's settings, read by core (0 when none).
PGJ_FUNCTION(pgj_holdout_percent) {
  core::Json settings =
      PG_ARGISNULL(0) ? core::Json::object() : pg::jsonb_to_json(PG_GETARG_DATUM(0));
  return Float8GetDatum(core::holdout_percent_of(settings));
}

// journey._engagement_effects(kind, properties, settings): what engagement with
// a message of a version with these settings does (core::engagement_effects).
PGJ_FUNCTION(pgj_engagement_effects) {
  std::string kind = pg::arg_string(fcinfo, 0);
  core::Json properties =
      PG_ARGISNULL(1) ? core::Json::object() : pg::jsonb_to_json(PG_GETARG_DATUM(1));
  core::Json settings =
      PG_ARGISNULL(2) ? core::Json::object() : pg::jsonb_to_json(PG_GETARG_DATUM(2));
  core::EngagementEffects fx = core::engagement_effects(kind, properties, settings);
  Datum values[3] = {BoolGetDatum(fx.suppress), BoolGetDatum(fx.all_channels),
                     BoolGetDatum(fx.ends_enrollment)};
  bool nulls[3] = {false, false, false};
  return pg::result_record(fcinfo, values, nulls);
}

// journey._check_engagement(kind, properties): raises 22023 for engagement a
// caller may not report (core::check_engagement_input): the kind, that the
// properties are an object, a bounce's type and an unsubscribe's scope.
PGJ_FUNCTION(pgj_check_engagement) {
  std::optional<std::string> kind;
  if (!PG_ARGISNULL(0)) kind = pg::arg_string(fcinfo, 0);
  bool object = false;
  std::optional<core::EngagementProperty> type, scope;
  if (!PG_ARGISNULL(1)) {
    Datum properties = PG_GETARG_DATUM(1);
    object = pg::pg_guard([&] { return JB_ROOT_IS_OBJECT(DatumGetJsonbP(properties)); });
    auto property = [&](const char* name) -> std::optional<core::EngagementProperty> {
      pg::JsonbKey key = pg::jsonb_key(properties, name);
      if (key.json_type.empty()) return std::nullopt;
      return core::EngagementProperty{key.text, key.rendered};
    };
    type = property("type");
    scope = property("scope");
  }
  core::check_engagement_input(kind, object, type, scope);
  PG_RETURN_VOID();
}

// journey._engagement_accepted(status): whether engagement may be reported for
// a message in this status (core::engagement_accepted).
PGJ_FUNCTION(pgj_engagement_accepted) {
  if (PG_ARGISNULL(0)) PG_RETURN_NULL();
  return BoolGetDatum(core::engagement_accepted(pg::arg_string(fcinfo, 0)));
}

// journey._engagement_once_key(kind, properties): what engagement `kind` with
// these properties names when it happens once to a message (equal keys:
// replays of each other), null when it is recorded each time
// (core::engagement_once_key).
PGJ_FUNCTION(pgj_engagement_once_key) {
  std::string kind = pg::arg_string(fcinfo, 0);
  core::Json properties =
      PG_ARGISNULL(1) ? core::Json::object() : pg::jsonb_to_json(PG_GETARG_DATUM(1));
  std::optional<std::string> key = core::engagement_once_key(kind, properties);
  if (!key) PG_RETURN_NULL();
  return pg::string_to_text(*key);
}

// journey._engagement_wakes(kind, visit, latest_visit, status, waiting_for):
// whether engagement with the message of that visit wakes its enrollment
// (core::engagement_wakes).
PGJ_FUNCTION(pgj_engagement_wakes) {
  std::string kind = pg::arg_string(fcinfo, 0);
  int64_t visit = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1);
  int64_t latest = PG_ARGISNULL(2) ? visit : PG_GETARG_INT32(2);
  std::string status = pg::arg_string(fcinfo, 3);
  std::optional<std::string> waiting_for;
  if (!PG_ARGISNULL(4)) waiting_for = pg::arg_string(fcinfo, 4);
  return BoolGetDatum(core::engagement_wakes(kind, visit, latest, status, waiting_for));
}

// journey._ignored_suppression_reasons(settings): the suppression reasons the
// messages of a version with these settings ignore
// (core::ignored_suppression_reasons); publish stores them per version.
PGJ_FUNCTION(pgj_ignored_suppression_reasons) {
  core::Json settings =
      PG_ARGISNULL(0) ? core::Json::object() : pg::jsonb_to_json(PG_GETARG_DATUM(0));
  std::vector<std::string> reasons = core::ignored_suppression_reasons_of(settings);
  return pg::text_array(std::vector<std::optional<std::string>>(reasons.begin(), reasons.end()));
}

// journey._event_matches(condition, properties): whether an event's properties
// satisfy a "where" condition of an event trigger or event exit rule (null
// condition: always).
PGJ_FUNCTION(pgj_event_matches) {
  core::Json condition = PG_ARGISNULL(0) ? core::Json() : pg::jsonb_to_json(PG_GETARG_DATUM(0));
  core::Json properties =
      PG_ARGISNULL(1) ? core::Json::object() : pg::jsonb_to_json(PG_GETARG_DATUM(1));
  core::EventRule rule = core::compile_event_rule("", condition);
  return BoolGetDatum(core::event_matches(rule, "", properties));
}

// journey._duration(text): a journey duration ("2 days", "30m") as an interval.
PGJ_FUNCTION(pgj_duration) {
  std::string text = pg::arg_string(fcinfo, 0);
  std::string error;
  auto duration = core::parse_duration(text, &error);
  if (!duration) throw core::Error("22007", error);
  std::string interval = duration->to_interval_text();
  const char* cstr = interval.c_str();
  return pg::pg_guard([&] {
    return DirectFunctionCall3(interval_in, CStringGetDatum(cstr), ObjectIdGetDatum(InvalidOid),
                               Int32GetDatum(-1));
  });
}
