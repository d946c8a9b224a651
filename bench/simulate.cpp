// journey.simulate at volume: a journey's draft over PGJ_BENCH_CUSTOMERS
// customers (default 10,000) for 30 days of virtual time (sends, a 1-day
// delay, a condition, a split, a wait for an event that times out after 2
// days, a 7-day delay, a goal), next to the same number of real enrollments in
// flight on the live version (which the simulation neither advances nor
// counts). Prints the median of PGJ_BENCH_REPS runs (default 3) and checks
// that the run left nothing behind (row counts and sequences); judged by a
// person, not by this program (it exits 0 unless a query fails or something
// was left behind). Then customers due at PGJ_BENCH_DUE_CUSTOMERS (2,000) and 4x
// as many distinct times, and the ratio of their times.
//
// Usage: simulate   (needs PGHOST/PGPORT/PGUSER of a cluster with pg_journey
// installed; uses a database of its own, pgj_bench_simulate, dropped at the end).
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

const char* kDatabase = "pgj_bench_simulate";

std::string one(pqxx::connection& c, const std::string& sql) {
  pqxx::nontransaction tx(c);
  return tx.exec(sql)[0][0].c_str();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Row counts of the journey tables and the sequences' values, as one text.
const char* kState =
    "SELECT (SELECT count(*) FROM journey.enrollments) || ' ' ||"
    "       (SELECT count(*) FROM journey.activity) || ' ' ||"
    "       (SELECT count(*) FROM journey.messages) || ' ' ||"
    "       (SELECT count(*) FROM journey.versions) || ' ' ||"
    "       (SELECT string_agg(coalesce(last_value::text, '-'), ',' ORDER BY sequencename)"
    "          FROM pg_sequences WHERE schemaname = 'journey')";

}  // namespace

int main() {
  const long long customers = std::max(1LL, env_or("PGJ_BENCH_CUSTOMERS", 10000));
  const long long reps = std::max(1LL, env_or("PGJ_BENCH_REPS", 3));
  try {
    {
      pqxx::connection admin(dsn("postgres"));
      recreate_database(admin, kDatabase);
    }
    pqxx::connection c(std::string("dbname=") + kDatabase);
    exec(c, "CREATE EXTENSION pg_journey");
    exec(c, "CREATE TABLE people (id bigint PRIMARY KEY, email text, plan text)");
    exec(c,
         "INSERT INTO people SELECT g, 'p' || g || '@x.test',"
         " CASE WHEN g % 3 = 0 THEN 'pro' ELSE 'free' END FROM generate_series(1, " +
             std::to_string(2 * customers) + ") g");
    exec(c, "SELECT journey.register_audience('people', 'id', 'email')");
    exec(c, R"(SELECT journey.import($${"name": "bench", "audience": "people", "start": "hello",
      "steps": [{"key": "hello", "type": "send", "channel": "b", "payload": {"n": 1}, "next": "pause"},
        {"key": "pause", "type": "delay", "duration": "1 day", "next": "is_pro"},
        {"key": "is_pro", "type": "condition", "if": {"field": "plan", "op": "eq", "value": "pro"},
         "branches": {"yes": "ab", "no": "listen"}},
        {"key": "ab", "type": "split", "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}],
         "branches": {"a": "listen", "b": "offer"}},
        {"key": "offer", "type": "send", "channel": "b", "payload": {"n": 2}, "next": "listen"},
        {"key": "listen", "type": "wait_for_event", "event": "clicked", "timeout": "2 days",
         "branches": {"event": "won", "timeout": "later"}},
        {"key": "later", "type": "delay", "duration": "7 days", "next": "again"},
        {"key": "again", "type": "send", "channel": "b", "payload": {"n": 3}},
        {"key": "won", "type": "goal"}]}$$))");
    exec(c, "SELECT journey.publish('bench')");
    // Real enrollments in flight on the live version (the second half).
    exec(c, "SELECT journey.enroll_query('bench', 'SELECT id FROM people WHERE id > " +
                std::to_string(customers) + "')");
    // A draft to simulate (the first half).
    exec(
        c,
        R"(SELECT count(*) FROM journey.set_step_config('bench', 'pause', '{"duration": "2 days"}'))");
    exec(c, "VACUUM ANALYZE");
    std::string before = one(c, kState);
    std::vector<double> ms;
    std::string entered;
    for (long long r = 0; r < reps; ++r) {
      auto start = std::chrono::steady_clock::now();
      entered = one(c,
                    "SELECT string_agg(step_key || '=' || entered, ' ' ORDER BY step_key)"
                    "  FROM journey.simulate('bench', 'SELECT id FROM people WHERE id <= " +
                        std::to_string(customers) + "', '30 days')");
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
    }
    std::string after = one(c, kState);
    std::printf("simulate, %lld customers, 30 days %9.1f ms median of %lld\n", customers,
                median(ms), reps);
    std::printf("  predicted entered: %s\n", entered.c_str());
    std::printf("  left behind: %s (state %s)\n", before == after ? "nothing" : "SOMETHING",
                after.c_str());
    if (before != after) {
      std::cerr << "simulate left something behind: before " << before << ", after " << after
                << "\n";
      return 1;
    }
    // Customers who fall due at distinct times (a minute apart, a delay until
    // a column): n and 4n of them, one tick per due time. The time should grow
    // about 4x, not 16x (issue 10's probe: 2,000 took 7.7 s, 8,000 100 s).
    const long long due_small = std::max(1LL, env_or("PGJ_BENCH_DUE_CUSTOMERS", 2000));
    exec(c, "ALTER TABLE people ADD COLUMN due_at timestamptz");
    exec(c, "UPDATE people SET due_at = now() + id * interval '1 minute'");
    exec(c, R"(SELECT journey.import($${"name": "bench-due", "audience": "people", "start": "w",
      "steps": [{"key": "w", "type": "delay", "until_field": "due_at", "next": "s"},
        {"key": "s", "type": "send", "channel": "b", "payload": {}, "next": "e"},
        {"key": "e", "type": "exit"}]}$$))");
    exec(c, "VACUUM ANALYZE");
    before = one(c, kState);
    double due_ms[2] = {0, 0};
    for (int i = 0; i < 2; ++i) {
      long long n = due_small * (i == 0 ? 1 : 4);
      auto start = std::chrono::steady_clock::now();
      std::string sent = one(c,
                             "SELECT entered FROM journey.simulate('bench-due', 'SELECT id FROM "
                             "people WHERE id <= " +
                                 std::to_string(n) + "', '30 days') WHERE step_key = 's'");
      due_ms[i] =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      std::printf("simulate, %lld customers due a minute apart %9.1f ms (sent %s)\n", n, due_ms[i],
                  sent.c_str());
    }
    std::printf("  4x the distinct due times: %.1fx the time\n", due_ms[1] / due_ms[0]);
    after = one(c, kState);
    if (before != after) {
      std::cerr << "simulate left something behind: before " << before << ", after " << after
                << "\n";
      return 1;
    }
  } catch (const std::exception& e) {
    std::cerr << "simulate benchmark failed: " << e.what() << "\n";
    return 1;
  }
  if (env_or("PGJ_BENCH_KEEP", 0)) return 0;
  pqxx::connection admin("dbname=postgres");
  exec(admin, std::string("DROP DATABASE IF EXISTS ") + kDatabase + " WITH (FORCE)");
  return 0;
}
