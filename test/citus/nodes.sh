#!/usr/bin/env bash
# A worker node added to a distributed install (docs/scale-out.md, "Adding a
# worker node later"), whose OIDs differ from the other nodes' on purpose (tables
# created there first): journey.distribute again, rebalance, then a shard group
# moved back. Customers placed on the new node enroll, track, trigger, are
# suppressed and ticked like the others; a suppression whose shard moved to a
# node with other OIDs still stops the customer's messages.
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/citus/lib.bash
citus_test_start || exit 1
c() { cq "$PGPORT" "$1"; }
w1=${CITUS_WORKER_PORTS%% *}

c "CREATE EXTENSION pg_journey" >/dev/null
citus_psql_all "GRANT journey_app TO journey_worker" >/dev/null
c "CREATE TABLE customers (id text PRIMARY KEY, email text, plan text DEFAULT 'free');
   INSERT INTO customers SELECT 'c' || i, 'c' || i || '@x', 'free' FROM generate_series(1, 40) i;
   SELECT journey.register_audience('customers', 'id', 'email');
   SELECT journey.create_template('hello', 'email', 'Hi', 'Hello');
   SELECT journey.import('{\"name\": \"up\", \"audience\": \"customers\", \"start\": \"s\",
     \"entry\": [{\"type\": \"attribute\", \"when\": {\"field\": \"plan\", \"op\": \"changed_to\", \"value\": \"pro\"}}],
     \"exit\": [{\"type\": \"condition\", \"name\": \"churned\", \"when\": {\"field\": \"plan\", \"op\": \"eq\", \"value\": \"churned\"}}],
     \"steps\": [{\"key\": \"s\", \"type\": \"send_email\", \"template\": \"hello\", \"next\": \"w\"},
                {\"key\": \"w\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('up');
   SELECT journey.add_suppression('c' || i, 'email', 'unsubscribe') FROM generate_series(1, 40, 2) i;
   SELECT journey.distribute('customers');" >/dev/null || exit 1

# The fourth node: tables created before Citus and pg_journey reach it, so that
# every OID there differs from the other nodes'.
n4=$((CITUS_PORT_BASE + 3))
citus_node_start "$n4" || exit 1
citus_psql "$n4" "CREATE DATABASE $CITUS_DB" postgres >/dev/null
citus_psql "$n4" "CREATE ROLE journey_worker LOGIN" postgres >/dev/null
cq "$n4" "DO \$\$ BEGIN FOR i IN 1..40 LOOP EXECUTE format('CREATE TABLE pad%s (x int PRIMARY KEY)', i); END LOOP; END \$\$;
          CREATE EXTENSION citus" >/dev/null
CITUS_PORTS="$CITUS_PORTS $n4"
c "SELECT citus_add_node('$CITUS_DIR', $n4)" >/dev/null
c "SELECT journey.distribute('customers')" >/dev/null
cq "$n4" "GRANT journey_app TO journey_worker" >/dev/null
c "SELECT rebalance_table_shards(shard_transfer_mode => 'block_writes')" >/dev/null 2>&1
oid_of_customers="SELECT 'customers'::regclass::oid"
check "the new node's OIDs differ" "t" "$([ "$(cq "$n4" "$oid_of_customers")" != "$(cq "$w1" "$oid_of_customers")" ] && echo t)"
on_node="SELECT string_agg(t.id, ',' ORDER BY t.id) FROM customers t
           JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('customers', t.id)
           JOIN pg_dist_node n ON n.groupid = p.groupid WHERE n.nodeport ="
ids4=$(c "$on_node $n4")
odd4=$(c "SELECT count(*) FROM customers t
           JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('customers', t.id)
           JOIN pg_dist_node n ON n.groupid = p.groupid WHERE n.nodeport = $n4 AND substr(t.id, 2)::int % 2 = 1")
check "customers placed on the new node, suppressed ones among them" "t" \
  "$([ -n "$ids4" ] && [ "$odd4" -gt 0 ] && echo t)"

# F1: the new node's definitions name its own tables and roles.
check "the new node's audiences and journeys name its customers table" "customers|customers|true" \
  "$(cq "$n4" "SELECT a.relation::text || '|' || j.audience::text || '|' || (j.owner::text IS NOT NULL
                         AND j.owner::text !~ '^[0-9]+$')
                 FROM journey.audiences a JOIN journey.journeys j ON j.audience = a.relation")"
check "a new journey on the audience can be created" "ok" \
  "$(c "SELECT journey.import('{\"name\": \"j2\", \"audience\": \"customers\", \"start\": \"done\",
          \"steps\": [{\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb); SELECT journey.publish('j2')" >/dev/null && echo ok)"

# Every customer enters by the attribute trigger (those on the new node too).
c "UPDATE customers SET plan = 'pro'" >/dev/null
check "the attribute entry enrolls all 40 customers" "40" \
  "$(c "SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'up'")"
first=${ids4%%,*}
check "enroll and track a customer of the new node" "1|1" \
  "$(c "SELECT journey.enroll('j2', '$first')" >/dev/null
     c "SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
         WHERE j.name = 'j2' AND customer_id = '$first'")|$(c "SELECT journey.track('$first', 'ping')" >/dev/null
     c "SELECT count(*) FROM journey.events WHERE customer_id = '$first' AND name = 'ping'")"

# F2: a shard group moved back from the new node to worker 1 (whose OIDs differ
# too); suppressions travel with their customers.
shard=$(c "SELECT s.shardid FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid)
            JOIN pg_dist_node n ON n.groupid = p.groupid
           WHERE s.logicalrelid = 'customers'::regclass AND n.nodeport = $n4 ORDER BY s.shardid LIMIT 1")
c "SELECT citus_move_shard_placement($shard, '$CITUS_DIR', $n4, '$CITUS_DIR', $w1, shard_transfer_mode => 'block_writes')" >/dev/null
for p in $CITUS_WORKER_PORTS $n4; do cq "$p" "SELECT journey.run_due(1000, now())" >/dev/null; done
check "the tick: 20 sent, 20 suppressed, nothing failed" "20|20|0" \
  "$(c "SELECT count(*) FILTER (WHERE status = 'pending') || '|' || count(*) FILTER (WHERE status = 'suppressed')
          FROM journey.messages")|$(c "SELECT count(*) FROM journey.enrollments WHERE status = 'failed' OR last_error IS NOT NULL")"
check "no suppressed customer's message handed out" "20|" \
  "$(c "SELECT count(*) FROM journey.claim_messages('email', 1000)")|$(
     c "SELECT string_agg(customer_id, ',') FROM journey.messages WHERE status = 'claimed' AND substr(customer_id, 2)::int % 2 = 1")"
check "list_suppressions names the audience on the coordinator" "customers:20" \
  "$(c "SELECT string_agg(DISTINCT audience::text, ',') || ':' || count(*) FROM journey.list_suppressions()")"
odd=$(c "SELECT min(id) FROM (SELECT unnest(string_to_array('$ids4', ',')) id) x WHERE substr(id, 2)::int % 2 = 1")
check "remove_suppression of a moved customer" "1" "$(c "SELECT journey.remove_suppression('$odd', 'email')")"
check "condition exit and DELETE on the new node" "churned|customer_deleted" \
  "$(c "UPDATE customers SET plan = 'churned' WHERE id = '$first'" >/dev/null
     c "SELECT exit_reason FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
         WHERE j.name = 'up' AND customer_id = '$first'")|$(
     last=${ids4##*,}; c "DELETE FROM customers WHERE id = '$last'" >/dev/null
     c "SELECT exit_reason FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
         WHERE j.name = 'up' AND customer_id = '$last'")"

citus_test_finish
