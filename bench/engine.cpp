// Engine throughput against the raw-SQL floor, side by side in one run.
//
// Engine: N enrollments through a 5-step journey (send_email, condition,
// update_field on the yes branch, delay 1 day, send_email), drained by two
// connections calling journey.run_due(1000, as_of), one transaction per call.
// The clock moves two days ahead (everything up to the delay runs and parks),
// then four days ahead (the delay is over and the second send runs).
//
// Floor: the same row writes done by hand with set-based SQL for N other
// enrollments of the same customers: the activity rows (5 per yes-branch
// enrollment, 4 per no-branch one, as the engine writes), 2 messages per
// enrollment, the customer field of the yes-branch rows, and each enrollment
// parked at the delay and then set to completed (bench/floor.hpp); two
// connections over halves, 1000 enrollments a transaction.
//
// Usage: engine [enrollments]   (or PGJ_BENCH_ENROLLMENTS; default 200000)
// PGJ_BENCH_COUNTING=off installs the extension without what the analytics
// need on the write path (the activity roll-up trigger and the indexes
// activity_arrived, enrollments_active_journey): bench/counting.sh compares.
// Needs PGHOST/PGPORT/PGUSER of a cluster with pg_journey installed; uses a
// database of its own (pgj_bench), dropped at the end.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "floor.hpp"
#include "pqxx_support.hpp"

using namespace pgj::testing;

namespace {

const char* kDatabase = "pgj_bench";
constexpr int kBatch = 1000;
constexpr int kThreshold = 50;

void setup(long long n) {
  {
    pqxx::connection admin(dsn("postgres"));
    recreate_database(admin, kDatabase);
  }
  pqxx::connection c(dsn(kDatabase));
  pqxx::work tx(c);
  tx.exec("CREATE EXTENSION pg_journey");
  if (const char* counting = std::getenv("PGJ_BENCH_COUNTING");
      counting && std::string(counting) == "off")
    tx.exec(
        "ALTER TABLE journey.activity DISABLE TRIGGER count_activity;"
        "ALTER EXTENSION pg_journey DROP INDEX journey.activity_arrived;"
        "ALTER EXTENSION pg_journey DROP INDEX journey.enrollments_active_journey;"
        "DROP INDEX journey.activity_arrived, journey.enrollments_active_journey");
  create_customers(tx, n);
  define_basics(tx);
  for (const char* name : {"engine", "floor"}) define_delay_journey(tx, name, kThreshold, "1 day");
  tx.commit();
}

// Two connections calling run_due until both clock phases return 0.
double run_engine(long long& calls) {
  const char* phases[] = {"now() + interval '2 days'", "now() + interval '4 days'"};
  std::atomic<long long> total_calls{0};
  std::atomic<int> errors{0};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&] {
      try {
        pqxx::connection c(dsn(kDatabase));
        for (const char* as_of : phases)
          for (;;) {
            pqxx::work tx(c);
            pqxx::result r =
                tx.exec("SELECT journey.run_due(" + std::to_string(kBatch) + ", " + as_of + ")");
            tx.commit();
            ++total_calls;
            if (r[0][0].as<int>() == 0) break;
          }
        exec(c, "SELECT pg_stat_force_next_flush()");
      } catch (const std::exception& e) {
        std::cerr << "engine loop: " << e.what() << std::endl;
        ++errors;
      }
    });
  for (auto& t : threads) t.join();
  double s = seconds_since(start);
  calls = total_calls;
  if (errors) throw std::runtime_error("engine loop failed");
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  long long n = 200000;
  if (const char* e = std::getenv("PGJ_BENCH_ENROLLMENTS")) n = std::atoll(e);
  if (argc > 1) n = std::atoll(argv[1]);
  if (n <= 0) {
    std::cerr << "usage: engine [enrollments]" << std::endl;
    return 2;
  }
  try {
    setup(n);
    pqxx::connection c(dsn(kDatabase));
    std::printf("== bench engine: %lld enrollments, 5-step journey, 2 sessions, batches of %d\n", n,
                kBatch);

    // Engine.
    scalar(c, "SELECT journey.enroll_query('engine', 'SELECT id FROM customers')");
    settle(c);
    long long calls = 0;
    double engine_s = run_engine(calls);
    long long activity = scalar(c, "SELECT count(*) FROM journey.activity");
    long long messages = scalar(c, "SELECT count(*) FROM journey.messages");
    long long completed =
        scalar(c, "SELECT count(*) FROM journey.enrollments WHERE status = 'completed'");
    long long yes = scalar(c, "SELECT count(*) FROM customers WHERE vip");
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    auto stat = [&](const char* column) {
      return scalar(c,
                    std::string("SELECT ") + column +
                        " FROM pg_stat_user_tables WHERE relid = 'journey.enrollments'::regclass");
    };
    long long dead = stat("n_dead_tup");
    long long updates = stat("n_tup_upd");
    long long hot = stat("n_tup_hot_upd");
    long long autovacuums = stat("autovacuum_count");
    bool engine_ok = completed == n && messages == 2 * n;

    // Floor, on enrollments of a second journey over the same customers.
    exec(c, "UPDATE customers SET vip = false");
    scalar(c, "SELECT journey.enroll_query('floor', 'SELECT id FROM customers')");
    long long lo = scalar(c,
                          "SELECT min(e.id) FROM journey.enrollments e JOIN journey.journeys j"
                          " ON j.id = e.journey_id WHERE j.name = 'floor'");
    long long hi = scalar(c,
                          "SELECT max(e.id) FROM journey.enrollments e JOIN journey.journeys j"
                          " ON j.id = e.journey_id WHERE j.name = 'floor'");
    settle(c);
    double floor_s = pgj::bench::run_floor({kDatabase, lo, hi, kThreshold, kBatch});
    long long floor_activity = scalar(c, "SELECT count(*) FROM journey.activity") - activity;
    long long floor_messages = scalar(c, "SELECT count(*) FROM journey.messages") - messages;
    bool floor_ok = floor_activity == activity && floor_messages == messages &&
                    scalar(c, "SELECT count(*) FROM customers WHERE vip") == yes;

    std::printf(
        "engine: %.2f s, %lld run_due calls, %lld activity rows, %lld messages, "
        "%lld/%lld completed%s\n",
        engine_s, calls, activity, messages, completed, n, engine_ok ? "" : "  (INCOMPLETE)");
    std::printf("floor:  %.2f s, %lld activity rows, %lld messages%s\n", floor_s, floor_activity,
                floor_messages, floor_ok ? "" : "  (MISMATCH with the engine's writes)");
    std::printf("enrollments/s: engine %.0f, floor %.0f\n", n / engine_s, n / floor_s);
    std::printf("transitions/s: %.0f\n", activity / engine_s);
    std::printf(
        "n_dead_tup journey.enrollments after the drain: %lld (%lld rows; autovacuum "
        "runs during the drain: %lld)\n",
        dead, n, autovacuums);
    std::printf("journey.enrollments updates during the drain: %lld, of which HOT: %lld\n", updates,
                hot);
    std::printf("engine/floor ratio: %.2f\n", floor_s / engine_s);
    {
      pqxx::connection admin(dsn("postgres"));
      exec(admin, std::string("DROP DATABASE IF EXISTS ") + kDatabase + " WITH (FORCE)");
    }
    return engine_ok && floor_ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "bench engine: " << e.what() << std::endl;
    return 1;
  }
}
