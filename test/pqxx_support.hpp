// Helpers shared by the libpqxx programs: the integration tests in
// test/integration/ and the benchmarks in bench/. Header-only.
#pragma once

#include <dirent.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
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
#include <utility>
#include <vector>

namespace pgj::testing {

using Clock = std::chrono::steady_clock;

// ---- connections and queries ----------------------------------------------

// Connection string of a database on the cluster of PGHOST/PGPORT/PGUSER.
inline std::string dsn(const std::string& db) {
  return "dbname=" + db;
}

inline std::string q(const std::string& s) {
  return "'" + s + "'";
}

// The first column of the first row, 0 for no row or NULL.
inline long long scalar(pqxx::connection& c, const std::string& sql) {
  pqxx::nontransaction tx(c);
  pqxx::result r = tx.exec(sql);
  return r.empty() || r[0][0].is_null() ? 0 : r[0][0].as<long long>();
}

// The first column of the first row as text, "" for no row or NULL.
inline std::string text(pqxx::connection& c, const std::string& sql) {
  pqxx::nontransaction tx(c);
  pqxx::result r = tx.exec(sql);
  return r.empty() || r[0][0].is_null() ? "" : r[0][0].as<std::string>();
}

// One statement in autocommit.
inline void exec(pqxx::connection& c, const std::string& sql) {
  pqxx::nontransaction tx(c);
  tx.exec(sql);
}

// Environment variable `name` as a number; `fallback` when it is unset or empty.
inline long long env_or(const char* name, long long fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoll(v) : fallback;
}

// Drops database `db` (closing its connections) and creates it anew, empty;
// `admin` is connected to another database of the cluster.
inline void recreate_database(pqxx::connection& admin, const std::string& db) {
  exec(admin, "DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
  exec(admin, "CREATE DATABASE " + db);
}

inline std::string journey_filter(const std::string& journey) {
  return "journey_id = (SELECT id FROM journey.journeys WHERE name = " + q(journey) + ")";
}

// Fresh statistics and a clean checkpoint before a timed run.
inline void settle(pqxx::connection& c) {
  exec(c, "VACUUM ANALYZE");
  exec(c, "CHECKPOINT");
}

// ---- schema and journeys ----------------------------------------------------

// Creates the role the cluster's background workers log in as (tools/cluster.sh).
inline void ensure_worker_role(pqxx::connection& admin) {
  exec(admin,
       "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname ="
       " 'journey_worker') THEN CREATE ROLE journey_worker LOGIN; END IF; END $$");
}

// A new database `db` with pg_journey, whose journeys the cluster's background
// workers may run (journey_app granted to their role, ensure_worker_role).
inline void create_journey_database(const std::string& db) {
  {
    pqxx::connection admin(dsn("postgres"));
    ensure_worker_role(admin);
    recreate_database(admin, db);
  }
  pqxx::connection c(dsn(db));
  exec(c, "CREATE EXTENSION pg_journey");
  exec(c, "GRANT journey_app TO journey_worker");
}

// customers(id, email, score, vip) with ids 1..n and scores (id * 37) % 100.
inline void create_customers(pqxx::transaction_base& tx, long long n) {
  tx.exec(
      "CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, score int NOT NULL,"
      " vip boolean NOT NULL DEFAULT false)");
  tx.exec(
      "INSERT INTO customers (id, email, score) SELECT i, 'c' || i || '@example.com',"
      " (i * 37) % 100 FROM generate_series(1, " +
      std::to_string(n) + ") i");
}

// The customers audience and the templates `prefix`hello and `prefix`bye.
inline void define_basics(pqxx::transaction_base& tx, const std::string& prefix = "") {
  tx.exec("SELECT journey.register_audience('customers', 'id', email_column => 'email')");
  tx.exec("SELECT journey.create_template(" + q(prefix + "hello") +
          ", 'email', 'Hello', 'Hi {{email}}')");
  tx.exec("SELECT journey.create_template(" + q(prefix + "bye") +
          ", 'email', 'Later', 'Bye {{email}}')");
}

// The 5-step journey of the benches and crash_recovery, published: hello
// (send_email) -> high (condition score > threshold) -> yes: mark (update_field
// vip) -> wait (delay `delay`) -> bye (send_email); no: high -> wait. With an
// empty `delay`, the 4-step journey without the wait step (mark/no -> bye).
// Templates `prefix`hello and `prefix`bye (define_basics).
inline void define_delay_journey(pqxx::transaction_base& tx, const std::string& name, int threshold,
                                 const std::string& delay, const std::string& prefix = "") {
  const std::string j = q(name);
  const std::string after_high = delay.empty() ? "'bye'" : "'wait'";
  tx.exec("SELECT journey.create_journey(" + j + ", 'customers')");
  tx.exec("SELECT journey.add_step(" + j + ", 'hello', 'send_email', '{\"template\": \"" + prefix +
          "hello\"}')");
  tx.exec("SELECT journey.add_step(" + j +
          ", 'high', 'condition', '{\"if\": {\"field\": \"score\","
          " \"op\": \"gt\", \"value\": " +
          std::to_string(threshold) + "}}')");
  tx.exec("SELECT journey.add_step(" + j +
          ", 'mark', 'update_field', '{\"set\": {\"vip\": true}}')");
  if (!delay.empty())
    tx.exec("SELECT journey.add_step(" + j + ", 'wait', 'delay', '{\"duration\": \"" + delay +
            "\"}')");
  tx.exec("SELECT journey.add_step(" + j + ", 'bye', 'send_email', '{\"template\": \"" + prefix +
          "bye\"}')");
  tx.exec("SELECT journey.connect(" + j + ", 'hello', 'high')");
  tx.exec("SELECT journey.connect(" + j + ", 'high', 'mark', 'yes')");
  tx.exec("SELECT journey.connect(" + j + ", 'high', " + after_high + ", 'no')");
  tx.exec("SELECT journey.connect(" + j + ", 'mark', " + after_high + ")");
  if (!delay.empty()) tx.exec("SELECT journey.connect(" + j + ", 'wait', 'bye')");
  tx.exec("SELECT journey.publish(" + j + ")");
}

// ---- time and waiting -------------------------------------------------------

inline double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

inline double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

inline void sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// Polls pred every `every_ms` until it holds or timeout_ms passes; an exception
// (say, the server restarting) counts as "not yet".
inline bool wait_for(const std::function<bool()>& pred, int timeout_ms, int every_ms = 50) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    try {
      if (pred()) return true;
    } catch (const std::exception&) {
    }
    if (Clock::now() >= deadline) return false;
    sleep_ms(every_ms);
  }
}

