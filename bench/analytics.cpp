// The analyst's reports at volume: journey.funnel over one journey (all time,
// and one week of it) and journey.customer_journeys for one customer, on a
// history of N activity rows (PGJ_BENCH_ACTIVITY, default 1,000,000) spread
// over N/10 enrollments of one 10-step journey (one visit row per step, the
// last step of each enrollment exited, failed or completed, 5% still active
// and parked there),
// written straight into the tables (what the engine would have written), the
// activity in one INSERT per PGJ_BENCH_CHUNK enrollments (default 100), as the
// engine writes it in many small statements: the roll-up then has a row per
// group of each statement. The reports run twice: on the roll-up as written,
// and after journey.compact_activity_hours() (what worker 0 runs every
// pg_journey.compact_interval) merged it.
// Prints the median of PGJ_BENCH_REPS runs (default 5) of each, next to the
// targets of issue 10 (funnel of a week under 200 ms, a customer's timeline
// under 10 ms, split_report under 500 ms); judged by a person, not by this
// program (it exits 0 unless a query fails).
//
// Usage: analytics   (needs PGHOST/PGPORT/PGUSER of a cluster with pg_journey
// installed; uses a database of its own, pgj_bench_analytics, dropped at the end).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "pqxx_support.hpp"

using namespace pgj::testing;

