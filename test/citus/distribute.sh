#!/usr/bin/env bash
# journey.distribute() on a Citus coordinator + 2 workers (tools/citus.sh): the
# refusals (worker node, non-text keys, unregistered, not superuser), the layout
# (audience and runtime tables co-located by customer, definitions as reference
# tables), the data and OIDs as each node sees them, node ranges for ids, a
# second call, and dropping a distributed table afterwards. Prints "N passed,
# N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/citus/lib.bash
citus_test_start || exit 1

# Single node first: an audience with customers, a journey, enrollments, events.
c "CREATE EXTENSION pg_journey" >/dev/null
citus_psql_all "GRANT journey_app TO journey_worker" >/dev/null
c "CREATE TABLE customers (id text PRIMARY KEY, email text, plan text DEFAULT 'free');
   INSERT INTO customers SELECT 'c' || i, 'c' || i || '@example.com' FROM generate_series(1, 40) i;
   CREATE TABLE members (id bigint PRIMARY KEY, email text);
   CREATE TABLE visitors (id text PRIMARY KEY, email text);
   INSERT INTO visitors VALUES ('v1', 'v1@example.com');
   SELECT journey.register_audience('customers', 'id', 'email');
   SELECT journey.register_audience('members', 'id', 'email');
   SELECT journey.register_audience('visitors', 'id', 'email');
   SELECT journey.create_template('hello', 'email', 'Hi', 'Hello {{email}}');
   SELECT journey.import('{\"name\": \"welcome\", \"audience\": \"customers\", \"start\": \"hi\",
     \"entry\": [{\"type\": \"event\", \"event\": \"signed_up\"}],
     \"exit\": [{\"type\": \"event\", \"event\": \"quit\"}],
     \"steps\": [{\"key\": \"hi\", \"type\": \"send_email\", \"template\": \"hello\", \"next\": \"wait\"},
                {\"key\": \"wait\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('welcome');
   SELECT journey.enroll('welcome', 'c' || i) FROM generate_series(1, 10) i;
   SELECT journey.track('c' || i, 'clicked') FROM generate_series(1, 5) i;" >/dev/null || exit 1
before=$(c "SELECT (SELECT count(*) FROM journey.enrollments) || '/' || (SELECT count(*) FROM journey.events)
                   || '/' || (SELECT string_agg(customer_id, ',' ORDER BY id) FROM journey.enrollments)")

# Refusals, each with its SQLSTATE, and nothing changed.
expect_state "refused for a bigint key" 42804 "$PGPORT" "SELECT journey.distribute('members')"
expect_state "refused while a bigint-keyed audience is registered" 42804 "$PGPORT" "SELECT journey.distribute('customers')"
c "SELECT journey.unregister_audience('members')" >/dev/null
expect_state "refused for an unregistered table" 42704 "$PGPORT" \
  "CREATE TABLE loose (id text PRIMARY KEY); SELECT journey.distribute('loose')"
expect_state "refused for a non-superuser" 42501 "$PGPORT" \
  "CREATE ROLE dist_app; GRANT journey_admin TO dist_app; GRANT EXECUTE ON FUNCTION journey.distribute(regclass) TO dist_app;
   SET ROLE dist_app; SELECT journey.distribute('customers')"
check "refusals changed nothing" "0" "$(c "SELECT count(*) FROM pg_dist_partition")"

# A call that stops after the workers' part (rolled back here): the workers keep
# their new keys, the coordinator has nothing; the next call finishes it.
check "a call rolled back after the workers' part" "0|enrollments_pkey PRIMARY KEY (customer_id, id)" \
  "$(c "BEGIN; SELECT journey.distribute('customers'); ROLLBACK;" >/dev/null; c "SELECT count(*) FROM pg_dist_partition")|$(
     cq "$w1" "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'enrollments_pkey'")"

# The conversion, by three calls at once (attack-13d F6: two failed on a
# constraint the first had dropped): one converts, the others wait for it and
# then find everything done. The coordinator's engine runs meanwhile (the
# documented setup; F7: its tick must not try a single-node claim on the tables
# distribute converts, "could not run distributed query with FOR UPDATE/SHARE").
c "ALTER SYSTEM SET pg_journey.naptime = 10" >/dev/null
c "ALTER SYSTEM SET pg_journey.enabled = on" >/dev/null
c "SELECT pg_reload_conf()" >/dev/null
sleep 1
for i in 1 2; do
  (c "SELECT journey.distribute('customers')" >"$CITUS_DIR/distribute-$i.out" 2>&1) &
done
check "distribute(customers)" "" "$(c "SELECT journey.distribute('customers')" 2>&1 | grep -v '^NOTICE\|^DETAIL\|^HINT' )"
wait
check "two calls at the same time wait for it, no error" "|" \
  "$(grep -v '^NOTICE\|^DETAIL\|^HINT' "$CITUS_DIR/distribute-1.out")|$(grep -v '^NOTICE\|^DETAIL\|^HINT' "$CITUS_DIR/distribute-2.out")"
sleep 1
c "ALTER SYSTEM RESET pg_journey.enabled" >/dev/null
c "ALTER SYSTEM RESET pg_journey.naptime" >/dev/null
c "SELECT pg_reload_conf()" >/dev/null
check "the coordinator's engine logged no FOR UPDATE error while distribute ran" "0" \
  "$(grep -c 'FOR UPDATE/SHARE' "$CITUS_DIR/server-$PGPORT.log")"
check "audience and runtime tables: one colocation group, hash by customer" \
  "customers:id,journey.activity:customer_id,journey.enrollments:customer_id,journey.events:customer_id,journey.message_events:customer_id,journey.messages:customer_id,journey.segment_members:customer_id,journey.suppressions:customer_id,visitors:id|1" \
  "$(c "SELECT string_agg(logicalrelid::text || ':' || column_to_column_name(logicalrelid, partkey), ',' ORDER BY logicalrelid::text)
               || '|' || count(DISTINCT colocationid)
          FROM pg_dist_partition WHERE partmethod = 'h'")"
check "definitions are reference tables" \
  "activity_hours,audiences,connections,entry_triggers,exit_rules,journeys,scheduled_runs,steps,templates,trigger_runs,versions" \
  "$(c "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid
         WHERE p.partmethod = 'n' AND p.repmodel = 't'")"
check "data kept" "$before" "$(c "SELECT (SELECT count(*) FROM journey.enrollments) || '/' || (SELECT count(*) FROM journey.events)
                   || '/' || (SELECT string_agg(customer_id, ',' ORDER BY id) FROM journey.enrollments)")"
check "keys include customer_id" \
  "activity_pkey (customer_id, enrollment_id, visit)|enrollments_pkey (customer_id, id)|events_idempotency_key_key (customer_id, idempotency_key)|events_pkey (customer_id, id)|message_events_pkey (customer_id, id)|messages_enrollment_id_visit_key (customer_id, enrollment_id, visit)|messages_pkey (customer_id, id)|suppressions_pkey (customer_id, id)" \
  "$(c "SELECT string_agg(conname || ' ' || regexp_replace(pg_get_constraintdef(oid), '^[A-Z ]+ ', ''), '|' ORDER BY conname)
          FROM pg_constraint WHERE contype IN ('p', 'u') AND conrelid IN
               (SELECT logicalrelid FROM pg_dist_partition WHERE partmethod = 'h' AND logicalrelid::text LIKE 'journey.%')
           AND conname NOT LIKE 'segment_members%'")"
check "foreign keys to definitions kept" "enrollments_journey_id_fkey,enrollments_journey_id_version_fkey,journeys_audience_fkey,segment_members_journey_id_version_fkey" \
  "$(c "SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint WHERE contype = 'f'
          AND conrelid::regclass::text IN ('journey.enrollments', 'journey.segment_members', 'journey.journeys')")"
for port in $CITUS_WORKER_PORTS; do
  check "worker $port reads the audience by its own OID" "customers|customers|true" \
    "$(cq "$port" "SELECT relation::text || '|' || (SELECT audience::text FROM journey.journeys WHERE name = 'welcome')
                          || '|' || (SELECT bool_and(audience = 'customers'::regclass) FROM journey.events)
                     FROM journey.audiences WHERE relation::text = 'customers'")"
  check "worker $port: owners are its roles" "postgres" \
    "$(cq "$port" "SELECT string_agg(DISTINCT owner::text, ',') FROM journey.journeys")"
  check "worker $port: its sequences have a node range" "t" \
    "$(cq "$port" "SELECT bool_and(seqmin = ((SELECT groupid FROM pg_dist_local_group)::bigint << 42) + 1)
                     FROM pg_sequence WHERE seqrelid IN ('journey.enrollments_id_seq'::regclass,
                          'journey.events_id_seq'::regclass, 'journey.messages_id_seq'::regclass)")"
done
expect_state "refused on a worker node" 55000 "$w1" "SELECT journey.distribute('customers')"
check "a row inserted on a worker takes its id from the worker's range" "t" \
  "$(cq "$w1" "WITH i AS (INSERT INTO journey.events (customer_id, name) VALUES ('c3', 'from_worker') RETURNING id)
               SELECT (id >> 42) = (SELECT groupid FROM pg_dist_local_group) AND (id >> 42) > 0 FROM i")"
before=$(c "SELECT (SELECT count(*) FROM journey.enrollments) || '/' || (SELECT count(*) FROM journey.events)
                   || '/' || (SELECT string_agg(customer_id, ',' ORDER BY id) FROM journey.enrollments)")
# What a call changes in pg_journey's catalog entries, on every node: a row
# rewritten or made again (a constraint dropped and added, a view replaced, a
# function altered or distributed again) changes its xmin or OID.
ddl_marks() {
  local port out=""
  for port in $CITUS_PORTS; do
    out="$out $port:$(cq "$port" "SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (
        SELECT 'c' || oid || ':' || xmin FROM pg_constraint WHERE connamespace = 'journey'::regnamespace
        UNION ALL SELECT 'r' || r.oid || ':' || r.xmin FROM pg_rewrite r JOIN pg_class k ON k.oid = r.ev_class
                   WHERE k.relnamespace = 'journey'::regnamespace
        UNION ALL SELECT 't' || t.oid || ':' || t.xmin FROM pg_trigger t JOIN pg_class k ON k.oid = t.tgrelid
                   WHERE k.relnamespace = 'journey'::regnamespace
        UNION ALL SELECT 'p' || oid || ':' || xmin FROM pg_proc WHERE pronamespace = 'journey'::regnamespace
        UNION ALL SELECT 's' || seqrelid || ':' || xmin FROM pg_sequence
        UNION ALL SELECT 'o' || objid || ':' || xmin FROM pg_dist_object) f(x)")"
  done
  echo "$out"
}
marks=$(ddl_marks)
check "a second call changes nothing" "|$before" \
  "$(c "SELECT journey.distribute('customers')" 2>&1)|$(c "SELECT (SELECT count(*) FROM journey.enrollments) || '/' || (SELECT count(*) FROM journey.events)
                   || '/' || (SELECT string_agg(customer_id, ',' ORDER BY id) FROM journey.enrollments)")"
# attack-13d F9: the second call dropped and added foreign keys on every node.
check "a second call makes no DDL on any node" "$marks" "$(ddl_marks)"
# Shard cleanup and DROP TABLE run pg_journey's sql_drop guard on the workers,
# which must not read the audiences (a reference table) from a shard drop.
check "drop a distributed table that is no audience" "" \
  "$(c "CREATE TABLE scratch (id text PRIMARY KEY); SELECT create_distributed_table('scratch', 'id'); DROP TABLE scratch" 2>&1 | grep -i error)"

# A shard move (the whole co-located group) keeps every row, and the cleanup
# of the old placements (which drops shards on a worker) completes.
check "shard group moved, rows kept, old placements cleaned up" "ok|$before|0" \
  "$(c "SELECT citus_move_shard_placement(s.shardid, '$CITUS_DIR', $w1, '$CITUS_DIR', $w2, shard_transfer_mode => 'block_writes')
          FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
         WHERE s.logicalrelid = 'customers'::regclass AND n.nodeport = $w1 ORDER BY s.shardid LIMIT 1" >/dev/null && echo ok
   )|$(c "SELECT (SELECT count(*) FROM journey.enrollments) || '/' || (SELECT count(*) FROM journey.events)
                   || '/' || (SELECT string_agg(customer_id, ',' ORDER BY id) FROM journey.enrollments)")|$(
   PGOPTIONS="-c client_min_messages=warning" c "CALL citus_cleanup_orphaned_resources()" 2>&1; c "SELECT count(*) FROM pg_dist_cleanup" 2>&1)"

# A node added later gets pg_journey from Citus with the single-node keys and
# sequences from 1; a second call gives it the keys and its id range, and the
# rebalancer moves shard groups onto it with every row kept.
n4=$((CITUS_PORT_BASE + 3))
citus_node_start "$n4" && citus_psql "$n4" "CREATE DATABASE $CITUS_DB" postgres \
  && citus_psql "$n4" "CREATE EXTENSION citus" && CITUS_PORTS="$CITUS_PORTS $n4" \
  && c "SELECT citus_add_node('$CITUS_DIR', $n4)" >/dev/null
seq_and_key="SELECT ((SELECT seqmin FROM pg_sequence WHERE seqrelid = 'journey.enrollments_id_seq'::regclass)
                 = ((SELECT groupid FROM pg_dist_local_group)::bigint << 42) + 1)::text
              || '|' || (SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'enrollments_pkey')"
check "a node added later: single-node keys and sequence" "false|PRIMARY KEY (id)" "$(cq "$n4" "$seq_and_key")"
check "a node added later, after a second call: keys and id range" "true|PRIMARY KEY (customer_id, id)" \
  "$(c "SELECT journey.distribute('customers')" >/dev/null; cq "$n4" "$seq_and_key")"
check "rebalanced onto the new node, rows kept" "t|$before" \
  "$(c "SELECT rebalance_table_shards(shard_transfer_mode => 'block_writes')" >/dev/null 2>&1
     c "SELECT count(*) > 0 FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid) WHERE n.nodeport = $n4")|$(
   c "SELECT (SELECT count(*) FROM journey.enrollments) || '/' || (SELECT count(*) FROM journey.events)
                   || '/' || (SELECT string_agg(customer_id, ',' ORDER BY id) FROM journey.enrollments)")"
check "the node added later reads the definitions by its own OIDs" "customers|customers" \
  "$(cq "$n4" "SELECT relation::text || '|' || (SELECT audience::text FROM journey.journeys WHERE name = 'welcome')
                 FROM journey.audiences WHERE relation::text = 'customers'")"
marks=$(ddl_marks)
check "a further call, with the added node prepared, makes no DDL on any node" "$marks" \
  "$(c "SELECT journey.distribute('customers')" >/dev/null; ddl_marks)"

# attack-13d F9: distribute called again (the add-a-node step) while the
# application tracks events on every node: no call fails (the second call's
# DDL made tracks fail with 40P01 deadlock detected).
cat >"$CITUS_DIR/track.pgb" <<'EOF'
\set n random(1, 40)
SELECT journey.track('c' || :n, 'clicked');
EOF
for port in $CITUS_PORTS; do
  "$PGBIN/pgbench" -n -h "$CITUS_DIR" -p "$port" -U postgres -c 2 -T 12 -f "$CITUS_DIR/track.pgb" "$CITUS_DB" \
    >"$CITUS_DIR/pgbench-$port.out" 2>&1 &
done
sleep 2
calls=0; call_errors=0
end=$((SECONDS + 8))
while [ $SECONDS -lt $end ]; do
  calls=$((calls + 1))
  c "SELECT journey.distribute('customers')" >/dev/null 2>&1 || call_errors=$((call_errors + 1))
done
wait
load=""
for port in $CITUS_PORTS; do
  load="$load $(grep -c 'ERROR\|aborted' "$CITUS_DIR/pgbench-$port.out")/$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$CITUS_DIR/pgbench-$port.out")"
done
echo "  ($calls calls of distribute under track load; pgbench:$(sed -n 's/^number of transactions actually processed: //p' "$CITUS_DIR"/pgbench-*.out | tr '\n' ' '))"
check "distribute again under track load on every node: no call fails" "0| 0/0 0/0 0/0 0/0" "$call_errors|$load"

citus_test_finish
