// SQL-callable helpers of delivery (src/sql/delivery.sql): recipients per
// channel, suppressions, message events, preview.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/engine.hpp"
#include "core/error.hpp"
#include "core/policy.hpp"
#include "pg/bridge.hpp"
#include "pg/catalog.hpp"
#include "pg/cells.hpp"
#include "pg/convert.hpp"
#include "pg/datum.hpp"
#include "pg/journey_cache.hpp"
#include "pg/pg_runtime.hpp"
#include "pg/spi.hpp"
#include "pg/tick.hpp"

extern "C" {
#include "utils/inval.h"
#include "utils/timestamp.h"
}

using namespace pgj;

namespace {

// The engine's runtime with the templates of the previewed version.
class PreviewRuntime : public pg::PgRuntime {
 public:
  explicit PreviewRuntime(const core::Json& templates) {
    if (!templates.is_object()) return;
    for (auto it = templates.begin(); it != templates.end(); ++it) {
      const core::Json& t = *it;
      if (!t.is_object()) continue;
      core::TemplateDef def;
      def.name = it.key();
      if (t.contains("channel") && t["channel"].is_string()) def.channel = t["channel"];
      if (t.contains("subject") && t["subject"].is_string())
        def.subject = core::compile_template(t["subject"].get<std::string>());
      def.body = core::compile_template(
          t.contains("body") && t["body"].is_string() ? t["body"].get<std::string>() : "");
      templates_.emplace(def.name, std::move(def));
    }
  }
  const core::TemplateDef* find_template(const std::string& name) override {
    auto it = templates_.find(name);
    return it == templates_.end() ? nullptr : &it->second;
  }
  const std::map<std::string, core::TemplateDef>& templates() const { return templates_; }

 private:
  std::map<std::string, core::TemplateDef> templates_;
};

}  // namespace

// journey._invalidate_audience(relation regclass): makes every backend reload
// what it cached about the audience (its recipient columns, its e-mail and time
// zone columns) once this transaction commits.
PGJ_FUNCTION(pgj_invalidate_audience) {
  Oid relid = PG_GETARG_OID(0);
  pg::pg_guard([relid] { CacheInvalidateRelcacheByRelid(relid); });
  PG_RETURN_VOID();
}

