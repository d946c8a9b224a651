// SQL-callable functions behind authoring: validation and small checks the
// PL/pgSQL authoring functions of the install script call.
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/compile.hpp"
#include "core/engine.hpp"
#include "core/error.hpp"
#include "core/template.hpp"
#include "core/validator.hpp"
#include "pg/bridge.hpp"
#include "pg/catalog.hpp"
#include "pg/convert.hpp"
#include "pg/datum.hpp"
#include "pg/spi.hpp"
#include "pg/tick.hpp"

namespace pgj::pg {
namespace {

// Returns issues as the rows (step_key text, severity text, message text) of a
// materialized set-returning function.
Datum emit_issues(FunctionCallInfo fcinfo, const std::vector<core::Issue>& issues) {
  pg_guard([&] { InitMaterializedSRF(fcinfo, 0); });
  for (const core::Issue& issue : issues) {
    Datum values[3] = {string_to_text(issue.step_key), string_to_text(issue.severity),
                       string_to_text(issue.message)};
    bool nulls[3] = {issue.step_key.empty(), false, false};
    pg_guard([&] {
      auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
      tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    });
  }
  return static_cast<Datum>(0);
}

void require_argument(FunctionCallInfo fcinfo, int n, const char* name) {
  if (PG_ARGISNULL(n))
    throw core::Error("22004", std::string("argument ") + name + " must not be null");
}

// validate_definition's body; with_templates: argument 2 holds the templates.
Datum validate_definition(FunctionCallInfo fcinfo, bool with_templates) {
  require_argument(fcinfo, 0, "definition");
  core::Json definition = jsonb_to_json(PG_GETARG_DATUM(0));
  Oid owner = PG_ARGISNULL(1) ? pg_guard([] { return GetUserId(); }) : PG_GETARG_OID(1);
  std::optional<core::Json> templates;
  if (with_templates && !PG_ARGISNULL(2)) templates = jsonb_to_json(PG_GETARG_DATUM(2));
  SpiConnection spi;
  std::vector<core::Issue> issues;
  {
    CatalogEnv catalog(definition, owner, templates ? &*templates : nullptr);
    issues = core::validate_journey(definition, catalog.env());
  }
  spi.finish();
  return emit_issues(fcinfo, issues);
}

}  // namespace
}  // namespace pgj::pg

using namespace pgj;

// journey.validate_definition(definition jsonb, owner regrole): every problem of
// a journey definition, without storing it.
PGJ_FUNCTION(pgj_validate_definition) {
  return pg::validate_definition(fcinfo, false);
}

// journey._validate_version(definition jsonb, owner regrole, templates jsonb):
// as validate_definition, with a published version's frozen templates
// (journey.versions.templates; null: journey.templates): a template replaced
// after the publish does not change what that version renders.
PGJ_FUNCTION(pgj_validate_version) {
  return pg::validate_definition(fcinfo, true);
}

// journey._unknown_definition_keys(definition jsonb): the top-level keys a
// definition does not have (core::unknown_definition_keys), for journey.import.
PGJ_FUNCTION(pgj_unknown_definition_keys) {
  core::Json definition = pg::jsonb_to_json(PG_GETARG_DATUM(0));
  std::vector<std::optional<std::string>> keys;
  for (std::string& key : core::unknown_definition_keys(definition))
    keys.emplace_back(std::move(key));
  return pg::text_array(keys);
}

// journey._shape_issues(definition jsonb, audience regclass): the errors the
// definition has because of the audience table's current shape, and only
// those: the errors of validating it against the table's columns that
// validating it without a table does not also report (so a problem unrelated
// to the table, or a rule a later release added, never blocks a DDL). When the
// validator finds none, whether the same pass compiled what the customer-table
// trigger and the tick run (core::compile_definition) gets the last word. The
// DDL guards (src/sql/audiences.sql) call it after an ALTER TABLE of a
// registered audience: on a Citus coordinator the audience is read from the
// local placement of journey.audiences (journey._citus_local_table), as the
// guards read it (Citus returns no rows while an ALTER TABLE runs).
PGJ_FUNCTION(pgj_shape_issues) {
  core::Json definition = pg::jsonb_to_json(PG_GETARG_DATUM(0));
  Oid relid = PG_GETARG_OID(1);
  pg::SpiConnection spi;
  auto audiences = pg::spi_rows("SELECT journey._citus_local_table('journey.audiences')");
  std::optional<pg::AudienceInfo> audience = pg::load_audience_info(relid, *audiences.at(0).at(0));
  spi.finish();
  std::vector<core::Issue> issues;
  if (audience) {
    core::ValidationEnv with_table;
    with_table.audience = &audience->schema;
    std::set<std::pair<std::string, std::string>> without_table;
    for (const core::Issue& issue : core::validate_journey(definition, core::ValidationEnv{}))
      if (issue.severity == "error") without_table.emplace(issue.step_key, issue.message);
    core::Compilation compiled = core::compile_definition(definition, with_table);
    for (core::Issue& issue : compiled.issues)
      if (issue.severity == "error" && !without_table.count({issue.step_key, issue.message}))
        issues.push_back(std::move(issue));
    if (issues.empty() && !compiled.usable())
      issues.push_back(core::Issue{"", "error", compiled.unusable_message()});
  }
  pg::pg_guard([&] { InitMaterializedSRF(fcinfo, 0); });
  for (const core::Issue& issue : issues) {
    Datum values[2] = {pg::string_to_text(issue.step_key), pg::string_to_text(issue.message)};
    bool nulls[2] = {issue.step_key.empty(), false};
    pg::pg_guard([&] {
      auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
      tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    });
  }
  return static_cast<Datum>(0);
}

