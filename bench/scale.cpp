// Scale: does the tick slow down when many enrollments are parked?
//
// Parked enrollments: journey "parked" (send_email hello -> wait_for_event
// 'ping', timeout 30 days -> send_email bye); one customer is run by the
// engine to the wait step, and its enrollment row is copied for the other
// customers (same columns, own id and customer; no activity rows: the tick
// and track() never read them). Parked levels: PGJ_SCALE_LEVELS (default
// "1000000 10000000"), grown in place in one database, measured at each level:
//   - tick throughput: K fresh enrollments (PGJ_SCALE_FRESH, default 50,000)
//     of the 4-step journey of bench/engine.cpp (send_email, condition,
//     update_field, send_email; no delay), drained by 2 connections looping
//     run_due(1000) (one transaction a call); enrollments/s;
//   - claim cost: the tick's claim statement (src/pg/tick.cpp, planned as
//     run_due plans it: enable_seqscan and enable_sort off) for 500 rows with
//     50,000 due, in a transaction rolled back; median of 21;
//   - track() latency: journey.track(customer, 'ping') on parked customers
//     (each wakes one enrollment), in autocommit, 1,000 calls; p50/p99.
// Prints each level's figures and the ratios of the last level to the first.
// Database pgj_scale (dropped at the end unless PGJ_SCALE_KEEP=1).
#include <algorithm>
#include <atomic>
#include <sstream>

#include "pqxx_support.hpp"

using namespace pgj::testing;

namespace {

const char* kDatabase = "pgj_scale";

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}
double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}
std::string fmt(double x, int digits = 2) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, x);
  return b;
}
std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

long long parked_now = 0;  // customers 1..parked_now have a parked enrollment
long long fresh_from = 0;  // fresh customers are numbered from here

void setup(long long max_parked, long long fresh_total) {
  {
    pqxx::connection admin(dsn("postgres"));
    recreate_database(admin, kDatabase);
  }
  pqxx::connection c(dsn(kDatabase));
  pqxx::work tx(c);
  tx.exec("CREATE EXTENSION pg_journey");
  // Customers: the parked ones and the fresh ones of every level.
  create_customers(tx, max_parked + fresh_total);
  define_basics(tx);
  define_delay_journey(tx, "fresh", 50, "");
  tx.exec(
      R"(SELECT journey.import($${"name": "parked", "audience": "customers", "start": "hello",
  "steps": [{"key": "hello", "type": "send_email", "template": "hello", "next": "wait"},
            {"key": "wait", "type": "wait_for_event", "event": "ping", "timeout": "30 days",
             "branches": {"event": "bye", "timeout": "bye"}},
            {"key": "bye", "type": "send_email", "template": "bye"}]}$$))");
  tx.exec("SELECT journey.publish('parked')");
  tx.exec("SELECT journey.enroll('parked', '1')");
  tx.commit();
  exec(c, "SELECT journey.run_due(10, now())");
  parked_now = 1;
  fresh_from = max_parked + 1;
}

// Copies the parked row of customer 1 for customers parked_now+1..upto.
void grow_parked(long long upto) {
  pqxx::connection c(dsn(kDatabase));
  exec(c, "SET synchronous_commit = off");
  const long long step = 1000000;
  for (long long lo = parked_now + 1; lo <= upto; lo += step) {
    long long hi = std::min(upto, lo + step - 1);
    exec(c,
         "INSERT INTO journey.enrollments (journey_id, version, customer_id, entity_key, status,"
         " step_key, next_run_at, context, entered_at, visits, parked_at, wait_deadline,"
         " waiting_for, holdout)"
         " SELECT e.journey_id, e.version, i::text, e.entity_key, e.status, e.step_key,"
         " e.next_run_at, e.context, e.entered_at, e.visits, e.parked_at, e.wait_deadline,"
         " e.waiting_for, e.holdout FROM journey.enrollments e, generate_series(" +
             std::to_string(lo) + ", " + std::to_string(hi) +
             ") i WHERE e.customer_id = '1' AND e.journey_id = (SELECT id FROM journey.journeys"
             " WHERE name = 'parked')");
  }
  parked_now = upto;
  exec(c, "VACUUM ANALYZE journey.enrollments");
  exec(c, "CHECKPOINT");
}

struct Figures {
  long long parked;
  double tick_per_s, claim_ms, track_p50, track_p99;
  std::string load;
};

