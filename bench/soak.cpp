// Soak: a steady offered load for a long time, with the background workers
// running, and a long-running reader holding a snapshot for part of it.
//
// Journey "soak" (audience customers): send_email hello -> wait_for_event
// 'ping' (timeout 2 minutes; event: thanks, timeout: bye) -> send_email; a
// condition exit rule on score (never true, but every customer UPDATE that
// sets score is evaluated by the trigger).
//
// Offered load, open loop (every 100 ms, whatever the server does):
//   - enrollments: enroll_query of the next PGJ_SOAK_ENROLL_RATE/10 customers;
//   - events: track(customer, 'ping') for PGJ_SOAK_EVENT_RATE/10 customers
//     enrolled about 5 s earlier (parked at the wait step by then);
//   - customer updates: UPDATE customers SET score = ... of
//     PGJ_SOAK_UPDATE_RATE/10 random customers;
//   - a sender claims pending messages (claim_messages) and completes them.
// Defaults: 200 enrollments/s, 100 events/s, 500 updated customer rows/s.
// From minute PGJ_SOAK_HOLD_AT for PGJ_SOAK_HOLD minutes a REPEATABLE READ
// transaction holds its snapshot (VACUUM can then remove no row version
// deleted after it started).
//
// Every PGJ_SOAK_SAMPLE seconds (default 10) one CSV row (stdout or
// PGJ_SOAK_CSV): time, load average, offered rates, transitions/s (activity
// rows inserted, from pg_stat_user_tables), backlog (active enrollments due
// now), enrollment latency p50/p99 (entered_at -> first step's activity `at`,
// over the enrollments of the window before last; one not yet run counts with
// its age), dead and live tuples and sizes of the hot tables, autovacuum runs.
// At the end it prints a summary and checks that the dead tuples of the hot
// tables came back down after the snapshot was released (to at most a fifth of
// their peak while it was held) and that the backlog did not grow.
//
// Length: PGJ_SOAK_MINUTES (default 30; PGJ_SOAK_SECONDS overrides for a
// smoke run). Needs the cluster of tools/cluster.sh (workers in pgj_worker).
// Prints "N passed, N failed".
#include <atomic>
#include <fstream>
#include <map>
#include <random>

#include "pqxx_support.hpp"

using namespace pgj::testing;

namespace {

const char* kDatabase = "pgj_worker";

double env_num(const char* name, double fallback) {
  std::string v = env(name);
  return v.empty() ? fallback : std::atof(v.c_str());
}

struct Config {
  double seconds, hold_at, hold_for, sample, settle;
  long long enroll_rate, event_rate, update_rate, customers;
};
Config cfg;

std::atomic<bool> stopping{false};
std::atomic<long long> enrolled_upto{0};  // customers 1..enrolled_upto were enrolled
std::atomic<long long> sent_enrolls{0}, sent_events{0}, sent_updates{0}, sent_messages{0};
std::atomic<long long> late_ticks{0};
std::atomic<int> load_errors{0};

// Calls `step` every 100 ms on schedule (open loop: a late step is not
// skipped, the next ones run at once until the schedule is met again).
void every_100ms(const std::function<void(long long)>& step) {
  auto next = Clock::now();
  for (long long i = 0; !stopping; ++i) {
    step(i);
    next += std::chrono::milliseconds(100);
    auto now = Clock::now();
    if (now < next)
      std::this_thread::sleep_until(next);
    else
      late_ticks++;
  }
}

void run_load(const std::function<void(pqxx::connection&, long long)>& body) {
  try {
    pqxx::connection c(dsn(kDatabase));
    every_100ms([&](long long i) { body(c, i); });
  } catch (const std::exception& e) {
    load_errors++;
    std::cerr << "load client stopped: " << e.what() << std::endl;
  }
}

void setup() {
  create_journey_database(kDatabase);
  pqxx::connection c(dsn(kDatabase));
  pqxx::work tx(c);
  create_customers(tx, cfg.customers);
  define_basics(tx);
  tx.exec(
      R"(SELECT journey.import($${"name": "soak", "audience": "customers", "start": "hello",
  "exit": [{"type": "condition", "when": {"field": "score", "op": "gt", "value": 1000}}],
  "steps": [{"key": "hello", "type": "send_email", "template": "hello", "next": "wait"},
            {"key": "wait", "type": "wait_for_event", "event": "ping", "timeout": "2 minutes",
             "branches": {"event": "thanks", "timeout": "bye"}},
            {"key": "thanks", "type": "send_email", "template": "hello"},
            {"key": "bye", "type": "send_email", "template": "bye"}]}$$))");
  tx.exec("SELECT journey.publish('soak')");
  // The autovacuum settings of docs/operations.md for the hot tables.
  for (const char* rel : {"journey.enrollments", "journey.messages", "customers"})
    tx.exec(std::string("ALTER TABLE ") + rel +
            " SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000,"
            " autovacuum_analyze_scale_factor = 0.05, autovacuum_vacuum_cost_delay = 1)");
  tx.commit();
  if (env("PGJ_SOAK_NAPTIME") != "keep") {
    exec(c, "ALTER SYSTEM SET autovacuum_naptime = '" +
                (env("PGJ_SOAK_NAPTIME").empty() ? std::string("10s") : env("PGJ_SOAK_NAPTIME")) +
                "'");
    exec(c, "SELECT pg_reload_conf()");
  }
  exec(c, "VACUUM ANALYZE");
}

