// Claim throughput against the raw-SQL floor, side by side in one run.
//
// Claim: M pending e-mail messages (default 10,000) of two published
// journeys, one plain and one transactional, to M/2 customers (one message of
// each journey per customer), some of them suppressed since the messages were
// made: every 10th customer unsubscribed from e-mail (stops the plain
// journey's message only), every 25th hard-bounced (every channel: stops both),
// every 7th has an SMS suppression (stops neither). One connection calls
// journey.claim_messages('email', 100) in autocommit until it returns no row;
// the suppressed messages are recorded as suppressed on the way, the others
// claimed.
//
// Floor: the same messages back to pending, then the same reads and writes by
// hand in set-based SQL (a PL/pgSQL loop of one statement to pick 100 with the
// stopping suppression as a subquery, one to record the suppressed, one to
// claim the rest), the suppression rule written inline. Ratio = floor s / claim s.
//
// Both runs are checked: every message handed out or suppressed, the exact
// counts and reasons. The messages are written directly (no journey runs):
// the suppressions are added first (journey.add_suppression), so the claim,
// not the tick, is what stops them.
//
// Usage: claim [messages]   (or PGJ_BENCH_MESSAGES; default 10000)
// Needs PGHOST/PGPORT/PGUSER of a cluster with pg_journey installed; uses a
// database of its own (pgj_bench_claim), dropped at the end. It uses only the
// SQL API of release 0.1 and later, so tools/bench-compare.sh runs it against
// either side's build.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <pqxx/pqxx>
#include <string>

#include "pqxx_support.hpp"

using namespace pgj::testing;

namespace {

const char* kDatabase = "pgj_bench_claim";
constexpr int kBatch = 100;

// The claim written by hand: one batch of up to p_max messages; returns how
// many it handed out or suppressed.
const char* kFloorFunction = R"SQL(
CREATE FUNCTION floor_claim(p_channel text, p_max int, p_transactional bigint) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  ids bigint[];
  whys text[];
BEGIN
  SELECT array_agg(c.id), array_agg(c.why) INTO ids, whys
    FROM (SELECT p.id,
                 (SELECT s.reason FROM journey.suppressions s
                   WHERE s.customer_id = p.customer_id AND s.audience = j.audience
                     AND (s.channel IS NULL OR s.channel = p.channel)
                     AND NOT (p.journey_id = p_transactional AND s.reason = 'unsubscribed')
                   ORDER BY s.channel NULLS FIRST, s.at, s.id LIMIT 1) AS why
            FROM journey.messages p JOIN journey.journeys j ON j.id = p.journey_id
           WHERE p.status = 'pending' AND p.channel = p_channel AND p.send_after <= now()
             AND j.state = 'published'
           ORDER BY p.send_after, p.id
           LIMIT p_max
           FOR UPDATE OF p SKIP LOCKED) c;
  IF ids IS NULL THEN
    RETURN 0;
  END IF;
  UPDATE journey.messages m
     SET status = 'suppressed', reason = 'suppression: ' || s.why, completed_at = now()
    FROM unnest(ids, whys) s(id, why)
   WHERE m.id = s.id AND s.why IS NOT NULL;
  UPDATE journey.messages m
     SET status = 'claimed', claimed_at = now(), attempts = m.attempts + 1
    FROM unnest(ids, whys) s(id, why)
   WHERE m.id = s.id AND s.why IS NULL;
  RETURN cardinality(ids);
END
$$)SQL";

struct Expected {
  long long claimed = 0, bounced = 0, unsubscribed = 0;
};

Expected expected_of(long long customers) {
  Expected e;
  for (long long id = 1; id <= customers; ++id) {
    const bool bounced = id % 25 == 0, unsubscribed = id % 10 == 0;
    // plain journey: the every-channel bounce first, else the unsubscribe
    if (bounced)
      ++e.bounced;
    else if (unsubscribed)
      ++e.unsubscribed;
    else
      ++e.claimed;
    // transactional journey: ignores the unsubscribe
    if (bounced)
      ++e.bounced;
    else
      ++e.claimed;
  }
  return e;
}

