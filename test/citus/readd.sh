#!/usr/bin/env bash
# A worker node's server added, removed and added again (attack-13c H1;
# docs/scale-out.md, "Adding and removing worker nodes"). Citus gives it a new
# group id each time and rebuilds its shell tables without the sequences'
# OWNED BY link; journey.distribute finds its id sequences anyway and gives
# them the range of its current group: (1) added and removed before any
# distribute, then added again (its sequences still at 1, the coordinator's
# range); (2) then drained, removed and added again (its sequences in the old
# group's range). Each time rows made on it (enroll, track, the tick's
# messages, message_event, add_suppression) get ids of its range, and no table
# distributed by customer holds an id twice (the single node's ids, 1, 2, ...,
# live on). Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/citus/lib.bash
citus_test_start || exit 1

c "CREATE EXTENSION pg_journey" >/dev/null
citus_psql_all "GRANT journey_app TO journey_worker" >/dev/null
journey() {  # name
  echo "SELECT journey.import('{\"name\": \"$1\", \"audience\": \"customers\", \"start\": \"s\",
     \"steps\": [{\"key\": \"s\", \"type\": \"send_email\", \"template\": \"hello\", \"next\": \"w\"},
                {\"key\": \"w\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('$1');"
}
# Ids made on the single node before distribute: 1, 2, ... in every table.
c "SET client_min_messages = warning;
   CREATE TABLE customers (id text PRIMARY KEY, email text);
   INSERT INTO customers SELECT 'c' || i, 'c' || i || '@x' FROM generate_series(1, 40) i;
   SELECT journey.register_audience('customers', 'id', 'email');
   SELECT journey.create_template('hello', 'email', 'Hi', 'Hello');
   $(journey j0) $(journey j1) $(journey j2)
   SELECT journey.enroll('j0', 'c' || i) FROM generate_series(1, 40) i;
   SELECT journey.track('c' || i, 'seen') FROM generate_series(1, 40) i;
   SELECT journey.run_due(1000, now());
   SELECT count(*) FROM journey.claim_messages('email', 1000);
   SELECT journey.message_event(id, 'delivered') FROM journey.messages;
   SELECT journey.add_suppression('c' || i, 'phase0', 'unsubscribe') FROM generate_series(1, 40) i;
   SELECT journey.distribute('customers');" >/dev/null || exit 1

# Ids held twice, per table distributed by customer.
duplicates() {
  local t out=""
  for t in enrollments events messages suppressions message_events; do
    out="$out $t:$(c "SELECT count(*) - count(DISTINCT id) FROM journey.$t")"
  done
  echo "${out# }"
}
# Whether every runtime sequence of the node has its group's range, and how many.
ranges="SELECT bool_and(seqmin = (g << 42) + 1 AND seqmax = ((g + 1) << 42) - 1) || '/' || count(*)
          FROM pg_sequence, (SELECT groupid::bigint g FROM pg_dist_local_group) x
         WHERE seqrelid IN ('journey.enrollments_id_seq'::regclass, 'journey.events_id_seq'::regclass,
                            'journey.messages_id_seq'::regclass, 'journey.suppressions_id_seq'::regclass,
                            'journey.message_events_id_seq'::regclass)"
# Customers whose shard group is on node port $1, as a SQL array.
on_node() {
  c "SELECT 'ARRAY[' || string_agg(quote_literal(t.id), ',' ORDER BY t.id) || ']' FROM customers t
       JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('customers', t.id)
       JOIN pg_dist_node n ON n.groupid = p.groupid WHERE n.nodeport = $1"
}
# Rows for the customers $2 (on node $1) in phase $3: enrolled into journey j$3
# and ticked there (a message each), an event, a message event, a suppression
# of channel phase$3. Prints the distinct groups (id >> 42) of the rows made, by
# table.
phase_rows() {  # port customers phase
  # One statement a call: Citus routes it to the customer's node.
  c "SELECT journey.enroll('j$3', x) FROM unnest($2) x;
     $(c "SELECT string_agg(format('SELECT journey.track(%L, %L);', x, 'seen$3'), ' ') FROM unnest($2) x")" >/dev/null
  cq "$1" "SELECT journey.run_due(1000, now())" >/dev/null
  c "SELECT count(*) FROM journey.claim_messages('email', 1000);
     DO \$\$ DECLARE i bigint; BEGIN  -- one call a message (not once per row of a query on a shard)
       FOR i IN SELECT m.id FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
                 WHERE j.name = 'j$3' LOOP
         PERFORM journey.message_event(i, 'opened');
       END LOOP;
     END \$\$;
" >/dev/null
  # A call made on the node itself (an application connected to it).
  cq "$1" "SELECT journey.add_suppression(x, 'phase$3', 'bounce') FROM unnest($2) x" >/dev/null
  c "SELECT concat_ws(' ',
       'enrollments:' || (SELECT string_agg(DISTINCT (e.id >> 42)::text, ',') || '/' || count(*)
                            FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
                           WHERE j.name = 'j$3'),
       'events:' || (SELECT string_agg(DISTINCT (id >> 42)::text, ',') || '/' || count(*)
                       FROM journey.events WHERE name = 'seen$3'),
       'messages:' || (SELECT string_agg(DISTINCT (m.id >> 42)::text, ',') || '/' || count(*)
                         FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
                        WHERE j.name = 'j$3'),
       'message_events:' || (SELECT string_agg(DISTINCT (x.id >> 42)::text, ',') || '/' || count(*)
                               FROM journey.message_events x
                               JOIN journey.messages m ON m.customer_id = x.customer_id AND m.id = x.message_id
                               JOIN journey.journeys j ON j.id = m.journey_id
                              WHERE j.name = 'j$3' AND x.kind = 'opened'),
       'suppressions:' || (SELECT string_agg(DISTINCT (id >> 42)::text, ',') || '/' || count(*)
                             FROM journey.suppressions WHERE channel = 'phase$3'))"
}
expected_groups() {  # group count
  echo "enrollments:$1/$2 events:$1/$2 messages:$1/$2 message_events:$1/$2 suppressions:$1/$2"
}

