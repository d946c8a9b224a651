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
// as set-based SQL (see bench/engine.cpp; written out here again, minimal) over
// N other enrollments, 2 connections, 500 enrollments per transaction (the
// workers' pg_journey.batch_size). Ratio = floor s / worker s.
//
// Usage: latency [enrollments]   (or PGJ_BENCH_ENROLLMENTS; default 100000)
//        PGJ_BENCH_EVENTS = number of track() events (default 1000)
// Needs the throwaway cluster of tools/cluster.sh (pg_journey.database =
// 'pgj_worker', 2 workers, role journey_worker); creates database pgj_worker.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
const char* kDatabase = "pgj_worker";
constexpr int kThreshold = 50;
constexpr int kFloorBatch = 500;

std::string dsn(const std::string& db) {
  return "dbname=" + db;
}

long long scalar(pqxx::connection& c, const std::string& sql) {
  pqxx::nontransaction tx(c);
  pqxx::result r = tx.exec(sql);
  return r[0][0].is_null() ? 0 : r[0][0].as<long long>();
}

void exec(pqxx::connection& c, const std::string& sql) {
  pqxx::nontransaction tx(c);
  tx.exec(sql);
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

bool wait_until(pqxx::connection& c, const std::string& sql, long long want, int timeout_s) {
  auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  while (Clock::now() < deadline) {
    if (scalar(c, sql) == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

std::string filter(const std::string& journey) {
  return "journey_id = (SELECT id FROM journey.journeys WHERE name = '" + journey + "')";
}

void setup(long long customers) {
  {
    pqxx::connection admin(dsn("postgres"));
    exec(admin,
         "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname ="
         " 'journey_worker') THEN CREATE ROLE journey_worker LOGIN; END IF; END $$");
    exec(admin, std::string("DROP DATABASE IF EXISTS ") + kDatabase + " WITH (FORCE)");
    exec(admin, std::string("CREATE DATABASE ") + kDatabase);
  }
  pqxx::connection c(dsn(kDatabase));
  pqxx::work tx(c);
  tx.exec("CREATE EXTENSION pg_journey");
  tx.exec("GRANT journey_app TO journey_worker");
  tx.exec(
      "CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, score int NOT NULL,"
      " vip boolean NOT NULL DEFAULT false)");
  tx.exec(
      "INSERT INTO customers (id, email, score) SELECT i, 'c' || i || '@example.com',"
      " (i * 37) % 100 FROM generate_series(1, " +
      std::to_string(customers) + ") i");
  tx.exec("SELECT journey.register_audience('customers', 'id', email_column => 'email')");
  tx.exec("SELECT journey.create_template('hello', 'email', 'Hello', 'Hi {{email}}')");
  tx.exec("SELECT journey.create_template('bye', 'email', 'Later', 'Bye {{email}}')");
  tx.exec("SELECT journey.create_journey('ping', 'customers')");
  tx.exec("SELECT journey.add_step('ping', 'hi', 'send_email', '{\"template\": \"hello\"}')");
  tx.exec(
      "SELECT journey.add_step('ping', 'wait', 'wait_for_event',"
      " '{\"event\": \"ping\", \"timeout\": \"1 day\"}')");
  tx.exec("SELECT journey.add_step('ping', 'pong', 'send_email', '{\"template\": \"bye\"}')");
  tx.exec("SELECT journey.connect('ping', 'hi', 'wait')");
  tx.exec("SELECT journey.connect('ping', 'wait', 'pong', 'event')");
  tx.exec("SELECT journey.publish('ping')");
  for (const char* name : {"worker", "floor"}) {
    std::string j = std::string("'") + name + "'";
    tx.exec("SELECT journey.create_journey(" + j + ", 'customers')");
    tx.exec("SELECT journey.add_step(" + j +
            ", 'hello', 'send_email', '{\"template\": \"hello\"}')");
    tx.exec("SELECT journey.add_step(" + j +
            ", 'high', 'condition', '{\"if\": {\"field\": \"score\","
            " \"op\": \"gt\", \"value\": " +
            std::to_string(kThreshold) + "}}')");
    tx.exec("SELECT journey.add_step(" + j +
            ", 'mark', 'update_field', '{\"set\": {\"vip\": true}}')");
    tx.exec("SELECT journey.add_step(" + j + ", 'wait', 'delay', '{\"duration\": \"1 second\"}')");
    tx.exec("SELECT journey.add_step(" + j + ", 'bye', 'send_email', '{\"template\": \"bye\"}')");
    tx.exec("SELECT journey.connect(" + j + ", 'hello', 'high')");
    tx.exec("SELECT journey.connect(" + j + ", 'high', 'mark', 'yes')");
    tx.exec("SELECT journey.connect(" + j + ", 'high', 'wait', 'no')");
    tx.exec("SELECT journey.connect(" + j + ", 'mark', 'wait')");
    tx.exec("SELECT journey.connect(" + j + ", 'wait', 'bye')");
    tx.exec("SELECT journey.publish(" + j + ")");
  }
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
  if (!wait_until(
          c,
          "SELECT count(*) FROM journey.enrollments WHERE step_key = 'wait' AND " + filter("ping"),
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
    bool seen = false;
    while (Clock::now() - t0 < std::chrono::seconds(5)) {
      pqxx::nontransaction tx(c);
      if (tx.exec_prepared("woken", customer)[0][0].as<int>() > 0) {
        seen = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
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
  exec(c, "VACUUM ANALYZE");
  exec(c, "CHECKPOINT");
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
  const std::string not_done =
      "SELECT count(*) FROM journey.enrollments WHERE status = 'active'"
      " AND " +
      filter("worker");
  const std::string before_delay = not_done + " AND step_key IS DISTINCT FROM 'wait'";
  auto deadline = t0 + std::chrono::seconds(600);
  while (Clock::now() < deadline) {
    if (parked_s < 0 && scalar(c, before_delay) == 0)
      parked_s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (parked_s >= 0 && scalar(c, not_done) == 0) break;
    // Coarse polling: each poll is a count over the enrollments, and the
    // workers need the CPU.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("workers: first pass (up to the delay) done after %.2f s\n", parked_s);
  return s;
}

// The floor: the worker journey's row writes as set-based SQL, per id range.
double run_floor(long long lo, long long hi) {
  const std::string t = std::to_string(kThreshold);
  const std::string range = "e.id BETWEEN $1 AND $2";
  const std::string join =
      " FROM journey.enrollments e JOIN customers c ON c.id = e.customer_id::bigint";
  std::atomic<int> errors{0};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  long long mid = lo + (hi - lo + 1) / 2;
  for (auto [from, to] : {std::pair<long long, long long>{lo, mid - 1}, {mid, hi}})
    threads.emplace_back([&, from = from, to = to] {
      try {
        pqxx::connection c(dsn(kDatabase));
        c.prepare(
            "activity",
            "INSERT INTO journey.activity (enrollment_id, journey_id, version, customer_id,"
            " step_key, step_type, branch, visit, at)"
            " SELECT e.id, e.journey_id, e.version, e.customer_id, s.key, "
            "s.type::journey.step_type,"
            " CASE WHEN s.key = 'high' THEN CASE WHEN c.score > " +
                t +
                " THEN 'yes' ELSE 'no'"
                " END ELSE 'next' END, s.visit - (c.score <= " +
                t + " AND s.visit > 3)::int, now()" + join +
                " CROSS JOIN (VALUES ('hello', 'send_email', 1), ('high', 'condition', 2),"
                " ('mark', 'update_field', 3), ('wait', 'delay', 4), ('bye', 'send_email', 5))"
                " s(key, type, visit) WHERE " +
                range + " AND (s.key <> 'mark' OR c.score > " + t + ")");
        c.prepare(
            "messages",
            "INSERT INTO journey.messages (enrollment_id, journey_id, version, step_key, visit,"
            " customer_id, channel, payload, created_at, send_after)"
            " SELECT e.id, e.journey_id, e.version, s.key, CASE WHEN s.key = 'hello' THEN 1"
            " WHEN c.score > " +
                t +
                " THEN 5 ELSE 4 END, e.customer_id, 'email',"
                " jsonb_build_object('to', c.email, 'subject', s.subject, 'body', s.greeting"
                " || ' ' || c.email, 'template', s.key), now(), now()" +
                join +
                " CROSS JOIN (VALUES ('hello', 'Hello', 'Hi'), ('bye', 'Later', 'Bye'))"
                " s(key, subject, greeting) WHERE " +
                range);
        c.prepare("customers",
                  "UPDATE customers c SET vip = true FROM journey.enrollments e WHERE " + range +
                      " AND c.id = e.customer_id::bigint AND c.score > " + t);
        c.prepare("enrollments",
                  "UPDATE journey.enrollments e SET status = 'completed', step_key = 'bye',"
                  " next_run_at = NULL, parked_at = now(), visits = CASE WHEN c.score > " +
                      t + " THEN 5 ELSE 4 END, ended_at = now() FROM customers c WHERE " + range +
                      " AND c.id = e.customer_id::bigint");
        for (long long a = from; a <= to; a += kFloorBatch) {
          long long b = std::min(to, a + kFloorBatch - 1);
          pqxx::work tx(c);
          tx.exec_prepared("activity", a, b);
          tx.exec_prepared("messages", a, b);
          tx.exec_prepared("customers", a, b);
          tx.exec_prepared("enrollments", a, b);
          tx.commit();
        }
      } catch (const std::exception& e) {
        std::cerr << "floor loop: " << e.what() << std::endl;
        ++errors;
      }
    });
  for (auto& th : threads) th.join();
  if (errors) throw std::runtime_error("floor loop failed");
  return std::chrono::duration<double>(Clock::now() - start).count();
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
    const std::string f = filter("worker");
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
    long long lo = scalar(c, "SELECT min(id) FROM journey.enrollments WHERE " + filter("floor"));
    long long hi = scalar(c, "SELECT max(id) FROM journey.enrollments WHERE " + filter("floor"));
    exec(c, "VACUUM ANALYZE");
    exec(c, "CHECKPOINT");
    double floor_s = run_floor(lo, hi);
    const std::string ff = filter("floor");
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
