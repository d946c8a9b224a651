#!/usr/bin/env bash
# Ids and audiences on a distributed install (attack-13b G6, G3, G7; docs/scale-out.md,
# "Ids on a distributed install", "Adding and removing worker nodes", "Audiences on a
# distributed install"): node id ranges are (group << 42) + n, below 2^53 for a node of
# group 41 (reached by add/remove cycles; with << 48 it started past 2^53), warned about
# past 2^53; a node drained and removed keeps every row; register_audience refuses, on
# the coordinator and with pg_journey's own error, a table that is not distributed by
# its key co-located with journey.enrollments (a reference table, a local table,
# another colocation, a bigint key); an audience that is not co-located anyway (a row
# written by hand) gets an error from enroll_query instead of a stack overflow, and
# distribute stays possible; an install distributed with << 48 keeps that layout.
# Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/citus/lib.bash
citus_test_start || exit 1

# Statements $1 on the coordinator: "ok", or the error as "ERROR:  SQLSTATE: message"
# with its DETAIL and HINT lines, and any WARNING.
run() {
  printf '\\set VERBOSITY verbose\n\\set SHOW_CONTEXT never\n%s;\n\\echo ok\n' "$1" \
    | "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$CITUS_DIR" -p "$PGPORT" -U postgres -d "$CITUS_DB" 2>&1 \
    | grep -v '^LOCATION: '
}

c "CREATE EXTENSION pg_journey" >/dev/null
citus_psql_all "GRANT journey_app TO journey_worker" >/dev/null
c "CREATE TABLE customers (id text PRIMARY KEY, email text);
   INSERT INTO customers SELECT 'c' || i, 'c' || i || '@x' FROM generate_series(1, 40) i;
   SELECT journey.register_audience('customers', 'id', 'email');
   SELECT journey.distribute('customers');" >/dev/null || exit 1

# G6: node ranges (group << 42) + 1 .. ((group + 1) << 42) - 1; the coordinator's
# sequences capped below group 1's range.
ranges="SELECT string_agg(DISTINCT (seqmin = (g << 42) + 1 AND seqmax = ((g + 1) << 42) - 1)::text, ',')
          FROM pg_sequence, (SELECT groupid::bigint g FROM pg_dist_local_group) x
         WHERE seqrelid IN ('journey.enrollments_id_seq'::regclass, 'journey.events_id_seq'::regclass,
                            'journey.messages_id_seq'::regclass, 'journey.suppressions_id_seq'::regclass,
                            'journey.message_events_id_seq'::regclass)"
check "every worker node's sequences: (group << 42) + 1 up to the next group's" "true|true" \
  "$(cq "$w1" "$ranges")|$(cq "$w2" "$ranges")"
check "the coordinator's sequences: at most 2^42 - 1" "4398046511103" \
  "$(c "SELECT string_agg(DISTINCT seqmax::text, ',') FROM pg_sequence
         WHERE seqrelid IN ('journey.enrollments_id_seq'::regclass, 'journey.events_id_seq'::regclass,
                            'journey.messages_id_seq'::regclass, 'journey.suppressions_id_seq'::regclass,
                            'journey.message_events_id_seq'::regclass)")"
first_w1=$(cq "$w1" "SELECT seqmin FROM pg_sequence WHERE seqrelid = 'journey.messages_id_seq'::regclass")

