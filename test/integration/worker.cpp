// Background worker: the launcher keeps pg_journey.workers = 2 workers running in
// database pgj_worker (tools/cluster.sh), and they advance journeys without any
// run_due call from here. Checks: both workers run; a 20,000-enrollment drain
// with no double processing; track() -> woken step latency; pg_journey.enabled;
// SIGTERM of a worker (clean exit, replaced); kill -9 of a worker (crash restart,
// nothing lost or repeated); DROP/CREATE EXTENSION under running workers; and the
// pg_cron fallback in database postgres, where no worker runs.
//
// Needs the throwaway cluster of tools/test.sh: PGHOST/PGPORT/PGUSER, plus
// PGJ_CLUSTER_DATA and PGJ_CLUSTER_LOG. Leaves the cluster running. Prints
// "N passed, N failed"; exits 1 on any failure.
//
// No check depends on how fast the machine is: each waits for its condition up
// to a generous deadline (kPatience), and latencies are reported, not judged
// (the latency targets live in the benchmarks, bench/).
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pqxx_support.hpp"

using namespace pgj::testing;

namespace {

const char* kDatabase = "pgj_worker";  // pg_journey.database of tools/cluster.sh
constexpr int kWorkers = 2;            // pg_journey.workers of tools/cluster.sh
constexpr int kDrain = 20000;
constexpr int kPings = 50;
constexpr int kCustomers = 50000;
constexpr int kPatience = 60000;  // ms: the deadline of every wait for a condition

// Prefix of template names (the pg_cron phase shares database postgres with other suites).
std::string tpl;

// Starts the server the way tools/cluster.sh does (if it is down).
bool ensure_server() {
  return accepts_connections("postgres", 10000) ||
         (start_server() && accepts_connections("postgres", 10000));
}

std::streamoff log_size() {
  std::ifstream f(env("PGJ_CLUSTER_LOG"), std::ios::ate | std::ios::binary);
  return f ? static_cast<std::streamoff>(f.tellg()) : 0;
}

// Server log lines written since `from`.
std::vector<std::string> log_lines_since(std::streamoff from) {
  std::vector<std::string> out;
  std::ifstream f(env("PGJ_CLUSTER_LOG"), std::ios::binary);
  f.seekg(from);
  std::string line;
  while (std::getline(f, line)) out.push_back(line);
  return out;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// pids of the workers of pgj_worker, as pg_stat_activity shows them.
std::vector<pid_t> worker_pids(pqxx::connection& c) {
  pqxx::nontransaction tx(c);
  std::vector<pid_t> out;
  for (const auto& row : tx.exec("SELECT pid FROM pg_stat_activity WHERE backend_type ="
                                 " 'pg_journey worker' AND datname = " +
                                 q(kDatabase) + " ORDER BY pid"))
    out.push_back(row[0].as<int>());
  return out;
}

bool workers_up(const std::string& db = "postgres") {
  pqxx::connection c(dsn(db));
  return worker_pids(c).size() == kWorkers;
}

// Journeys over the customers table. "four": send_email -> condition -> (yes)
// update_field -> send_email; "ping": send_email -> wait_for_event 'ping' ->
// send_email; "two": send_email -> send_email.
void define_journey(pqxx::transaction_base& tx, const std::string& name, const std::string& kind) {
  const std::string j = q(name);
  if (kind == "four") {
    define_delay_journey(tx, name, 50, "", tpl);
    return;
  }
  tx.exec("SELECT journey.create_journey(" + j + ", 'customers')");
  if (kind == "ping") {
    tx.exec("SELECT journey.add_step(" + j + ", 'hi', 'send_email', '{\"template\": \"" + tpl +
            "hello\"}')");
    tx.exec("SELECT journey.add_step(" + j +
            ", 'wait', 'wait_for_event',"
            " '{\"event\": \"ping\", \"timeout\": \"1 day\"}')");
    tx.exec("SELECT journey.add_step(" + j + ", 'pong', 'send_email', '{\"template\": \"" + tpl +
            "bye\"}')");
    tx.exec("SELECT journey.connect(" + j + ", 'hi', 'wait')");
    tx.exec("SELECT journey.connect(" + j + ", 'wait', 'pong', 'event')");
  } else {
    tx.exec("SELECT journey.add_step(" + j + ", 'hello', 'send_email', '{\"template\": \"" + tpl +
            "hello\"}')");
    tx.exec("SELECT journey.add_step(" + j + ", 'bye', 'send_email', '{\"template\": \"" + tpl +
            "bye\"}')");
    tx.exec("SELECT journey.connect(" + j + ", 'hello', 'bye')");
  }
  tx.exec("SELECT journey.publish(" + j + ")");
}

// Enrolls customers lo..hi in a journey, durably (the test cluster runs with
// synchronous_commit = off, and a crash restart must not lose the enrollment).
long long enroll(pqxx::connection& c, const std::string& journey, long long lo, long long hi) {
  pqxx::work tx(c);
  tx.exec("SET LOCAL synchronous_commit = on");
  pqxx::result r = tx.exec("SELECT journey.enroll_query(" + q(journey) +
                           ", 'SELECT id FROM customers WHERE id BETWEEN " + std::to_string(lo) +
                           " AND " + std::to_string(hi) + "')");
  tx.commit();
  return r[0][0].as<long long>();
}

long long not_completed(pqxx::connection& c, const std::string& journey) {
  return scalar(c, "SELECT count(*) FROM journey.enrollments WHERE status <> 'completed' AND " +
                       journey_filter(journey));
}

// Waits until every enrollment of the journey completed; returns seconds or -1.
double wait_drained(const std::string& db, const std::string& journey, int timeout_ms) {
  auto t0 = Clock::now();
  bool ok = wait_for(
      [&] {
        pqxx::connection c(dsn(db));
        return not_completed(c, journey) == 0;
      },
      timeout_ms, 20);
  return ok ? seconds_since(t0) : -1;
}

// Exactly-once invariants over every journey of the database.
void check_invariants(pqxx::connection& c, const std::string& label) {
  check(scalar(c,
               "SELECT count(*) FROM (SELECT 1 FROM journey.messages"
               " GROUP BY enrollment_id, visit HAVING count(*) > 1) d") == 0 &&
            scalar(c,
                   "SELECT count(*) FROM (SELECT 1 FROM journey.activity"
                   " GROUP BY enrollment_id, visit HAVING count(*) > 1) d") == 0,
        label + ": no duplicate (enrollment_id, visit) in messages or activity");
  long long sends =
      scalar(c, "SELECT count(*) FROM journey.activity WHERE step_type = 'send_email'");
  long long messages = scalar(c, "SELECT count(*) FROM journey.messages");
  check(sends == messages &&
            scalar(c,
                   "SELECT count(*) FROM journey.activity a WHERE a.step_type = 'send_email'"
                   " AND NOT EXISTS (SELECT 1 FROM journey.messages m WHERE m.enrollment_id"
                   " = a.enrollment_id AND m.visit = a.visit AND m.step_key = a.step_key)") == 0,
        label + ": exactly one message per send visit (" + std::to_string(messages) +
            " messages, " + std::to_string(sends) + " send visits)");
  long long visits = scalar(c, "SELECT coalesce(sum(visits), 0) FROM journey.enrollments");
  long long activity = scalar(c, "SELECT count(*) FROM journey.activity");
  check(visits == activity, label + ": sum(visits) = count(activity) (" + std::to_string(visits) +
                                " vs " + std::to_string(activity) + ")");
  check(scalar(c,
               "SELECT count(*) FROM journey.enrollments WHERE status = 'failed'"
               " OR last_error IS NOT NULL") == 0,
        label + ": no enrollment failed or recorded an error");
}

// Checks of one "four" journey's shape: 4 visits on yes, 3 on no, 2 messages each.
void check_four(pqxx::connection& c, const std::string& journey, long long n,
                const std::string& label) {
  const std::string f = journey_filter(journey);
  check(scalar(c, "SELECT count(*) FROM journey.enrollments WHERE status = 'completed' AND " + f) ==
            n,
        label + ": all " + std::to_string(n) + " enrollments completed");
  check(scalar(c, "SELECT count(*) FROM journey.messages WHERE " + f) == 2 * n,
        label + ": 2 messages per enrollment");
  check(scalar(c,
               "SELECT count(*) FROM journey.enrollments e JOIN customers c"
               " ON c.id = e.customer_id::bigint WHERE e." +
                   f + " AND e.visits <> CASE WHEN c.score > 50 THEN 4 ELSE 3 END") == 0,
        label + ": 4 visits on the yes branch, 3 on the no branch");
}

// ---------------------------------------------------------------------------

void setup() {
  {
    pqxx::connection admin(dsn("postgres"));
    ensure_worker_role(admin);
    if (scalar(admin, "SELECT count(*) FROM pg_database WHERE datname = " + q(kDatabase)) > 0) {
      // Left over by an earlier run.
      try {
        exec(admin, std::string("DROP DATABASE ") + kDatabase + " WITH (FORCE)");
      } catch (const std::exception& e) {
        log(std::string("dropping the old database failed: ") + e.what());
      }
      ensure_server();
    }
  }
  pqxx::connection admin(dsn("postgres"));
  exec(admin, std::string("CREATE DATABASE ") + kDatabase);
  auto t0 = Clock::now();
  bool up = wait_for([] { return workers_up(); }, kPatience, 20);
  double s = seconds_since(t0);
  char buf[96];
  std::snprintf(buf, sizeof buf, "the launcher started %d workers (%.2f s after CREATE DATABASE)",
                kWorkers, s);
  check(up, buf);

  pqxx::connection c(dsn(kDatabase));
  pqxx::work tx(c);
  tx.exec("CREATE EXTENSION pg_journey");
  tx.exec("GRANT journey_app TO journey_worker");
  create_customers(tx, kCustomers);
  define_basics(tx, tpl);
  for (auto [name, kind] : std::vector<std::pair<std::string, std::string>>{{"drain", "four"},
                                                                            {"ping", "ping"},
                                                                            {"toggle", "two"},
                                                                            {"sigterm", "two"},
                                                                            {"crash", "four"}})
    define_journey(tx, name, kind);
  tx.commit();
}

void check_workers_running() {
  pqxx::connection c(dsn(kDatabase));
  pqxx::nontransaction tx(c);
  pqxx::result r = tx.exec(
      "SELECT count(*), count(DISTINCT pid), count(*) FILTER (WHERE"
      " application_name = 'pg_journey worker') FROM journey.worker_status"
      " WHERE database = " +
      q(kDatabase) + " AND pid IS NOT NULL");
  check(r[0][0].as<int>() == kWorkers && r[0][1].as<int>() == kWorkers &&
            r[0][2].as<int>() == kWorkers,
        "journey.worker_status shows 2 workers with distinct pids");
  r = tx.exec(
      "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_journey worker'"
      " AND backend_type = 'pg_journey worker' AND datname = " +
      q(kDatabase) + " AND usename = 'journey_worker'");
  check(r[0][0].as<int>() == kWorkers,
        "pg_stat_activity: 2 'pg_journey worker' backends as journey_worker");
  r = tx.exec("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_journey launcher'");
  check(r[0][0].as<int>() == 1, "pg_stat_activity: one launcher");
}

void check_drain() {
  pqxx::connection c(dsn(kDatabase));
  long long n = enroll(c, "drain", 1, kDrain);
  check(n == kDrain, "enrolled " + std::to_string(n) + " customers (no run_due call from here)");
  double s = wait_drained(kDatabase, "drain", 4 * kPatience);
  char buf[128];
  std::snprintf(buf, sizeof buf, "the workers drained %d enrollments in %.2f s (%.0f/s)", kDrain, s,
                s > 0 ? kDrain / s : 0.0);
  check(s >= 0, buf);
  check_four(c, "drain", kDrain, "drain");
  check_invariants(c, "drain");
}

void check_wakeup_latency() {
  pqxx::connection c(dsn(kDatabase));
  const long long lo = 20001, hi = lo + kPings - 1;
  enroll(c, "ping", lo, hi);
  bool parked = wait_for(
      [&] {
        return scalar(c,
                      "SELECT count(*) FROM journey.enrollments WHERE status = 'active'"
                      " AND step_key = 'wait' AND waiting_for = 'ping' AND " +
                          journey_filter("ping")) == kPings;
      },
      kPatience, 20);
  check(parked, std::to_string(kPings) + " enrollments parked at wait_for_event 'ping'");
  if (!parked) return;
  c.prepare("woken",
            "SELECT count(*) FROM journey.messages m JOIN journey.journeys j"
            " ON j.id = m.journey_id WHERE j.name = 'ping' AND m.customer_id = $1"
            " AND m.step_key = 'pong'");
  std::vector<double> ms;
  int missed = 0;
  for (long long id = lo; id <= hi; ++id) {
    const std::string customer = std::to_string(id);
    auto t0 = Clock::now();
    exec(c, "SELECT journey.track(" + q(customer) + ", 'ping')");  // autocommit
    bool seen = wait_woken(c, "woken", customer, t0, std::chrono::milliseconds(kPatience));
    if (!seen) ++missed;
    ms.push_back(ms_between(t0, Clock::now()));
  }
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[std::min(ms.size() - 1, size_t(p * ms.size()))]; };
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "track() -> woken step committed, %d events: p50 %.1f ms, p95 %.1f ms, max %.1f ms",
                kPings, pct(0.50), pct(0.95), ms.back());
  log(buf);
  check(missed == 0, std::string("every tracked 'ping' woke its enrollment (") + buf + ")");
}

