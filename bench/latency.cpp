// Background-worker figures: wake-up latency and drain throughput.
//
// Latency: E enrollments park at a wait_for_event 'ping' step (send_email ->
// wait_for_event -> send_email). Then, one event at a time, the client calls
// journey.track(customer, 'ping') in autocommit and polls (sleeping 0.2 ms
// between polls, no LISTEN) for the woken step's message. Two figures per
// event: from just before the track() call is sent (includes track() itself)
// and from the moment its COMMIT has returned to the client. Timestamps are
// client-side: the server's `at`/`created_at` columns hold the engine's as_of
// (the worker's transaction start), not its commit.
//
// Throughput: N enrollments through the 5-step journey of bench/engine.cpp
// (send_email, condition score > 50, update_field vip (yes branch), delay,
// send_email), drained by the cluster's background workers (no run_due call
// from here). The delay is 1 second (the shortest a journey accepts): the
// fresh enrollments come due before the parked ones, so while the first pass
// takes longer than 1 s the delay costs no idle time. The clock starts when the
// enrolling transaction (enroll_query + ANALYZE) commits. Floor: the same row writes
// as set-based SQL, in two phases as bench/engine.cpp does them (bench/floor.hpp),
// over N other enrollments, 2 connections, 500 enrollments per transaction (the
// workers' pg_journey.batch_size). Ratio = floor s / worker s.
//
// Usage: latency [enrollments]   (or PGJ_BENCH_ENROLLMENTS; default 100000)
//        PGJ_BENCH_EVENTS = number of track() events (default 1000)
// Needs the throwaway cluster of tools/cluster.sh (pg_journey.database =
// 'pgj_worker', 2 workers, role journey_worker); creates database pgj_worker.
#include <algorithm>
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

const char* kDatabase = "pgj_worker";
constexpr int kThreshold = 50;
constexpr int kFloorBatch = 500;

bool wait_until(pqxx::connection& c, const std::string& sql, long long want, int timeout_s) {
  return wait_for([&] { return scalar(c, sql) == want; }, timeout_s * 1000, 5);
}

void setup(long long customers) {
  create_journey_database(kDatabase);
  pqxx::connection c(dsn(kDatabase));
  pqxx::work tx(c);
  create_customers(tx, customers);
  define_basics(tx);
  tx.exec("SELECT journey.create_journey('ping', 'customers')");
  tx.exec("SELECT journey.add_step('ping', 'hi', 'send_email', '{\"template\": \"hello\"}')");
  tx.exec(
      "SELECT journey.add_step('ping', 'wait', 'wait_for_event',"
      " '{\"event\": \"ping\", \"timeout\": \"1 day\"}')");
  tx.exec("SELECT journey.add_step('ping', 'pong', 'send_email', '{\"template\": \"bye\"}')");
  tx.exec("SELECT journey.connect('ping', 'hi', 'wait')");
  tx.exec("SELECT journey.connect('ping', 'wait', 'pong', 'event')");
  tx.exec("SELECT journey.publish('ping')");
  for (const char* name : {"worker", "floor"})
    define_delay_journey(tx, name, kThreshold, "1 second");
  tx.commit();
}

struct Percentiles {
  double p50, p95, p99, max;
};

Percentiles percentiles(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double p) { return v[std::min(v.size() - 1, size_t(p * v.size()))]; };
  return {at(0.50), at(0.95), at(0.99), v.back()};
}

