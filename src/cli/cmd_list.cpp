// journeyctl list: the journey list (journey.list).
#include <iostream>

#include "cli/journeyctl.hpp"

namespace pgj::cli {
namespace {

int list(Context& ctx) {
  Json rows = query_json(ctx.db(),
                         "SELECT coalesce(jsonb_agg(to_jsonb(l) ORDER BY l.name), '[]') "
                         "FROM journey.list($1) l",
                         ctx.flag("all"));
  if (ctx.flag("json")) {
    std::cout << rows.dump(2) << "\n";
    return kOk;
  }
  std::vector<std::vector<std::string>> table;
  for (const Json& r : rows)
    table.push_back({cell(r["name"]), cell(r["state"]), cell(r["live_version"]),
                     cell(r["draft_version"]), cell(r["steps"]), cell(r["active"]),
                     cell(r["enrolled"]), cell(r["converted"]), [&] {
                       std::string t = cell(r["last_activity"]).substr(0, 19);
                       if (t.size() > 10) t[10] = ' ';
                       return t;
                     }()});
  print_table(std::cout,
              {"NAME", "STATE", "LIVE", "DRAFT", "STEPS", "ACTIVE", "ENROLLED", "CONVERTED",
               "LAST ACTIVITY"},
              table);
  return kOk;
}

JOURNEYCTL_COMMAND(Command{
    "list",
    "list journeys with their state, versions and counts",
    "",
    "Archived journeys are hidden unless --all is given. LIVE is the published version,\n"
    "DRAFT the version being edited; LAST ACTIVITY is the latest edit, publish, entry or exit.",
    {{"all", 'a', "", "include archived journeys"},
     {"json", 0, "", "print JSON (journey.list rows)"}},
    true,
    0,
    0,
    list});

}  // namespace
}  // namespace pgj::cli
