// Catalog lookups behind validation, through SPI and the time zone library.
#include "pg/catalog.hpp"

#include <regex>

#include "pg/bridge.hpp"
#include "pg/spi.hpp"

namespace pgj::pg {

namespace {

core::ValueType value_type_of(const std::string& category) {
  if (category == "bool") return core::ValueType::Bool;
  if (category == "int") return core::ValueType::Int;
  if (category == "float") return core::ValueType::Float;
  if (category == "text") return core::ValueType::Text;
  if (category == "timestamp") return core::ValueType::Timestamp;
  if (category == "date") return core::ValueType::Date;
  if (category == "json") return core::ValueType::Json;
  return core::ValueType::Other;
}

}  // namespace

std::optional<core::AudienceSchema> load_audience(const std::string& name) {
  auto found = spi_rows(
      "SELECT a.relation::oid::text, journey._relation_name(a.relation), a.key_column::text"
      "  FROM journey.audiences a WHERE a.relation = journey._find_audience($1)",
      {name});
  if (found.empty()) return std::nullopt;
  core::AudienceSchema schema;
  schema.relation = *found[0][1];
  schema.key_column = *found[0][2];
  for (const Row& col : spi_rows("SELECT name, type_name, category"
                                 "  FROM journey._audience_columns($1::oid::regclass)",
                                 {found[0][0]})) {
    schema.columns.push_back(core::Column{*col[0], value_type_of(*col[2]), *col[1]});
  }
  return schema;
}

bool is_known_timezone(const std::string& zone) {
  if (zone.empty()) return false;
  const char* name = zone.c_str();
  return pg_guard([&] { return pg_tzset(name) != nullptr; });
}

CatalogEnv::CatalogEnv(const core::Json& definition, Oid owner) : owner_(owner) {
  if (definition.is_object()) {
    auto audience = definition.find("audience");
    if (audience != definition.end() && audience->is_string())
      audience_ = load_audience(audience->get<std::string>());
  }
  for (const Row& t : spi_rows("SELECT name, channel FROM journey.templates"))
    template_channels_[*t[0]] = *t[1];

  env_.audience = audience_ ? &*audience_ : nullptr;
  env_.template_channel = [this](const std::string& name) -> std::optional<std::string> {
    auto it = template_channels_.find(name);
    if (it == template_channels_.end()) return std::nullopt;
    return it->second;
  };
  env_.is_valid_timezone = is_known_timezone;
  env_.check_call_function = [this](const std::string& f) { return check_call_function(f); };
}

// Empty when `function(text, jsonb) returns jsonb` exists and the journey owner
// may execute it; otherwise why not.
std::string CatalogEnv::check_call_function(const std::string& function) const {
  static const std::regex name_syntax(
      R"(^("[^"]+"|[A-Za-z_][A-Za-z0-9_$]*)(\.("[^"]+"|[A-Za-z_][A-Za-z0-9_$]*))?$)");
  if (!std::regex_match(function, name_syntax))
    return "invalid function name \"" + function + "\"";
  auto rows = spi_rows(
      "SELECT p.prorettype = 'jsonb'::regtype, has_function_privilege($2::oid, p.oid, 'EXECUTE'),"
      "       $2::oid::regrole::text"
      "  FROM pg_proc p WHERE p.oid = to_regprocedure($1 || '(text, jsonb)')",
      {function, std::to_string(owner_)});
  if (rows.empty())
    return "function " + function + "(customer_id text, context jsonb) does not exist";
  if (*rows[0][0] != "t") return "function " + function + "(text, jsonb) must return jsonb";
  if (*rows[0][1] != "t")
    return "journey owner " + *rows[0][2] + " may not execute function " + function;
  return {};
}

}  // namespace pgj::pg
