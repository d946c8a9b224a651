// journeyctl import: creates a journey from a JSON definition, or replaces its
// draft (journey.import), then reports the draft's validation issues.
#include <iostream>

#include "cli/journeyctl.hpp"

namespace pgj::cli {
namespace {

int import_journey(Context& ctx) {
  const std::string path = ctx.arg(0);
  Json def = parse_json(read_file(path), path == "-" ? "standard input" : path);
  pqxx::work tx(ctx.db());
  pqxx::result r =
      tx.exec_params("SELECT journey.import($1::jsonb), $1::jsonb->>'name'", def.dump());
  pqxx::result v = tx.exec_params(
      "SELECT coalesce(jsonb_agg(to_jsonb(i)), '[]') FROM journey.validate($1) i", r[0][1].c_str());
  tx.commit();
  Json issues = Json::parse(v[0][0].c_str());
  int errors = 0;
  for (const Json& i : issues) errors += i["severity"] == "error";
  std::cout << "imported journey \"" << r[0][1].c_str() << "\" (id " << r[0][0].c_str() << ")";
  if (issues.empty())
    std::cout << ": the draft is valid\n";
  else
    std::cout << ": the draft has " << errors << " error(s) and " << issues.size() - errors
              << " warning(s)\n";
  for (const Json& i : issues)
    std::cerr << i["severity"].get<std::string>() << "  "
              << (i["step_key"].is_null() ? std::string("journey") : cell(i["step_key"])) << ": "
              << cell(i["message"]) << "\n";
  return kOk;
}

JOURNEYCTL_COMMAND(Command{
    "import",
    "create a journey from a JSON file, or replace its draft",
    "FILE",
    "FILE is a journey definition (\"-\": standard input), as journeyctl export prints it.\n"
    "The journey is created when none has its name; otherwise its draft is replaced (a new\n"
    "draft is started when the journey is live). Validation issues of the draft are printed\n"
    "on standard error; they do not make the import fail (publish refuses errors).",
    {},
    true,
    1,
    1,
    import_journey});

}  // namespace
}  // namespace pgj::cli
