// journeyctl publish, pause, resume, archive: the journey's state machine.
// publish shows what happens to the customers in flight (journey.publish_preview)
// and the draft's warnings, then asks unless --yes; archive asks too.
#include <iostream>

#include "cli/journeyctl.hpp"

namespace pgj::cli {
namespace {

// The journey's state, live version and draft version (42704 when missing).
Json journey_row(Context& ctx) {
  return query_json(ctx.db(),
                    // The counts joined with the journey read first, not correlated with it:
                    // Citus (docs/scale-out.md) plans no correlated subquery on enrollments.
                    "WITH j AS MATERIALIZED (SELECT x.id, x.state, x.published_version "
                    "                          FROM journey._journey($1) x), "
                    "draft AS (SELECT max(v.version) AS version FROM j JOIN journey.versions v "
                    "            ON v.journey_id = j.id AND v.status = 'draft'), "
                    "active AS (SELECT count(*) AS n FROM j JOIN journey.enrollments e "
                    "             ON e.journey_id = j.id AND e.status = 'active') "
                    "SELECT jsonb_build_object('state', j.state, 'live', j.published_version, "
                    "'draft', draft.version, 'active', active.n) FROM j, draft, active",
                    ctx.arg(0));
}

int publish(Context& ctx) {
  const std::string name = ctx.arg(0);
  const bool migrate = ctx.flag("migrate");
  Json j = journey_row(ctx);
  if (!j["draft"].is_null()) {
    std::cout << "Publishing draft version " << j["draft"] << " of \"" << name << "\"";
    if (!j["live"].is_null()) std::cout << " (live now: version " << j["live"] << ")";
    std::cout << ".\n";
    Json preview = query_json(ctx.db(),
                              "SELECT coalesce(jsonb_agg(to_jsonb(p)), '[]') "
                              "FROM journey.publish_preview($1) p",
                              name);
    if (preview.empty()) {
      std::cout << "No customers are in flight.\n";
    } else {
      std::cout << "Customers in flight and what publishing does to them"
                << (migrate ? " (--migrate)" : "") << ":\n";
      std::vector<std::vector<std::string>> rows;
      for (const Json& p : preview) {
        std::string fate = cell(p["fate"]);
        // Without --migrate every enrollment stays on its version.
        if (!migrate && fate == "move") fate = "stay (publish --migrate would move them)";
        rows.push_back({cell(p["step_key"]), cell(p["enrolled"]), fate});
      }
      print_table(std::cout, {"STEP", "ENROLLED", "FATE"}, rows);
    }
    Json issues = query_json(
        ctx.db(), "SELECT coalesce(jsonb_agg(to_jsonb(i)), '[]') FROM journey.validate($1) i",
        name);
    for (const Json& i : issues)
      std::cout << i["severity"].get<std::string>() << "  "
                << (i["step_key"].is_null() ? std::string("journey") : cell(i["step_key"])) << ": "
                << cell(i["message"]) << "\n";
    if (!ctx.flag("yes") && !confirm("Publish \"" + name + "\"?")) {
      std::cerr << "journeyctl: not published\n";
      return kCancelled;
    }
  }
  pqxx::result r = run_sql(ctx.db(), "SELECT journey.publish($1, $2)", name, migrate);
  std::cout << "published \"" << name << "\" version " << r[0][0].c_str() << "\n";
  return kOk;
}

int pause(Context& ctx) {
  run_sql(ctx.db(), "SELECT journey.pause($1)", ctx.arg(0));
  std::cout << "paused \"" << ctx.arg(0) << "\"\n";
  return kOk;
}

int resume(Context& ctx) {
  std::string catch_up = ctx.option_or("catch-up", "run");
  if (catch_up != "run" && catch_up != "skip")
    throw usage_error("--catch-up must be run or skip, not \"" + catch_up + "\"");
  run_sql(ctx.db(), "SELECT journey.resume($1, $2)", ctx.arg(0), catch_up);
  std::cout << "resumed \"" << ctx.arg(0) << "\"\n";
  return kOk;
}

int archive(Context& ctx) {
  const std::string name = ctx.arg(0);
  Json j = journey_row(ctx);
  if (j["state"] != "archived" && !ctx.flag("yes")) {
    std::cout << "Archiving \"" << name << "\" is final: " << j["active"]
              << " active enrollment(s) end with exit reason \"archived\".\n";
    if (!confirm("Archive \"" + name + "\"?")) {
      std::cerr << "journeyctl: not archived\n";
      return kCancelled;
    }
  }
  run_sql(ctx.db(), "SELECT journey.archive($1)", name);
  std::cout << "archived \"" << name << "\"\n";
  return kOk;
}

const OptionSpec kYes = {"yes", 'y', "", "do not ask for confirmation"};

JOURNEYCTL_COMMAND(Command{
    "publish",
    "publish a journey's draft (shows the customers in flight, then asks)",
    "NAME",
    "Validates the draft and makes it the live version. First prints, per step, how many\n"
    "active enrollments are there and what publishing does to them (journey.publish_preview),\n"
    "and the draft's warnings; then asks for confirmation on standard input unless --yes\n"
    "(end of input counts as no: exit 6). A draft with errors is refused by the server (exit 1).",
    {{"migrate", 'm', "",
      "move active enrollments to the new version where their step still exists"},
     kYes},
    true,
    1,
    1,
    publish});

JOURNEYCTL_COMMAND(Command{"pause",
                           "pause a published journey (no entries, no steps run)",
                           "NAME",
                           "Enrolled customers keep their place until the journey is resumed.",
                           {},
                           true,
                           1,
                           1,
                           pause});

JOURNEYCTL_COMMAND(Command{
    "resume",
    "resume a paused journey",
    "NAME",
    "--catch-up=run (default) runs what fell due during the pause at once; skip makes\n"
    "delays \"until\" a time of day wait for their next window.",
    {{"catch-up", 0, "run|skip", "what to do with delays that fell due during the pause"}},
    true,
    1,
    1,
    resume});

JOURNEYCTL_COMMAND(Command{
    "archive",
    "archive a journey for good (asks first)",
    "NAME",
    "Archiving is final: active enrollments end (exit reason \"archived\") and the journey\n"
    "leaves the list. Asks for confirmation unless --yes (end of input counts as no: exit 6).",
    {kYes},
    true,
    1,
    1,
    archive});

}  // namespace
}  // namespace pgj::cli
