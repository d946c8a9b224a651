// Cost of the customer-table triggers (journey.register_audience) on bulk
// statements, against the same statements on an identical table without them,
// alternating the tables in one run (medians of several repetitions).
//
// Overhead: N customer rows; 10 published journeys with attribute entry
// triggers whose conditions read `score` (5 also read `plan`) and never match.
//  - UPDATE ... SET score: every condition is evaluated for every row
//    ("trigger overhead ratio" = triggered / plain; target <= 1.2);
//  - UPDATE ... SET note: no condition reads `note`, evaluation is skipped;
//  - the same UPDATE on a registered table with no journeys (the fixed cost of
//    the transition tables and the trigger call).
// Enrollment: one journey entering on plan = 'pro'; UPDATE ... SET plan = 'pro'
// of all N rows enrolls every row (journey.enrollments already holding N
// analyzed rows of another journey; the cold case, an empty analyzed
// journey.enrollments, separately). Reported per enrolled row, next to a plain
// INSERT ... SELECT of the same N enrollment rows into a copy of
// journey.enrollments (same columns, defaults and indexes; no foreign keys).
//
// Usage: triggers   (PGJ_BENCH_ROWS: rows, default 200000; PGJ_BENCH_REPS:
// repetitions, default 5; PGJ_BENCH_WORK_MEM: work_mem of the session,
// default 1GB). Needs PGHOST/PGPORT/PGUSER of a cluster with pg_journey
// installed; uses a database of its own (pgj_bench_triggers), dropped at the end.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "pqxx_support.hpp"

using namespace pgj::testing;