// journey._preview(definition jsonb, templates jsonb, audience regclass,
// step_key text, customer_id text, context jsonb, event jsonb) returns jsonb:
// the message step `step_key` renders for the customer, as the engine would
// render it now, without writing anything: {"channel", "recipient",
// "no_recipient", "payload"}, or {"exit_reason"} when an exit rule of the
// journey would end the enrollment before the step. The definition must
// compile (journey.preview validates it first).
PGJ_FUNCTION(pgj_preview) {
  for (int i = 0; i < 5; ++i)
    if (PG_ARGISNULL(i)) throw core::Error("22004", "preview arguments must not be null");
  core::Json definition = pg::jsonb_to_json(PG_GETARG_DATUM(0));
  core::Json templates = pg::jsonb_to_json(PG_GETARG_DATUM(1));
  Oid relid = PG_GETARG_OID(2);
  std::string step_key = pg::arg_string(fcinfo, 3);
  std::string customer = pg::arg_string(fcinfo, 4);
  core::Json context =
      PG_ARGISNULL(5) ? core::Json::object() : pg::jsonb_to_json(PG_GETARG_DATUM(5));
  core::Json event = PG_ARGISNULL(6) ? core::Json() : pg::jsonb_to_json(PG_GETARG_DATUM(6));

  pg::SpiConnection spi;
  std::optional<pg::AudienceInfo> audience = pg::load_audience_info(relid);
  if (!audience) throw core::Error("42704", "the journey's audience is no longer registered");
  core::CompiledJourney journey = core::compile_journey(definition, audience->schema, 0, 0);
  int step = journey.find(step_key);
  if (step < 0)
    throw core::Error("42704", "journey \"" + journey.name + "\" has no step \"" + step_key + "\"");
  const core::CompiledStep& s = journey.steps[step];
  if (s.type != core::StepType::SendEmail && s.type != core::StepType::Send)
    throw core::Error("22023", "step \"" + step_key + "\" of journey \"" + journey.name +
                                   "\" is a " + core::step_type_name(s.type) +
                                   " step: only send_email and send steps have a message");
  PreviewRuntime runtime(templates);
  std::vector<int> columns = core::columns_read(journey, audience->schema, runtime.templates());
  std::vector<core::Value> row;
  std::vector<std::optional<std::string>> exact_text;
  if (!pg::read_customer_row(*audience, customer, columns, &row, &exact_text))
    throw core::Error(
        "23503", "customer \"" + customer + "\" does not exist in " + audience->qualified_name);
  core::Enrollment enrollment;
  enrollment.customer_id = customer;
  enrollment.step = step;
  enrollment.context = context.is_object() ? context : core::Json::object();
  enrollment.last_event = event;
  int64_t now = pg::pg_to_unix(pg::pg_guard([] { return GetCurrentTransactionStartTimestamp(); }));
  // One step: the send renders its message; the run stops before the next.
  core::RunResult run = core::run_enrollment(journey, audience->schema, enrollment, row, now,
                                             runtime, /*max_visits_this_run=*/1, &exact_text);
  spi.finish();
  core::Json out = core::Json::object();
  if (run.messages.empty()) {
    out["exit_reason"] = run.exit_reason.empty() ? run.error : run.exit_reason;
    return pg::json_to_jsonb(out);
  }
  const core::MessageOut& m = run.messages.front();
  out["channel"] = m.channel;
  out["recipient"] = m.recipient ? core::Json(*m.recipient) : core::Json();
  out["no_recipient"] = m.no_recipient;
  out["payload"] = m.payload;
  return pg::json_to_jsonb(out);
}

namespace {

// The id of a registered audience (journey.audiences.id, never an OID), and
// the suppressions of one of its customers. Run as the caller's statements
// would be (no table map): on a Citus install, queries Citus routes.
pg::PreparedStatement audience_id_statement("SELECT journey._audience_id($1)", {REGCLASSOID});
pg::PreparedStatement suppressions_statement(
    "SELECT s.id, s.channel, s.reason, s.at FROM journey.suppressions s"
    " WHERE s.customer_id = $1 AND s.audience_id = $2",
    {TEXTOID, INT8OID});

// The suppressions of `customer` in `audience` (SPI connected).
std::vector<core::Suppression> read_suppressions(Oid audience, const std::string& customer) {
  static uint64_t seen_generation = 0;
  pg::forget_plans_when_refreshed(seen_generation,
                                  {&audience_id_statement, &suppressions_statement});
  pg::TableMapScope no_map(nullptr);
  Datum aid_args[1] = {ObjectIdGetDatum(audience)};
  audience_id_statement.execute(aid_args, " ", true);
  std::vector<std::vector<core::Value>> aid = pg::spi_result_values();
  if (aid.empty() || pg::value_null(aid[0][0])) return {};
  Datum args[2] = {pg::string_to_text(customer), Int64GetDatum(pg::value_int(aid[0][0]))};
  suppressions_statement.execute(args, "  ", true);
  std::vector<core::Suppression> out;
  for (const std::vector<core::Value>& row : pg::spi_result_values()) {
    core::Suppression x;
    x.id = pg::value_int(row[0]);
    if (!pg::value_null(row[1])) x.channel = pg::value_text(row[1]);
    x.reason = pg::value_text(row[2]);
    x.at = pg::value_int(row[3]);
    out.push_back(std::move(x));
  }
  return out;
}

// The suppressions of a claim batch's customers in their audiences (by id),
// and the reasons the batch's versions ignore (one row a reason): one query
// each per batch.
pg::PreparedStatement batch_suppressions_statement(
    "SELECT s.customer_id, s.audience_id, s.id, s.channel, s.reason, s.at"
    "  FROM journey.suppressions s"
    " WHERE s.customer_id = ANY($1::text[]) AND s.audience_id = ANY($2::int8[])",
    {TEXTARRAYOID, INT8ARRAYOID});
pg::PreparedStatement batch_ignored_statement(
    "SELECT v.journey_id, v.version, r.reason"
    "  FROM journey.versions v CROSS JOIN LATERAL unnest(v.ignored_suppression_reasons) r(reason)"
    " WHERE v.journey_id = ANY($1::int8[])",
    {INT8ARRAYOID});

// Text array argument `n` (null elements left out; none when it is null).
std::vector<std::string> text_list_arg(FunctionCallInfo fcinfo, int n) {
  pg::ArrayElements a = pg::array_arg(fcinfo, n, TEXTOID);
  std::vector<std::string> out;
  for (int i = 0; i < a.count; ++i)
    if (!a.nulls[i]) out.push_back(pg::text_to_string(a.values[i]));
  return out;
}

// The suppressions of customer argument 1 of audience argument 0 that may stop
// a message of channel argument 2 (when it is null, those of every channel).
std::vector<core::Suppression> suppressions_arg(FunctionCallInfo fcinfo) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) return {};
  pg::SpiConnection spi;
  std::vector<core::Suppression> found =
      read_suppressions(PG_GETARG_OID(0), pg::arg_string(fcinfo, 1));
  spi.finish();
  if (PG_ARGISNULL(2))
    found.erase(std::remove_if(found.begin(), found.end(),
                               [](const core::Suppression& x) { return x.channel.has_value(); }),
                found.end());
  return found;
}

}  // namespace

