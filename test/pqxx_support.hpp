// Helpers shared by the libpqxx programs: the integration tests in
// test/integration/ and the benchmarks in bench/. Header-only.
#pragma once

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
#include <string>
#include <thread>

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
  std::string pg_ctl = env("PGBIN") + "/pg_ctl -D '" + env("PGJ_CLUSTER_DATA") +
                       "' -l '" + env("PGJ_CLUSTER_LOG") + "' -w -t 60 start >/dev/null";
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

}  // namespace pgj::testing