// Returns false when an event was not seen within 5 s.
bool run_latency(long long events, long long first_customer) {
  pqxx::connection c(dsn(kDatabase));
  long long lo = first_customer, hi = first_customer + events - 1;
  scalar(c, "SELECT journey.enroll_query('ping', 'SELECT id FROM customers WHERE id BETWEEN " +
                std::to_string(lo) + " AND " + std::to_string(hi) + "')");
  if (!wait_until(c,
                  "SELECT count(*) FROM journey.enrollments WHERE step_key = 'wait' AND " +
                      journey_filter("ping"),
                  events, 60))
    throw std::runtime_error("the ping enrollments did not park");
  exec(c, "VACUUM ANALYZE journey.messages");
  c.prepare("track", "SELECT journey.track($1, 'ping')");
  c.prepare("woken",
            "SELECT count(*) FROM journey.messages WHERE customer_id = $1"
            " AND step_key = 'pong'");
  std::vector<double> from_call, from_commit;
  int missed = 0;
  for (long long id = lo; id <= hi; ++id) {
    const std::string customer = std::to_string(id);
    auto t0 = Clock::now();
    {
      pqxx::nontransaction tx(c);
      tx.exec_prepared("track", customer);  // autocommit: returns after COMMIT
    }
    auto t_commit = Clock::now();
    bool seen = wait_woken(c, "woken", customer, t0, std::chrono::seconds(5));
    auto t1 = Clock::now();
    if (!seen) ++missed;
    from_call.push_back(ms_between(t0, t1));
    from_commit.push_back(ms_between(t_commit, t1));
  }
  Percentiles a = percentiles(from_call), b = percentiles(from_commit);
  std::printf(
      "latency, %lld events, track() call -> woken step visible: p50 %.2f ms, p95 %.2f ms,"
      " p99 %.2f ms, max %.2f ms\n",
      events, a.p50, a.p95, a.p99, a.max);
  std::printf(
      "latency, %lld events, track() commit returned -> woken step visible: p50 %.2f ms,"
      " p95 %.2f ms, p99 %.2f ms, max %.2f ms\n",
      events, b.p50, b.p95, b.p99, b.max);
  std::printf("targets (track() call -> visible): p50 <= 5 ms %s, p99 <= 20 ms %s%s\n",
              a.p50 <= 5 ? "met" : "MISSED", a.p99 <= 20 ? "met" : "MISSED",
              missed ? "  (SOME EVENTS NOT SEEN WITHIN 5 s)" : "");
  return missed == 0;
}

