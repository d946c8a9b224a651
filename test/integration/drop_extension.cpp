// DROP EXTENSION pg_journey under load never deadlocks. In database pgj_worker
// (pg_journey.database of tools/cluster.sh: two background workers tick there),
// ten rounds of: CREATE EXTENSION, a published journey with due enrollments,
// then DROP EXTENSION pg_journey CASCADE while
//  - the workers tick (extension share lock, journey tables, customer rows),
//  - application sessions UPDATE the customer table (its trigger reads the
//    journey tables), enroll() and track(), and call run_due() as pg_cron
//    would (no extension lock),
// Every DROP must succeed at the first try (10 of 10) and no session may see a
// deadlock: the DROP's ddl_command_start trigger takes its locks all or
// nothing (src/pg/ddl_guard.cpp). The load's other errors while the extension
// is gone (function or relation does not exist) are expected.
//
// Needs the throwaway cluster of tools/test.sh: PGHOST/PGPORT/PGUSER, plus
// PGJ_CLUSTER_DATA and PGJ_CLUSTER_LOG. Prints "N passed, N failed"; exits 1
// on any failure. Leaves no database behind.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <pqxx/pqxx>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "pqxx_support.hpp"

using namespace pgj::testing;

namespace {

const char* kDatabase = "pgj_worker";  // the database the cluster's workers serve
constexpr int kRounds = 10;
constexpr int kCustomers = 20000;
constexpr int kLoadThreads = 3;

std::atomic<bool> stop{false};
std::atomic<long> load_deadlocks{0};
std::atomic<long> load_statements{0};
std::atomic<long> load_ok{0};

std::streamoff log_size() {
  std::ifstream f(env("PGJ_CLUSTER_LOG"), std::ios::ate | std::ios::binary);
  return f ? static_cast<std::streamoff>(f.tellg()) : 0;
}

// Lines of the server log written since `from` that contain `what`.
std::vector<std::string> log_lines_with(std::streamoff from, const std::string& what) {
  std::vector<std::string> out;
  std::ifstream f(env("PGJ_CLUSTER_LOG"), std::ios::binary);
  f.seekg(from);
  std::string line;
  while (std::getline(f, line))
    if (line.find(what) != std::string::npos) out.push_back(line);
  return out;
}

// The extension with a published 4-step journey (send, condition, update_field,
// send) over the customers table.
void install(pqxx::connection& c) {
  pqxx::work tx(c);
  tx.exec("CREATE EXTENSION pg_journey");
  tx.exec("GRANT journey_app TO journey_worker");
  define_basics(tx);
  define_delay_journey(tx, "load", 50, "");
  tx.commit();
}

// An application session: random UPDATEs of customers, enroll(), track() and
// run_due() calls, each its own transaction, until `stop`.
void application(int seed) {
  std::mt19937 rng(seed);
  // Customers 1..kCustomers/2 travel the journey, the app updates the others:
  // a tick's update_field and an application UPDATE of the same customer may
  // deadlock on their rows by design (docs/operations.md), which is not what
  // this test is about.
  std::uniform_int_distribution<int> traveller(1, kCustomers / 2);
  std::uniform_int_distribution<int> other(kCustomers / 2 + 1, kCustomers - 20);
  std::unique_ptr<pqxx::connection> c;
  while (!stop) {
    try {
      if (!c || !c->is_open()) c = std::make_unique<pqxx::connection>(dsn(kDatabase));
      const std::string id = std::to_string(traveller(rng));
      std::string sql;
      switch (rng() % 4) {
        case 0: {
          const std::string row = std::to_string(other(rng));
          sql = "UPDATE customers SET score = score WHERE id BETWEEN " + row + " AND " + row +
                " + 20";
          break;
        }
        case 1:
          sql = "SELECT journey.enroll('load', '" + id + "')";
          break;
        case 2:
          sql = "SELECT journey.track('" + id + "', 'ping')";
          break;
        default:
          sql = "SELECT journey.run_due(20)";
      }
      ++load_statements;
      exec(*c, sql);
      ++load_ok;
    } catch (const pqxx::deadlock_detected&) {  // libpqxx 6: not an sql_error
      ++load_deadlocks;
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() == "40P01") ++load_deadlocks;
      // Anything else: the extension is gone for a moment.
    } catch (const std::exception&) {
      c.reset();
      sleep_ms(20);
    }
  }
}

}  // namespace

