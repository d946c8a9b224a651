#!/usr/bin/env bash
# enroll, enroll_query, track and exit on the distributed install (issue 13,
# docs/scale-out.md), called on the coordinator, autocommit and inside explicit
# transactions: routed to the node that owns the customer (Citus distributed
# functions), every statement pinned to the customer, with the single-node
# results, invariants and errors. The customer-table triggers on the shards of
# the distributed audience (attribute entry, condition exit, wait_until, DELETE,
# update_field run by the tick). Then, with the background workers on and a
# long naptime, an enrollment and a tracked wake-up are picked up at once by the
# owning node's worker (the wake-up reaches that node). Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/citus/lib.bash
citus_test_start || exit 1

c "CREATE EXTENSION pg_journey" >/dev/null
citus_psql_all "GRANT journey_app TO journey_worker" >/dev/null
c "CREATE TABLE customers (id text PRIMARY KEY, email text, plan text DEFAULT 'free');
   INSERT INTO customers SELECT 'c' || i, 'c' || i || '@example.com' FROM generate_series(1, 40) i;
   SELECT journey.register_audience('customers', 'id', 'email');
   SELECT journey.create_template('hello', 'email', 'Hi', 'Hello {{email}}');
   -- manual enrollment, re-entry never: a send, a wait for \"paid\", a goal exit rule on \"bought\"
   SELECT journey.import('{\"name\": \"welcome\", \"audience\": \"customers\", \"start\": \"hi\",
     \"exit\": [{\"type\": \"event\", \"event\": \"bought\", \"is_goal\": true}],
     \"steps\": [{\"key\": \"hi\", \"type\": \"send_email\", \"template\": \"hello\", \"next\": \"w\"},
                {\"key\": \"w\", \"type\": \"wait_for_event\", \"event\": \"paid\", \"timeout\": \"7 days\",
                 \"branches\": {\"event\": \"done\", \"timeout\": \"done\"}},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('welcome');
   -- re-entry always: a new enrollment replaces the active one
   SELECT journey.import('{\"name\": \"again\", \"audience\": \"customers\", \"start\": \"d\",
     \"settings\": {\"reentry\": \"always\"},
     \"steps\": [{\"key\": \"d\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('again');
   -- entered by an event, one enrollment per cart
   SELECT journey.import('{\"name\": \"carts\", \"audience\": \"customers\", \"start\": \"d\",
     \"settings\": {\"entity_property\": \"cart_id\"},
     \"entry\": [{\"type\": \"event\", \"event\": \"cart_added\"}],
     \"steps\": [{\"key\": \"d\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('carts');
   -- customer-table triggers: attribute entry, condition exit, wait_until
   SELECT journey.import('{\"name\": \"upgrade\", \"audience\": \"customers\", \"start\": \"w\",
     \"entry\": [{\"type\": \"attribute\", \"when\": {\"field\": \"plan\", \"op\": \"changed_to\", \"value\": \"pro\"}}],
     \"exit\": [{\"type\": \"condition\", \"name\": \"churned\",
                 \"when\": {\"field\": \"plan\", \"op\": \"eq\", \"value\": \"churned\"}}],
     \"steps\": [{\"key\": \"w\", \"type\": \"wait_until\", \"when\": {\"field\": \"plan\", \"op\": \"eq\", \"value\": \"gold\"},
                 \"timeout\": \"7 days\", \"branches\": {\"met\": \"done\", \"timeout\": \"done\"}},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('upgrade');
   -- an update_field step, which the tick runs on the shards (firing the trigger there)
   SELECT journey.import('{\"name\": \"promote\", \"audience\": \"customers\", \"start\": \"set\",
     \"steps\": [{\"key\": \"set\", \"type\": \"update_field\", \"set\": {\"plan\": \"pro\"}, \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('promote');
   SELECT journey.import('{\"name\": \"drafty\", \"audience\": \"customers\", \"start\": \"done\",
     \"steps\": [{\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.distribute('customers');" >/dev/null || exit 1

# The node (port) that owns a customer, by its shard's placement.
owner() {
  c "SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n ON n.groupid = p.groupid
      WHERE p.shardid = get_shard_id_for_distribution_column('customers', '$1')"
}
# Two customers on different worker nodes: a on w1, b on w2 (and more of each).
on_node() {  # port, n: the first n customers (in number order) that node owns
  c "SELECT string_agg(id, ' ' ORDER BY substr(id, 2)::int) FROM (
       SELECT t.id FROM customers t
         JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('customers', t.id)
         JOIN pg_dist_node n ON n.groupid = p.groupid
        WHERE n.nodeport = $1 ORDER BY substr(t.id, 2)::int LIMIT $2) x"
}
read -r a1 a2 a3 a4 a5 a6 a7 a8 a9 <<<"$(on_node "$w1" 9)"
read -r b1 b2 b3 b4 b5 b6 b7 b8 b9 <<<"$(on_node "$w2" 9)"
check "customers on both worker nodes" "$w1 $w2" "$(owner "$a1") $(owner "$b1")"
# The node whose id range an id is in (distribute gives each node (group << 42) + n).
node_of() {  # id
  c "SELECT n.nodeport FROM pg_dist_node n WHERE n.groupid = ($1 >> 42)"
}
enr() {  # customer, journey: status/exit_reason/converted of its enrollments, in id order
  c "SELECT string_agg(e.status || '/' || coalesce(e.exit_reason, '-') || '/' || (e.converted_at IS NOT NULL),
                       ' ' ORDER BY e.id)
       FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
      WHERE e.customer_id = '$1' AND j.name = '$2'"
}

# 1. enroll, autocommit: routed to the owner (the id comes from its node range).
id=$(c "SELECT journey.enroll('welcome', '$a1')")
check "enroll autocommit: runs on the owning node" "$w1" "$(node_of "$id")"
id=$(c "SELECT journey.enroll('welcome', '$b1', '{\"src\": \"ad\"}')")
check "enroll autocommit on the other node, with its context" "$w2 {\"src\": \"ad\"}" \
  "$(node_of "$id") $(c "SELECT context FROM journey.enrollments WHERE customer_id = '$b1' AND id = $id")"
check "enroll again: null (one active enrollment, re-entry never)" "" \
  "$(c "SELECT journey.enroll('welcome', '$a1')")"
# 2. enroll inside a transaction, customers of both nodes, committed together.
out=$(c "BEGIN; SELECT journey.enroll('welcome', '$a2'); SELECT journey.enroll('welcome', '$b2');
         SELECT journey.enroll('welcome', '$a2'); COMMIT;" | tr '\n' ' ')
read -r i1 i2 <<<"$out"
check "enroll in a transaction: each on its owner, the repeat null" "$w1 $w2" "$(node_of "$i1") $(node_of "$i2")"
check "enroll in a transaction: committed" "active/-/false active/-/false" "$(enr "$a2" welcome) $(enr "$b2" welcome)"
check "enroll and track in a transaction: later queries of the transaction see their rows" "1 1" \
  "$(c "BEGIN; SELECT journey.enroll('welcome', '$a9') IS NULL; SELECT journey.track('$a9', 'seen') IS NULL;
        SELECT count(*) FROM journey.enrollments WHERE customer_id = '$a9';
        SELECT count(*) FROM journey.events WHERE customer_id = '$a9' AND name = 'seen'; COMMIT;" | tail -2 | tr '\n' ' ' | sed 's/ $//')"
c "BEGIN; SELECT journey.enroll('welcome', '$a3'); ROLLBACK;" >/dev/null
check "enroll in a transaction rolled back: nothing" "" "$(enr "$a3" welcome)"
# 3. enroll_query: keys of both nodes, a missing one, an enrolled one.
check "enroll_query: the new customers of both nodes" "2" \
  "$(c "SELECT journey.enroll_query('welcome', 'SELECT unnest(ARRAY[''$a3'', ''$b3'', ''$a1'', ''nobody'', ''$a3''])')")"
check "enroll_query: enrolled once each" "active/-/false active/-/false active/-/false" \
  "$(enr "$a3" welcome) $(enr "$b3" welcome) $(enr "$a1" welcome)"
check "enroll_query: each enrolled on its owning node" "$w1 $w2" \
  "$(node_of "$(c "SELECT id FROM journey.enrollments WHERE customer_id = '$a3'")") $(node_of "$(c "SELECT id FROM journey.enrollments WHERE customer_id = '$b3'")")"
# 4. Errors, with the single-node SQLSTATEs.
expect_state "enroll: unknown journey" 42704 "$PGPORT" "SELECT journey.enroll('nope', '$a1')"
expect_state "enroll: draft journey" 55000 "$PGPORT" "SELECT journey.enroll('drafty', '$a1')"
expect_state "enroll: unknown customer" 23503 "$PGPORT" "SELECT journey.enroll('welcome', 'nobody')"
expect_state "enroll in a transaction: unknown customer" 23503 "$PGPORT" \
  "BEGIN; SELECT journey.enroll('welcome', '$b4'); SELECT journey.enroll('welcome', 'nobody'); COMMIT;"
check "the failed transaction enrolled nothing" "" "$(enr "$b4" welcome)"
expect_state "track: unknown customer" 23503 "$PGPORT" "SELECT journey.track('nobody', 'x')"
expect_state "track: no event name" 22004 "$PGPORT" "SELECT journey.track('$a1', '')"
expect_state "exit: unknown enrollment" 42704 "$PGPORT" "SELECT journey.exit(424242)"

# 5. re-entry always: the active enrollment ends "reentered", one active.
c "SELECT journey.enroll('again', '$a4')" >/dev/null
c "BEGIN; SELECT journey.enroll('again', '$a4'); SELECT journey.enroll('again', '$b4'); COMMIT;" >/dev/null
c "SELECT journey.enroll('again', '$b4')" >/dev/null
check "re-entry always: the earlier ended reentered, one active (both nodes)" \
  "exited/reentered/false active/-/false exited/reentered/false active/-/false" \
  "$(enr "$a4" again) $(enr "$b4" again)"
check "re-entry: the ended enrollments' activity rows on their shards" "2" \
  "$(c "SELECT count(*) FROM journey.activity WHERE customer_id IN ('$a4', '$b4') AND reason = 'reentered'")"

# 6. track: idempotency key per customer, autocommit and in a transaction.
e1=$(c "SELECT journey.track('$a1', 'ping', idempotency_key => 'k1')")
check "track autocommit: runs on the owning node" "$w1" "$(node_of "$e1")"
check "track: a repeated idempotency key changes nothing" "" \
  "$(c "SELECT journey.track('$a1', 'ping', idempotency_key => 'k1')")"
out=$(c "BEGIN; SELECT journey.track('$b1', 'ping', idempotency_key => 'k1');
         SELECT journey.track('$b1', 'ping', idempotency_key => 'k1') IS NULL; COMMIT;" | tr '\n' ' ')
read -r e2 dup <<<"$out"
check "track in a transaction: the same key of another customer is another event" "$w2 t" \
  "$(node_of "$e2") $dup"
check "events kept: one per customer and key" "1|1" \
  "$(c "SELECT count(*) FILTER (WHERE customer_id = '$a1'), count(*) FILTER (WHERE customer_id = '$b1')
          FROM journey.events WHERE idempotency_key = 'k1'")"

# 7. track: a goal exit rule converts, autocommit and in a transaction.
c "SELECT journey.track('$a1', 'bought')" >/dev/null
c "BEGIN; SELECT journey.track('$a2', 'bought'); SELECT journey.track('$b2', 'bought'); COMMIT;" >/dev/null
check "goal exit rule: exited, converted (both nodes, in a transaction too)" \
  "exited/exit rule exit[0]/true exited/exit rule exit[0]/true exited/exit rule exit[0]/true" \
  "$(enr "$a1" welcome) $(enr "$a2" welcome) $(enr "$b2" welcome)"
check "goal exit rule: the pending message withdrawn (none sent yet: none)" "0" \
  "$(c "SELECT count(*) FROM journey.messages WHERE customer_id IN ('$a1', '$a2', '$b2') AND status = 'pending'")"

# 8. track: event entry, one enrollment per entity.
c "SELECT journey.track('$b5', 'cart_added', '{\"cart_id\": \"A\"}')" >/dev/null
c "BEGIN; SELECT journey.track('$b5', 'cart_added', '{\"cart_id\": \"B\"}');
   SELECT journey.track('$b5', 'cart_added', '{\"cart_id\": \"A\"}'); COMMIT;" >/dev/null
check "event entry per entity: one enrollment per cart" "A B" \
  "$(c "SELECT string_agg(entity_key, ' ' ORDER BY entity_key) FROM journey.enrollments
         WHERE customer_id = '$b5' AND status = 'active'")"
expect_state "event entry per entity without the entity" 22023 "$PGPORT" \
  "SELECT journey.track('$b5', 'cart_added')"

# 9. wait for an event: the tick on each node parks b3 and a3 at the wait; track wakes them.
for p in $w1 $w2; do cq "$p" "SELECT journey.run_due()" >/dev/null; done
check "waiting for paid" "w/paid w/paid" \
  "$(c "SELECT string_agg(step_key || '/' || waiting_for, ' ' ORDER BY customer_id) FROM journey.enrollments
         WHERE customer_id IN ('$a3', '$b3') AND status = 'active'")"
c "SELECT journey.track('$a3', 'paid')" >/dev/null
c "BEGIN; SELECT journey.track('$b3', 'paid'); COMMIT;" >/dev/null
for p in $w1 $w2; do cq "$p" "SELECT journey.run_due()" >/dev/null; done
check "track woke the waiting enrollments; the tick completed them" "completed/-/false completed/-/false" \
  "$(enr "$a3" welcome) $(enr "$b3" welcome)"

# 10. exit(enrollment_id): the customer found first, then a pinned path.
x1=$(c "SELECT id FROM journey.enrollments WHERE customer_id = '$b1' AND status = 'active'")
c "SELECT journey.exit($x1)" >/dev/null
x2=$(c "SELECT id FROM journey.enrollments WHERE customer_id = '$a4' AND status = 'active'")
x3=$(c "SELECT id FROM journey.enrollments WHERE customer_id = '$b4' AND status = 'active'")
c "BEGIN; SELECT journey.exit($x2, 'bye'); SELECT journey.exit($x3); COMMIT;" >/dev/null
check "exit autocommit and in a transaction" "manual manual: bye manual" \
  "$(c "SELECT string_agg(exit_reason, ' ' ORDER BY x.o) FROM journey.enrollments e
         JOIN unnest(ARRAY[$x1, $x2, $x3]::bigint[]) WITH ORDINALITY x(id, o) ON x.id = e.id
        WHERE e.status = 'exited'")"
check "exit: its pending message withdrawn" "suppressed/exited" \
  "$(c "SELECT string_agg(status || '/' || reason, ' ') FROM journey.messages WHERE enrollment_id = $x1")"
expect_state "exit: already exited" 55000 "$PGPORT" "SELECT journey.exit($x1)"
check "every ended enrollment has its activity row, once" "0" \
  "$(c "SELECT count(*) FROM journey.enrollments e WHERE e.status <> 'active' AND
          (SELECT count(*) FROM journey.activity a WHERE a.customer_id = e.customer_id
            AND a.enrollment_id = e.id AND a.outcome = e.status::text) <> 1")"
for table in journey.enrollments journey.activity journey.events journey.messages; do
  check "$table: every row on its customer's shard" "0" "$(misplaced "$table")"
done

# 10b. As an application role (journey_app), not a superuser.
c "CREATE ROLE pgj_app LOGIN; GRANT journey_app TO pgj_app;" >/dev/null
out=$(c "SET ROLE pgj_app; SELECT journey.enroll('again', '$a9') IS NOT NULL;
         BEGIN; SELECT journey.track('$b9', 'cart_added', '{\"cart_id\": \"Z\"}') IS NOT NULL;
         SELECT journey.enroll('again', '$b9') IS NOT NULL; COMMIT;" 2>&1 | tr '\n' ' ')
x=$(c "SELECT e.id FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
        WHERE j.name = 'again' AND e.customer_id = '$a9'")
out="$out$(c "SET ROLE pgj_app; SELECT journey.exit($x)" 2>&1 | tr '\n' ' ')"
out="$out$(c "SELECT status FROM journey.enrollments WHERE id = $x")"
check "as journey_app: enroll, track in a transaction, exit" "t t t  exited" "$out"

# 11. Customer-table triggers on the shards (a statement on the distributed
# audience fires them on each shard it touches, on that shard's node).
c "UPDATE customers SET plan = 'pro' WHERE id IN ('$a7', '$b7')" >/dev/null
c "BEGIN; UPDATE customers SET plan = 'pro' WHERE id = '$a8'; UPDATE customers SET plan = 'pro' WHERE id = '$b8'; COMMIT;" >/dev/null
check "attribute entry trigger on the shards (multi-shard statement, and in a transaction)" \
  "active/-/false active/-/false active/-/false active/-/false" \
  "$(enr "$a7" upgrade) $(enr "$b7" upgrade) $(enr "$a8" upgrade) $(enr "$b8" upgrade)"
c "UPDATE customers SET email = email || '.x' WHERE id IN ('$a7', '$b7')" >/dev/null
check "a change that does not make the condition true enters no one again" "1|1" \
  "$(c "SELECT count(*) FILTER (WHERE customer_id = '$a7') || '|' || count(*) FILTER (WHERE customer_id = '$b7')
          FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'upgrade'")"
for p in $w1 $w2; do cq "$p" "SELECT journey.run_due()" >/dev/null; done
check "parked at the wait_until step" "w w" \
  "$(c "SELECT string_agg(e.step_key, ' ') FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
         WHERE j.name = 'upgrade' AND e.customer_id IN ('$a7', '$b7') AND e.parked_at IS NOT NULL")"
c "UPDATE customers SET plan = 'gold' WHERE id IN ('$a7', '$b7')" >/dev/null
check "wait_until: the row change makes them due now" "2" \
  "$(c "SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
         WHERE j.name = 'upgrade' AND e.customer_id IN ('$a7', '$b7') AND e.next_run_at <= now()")"
for p in $w1 $w2; do cq "$p" "SELECT journey.run_due()" >/dev/null; done
check "wait_until met: completed" "completed/-/false completed/-/false" "$(enr "$a7" upgrade) $(enr "$b7" upgrade)"
c "BEGIN; UPDATE customers SET plan = 'churned' WHERE id = '$a8'; COMMIT;" >/dev/null
check "condition exit rule on the shard" "exited/churned/false" "$(enr "$a8" upgrade)"
c "DELETE FROM customers WHERE id = '$b8'" >/dev/null
check "a deleted customer's enrollment ends customer_deleted" "exited/customer_deleted/false" "$(enr "$b8" upgrade)"
c "SELECT journey.enroll('promote', '$a9'), journey.enroll('promote', '$b9')" >/dev/null
for p in $w1 $w2; do cq "$p" "SELECT journey.run_due()" >/dev/null; done
check "update_field run by the tick on the shards: the row changed, the attribute trigger entered them" \
  "pro pro completed/-/false completed/-/false active/-/false active/-/false" \
  "$(c "SELECT string_agg(plan, ' ' ORDER BY id) FROM customers WHERE id IN ('$a9', '$b9')") $(enr "$a9" promote) $(enr "$b9" promote) $(enr "$a9" upgrade) $(enr "$b9" upgrade)"
check "every ended enrollment of the triggers has its activity row, once" "0" \
  "$(c "SELECT count(*) FROM journey.enrollments e WHERE e.status <> 'active' AND
          (SELECT count(*) FROM journey.activity a WHERE a.customer_id = e.customer_id
            AND a.enrollment_id = e.id AND a.outcome = e.status::text) <> 1")"
for table in journey.enrollments journey.activity; do
  check "after the triggers, $table: every row on its customer's shard" "0" "$(misplaced "$table")"
done

# 11b. archive ends the active enrollments of both nodes (a row lock across
# shards is refused: each customer's on its node) and withdraws pending messages.
c "SELECT journey.enroll('again', '$a4'), journey.enroll('again', '$b4')" >/dev/null
active_again=$(c "SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
                   WHERE j.name = 'again' AND e.status = 'active'")
check "archive: active enrollments of 'again' on both nodes before it" "yes" \
  "$([ "$active_again" -ge 2 ] && echo yes || echo "no: $active_again")"
c "SELECT journey.archive('again')" >/dev/null
check "archive: every active enrollment exited archived, none left active" "0 $active_again" \
  "$(c "SELECT count(*) FILTER (WHERE e.status = 'active') || ' ' ||
               count(*) FILTER (WHERE e.status = 'exited' AND e.exit_reason = 'archived')
          FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'again'")"
check "archive: the journey is archived" "archived" "$(c "SELECT state FROM journey.journeys WHERE name = 'again'")"
check "archive: each archived enrollment has its exit activity row, once" "0" \
  "$(c "SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
         WHERE j.name = 'again' AND e.exit_reason = 'archived' AND
          (SELECT count(*) FROM journey.activity a WHERE a.customer_id = e.customer_id
            AND a.enrollment_id = e.id AND a.outcome = 'exited') <> 1")"

# 11c. journeyctl against the coordinator: stats, publish and archive read the
# journey's counts without correlated subqueries (which Citus does not plan).
J=$("${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" --bindir)/journeyctl
stats=$("$J" stats welcome --json 2>&1); rc=$?
check "journeyctl stats on the coordinator: exit 0, the totals and steps of the SQL" \
  "0 $(c "SELECT count(*) || ' ' || count(*) FILTER (WHERE e.status = 'active') FROM journey.enrollments e
           JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'welcome'") 3" \
  "$rc $(echo "$stats" | python3 -c 'import json,sys; d=json.load(sys.stdin); t=d["totals"]; print(t["enrolled"], t["active"], len(d["steps"]))' 2>&1)"
"$J" publish drafty --yes >/dev/null 2>&1; rc=$?
check "journeyctl publish on the coordinator" "0 published" "$rc $(c "SELECT state FROM journey.journeys WHERE name = 'drafty'")"
"$J" archive drafty --yes >/dev/null 2>&1; rc=$?
check "journeyctl archive on the coordinator" "0 archived" "$rc $(c "SELECT state FROM journey.journeys WHERE name = 'drafty'")"

# 12. The wake-up reaches the owning node: workers on, naptime 60 s.
citus_psql_all "ALTER SYSTEM SET pg_journey.naptime = '60s'" >/dev/null
citus_psql_all "ALTER SYSTEM SET pg_journey.enabled = on" >/dev/null
citus_psql_all "SELECT pg_reload_conf()" >/dev/null
# The workers' first ticks run what is due now; then they sleep up to 60 s.
wait_for() {  # sql expected seconds
  local deadline=$((SECONDS + $3)) got
  while :; do
    got=$(c "$1")
    [ "$got" == "$2" ] && { echo "$got"; return; }
    [ $SECONDS -ge $deadline ] && { echo "$got"; return; }
    sleep 0.2
  done
}
sleep 3
start=$SECONDS
c "SELECT journey.enroll('welcome', '$a5')" >/dev/null
c "BEGIN; SELECT journey.enroll('welcome', '$b6'); COMMIT;" >/dev/null
c "SELECT journey.enroll_query('welcome', 'SELECT unnest(ARRAY[''$a6'', ''$b5''])')" >/dev/null
check "a new enrollment is picked up by its node's worker at once (autocommit, in a transaction, enroll_query)" \
  "w w w w" "$(wait_for "SELECT coalesce(string_agg(e.step_key, ' ' ORDER BY e.customer_id), '')
                           FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
                          WHERE j.name = 'welcome' AND e.customer_id IN ('$a5', '$b6', '$a6', '$b5')" "w w w w" 20)"
c "SELECT journey.track('$a5', 'paid')" >/dev/null
c "BEGIN; SELECT journey.track('$b6', 'paid'); COMMIT;" >/dev/null
check "a tracked wake-up is picked up by its node's worker at once" "completed completed" \
  "$(wait_for "SELECT string_agg(status::text, ' ' ORDER BY customer_id)
                 FROM journey.enrollments WHERE customer_id IN ('$a5', '$b6')" "completed completed" 20)"
check "well before the 60 s naptime" "yes" "$([ $((SECONDS - start)) -lt 30 ] && echo yes || echo "no: $((SECONDS - start)) s")"

citus_test_finish