// journey._suppression(audience, customer, channel, ignored): the reason of the
// suppression that stops a message of `channel` to the customer, whose journey
// ignores the reasons `ignored` (core::stopping_suppression), or null: one
// message's answer (the claims ask pgj_claim_stops for their batch).
PGJ_FUNCTION(pgj_suppression) {
  std::vector<core::Suppression> found = suppressions_arg(fcinfo);
  auto stop =
      core::stopping_suppression(found, pg::arg_string(fcinfo, 2), text_list_arg(fcinfo, 3));
  if (!stop) PG_RETURN_NULL();
  return pg::string_to_text(found[*stop].reason);
}

// journey._claim_stops(customers text[], audience_ids bigint[], journeys
// bigint[], versions int[], channel text) returns text[]: for a claim's batch of
// messages of `channel` (element i: customer, audience id, journey and version
// of message i), the reason of the suppression that stops each message, null
// where none does (core::stopping_reasons: core::stopping_suppression with the
// reasons its version ignores). Two queries a batch, whatever its size.
PGJ_FUNCTION(pgj_claim_stops) {
  pg::ArrayElements customers = pg::array_arg(fcinfo, 0, TEXTOID);
  pg::ArrayElements audiences = pg::array_arg(fcinfo, 1, INT8OID);
  pg::ArrayElements journeys = pg::array_arg(fcinfo, 2, INT8OID);
  pg::ArrayElements versions = pg::array_arg(fcinfo, 3, INT4OID);
  const int n = customers.count;
  if (audiences.count != n || journeys.count != n || versions.count != n)
    throw core::Error("22023", "claim batch arrays must have the same length");
  const std::string channel = pg::arg_string(fcinfo, 4);
  std::vector<core::MessageToCheck> messages(n);
  std::vector<std::pair<int64_t, int32_t>> version_of(n, {0, 0});
  std::set<std::string> customer_set;
  std::set<int64_t> audience_set, journey_set;
  for (int i = 0; i < n; ++i) {
    if (customers.nulls[i] || audiences.nulls[i]) continue;  // nobody to stop
    messages[i].customer = pg::text_to_string(customers.values[i]);
    messages[i].audience = DatumGetInt64(audiences.values[i]);
    messages[i].channel = channel;
    customer_set.insert(messages[i].customer);
    audience_set.insert(messages[i].audience);
    if (!journeys.nulls[i] && !versions.nulls[i]) {
      version_of[i] = {DatumGetInt64(journeys.values[i]), DatumGetInt32(versions.values[i])};
      journey_set.insert(version_of[i].first);
    }
  }
  std::vector<std::optional<std::string>> stops(n);
  if (!customer_set.empty()) {
    pg::SpiConnection spi;
    static uint64_t seen_generation = 0;
    pg::forget_plans_when_refreshed(seen_generation,
                                    {&batch_suppressions_statement, &batch_ignored_statement});
    pg::TableMapScope no_map(nullptr);  // as the caller's statements (Citus routes them)
    std::vector<std::optional<std::string>> keys(customer_set.begin(), customer_set.end());
    Datum args[2] = {pg::text_array(keys), pg::int8_array(std::vector<int64_t>(
                                               audience_set.begin(), audience_set.end()))};
    batch_suppressions_statement.execute(args, "  ", true);
    std::vector<core::CustomerSuppression> found;
    for (const std::vector<core::Value>& row : pg::spi_result_values()) {
      core::CustomerSuppression x;
      x.customer = pg::value_text(row[0]);
      x.audience = pg::value_int(row[1]);
      x.suppression.id = pg::value_int(row[2]);
      if (!pg::value_null(row[3])) x.suppression.channel = pg::value_text(row[3]);
      x.suppression.reason = pg::value_text(row[4]);
      x.suppression.at = pg::value_int(row[5]);
      found.push_back(std::move(x));
    }
    if (!found.empty() && !journey_set.empty()) {
      Datum jargs[1] = {
          pg::int8_array(std::vector<int64_t>(journey_set.begin(), journey_set.end()))};
      batch_ignored_statement.execute(jargs, " ", true);
      std::map<std::pair<int64_t, int32_t>, std::vector<std::string>> ignored;
      for (const std::vector<core::Value>& row : pg::spi_result_values())
        if (!pg::value_null(row[2]))
          ignored[{pg::value_int(row[0]), static_cast<int32_t>(pg::value_int(row[1]))}].push_back(
              pg::value_text(row[2]));
      for (int i = 0; i < n; ++i) {
        auto it = ignored.find(version_of[i]);
        if (it != ignored.end()) messages[i].ignored = it->second;
      }
    }
    spi.finish();
    if (!found.empty()) stops = core::stopping_reasons(messages, found);
  }
  for (int i = 0; i < n; ++i)
    if (customers.nulls[i] || audiences.nulls[i]) stops[i] = std::nullopt;
  return pg::text_array(stops);
}