double run_workers(long long n) {
  pqxx::connection c(dsn(kDatabase));
  settle(c);
  // Enroll and ANALYZE in one transaction (ANALYZE samples the transaction's own
  // rows), as bench/engine.cpp settles after enrolling: with statistics from
  // before a bulk enrollment, the claim query of run_due sorts the whole due set
  // on every tick until autovacuum analyzes the table (see docs/benchmarks.md).
  {
    pqxx::work tx(c);
    tx.exec("SELECT journey.enroll_query('worker', 'SELECT id FROM customers WHERE id <= " +
            std::to_string(n) + "')");
    tx.exec("ANALYZE journey.enrollments");
    tx.commit();  // wakes the workers
  }
  auto t0 = Clock::now();
  double parked_s = -1;
  // Polls that stop at the first row still to run, walking the due index (the
  // workers' rows are the only active ones with a due time): a count over
  // every enrollment per poll took about half a core from the workers.
  const std::string not_done =
      "SELECT count(*) FROM (SELECT 1 FROM journey.enrollments WHERE status = 'active'"
      " AND next_run_at IS NOT NULL AND " +
      journey_filter("worker");
  const std::string before_delay =
      not_done + " AND step_key IS DISTINCT FROM 'wait' ORDER BY next_run_at LIMIT 1) x";
  const std::string any_left = not_done + " ORDER BY next_run_at LIMIT 1) x";
  auto deadline = t0 + std::chrono::seconds(600);
  while (Clock::now() < deadline) {
    if (parked_s < 0 && scalar(c, before_delay) == 0) parked_s = seconds_since(t0);
    if (parked_s >= 0 && scalar(c, any_left) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  double s = seconds_since(t0);
  std::printf("workers: first pass (up to the delay) done after %.2f s\n", parked_s);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  long long n = 100000, events = 1000;
  if (const char* e = std::getenv("PGJ_BENCH_ENROLLMENTS")) n = std::atoll(e);
  if (argc > 1) n = std::atoll(argv[1]);
  if (const char* e = std::getenv("PGJ_BENCH_EVENTS")) events = std::atoll(e);
  if (n <= 0 || events <= 0) {
    std::cerr << "usage: latency [enrollments]  (PGJ_BENCH_EVENTS: track() events)" << std::endl;
    return 2;
  }
  try {
    setup(n + events);
    pqxx::connection c(dsn(kDatabase));
    if (!wait_until(c,
                    "SELECT count(*) FROM journey.worker_status WHERE database = current_database()"
                    " AND pid IS NOT NULL",
                    2, 10))
      throw std::runtime_error(
          "the 2 background workers of pgj_worker are not running"
          " (pg_journey.database/workers, role journey_worker?)");
    {
      pqxx::nontransaction tx(c);
      pqxx::result r = tx.exec(
          "SELECT current_setting('pg_journey.naptime'),"
          " current_setting('pg_journey.batch_size')");
      std::printf("== bench latency: 2 background workers (pg_journey.naptime %s, batch_size %s)\n",
                  r[0][0].c_str(), r[0][1].c_str());
    }
    bool latency_ok = run_latency(events, n + 1);

    // Throughput: workers, then the floor over a second journey's enrollments,
    // inserted directly with no due time so that the workers leave them alone.
    double worker_s = run_workers(n);
    const std::string f = journey_filter("worker");
    long long activity = scalar(c, "SELECT count(*) FROM journey.activity WHERE " + f);
    long long messages = scalar(c, "SELECT count(*) FROM journey.messages WHERE " + f);
    long long completed = scalar(c,
                                 "SELECT count(*) FROM journey.enrollments WHERE status ="
                                 " 'completed' AND " +
                                     f);
    long long yes = scalar(c, "SELECT count(*) FROM customers WHERE vip");
    bool worker_ok = completed == n && messages == 2 * n;

    exec(c, "UPDATE customers SET vip = false");
    exec(c,
         "INSERT INTO journey.enrollments (journey_id, version, customer_id, step_key, next_run_at)"
         " SELECT j.id, j.published_version, c.id::text, 'hello', NULL FROM journey.journeys j,"
         " customers c WHERE j.name = 'floor' AND c.id <= " +
             std::to_string(n));
    long long lo =
        scalar(c, "SELECT min(id) FROM journey.enrollments WHERE " + journey_filter("floor"));
    long long hi =
        scalar(c, "SELECT max(id) FROM journey.enrollments WHERE " + journey_filter("floor"));
    settle(c);
    // Parked a day ahead (the journey's delay is 1 second) so that the workers
    // leave these enrollments alone between the two phases.
    double floor_s = pgj::bench::run_floor({kDatabase, lo, hi, kThreshold, kFloorBatch, "1 day"});
    const std::string ff = journey_filter("floor");
    bool floor_ok = scalar(c, "SELECT count(*) FROM journey.activity WHERE " + ff) == activity &&
                    scalar(c, "SELECT count(*) FROM journey.messages WHERE " + ff) == messages &&
                    scalar(c, "SELECT count(*) FROM customers WHERE vip") == yes;

    std::printf(
        "workers: %.2f s for %lld enrollments (%lld activity rows, %lld messages, "
        "%lld/%lld completed)%s\n",
        worker_s, n, activity, messages, completed, n, worker_ok ? "" : "  (INCOMPLETE)");
    std::printf("floor:   %.2f s%s\n", floor_s,
                floor_ok ? "" : "  (MISMATCH with the workers' writes)");
    std::printf("enrollments/s: workers %.0f, floor %.0f\n", n / worker_s, n / floor_s);
    std::printf("worker/floor ratio: %.2f\n", floor_s / worker_s);
    // The database stays: the cluster is a throwaway one, and its workers are connected to it.
    return latency_ok && worker_ok && floor_ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "bench latency: " << e.what() << std::endl;
    return 1;
  }
}