struct Sample {
  double t = 0;
  long long activity_ins = 0;
  long long max_id = 0;
  std::map<std::string, long long> dead, live, size, autovac;
};

double loadavg() {
  std::ifstream f("/proc/loadavg");
  double l = 0;
  f >> l;
  return l;
}

}  // namespace

int main() {
  std::cout << "== soak: steady load, workers, a snapshot held; CSV of backlog, dead tuples,"
               " throughput, latency"
            << std::endl;
  cfg.seconds = env_num("PGJ_SOAK_SECONDS", 60 * env_num("PGJ_SOAK_MINUTES", 30));
  cfg.hold_at = env_num("PGJ_SOAK_HOLD_AT_SECONDS", 60 * env_num("PGJ_SOAK_HOLD_AT", 10));
  cfg.hold_for = env_num("PGJ_SOAK_HOLD_SECONDS", 60 * env_num("PGJ_SOAK_HOLD", 10));
  cfg.sample = env_num("PGJ_SOAK_SAMPLE", 10);
  cfg.settle = env_num("PGJ_SOAK_SETTLE_SECONDS", 0);
  cfg.enroll_rate = static_cast<long long>(env_num("PGJ_SOAK_ENROLL_RATE", 200));
  cfg.event_rate = static_cast<long long>(env_num("PGJ_SOAK_EVENT_RATE", 100));
  cfg.update_rate = static_cast<long long>(env_num("PGJ_SOAK_UPDATE_RATE", 500));
  cfg.customers = static_cast<long long>(cfg.enroll_rate * (cfg.seconds + 60)) + 10000;
  std::string csv_path = env("PGJ_SOAK_CSV");
  std::ofstream csv_file;
  if (!csv_path.empty()) csv_file.open(csv_path);
  std::ostream& csv = csv_path.empty() ? std::cout : csv_file;
  elapsed();
  try {
    setup();
    log("set up " + std::to_string(cfg.customers) + " customers; load for " +
        std::to_string(static_cast<int>(cfg.seconds)) + " s, snapshot held from " +
        std::to_string(static_cast<int>(cfg.hold_at)) + " s for " +
        std::to_string(static_cast<int>(cfg.hold_for)) + " s");
  } catch (const std::exception& e) {
    check(false, std::string("setup: ") + e.what());
    std::cout << passed << " passed, " << failed << " failed" << std::endl;
    return 1;
  }

  std::vector<std::thread> load;
  const long long per_enroll = std::max<long long>(1, cfg.enroll_rate / 10);
  const long long per_event = std::max<long long>(1, cfg.event_rate / 10);
  const long long per_update = std::max<long long>(1, cfg.update_rate / 10);
  load.emplace_back([&] {
    run_load([&](pqxx::connection& c, long long) {
      long long lo = enrolled_upto + 1, hi = lo + per_enroll - 1;
      exec(c, "SELECT journey.enroll_query('soak', 'SELECT id FROM customers WHERE id BETWEEN " +
                  std::to_string(lo) + " AND " + std::to_string(hi) + "')");
      enrolled_upto = hi;
      sent_enrolls += per_enroll;
    });
  });
  load.emplace_back([&] {
    run_load([&](pqxx::connection& c, long long) {
      // Customers enrolled about 5 s ago: parked at the wait step by now.
      long long hi = enrolled_upto - 5 * cfg.enroll_rate;
      if (hi < per_event) return;
      // Half of them get the event (the others time out).
      long long lo = hi - per_event + 1;
      exec(c, "SELECT count(journey.track(i::text, 'ping')) FROM generate_series(" +
                  std::to_string(lo) + ", " + std::to_string(hi) + ") i WHERE i % 2 = 0");
      sent_events += per_event / 2;
    });
  });
  load.emplace_back([&] {
    std::mt19937_64 rng(42);
    run_load([&](pqxx::connection& c, long long) {
      std::uniform_int_distribution<long long> pick(1, std::max<long long>(1, enrolled_upto));
      std::string ids;
      for (long long k = 0; k < per_update; ++k) ids += (k ? "," : "") + std::to_string(pick(rng));
      for (;;) {
        try {
          exec(c, "UPDATE customers SET score = (score + 1) % 100 WHERE id IN (" + ids + ")");
          break;
        } catch (const pqxx::deadlock_detected&) {
        }
      }
      sent_updates += per_update;
    });
  });
  load.emplace_back([&] {
    run_load([&](pqxx::connection& c, long long) {
      // A sender: claims what is pending and reports it sent.
      long long n = scalar(c,
                           "WITH m AS (SELECT id FROM journey.claim_messages('email', 1000))"
                           " SELECT count(journey.complete_message(id, true)) FROM m");
      sent_messages += n;
    });
  });
  // The long-running reader.
  std::atomic<bool> held{false};
  std::thread reader([&] {
    try {
      pqxx::connection c(dsn(kDatabase));
      while (!stopping && elapsed() < cfg.hold_at) sleep_ms(100);
      if (stopping) return;
      pqxx::work tx(c, "reader");
      tx.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
      tx.exec("SELECT count(*) FROM journey.enrollments");  // takes the snapshot
      held = true;
      log("reader took its snapshot");
      while (!stopping && elapsed() < cfg.hold_at + cfg.hold_for) sleep_ms(100);
      tx.commit();
      held = false;
      log("reader released its snapshot");
    } catch (const std::exception& e) {
      std::cerr << "reader: " << e.what() << std::endl;
    }
  });

  // Sampling.
  pqxx::connection s(dsn(kDatabase));
  csv << "elapsed_s,load1,offered_enroll_per_s,offered_events_per_s,offered_updates_per_s,"
         "transitions_per_s,messages_sent_per_s,backlog,latency_p50_ms,latency_p99_ms,"
         "snapshot_held,dead_enrollments,dead_customers,dead_messages,live_enrollments,"
         "size_enrollments_mb,size_customers_mb,size_messages_mb,autovacuum_enrollments,"
         "autovacuum_customers,autovacuum_messages"
      << std::endl;
  auto take = [&](Sample& x) {
    x.t = elapsed();
    pqxx::result stats;
    {
      pqxx::nontransaction tx(s);
      stats = tx.exec(
          "SELECT relname, n_dead_tup, n_live_tup, pg_relation_size(relid), autovacuum_count,"
          " n_tup_ins FROM pg_stat_user_tables WHERE schemaname IN ('journey', 'public')");
    }
    for (auto row : stats) {
      std::string rel = row[0].as<std::string>();
      x.dead[rel] = row[1].as<long long>();
      x.live[rel] = row[2].as<long long>();
      x.size[rel] = row[3].as<long long>();
      x.autovac[rel] = row[4].as<long long>();
      if (rel == "activity") x.activity_ins = row[5].as<long long>();
    }
    x.max_id = scalar(s, "SELECT coalesce(max(id), 0) FROM journey.enrollments");
  };
  std::map<std::string, long long> peak_dead_held;
  std::vector<std::map<std::string, long long>> dead_series;
  bool was_held = false;
  Sample prev, before_prev;
  take(prev);
  before_prev = prev;
  long long prev_enrolls = 0, prev_events = 0, prev_updates = 0, prev_messages = 0;
  std::vector<double> backlog_series;

  double p99_max = 0;
  const bool judged = cfg.hold_for > 0 && cfg.hold_at + cfg.hold_for + 3 * cfg.sample < cfg.seconds;
  // Whether the dead tuples of a hot table came back down: the mean of the last
  // 3 samples at most half the peak while the snapshot was held.
  auto came_down = [&](const char* rel, long long* peak, double* after) {
    *peak = peak_dead_held[rel];
    *after = 0;
    if (dead_series.size() < 3) return false;
    for (size_t i = dead_series.size() - 3; i < dead_series.size(); ++i)
      *after += dead_series[i].at(rel) / 3.0;
    return *peak > 0 && *after * 2 <= *peak;
  };
  auto all_came_down = [&] {
    long long peak;
    double after;
    for (const char* rel : {"enrollments", "customers", "messages"})
      if (!came_down(rel, &peak, &after)) return false;
    return true;
  };
  // After the set time, a smoke run (PGJ_SOAK_SETTLE_SECONDS) keeps the load
  // and the samples going until autovacuum has caught up, or that long.
  while (elapsed() < cfg.seconds ||
         (judged && elapsed() < cfg.seconds + cfg.settle && !all_came_down())) {
    sleep_ms(static_cast<int>(std::max(0.0, prev.t + cfg.sample - elapsed()) * 1000));
    exec(s, "SELECT pg_stat_clear_snapshot()");
    Sample cur;
    take(cur);
    double dt = cur.t - prev.t;
    long long backlog = scalar(s,
                               "SELECT count(*) FROM journey.enrollments WHERE status = 'active'"
                               " AND next_run_at <= now()");
    // Latency of the enrollments of the window before last (they had a window to run).
    pqxx::result lat;
    {
      pqxx::nontransaction tx(s);
      lat = tx.exec(
          "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms),"
          " percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) FROM (SELECT extract(epoch from"
          " coalesce(a.at, clock_timestamp()) - e.entered_at) * 1000 AS ms"
          " FROM journey.enrollments e LEFT JOIN journey.activity a ON a.enrollment_id = e.id"
          " AND a.visit = 1 WHERE e.id > " +
          std::to_string(before_prev.max_id) + " AND e.id <= " + std::to_string(prev.max_id) +
          ") l");
    }
    double p50 = lat[0][0].is_null() ? 0 : lat[0][0].as<double>();
    double p99 = lat[0][1].is_null() ? 0 : lat[0][1].as<double>();
    char line[512];
    std::snprintf(
        line, sizeof line,
        "%.0f,%.2f,%.1f,%.1f,%.1f,%.1f,%.1f,%lld,%.1f,%.1f,%d,%lld,%lld,%lld,%lld,%.1f,%.1f,%.1f,"
        "%lld,%lld,%lld",
        cur.t, loadavg(), (sent_enrolls - prev_enrolls) / dt, (sent_events - prev_events) / dt,
        (sent_updates - prev_updates) / dt, (cur.activity_ins - prev.activity_ins) / dt,
        (sent_messages - prev_messages) / dt, backlog, p50, p99, held ? 1 : 0,
        cur.dead["enrollments"], cur.dead["customers"], cur.dead["messages"],
        cur.live["enrollments"], cur.size["enrollments"] / 1048576.0,
        cur.size["customers"] / 1048576.0, cur.size["messages"] / 1048576.0,
        cur.autovac["enrollments"], cur.autovac["customers"], cur.autovac["messages"]);
    csv << line << std::endl;
    if (!csv_path.empty()) std::cout << line << std::endl;
    prev_enrolls = sent_enrolls;
    prev_events = sent_events;
    prev_updates = sent_updates;
    prev_messages = sent_messages;
    backlog_series.push_back(static_cast<double>(backlog));
    p99_max = std::max(p99_max, p99);
    if (held || was_held)
      for (const char* rel : {"enrollments", "customers", "messages"})
        peak_dead_held[rel] = std::max(peak_dead_held[rel], cur.dead[rel]);
    was_held = held;
    dead_series.push_back(cur.dead);
    before_prev = prev;
    prev = cur;
  }
  stopping = true;
  for (auto& t : load) t.join();
  reader.join();

  // Summary and checks.
  log("offered: " + std::to_string(sent_enrolls) + " enrollments, " + std::to_string(sent_events) +
      " events, " + std::to_string(sent_updates) + " customer updates; " +
      std::to_string(sent_messages) + " messages sent; " + std::to_string(late_ticks) +
      " late load steps");
  check(load_errors == 0, "the load clients ran without errors");
  size_t n = backlog_series.size();
  double tail = 0;
  for (size_t i = n > 3 ? n - 3 : 0; i < n; ++i) tail = std::max(tail, backlog_series[i]);
  check(n > 0 && tail <= std::max(2.0 * cfg.enroll_rate, 1000.0),
        "the backlog stays bounded (largest of the last 3 samples: " +
            std::to_string(static_cast<long long>(tail)) + ")");
  if (judged) {
    for (const char* rel : {"enrollments", "customers", "messages"}) {
      long long peak;
      double after;
      bool ok = came_down(rel, &peak, &after);
      check(ok, std::string("dead tuples of ") + rel + " came back down after the snapshot: " +
                    std::to_string(peak) + " at the peak while held, " +
                    std::to_string(static_cast<long long>(after)) + " over the last 3 samples");
    }
  }
  log("ran " + std::to_string(static_cast<long long>(elapsed())) + " s");
  log("largest p99 enrollment latency of a window: " + std::to_string(p99_max) + " ms");
  try {  // the cluster's own naptime again; the database goes unless kept
    exec(s, "ALTER SYSTEM RESET autovacuum_naptime");
    exec(s, "SELECT pg_reload_conf()");
    if (env("PGJ_SOAK_KEEP") != "1") {
      pqxx::connection admin(dsn("postgres"));
      exec(admin, std::string("DROP DATABASE IF EXISTS ") + kDatabase + " WITH (FORCE)");
    }
  } catch (const std::exception&) {
  }
  std::cout << passed << " passed, " << failed << " failed" << std::endl;
  return failed == 0 ? 0 : 1;
}