Figures measure(long long fresh) {
  Figures f{};
  f.parked = parked_now;
  pqxx::connection c(dsn(kDatabase));
  const std::string lo = std::to_string(fresh_from), hi = std::to_string(fresh_from + fresh - 1);
  fresh_from += fresh;
  exec(c, "SELECT journey.enroll_query('fresh', 'SELECT id FROM customers WHERE id BETWEEN " + lo +
              " AND " + hi + "')");
  exec(c, "ANALYZE journey.enrollments");
  // Claim cost with `fresh` due: the tick's claim statement, rolled back.
  std::vector<double> claims;
  for (int i = 0; i < 21; ++i) {
    pqxx::work tx(c);
    // As run_due plans it (src/pg/tick.cpp): the due index, in order.
    tx.exec("SET LOCAL enable_seqscan = off");
    tx.exec("SET LOCAL enable_sort = off");
    auto t0 = Clock::now();
    tx.exec(
        "SELECT e.id, e.journey_id, e.version, e.customer_id, e.entity_key, e.step_key,"
        " (extract(epoch from e.parked_at) * 1000000)::int8,"
        " (extract(epoch from e.wait_deadline) * 1000000)::int8, e.context::text,"
        " e.last_event::text, e.woken_by::text, e.visits, e.holdout, e.rearm, e.attempts"
        " FROM journey.enrollments e WHERE e.status = 'active' AND e.next_run_at <= now()"
        " AND EXISTS (SELECT 1 FROM journey.journeys j WHERE j.id = e.journey_id"
        " AND j.state = 'published') ORDER BY e.next_run_at, e.id LIMIT 500"
        " FOR UPDATE OF e SKIP LOCKED");
    claims.push_back(ms_between(t0, Clock::now()));
    tx.abort();
  }
  f.claim_ms = median(claims);
  f.load = loadavg();
  // Tick throughput: the fresh ones drained by 2 connections.
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  std::atomic<long long> done{0};
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&] {
      pqxx::connection d(dsn(kDatabase));
      for (;;) {
        pqxx::work tx(d);
        int n = tx.exec("SELECT journey.run_due(1000)")[0][0].as<int>();
        tx.commit();
        done += n;
        if (n == 0) break;
      }
    });
  for (auto& t : threads) t.join();
  double s = seconds_since(t0);
  f.tick_per_s = done / s;
  if (done != fresh) std::cout << "  drained " << done << " of " << fresh << std::endl;
  // track() latency on parked customers (each wakes its enrollment).
  std::vector<double> tracks;
  const long long stride = std::max<long long>(1, parked_now / 1000);
  for (long long k = 0; k < 1000; ++k) {
    std::string customer = std::to_string(2 + k * stride);
    auto t1 = Clock::now();
    exec(c, "SELECT journey.track(" + q(customer) + ", 'ping')");
    tracks.push_back(ms_between(t1, Clock::now()));
  }
  f.track_p50 = pct(tracks, 0.5);
  f.track_p99 = pct(tracks, 0.99);
  // The woken ones go back to sleep: not due before the next level.
  exec(c,
       "UPDATE journey.enrollments SET next_run_at = wait_deadline WHERE status = 'active'"
       " AND next_run_at <= now() AND waiting_for IS NOT NULL");
  return f;
}

}  // namespace

int main() {
  std::cout << "== scale: tick throughput, claim cost and track() latency with many enrollments"
               " parked"
            << std::endl;
  std::vector<long long> levels;
  {
    std::istringstream in(env("PGJ_SCALE_LEVELS").empty() ? "1000000 10000000"
                                                          : env("PGJ_SCALE_LEVELS"));
    for (long long v; in >> v;) levels.push_back(v);
  }
  const long long fresh =
      env("PGJ_SCALE_FRESH").empty() ? 50000 : std::atoll(env("PGJ_SCALE_FRESH").c_str());
  elapsed();
  std::vector<Figures> all;
  try {
    setup(levels.back(), fresh * static_cast<long long>(levels.size()));
    log("set up");
    for (long long level : levels) {
      grow_parked(level);
      pqxx::connection c(dsn(kDatabase));
      log(std::to_string(level) + " parked (journey.enrollments: " +
          text(c, "SELECT pg_size_pretty(pg_total_relation_size('journey.enrollments'))") +
          " with indexes)");
      Figures f = measure(fresh);
      all.push_back(f);
      std::cout << "parked " << f.parked << ": tick " << fmt(f.tick_per_s, 0)
                << " enrollments/s, claim of 500 " << fmt(f.claim_ms, 3) << " ms, track() p50 "
                << fmt(f.track_p50, 3) << " ms p99 " << fmt(f.track_p99, 3) << " ms (load "
                << f.load << ")" << std::endl;
    }
  } catch (const std::exception& e) {
    check(false, std::string("unexpected error: ") + e.what());
  }
  if (all.size() >= 2) {
    const Figures &a = all.front(), &b = all.back();
    std::cout << "ratio " << b.parked << " / " << a.parked << " parked: tick throughput "
              << fmt(a.tick_per_s / b.tick_per_s) << "x slower, claim "
              << fmt(b.claim_ms / a.claim_ms) << "x, track() p50 " << fmt(b.track_p50 / a.track_p50)
              << "x (target: within 1.2x)" << std::endl;
  }
  if (env("PGJ_SCALE_KEEP") != "1") {
    try {
      pqxx::connection admin(dsn("postgres"));
      exec(admin, std::string("DROP DATABASE IF EXISTS ") + kDatabase + " WITH (FORCE)");
    } catch (const std::exception&) {
    }
  }
  check(all.size() == levels.size(), "every level measured");
  std::cout << passed << " passed, " << failed << " failed" << std::endl;
  return failed == 0 ? 0 : 1;
}