namespace {

const char* kDatabase = "pgj_bench_analytics";

// Runs a query; returns milliseconds and the number of rows.
double timed_ms(pqxx::connection& c, const std::string& sql, size_t* rows) {
  auto start = std::chrono::steady_clock::now();
  pqxx::nontransaction tx(c);
  pqxx::result r = tx.exec(sql);
  *rows = r.size();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main() {
  const long long rows = env_or("PGJ_BENCH_ACTIVITY", 1000000);
  const long long reps = std::max(1LL, env_or("PGJ_BENCH_REPS", 5));
  const long long steps = 10;
  const long long enrollments = std::max(1LL, rows / steps);
  const long long chunk = std::max(1LL, env_or("PGJ_BENCH_CHUNK", 100));
  try {
    {
      pqxx::connection admin(dsn("postgres"));
      recreate_database(admin, kDatabase);
    }
    pqxx::connection c(std::string("dbname=") + kDatabase);
    auto setup_start = std::chrono::steady_clock::now();
    exec(c, "CREATE EXTENSION pg_journey");
    exec(c, "CREATE TABLE people (id bigint PRIMARY KEY, email text)");
    exec(c, "INSERT INTO people SELECT g, 'p' || g || '@x.test' FROM generate_series(1, " +
                std::to_string(enrollments) + ") g");
    exec(c, "SELECT journey.register_audience('people', 'id', 'email')");
    // s1 -> s2 -> ... -> s10, delays between sends.
    std::string steps_json;
    for (long long i = 1; i <= steps; ++i) {
      if (i > 1) steps_json += ",";
      steps_json += "{\"key\": \"s" + std::to_string(i) + "\", \"type\": " +
                    (i % 2 ? std::string("\"send\", \"channel\": \"b\", \"payload\": {}")
                           : std::string("\"delay\", \"duration\": \"1 hour\"")) +
                    (i < steps ? ", \"next\": \"s" + std::to_string(i + 1) + "\"" : "") + "}";
    }
    exec(c,
         "SELECT journey.import('{\"name\": \"bench\", \"audience\": \"people\", \"start\": "
         "\"s1\", \"steps\": [" +
             steps_json + "]}')");
    exec(c, "SELECT journey.publish('bench')");
    // Enrollment g entered at T - g minutes over 30 days; visit k left at
    // entered + k hours. The last visit ended it (completed, exited, failed);
    // every 20th is still active at its last step (no row there).
    exec(c,
         "INSERT INTO journey.enrollments (id, journey_id, version, customer_id, status, step_key,"
         "  entered_at, ended_at, exit_reason, converted_at, visits, parked_at)"
         " SELECT g, j.id, 1, g::text,"
         "   (CASE WHEN g % 20 = 0 THEN 'active' WHEN g % 7 = 0 THEN 'exited'"
         "         WHEN g % 53 = 0 THEN 'failed' ELSE 'completed' END)::journey.enrollment_status,"
         "   's' || " +
             std::to_string(steps) +
             ", e.t, CASE WHEN g % 20 <> 0 THEN e.t + interval '10 hours' END,"
             "   CASE WHEN g % 7 = 0 AND g % 20 <> 0 THEN 'unsubscribed' END,"
             "   CASE WHEN g % 3 = 0 THEN e.t + interval '5 hours' END, 10,"
             // An active one is parked at its last step (a delay) since it got there.
             "   CASE WHEN g % 20 = 0 THEN e.t + interval '9 hours' END"
             "   FROM journey.journeys j, generate_series(1, " +
             std::to_string(enrollments) +
             ") g,"
             "   LATERAL (SELECT now() - (g % 43200) * interval '1 minute' AS t) e"
             "  WHERE j.name = 'bench'");
    for (long long lo = 1; lo <= enrollments; lo += chunk)
      exec(
          c,
          "INSERT INTO journey.activity (enrollment_id, journey_id, version, customer_id, step_key,"
          "  step_type, branch, visit, at, outcome, reason, converted, arrived_at)"
          " SELECT e.id, e.journey_id, 1, e.customer_id, 's' || k,"
          "   CASE WHEN k % 2 = 1 THEN 'send' ELSE 'delay' END::journey.step_type,"
          "   CASE WHEN k < " +
              std::to_string(steps) +
              " THEN 'next' END, k,"
              "   e.entered_at + k * interval '1 hour',"
              "   CASE WHEN k < " +
              std::to_string(steps) +
              " THEN 'moved' ELSE e.status::text END,"
              "   CASE WHEN k = " +
              std::to_string(steps) +
              " THEN e.exit_reason END,"
              "   k = 5 AND e.converted_at IS NOT NULL,"
              "   e.entered_at + (k - 1) * interval '1 hour'"
              "   FROM journey.enrollments e, generate_series(1, " +
              std::to_string(steps) +
              ") k"
              "  WHERE e.id BETWEEN " +
              std::to_string(lo) + " AND " + std::to_string(lo + chunk - 1) + " AND (k < " +
              std::to_string(steps) + " OR e.status <> 'active')");
    exec(c, "SELECT setval('journey.enrollments_id_seq', " + std::to_string(enrollments) + ")");
    exec(c, "VACUUM ANALYZE journey.activity, journey.enrollments, journey.activity_hours");
    long long written = 0;
    {
      pqxx::nontransaction tx(c);
      written = tx.exec("SELECT count(*) FROM journey.activity")[0][0].as<long long>();
    }
    double setup_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - setup_start).count();
    auto roll_up_rows = [&] {
      pqxx::nontransaction tx(c);
      return tx.exec("SELECT count(*) FROM journey.activity_hours")[0][0].as<long long>();
    };
    std::printf(
        "history: %lld activity rows, %lld enrollments, written %lld enrollments a "
        "statement (set up in %.1f s)\n",
        written, enrollments, chunk, setup_s);

    struct Case {
      const char* name;
      std::string sql;
      double target_ms;
    };
    std::vector<Case> cases = {
        {"funnel, all time", "SELECT * FROM journey.funnel('bench')", 0},
        {"funnel, one week",
         "SELECT * FROM journey.funnel('bench', now() - interval '7 days', now())", 200},
        {"funnel, one week (until null)",
         "SELECT * FROM journey.funnel('bench', now() - interval '7 days')", 200},
        {"customer_journeys, one customer",
         "SELECT * FROM journey.customer_journeys('" + std::to_string(enrollments / 2) + "')", 10},
        {"split_report (no split)", "SELECT * FROM journey.split_report('bench')", 500},
        {"split_report, one week",
         "SELECT * FROM journey.split_report('bench', now() - interval '7 days', now())", 0},
        {"list", "SELECT * FROM journey.list()", 200},
    };
    auto run_cases = [&](const char* when) {
      std::printf("-- %s: %lld activity_hours rows\n", when, roll_up_rows());
      for (const Case& k : cases) {
        std::vector<double> ms;
        size_t n = 0;
        for (long long r = 0; r < reps; ++r) ms.push_back(timed_ms(c, k.sql, &n));
        if (k.target_ms > 0)
          std::printf("%-34s %9.1f ms median of %lld (%zu rows; target < %.0f ms)\n", k.name,
                      median(ms), reps, n, k.target_ms);
        else
          std::printf("%-34s %9.1f ms median of %lld (%zu rows)\n", k.name, median(ms), reps, n);
      }
    };
    run_cases("roll-up as written");
    size_t ignored = 0;
    double compact_ms = timed_ms(c, "SELECT journey.compact_activity_hours()", &ignored);
    exec(c, "VACUUM ANALYZE journey.activity_hours");
    std::printf("compact_activity_hours: %.1f ms\n", compact_ms);
    run_cases("after compact_activity_hours()");
  } catch (const std::exception& e) {
    std::cerr << "analytics benchmark failed: " << e.what() << "\n";
    return 1;
  }
  if (env_or("PGJ_BENCH_KEEP", 0)) return 0;  // keep the database to look into
  pqxx::connection admin("dbname=postgres");
  exec(admin, std::string("DROP DATABASE IF EXISTS ") + kDatabase + " WITH (FORCE)");
  return 0;
}
