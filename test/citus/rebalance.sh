#!/usr/bin/env bash
# Shard placements changing under the engine on Citus (issue 13, docs/scale-out.md):
#   1. the tick keeps its node's shard groups per backend: a session's ticks map
#      them once, not every tick; a shard group moved (citus_move_shard_placement)
#      between two ticks of the same sessions is taken by the new node's next
#      tick, and the old node's tick no longer touches it;
#   2. the rebalancer (rebalance_table_shards) run to completion on uneven
#      placements while the background workers run a journey, enroll and track
#      calls run on the coordinator and a sender claims messages: nothing lost or
#      repeated (one message per send visit, every enrollment accounted for,
#      every visit in order and none twice, rows on their customer's shard, every
#      message handed out once, every call recorded once).
# Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/citus/lib.bash
citus_test_start || exit 1

w1=${CITUS_WORKER_PORTS%% *}
w2=${CITUS_WORKER_PORTS##* }
N=${REBALANCE_ENROLLMENTS:-250}  # enrollments of the journey under load
H=300                             # customers of the journey ticked by hand
K=60                              # customers enrolled and tracked during the rebalance

# Single node first: customers, journeys, enrollments; then the conversion.
c "CREATE EXTENSION pg_journey" >/dev/null
citus_psql_all "GRANT journey_app TO journey_worker" >/dev/null
steps() {  # sends: that many sends, a 1-second delay between two
  local s="" k
  for k in $(seq 1 "$1"); do
    [ "$k" -gt 1 ] && s+="{\"key\": \"w$k\", \"type\": \"delay\", \"duration\": \"1 second\", \"next\": \"s$k\"}, "
    s+="{\"key\": \"s$k\", \"type\": \"send_email\", \"template\": \"hello\", \"next\": \"$([ "$k" -lt "$1" ] && echo "w$((k + 1))" || echo done)\"}, "
  done
  echo "$s{\"key\": \"done\", \"type\": \"exit\"}"
}
c "CREATE TABLE customers (id text PRIMARY KEY, email text);
   INSERT INTO customers SELECT 'c' || i, 'c' || i || '@example.com'
                       FROM generate_series(1, $((N > H ? N : H))) i;
   SELECT journey.register_audience('customers', 'id', 'email');
   SELECT journey.create_template('hello', 'email', 'Hi', 'Hello {{email}}');
   SELECT journey.import('{\"name\": \"hop\", \"audience\": \"customers\", \"start\": \"hi\",
     \"steps\": [{\"key\": \"hi\", \"type\": \"send_email\", \"template\": \"hello\", \"next\": \"wait\"},
                {\"key\": \"wait\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"bye\"},
                {\"key\": \"bye\", \"type\": \"send_email\", \"template\": \"hello\", \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('hop');
   SELECT count(journey.enroll('hop', 'c' || i)) FROM generate_series(1, $H) i;
   SELECT journey.import('{\"name\": \"load\", \"audience\": \"customers\", \"start\": \"s1\",
     \"steps\": [$(steps 8)]}'::jsonb);
   SELECT journey.publish('load');
   SELECT count(journey.enroll('load', 'c' || i)) FROM generate_series(1, $N) i;
   SELECT journey.pause('load');
   SELECT journey.import('{\"name\": \"waiter\", \"audience\": \"customers\", \"start\": \"hi\",
     \"steps\": [{\"key\": \"hi\", \"type\": \"send_email\", \"template\": \"hello\", \"next\": \"w\"},
                {\"key\": \"w\", \"type\": \"wait_for_event\", \"event\": \"ping\", \"timeout\": \"7 days\",
                 \"branches\": {\"event\": \"s2\", \"timeout\": \"done\"}},
                {\"key\": \"s2\", \"type\": \"send_email\", \"template\": \"hello\", \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('waiter');
   SELECT journey.import('{\"name\": \"load2\", \"audience\": \"customers\", \"start\": \"s1\",
     \"steps\": [$(steps 6)]}'::jsonb);
   SELECT journey.publish('load2');
   SELECT count(journey.enroll('load2', 'c' || i)) FROM generate_series(1, $N) i;
   SELECT journey.pause('load2');
   SELECT journey.distribute('customers');" >/dev/null || exit 1

# Where customer groups are: the shard groups (by customers' shard) on a node.
groups_on() {  # port
  c "SELECT coalesce(string_agg(s.shardid::text, ' ' ORDER BY s.shardid), '')
       FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
      WHERE s.logicalrelid = 'customers'::regclass AND n.nodeport = $1"
}
owned() {  # port journey: enrollments of the journey whose customer is placed on the node
  c "SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
       JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('customers', e.customer_id)
       JOIN pg_dist_node n ON n.groupid = p.groupid WHERE j.name = '$2' AND n.nodeport = $1"
}
move() {  # shard from to [mode]
  # A move onto a node the group left shortly before may find its old placement
  # not yet dropped ("... could not be cleaned up", as in chaos.sh): clean up
  # and move again, as an operator would (up to 5 tries, printing each).
  local try out
  for try in 1 2 3 4 5; do
    out=$(c "SELECT citus_move_shard_placement($1, '$CITUS_DIR', $2, '$CITUS_DIR', $3,
                                              shard_transfer_mode => '${4:-block_writes}')" 2>&1) && return 0
    echo "move of $1 to $3, try $try: $out"
    echo "$out" | grep -q "could not be cleaned up" || return 1
    c "CALL citus_cleanup_orphaned_resources()" >/dev/null 2>&1
    sleep 1
  done
  return 1
}

# 1. One session on each worker node, open across a move (the tick's cache of
# the node's shard groups lives as long as the session).
worker_sessions_open
ask_workers "SET track_functions = 'pl'"
# Three ticks that find nothing (engine time long before any enrollment) in one
# transaction: how often they mapped the node's shard groups (a PL/pgSQL
# function call each time).
ask_workers "BEGIN; SELECT journey.run_due(1000, '2000-01-01'); SELECT journey.run_due(1000, '2000-01-01');
  SELECT journey.run_due(1000, '2000-01-01');
  SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions
   WHERE schemaname = 'journey' AND funcname IN ('_citus_shard_groups', '_citus_local_shards'); COMMIT"
check "three ticks of a session map the node's shard groups once" "0
0
0
1|0
0
0
1" "$ANSWER"

T0=$(c "SELECT now()")  # after the enrollments: their first step is due
T1=$(c "SELECT now() + interval '2 days'")
on1=$(owned "$w1" hop)
on2=$(owned "$w2" hop)
ask_workers "SELECT journey.run_due(1000, '$T0')"
check "the first tick: each worker node takes its customers' enrollments" "$on1|$on2" "$ANSWER"
moved=$(groups_on "$w1" | cut -d' ' -f1)
moved_customers=$(c "SELECT count(*) FROM customers WHERE id IN (SELECT 'c' || i FROM generate_series(1, $H) i)
                       AND get_shard_id_for_distribution_column('customers', id) = $moved")
move "$moved" "$w1" "$w2"
check "a shard group moved between two ticks of the sessions" "$((on1 - moved_customers))|$((on2 + moved_customers))|t" \
  "$(owned "$w1" hop)|$(owned "$w2" hop)|$([ "$moved_customers" -gt 0 ] && echo t)"
ask_workers "SELECT journey.run_due(1000, '$T1')"
check "the next tick on the new node takes the moved group's enrollments; the old node's does not touch them" \
  "$((on1 - moved_customers))|$((on2 + moved_customers))" "$ANSWER"
check "the moved customers' second messages were made by the new node, their first by the old" \
  "$moved_customers|$moved_customers" \
  "$(c "SELECT count(*) FILTER (WHERE m.step_key = 'hi' AND m.id >> 42 = (SELECT groupid FROM pg_dist_node WHERE nodeport = $w1))
          || '|' || count(*) FILTER (WHERE m.step_key = 'bye' AND m.id >> 42 = (SELECT groupid FROM pg_dist_node WHERE nodeport = $w2))
          FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
         WHERE j.name = 'hop' AND get_shard_id_for_distribution_column('customers', m.customer_id) = $moved")"
check "hop: every enrollment completed with two messages, none twice" "$H|$((2 * H))|$((2 * H))" \
  "$(c "SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
         WHERE j.name = 'hop' AND e.status = 'completed'")|$(
     c "SELECT count(*) || '|' || count(DISTINCT (m.enrollment_id, m.visit))
          FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id WHERE j.name = 'hop'")"
ask_workers "SELECT journey.run_due(1000, '$T1')"
check "a second tick at the same engine time takes nothing" "0|0" "$ANSWER"
worker_sessions_close

# 2. The rebalancer on uneven placements (two groups on the first worker node,
# six on the second) while the background workers run the journey "load"
# (eight sends a second apart), enroll and track calls run on the coordinator
# and a sender claims and completes messages.
for g in $(groups_on "$w1" | cut -d' ' -f3-); do move "$g" "$w1" "$w2"; done
check "uneven placements: groups on the worker nodes" "2|6" \
  "$(groups_on "$w1" | wc -w)|$(groups_on "$w2" | wc -w)"
workers_on 25
wait_for() {  # sql expected seconds
  local i
  for i in $(seq 1 $(($3 * 10))); do
    [ "$(c "$1")" = "$2" ] && break
    sleep 0.1
  done
  c "$1"
}
: >"$CITUS_DIR/claimed"
: >"$CITUS_DIR/calls"
touch "$CITUS_DIR/claiming"
(  # the sender: claims up to 250 messages, completes them, until told to stop
  while [ -f "$CITUS_DIR/claiming" ]; do
    ids=$(c "SELECT coalesce(string_agg(id::text, ' '), '') FROM journey.claim_messages('email', 250)" 2>>"$CITUS_DIR/claim_errors")
    if [ -n "$ids" ]; then
      echo "$ids" | tr ' ' '\n' >>"$CITUS_DIR/claimed"
      c "SELECT journey.complete_message(i, true) FROM unnest('{${ids// /,}}'::bigint[]) i" \
        >/dev/null 2>>"$CITUS_DIR/claim_errors"
    else
      sleep 0.2
    fi
  done
) &
sender=$!
c "SELECT journey.resume('load')" >/dev/null
wait_for "SELECT count(*) > 0 FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
           WHERE j.name = 'load' AND a.step_key = 's2'" t 30 >/dev/null
(  # the application: an enrollment and a tracked event a customer, the event sent
   # twice with one idempotency key (the repeat is recorded once: track returns null)
  for i in $(seq 1 $K); do
    c "SELECT journey.enroll('waiter', 'c$i') IS NOT NULL;
       SELECT journey.track('c$i', 'seen', '{}', now(), 'seen-c$i') IS NOT NULL;
       SELECT journey.track('c$i', 'seen', '{}', now(), 'seen-c$i') IS NULL" \
      >>"$CITUS_DIR/calls" 2>&1
  done
) &
app=$!
during="$(active load)"
rebalanced=$(c "SET client_min_messages = warning; SELECT rebalance_table_shards()" 2>&1 >/dev/null)
calls_during=$(grep -c . "$CITUS_DIR/calls")
check "the rebalancer ran to completion while the journey and the calls ran: groups 4|4" \
  "|4|4|t|t" "$rebalanced|$(groups_on "$w1" | wc -w)|$(groups_on "$w2" | wc -w)|$(
    [ "$during" -gt 0 ] && echo t)|$([ "$calls_during" -gt 0 ] && echo t)"
wait "$app"
check "every enroll and track call succeeded" "$((3 * K))|" \
  "$(grep -c '^t$' "$CITUS_DIR/calls")|$(grep -v '^t$' "$CITUS_DIR/calls" | head -3)"
check "load: every enrollment completed, eight messages each, visits in order, none twice" \
  "$((8 * N))/$((8 * N))/$N|$N/0|0" \
  "$(wait_for "SELECT count(*) = 0 FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
                WHERE j.name = 'load' AND e.status = 'active'" t 120 >/dev/null
     outcome load "{s1,w2,s2,w3,s3,w4,s4,w5,s5,w6,s6,w7,s7,w8,s8,done}")"
check "waiter: every enrollment waits for ping" "$K" \
  "$(wait_for "SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
                WHERE j.name = 'waiter' AND e.status = 'active' AND e.step_key = 'w'" "$K" 60)"
c "SELECT count(journey.track('c' || i, 'ping')) FROM generate_series(1, $K) i" >/dev/null
check "waiter: woken by track, every enrollment completed, two messages each, visits in order" \
  "$((2 * K))/$((2 * K))/$K|$K/0|0" \
  "$(wait_for "SELECT count(*) = 0 FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
                WHERE j.name = 'waiter' AND e.status = 'active'" t 60 >/dev/null
     outcome waiter "{hi,w,s2,done}")"
check "events: each tracked once (a repeated idempotency key changes nothing)" "$K|$K|$K" \
  "$(c "SELECT count(*) FILTER (WHERE name = 'seen') || '|' ||
               count(DISTINCT customer_id) FILTER (WHERE name = 'seen') || '|' ||
               count(*) FILTER (WHERE name = 'ping') FROM journey.events")"

# 3. The rebalancer as a background job (citus_rebalance_start, then
# citus_rebalance_wait) on uneven placements again, while the workers run the
# journey "load2" (six sends a second apart) and the sender claims.
for g in $(groups_on "$w1" | cut -d' ' -f4-); do move "$g" "$w1" "$w2"; done
check "uneven placements again" "3|5" "$(groups_on "$w1" | wc -w)|$(groups_on "$w2" | wc -w)"
c "SELECT journey.resume('load2')" >/dev/null
wait_for "SELECT count(*) > 0 FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
           WHERE j.name = 'load2' AND a.step_key = 's2'" t 30 >/dev/null
during="$(active load2)"
job=$(c "SET client_min_messages = warning; SELECT citus_rebalance_start()" 2>&1)
rebalanced=$(c "SET client_min_messages = warning; SELECT count(*) FROM (SELECT citus_rebalance_wait()) w;
                SELECT state FROM pg_dist_background_job WHERE job_id = '$job'" 2>&1)
check "citus_rebalance_start and citus_rebalance_wait while the journey ran: groups 4|4" \
  "1
finished|4|4|t" \
  "$rebalanced|$(groups_on "$w1" | wc -w)|$(groups_on "$w2" | wc -w)|$([ "$during" -gt 0 ] && echo t)"
check "load2: every enrollment completed, six messages each, visits in order, none twice" \
  "$((6 * N))/$((6 * N))/$N|$N/0|0" \
  "$(wait_for "SELECT count(*) = 0 FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
                WHERE j.name = 'load2' AND e.status = 'active'" t 120 >/dev/null
     outcome load2 "{s1,w2,s2,w3,s3,w4,s4,w5,s5,w6,s6,done}")"

for table in journey.enrollments journey.activity journey.messages journey.events; do
  check "after the rebalances, $table: every row on its customer's shard" "0" "$(misplaced "$table")"
done
# The messages due by now: all but hop's second ones (made at engine time T1,
# two days ahead, they are due then).
total=$(c "SELECT count(*) FROM journey.messages WHERE send_after <= now()")
check "every message due handed out once by claim_messages and sent" "$total|$total|$total|t" \
  "$(wait_for "SELECT count(*) FROM journey.messages WHERE status = 'sent'" "$total" 60)|$(
     sort "$CITUS_DIR/claimed" | grep -c .)|$(sort -u "$CITUS_DIR/claimed" | grep -c .)|$(
     head -3 "$CITUS_DIR/claim_errors")$([ "$total" -eq $((8 * N + 6 * N + 2 * K + H)) ] && echo t)"
rm -f "$CITUS_DIR/claiming"
wait "$sender"
check "message ids unique across nodes" "0" "$(c "SELECT count(*) - count(DISTINCT id) FROM journey.messages")"

citus_test_finish