void check_enabled_guc_steps();

void set_enabled(pqxx::connection& admin, const char* value) {
  exec(admin, std::string("ALTER SYSTEM SET pg_journey.enabled = ") + value);
  exec(admin, "SELECT pg_reload_conf()");
}

// Puts pg_journey.enabled back to its default, so a failure here does not
// leave the workers switched off for the phases after it.
void reset_enabled() {
  wait_for(
      [] {
        pqxx::connection admin(dsn("postgres"));
        exec(admin, "ALTER SYSTEM RESET pg_journey.enabled");
        exec(admin, "SELECT pg_reload_conf()");
        return true;
      },
      15000, 200);
}

void check_enabled_guc() {
  try {
    check_enabled_guc_steps();
  } catch (...) {
    reset_enabled();
    throw;
  }
}

// Workers of pgj_worker that show they are switched off (pg_stat_activity).
long long disabled_workers(pqxx::connection& c) {
  return scalar(c,
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_journey worker'"
                " AND datname = " +
                    q(kDatabase) + " AND query = 'disabled (pg_journey.enabled = off)'");
}

void check_enabled_guc_steps() {
  pqxx::connection admin(dsn("postgres"));
  pqxx::connection c(dsn(kDatabase));
  set_enabled(admin, "off");
  // Both workers have read the reload before anything is enrolled.
  check(wait_for([&] { return disabled_workers(c) == kWorkers; }, kPatience, 20),
        "pg_journey.enabled = off: both workers say so in pg_stat_activity");
  const long long lo = 20101, hi = 20300;
  enroll(c, "toggle", lo, hi);  // wakes the workers: they must not tick
  sleep_ms(1500);
  long long visits =
      scalar(c, "SELECT count(*) FROM journey.activity WHERE " + journey_filter("toggle"));
  check(visits == 0, "pg_journey.enabled = off: woken, the workers process nothing (" +
                         std::to_string(visits) + " step visits after 1.5 s)");
  check(workers_up(), "pg_journey.enabled = off: the workers stay up");
  set_enabled(admin, "on");
  double s = wait_drained(kDatabase, "toggle", kPatience);
  check(s >= 0, "pg_journey.enabled = on again + reload: the 200 enrollments drain (" +
                    std::to_string(s) + " s)");
}