# (1) The fourth node's server: added, removed before any distribute, added again.
n4=$((CITUS_PORT_BASE + 3))
citus_node_start "$n4" || exit 1
citus_psql "$n4" "CREATE DATABASE $CITUS_DB" postgres >/dev/null
citus_psql "$n4" "CREATE ROLE journey_worker LOGIN" postgres >/dev/null
cq "$n4" "CREATE EXTENSION citus" >/dev/null
CITUS_PORTS="$CITUS_PORTS $n4"
c "SELECT citus_add_node('$CITUS_DIR', $n4)" >/dev/null
first_group=$(cq "$n4" "SELECT groupid FROM pg_dist_local_group")
c "SELECT citus_drain_node('$CITUS_DIR', $n4, shard_transfer_mode => 'block_writes')" >/dev/null 2>&1
c "SELECT citus_remove_node('$CITUS_DIR', $n4)" >/dev/null
c "SELECT citus_add_node('$CITUS_DIR', $n4)" >/dev/null
group=$(cq "$n4" "SELECT groupid FROM pg_dist_local_group")
check "added again: a new group" "t" "$([ "$group" -gt "$first_group" ] && echo t)"
check "... its sequences have lost their OWNED BY link" "0" \
  "$(cq "$n4" "SELECT count(*) FROM pg_depend d JOIN pg_class s ON s.oid = d.objid
                 WHERE s.relkind = 'S' AND s.relnamespace = 'journey'::regnamespace AND d.deptype = 'a'")"
notices=$(c "SET client_min_messages = notice; SELECT journey.distribute('customers')" 2>&1 >/dev/null)
cq "$n4" "GRANT journey_app TO journey_worker" >/dev/null
check "distribute gives its sequences its group's range" "true/5" "$(cq "$n4" "$ranges")"
seqs="enrollments_id_seq, events_id_seq, message_events_id_seq, messages_id_seq, suppressions_id_seq"
check "... and says so, naming the node, the coordinator's range and the group" "1" \
  "$(echo "$notices" | grep -c "NOTICE:  id range given: node $CITUS_DIR:$n4: $seqs from the coordinator's range to group $group's, ($group << 42) + 1 up$")"
check "the other workers' ranges unchanged, nothing said of them" "true/5|true/5|0" \
  "$(cq "$w1" "$ranges")|$(cq "$w2" "$ranges")|$(echo "$notices" | grep NOTICE | grep -vc ":$n4: ")"
check "distribute again: nothing to say" "" \
  "$(c "SET client_min_messages = notice; SELECT journey.distribute('customers')" 2>&1 >/dev/null)"
