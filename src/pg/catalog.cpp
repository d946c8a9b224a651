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

std::optional<AudienceInfo> load_audience_info(Oid relid) {
  auto found = spi_rows(
      "SELECT journey._relation_name(a.relation), a.key_column::text, a.email_column::text,"
      "       a.timezone_column::text"
      "  FROM journey.audiences a WHERE a.relation = $1::oid",
      {std::to_string(relid)});
  if (found.empty()) return std::nullopt;
  AudienceInfo info;
  info.relid = relid;
  info.qualified_name = *found[0][0];
  info.schema.relation = info.qualified_name;
  info.schema.key_column = *found[0][1];
  for (const Row& col : spi_rows("SELECT name, type_name, category"
                                 "  FROM journey._audience_columns($1::oid::regclass)",
                                 {std::to_string(relid)})) {
    int index = static_cast<int>(info.schema.columns.size());
    info.schema.columns.push_back(core::Column{*col[0], value_type_of(*col[2]), *col[1]});
    info.type_names.push_back(*col[1]);
    info.categories.push_back(*col[2]);
    if (*col[0] == info.schema.key_column) info.key_type = *col[1];
    if (found[0][2] && *col[0] == *found[0][2]) info.schema.email_column = index;
    if (found[0][3] && *col[0] == *found[0][3]) info.schema.timezone_column = index;
  }
  return info;
}

std::optional<core::AudienceSchema> load_audience(const std::string& name) {
  auto found = spi_rows("SELECT journey._find_audience($1)::oid::text", {name});
  if (found.empty() || !found[0][0]) return std::nullopt;
  auto info = load_audience_info(static_cast<Oid>(std::stoul(*found[0][0])));
  if (!info) return std::nullopt;
  return std::move(info->schema);
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
  env_.check_update_column = [this](const std::string& c) { return check_update_column(c); };
}

// Empty when the journey owner may UPDATE this column of the audience (field
// updates run with the owner's privileges), else why not.
std::string CatalogEnv::check_update_column(const std::string& column) const {
  if (!audience_) return {};
  auto rows = spi_rows(
      "SELECT has_column_privilege($1::oid, a.relation, $2::text, 'UPDATE'),"
      "       $1::oid::regrole::text"
      "  FROM journey.audiences a WHERE a.relation = journey._find_audience($3)",
      {std::to_string(owner_), column, audience_->relation});
  if (rows.empty() || *rows[0][0] == "t") return {};
  return "journey owner " + *rows[0][1] + " may not update column \"" + column + "\" of " +
         audience_->relation;
}

// Empty when `function(text, jsonb) returns jsonb` exists and the journey owner
// may execute it; otherwise why not.
std::string CatalogEnv::check_call_function(const std::string& function) const {
  static const std::regex name_syntax(
      R"(^("[^"]+"|[A-Za-z_][A-Za-z0-9_$]*)(\.("[^"]+"|[A-Za-z_][A-Za-z0-9_$]*))?$)");
  if (!std::regex_match(function, name_syntax)) return "invalid function name \"" + function + "\"";
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