void setup(long long customers) {
  {
    pqxx::connection admin(dsn("postgres"));
    recreate_database(admin, kDatabase);
  }
  pqxx::connection c(dsn(kDatabase));
  pqxx::work tx(c);
  tx.exec("CREATE EXTENSION pg_journey");
  create_customers(tx, customers);
  define_basics(tx);
  tx.exec(
      "SELECT journey.import('{\"name\": \"plain\", \"audience\": \"customers\","
      " \"start\": \"hello\", \"steps\": [{\"key\": \"hello\", \"type\": \"send_email\","
      " \"template\": \"hello\"}]}')");
  tx.exec(
      "SELECT journey.import('{\"name\": \"transactional\", \"audience\": \"customers\","
      " \"settings\": {\"transactional\": true},"
      " \"start\": \"hello\", \"steps\": [{\"key\": \"hello\", \"type\": \"send_email\","
      " \"template\": \"hello\"}]}')");
  tx.exec("SELECT journey.publish('plain'), journey.publish('transactional')");
  tx.exec(
      "SELECT count(journey.add_suppression(id::text, 'email', 'unsubscribed')) FROM customers"
      " WHERE id % 10 = 0");
  tx.exec(
      "SELECT count(journey.add_suppression(id::text, NULL, 'bounced')) FROM customers"
      " WHERE id % 25 = 0");
  tx.exec(
      "SELECT count(journey.add_suppression(id::text, 'sms', 'manual')) FROM customers"
      " WHERE id % 7 = 0");
  // One message of each journey per customer, in claim order customer by customer.
  tx.exec(
      "INSERT INTO journey.messages (enrollment_id, journey_id, version, step_key, visit,"
      "                              customer_id, channel, payload, recipient, send_after)"
      " SELECT row_number() OVER (), j.id, 1, 'hello', 1, c.id::text, 'email',"
      "        '{\"subject\": \"Hello\"}', c.email, now() - interval '1 hour'"
      "   FROM customers c CROSS JOIN journey.journeys j ORDER BY c.id, j.id");
  tx.exec(kFloorFunction);
  tx.commit();
}

// Seconds to drain every pending message by `call` (returns the rows a call handled).
double drain(pqxx::connection& c, const std::string& call, long long& calls) {
  calls = 0;
  auto start = Clock::now();
  for (;;) {
    pqxx::result r = pqxx::nontransaction(c).exec(call);
    ++calls;
    if (r[0][0].as<long long>() == 0) break;
  }
  return seconds_since(start);
}

// Whether the outbox holds exactly what the expected outcome says.
bool outcome_ok(pqxx::connection& c, const Expected& e, long long messages) {
  return scalar(c, "SELECT count(*) FROM journey.messages WHERE status = 'claimed'") == e.claimed &&
         scalar(c,
                "SELECT count(*) FROM journey.messages WHERE status = 'suppressed'"
                " AND reason = 'suppression: bounced'") == e.bounced &&
         scalar(c,
                "SELECT count(*) FROM journey.messages WHERE status = 'suppressed'"
                " AND reason = 'suppression: unsubscribed'") == e.unsubscribed &&
         scalar(c, "SELECT count(*) FROM journey.messages") == messages;
}

}  // namespace

int main(int argc, char** argv) {
  long long messages = env_or("PGJ_BENCH_MESSAGES", 10000);
  if (argc > 1) messages = std::atoll(argv[1]);
  if (messages < 2) {
    std::cerr << "usage: claim [messages]" << std::endl;
    return 2;
  }
  const long long customers = messages / 2;
  messages = 2 * customers;
  try {
    setup(customers);
    const Expected e = expected_of(customers);
    pqxx::connection c(dsn(kDatabase));
    std::printf(
        "== bench claim: %lld pending messages of 2 journeys (one transactional) to %lld "
        "customers, claim_messages('email', %d) until empty, 1 session\n",
        messages, customers, kBatch);
    settle(c);
    long long calls = 0;
    double claim_s = drain(
        c, "SELECT count(*) FROM journey.claim_messages('email', " + std::to_string(kBatch) + ")",
        calls);
    bool claim_ok = outcome_ok(c, e, messages);

    exec(c,
         "UPDATE journey.messages SET status = 'pending', reason = NULL, claimed_at = NULL,"
         " completed_at = NULL, attempts = 0");
    settle(c);
    long long floor_calls = 0;
    const std::string transactional =
        std::to_string(scalar(c, "SELECT id FROM journey.journeys WHERE name = 'transactional'"));
    double floor_s = drain(
        c, "SELECT floor_claim('email', " + std::to_string(kBatch) + ", " + transactional + ")",
        floor_calls);
    bool floor_ok = outcome_ok(c, e, messages);

    std::printf("claim: %.2f s, %lld calls, %lld claimed, %lld suppressed%s\n", claim_s, calls,
                e.claimed, e.bounced + e.unsubscribed, claim_ok ? "" : "  (MISMATCH)");
    std::printf("floor: %.2f s, %lld calls%s\n", floor_s, floor_calls,
                floor_ok ? "" : "  (MISMATCH with the expected outcome)");
    std::printf("messages/s: claim %.0f, floor %.0f\n", messages / claim_s, messages / floor_s);
    std::printf("claim/floor ratio: %.2f\n", floor_s / claim_s);
    {
      pqxx::connection admin(dsn("postgres"));
      exec(admin, std::string("DROP DATABASE IF EXISTS ") + kDatabase + " WITH (FORCE)");
    }
    return claim_ok && floor_ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "bench claim: " << e.what() << std::endl;
    return 1;
  }
}