c "SELECT rebalance_table_shards(shard_transfer_mode => 'block_writes')" >/dev/null 2>&1
customers4=$(on_node "$n4")
check "customers placed on the re-added node" "t" "$([ -n "$customers4" ] && echo t)"
n=$(c "SELECT cardinality(${customers4:-ARRAY[]::text[]})")
check "rows made on it: ids of its range" "$(expected_groups "$group" "$n")" "$(phase_rows "$n4" "$customers4" 1)"
check "no id twice" "enrollments:0 events:0 messages:0 suppressions:0 message_events:0" "$(duplicates)"

# (2) Drained, removed and added again: its sequences hold the old group's range.
# (The moved shards' copies left on it are dropped before the remove: a later
# move of the same shard back onto it would fail on them.)
c "SELECT citus_drain_node('$CITUS_DIR', $n4, shard_transfer_mode => 'block_writes')" >/dev/null 2>&1
c "CALL citus_cleanup_orphaned_resources()" >/dev/null 2>&1
c "SELECT citus_remove_node('$CITUS_DIR', $n4)" >/dev/null
c "SELECT citus_add_node('$CITUS_DIR', $n4)" >/dev/null
old_group=$group
group=$(cq "$n4" "SELECT groupid FROM pg_dist_local_group")
check "added a third time: a new group, its sequences in the old group's range" "t|$((old_group << 42 | 1))" \
  "$([ "$group" -gt "$old_group" ] && echo t)|$(cq "$n4" "SELECT seqmin FROM pg_sequence
                                                           WHERE seqrelid = 'journey.enrollments_id_seq'::regclass")"
notices=$(c "SET client_min_messages = notice; SELECT journey.distribute('customers')" 2>&1 >/dev/null)
cq "$n4" "GRANT journey_app TO journey_worker" >/dev/null 2>&1
check "distribute moves them to the new group's range" "true/5" "$(cq "$n4" "$ranges")"
check "... and says so" "1" \
  "$(echo "$notices" | grep -c "NOTICE:  id range given: node $CITUS_DIR:$n4: $seqs from group $old_group's range to group $group's, ($group << 42) + 1 up$")"
c "SELECT rebalance_table_shards(shard_transfer_mode => 'block_writes')" >/dev/null 2>&1
customers4=$(on_node "$n4")
check "customers placed on it again" "t" "$([ -n "$customers4" ] && echo t)"
n=$(c "SELECT cardinality(${customers4:-ARRAY[]::text[]})")
check "rows made on it: ids of its new range" "$(expected_groups "$group" "$n")" "$(phase_rows "$n4" "$customers4" 2)"
check "no id twice" "enrollments:0 events:0 messages:0 suppressions:0 message_events:0" "$(duplicates)"
# The functions that send themselves to a customer's node (enroll_query, exit,
# message_event) have their setting on every node, the re-added one too
# (attack-13e F1: it has them from CREATE EXTENSION, without it).
nested="SELECT count(*) FROM pg_proc WHERE pronamespace = 'journey'::regnamespace
          AND proname IN ('_enroll_group', '_end_customer_enrollments', '_message_event_of')
          AND 'citus.allow_nested_distributed_execution=on' = ANY (proconfig)"
check "every node's forwarding functions have citus.allow_nested_distributed_execution" "3|3|3" \
  "$(cq "$w1" "$nested")|$(cq "$w2" "$nested")|$(cq "$n4" "$nested")"
first4=$(c "SELECT (${customers4:-ARRAY['']})[1]")
c "$(journey j3)" >/dev/null
check "enroll_query of a customer on the re-added node" "1" \
  "$(c "SELECT journey.enroll_query('j3', \$q\$SELECT '$first4'\$q\$)" 2>&1)"
eid=$(c "SELECT e.id FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
          WHERE j.name = 'j3' AND e.customer_id = '$first4'")
check "exit of its enrollment" "exited" \
  "$(c "SELECT journey.exit(${eid:-0})" >/dev/null 2>&1; c "SELECT status FROM journey.enrollments WHERE id = ${eid:-0}")"

# A node whose id sequences cannot be found is refused, naming it, not skipped.
cq "$n4" "SET citus.enable_ddl_propagation = off;
          ALTER TABLE journey.suppressions ALTER COLUMN id DROP DEFAULT" >/dev/null
expect_state "a node without its id sequences: refused" 58000 "$PGPORT" "SELECT journey.distribute('customers')"
check "... naming the node and what is missing" "1" \
  "$(c "SELECT journey.distribute('customers')" 2>&1 | grep -c "worker node $CITUS_DIR:$n4 failed: .*cannot give the id sequences of this node (Citus group $group) their range")"

citus_test_finish