// After journey.track(): polls the prepared statement `stmt`($1 = customer), a
// count of the woken step's messages, every 0.2 ms until it is > 0 or `limit`
// has passed since t0. Returns whether it was seen.
inline bool wait_woken(pqxx::connection& c, const char* stmt, const std::string& customer,
                       Clock::time_point t0, std::chrono::milliseconds limit) {
  while (Clock::now() - t0 < limit) {
    pqxx::nontransaction tx(c);
    if (tx.exec_prepared(stmt, customer)[0][0].as<int>() > 0) return true;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return false;
}

// ---- test reporting -----------------------------------------------------------

inline int passed = 0;
inline int failed = 0;

inline void check(bool ok, const std::string& what) {
  (ok ? passed : failed)++;
  std::cout << (ok ? "ok     " : "FAILED ") << what << std::endl;
}

inline std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Seconds since the first call, for the log lines.
inline double elapsed() {
  static const auto start = Clock::now();
  return seconds_since(start);
}

inline void log(const std::string& msg) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "[%6.2fs] ", elapsed());
  std::cout << buf << msg << std::endl;
}

// False, with the "0 passed, 1 failed" verdict, unless PGJ_CLUSTER_DATA and
// PGJ_CLUSTER_LOG name the running test cluster.
inline bool cluster_env_ok() {
  if (!env("PGJ_CLUSTER_DATA").empty() && !env("PGJ_CLUSTER_LOG").empty()) return true;
  std::cout << "PGJ_CLUSTER_DATA and PGJ_CLUSTER_LOG must name the running test cluster"
            << std::endl;
  std::cout << "0 passed, 1 failed" << std::endl;
  return false;
}