void check_sigterm() {
  pqxx::connection c(dsn(kDatabase));
  std::vector<pid_t> before = worker_pids(c);
  if (before.size() != kWorkers) {
    check(false, "SIGTERM: two workers to start with");
    return;
  }
  pid_t victim = before[0];
  std::streamoff from = log_size();
  kill(victim, SIGTERM);
  auto t0 = Clock::now();
  bool gone = wait_for([&] { return !alive(victim); }, kPatience, 10);
  check(gone, "SIGTERM: worker " + std::to_string(victim) + " exited");
  bool replaced = wait_for(
      [&] {
        std::vector<pid_t> now = worker_pids(c);
        return now.size() == kWorkers && std::find(now.begin(), now.end(), victim) == now.end();
      },
      kPatience, 20);
  double s = seconds_since(t0);
  check(replaced, "SIGTERM: the launcher started a replacement (" + std::to_string(s) + " s)");
  check(
      scalar(c, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(victim)) == 0,
      "SIGTERM: the old pid is gone from pg_stat_activity");
  // The postmaster logged the victim's exit (if at all) before the launcher
  // could see it stopped and start the replacement we waited for.
  int bad = 0;
  const std::string tag = "[" + std::to_string(victim) + "]",
                    ptag = "(PID " + std::to_string(victim) + ")";
  for (const std::string& line : log_lines_since(from)) {
    bool about = contains(line, tag) || contains(line, ptag);
    if (about && (contains(line, "ERROR") || contains(line, "FATAL") || contains(line, "PANIC") ||
                  contains(line, "exit code") || contains(line, "terminated by signal"))) {
      std::cout << "  log: " << line << std::endl;
      ++bad;
    }
    if (contains(line, "terminated by signal") || contains(line, "reinitializing")) {
      std::cout << "  log: " << line << std::endl;
      ++bad;
    }
  }
  check(bad == 0, "SIGTERM: the worker exited cleanly (no ERROR/FATAL/crash in the log)");
  enroll(c, "sigterm", 20301, 20500);
  check(wait_drained(kDatabase, "sigterm", kPatience) >= 0,
        "SIGTERM: processing continues (200 enrollments drained)");
}

