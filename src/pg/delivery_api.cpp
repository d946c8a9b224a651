// SQL-callable helpers of delivery (src/sql/delivery.sql): recipients per
// channel, suppressions, message events, preview.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/engine.hpp"
#include "core/error.hpp"
#include "pg/bridge.hpp"
#include "pg/catalog.hpp"
#include "pg/convert.hpp"
#include "pg/datum.hpp"
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
