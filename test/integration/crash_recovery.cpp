// Crash recovery: the engine runs a 5-step journey for 20,000 customers on two
// connections while the postmaster is killed with SIGKILL (twice: once in the
// first drain, once in the drain after the restart). After the last restart
// the journey is drained and every invariant of "exactly once" is checked:
// no committed effect repeated, none lost, no enrollment failed.
//
// Needs the throwaway cluster of tools/test.sh: PGHOST/PGPORT/PGUSER, plus
// PGJ_CLUSTER_DATA (data directory) and PGJ_CLUSTER_LOG (server log). Leaves
// the cluster running. Prints "N passed, N failed"; exits 1 on any failure.
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <pqxx/pqxx>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pqxx_support.hpp"

using namespace pgj::testing;

namespace {

constexpr int kCustomers = 20000;
constexpr int kScoreThreshold = 50;
const char* kDatabase = "pgj_crash";

void setup() {
  {
    pqxx::connection admin(dsn("postgres"));
    recreate_database(admin, kDatabase);
  }
  pqxx::connection c(dsn(kDatabase));
  pqxx::work tx(c);
  tx.exec("CREATE EXTENSION pg_journey");
  create_customers(tx, kCustomers);
  define_basics(tx);
  define_delay_journey(tx, "crash", kScoreThreshold, "1 day");
  pqxx::result r = tx.exec("SELECT journey.enroll_query('crash', 'SELECT id FROM customers')");
  tx.commit();
  check(r[0][0].as<long long>() == kCustomers, "enrolled " + std::to_string(kCustomers));
}

// The engine's clock of a drain: first two days ahead (everything up to the
// delay runs and parks for a day), then four days ahead (the delay is over).
const char* kPhases[] = {"now() + interval '2 days'", "now() + interval '4 days'"};

// Two connections calling run_due (each call its own transaction) until both
// phases return 0 or the connection breaks. Returns true if it ran to the end.
struct Runner {
  std::atomic<long long> processed{0};
  std::atomic<int> errors{0};
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;