void check_kill9() {
  pid_t pm = postmaster_pid();
  std::streamoff from = log_size();
  const long long lo = 30001, hi = 30000 + kDrain;
  long long done_before_kill = -1;
  pid_t victim = 0;
  {
    pqxx::connection c(dsn(kDatabase));
    std::vector<pid_t> pids = worker_pids(c);
    if (pids.empty()) {
      check(false, "kill -9: a worker to kill");
      return;
    }
    victim = pids.back();
    enroll(c, "crash", lo, hi);
    // Kill once the drain is under way.
    wait_for(
        [&] {
          return scalar(c, "SELECT count(*) FROM journey.activity WHERE " +
                               journey_filter("crash")) > 0;
        },
        kPatience, 2);
    done_before_kill = kDrain - not_completed(c, "crash");
    kill(victim, SIGKILL);
  }
  log("kill -9 worker " + std::to_string(victim) + " with " + std::to_string(done_before_kill) +
      "/" + std::to_string(kDrain) + " enrollments completed");
  check(done_before_kill >= 0 && done_before_kill < kDrain, "kill -9: the kill landed mid-drain");
  auto t0 = Clock::now();
  // The postmaster notices the death, ends every backend and reinitializes.
  bool restarted = wait_for(
      [&] {
        for (const std::string& line : log_lines_since(from))
          if (contains(line, "all server processes terminated; reinitializing")) return true;
        return false;
      },
      kPatience, 20);
  check(restarted && postmaster_pid() == pm,
        "kill -9: the postmaster ran crash recovery (same postmaster, reinitialized)");
  bool back = wait_for(
      [&] {
        pqxx::connection c(dsn(kDatabase));
        std::vector<pid_t> now = worker_pids(c);
        return now.size() == kWorkers && std::find(now.begin(), now.end(), victim) == now.end();
      },
      kPatience, 50);
  double s = seconds_since(t0);
  check(back, "kill -9: server accepts connections and 2 new workers are up (" + std::to_string(s) +
                  " s)");
  double d = wait_drained(kDatabase, "crash", 4 * kPatience);
  check(d >= 0, "kill -9: the workers drained the rest (" + std::to_string(d) + " s)");
  pqxx::connection c(dsn(kDatabase));
  check_four(c, "crash", kDrain, "kill -9");
  check_invariants(c, "after kill -9");
}

