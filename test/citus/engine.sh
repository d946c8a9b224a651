#!/usr/bin/env bash
# The engine on every Citus node (issue 13, docs/scale-out.md): after
# journey.distribute, journey.run_due on a worker node advances the enrollments
# of the shard groups placed there, reading and writing the local shards
# directly. Driven with run_due's as_of on each node (pg_journey.enabled = off,
# so no background tick interferes), checking the single-node invariants:
# exactly one message per send visit, every enrollment accounted for, no lost or
# doubled step, rows on the shard of their customer. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/citus/lib.bash
citus_test_start || exit 1

N=300
B=20  # enrollments of a journey whose call step always fails
M=$N  # enrollments of the journey the background workers run (paused until then)

# Single node first: customers, a journey of two sends around a delay, N
# enrollments; then the conversion.
c "CREATE EXTENSION pg_journey" >/dev/null
citus_psql_all "SET citus.enable_ddl_propagation = off;
  CREATE FUNCTION public.pgj_broken(customer_id text, context jsonb) RETURNS jsonb
  LANGUAGE plpgsql AS \$\$ BEGIN RAISE EXCEPTION 'pgj_broken is broken'; END \$\$" >/dev/null
citus_psql_all "GRANT journey_app TO journey_worker" >/dev/null
c "CREATE TABLE customers (id text PRIMARY KEY, email text);
   INSERT INTO customers SELECT 'c' || i, 'c' || i || '@example.com' FROM generate_series(1, $N) i;
   SELECT journey.register_audience('customers', 'id', 'email');
   SELECT journey.create_template('hello', 'email', 'Hi', 'Hello {{email}}');
   SELECT journey.create_template('bye', 'email', 'Bye', 'Bye {{email}}');
   SELECT journey.import('{\"name\": \"welcome\", \"audience\": \"customers\", \"start\": \"hi\",
     \"steps\": [{\"key\": \"hi\", \"type\": \"send_email\", \"template\": \"hello\", \"next\": \"wait\"},
                {\"key\": \"wait\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"bye\"},
                {\"key\": \"bye\", \"type\": \"send_email\", \"template\": \"bye\", \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('welcome');
   SELECT count(journey.enroll('welcome', 'c' || i)) FROM generate_series(1, $N) i;
   SELECT journey.import('{\"name\": \"later\", \"audience\": \"customers\", \"start\": \"note\",
     \"steps\": [{\"key\": \"note\", \"type\": \"send_email\", \"template\": \"hello\", \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('later');
   SELECT count(journey.enroll('later', 'c' || i)) FROM generate_series(1, $M) i;
   SELECT journey.pause('later');
   SELECT journey.import('{\"name\": \"broken\", \"audience\": \"customers\", \"start\": \"c\",
     \"settings\": {\"max_attempts\": 2},
     \"steps\": [{\"key\": \"c\", \"type\": \"call\", \"function\": \"public.pgj_broken\"}]}'::jsonb);
   SELECT journey.publish('broken');
   SELECT count(journey.enroll('broken', 'c' || i)) FROM generate_series(11, 10 + $B) i;
   SELECT journey.pause('broken');
   SELECT journey.distribute('customers');" >/dev/null || exit 1

welcome=$(c "SELECT id FROM journey.journeys WHERE name = 'welcome'")

# The customers each worker node owns (by the placement of their shard).
owned() {  # port
  c "SELECT count(*) FROM customers t
       JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('customers', t.id)
       JOIN pg_dist_node n ON n.groupid = p.groupid WHERE n.nodeport = $1"
}
on_w1=$(owned "$w1")
on_w2=$(owned "$w2")
check "customers on both workers" "t|$N" "$([ "$on_w1" -gt 0 ] && [ "$on_w2" -gt 0 ] && echo t)|$((on_w1 + on_w2))"

# Enrollments by status and step; messages (and distinct visits); activity rows
# (and distinct visits, and the highest visit).
state() {
  c "SELECT (SELECT string_agg(status || ':' || step_key || ':' || n, ',' ORDER BY status, step_key)
               FROM (SELECT status, step_key, count(*) n FROM journey.enrollments
                      WHERE journey_id = $welcome GROUP BY 1, 2) s)
            || '|' || (SELECT count(*) || '/' || count(DISTINCT (enrollment_id, visit)) FROM journey.messages
                         WHERE journey_id = $welcome)
            || '|' || (SELECT count(*) || '/' || count(DISTINCT (enrollment_id, visit)) || '/' || max(visit)
                         FROM journey.activity WHERE journey_id = $welcome)"
}
tick_at() {  # port timestamp
  cq "$1" "SELECT journey.run_due(1000, '$2')"
}
tick() {  # port as_of
  cq "$1" "SELECT journey.run_due(1000, now() + interval '$2')"
}

check "the coordinator holds no shards: its tick takes nothing" "0" "$(tick "$PGPORT" '1 minute')"
check "each worker's tick takes the enrollments of its customers" "$on_w1|$on_w2" \
  "$(tick "$w1" '1 minute')|$(tick "$w2" '1 minute')"
check "after the first send: all wait, one message each, one visit each" \
  "active:wait:$N|$N/$N|$N/$N/1" "$(state)"
check "a second tick at the same time takes nothing" "0|0" "$(tick "$w1" '1 minute')|$(tick "$w2" '1 minute')"
check "the messages carry their recipient" "$N" \
  "$(c "SELECT count(*) FROM journey.messages m JOIN customers t ON t.id = m.customer_id
         WHERE m.recipient = t.email AND m.channel = 'email' AND m.status = 'pending'")"

# One customer gone (deleted on its shard, without the customer-table trigger,
# which does not run on shards yet): the tick ends its enrollment with the
# ending statement (src/pg/ending.cpp) on the shards.
gone_port=$(c "SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
                WHERE p.shardid = get_shard_id_for_distribution_column('customers', 'c7')")
gone_shard=$(c "SELECT shard_name('customers', get_shard_id_for_distribution_column('customers', 'c7'))")
cq "$gone_port" "SET session_replication_role = replica; DELETE FROM $gone_shard WHERE id = 'c7'" >/dev/null

# The second step: two ticks at once on each worker (SKIP LOCKED on the shards).
as_of=$(c "SELECT now() + interval '2 days'")
out=$(mktemp)
for port in $w1 $w1 $w2 $w2; do
  cq "$port" "SELECT journey.run_due(1000, '$as_of')" >>"$out" &
done
wait
check "two concurrent ticks a worker: every enrollment taken once" "$N" "$(awk "{s += \$1} END {print s}" "$out")"
rm -f "$out"
check "after the second send: completed, two messages and four visits each; the deleted customer exited" \
  "completed:done:$((N - 1)),exited:wait:1|$((2 * N - 1))/$((2 * N - 1))|$((4 * N - 2))/$((4 * N - 2))/4" "$(state)"
check "the deleted customer's enrollment ended customer_deleted, its visit written" "customer_deleted|wait:exited:2" \
  "$(c "SELECT e.exit_reason || '|' || string_agg(a.step_key || ':' || a.outcome || ':' || a.visit, ',')
          FROM journey.enrollments e
          JOIN journey.activity a ON a.customer_id = e.customer_id AND a.enrollment_id = e.id AND a.visit = 2
         WHERE e.customer_id = 'c7' GROUP BY e.exit_reason")"
check "every visit of every enrollment, in order, none twice" "0" \
  "$(c "SELECT count(*) FROM (SELECT enrollment_id, array_agg(step_key ORDER BY visit) s
                               FROM journey.activity WHERE journey_id = $welcome GROUP BY 1) x
         WHERE s <> '{hi,wait,bye,done}' AND s <> '{hi,wait}'")"
for table in journey.enrollments journey.activity journey.messages; do
  check "$table: every row on its customer's shard" "0" "$(misplaced "$table")"
done
check "the roll-up is compacted by the coordinator; the worker nodes leave it alone" "t|0|0" \
  "$(c "SELECT journey.compact_activity_hours() >= 0")|$(cq "$w1" "SELECT journey.compact_activity_hours()")|$(cq "$w2" "SELECT journey.compact_activity_hours()")"
check "message ids from the node ranges, none twice" "$((2 * N - 1))|true" \
  "$(c "SELECT count(DISTINCT id) || '|' || bool_and(id >> 42 > 0) FROM journey.messages
         WHERE journey_id = $welcome")"
check "nothing failed or retried" "0" \
  "$(c "SELECT count(*) FROM journey.enrollments WHERE attempts > 0 OR last_error IS NOT NULL")"

# Failures on the shards: a call step that always fails is charged, retried
# after its backoff, and fails the enrollment at its last attempt.
c "SELECT journey.resume('broken')" >/dev/null
as_of=$(c "SELECT now() + interval '3 days'")
check "a failing step is charged on the shards" "$B" \
  "$(($(tick_at "$w1" "$as_of") + $(tick_at "$w2" "$as_of")))"
as_of=$(c "SELECT now() + interval '3 days 1 minute'")
check "its retry is due after the backoff" "$B" \
  "$(($(tick_at "$w1" "$as_of") + $(tick_at "$w2" "$as_of")))"
check "out of attempts: failed at the step, with the error, its visit written" \
  "failed:c:$B:pgj_broken is broken|c:failed:$B" \
  "$(c "SELECT string_agg(DISTINCT e.status || ':' || e.step_key, ',') || ':' || count(*) || ':' || min(e.last_error)
          FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'broken'")|$(
     c "SELECT string_agg(DISTINCT a.step_key || ':' || a.outcome, ',') || ':' || count(*)
          FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id WHERE j.name = 'broken'")"

# The background workers: pg_journey.enabled on every node, the paused journey
# resumed while a shard group moves from the first worker node to the second;
# each node's worker ticks its shards until every enrollment is done.
for port in $CITUS_PORTS; do
  cq "$port" "ALTER SYSTEM SET pg_journey.enabled = on" && cq "$port" "SELECT pg_reload_conf()" >/dev/null
done
moved=$(c "SELECT s.shardid FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
            WHERE s.logicalrelid = 'customers'::regclass AND n.nodeport = $w1 ORDER BY s.shardid LIMIT 1")
moved_customers=$(c "SELECT count(*) FROM customers WHERE get_shard_id_for_distribution_column('customers', id) = $moved")
c "SELECT citus_move_shard_placement($moved, '$CITUS_DIR', $w1, '$CITUS_DIR', $w2, shard_transfer_mode => 'block_writes')" \
  >"$CITUS_DIR/move.out" 2>&1 &
mover=$!
c "SELECT journey.resume('later')" >/dev/null
wait "$mover"
check "a shard group moved while the workers run" "$w2" \
  "$(c "SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid) WHERE p.shardid = $moved")$(
     grep ERROR "$CITUS_DIR/move.out")"
for i in $(seq 1 600); do
  [ "$(c "SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
           WHERE j.name = 'later' AND e.status = 'active'")" = "0" ] && break
  sleep 0.1
done
# (c7, deleted above, exits.)
check "each node's worker ran its shards' enrollments: completed, one message each" \
  "$((M - 1)):1|$((M - 1))/$((M - 1))|0" \
  "$(c "SELECT count(*) FILTER (WHERE e.status = 'completed') || ':' || count(*) FILTER (WHERE e.status = 'exited')
          FROM journey.enrollments e
          JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'later'")|$(
     c "SELECT count(*) || '/' || count(DISTINCT (m.customer_id, m.enrollment_id, m.visit)) FROM journey.messages m
          JOIN journey.journeys j ON j.id = m.journey_id WHERE j.name = 'later'")|$(
     c "SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
          WHERE j.name = 'later' AND (e.attempts > 0 OR e.last_error IS NOT NULL)")"
check "the workers of both worker nodes took part" "2" \
  "$(c "SELECT count(DISTINCT id >> 42) FROM journey.messages m
         WHERE journey_id = (SELECT id FROM journey.journeys WHERE name = 'later')")"
check "the moved group's customers completed, one message each" "$moved_customers|$moved_customers" \
  "$(c "SELECT count(*) || '|' || count(DISTINCT m.enrollment_id) FROM journey.messages m
         JOIN journey.journeys j ON j.id = m.journey_id
        WHERE j.name = 'later' AND get_shard_id_for_distribution_column('customers', m.customer_id) = $moved")"
for table in journey.enrollments journey.activity journey.messages; do
  check "after the move, $table: every row on its customer's shard" "0" "$(misplaced "$table")"
done

# Delivery from the coordinator: two senders claim at once until nothing is
# left; every pending message of every node is handed out once. (The welcome
# messages were made at engine times ahead: they are made due now.)
c "UPDATE journey.messages SET send_after = now() WHERE status = 'pending'" >/dev/null
pending=$(c "SELECT count(*) FROM journey.messages WHERE status = 'pending'")
for sender in 1 2; do
  (for round in $(seq 1 40); do
     c "SELECT id FROM journey.claim_messages('email', 50)" >>"$CITUS_DIR/claimed-$sender" \
       2>>"$CITUS_DIR/claim-errors" || break
   done) &
done
wait
check "two concurrent claimers: every pending message handed out once, both got some, no error" \
  "$pending|$pending|0|2|t|" \
  "$(cat "$CITUS_DIR"/claimed-* | grep -c .)|$(cat "$CITUS_DIR"/claimed-* | sort -u | grep -c .)|$(
     c "SELECT count(*) FROM journey.messages WHERE status = 'pending'")|$(
     c "SELECT count(DISTINCT id >> 42) FROM journey.messages WHERE status = 'claimed'")|$(
     [ -s "$CITUS_DIR/claimed-1" ] && [ -s "$CITUS_DIR/claimed-2" ] && echo t)|$(
     cat "$CITUS_DIR/claim-errors" 2>/dev/null)"
check "complete_message on the coordinator" "sent" \
  "$(c "SELECT journey.complete_message($(head -1 "$CITUS_DIR/claimed-1"), true)" >/dev/null
     c "SELECT status FROM journey.messages WHERE id = $(head -1 "$CITUS_DIR/claimed-1")")"

citus_test_finish
