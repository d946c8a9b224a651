// journeyctl show: one journey at a glance: state, versions, triggers, exit
// rules, settings, steps with their connections, and the validation issues.
#include <iostream>

#include "cli/journeyctl.hpp"

namespace pgj::cli {
namespace {

// A compact text of a step's config (its members but key, type and links).
std::string summary(const Json& step) {
  std::string out;
  for (auto it = step.begin(); it != step.end(); ++it) {
    if (it.key() == "key" || it.key() == "type" || it.key() == "next" || it.key() == "branches")
      continue;
    if (!out.empty()) out += " ";
    out += it.key() + "=" + (it->is_string() ? it->get<std::string>() : it->dump());
  }
  return out;
}

int show(Context& ctx) {
  auto version = ctx.int_option("version", 1, 2147483647);
  std::optional<std::string> v;
  if (version) v = std::to_string(*version);
  Json info = query_json(
      ctx.db(),
      "SELECT jsonb_build_object('journey', (SELECT to_jsonb(l) FROM journey.list(true) l "
      "WHERE l.name = j.name), 'definition', journey.export(j.name, $2::int), "
      "'version', coalesce($2::int, (SELECT max(x.version) FROM journey.versions x WHERE "
      "x.journey_id = j.id)), 'issues', (SELECT coalesce(jsonb_agg(to_jsonb(i)), '[]') FROM "
      "journey.validate_definition(journey.export(j.name, $2::int), j.owner) i), "
      "'versions', (SELECT jsonb_agg(jsonb_build_object('version', x.version, 'status', x.status, "
      "'published_at', x.published_at, 'published_by', x.published_by) ORDER BY x.version) "
      "FROM journey.versions x WHERE x.journey_id = j.id)) "
      "FROM journey._journey($1) j",
      ctx.arg(0), param(v));
  if (ctx.flag("json")) {
    std::cout << info.dump(2) << "\n";
    return kOk;
  }
  const Json& j = info["journey"];
  const Json& def = info["definition"];
  std::cout << "journey   " << cell(j["name"]) << " (id " << j["journey_id"] << ")\n"
            << "state     " << cell(j["state"]) << "\n"
            << "audience  " << cell(j["audience"]) << "\n"
            << "owner     " << cell(j["owner"]) << "\n";
  if (!j["description"].is_null()) std::cout << "about     " << cell(j["description"]) << "\n";
  std::cout << "versions ";
  for (const Json& x : info["versions"])
    std::cout << " " << x["version"] << " (" << cell(x["status"]) << ")";
  std::cout << "\nshowing   version " << info["version"] << "\n";
  std::cout << "counts    active " << j["active"] << ", enrolled " << j["enrolled"]
            << ", converted " << j["converted"] << ", failed " << j["failed"] << "\n";
  std::cout << "\nentry triggers:\n";
  int n = 0;
  for (const Json& t : def.value("entry", Json::array())) {
    Json rest = t;
    rest.erase("type");
    std::cout << "  " << ++n << ". " << cell(t["type"]) << (rest.empty() ? "" : " " + rest.dump())
              << "\n";
  }
  if (n == 0) std::cout << "  (none)\n";
  std::cout << "exit rules:\n";
  n = 0;
  for (const Json& r : def.value("exit", Json::array())) {
    Json rest = r;
    rest.erase("type");
    rest.erase("is_goal");
    std::cout << "  " << ++n << ". " << cell(r["type"]) << " " << rest.dump()
              << (r.value("is_goal", false) ? " (goal)" : "") << "\n";
  }
  if (n == 0) std::cout << "  (none)\n";
  std::cout << "settings: " << def.value("settings", Json::object()).dump() << "\n";
  std::cout << "\nsteps (start: " << cell(def.value("start", Json())) << "):\n";
  std::vector<std::vector<std::string>> rows;
  for (const Json& s : def.value("steps", Json::array())) {
    std::string links;
    if (s.contains("next")) links = "next -> " + cell(s["next"]);
    if (s.contains("branches"))
      for (auto it = s["branches"].begin(); it != s["branches"].end(); ++it)
        links += (links.empty() ? "" : ", ") + it.key() + " -> " + cell(*it);
    rows.push_back({cell(s["key"]), cell(s["type"]), summary(s), links});
  }
  print_table(std::cout, {"  STEP", "TYPE", "CONFIG", "CONNECTIONS"}, [&] {
    for (auto& r : rows) r[0] = "  " + r[0];
    return rows;
  }());
  if (!info["issues"].empty()) {
    std::cout << "\nissues:\n";
    for (const Json& i : info["issues"])
      std::cout << "  " << cell(i["severity"]) << "  "
                << (i["step_key"].is_null() ? std::string("journey") : cell(i["step_key"])) << ": "
                << cell(i["message"]) << "\n";
  }
  return kOk;
}

JOURNEYCTL_COMMAND(Command{
    "show",
    "show a journey: state, versions, triggers, rules, steps and issues",
    "NAME",
    "Shows the draft when there is one, else the latest version (or --version N).",
    {{"version", 'v', "N", "show version N"}, {"json", 0, "", "print JSON"}},
    true,
    1,
    1,
    show});

}  // namespace
}  // namespace pgj::cli