// ---- the test cluster (PGJ_CLUSTER_DATA, PGJ_CLUSTER_LOG) -----------------------

inline pid_t postmaster_pid() {
  std::ifstream f(env("PGJ_CLUSTER_DATA") + "/postmaster.pid");
  pid_t pid = 0;
  f >> pid;
  return pid;
}

// A zombie is dead for our purposes.
inline bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return false;
  std::string line;
  std::getline(stat, line);
  size_t close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

// Whether a process exists at all (a zombie not yet reaped does).
inline bool exists(pid_t pid) {
  return kill(pid, 0) == 0 || errno != ESRCH;
}

// Starts the server the way tools/cluster.sh does (pg_ctl -w).
inline bool start_server() {
  std::string pg_ctl = env("PGBIN") + "/pg_ctl -D '" + env("PGJ_CLUSTER_DATA") + "' -l '" +
                       env("PGJ_CLUSTER_LOG") + "' -w -t 60 start >/dev/null";
  std::string cmd = geteuid() == 0 ? "runuser -u postgres -- " + pg_ctl : pg_ctl;
  return std::system(cmd.c_str()) == 0;
}

// Waits up to timeout_ms until database db takes connections.
inline bool accepts_connections(const std::string& db, int timeout_ms) {
  return wait_for(
      [&] {
        pqxx::connection c(dsn(db));
        return true;
      },
      timeout_ms, 100);
}

// pids of the processes whose parent is `parent` (/proc).
inline std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* ent = readdir(d)) {
    pid_t pid = std::atoi(ent->d_name);
    if (pid <= 0) continue;
    std::ifstream stat(std::string("/proc/") + ent->d_name + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) out.push_back(pid);
  }
  closedir(d);
  return out;
}

// Waits until the postmaster `pm` is gone and reaped: a new postmaster refuses
// to start while the old PID exists, even as a zombie.
inline bool wait_postmaster_gone(pid_t pm, const std::vector<pid_t>& children) {
  for (int i = 0; i < 200; ++i) {
    bool any = alive(pm);
    for (pid_t child : children) any = any || alive(child);
    if (!any) break;
    sleep_ms(50);
  }
  for (int i = 0; i < 200 && exists(pm); ++i) sleep_ms(50);
  if (exists(pm)) std::cout << "postmaster " << pm << " was not reaped" << std::endl;
  return !alive(pm);
}

// SIGKILL to the postmaster, then to its children (backends, checkpointer,
// walwriter, workers): the whole server dies at once, as in a machine crash
// that spares the OS page cache. WAL still in the server's buffers is lost
// (commits with synchronous_commit = off), which the invariants must survive.
inline bool crash_server() {
  pid_t pm = postmaster_pid();
  if (pm <= 0 || !alive(pm)) return false;
  std::vector<pid_t> children = children_of(pm);
  kill(pm, SIGKILL);
  for (pid_t child : children) kill(child, SIGKILL);
  return wait_postmaster_gone(pm, children);
}

// Runs a pg_ctl action on the test cluster as the cluster's OS user.
inline bool pg_ctl(const std::string& args) {
  std::string cmd =
      env("PGBIN") + "/pg_ctl -D '" + env("PGJ_CLUSTER_DATA") + "' " + args + " >/dev/null 2>&1";
  if (geteuid() == 0) cmd = "runuser -u postgres -- " + cmd;
  return std::system(cmd.c_str()) == 0;
}

// Starts the server and waits until database db takes connections.
inline bool restart_server(const std::string& db) {
  return start_server() && accepts_connections(db, 60000);
}

// ---- invariants of the journey tables -------------------------------------------

// What must hold in any database with journeys, at any moment outside a
// transaction, crashes or not: each is a query counting the rows that break it.
struct Invariant {
  const char* what;
  const char* violations;
};