int main() {
  std::cout << "== drop_extension: DROP EXTENSION pg_journey under load, " << kRounds
            << " rounds, no deadlock" << std::endl;
  if (!cluster_env_ok()) return 1;
  elapsed();
  try {
    pqxx::connection admin(dsn("postgres"));
    ensure_worker_role(admin);
    recreate_database(admin, kDatabase);
  } catch (const std::exception& e) {
    check(false, std::string("setup: ") + e.what());
    std::cout << passed << " passed, " << failed << " failed" << std::endl;
    return 1;
  }
  pqxx::connection c(dsn(kDatabase));
  {
    pqxx::work tx(c);
    create_customers(tx, kCustomers);
    tx.commit();
  }
  bool workers = wait_for(
      [&] {
        return scalar(c,
                      "SELECT count(*) FROM pg_stat_activity WHERE backend_type ="
                      " 'pg_journey worker' AND datname = current_database()") == 2;
      },
      10000, 50);
  check(workers, "two background workers serve " + std::string(kDatabase));

  const std::streamoff log_start = log_size();
  std::vector<std::thread> load;
  int dropped = 0;
  std::string first_error;
  try {
    install(c);
    for (int i = 0; i < kLoadThreads; ++i) load.emplace_back(application, 1000 + i);
    for (int round = 1; round <= kRounds; ++round) {
      // Due work for the workers: a slice of customers enters the journey.
      exec(c, "SELECT journey.enroll_query('load', 'SELECT id FROM customers WHERE id <= " +
                  std::to_string(kCustomers / 2) + " AND id % 10 = " + std::to_string(round % 10) +
                  "')");
      sleep_ms(150);
      std::string error;
      try {
        exec(c, "DROP EXTENSION pg_journey CASCADE");
        ++dropped;
      } catch (const pqxx::deadlock_detected& e) {  // libpqxx 6: not an sql_error
        error = e.what();
      } catch (const pqxx::sql_error& e) {
        error = e.what();
      }
      if (!error.empty()) {
        if (first_error.empty()) first_error = error.substr(0, error.find('\n'));
        log("round " + std::to_string(round) + ": DROP EXTENSION failed: " + error.substr(0, 200));
        // So that the next round can start: drop it as a DBA would, retrying.
        for (int attempt = 0;; ++attempt) {
          try {
            exec(c, "DROP EXTENSION IF EXISTS pg_journey CASCADE");
            break;
          } catch (const pqxx::failure&) {
            if (attempt == 20) throw;
            sleep_ms(100);
          }
        }
      }
      install(c);
    }
  } catch (const std::exception& e) {
    check(false, std::string("unexpected error: ") + e.what());
  }
  sleep_ms(300);  // the load meets the last extension too
  stop = true;
  for (std::thread& t : load) t.join();

  check(dropped == kRounds, "DROP EXTENSION pg_journey CASCADE succeeded " +
                                std::to_string(dropped) + " times out of " +
                                std::to_string(kRounds) +
                                (first_error.empty() ? "" : " (first error: " + first_error + ")"));
  check(load_deadlocks == 0, "the application sessions saw " + std::to_string(load_deadlocks) +
                                 " deadlocks (" + std::to_string(load_ok) + " of " +
                                 std::to_string(load_statements) + " statements succeeded)");
  check(load_ok > 100, "the load ran while the extension came and went");
  std::vector<std::string> deadlocks = log_lines_with(log_start, "deadlock detected");
  check(deadlocks.empty(),
        "the server log has no deadlock (" + std::to_string(deadlocks.size()) + " found)");
  long long journeys = 0;
  try {
    journeys = scalar(c, "SELECT count(*) FROM journey.journeys WHERE state = 'published'");
  } catch (const std::exception&) {
  }
  check(journeys == 1, "the extension is installed and works after the last round");

  try {
    c.disconnect();
    pqxx::connection admin(dsn("postgres"));
    exec(admin, std::string("DROP DATABASE IF EXISTS ") + kDatabase + " WITH (FORCE)");
  } catch (const std::exception& e) {
    log(std::string("cleanup: ") + e.what());
  }
  std::cout << passed << " passed, " << failed << " failed" << std::endl;
  return failed == 0 ? 0 : 1;
}