// journey._preview_stop(audience, customer, channel, no_recipient, ignored):
// why a previewed message would be recorded suppressed ("no_recipient",
// "suppression: <reason>"), or null when it would be pending
// (core::suppressed_reason, as the tick decides).
PGJ_FUNCTION(pgj_preview_stop) {
  const bool no_recipient = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
  std::vector<core::Suppression> found;
  if (!no_recipient) found = suppressions_arg(fcinfo);
  auto why = core::suppressed_reason(no_recipient, found, pg::arg_string(fcinfo, 2),
                                     text_list_arg(fcinfo, 4));
  if (!why) PG_RETURN_NULL();
  return pg::string_to_text(*why);
}

// journey._suppression_stops(channel, reason, message_channel, ignored): whether
// a suppression (channel null: every channel) stops a message of
// message_channel whose journey ignores the reasons `ignored`
// (core::suppression_stops); add_suppression withdraws the pending ones.
PGJ_FUNCTION(pgj_suppression_stops) {
  if (PG_ARGISNULL(1) || PG_ARGISNULL(2)) PG_RETURN_BOOL(false);
  core::Suppression s;
  if (!PG_ARGISNULL(0)) s.channel = pg::arg_string(fcinfo, 0);
  s.reason = pg::arg_string(fcinfo, 1);
  PG_RETURN_BOOL(core::suppression_stops(s, pg::arg_string(fcinfo, 2), text_list_arg(fcinfo, 3)));
}
