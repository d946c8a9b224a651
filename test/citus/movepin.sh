#!/usr/bin/env bash
# Writes by message id called on a worker node while a shard group moves onto it
# (attack-13d F1, docs/citus-notes.md "A multi-shard UPDATE on a move's target"):
# the messages of one shard group are claimed on the coordinator, then the group
# is moved (citus_move_shard_placement, block_writes) while
# journey.complete_message is called once per message (one statement a call, one
# session) on the move's target node; then the same back the other way. Every
# call succeeds and every message ends sent (unpinned, one call per move missed
# its row: "message N is claimed, not claimed", the message left claimed).
# Then a call once per row of a query on the distributed table gets
# pg_journey's 0A000, not Citus's nested-execution error (attack-13d F5).
# Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/citus/lib.bash
citus_test_start || exit 1

N=${MOVEPIN_CUSTOMERS:-1600}  # customers: about N/8 in each shard group

c "CREATE EXTENSION pg_journey" >/dev/null
citus_psql_all "GRANT journey_app TO journey_worker" >/dev/null
c "CREATE TABLE customers (id text PRIMARY KEY, email text);
   INSERT INTO customers SELECT 'c' || i, 'c' || i || '@example.com' FROM generate_series(1, $N) i;
   SELECT journey.register_audience('customers', 'id', 'email');
   SELECT journey.create_template('hello', 'email', 'Hi', 'Hello {{email}}');
   SELECT journey.distribute('customers');" >/dev/null || exit 1

group_on() {  # port: the first shard group (customers' shard) placed on the node
  c "SELECT min(s.shardid) FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid)
       JOIN pg_dist_node n USING (groupid)
      WHERE s.logicalrelid = 'customers'::regclass AND n.nodeport = $1"
}

# One round: a one-send journey for every customer of group $1, its messages
# claimed on the coordinator, the group moved from $2 to $3 while each message
# is completed on $3.
round() {  # group from to name
  local g=$1 from=$2 to=$3 j=$4 ids n
  c "SELECT journey.import('{\"name\": \"$j\", \"audience\": \"customers\", \"start\": \"s1\",
       \"steps\": [{\"key\": \"s1\", \"type\": \"send_email\", \"template\": \"hello\", \"next\": \"done\"},
                  {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
     SELECT journey.publish('$j');
     SELECT journey.enroll_query('$j', 'SELECT id FROM customers
                                        WHERE get_shard_id_for_distribution_column(''customers'', id) = $g')" \
    >/dev/null || return 1
  cq "$from" "SELECT journey.run_due(100000)" >/dev/null
  ids=$(c "SELECT string_agg(m.id::text, ' ') FROM journey.claim_messages('email', 100000) m")
  n=$(wc -w <<<"$ids")
  ( c "SELECT citus_move_shard_placement($g, '$CITUS_DIR', $from, '$CITUS_DIR', $to,
                                         shard_transfer_mode => 'block_writes')" >/dev/null 2>"$CITUS_DIR/move-$j.err"
    echo $? >"$CITUS_DIR/move-$j.rc" ) &
  for id in $ids; do echo "SELECT journey.complete_message($id, true);"; done \
    | "$PGBIN/psql" -X -q -At -h "$CITUS_DIR" -p "$to" -U postgres -d "$CITUS_DB" >"$CITUS_DIR/complete-$j.out" 2>&1
  wait
  check "$j: the group moved (block_writes) while complete_message ran on the target node" \
    "0|$to|t" "$(cat "$CITUS_DIR/move-$j.rc")$(head -c 300 "$CITUS_DIR/move-$j.err")|$(
      c "SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid) WHERE p.shardid = $g")|$(
      [ "$n" -gt 50 ] && echo t)"
  check "$j: every complete_message call succeeded" "0|" \
    "$(grep -c ERROR "$CITUS_DIR/complete-$j.out")|$(grep ERROR "$CITUS_DIR/complete-$j.out" | head -2)"
  check "$j: all $n messages sent" "$n|$n" \
    "$n|$(c "SELECT count(*) FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
               WHERE j.name = '$j' AND m.status = 'sent'")"
}