# A node of group 41, as many add/remove cycles leave it (Citus never reuses a
# group id): its ids stay below 2^53 (with << 48 they started at 2^53 * 1.28).
n4=$((CITUS_PORT_BASE + 3))
citus_node_start "$n4" || exit 1
citus_psql "$n4" "CREATE DATABASE $CITUS_DB" postgres >/dev/null
citus_psql "$n4" "CREATE ROLE journey_worker LOGIN" postgres >/dev/null
cq "$n4" "CREATE EXTENSION citus" >/dev/null
CITUS_PORTS="$CITUS_PORTS $n4"
c "SELECT setval('pg_catalog.pg_dist_groupid_seq', 40)" >/dev/null
c "SELECT citus_add_node('$CITUS_DIR', $n4)" >/dev/null
check "the new node is group 41" "41" "$(c "SELECT groupid FROM pg_dist_node WHERE nodeport = $n4")"
check "distribute for the new node: no warning, the range given said in one notice" \
  "NOTICE:  00000: id range given: node $CITUS_DIR:$n4: enrollments_id_seq, events_id_seq, message_events_id_seq, messages_id_seq, suppressions_id_seq from the coordinator's range to group 41's, (41 << 42) + 1 up
DETAIL:  each node's sequences of the tables distributed by customer hand out the ids of its Citus group's range (docs/scale-out.md, \"Ids on a distributed install\")
ok" "$(run "DO \$\$ BEGIN PERFORM journey.distribute('customers'); END \$\$")"
cq "$n4" "GRANT journey_app TO journey_worker" >/dev/null
check "the new node's sequences: (41 << 42) + 1 up to group 42's" "true" "$(cq "$n4" "$ranges")"
check "the older nodes keep their ranges" "$first_w1" \
  "$(cq "$w1" "SELECT seqmin FROM pg_sequence WHERE seqrelid = 'journey.messages_id_seq'::regclass")"
c "SELECT rebalance_table_shards(shard_transfer_mode => 'block_writes')" >/dev/null 2>&1
on4=$(c "SELECT min(t.id) FROM customers t
          JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('customers', t.id)
          JOIN pg_dist_node n ON n.groupid = p.groupid WHERE n.nodeport = $n4")
c "SELECT journey.import('{\"name\": \"w\", \"audience\": \"customers\", \"start\": \"d\",
     \"steps\": [{\"key\": \"d\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('w');" >/dev/null
id4=$(c "SELECT journey.enroll('w', '$on4')")
check "an enrollment made on the group 41 node: id from its range, below 2^53" "41|true" \
  "$(c "SELECT ($id4::bigint >> 42) || '|' || ($id4::bigint < (1::bigint << 53))")"
check "with << 48, distribute would have warned about that node" \
"WARNING:  01000: ids made on node $CITUS_DIR:$n4 pass 2^53: its range starts at 11540474045136897
DETAIL:  a node's ids are (Citus group id << 48) + n, and this node is group 41; JSON readers that hold numbers as doubles (JavaScript) cannot keep them exact: message_id in payloads and events, the webhook Idempotency-Key
HINT:  read these ids as strings in such consumers (docs/scale-out.md, \"Ids on a distributed install\")
ok" "$(run "DO \$\$ BEGIN PERFORM journey._citus_warn_id_ranges(48); END \$\$")"

# Removing a node (docs/scale-out.md, "Adding and removing worker nodes"): drain, then remove.
c "SELECT journey.enroll_query('w', 'SELECT id FROM customers')" >/dev/null
before=$(c "SELECT count(*) || '/' || count(DISTINCT id) || '/' || sum(id % 1000003) FROM journey.enrollments")
check "drain and remove the node" "ok" \
  "$(run "SELECT citus_drain_node('$CITUS_DIR', $n4, shard_transfer_mode => 'block_writes');
          SELECT citus_remove_node('$CITUS_DIR', $n4)" | tail -1)"
check "after the removal: every enrollment kept, ids unique" "$before" \
  "$(c "SELECT count(*) || '/' || count(DISTINCT id) || '/' || sum(id % 1000003) FROM journey.enrollments")"
check "after the removal: enroll and track on the remaining nodes" "t" \
  "$(c "INSERT INTO customers VALUES ('new1', 'n@x')" >/dev/null
     c "SELECT journey.enroll('w', 'new1') IS NOT NULL AND journey.track('$on4', 'ping') IS NOT NULL")"

# G3: a reference table.
c "SET client_min_messages = warning;
   CREATE TABLE leads (id text PRIMARY KEY, email text);
   INSERT INTO leads SELECT 'l' || i, 'l' || i || '@x' FROM generate_series(1, 20) i;
   SELECT create_reference_table('leads');" >/dev/null
check "a reference table is refused" \
"ERROR:  55000: cannot register audience public.leads: on a distributed install it must be distributed by its key column \"id\", co-located with journey.enrollments
DETAIL:  public.leads is a Citus reference table
HINT:  SELECT undistribute_table('public.leads'); SELECT create_distributed_table('public.leads', 'id', colocate_with => 'journey.enrollments'); then register it (docs/scale-out.md, \"Audiences on a distributed install\")" \
  "$(run "SELECT journey.register_audience('leads', 'id', 'email')")"

# G7: a local table of the coordinator (refused there, not by a worker's 42P01).
c "CREATE TABLE prospects (id text PRIMARY KEY, email text)" >/dev/null
check "a local table is refused on the coordinator" \
"ERROR:  55000: cannot register audience public.prospects: on a distributed install it must be distributed by its key column \"id\", co-located with journey.enrollments
DETAIL:  public.prospects is a local table of this node: the worker nodes, which hold the customers' enrollments, cannot read it
HINT:  distribute it first: SELECT create_distributed_table('public.prospects', 'id', colocate_with => 'journey.enrollments'); then register it (docs/scale-out.md, \"Audiences on a distributed install\")" \
  "$(run "SELECT journey.register_audience('prospects', 'id', 'email')")"

# Distributed by the key but in another colocation group; a bigint key. (A table
# distributed by another column has no unique index on its key alone: refused as
# on a single node, 42P10.)
c "CREATE TABLE guests (id text PRIMARY KEY, email text);
   SELECT create_distributed_table('guests', 'id', colocate_with => 'none');
   CREATE TABLE numbered (id bigint PRIMARY KEY, email text);" >/dev/null
check "distributed by its key, not co-located, is refused" \
"ERROR:  55000: cannot register audience public.guests: on a distributed install it must be distributed by its key column \"id\", co-located with journey.enrollments
DETAIL:  public.guests is distributed by its key column, but not co-located with journey.enrollments" \
  "$(run "SELECT journey.register_audience('guests', 'id', 'email')" | grep -v '^HINT')"
check "a bigint key is refused, the hint says to key it by text first" \
"ERROR:  55000: cannot register audience public.numbered: on a distributed install it must be distributed by its key column \"id\", co-located with journey.enrollments
DETAIL:  public.numbered is a local table of this node: the worker nodes, which hold the customers' enrollments, cannot read it; its key column \"id\" is bigint, and customer ids are text
HINT:  key it by text first (docs/scale-out.md, \"A CRM keyed by bigint\"), then distribute it first: SELECT create_distributed_table('public.numbered', 'id', colocate_with => 'journey.enrollments'); then register it (docs/scale-out.md, \"Audiences on a distributed install\")" \
  "$(run "SELECT journey.register_audience('numbered', 'id', 'email')")"
check "nothing of the refused tables registered, on any node" "customers|customers|customers" \
  "$(for p in $PGPORT $CITUS_WORKER_PORTS; do cq "$p" "SELECT string_agg(relation::text, ',') FROM journey.audiences"; done | paste -sd'|')"

# The recipe: distributed by the key, co-located with journey.enrollments.
c "SET client_min_messages = warning;
   CREATE TABLE vips (id text PRIMARY KEY, email text);
   INSERT INTO vips SELECT 'v' || i, 'v' || i || '@x' FROM generate_series(1, 20) i;
   SELECT create_distributed_table('vips', 'id', colocate_with => 'journey.enrollments');" >/dev/null
check "the documented recipe is accepted; enroll_query on it" "ok|20" \
  "$(run "SELECT journey.register_audience('vips', 'id', 'email');
          SELECT journey.import('{\"name\": \"vip\", \"audience\": \"vips\", \"start\": \"done\",
            \"steps\": [{\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
          SELECT journey.publish('vip')" | tail -1)|$(
     c "SELECT journey.enroll_query('vip', 'SELECT id FROM vips')")"

# G3's loop: a reference table in journey.audiences anyway (a row written by hand,
# as a registration made before the refusal left it): enroll_query raises instead of
# sending _enroll_group to itself until the stack overflows; distribute still works
# once the row is gone.
c "INSERT INTO journey.audiences (relation, key_column, email_column, registered_by, id, recipients)
   VALUES ('leads', 'id', 'email', 'postgres', 'leads'::regclass::oid, '{\"email\": \"email\"}');
   SELECT journey.import('{\"name\": \"nurture\", \"audience\": \"leads\", \"start\": \"done\",
     \"steps\": [{\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('nurture');" >/dev/null
check "a non-co-located audience: enroll_query raises, no stack overflow" \
"ERROR:  55000: cannot enroll customers of audience public.leads: it is not distributed by its key column co-located with journey.enrollments" \
  "$(run "SELECT journey.enroll_query('nurture', 'SELECT id FROM leads')" | head -1)"
check "... and enrolled nobody" "0" \
  "$(c "SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'nurture'")"
c "SELECT journey.archive('nurture'); SELECT journey.drop_journey('nurture');
   SELECT journey.unregister_audience('leads')" >/dev/null
check "distribute again works" "ok" "$(run "DO \$\$ BEGIN PERFORM journey.distribute('customers'); END \$\$")"

# An install an earlier build distributed (ranges (group << 48) + n, the coordinator's
# sequences not lowered, as made here by hand): distribute keeps that layout for every
# node (restarting no sequence), mixing none.
old_layout=$(cat <<'SQL'
DO $do$ DECLARE g bigint := (SELECT groupid FROM pg_dist_local_group); s regclass; BEGIN
  SET LOCAL citus.enable_ddl_propagation = off;
  FOR s IN SELECT journey._citus_runtime_sequences() LOOP
    IF g = 0 THEN
      EXECUTE format('ALTER SEQUENCE %s NO MAXVALUE', s);
    ELSE
      EXECUTE format('ALTER SEQUENCE %s MINVALUE %s MAXVALUE %s START WITH %s RESTART WITH %s', s,
                     (g << 48) + 1, ((g + 1) << 48) - 1, (g << 48) + 1, (g << 48) + 1);
    END IF;
  END LOOP;
END $do$
SQL
)
for p in $PGPORT $CITUS_WORKER_PORTS; do cq "$p" "$old_layout" >/dev/null; done
c "INSERT INTO customers VALUES ('new2', 'n2@x'), ('new3', 'n3@x')" >/dev/null
c "SELECT journey.enroll_query('w', \$\$SELECT id FROM customers WHERE id IN ('new2', 'new3')\$\$)" >/dev/null
used="SELECT last_value || '/' || is_called FROM journey.enrollments_id_seq"
used_before="$(cq "$w1" "$used")|$(cq "$w2" "$used")"
check "an install distributed with << 48: distribute again" "ok" \
  "$(run "DO \$\$ BEGIN PERFORM journey.distribute('customers'); END \$\$")"
check "... keeps << 48 on every worker node, the coordinator's sequences lowered to (1 << 48) - 1" \
  "true|true|281474976710655" \
  "$(cq "$w1" "${ranges//42/48}")|$(cq "$w2" "${ranges//42/48}")|$(
     c "SELECT string_agg(DISTINCT seqmax::text, ',') FROM pg_sequence
         WHERE seqrelid IN (SELECT journey._citus_runtime_sequences())")"
check "... and restarts no sequence" "$used_before" "$(cq "$w1" "$used")|$(cq "$w2" "$used")"

citus_test_finish
