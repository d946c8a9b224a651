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
// set to completed; two connections over halves, 1000 enrollments a transaction.
//
// Usage: engine [enrollments]   (or PGJ_BENCH_ENROLLMENTS; default 200000)
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

namespace {

const char* kDatabase = "pgj_bench";
constexpr int kBatch = 1000;
constexpr int kThreshold = 50;

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

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void setup(long long n) {
  {
    pqxx::connection admin(dsn("postgres"));
    exec(admin, std::string("DROP DATABASE IF EXISTS ") + kDatabase + " WITH (FORCE)");
    exec(admin, std::string("CREATE DATABASE ") + kDatabase);
  }
  pqxx::connection c(dsn(kDatabase));
  pqxx::work tx(c);
  tx.exec("CREATE EXTENSION pg_journey");
  tx.exec(
      "CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, score int NOT NULL,"
      " vip boolean NOT NULL DEFAULT false)");
  tx.exec(
      "INSERT INTO customers (id, email, score) SELECT i, 'c' || i || '@example.com',"
      " (i * 37) % 100 FROM generate_series(1, " +
      std::to_string(n) + ") i");
  tx.exec("SELECT journey.register_audience('customers', 'id', email_column => 'email')");
  tx.exec("SELECT journey.create_template('hello', 'email', 'Hello', 'Hi {{email}}')");
  tx.exec("SELECT journey.create_template('bye', 'email', 'Later', 'Bye {{email}}')");
  for (const char* name : {"engine", "floor"}) {
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
    tx.exec("SELECT journey.add_step(" + j + ", 'wait', 'delay', '{\"duration\": \"1 day\"}')");
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

void settle(pqxx::connection& c) {
  exec(c, "VACUUM ANALYZE");
  exec(c, "CHECKPOINT");
}

// Two connections calling run_due until both clock phases return 0.
double run_engine(long long& calls) {
  const char* phases[] = {"now() + interval '2 days'", "now() + interval '4 days'"};
  std::atomic<long long> total_calls{0};
  std::atomic<int> errors{0};
  auto start = std::chrono::steady_clock::now();
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

// The floor: the engine's row writes as set-based SQL, per id range of 1000, in
// the engine's two phases: first to the delay (activity of hello/high/mark, the
// first message, the customer update, the enrollment parked at the delay), then,
// once every range is parked, past it (activity of wait/bye, the second message,
// the enrollment completed). A journey with a delay must persist the parked state.
double run_floor(long long lo, long long hi) {
  const std::string threshold = std::to_string(kThreshold);
  std::atomic<int> errors{0};
  auto start = std::chrono::steady_clock::now();
  long long mid = lo + (hi - lo + 1) / 2;
  for (int phase : {1, 2}) {
    std::vector<std::thread> threads;
    for (auto [from, to] : {std::pair<long long, long long>{lo, mid - 1}, {mid, hi}})
      threads.emplace_back([&, from = from, to = to, phase = phase] {
        try {
          pqxx::connection c(dsn(kDatabase));
          c.prepare(
              "activity",
              "INSERT INTO journey.activity (enrollment_id, journey_id, version, customer_id,"
              " step_key, step_type, branch, visit, at)"
              " SELECT e.id, e.journey_id, e.version, e.customer_id, s.key,"
              "        s.type::journey.step_type, CASE WHEN s.key = 'high' THEN"
              "        CASE WHEN c.score > " +
                  threshold +
                  " THEN 'yes' ELSE 'no' END"
                  "        ELSE 'next' END, s.visit - (c.score <= " +
                  threshold +
                  " AND s.visit > 3)::int, now()"
                  "   FROM journey.enrollments e JOIN customers c ON c.id = e.customer_id::bigint"
                  "  CROSS JOIN (VALUES ('hello', 'send_email', 1, 1), ('high', 'condition', 2, 1),"
                  "              ('mark', 'update_field', 3, 1), ('wait', 'delay', 4, 2),"
                  "              ('bye', 'send_email', 5, 2)) s(key, type, visit, phase)"
                  "  WHERE e.id BETWEEN $1 AND $2 AND s.phase = $3 AND (s.key <> 'mark' OR c.score "
                  "> " +
                  threshold + ")");
          c.prepare(
              "messages",
              "INSERT INTO journey.messages (enrollment_id, journey_id, version, step_key,"
              " visit, customer_id, channel, payload, created_at, send_after)"
              " SELECT e.id, e.journey_id, e.version, s.key,"
              "        CASE WHEN s.key = 'hello' THEN 1 WHEN c.score > " +
                  threshold +
                  " THEN 5 ELSE 4 END, e.customer_id, 'email',"
                  "        jsonb_build_object('to', c.email, 'subject', s.subject,"
                  "                           'body', s.greeting || ' ' || c.email, 'template', "
                  "s.key),"
                  "        now(), now()"
                  "   FROM journey.enrollments e JOIN customers c ON c.id = e.customer_id::bigint"
                  "  CROSS JOIN (VALUES ('hello', 'Hello', 'Hi', 1), ('bye', 'Later', 'Bye', 2))"
                  "        s(key, subject, greeting, phase)"
                  "  WHERE e.id BETWEEN $1 AND $2 AND s.phase = $3");
          c.prepare("customers",
                    "UPDATE customers c SET vip = true FROM journey.enrollments e"
                    " WHERE e.id BETWEEN $1 AND $2 AND c.id = e.customer_id::bigint"
                    "   AND c.score > " +
                        threshold);
          c.prepare("park",
                    "UPDATE journey.enrollments e SET step_key = 'wait',"
                    " next_run_at = now() + interval '1 day', parked_at = now(),"
                    " visits = CASE WHEN c.score > " +
                        threshold +
                        " THEN 3 ELSE 2 END"
                        "  FROM customers c WHERE e.id BETWEEN $1 AND $2"
                        "   AND c.id = e.customer_id::bigint");
          c.prepare("enrollments",
                    "UPDATE journey.enrollments e SET status = 'completed', step_key = 'bye',"
                    " next_run_at = NULL, parked_at = NULL, visits = CASE WHEN c.score > " +
                        threshold +
                        " THEN 5 ELSE 4 END, ended_at = now()"
                        "  FROM customers c WHERE e.id BETWEEN $1 AND $2"
                        "   AND c.id = e.customer_id::bigint");
          for (long long a = from; a <= to; a += kBatch) {
            long long b = std::min(to, a + kBatch - 1);
            pqxx::work tx(c);
            tx.exec_prepared("activity", a, b, phase);
            tx.exec_prepared("messages", a, b, phase);
            if (phase == 1) {
              tx.exec_prepared("customers", a, b);
              tx.exec_prepared("park", a, b);
            } else {
              tx.exec_prepared("enrollments", a, b);
            }
            tx.commit();
          }
        } catch (const std::exception& e) {
          std::cerr << "floor loop: " << e.what() << std::endl;
          ++errors;
        }
      });
    for (auto& t : threads) t.join();
  }
  double s = seconds_since(start);
  if (errors) throw std::runtime_error("floor loop failed");
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
    long long dead = scalar(c,
                            "SELECT n_dead_tup FROM pg_stat_user_tables"
                            " WHERE relid = 'journey.enrollments'::regclass");
    long long updates = scalar(c,
                               "SELECT n_tup_upd FROM pg_stat_user_tables"
                               " WHERE relid = 'journey.enrollments'::regclass");
    long long hot = scalar(c,
                           "SELECT n_tup_hot_upd FROM pg_stat_user_tables"
                           " WHERE relid = 'journey.enrollments'::regclass");
    long long autovacuums = scalar(c,
                                   "SELECT autovacuum_count FROM pg_stat_user_tables"
                                   " WHERE relid = 'journey.enrollments'::regclass");
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
    double floor_s = run_floor(lo, hi);
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