namespace {

const char* kDatabase = "pgj_bench_triggers";

// Runs sql in a transaction of its own; returns the seconds to commit.
double timed(pqxx::connection& c, const std::string& sql) {
  auto start = std::chrono::steady_clock::now();
  pqxx::work tx(c);
  tx.exec(sql);
  tx.commit();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string table_ddl(const std::string& name) {
  return "CREATE TABLE " + name +
         " (id bigint PRIMARY KEY, email text NOT NULL, plan text NOT NULL DEFAULT 'free',"
         " seats int NOT NULL DEFAULT 1, score int NOT NULL, note text,"
         " created_at timestamptz NOT NULL DEFAULT now())";
}

void setup(long long n) {
  {
    pqxx::connection admin(dsn("postgres"));
    recreate_database(admin, kDatabase);
  }
  pqxx::connection c(std::string("dbname=") + kDatabase);
  pqxx::work tx(c);
  tx.exec("CREATE EXTENSION pg_journey");
  // plain: no triggers; journeys: 10 non-matching journeys; bare: registered,
  // no journeys; enroll: one journey entering on plan = 'pro'.
  for (const char* t : {"plain", "journeys", "bare", "enroll"}) {
    tx.exec(table_ddl(t));
    tx.exec(std::string("INSERT INTO ") + t +
            " (id, email, score) SELECT i, 'c' || i || '@example.com', (i * 37) % 100"
            " FROM generate_series(1, " +
            std::to_string(n) + ") i");
  }
  for (const char* t : {"journeys", "bare", "enroll"})
    tx.exec(std::string("SELECT journey.register_audience('") + t + "', 'id', 'email')");
  for (int i = 0; i < 10; ++i) {
    std::string when =
        i % 2 == 0
            ? R"({"field": "score", "op": "gte", "value": )" + std::to_string(1000 + i) + "}"
            : R"({"all": [{"field": "score", "op": "gt", "value": )" + std::to_string(500 + i) +
                  R"(}, {"field": "plan", "op": "eq", "value": "enterprise"}]})";
    std::string name = "nomatch" + std::to_string(i);
    tx.exec(
        R"(SELECT journey.import('{"name": ")" + name +
        R"(", "audience": "journeys", "start": "done", "entry": [{"type": "attribute", "when": )" +
        when + R"(}], "steps": [{"key": "done", "type": "goal"}]}'))");
    tx.exec("SELECT journey.publish('" + name + "')");
  }
  tx.exec(
      R"(SELECT journey.import('{"name": "match", "audience": "enroll", "start": "done",)"
      R"( "entry": [{"type": "attribute", "when": {"field": "plan", "op": "eq", "value": "pro"}}],)"
      R"( "steps": [{"key": "done", "type": "goal"}]}'))");
  tx.exec("SELECT journey.publish('match')");
  tx.exec(R"(SELECT journey.import('{"name": "history", "audience": "enroll", "start": "done",)"
          R"( "entry": [{"type": "manual"}], "steps": [{"key": "done", "type": "goal"}]}'))");
  tx.exec("SELECT journey.publish('history')");
  tx.exec("CREATE TABLE enrollments_copy (LIKE journey.enrollments INCLUDING ALL)");
  tx.commit();
  exec(c, "VACUUM ANALYZE");
}

void vacuum(pqxx::connection& c, const std::vector<std::string>& tables) {
  for (const auto& t : tables) exec(c, "VACUUM " + t);
}

}  // namespace

int main() {
  long long n = 200000;
  int reps = 5;
  if (const char* e = std::getenv("PGJ_BENCH_ROWS")) n = std::atoll(e);
  if (const char* e = std::getenv("PGJ_BENCH_REPS")) reps = std::max(1, std::atoi(e));
  try {
    setup(n);
    pqxx::connection c(std::string("dbname=") + kDatabase);
    // Large enough that the transition tables stay in memory: with 0.1 of
    // pg_journey a transition table spilled to disk (over work_mem) crashes the
    // backend in the trigger's read loop (see docs/benchmarks.md, "Triggers").
    exec(c, "SET work_mem = '" +
                std::string(std::getenv("PGJ_BENCH_WORK_MEM") ? std::getenv("PGJ_BENCH_WORK_MEM")
                                                              : "1GB") +
                "'");
    std::printf("rows: %lld, repetitions: %d (medians), work_mem %s\n", n, reps,
                pqxx::nontransaction(c).exec("SHOW work_mem")[0][0].c_str());

    // 1. Overhead of non-matching journeys. Each repetition times every
    // variant once, in an order that alternates; tables vacuumed before each.
    const std::string score = " SET score = (score + 1) % 100";
    const std::string note = " SET note = 'n' || id";
    struct Variant {
      const char* label;
      std::string sql;
      std::vector<double> seconds;
    };
    std::vector<Variant> variants = {
        {"plain    SET score", "UPDATE plain" + score, {}},
        {"journeys SET score", "UPDATE journeys" + score, {}},
        {"bare     SET score", "UPDATE bare" + score, {}},
        {"plain    SET note", "UPDATE plain" + note, {}},
        {"journeys SET note", "UPDATE journeys" + note, {}},
    };
    for (int r = 0; r < reps; ++r) {
      for (size_t k = 0; k < variants.size(); ++k) {
        Variant& v = variants[r % 2 == 0 ? k : variants.size() - 1 - k];
        vacuum(c, {"plain", "journeys", "bare"});
        v.seconds.push_back(timed(c, v.sql));
      }
    }
    for (const Variant& v : variants) {
      std::printf("  UPDATE %s: median %.3f s (", v.label, median(v.seconds));
      for (size_t i = 0; i < v.seconds.size(); ++i)
        std::printf("%s%.3f", i ? " " : "", v.seconds[i]);
      std::printf(")\n");
    }
    double plain_score = median(variants[0].seconds), journeys_score = median(variants[1].seconds);
    double bare_score = median(variants[2].seconds);
    double plain_note = median(variants[3].seconds), journeys_note = median(variants[4].seconds);
    std::printf(
        "trigger overhead ratio: %.2f (UPDATE of a column the 10 conditions read; target <= 1.2)\n",
        journeys_score / plain_score);
    std::printf(
        "trigger overhead ratio, evaluation skipped: %.2f (UPDATE of a column no condition "
        "reads)\n",
        journeys_note / plain_note);
    std::printf("trigger overhead ratio, registered without journeys: %.2f\n",
                bare_score / plain_score);
    long long enrolled_by_overhead = scalar(c, "SELECT count(*) FROM journey.enrollments");
    if (enrolled_by_overhead != 0) {
      std::printf("error: non-matching journeys enrolled %lld rows\n", enrolled_by_overhead);
      return 1;
    }

    // 2. Every row enrolls.
    // 2a. Cold: journey.enrollments empty and analyzed as such (a new
    // install). The planner then puts a nested-loop anti join with a seq scan
    // of journey.enrollments under _enroll_rows' INSERT (its NOT EXISTS), which
    // rescans the rows being inserted for each input row: quadratic. Capped
    // at 20,000 rows.
    for (long long k : {std::min(n, 10000LL), std::min(n, 20000LL)}) {
      exec(c, "UPDATE enroll SET plan = 'free'");
      exec(c, "DELETE FROM journey.enrollments");
      exec(c, "VACUUM ANALYZE enroll");
      exec(c, "VACUUM ANALYZE journey.enrollments");
      double s = timed(c, "UPDATE enroll SET plan = 'pro' WHERE id <= " + std::to_string(k));
      std::printf(
          "enroll, cold (journey.enrollments empty when analyzed): %lld rows in %.3f s,"
          " %.2f us per enrolled row\n",
          k, s, s / k * 1e6);
    }
    // 2b. Warm: journey.enrollments holds N ended enrollments of another
    // journey and is analyzed. Reset between repetitions: plan back to 'free'
    // (no edge), the journey's enrollments deleted, tables vacuumed.
    exec(c, "DELETE FROM journey.enrollments");
    exec(c,
         "INSERT INTO journey.enrollments (journey_id, version, customer_id, status, step_key,"
         " ended_at) SELECT j.id, 1, t.id::text, 'completed', 'done', now()"
         " FROM enroll t, journey.journeys j WHERE j.name = 'history'");
    exec(c, "VACUUM ANALYZE journey.enrollments");
    std::vector<double> enroll_s, plain_update_s, insert_s;
    const std::string insert_sql =
        "INSERT INTO enrollments_copy (journey_id, version, customer_id, entity_key, step_key,"
        " next_run_at, context, last_event, holdout, entered_at)"
        " SELECT 1, 1, t.id::text, NULL, 'done', now(), '{}', NULL, false, now() FROM plain t";
    for (int r = 0; r < reps; ++r) {
      exec(c, "UPDATE enroll SET plan = 'free'");
      exec(c, "UPDATE plain SET plan = 'free'");
      exec(c,
           "DELETE FROM journey.enrollments e USING journey.journeys j"
           " WHERE j.id = e.journey_id AND j.name = 'match'");
      exec(c, "TRUNCATE enrollments_copy");
      vacuum(c, {"enroll", "plain", "journey.enrollments"});
      if (r % 2 == 0) {
        enroll_s.push_back(timed(c, "UPDATE enroll SET plan = 'pro'"));
        plain_update_s.push_back(timed(c, "UPDATE plain SET plan = 'pro'"));
        insert_s.push_back(timed(c, insert_sql));
      } else {
        insert_s.push_back(timed(c, insert_sql));
        plain_update_s.push_back(timed(c, "UPDATE plain SET plan = 'pro'"));
        enroll_s.push_back(timed(c, "UPDATE enroll SET plan = 'pro'"));
      }
      long long enrolled =
          scalar(c, "SELECT count(*) FROM journey.enrollments WHERE status = 'active'");
      if (enrolled != n) {
        std::printf("error: %lld of %lld rows enrolled\n", enrolled, n);
        return 1;
      }
    }
    double e = median(enroll_s), p = median(plain_update_s), ins = median(insert_s);
    std::printf(
        "enroll every row (warm): UPDATE SET plan = 'pro' with the matching journey %.3f s,"
        " plain UPDATE %.3f s\n",
        e, p);
    std::printf(
        "cost per enrolled row: %.2f us (trigger part: %.2f us); plain INSERT ... SELECT"
        " into a copy of journey.enrollments: %.2f us per row (%.3f s); trigger part /"
        " plain insert: %.2f\n",
        e / n * 1e6, (e - p) / n * 1e6, ins / n * 1e6, ins, (e - p) / ins);
  } catch (const std::exception& ex) {
    std::cerr << "triggers bench: " << ex.what() << "\n";
    return 1;
  }
  try {
    pqxx::connection admin("dbname=postgres");
    exec(admin, std::string("DROP DATABASE IF EXISTS ") + kDatabase + " WITH (FORCE)");
  } catch (const std::exception&) {
  }
  return 0;
}
