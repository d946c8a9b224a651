#!/usr/bin/env bash
# The suppression rule on the distributed install (issue 9, item G1,
# docs/delivery.md): the tick on each worker node reads its shard's
# suppressions and core decides per message, so a transactional journey's
# messages ignore unsubscribes there as on a single node; add_suppression's
# withdraw and claim_messages on the coordinator read the version's ignored
# reasons (journey.versions.ignored_suppression_reasons). Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/citus/lib.bash
citus_test_start || exit 1

c() { cq "$PGPORT" "$1"; }
w1=${CITUS_WORKER_PORTS%% *}
w2=${CITUS_WORKER_PORTS##* }

# 20 customers on both worker nodes; the odd ones unsubscribed from every
# channel, c2 complained about e-mail; a plain and a transactional journey of
# one e-mail each, every customer enrolled in both.
c "CREATE EXTENSION pg_journey" >/dev/null
citus_psql_all "GRANT journey_app TO journey_worker" >/dev/null
c "CREATE TABLE customers (id text PRIMARY KEY, email text);
   INSERT INTO customers SELECT 'c' || i, 'c' || i || '@example.com' FROM generate_series(1, 20) i;
   SELECT journey.register_audience('customers', 'id', 'email');
   SELECT journey.create_template('hello', 'email', 'Hi', 'Hello {{email}}');
   SELECT journey.import('{\"name\": \"plain\", \"audience\": \"customers\", \"start\": \"hi\",
     \"steps\": [{\"key\": \"hi\", \"type\": \"send_email\", \"template\": \"hello\"}]}'::jsonb);
   SELECT journey.publish('plain');
   SELECT journey.import('{\"name\": \"tx\", \"audience\": \"customers\", \"start\": \"hi\",
     \"settings\": {\"transactional\": true},
     \"steps\": [{\"key\": \"hi\", \"type\": \"send_email\", \"template\": \"hello\"}]}'::jsonb);
   SELECT journey.publish('tx');
   SELECT count(journey.add_suppression('c' || i, NULL, 'unsubscribed')) FROM generate_series(1, 20, 2) i;
   SELECT journey.add_suppression('c2', 'email', 'complained');
   SELECT journey.enroll_query('plain', 'SELECT id FROM customers');
   SELECT journey.enroll_query('tx', 'SELECT id FROM customers');
   SELECT journey.distribute('customers');" >/dev/null || exit 1

# What became of the messages: journey, status, reason and how many.
summary() {
  c "SELECT string_agg(x, ' ' ORDER BY x) FROM (
       SELECT j.name || ':' || m.status || ':' || coalesce(m.reason, '-') || '=' || count(*) AS x
         FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
        GROUP BY j.name, m.status, m.reason) s"
}

check "publish stored core's ignored reasons per version" "plain:{} tx:{unsubscribed}" \
  "$(c "SELECT string_agg(j.name || ':' || v.ignored_suppression_reasons::text, ' ' ORDER BY j.name)
          FROM journey.versions v JOIN journey.journeys j ON j.id = v.journey_id")"

n1=$(cq "$w1" "SELECT journey.run_due()")
n2=$(cq "$w2" "SELECT journey.run_due()")
check "the tick ran on both worker nodes" "t|40" "$([ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] && echo t)|$((n1 + n2))"
check "the tick on the shards: the transactional journey reaches the unsubscribed, not the complainer" \
  "plain:pending:-=9 plain:suppressed:suppression: complained=1 plain:suppressed:suppression: unsubscribed=10 tx:pending:-=19 tx:suppressed:suppression: complained=1" \
  "$(summary)"

# On the coordinator: an unsubscribe from e-mail withdraws c4's plain message,
# not its transactional one; a manual suppression withdraws both of c6's.
c "SELECT journey.add_suppression('c4', 'email', 'unsubscribed');
   SELECT journey.add_suppression('c6', NULL, 'manual')" >/dev/null
check "add_suppression's withdraw keeps the transactional message of an unsubscriber" \
  "plain:suppressed:suppression: unsubscribed tx:pending:-" \
  "$(c "SELECT string_agg(j.name || ':' || m.status || ':' || coalesce(m.reason, '-'), ' ' ORDER BY j.name)
          FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id WHERE m.customer_id = 'c4'")"
# The claim re-checks with the version's ignored reasons: it hands out the
# transactional messages of the unsubscribed customers.
check "claim_messages on the coordinator: 7 plain and 18 transactional messages" "plain=7 tx=18" \
  "$(c "SELECT string_agg(name || '=' || n, ' ' ORDER BY name) FROM (
          SELECT j.name, count(*) AS n FROM journey.claim_messages('email', 100) m
            JOIN journey.journeys j ON j.id = m.journey_id GROUP BY j.name) s")"
check "every message accounted for" \
  "plain:claimed:-=7 plain:suppressed:suppression: complained=1 plain:suppressed:suppression: manual=1 plain:suppressed:suppression: unsubscribed=11 tx:claimed:-=18 tx:suppressed:suppression: complained=1 tx:suppressed:suppression: manual=1" \
  "$(summary)"

citus_test_finish
