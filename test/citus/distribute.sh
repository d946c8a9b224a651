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

# The conversion.
check "distribute(customers)" "" "$(c "SELECT journey.distribute('customers')" 2>&1 | grep -v '^NOTICE\|^DETAIL\|^HINT' )"
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
check "a second call changes nothing" "|$before" \
  "$(c "SELECT journey.distribute('customers')" 2>&1)|$(c "SELECT (SELECT count(*) FROM journey.enrollments) || '/' || (SELECT count(*) FROM journey.events)
                   || '/' || (SELECT string_agg(customer_id, ',' ORDER BY id) FROM journey.enrollments)")"
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

citus_test_finish