  void start(int batch) {
    for (int t = 0; t < 2; ++t)
      threads.emplace_back([this, batch] {
        try {
          pqxx::connection c(dsn(kDatabase));
          for (const char* as_of : kPhases) {
            for (;;) {
              pqxx::work tx(c);
              pqxx::result r =
                  tx.exec("SELECT journey.run_due(" + std::to_string(batch) + ", " + as_of + ")");
              tx.commit();
              int n = r[0][0].as<int>();
              processed += n;
              if (n == 0) break;
            }
          }
          finished++;
        } catch (const std::exception& e) {
          errors++;
        }
      });
  }
  void join() {
    for (auto& t : threads) t.join();
    threads.clear();
  }
};

// Runs a drain on two connections and kills the server once they have run
// `runs` enrollments (a small part of the drain), so the kill lands mid-drain
// on any machine; a minute without that progress is a failure.
void drain_and_crash(int batch, long long runs, const std::string& label) {
  long long before;
  {
    pqxx::connection c(dsn(kDatabase));
    before = scalar(c, "SELECT count(*) FROM journey.activity");
  }
  Runner runner;
  runner.start(batch);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (runner.processed.load() < runs && runner.finished.load() < 2 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  bool still_running = runner.finished.load() < 2;
  bool crashed = crash_server();
  runner.join();
  log(label + ": server killed after " + std::to_string(runner.processed.load()) +
      " enrollment runs, " + std::to_string(runner.errors.load()) + " client loops broken");
  check(crashed, label + ": postmaster and its children killed with SIGKILL");
  check(still_running && runner.errors.load() == 2,
        label + ": the kill hit both run_due loops mid-drain");
  check(restart_server(kDatabase), label + ": server restarted and accepts connections");
  pqxx::connection c(dsn(kDatabase));
  long long after = scalar(c, "SELECT count(*) FROM journey.activity");
  log(label + ": activity rows that survived the crash: " + std::to_string(after - before));
  check(after > before, label + ": some work committed before the crash survived it");
}

void drain_to_end() {
  Runner runner;
  runner.start(1000);
  runner.join();
  check(runner.errors.load() == 0 && runner.finished.load() == 2, "final drain ran without errors");
  pqxx::connection c(dsn(kDatabase));
  check(scalar(c, "SELECT journey.run_due(1000, now() + interval '30 days')") == 0,
        "nothing is left due after the drain");
}

void check_invariants() {
  pqxx::connection c(dsn(kDatabase));
  const std::string n = std::to_string(kCustomers);
  long long enrollments = scalar(c, "SELECT count(*) FROM journey.enrollments");
  check(enrollments == kCustomers,
        "one enrollment per customer (" + std::to_string(enrollments) + ")");
  check(scalar(c, "SELECT count(*) FROM journey.enrollments WHERE status <> 'completed'") == 0,
        "every enrollment completed");
  check(scalar(c,
               "SELECT count(*) FROM journey.enrollments WHERE status = 'failed'"
               " OR last_error IS NOT NULL OR attempts <> 0") == 0,
        "no enrollment failed or recorded an error");
  long long messages = scalar(c, "SELECT count(*) FROM journey.messages");
  check(messages == 2 * enrollments,
        "messages = 2 x enrollments (" + std::to_string(messages) + ")");
  check(scalar(c,
               "SELECT count(*) FROM (SELECT 1 FROM journey.messages"
               " GROUP BY enrollment_id, visit HAVING count(*) > 1) d") == 0,
        "no duplicate message (enrollment_id, visit)");
  check(scalar(c,
               "SELECT count(*) FROM journey.enrollments e WHERE (SELECT count(*)"
               " FROM journey.messages m WHERE m.enrollment_id = e.id) <> 2") == 0,
        "each enrollment has exactly 2 messages");
  check(scalar(c,
               "SELECT count(*) FROM journey.messages m WHERE NOT EXISTS (SELECT 1"
               " FROM journey.activity a WHERE a.enrollment_id = m.enrollment_id"
               " AND a.visit = m.visit AND a.step_type = 'send_email'"
               " AND a.step_key = m.step_key)") == 0,
        "every message belongs to a send_email visit in activity");
  long long visits = scalar(c, "SELECT sum(visits) FROM journey.enrollments");
  long long activity = scalar(c, "SELECT count(*) FROM journey.activity");
  check(visits == activity, "activity rows = sum of visits (" + std::to_string(activity) + " vs " +
                                std::to_string(visits) + ")");
  check(scalar(c,
               "SELECT count(*) FROM journey.activity a WHERE NOT EXISTS (SELECT 1"
               " FROM journey.enrollments e WHERE e.id = a.enrollment_id)") == 0,
        "every activity row has its enrollment");
  check(scalar(c,
               "SELECT count(*) FROM journey.enrollments e WHERE e.visits <> (SELECT"
               " count(DISTINCT a.visit) FILTER (WHERE a.visit BETWEEN 1 AND e.visits)"
               " FROM journey.activity a WHERE a.enrollment_id = e.id)") == 0,
        "each enrollment's activity visits are exactly 1..visits");
  check(scalar(c,
               "SELECT count(*) FROM journey.enrollments e JOIN customers c"
               " ON c.id = e.customer_id::bigint"
               " WHERE e.visits <> CASE WHEN c.score > " +
                   std::to_string(kScoreThreshold) + " THEN 5 ELSE 4 END") == 0,
        "5 visits on the yes branch, 4 on the no branch");
  long long yes = scalar(c,
                         "SELECT count(*) FROM journey.activity WHERE step_key = 'high'"
                         " AND branch = 'yes'");
  check(scalar(c,
               "SELECT count(*) FROM customers c WHERE c.vip IS DISTINCT FROM EXISTS ("
               "SELECT 1 FROM journey.activity a WHERE a.customer_id = c.id::text"
               " AND a.step_key = 'high' AND a.branch = 'yes')") == 0 &&
            scalar(c, "SELECT count(*) FROM customers WHERE vip") == yes,
        "update_field applied to exactly the " + std::to_string(yes) +
            " customers who took the yes branch");
  check(scalar(c, "SELECT count(*) FROM customers WHERE vip <> (score > " +
                      std::to_string(kScoreThreshold) + ")") == 0,
        "the yes branch was taken by exactly the customers with score > " +
            std::to_string(kScoreThreshold));
  check(scalar(c, "SELECT count(*) FROM journey.activity WHERE step_key = 'mark'") == yes,
        "one update_field visit per yes branch");
}

}  // namespace

int main() {
  std::cout << "== crash_recovery: kill -9 the postmaster during run_due, restart, drain, check"
            << std::endl;
  if (!cluster_env_ok()) return 1;
  elapsed();
  try {
    setup();
    log("set up " + std::to_string(kCustomers) + " enrollments");
    // A drain is 2 x kCustomers enrollment runs (before and after the delay).
    drain_and_crash(500, kCustomers / 2, "crash 1");
    drain_and_crash(500, kCustomers / 4, "crash 2 (during the drain after restart)");
    drain_to_end();
    log("drained");
    check_invariants();
    check_journey_invariants(kDatabase, "after recovery");
  } catch (const std::exception& e) {
    check(false, std::string("unexpected error: ") + e.what());
  }
  // The harness stops the cluster: make sure it is up, whatever happened.
  if (!alive(postmaster_pid())) check(restart_server(kDatabase), "server left running");
  if (failed == 0) {
    try {
      pqxx::connection admin(dsn("postgres"));
      pqxx::nontransaction tx(admin);
      tx.exec(std::string("DROP DATABASE IF EXISTS ") + kDatabase + " WITH (FORCE)");
    } catch (const std::exception&) {
    }
  }
  log("done");
  std::cout << passed << " passed, " << failed << " failed" << std::endl;
  return failed == 0 ? 0 : 1;
}
