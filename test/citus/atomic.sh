#!/usr/bin/env bash
# Atomicity of pg_journey's calls that write on more than one node (issue 13,
# attack-13b G2; docs/scale-out.md, "Atomicity: two-phase commit"). A call that
# Citus does not route (enroll or track inside an expression, enroll_query,
# exit, message_event, archive, the scheduled triggers) sends its work to each
# customer's node as a query on the customer's shard; that work must commit on
# every node or on none, with Citus's two-phase commit, and a statement that
# fails must leave nothing on any node, as on a single node. Each check failed
# before: the nodes' parts committed one-phase, one after the other (a node
# failing at commit left the others' parts committed and the client got
# COMMIT), and an autocommit enroll_query's parts committed on each node as they
# ran.
# Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/citus/lib.bash
citus_test_start || exit 1

# Statements $1 on the coordinator in one psql session: everything psql prints
# (errors, and Citus's log of the commands it sends: citus.log_remote_commands).
run() {
  printf '%s\n' "$1" | "$PGBIN/psql" -X -q -At -h "$CITUS_DIR" -p "$PGPORT" -U postgres -d "$CITUS_DB" 2>&1
}
# The ports of the nodes Citus sent command $2 to ("PREPARE TRANSACTION",
# "COMMIT PREPARED", ...), from run's output $1, sorted, comma-separated.
sent_to() {  # output command
  echo "$1" | awk -v cmd="NOTICE:  issuing $2" '
    index($0, "NOTICE:  issuing ") == 1 { hit = (index($0, cmd) == 1) }
    index($0, "DETAIL:  on server ") == 1 && hit { sub(/ connectionId.*/, ""); sub(/.*:/, ""); print; hit = 0 }' \
    | sort -u | paste -sd,
}
# The first error of run's output $1, as "ERROR:  message".
first_error() { echo "$1" | grep -m1 '^ERROR:' ; }
log_on="SET citus.log_remote_commands = on;"

c "CREATE EXTENSION pg_journey" >/dev/null
c "CREATE TABLE customers (id text PRIMARY KEY, email text);
   INSERT INTO customers SELECT i::text, 'c' || i || '@x.test' FROM generate_series(1, 60) i" >/dev/null
c "SELECT journey.register_audience('customers', 'id', 'email')" >/dev/null
c "SELECT journey.create_template('hello', 'email', 'Hi', 'Hello')" >/dev/null
# j: a send, then a day's delay: its enrollments stay active (the workers are
# off; ticks by hand).
c "SELECT journey.import('{\"name\": \"j\", \"audience\": \"customers\", \"start\": \"s\",
     \"steps\": [{\"key\": \"s\", \"type\": \"send_email\", \"template\": \"hello\", \"next\": \"d\"},
                {\"key\": \"d\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb)" >/dev/null
c "SELECT journey.publish('j')" >/dev/null
c "SELECT journey.distribute('customers')" >/dev/null
citus_psql_all "GRANT journey_app TO journey_worker" >/dev/null

# Customers of each worker node (8 of each, in id order), and the node of a shard.
node_customers() {  # port
  c "SELECT string_agg(quote_literal(id), ',' ORDER BY id) FROM (
       SELECT t.id FROM customers t
         JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('customers', t.id)
         JOIN pg_dist_node n ON n.groupid = p.groupid
        WHERE n.nodeport = $1 ORDER BY t.id LIMIT 8) x"
}
on1=$(node_customers "$w1")
on2=$(node_customers "$w2")
a1=$(echo "$on1" | cut -d, -f1); a2=$(echo "$on2" | cut -d, -f1)
b1=$(echo "$on1" | cut -d, -f2); b2=$(echo "$on2" | cut -d, -f2)
enrolled() {  # customers (a literal list)
  c "SELECT count(*) FROM journey.enrollments WHERE customer_id IN ($1)"
}
prepared() {  # prepared transactions left on the worker nodes
  echo "$(cq "$w1" "SELECT count(*) FROM pg_prepared_xacts")|$(cq "$w2" "SELECT count(*) FROM pg_prepared_xacts")"
}

