// 1 node vs a Citus coordinator + 2 worker nodes, side by side in one run
// (issue 13, docs/scale-out.md). Needs the cluster of tools/citus.sh (make
// bench-citus starts one): PGHOST/PGPORT the coordinator, CITUS_WORKER_PORTS
// the two workers, pg_journey.enabled = off (the bench drives run_due).
//
// 1. Engine: the engine benchmark's 5-step journey (send_email, condition,
//    update_field on the yes branch, delay 1 day, send_email) for N customers
//    (text keys: Citus co-locates by text), enrolled, then drained with
//    journey.run_due(1000, as_of) in two clock phases (2 days, 4 days ahead):
//    - 1 node: database pgj_bench_single on the coordinator (no Citus in it),
//      2 connections;
//    - distributed: database pgj_citus, journey.distribute('customers'), then
//      2 connections on each worker node at once (each tick takes its node's
//      shards). Per node: enrollments, seconds to drain its share, steps/s.
//    Per node also the CPU time of the backends that ran its ticks (read from
//    /proc: the servers are on this machine), which two nodes sharing two
//    cores do not distort as they do wall time.
// 2. Claim cost per node as parked enrollments grow: on both installs, P parked
//    enrollments (next_run_at 30 days ahead) per level (PGJ_CITUS_PARKED,
//    default "0 50000 200000"; spread over both worker nodes), and 2,000 due
//    ones; on the 1 node and on each worker node the median of 11 calls of
//    run_due(500) in a transaction rolled back: with nothing due (the claim
//    alone, on every local shard) and with 500 due (claim and run).
// 3. Bulk enrollment, called on the coordinator: journey.enroll_query of all N
//    customers into a new journey, and one UPDATE of PGJ_CITUS_TRIGGER_ROWS
//    customers (default 5000, at most N) firing an attribute entry trigger;
//    customers/s on the 1 node and on the distributed install, and the ratio.
// Usage: citus [enrollments]   (or PGJ_BENCH_ENROLLMENTS; default 20000)
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "pqxx_support.hpp"

using namespace pgj::testing;

