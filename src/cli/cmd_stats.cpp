// journeyctl stats and watch: per-step counts of a journey's live version
// (entered, there now, ways out taken), once or refreshing in the terminal.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli/journeyctl.hpp"
#include "cli/queries.hpp"

namespace pgj::cli {
namespace {

volatile sig_atomic_t g_watch_stop = 0;

// Fetches the stats document (cli/queries.hpp).
Json fetch(Context& ctx) {
  auto version = ctx.int_option("version", 1, 2147483647);
  std::optional<std::string> v;
  if (version) v = std::to_string(*version);
  return query_json(ctx.db(), sql::kStats, ctx.arg(0), param(v));
}

// A count with its change since the previous fetch ("12 (+3)").
std::string with_delta(const Json& now, const Json* before) {
  std::string s = cell(now);
  if (before && before->is_number() && now.is_number()) {
    long d = now.get<long>() - before->get<long>();
    if (d) s += " (" + std::string(d > 0 ? "+" : "") + std::to_string(d) + ")";
  }
  return s;
}

// Renders the stats as text; `previous` (may be null) adds the changes.
std::string render(const Json& s, const Json* previous) {
  std::ostringstream out;
  out << "journey \"" << cell(s["journey"]) << "\" (" << cell(s["state"]) << ")";
  if (s["version"].is_null()) {
    out << ": never published, no counts yet\n";
    return out.str();
  }
  out << ", version " << s["version"] << "\n";
  const Json& t = s["totals"];
  const Json* pt = previous ? &(*previous)["totals"] : nullptr;
  out << "enrolled " << with_delta(t["enrolled"], pt ? &(*pt)["enrolled"] : nullptr) << "  active "
      << with_delta(t["active"], pt ? &(*pt)["active"] : nullptr) << "  completed "
      << with_delta(t["completed"], pt ? &(*pt)["completed"] : nullptr) << "  exited "
      << with_delta(t["exited"], pt ? &(*pt)["exited"] : nullptr) << "  failed "
      << with_delta(t["failed"], pt ? &(*pt)["failed"] : nullptr) << "  converted "
      << with_delta(t["converted"], pt ? &(*pt)["converted"] : nullptr) << "\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const Json& st : s["steps"]) {
    const Json* before = nullptr;
    if (previous)
      for (const Json& p : (*previous)["steps"])
        if (p["step"] == st["step"]) before = &p;
    std::string ways;
    for (auto it = st["branches"].begin(); it != st["branches"].end(); ++it)
      ways += (ways.empty() ? "" : ", ") + it.key() + " " + cell(*it);
    rows.push_back({cell(st["step"]), cell(st["type"]),
                    with_delta(st["entered"], before ? &(*before)["entered"] : nullptr),
                    with_delta(st["now_at"], before ? &(*before)["now_at"] : nullptr), ways});
  }
  print_table(out, {"STEP", "TYPE", "ENTERED", "NOW", "WAYS OUT"}, rows);
  return out.str();
}

int stats(Context& ctx) {
  Json s = fetch(ctx);
  if (ctx.flag("json"))
    std::cout << s.dump(2) << "\n";
  else
    std::cout << render(s, nullptr);
  return kOk;
}

void on_watch_signal(int) {
  g_watch_stop = 1;
}

int watch(Context& ctx) {
  long interval_ms = ctx.int_option("interval", 1, 3600).value_or(2) * 1000;
  auto count = ctx.int_option("count", 1, 1000000);
  struct sigaction sa {};
  sa.sa_handler = on_watch_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  const bool tty = is_terminal(STDOUT_FILENO);
  Json previous;
  for (long n = 1; !g_watch_stop; ++n) {
    Json s = fetch(ctx);
    std::time_t now = std::time(nullptr);
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
    std::string text = render(s, previous.is_null() ? nullptr : &previous);
    if (tty) std::cout << "\x1b[H\x1b[2J";  // home, clear screen
    std::cout << text << "\n"
              << when << "  refreshing every " << interval_ms / 1000
              << " s; changes since the last refresh in (); Ctrl-C stops\n";
    if (!tty) std::cout << "----\n";
    std::cout.flush();
    previous = std::move(s);
    if (count && n >= *count) break;
    for (long slept = 0; slept < interval_ms && !g_watch_stop; slept += 50)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return kOk;
}

JOURNEYCTL_COMMAND(Command{
    "stats",
    "per-step counts of a journey's live version",
    "NAME",
    "Per step: how many entered it, how many are there now and which ways out they took;\n"
    "totals per enrollment status. The live version unless --version N.",
    {{"version", 'v', "N", "counts of version N"}, {"json", 0, "", "print JSON"}},
    true,
    1,
    1,
    stats});

JOURNEYCTL_COMMAND(Command{
    "watch",
    "live per-step counts, refreshing in the terminal",
    "NAME",
    "Shows what journeyctl stats shows, refreshed every --interval seconds (default 2),\n"
    "with the change since the previous refresh, until Ctrl-C (exit 0) or --count refreshes.",
    {{"interval", 'i', "SECONDS", "seconds between refreshes (default 2)"},
     {"count", 'n', "N", "stop after N refreshes"},
     {"version", 'v', "N", "counts of version N"}},
    true,
    1,
    1,
    watch});

}  // namespace
}  // namespace pgj::cli