// journey._channels_sent(definition jsonb, audience regclass): the send steps of
// a definition that address their channel's recipient column of the audience,
// as (step_key, channel) rows: the definition compiled once against the
// audience (core::compile_definition), asked by core::channels_sent.
PGJ_FUNCTION(pgj_channels_sent) {
  core::Json definition = pg::jsonb_to_json(PG_GETARG_DATUM(0));
  Oid relid = PG_GETARG_OID(1);
  pg::SpiConnection spi;
  std::optional<pg::AudienceInfo> audience = pg::load_audience_info(relid);
  spi.finish();
  if (!audience) throw core::Error("42704", "relation is not a registered audience");
  core::ValidationEnv env;
  env.audience = &audience->schema;
  core::Compilation compiled = core::compile_definition(definition, env);
  std::vector<std::pair<std::string, std::string>> sent = core::channels_sent(compiled.journey);
  pg::pg_guard([&] { InitMaterializedSRF(fcinfo, 0); });
  for (const auto& [step_key, channel] : sent) {
    Datum values[2] = {pg::string_to_text(step_key), pg::string_to_text(channel)};
    bool nulls[2] = {false, false};
    pg::pg_guard([&] {
      auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
      tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    });
  }
  return static_cast<Datum>(0);
}

// journey._templates_named(definition jsonb): the templates the send steps of a
// definition render (core::templates_named of its one compile), sorted.
PGJ_FUNCTION(pgj_templates_named) {
  core::ValidationEnv env;
  env.audience_unchecked = true;
  core::Compilation compiled = core::compile_definition(pg::jsonb_to_json(PG_GETARG_DATUM(0)), env);
  std::vector<std::optional<std::string>> names;
  for (std::string& name : core::templates_named(compiled.journey))
    names.emplace_back(std::move(name));
  return pg::text_array(names);
}

// journey._settings_issues(settings jsonb): problems of a settings object alone.
PGJ_FUNCTION(pgj_settings_issues) {
  pg::require_argument(fcinfo, 0, "settings");
  core::Json settings = pg::jsonb_to_json(PG_GETARG_DATUM(0));
  core::ValidationEnv env;
  env.is_valid_timezone = pg::is_known_timezone;
  return pg::emit_issues(fcinfo, core::validate_settings(settings, env));
}

// journey._template_errors(text): syntax problems of a template's merge tags.
PGJ_FUNCTION(pgj_template_errors) {
  std::vector<core::Issue> issues;
  if (!PG_ARGISNULL(0)) {
    for (std::string& message : core::template_errors(pg::arg_string(fcinfo, 0)))
      issues.push_back(core::Issue{"", "error", std::move(message)});
  }
  return pg::emit_issues(fcinfo, issues);
}

// journey._invoking_role(): the role that called in, even inside a SECURITY
// DEFINER function (the outer user, as SET ROLE left it). Code that runs on
// someone else's behalf (a journey's call step or segment query, a field
// update's triggers, an index expression) has no such caller it may speak for:
// there, authoring and publishing are refused rather than attributed to the
// session's user.
PGJ_FUNCTION(pgj_invoking_role) {
  bool restricted = pg::pg_guard([] { return InSecurityRestrictedOperation(); });
  if (restricted || pg::tick_in_progress())
    throw core::Error("42501",
                      "journeys cannot be created, registered or published from code that runs "
                      "on another role's behalf",
                      "a call step, a segment query or a trigger fired by a field update tried to");
  return ObjectIdGetDatum(pg::pg_guard([] { return GetOuterUserId(); }));
}