void check_drop_create_extension() {
  pqxx::connection c(dsn(kDatabase));
  std::vector<pid_t> before = worker_pids(c);
  enroll(c, "sigterm", 1, 5000);  // keep them busy while the extension goes
  // DDL against a running tick may deadlock (lock order of DROP vs. the tick's
  // statements); PostgreSQL then cancels one side. Retry as a DBA would.
  int deadlocks = 0;
  for (;;) {
    try {
      exec(c, "DROP EXTENSION pg_journey CASCADE");
      break;
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() != "40P01" || ++deadlocks > 5) throw;
      sleep_ms(100);
    }
  }
  if (deadlocks)
    log("DROP EXTENSION deadlocked with a worker's tick " + std::to_string(deadlocks) +
        " time(s); retried");
  bool idle = wait_for(
      [&] {
        return scalar(c,
                      "SELECT count(*) FROM pg_stat_activity WHERE backend_type ="
                      " 'pg_journey worker' AND datname = " +
                          q(kDatabase) +
                          " AND query = 'waiting for CREATE EXTENSION pg_journey'") == kWorkers;
      },
      kPatience, 20);
  check(idle, "DROP EXTENSION: both workers wait for CREATE EXTENSION pg_journey");
  check(worker_pids(c) == before, "DROP EXTENSION: the workers survived (same pids)");
  {
    pqxx::work tx(c);
    tx.exec("CREATE EXTENSION pg_journey");
    tx.exec("GRANT journey_app TO journey_worker");
    define_basics(tx, tpl);
    define_journey(tx, "again", "two");
    tx.commit();
  }
  enroll(c, "again", 1, 100);
  double s = wait_drained(kDatabase, "again", kPatience);
  check(s >= 0, "CREATE EXTENSION again: a new journey drains (" + std::to_string(s) + " s)");
  check(worker_pids(c) == before, "CREATE EXTENSION again: picked up without a worker restart");
  check_invariants(c, "after re-create");
}