namespace {

const char* kSingle = "pgj_bench_single";

std::string node(int port, const std::string& db) {
  return "port=" + std::to_string(port) + " dbname=" + db;
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// Customers (text keys), the templates and the 5-step journey "engine", N enrollments.
void setup(pqxx::connection& c, long long n) {
  pqxx::work tx(c);
  tx.exec("CREATE EXTENSION IF NOT EXISTS pg_journey");
  tx.exec(
      "CREATE TABLE customers (id text PRIMARY KEY, email text NOT NULL, score int NOT NULL,"
      " vip boolean NOT NULL DEFAULT false)");
  tx.exec(
      "INSERT INTO customers (id, email, score) SELECT i::text, 'c' || i || '@example.com',"
      " (i * 37) % 100 FROM generate_series(1, " +
      std::to_string(n) + ") i");
  define_basics(tx);
  define_delay_journey(tx, "engine", 50, "1 day");
  tx.exec("SELECT journey.enroll_query('engine', 'SELECT id FROM customers')");
  tx.commit();
}

struct Drain {
  long long enrollments = 0;  // taken by the ticks (both phases)
  double seconds = 0;
  double cpu = 0;  // CPU seconds of the server backends that ran the ticks
};

// CPU seconds (user + system) a process on this machine has used so far: the
// servers are local (loopback), so a backend's cost is read from /proc.
double cpu_seconds(long long pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(f, line);
  std::istringstream in(line.substr(line.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; in >> field; ++i)
    if (i == 14 || i == 15) ticks += std::stod(field);
  return ticks / sysconf(_SC_CLK_TCK);
}

// `connections` connections on `conninfo` looping run_due until both phases return 0.
Drain drain(const std::string& conninfo, int connections) {
  const char* phases[] = {"now() + interval '2 days'", "now() + interval '4 days'"};
  std::atomic<long long> taken{0}, cpu_ms{0};
  std::atomic<int> errors{0};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < connections; ++t)
    threads.emplace_back([&] {
      try {
        pqxx::connection c(conninfo);
        for (const char* as_of : phases)
          for (;;) {
            pqxx::work tx(c);
            long long n = tx.exec("SELECT journey.run_due(1000, " + std::string(as_of) + ")")[0][0]
                              .as<long long>();
            tx.commit();
            taken += n;
            if (n == 0) break;
          }
        cpu_ms += static_cast<long long>(cpu_seconds(scalar(c, "SELECT pg_backend_pid()")) * 1000);
      } catch (const std::exception& e) {
        std::cerr << "drain: " << e.what() << std::endl;
        ++errors;
      }
    });
  for (auto& t : threads) t.join();
  if (errors) throw std::runtime_error("drain failed");
  return {taken, seconds_since(start), cpu_ms / 1000.0};
}

// Section 3 on one install: seconds of enroll_query('bulk') over every
// customer and of an UPDATE of the first `rows` customers that makes them enter
// 'bulk_entry' (attribute entry trigger: score > 999, scores are 0-99 before),
// with the enrollments each made.
struct Bulk {
  double enroll_s = 0, update_s = 0;
  long long enrolled = 0, entered = 0;
};
Bulk bulk_enroll(pqxx::connection& c, long long rows) {
  const std::string steps =
      "\"start\": \"d\", \"steps\": [{\"key\": \"d\", \"type\": \"delay\", \"duration\":"
      " \"1 day\", \"next\": \"done\"}, {\"key\": \"done\", \"type\": \"exit\"}]}";
  exec(c, "SELECT journey.import('{\"name\": \"bulk\", \"audience\": \"customers\", " + steps +
              "'::jsonb)");
  exec(c,
       "SELECT journey.import('{\"name\": \"bulk_entry\", \"audience\": \"customers\","
       " \"entry\": [{\"type\": \"attribute\", \"when\": {\"field\": \"score\", \"op\": \"gt\","
       " \"value\": 999}}], " +
           steps + "'::jsonb)");
  exec(c, "SELECT journey.publish('bulk'), journey.publish('bulk_entry')");
  Bulk b;
  auto start = Clock::now();
  b.enrolled = scalar(c, "SELECT journey.enroll_query('bulk', 'SELECT id FROM customers')");
  b.enroll_s = seconds_since(start);
  start = Clock::now();
  exec(c, "UPDATE customers SET score = score + 1000 WHERE id::bigint <= " + std::to_string(rows));
  b.update_s = seconds_since(start);
  b.entered = scalar(c,
                     "SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j"
                     " ON j.id = e.journey_id WHERE j.name = 'bulk_entry'");
  return b;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median ms of run_due(500, as_of) on `conninfo`, rolled back each time.
double tick_ms(const std::string& conninfo, const std::string& as_of) {
  pqxx::connection c(conninfo);
  std::vector<double> ms;
  for (int i = 0; i < 11; ++i) {
    pqxx::work tx(c);
    auto start = Clock::now();
    tx.exec("SELECT journey.run_due(500, " + as_of + ")");
    ms.push_back(seconds_since(start) * 1000);
    tx.abort();
  }
  return median(ms);
}

}  // namespace

int main(int argc, char** argv) {
  long long n = 20000;
  if (const char* e = std::getenv("PGJ_BENCH_ENROLLMENTS")) n = std::atoll(e);
  if (argc > 1) n = std::atoll(argv[1]);
  const char* ports_env = std::getenv("CITUS_WORKER_PORTS");
  const char* db_env = std::getenv("PGDATABASE");
  const char* port_env = std::getenv("PGPORT");
  if (n <= 0 || !ports_env || !db_env || !port_env) {
    std::cerr << "usage: citus [enrollments], on the cluster of tools/citus.sh (make bench-citus)"
              << std::endl;
    return 2;
  }
  const std::string db = db_env;
  const int coordinator = std::atoi(port_env);
  std::vector<int> workers;
  {
    std::istringstream in(ports_env);
    for (int p; in >> p;) workers.push_back(p);
  }
  try {
    std::printf("== bench citus: %lld enrollments, 5-step journey, load average %s\n", n,
                loadavg().c_str());
    // 1 node.
    {
      pqxx::connection admin(node(coordinator, "postgres"));
      exec(admin, std::string("DROP DATABASE IF EXISTS ") + kSingle + " WITH (FORCE)");
      exec(admin, std::string("CREATE DATABASE ") + kSingle);
    }
    pqxx::connection single(node(coordinator, kSingle));
    setup(single, n);
    settle(single);
    Drain one = drain(node(coordinator, kSingle), 2);
    long long one_steps = scalar(single, "SELECT count(*) FROM journey.activity");
    long long one_done =
        scalar(single, "SELECT count(*) FROM journey.enrollments WHERE status = 'completed'");

    // Distributed.
    pqxx::connection c(node(coordinator, db));
    setup(c, n);
    exec(c, "SELECT journey.distribute('customers')");
    for (int p : workers) {
      pqxx::connection w(node(p, db));
      settle(w);
    }
    std::map<int, Drain> per_node;
    std::vector<std::thread> threads;
    std::atomic<int> errors{0};
    auto start = Clock::now();
    for (int p : workers) per_node[p] = Drain{};
    for (int p : workers)
      threads.emplace_back([&, p] {
        try {
          per_node[p] = drain(node(p, db), 2);
        } catch (const std::exception& e) {
          std::cerr << "node " << p << ": " << e.what() << std::endl;
          ++errors;
        }
      });
    for (auto& t : threads) t.join();
    double total_s = seconds_since(start);
    if (errors) throw std::runtime_error("distributed drain failed");
    long long steps = scalar(c, "SELECT count(*) FROM journey.activity");
    long long done =
        scalar(c, "SELECT count(*) FROM journey.enrollments WHERE status = 'completed'");
    long long messages = scalar(c, "SELECT count(*) FROM journey.messages");

    std::printf(
        "1 node:      %.2f s, %lld steps, %.0f steps/s, %.0f enrollments/s, %lld/%lld completed;"
        " tick CPU %.2f s, %.3f ms an enrollment\n",
        one.seconds, one_steps, one_steps / one.seconds, n / one.seconds, one_done, n, one.cpu,
        one.cpu * 1000 / n);
    std::printf(
        "coordinator + %zu workers: %.2f s, %lld steps, %.0f steps/s, %.0f enrollments/s, "
        "%lld/%lld completed, %lld messages\n",
        workers.size(), total_s, steps, steps / total_s, n / total_s, done, n, messages);
    for (int p : workers) {
      const Drain& d = per_node[p];
      // Each enrollment is taken twice (once a phase).
      double e = d.enrollments / 2.0;
      std::printf(
          "  node %d: %.0f enrollments (%.1f%% of them), drained in %.2f s (%.0f enrollments/s);"
          " tick CPU %.2f s, %.3f ms an enrollment (%.2f x 1 node)\n",
          p, e, 100 * e / n, d.seconds, e / d.seconds, d.cpu, d.cpu * 1000 / e,
          (d.cpu / e) / (one.cpu / n));
    }
    std::printf("distributed/1-node wall time: %.2f\n", total_s / one.seconds);

    // Claim cost per node as parked enrollments grow, on both installs: 2,000
    // due enrollments at the first step (rows written directly: enrolling does
    // not run on the distributed install yet), then parked ones added per level.
    std::string levels = "0 50000 200000";
    if (const char* e = std::getenv("PGJ_CITUS_PARKED")) levels = e;
    const std::string due =
        "INSERT INTO journey.enrollments (journey_id, version, customer_id, entity_key,"
        " step_key, next_run_at) SELECT j.id, 1, i::text, 'due', 'hello', now()"
        "   FROM journey.journeys j, generate_series(1, 2000) i WHERE j.name = 'engine'";
    exec(c, due);
    exec(single, due);
    std::istringstream in(levels);
    long long parked = 0;
    std::printf(
        "tick cost, median of 11, rolled back: empty = run_due(500) with nothing due (the claim"
        " on every local shard), 500 = run_due(500) of 500 due enrollments\n");
    for (long long level; in >> level;) {
      if (level > parked) {
        const std::string add =
            "INSERT INTO journey.enrollments (journey_id, version, customer_id, entity_key,"
            " step_key, next_run_at, parked_at)"
            " SELECT j.id, 1, ((i % " +
            std::to_string(n) +
            ") + 1)::text, 'p' || i, 'wait', now() + interval '30 days', now()"
            "   FROM journey.journeys j, generate_series(" +
            std::to_string(parked + 1) + ", " + std::to_string(level) +
            ") i WHERE j.name = 'engine'";
        exec(c, add);
        exec(single, add);
        parked = level;
        exec(single, "VACUUM ANALYZE");
        for (int p : workers) {
          pqxx::connection w(node(p, db));
          exec(w, "VACUUM ANALYZE");
        }
      }
      const std::string none = "now() - interval '1 day'", now = "now() + interval '1 minute'";
      std::printf("  parked %lld: 1 node empty %.1f ms, 500 %.1f ms;", parked,
                  tick_ms(node(coordinator, kSingle), none),
                  tick_ms(node(coordinator, kSingle), now));
      for (int p : workers)
        std::printf(" node %d empty %.1f ms, 500 %.1f ms;", p, tick_ms(node(p, db), none),
                    tick_ms(node(p, db), now));
      std::printf("\n");
    }
    long long rows = std::min(n, 5000LL);
    if (const char* e = std::getenv("PGJ_CITUS_TRIGGER_ROWS")) rows = std::min(n, std::atoll(e));
    Bulk one_bulk = bulk_enroll(single, rows);
    Bulk dist_bulk = bulk_enroll(c, rows);
    std::printf(
        "bulk enrollment on the coordinator: enroll_query of %lld customers: 1 node %.3f s (%.0f"
        " customers/s), distributed %.3f s (%.0f customers/s), distributed/1-node time %.2f\n",
        n, one_bulk.enroll_s, n / one_bulk.enroll_s, dist_bulk.enroll_s, n / dist_bulk.enroll_s,
        dist_bulk.enroll_s / one_bulk.enroll_s);
    std::printf(
        "  attribute entry: UPDATE of %lld customers: 1 node %.3f s (%.0f customers/s), distributed"
        " %.3f s (%.0f customers/s), distributed/1-node time %.2f\n",
        rows, one_bulk.update_s, rows / one_bulk.update_s, dist_bulk.update_s,
        rows / dist_bulk.update_s, dist_bulk.update_s / one_bulk.update_s);
    bool bulk_ok = one_bulk.enrolled == n && dist_bulk.enrolled == n && one_bulk.entered == rows &&
                   dist_bulk.entered == rows;
    if (!bulk_ok)
      std::printf("  enrolled %lld and %lld, entered %lld and %lld: expected %lld and %lld\n",
                  one_bulk.enrolled, dist_bulk.enrolled, one_bulk.entered, dist_bulk.entered, n,
                  rows);
    bool ok = one_done == n && done == n && messages == 2 * n && bulk_ok;
    if (!ok) std::printf("INCOMPLETE\n");
    {
      pqxx::connection admin(node(coordinator, "postgres"));
      exec(admin, std::string("DROP DATABASE IF EXISTS ") + kSingle + " WITH (FORCE)");
    }
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "bench citus: " << e.what() << std::endl;
    return 1;
  }
}