# 1. A transaction with enrolls Citus does not route (inside an expression),
# customers of both worker nodes, where one node's part fails at commit: a
# deferred trigger on that node's shard refuses the customer when its
# transaction ends (as a failing disk or constraint would). Nothing committed
# on either node; the client gets the error.
shard2=$(c "SELECT shard_name('journey.enrollments', get_shard_id_for_distribution_column('journey.enrollments', $a2))")
cq "$w2" "SET citus.enable_ddl_propagation = off; SET citus.enable_manual_changes_to_shards = on;
  CREATE FUNCTION public.fail_at_commit() RETURNS trigger LANGUAGE plpgsql
    AS \$\$BEGIN RAISE EXCEPTION 'node fails at commit'; END\$\$;
  CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT ON $shard2
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.customer_id = $a2)
    EXECUTE FUNCTION public.fail_at_commit()" >/dev/null
out=$(run "$log_on
  BEGIN;
  SELECT journey.enroll('j', $a1) IS NOT NULL;
  SELECT journey.enroll('j', $a2) IS NOT NULL;
  COMMIT;")
check "non-routed enrolls on two nodes, one node failing at commit: two-phase, the error reaches the client" \
  "$w1,$w2|ERROR:  node fails at commit" "$(sent_to "$out" "PREPARE TRANSACTION")|$(first_error "$out")"
check "... and nothing is enrolled on either node, no prepared transaction left" "0|0|0" \
  "$(enrolled "$a1,$a2")|$(prepared)"

# The same, the node killed (kill -9 of its postmaster) before COMMIT: nothing
# committed on the live node either.
pid2=$(head -1 "$CITUS_DIR/node-$w2/postmaster.pid")
out=$(run "$log_on
  BEGIN;
  SELECT journey.enroll('j', $b1) IS NOT NULL;
  SELECT journey.enroll('j', $b2) IS NOT NULL;
  \\! kids=\$(ps -o pid= --ppid $pid2); kill -9 $pid2; for k in \$kids; do while kill -0 \$k 2>/dev/null; do sleep 0.1; done; done
  COMMIT;")
citus_as_user "$PGBIN/pg_ctl" -D "$CITUS_DIR/node-$w2" -l "$CITUS_DIR/server-$w2.log" -w -t 60 start >/dev/null 2>&1
check "non-routed enrolls on two nodes, one node killed before COMMIT: the commit fails" \
  "t" "$(first_error "$out" | grep -q 'connection\|server closed\|terminat' && echo t)"
check "... nothing enrolled on the live node nor on the restarted one, no prepared transaction left" "0|0|0" \
  "$(enrolled "$b1,$b2")|$(prepared)"

# 2. An autocommit enroll_query whose part on one node fails: the second worker
# node's shard of journey.enrollments is locked by another session (a slow or
# blocked node), the statement times out there after the first node's
# customers were enrolled: nobody enrolled on any node.
c1=$(echo "$on1" | cut -d, -f3); d1=$(echo "$on1" | cut -d, -f4); c2=$(echo "$on2" | cut -d, -f3)
shard_c2=$(c "SELECT shard_name('journey.enrollments', get_shard_id_for_distribution_column('journey.enrollments', $c2))")
mkfifo "$CITUS_DIR/lock_in"
"$PGBIN/psql" -X -q -At -h "$CITUS_DIR" -p "$w2" -U postgres -d "$CITUS_DB" <"$CITUS_DIR/lock_in" >"$CITUS_DIR/lock_out" 2>&1 &
exec 9>"$CITUS_DIR/lock_in"
echo "BEGIN; SET LOCAL citus.enable_manual_changes_to_shards = on;
      LOCK TABLE $shard_c2 IN ACCESS EXCLUSIVE MODE; SELECT 'locked';" >&9
deadline=$((SECONDS + 60))
until grep -q '^locked$' "$CITUS_DIR/lock_out" || [ $SECONDS -gt $deadline ]; do sleep 0.1; done
# The first node's customers first: its part is done before the blocked one.
# (LIMIT: the keys come back in this order; without it Citus pushes enroll_query's
# array_agg down to the shards and they come back by shard.)
out=$(run "$log_on
  SET statement_timeout = '3s';
  SELECT journey.enroll_query('j', \$q\$SELECT id FROM customers WHERE id IN ($c1, $d1, $c2)
                                      ORDER BY id = $c2, id LIMIT 3\$q\$);")
echo "COMMIT;" >&9
exec 9>&-
check "autocommit enroll_query, one node's part blocked: the statement times out" \
  "ERROR:  canceling statement due to statement timeout" "$(first_error "$out")"
check "... and opened a transaction block on each node it wrote" "$w1,$w2" "$(sent_to "$out" "BEGIN")"
check "... nobody enrolled on any node, no prepared transaction left" "0|0|0" \
  "$(enrolled "$c1,$d1,$c2")|$(prepared)"
out=$(run "$log_on SELECT journey.enroll_query('j', \$q\$SELECT id FROM customers WHERE id IN ($c1, $d1, $c2)\$q\$);")
check "the same enroll_query once the node is free: enrolled on both nodes, two-phase" "3|$w1,$w2|3" \
  "$(echo "$out" | grep -v '^NOTICE\|^DETAIL' | head -1)|$(sent_to "$out" "PREPARE TRANSACTION")|$(enrolled "$c1,$d1,$c2")"
# A call that writes on one node only commits there one-phase (no PREPARE):
# two-phase commit costs only where a transaction spans nodes.
out=$(run "$log_on SELECT journey.enroll_query('j', \$q\$SELECT id FROM customers WHERE id IN ($b1)\$q\$);")
check "an enroll_query of one node's customers: one-phase COMMIT on that node" "1||$w1" \
  "$(echo "$out" | grep -v '^NOTICE\|^DETAIL' | head -1)|$(sent_to "$out" "PREPARE TRANSACTION")|$(sent_to "$out" "COMMIT")"

# 3. exit and message_event (neither routed: no customer argument) in one
# transaction, the message's customer on one node and the enrollment's on the
# other: both parts commit two-phase; so does a transaction of a routed enroll
# and a non-routed exit (before, the routed write lost its two-phase commit too).
e1=$(echo "$on1" | cut -d, -f5); e2=$(echo "$on2" | cut -d, -f5); f2=$(echo "$on2" | cut -d, -f6)
c "SELECT journey.enroll('j', $e1)" >/dev/null
c "SELECT journey.enroll('j', $e2)" >/dev/null
for port in "$w1" "$w2"; do cq "$port" "SELECT journey.run_due(100, as_of => now())" >/dev/null; done
c "SELECT count(*) FROM journey.claim_messages('email', 100)" >/dev/null
m1=$(c "SELECT id FROM journey.messages WHERE customer_id = $e1")
x2=$(c "SELECT id FROM journey.enrollments WHERE customer_id = $e2")
out=$(run "$log_on
  BEGIN;
  SELECT journey.message_event($m1, 'clicked') IS NOT NULL;
  SELECT journey.exit($x2);
  COMMIT;")
check "message_event and exit in one transaction, customers of both nodes: PREPARE TRANSACTION on both" \
  "$w1,$w2|$w1,$w2|" \
  "$(sent_to "$out" "PREPARE TRANSACTION")|$(sent_to "$out" "COMMIT PREPARED")|$(first_error "$out")"
check "... both committed" "1|exited" \
  "$(c "SELECT count(*) FROM journey.message_events WHERE message_id = $m1 AND kind = 'clicked'")|$(
     c "SELECT status FROM journey.enrollments WHERE id = $x2")"
x1=$(c "SELECT id FROM journey.enrollments WHERE customer_id = $e1")
out=$(run "$log_on
  BEGIN;
  SELECT journey.enroll('j', $f2);
  SELECT journey.exit($x1);
  COMMIT;")
check "a routed enroll and a non-routed exit in one transaction, customers of both nodes: PREPARE TRANSACTION on both" \
  "$w1,$w2||1|exited" "$(sent_to "$out" "PREPARE TRANSACTION")|$(first_error "$out")|$(enrolled "$f2")|$(
     c "SELECT status FROM journey.enrollments WHERE id = $x1")"

# 4. Later statements of the transaction see what such a call wrote (its node's
# connection is the one that wrote there): exit, then the enrollment's status.
x3=$(c "SELECT id FROM journey.enrollments WHERE customer_id = $c2 AND status = 'active'")
out=$(run "BEGIN;
  SELECT journey.exit($x3);
  SELECT status FROM journey.enrollments WHERE id = $x3;
  SELECT count(*) FROM journey.enrollments WHERE customer_id = $c2 AND status = 'exited';
  COMMIT;")
check "exit in a transaction: later statements of the transaction see it" "exited|1" "$(echo "$out" | grep -v '^$' | paste -sd'|')"

citus_test_finish
