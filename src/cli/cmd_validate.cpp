// journeyctl validate: validates a journey definition file with the same core
// validator the server runs (src/core/validator), every problem with its step.
// The audience's columns and the templates come from the server (default),
// from a file journeyctl schema wrote (--schema), or nowhere (--offline: no
// column or template checks). journeyctl schema prints that file.
#include <iostream>
#include <set>

#include "cli/journeyctl.hpp"
#include "core/template.hpp"
#include "core/validator.hpp"

namespace pgj::cli {
namespace {

// The schema document of an audience: columns with their categories, the
// templates with their channels, and the columns each template renders without
// a default (template_columns: core::required_columns of its subject and body).
Json load_schema(Connection& db, const std::string& audience) {
  Json schema = query_json(
      db,
      "SELECT jsonb_build_object('relation', journey._relation_name(a.relation), "
      "'key_column', a.key_column, 'email_column', a.email_column, "
      "'timezone_column', a.timezone_column, "
      "'columns', (SELECT jsonb_agg(jsonb_build_object('name', c.name, 'type', c.type_name, "
      "'category', c.category) ORDER BY c.attnum) FROM journey._audience_columns(a.relation) c), "
      "'templates', (SELECT coalesce(jsonb_object_agg(t.name, t.channel), '{}') "
      "FROM journey.templates t), "
      "'template_text', (SELECT coalesce(jsonb_object_agg(t.name, "
      "coalesce(t.subject, '') || ' ' || t.body), '{}') FROM journey.templates t)) "
      "FROM journey.audiences a WHERE a.relation = journey._find_audience($1)",
      audience);
  if (!schema.is_object()) return schema;
  Json columns = Json::object();
  for (auto it = schema["template_text"].begin(); it != schema["template_text"].end(); ++it)
    columns[it.key()] = core::required_columns(it.value().get<std::string>());
  schema.erase("template_text");
  schema["template_columns"] = std::move(columns);
  return schema;
}

core::ValueType category(const std::string& c) {
  using core::ValueType;
  if (c == "bool") return ValueType::Bool;
  if (c == "int") return ValueType::Int;
  if (c == "float") return ValueType::Float;
  if (c == "text") return ValueType::Text;
  if (c == "timestamp") return ValueType::Timestamp;
  if (c == "date") return ValueType::Date;
  if (c == "json") return ValueType::Json;
  return ValueType::Other;
}

// An AudienceSchema from a schema document; a usage error when malformed.
core::AudienceSchema audience_schema(const Json& s, const std::string& what) {
  core::AudienceSchema a;
  try {
    a.relation = s.at("relation").get<std::string>();
    a.key_column = s.at("key_column").get<std::string>();
    for (const Json& c : s.at("columns")) {
      core::Column col;
      col.name = c.at("name").get<std::string>();
      col.type = category(c.at("category").get<std::string>());
      col.type_name = c.value("type", std::string());
      a.columns.push_back(col);
    }
    if (s.contains("email_column") && s["email_column"].is_string())
      a.email_column = a.find(s["email_column"].get<std::string>());
    if (s.contains("timezone_column") && s["timezone_column"].is_string())
      a.timezone_column = a.find(s["timezone_column"].get<std::string>());
  } catch (const Json::exception& e) {
    throw CliError(kInvalid, what + " is not a schema as journeyctl schema prints it: " + e.what());
  }
  return a;
}

int validate(Context& ctx) {
  const std::string path = ctx.arg(0);
  if (ctx.flag("offline") && ctx.option("schema"))
    throw usage_error("--offline and --schema exclude each other");
  Json def = parse_json(read_file(path), path == "-" ? "standard input" : path);

  core::ValidationEnv env;
  Json schema;
  std::set<std::string> zones;
  std::optional<core::AudienceSchema> audience;
  const std::string audience_name =
      def.is_object() && def.contains("audience") && def["audience"].is_string()
          ? def["audience"].get<std::string>()
          : std::string();
  if (ctx.flag("offline")) {
    env.audience_unchecked = true;
  } else if (auto file = ctx.option("schema")) {
    schema = parse_json(read_file(*file), *file);
    audience = audience_schema(schema, *file);
  } else {
    if (!audience_name.empty()) schema = load_schema(ctx.db(), audience_name);
    if (!schema.is_null()) audience = audience_schema(schema, "the server's schema");
    Json names = query_json(ctx.db(), "SELECT jsonb_agg(lower(name)) FROM pg_timezone_names");
    for (const Json& z : names) zones.insert(z.get<std::string>());
    env.is_valid_timezone = [&zones](const std::string& z) {
      std::string lower;
      for (char c : z) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return zones.count(lower) > 0;
    };
  }
  if (audience) env.audience = &*audience;
  if (schema.is_object() && schema.contains("templates")) {
    env.template_channel = [&schema](const std::string& name) -> std::optional<std::string> {
      const Json& t = schema["templates"];
      if (!t.contains(name)) return std::nullopt;
      return t[name].get<std::string>();
    };
  }
  if (schema.is_object() && schema.contains("template_columns")) {
    env.template_columns = [&schema](const std::string& name) {
      const Json& t = schema["template_columns"];
      return t.contains(name) ? t[name].get<std::vector<std::string>>()
                              : std::vector<std::string>();
    };
  }

  std::vector<core::Issue> issues = core::validate_journey(def, env);
  int errors = 0;
  for (const core::Issue& i : issues) errors += i.severity == "error";
  if (ctx.flag("json")) {
    Json out = Json::array();
    for (const core::Issue& i : issues)
      out.push_back({{"step_key", i.step_key.empty() ? Json() : Json(i.step_key)},
                     {"severity", i.severity},
                     {"message", i.message}});
    std::cout << out.dump(2) << "\n";
  } else {
    for (const core::Issue& i : issues)
      std::cout << i.severity << "  " << (i.step_key.empty() ? "journey" : i.step_key) << ": "
                << i.message << "\n";
    std::cout << (path == "-" ? "standard input" : path) << ": " << errors << " error(s), "
              << issues.size() - errors << " warning(s)"
              << (ctx.flag("offline") ? " (offline: columns and templates not checked)" : "")
              << "\n";
  }
  return errors ? kInvalid : kOk;
}

int schema(Context& ctx) {
  Json s = load_schema(ctx.db(), ctx.arg(0));
  if (s.is_null()) {
    // The server says why (not registered, or ambiguous).
    run_sql(ctx.db(), "SELECT journey._audience_by_name($1)", ctx.arg(0));
    throw CliError(kServerError, "audience \"" + ctx.arg(0) + "\" is not registered");
  }
  write_file(ctx.option_or("output", "-"), s.dump(2) + "\n");
  return kOk;
}

JOURNEYCTL_COMMAND(Command{
    "validate",
    "validate a journey definition file (the server's validator, run locally)",
    "FILE",
    "Runs the validator of src/core (the one journey.validate runs in the server) on FILE\n"
    "(\"-\": standard input) and prints every problem with its step. Where the audience's\n"
    "columns and the templates come from:\n"
    "  default     from the server (connection options): the audience the file names, its\n"
    "              columns and types, the templates and the time zones the server knows\n"
    "  --schema    from a file written by `journeyctl schema AUDIENCE` (no connection)\n"
    "  --offline   nowhere: structure, types, durations, conditions and the graph are\n"
    "              checked; column names, templates and time zones are not\n"
    "In every mode privileges (call steps' functions, update_field columns) are checked\n"
    "by the server when it validates or publishes. Exits 4 when there are errors.",
    {{"schema", 's', "FILE", "take the audience's columns and the templates from FILE"},
     {"offline", 0, "", "do not connect; skip column, template and time zone checks"},
     {"json", 0, "", "print the issues as JSON"}},
    true,
    1,
    1,
    validate});

JOURNEYCTL_COMMAND(Command{
    "schema",
    "print an audience's columns and the templates, for validate --schema",
    "AUDIENCE",
    "AUDIENCE is a registered customer table (public.customers, or customers when that is\n"
    "unambiguous). The output lets `journeyctl validate --schema FILE` check column names,\n"
    "types and templates without a connection (in CI, say).",
    {{"output", 'o', "FILE", "write to FILE instead of standard output"}},
    true,
    1,
    1,
    schema});

}  // namespace
}  // namespace pgj::cli