inline const std::vector<Invariant>& journey_invariants() {
  static const std::vector<Invariant> all = {
      {"no two active enrollments per journey, customer and entity",
       "SELECT count(*) FROM (SELECT 1 FROM journey.enrollments WHERE status = 'active'"
       " GROUP BY journey_id, customer_id, coalesce(entity_key, '') HAVING count(*) > 1) d"},
      {"exactly one message per send visit (none without its visit)",
       "SELECT (SELECT count(*) FROM (SELECT 1 FROM journey.messages"
       "         GROUP BY enrollment_id, visit HAVING count(*) > 1) d)"
       "     + (SELECT count(*) FROM journey.activity a WHERE a.step_type IN ('send_email',"
       "         'send') AND NOT EXISTS (SELECT 1 FROM journey.messages m"
       "         WHERE m.enrollment_id = a.enrollment_id AND m.visit = a.visit))"
       "     + (SELECT count(*) FROM journey.messages m WHERE NOT EXISTS (SELECT 1"
       "         FROM journey.activity a WHERE a.enrollment_id = m.enrollment_id"
       "         AND a.visit = m.visit AND a.step_key = m.step_key))"},
      {"activity visits of each enrollment are exactly 1..visits",
       "SELECT count(*) FROM journey.enrollments e LEFT JOIN (SELECT enrollment_id,"
       " count(*) n, max(visit) top, min(visit) bottom FROM journey.activity GROUP BY 1) a"
       " ON a.enrollment_id = e.id WHERE coalesce(a.n, 0) <> e.visits"
       " OR coalesce(a.top, 0) <> e.visits OR coalesce(a.bottom, 1) <> 1"},
      {"activity consistent with positions (each active enrollment stands where its last"
       " visit leads, each completed one at its last visit)",
       "SELECT count(*) FROM journey.enrollments e"
       "  LEFT JOIN journey.activity a ON a.enrollment_id = e.id AND a.visit = e.visits"
       "  LEFT JOIN journey.versions v ON v.journey_id = e.journey_id AND v.version = e.version"
       " WHERE (e.status = 'active' AND e.visits = 0 AND e.step_key IS DISTINCT FROM v.start_key)"
       "    OR (e.status = 'active' AND e.visits > 0 AND NOT EXISTS (SELECT 1"
       "          FROM journey.connections c WHERE c.journey_id = e.journey_id"
       "           AND c.version = e.version AND c.from_key = a.step_key"
       "           AND c.branch = a.branch AND c.to_key = e.step_key))"
       "    OR (e.status = 'completed' AND a.step_key IS DISTINCT FROM e.step_key)"},
      {"every activity row and message has its enrollment",
       "SELECT (SELECT count(*) FROM journey.activity a WHERE NOT EXISTS (SELECT 1"
       "         FROM journey.enrollments e WHERE e.id = a.enrollment_id))"
       "     + (SELECT count(*) FROM journey.messages m WHERE NOT EXISTS (SELECT 1"
       "         FROM journey.enrollments e WHERE e.id = m.enrollment_id))"},
      {"no failed enrollment that did not fail (no step of these journeys can fail)",
       "SELECT count(*) FROM journey.enrollments WHERE status = 'failed'"
       " OR last_error IS NOT NULL OR attempts <> 0"},
      {"an active enrollment is due or parked; an ended one neither",
       "SELECT count(*) FROM journey.enrollments WHERE (status = 'active') <>"
       " (next_run_at IS NOT NULL OR waiting_for IS NOT NULL)"},
  };
  return all;
}

// The invariants db's tables break now, each with its count of violations,
// read from the heap (no index): an index that lost entries in a crash cannot
// hide a duplicate.
inline std::vector<std::pair<std::string, long long>> broken_invariants(const std::string& db) {
  pqxx::connection c(dsn(db));
  exec(c, "SET enable_indexscan = off");
  exec(c, "SET enable_bitmapscan = off");
  exec(c, "SET enable_indexonlyscan = off");
  std::vector<std::pair<std::string, long long>> out;
  for (const Invariant& inv : journey_invariants())
    if (long long n = scalar(c, inv.violations); n != 0) out.emplace_back(inv.what, n);
  return out;
}

// One check per invariant.
inline void check_journey_invariants(const std::string& db, const std::string& label) {
  auto broken = broken_invariants(db);
  for (const Invariant& inv : journey_invariants()) {
    long long n = 0;
    for (const auto& [what, count] : broken)
      if (what == inv.what) n = count;
    check(n == 0, label + ": " + inv.what + (n ? " (" + std::to_string(n) + " violations)" : ""));
  }
}

}  // namespace pgj::testing