g=$(group_on "$w1")
round "$g" "$w1" "$w2" there
c "CALL citus_cleanup_orphaned_resources()" >/dev/null 2>&1
round "$g" "$w2" "$w1" back
c "CALL citus_cleanup_orphaned_resources()" >/dev/null 2>&1
g=$(group_on "$w2")
round "$g" "$w2" "$w1" again

# The same for a multi-shard UPDATE by id alone (requeue_claimed's and archive's
# kind) in a PL/pgSQL function on the target node, after
# journey._citus_hold_moves(NULL): every row updated.
c "CALL citus_cleanup_orphaned_resources()" >/dev/null 2>&1
c "CREATE FUNCTION public.tag_message(p bigint, tag text) RETURNS int LANGUAGE plpgsql AS \$\$
   DECLARE n int;
   BEGIN
     PERFORM journey._citus_hold_moves(NULL);
     UPDATE journey.messages m SET error = tag WHERE m.id = p AND m.status = 'sent';
     GET DIAGNOSTICS n = ROW_COUNT;
     RETURN n;
   END \$\$" >/dev/null
g=$(group_on "$w1")
ids=$(c "SELECT string_agg(id::text, ' ') FROM journey.messages
          WHERE get_shard_id_for_distribution_column('customers', customer_id) = $g AND status = 'sent'")
( c "SELECT citus_move_shard_placement($g, '$CITUS_DIR', $w1, '$CITUS_DIR', $w2,
                                       shard_transfer_mode => 'block_writes')" >/dev/null 2>&1 ) &
for id in $ids; do echo "SELECT public.tag_message($id, 'moved');"; done \
  | "$PGBIN/psql" -X -q -At -h "$CITUS_DIR" -p "$w2" -U postgres -d "$CITUS_DB" >"$CITUS_DIR/tag.out" 2>&1
wait
n=$(wc -w <<<"$ids")
check "a multi-shard UPDATE by id after _citus_hold_moves, on the target node during a move: every row" \
  "$n|$n|$w2|t" "$(grep -c '^1$' "$CITUS_DIR/tag.out")|$(c "SELECT count(*) FROM journey.messages WHERE error = 'moved'")|$(
    c "SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid) WHERE p.shardid = $g")|$(
    [ "$n" -gt 200 ] && echo t)"

# complete_message once per row of a query on the distributed table: pg_journey's
# own error (Citus's would recommend citus.allow_nested_distributed_execution).
c "SELECT journey.import('{\"name\": \"rows\", \"audience\": \"customers\", \"start\": \"s1\",
     \"steps\": [{\"key\": \"s1\", \"type\": \"send_email\", \"template\": \"hello\", \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('rows');
   SELECT journey.enroll('rows', 'c' || i) FROM unnest(ARRAY[1, 2, 3]) i" >/dev/null
for p in $w1 $w2; do cq "$p" "SELECT journey.run_due(1000)" >/dev/null; done
c "SELECT count(*) FROM journey.claim_messages('email', 100)" >/dev/null
expect_state "complete_message once per row of a query on journey.messages" 0A000 "$PGPORT" \
  "SELECT count(journey.complete_message(id, true)) FROM journey.messages WHERE status = 'claimed'"
expect_state "message_event once per row of a query on journey.messages" 0A000 "$PGPORT" \
  "SELECT count(journey.message_event(id, 'opened')) FROM journey.messages WHERE status = 'claimed'"
out=$(c "SELECT count(journey.complete_message(id, true)) FROM journey.messages WHERE status = 'claimed'" 2>&1)
check "the per-row error names complete_message and says what works" \
  "ERROR:  journey.complete_message cannot be called once per row of a query on a distributed table|t" \
  "$(echo "$out" | head -1)|$(echo "$out" | grep -q '^HINT:.*unnest' && echo t)"
ids=$(c "SELECT string_agg(m.id::text, ',') FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
          WHERE j.name = 'rows' AND m.status = 'claimed'")
check "the read-first form works: the ids read first, then completed from an array literal" "3|3" \
  "$(c "SELECT count(journey.complete_message(i, true)) FROM unnest('{$ids}'::bigint[]) i")|$(
     c "SELECT count(*) FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
         WHERE j.name = 'rows' AND m.status = 'sent'")"

citus_test_finish
