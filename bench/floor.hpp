// The raw-SQL floor of bench/engine.cpp and bench/latency.cpp: the row writes of
// the 5-step journey (pgj::testing::define_delay_journey) done by hand with
// set-based SQL, over the enrollments lo..hi of a journey of that shape.
#pragma once

#include <algorithm>
#include <atomic>
#include <iostream>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "pqxx_support.hpp"

namespace pgj::bench {

struct Floor {
  std::string database;
  long long lo = 0, hi = 0;  // enrollment ids
  int threshold = 50;        // of the condition step: score > threshold takes the yes branch
  int batch = 1000;          // enrollments a transaction
  // next_run_at of a parked enrollment: now() + park_for. Where background
  // workers run, far enough out that they leave the floor's enrollments alone.
  std::string park_for = "1 day";
};

// The engine's row writes as set-based SQL, per id range of f.batch, on two
// connections over halves of lo..hi, in the engine's two phases: first to the
// delay (activity of hello/high/mark, the first message, the customer update,
// the enrollment parked at the delay), then, once every range is parked, past it
// (activity of wait/bye, the second message, the enrollment completed). A journey
// with a delay must persist the parked state. Returns seconds.
inline double run_floor(const Floor& f) {
  using pgj::testing::dsn;
  const std::string threshold = std::to_string(f.threshold);
  std::atomic<int> errors{0};
  auto start = pgj::testing::Clock::now();
  long long mid = f.lo + (f.hi - f.lo + 1) / 2;
  for (int phase : {1, 2}) {
    std::vector<std::thread> threads;
    for (auto [from, to] : {std::pair<long long, long long>{f.lo, mid - 1}, {mid, f.hi}})
      threads.emplace_back([&, from = from, to = to, phase = phase] {
        try {
          pqxx::connection c(dsn(f.database));
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
                    " next_run_at = now() + interval '" +
                        f.park_for +
                        "', parked_at = now(),"
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
          for (long long a = from; a <= to; a += f.batch) {
            long long b = std::min(to, a + f.batch - 1);
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
  double s = pgj::testing::seconds_since(start);
  if (errors) throw std::runtime_error("floor loop failed");
  return s;
}

}  // namespace pgj::bench