// pg_cron fallback, in database postgres (no worker there). Scheduled early and
// checked at the end: pg_cron < 1.5 has no seconds schedule, only minutes. Other
// suites use database postgres too, so everything here has a name of its own:
// schema pgj_worker_test (the customers table), templates and journey pgj_worker_*.
struct CronFallback {
  const std::string db = "dbname=postgres options=-csearch_path=pgj_worker_test,public";
  const std::string journey = "pgj_worker_cron";
  bool created_cron = false;
  bool created_journey_ext = false;
  bool minute_schedule = false;
  bool started = false;
  Clock::time_point scheduled;

  void start() {
    pqxx::connection c(db);
    created_cron = scalar(c, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron'") == 0;
    if (created_cron) exec(c, "CREATE EXTENSION pg_cron");
    created_journey_ext =
        scalar(c, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_journey'") == 0;
    remove_objects(c);  // left over by an earlier run
    {
      pqxx::work tx(c);
      tx.exec("SET LOCAL synchronous_commit = on");
      if (created_journey_ext) tx.exec("CREATE EXTENSION pg_journey");
      tx.exec("CREATE SCHEMA pgj_worker_test");
      tx.exec(
          "CREATE TABLE pgj_worker_test.customers (id bigint PRIMARY KEY, email text NOT NULL,"
          " score int NOT NULL, vip boolean NOT NULL DEFAULT false)");
      tx.exec(
          "INSERT INTO pgj_worker_test.customers (id, email, score) SELECT i,"
          " 'c' || i || '@example.com', i % 100 FROM generate_series(1, 100) i");
      tpl = "pgj_worker_";
      define_basics(tx, tpl);
      define_journey(tx, journey, "two");
      tpl = "";
      tx.commit();
    }
    check(enroll(c, journey, 1, 100) == 100, "pg_cron: enrolled 100 in database postgres");
    check(scalar(c, "SELECT count(*) FROM journey.worker_status WHERE database = 'postgres'") == 0,
          "pg_cron: no worker runs in database postgres");
    std::string version = text(c, "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'");
    try {
      exec(c, "SELECT cron.schedule('pgj_worker_tick', '1 seconds', 'SELECT journey.run_due()')");
    } catch (const pqxx::sql_error& e) {
      // pg_cron < 1.5: no "N seconds" schedules.
      minute_schedule = true;
      log("pg_cron " + version + " has no seconds schedules (" +
          std::string(e.what()).substr(0, 35) + "); scheduling '* * * * *' instead");
      exec(c, "SELECT cron.schedule('pgj_worker_tick', '* * * * *', 'SELECT journey.run_due()')");
    }
    // With listen_addresses = '' pg_cron's default host (cron.host = localhost)
    // cannot connect: point the job at the Unix socket directory.
    if (text(c, "SHOW listen_addresses").empty() && !env("PGHOST").empty() &&
        env("PGHOST")[0] == '/')
      exec(c, "UPDATE cron.job SET nodename = " + c.quote(env("PGHOST")) +
                  " WHERE jobname = 'pgj_worker_tick'");
    scheduled = Clock::now();
    started = true;
  }

  void finish() {
    if (!started) return;  // start() failed and said so
    int timeout_ms = minute_schedule ? 150000 : kPatience;
    int left = timeout_ms - int(ms_between(scheduled, Clock::now()));
    auto t0 = Clock::now();
    bool ok = wait_for(
        [&] {
          pqxx::connection c(db);
          return not_completed(c, journey) == 0;
        },
        std::max(left, 0), 100);
    (void)t0;
    double total = seconds_since(scheduled);
    check(ok, std::string("pg_cron: journey.run_due() every ") +
                  (minute_schedule ? "minute" : "second") + " drained the 100 enrollments (" +
                  std::to_string(total) + " s after cron.schedule)");
    pqxx::connection c(db);
    if (!ok) {
      pqxx::nontransaction tx(c);
      for (const auto& row : tx.exec("SELECT d.status, d.return_message FROM cron.job_run_details d"
                                     " JOIN cron.job j USING (jobid) WHERE j.jobname ="
                                     " 'pgj_worker_tick' ORDER BY d.runid DESC LIMIT 3"))
        std::cout << "  cron run: " << row[0].c_str() << " " << row[1].c_str() << std::endl;
      return;
    }
    const std::string f = journey_filter(journey);
    check(scalar(c,
                 "SELECT count(*) FROM journey.enrollments WHERE status = 'completed'"
                 " AND visits = 2 AND " +
                     f) == 100 &&
              scalar(c, "SELECT count(*) FROM journey.messages WHERE " + f) == 200 &&
              scalar(c,
                     "SELECT count(DISTINCT (enrollment_id, visit)) FROM journey.messages"
                     " WHERE " +
                         f) == 200,
          "pg_cron: 100 completed, 2 visits and 2 distinct messages each");
  }

  // Removes this phase's objects from database postgres (not the extensions).
  void remove_objects(pqxx::connection& c) {
    if (scalar(c, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron'") > 0)
      exec(c, "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'pgj_worker_tick'");
    if (scalar(c, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_journey'") > 0) {
      exec(c, "SELECT journey.archive(name) FROM journey.journeys WHERE name = " + q(journey) +
                  " AND state <> 'archived'");
      exec(c, "SELECT journey.drop_journey(name) FROM journey.journeys WHERE name = " + q(journey));
      exec(c, "DELETE FROM journey.templates WHERE name LIKE 'pgj\\_worker\\_%'");
      exec(c,
           "SELECT journey.unregister_audience(relation) FROM journey.audiences"
           " WHERE relation = to_regclass('pgj_worker_test.customers')");
    }
    exec(c, "DROP SCHEMA IF EXISTS pgj_worker_test CASCADE");
  }

  void cleanup() {
    try {
      pqxx::connection c(db);
      if (created_journey_ext) exec(c, "DROP EXTENSION IF EXISTS pg_journey CASCADE");
      remove_objects(c);
      if (created_cron) exec(c, "DROP EXTENSION IF EXISTS pg_cron");
    } catch (const std::exception& e) {
      log(std::string("pg_cron cleanup: ") + e.what());
    }
  }
};

}  // namespace

int main() {
  std::cout << "== worker: background workers drain journeys, wake up on track(), survive"
               " SIGTERM, kill -9 and DROP EXTENSION; pg_cron fallback"
            << std::endl;
  if (!cluster_env_ok()) return 1;
  elapsed();
  CronFallback cron;
  const std::vector<std::pair<const char*, std::function<void()>>> phases = {
      {"setup", setup},
      {"workers running", check_workers_running},
      {"pg_cron schedule", [&] { cron.start(); }},
      {"drain", check_drain},
      {"wake-up latency", check_wakeup_latency},
      {"pg_journey.enabled", check_enabled_guc},
      {"SIGTERM", check_sigterm},
      {"kill -9", check_kill9},
      {"DROP/CREATE EXTENSION", check_drop_create_extension},
      {"pg_cron drain", [&] { cron.finish(); }},
  };
  for (const auto& [name, phase] : phases) {
    log(std::string("-- ") + name);
    // After a crash restart the server and the workers need a moment.
    if (std::string(name) != "setup" && !wait_for([] { return workers_up(); }, kPatience, 50))
      log("(the server or the workers are not back after " + std::to_string(kPatience / 1000) +
          " s)");
    try {
      phase();
    } catch (const std::exception& e) {
      check(false, std::string(name) + ": unexpected error: " + e.what());
      if (std::string(name) == "setup") break;
    }
  }
  // Leave the cluster as we found it, and running.
  if (!ensure_server()) check(false, "server left running");
  cron.cleanup();
  reset_enabled();
  // Dropping the workers' database must not take the server down.
  wait_for([] { return workers_up(); }, kPatience, 50);
  {
    try {
      std::streamoff from = log_size();
      pqxx::connection admin(dsn("postgres"));
      std::vector<pid_t> workers = worker_pids(admin);
      exec(admin, std::string("DROP DATABASE IF EXISTS ") + kDatabase + " WITH (FORCE)");
      // Wait until the postmaster has reaped the workers (a crash would be logged
      // then) and takes a new connection (it does so only after that handler).
      bool reaped = wait_for(
          [&] {
            for (pid_t pid : workers)
              if (exists(pid)) return false;
            pqxx::connection probe(dsn("postgres"));
            return true;
          },
          kPatience, 20);
      check(reaped, "DROP DATABASE pgj_worker WITH (FORCE): its workers exited");
      bool crashed = false;
      for (const std::string& line : log_lines_since(from))
        if (contains(line, "terminated by signal")) {
          std::cout << "  log: " << line << std::endl;
          crashed = true;
        }
      check(!crashed, "DROP DATABASE pgj_worker WITH (FORCE) under running workers: no crash");
    } catch (const std::exception& e) {
      check(false, std::string("DROP DATABASE pgj_worker WITH (FORCE) under running workers: ") +
                       e.what());
    }
    if (!ensure_server()) check(false, "server left running");
  }
  log("done");
  std::cout << passed << " passed, " << failed << " failed" << std::endl;
  return failed == 0 ? 0 : 1;
}
