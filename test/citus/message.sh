#!/usr/bin/env bash
# journey.message_event on the distributed install (issue 13, docs/scale-out.md),
# called on the coordinator with a message id only: every kind (delivered,
# opened, clicked, bounced hard and soft, complained, unsubscribed of a channel
# and of every channel), a transactional journey and not, replays, errors, in a
# transaction (committed, rolled back), as a journey_app role; its effects
# (message_events row, suppression, enrollment ending, the event through track,
# pending messages withdrawn, the wait of a "message_of" woken) land once, on the
# customer's shards, run on the node that owns the customer. A single-node
# database on the coordinator gets the same calls: the states must be equal.
# Then two message_event calls for one message at once, and message_event
# against claim_messages. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/citus/lib.bash
citus_test_start || exit 1

SINGLE=pgj_single
c() { cq "$PGPORT" "$1"; }
s() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$CITUS_DIR" -p "$PGPORT" -U postgres -d "$SINGLE" -c "$1"; }
w1=${CITUS_WORKER_PORTS%% *}
w2=${CITUS_WORKER_PORTS##* }
# Engine times in the past: claim_messages hands out messages due by now().
T0="2020-01-01 09:00:00+00"

setup="
CREATE TABLE customers (id text PRIMARY KEY, email text);
INSERT INTO customers SELECT 'c' || i, 'c' || i || '@example.com' FROM generate_series(1, 40) i;
SELECT journey.register_audience('customers', 'id', 'email');
SELECT journey.create_template('invite', 'email', 'Invite', 'Come, {{email}}');
SELECT journey.create_template('news', 'email', 'News', 'News for {{email}}');
-- a wait for the open of the invite (message_of), a goal when it comes
SELECT journey.import('{\"name\": \"followup\", \"audience\": \"customers\", \"start\": \"invite\",
  \"steps\": [{\"key\": \"invite\", \"type\": \"send_email\", \"template\": \"invite\", \"next\": \"wait\"},
             {\"key\": \"wait\", \"type\": \"wait_for_event\", \"event\": \"opened\", \"message_of\": \"invite\",
              \"timeout\": \"3 days\", \"branches\": {\"event\": \"thanks\", \"timeout\": \"done\"}},
             {\"key\": \"thanks\", \"type\": \"goal\", \"next\": \"done\"},
             {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
SELECT journey.publish('followup');
-- two sends a day apart; a click (the event through track) exits
SELECT journey.import('{\"name\": \"drip\", \"audience\": \"customers\", \"start\": \"one\",
  \"exit\": [{\"type\": \"event\", \"event\": \"clicked\", \"name\": \"clicked\"}],
  \"steps\": [{\"key\": \"one\", \"type\": \"send_email\", \"template\": \"news\", \"next\": \"pause\"},
             {\"key\": \"pause\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"two\"},
             {\"key\": \"two\", \"type\": \"send_email\", \"template\": \"news\"}]}'::jsonb);
SELECT journey.publish('drip');
-- the same, transactional: unsubscribers stay
SELECT journey.import('{\"name\": \"receipts\", \"audience\": \"customers\", \"start\": \"one\",
  \"settings\": {\"transactional\": true},
  \"steps\": [{\"key\": \"one\", \"type\": \"send_email\", \"template\": \"news\", \"next\": \"pause\"},
             {\"key\": \"pause\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"two\"},
             {\"key\": \"two\", \"type\": \"send_email\", \"template\": \"news\"}]}'::jsonb);
SELECT journey.publish('receipts');
CREATE ROLE sender LOGIN;
GRANT journey_app TO sender;
"
c "CREATE EXTENSION pg_journey" >/dev/null
citus_psql_all "GRANT journey_app TO journey_worker" >/dev/null
c "$setup" >/dev/null || exit 1
c "SELECT journey.distribute('customers')" >/dev/null || exit 1
c "CREATE DATABASE $SINGLE" >/dev/null || exit 1
s "CREATE EXTENSION pg_journey" >/dev/null
s "${setup/CREATE ROLE sender LOGIN;/}" >/dev/null || exit 1

# Customers of each worker node: a1.. on w1, b1.. on w2.
on_node() {  # port, n: the first n customers (in number order) that node owns
  c "SELECT string_agg(id, ' ' ORDER BY substr(id, 2)::int) FROM (
       SELECT t.id FROM customers t
         JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('customers', t.id)
         JOIN pg_dist_node n ON n.groupid = p.groupid
        WHERE n.nodeport = $1 ORDER BY substr(t.id, 2)::int LIMIT $2) x"
}
read -r a1 a2 a3 a4 a5 a6 a7 a8 a9 <<<"$(on_node "$w1" 9)"
read -r b1 b2 b3 b4 b5 b6 b7 b8 b9 <<<"$(on_node "$w2" 9)"
check "customers on both worker nodes" "9 9" "$(echo $a1 $a2 $a3 $a4 $a5 $a6 $a7 $a8 $a9 | wc -w) $(echo $b1 $b2 $b3 $b4 $b5 $b6 $b7 $b8 $b9 | wc -w)"

enroll="
SELECT journey.enroll('followup', x) FROM unnest(ARRAY['$a1', '$b1']) x;
SELECT journey.enroll('drip', x) FROM unnest(ARRAY['$a2', '$b2', '$a3', '$b3', '$a4', '$b4', '$a5', '$b5', '$a6', '$b6', '$a7', '$b7']) x;
SELECT journey.enroll('receipts', x) FROM unnest(ARRAY['$a8', '$b8', '$a9']) x;
UPDATE journey.enrollments SET entered_at = '$T0', next_run_at = '$T0';"
# Routed one at a time on the distributed install (two calls in one statement are not routed).
for x in $a1 $b1; do c "SELECT journey.enroll('followup', '$x')" >/dev/null; done
for x in $a2 $b2 $a3 $b3 $a4 $b4 $a5 $b5 $a6 $b6 $a7 $b7; do c "SELECT journey.enroll('drip', '$x')" >/dev/null; done
for x in $a8 $b8 $a9; do c "SELECT journey.enroll('receipts', '$x')" >/dev/null; done
c "UPDATE journey.enrollments SET entered_at = '$T0', next_run_at = '$T0'" >/dev/null
s "$enroll" >/dev/null

tick() {  # as_of: the tick on both worker nodes, and on the single node
  for p in $w1 $w2; do cq "$p" "SELECT journey.run_due(1000, '$1')" >/dev/null; done
  s "SELECT journey.run_due(1000, '$1')" >/dev/null
}
both() {  # sql: on the coordinator of the distributed install, then on the single node
  c "$1" >/dev/null
  s "$1" >/dev/null
}
tick "$T0"
both "SELECT journey.complete_message(m.id, true) FROM journey.claim_messages('email', 100) m"
check "the first sends claimed and sent" "17 17" \
  "$(c "SELECT count(*) FROM journey.messages WHERE status = 'sent'") $(s "SELECT count(*) FROM journey.messages WHERE status = 'sent'")"

# The id of the message of (journey, customer, step) in database db-fn (read
# first: a call inside a query on the customer's shard would run there).
mid() { $1 "SELECT m.id FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
             WHERE j.name = '$2' AND m.customer_id = '$3' AND m.step_key = '$4'"; }
msg() { mid c "$@"; }
# message_event on the coordinator (its id read first: one statement, one call)
# and on the single node; prints "<distributed result> <single result>" with
# each result 'id' (a number) or the error's SQLSTATE.
me_call() {  # db-fn journey customer step kind [props]
  local db=$1 id out
  id=$(mid "$db" "$2" "$3" "$4")
  out=$(printf '\\set VERBOSITY sqlstate\nSELECT journey.message_event(%s, %s, %s);\n' \
          "${id:-NULL}" "'$5'" "'${6:-{\}}'" \
        | "$PGBIN/psql" -X -q -At -h "$CITUS_DIR" -p "$PGPORT" -U postgres \
            -d "$([ "$db" = c ] && echo "$CITUS_DB" || echo "$SINGLE")" 2>&1)
  case "$out" in ERROR:*) echo "${out#ERROR:  }" ;; [0-9]*) echo id ;; *) echo "?$out" ;; esac
}
ev() {  # name, expected outcome, then me_call's args: that outcome on both
  check "$1" "$2|$2" "$(me_call c "${@:3}")|$(me_call s "${@:3}")"
}
ev "delivered" id followup "$b1" invite delivered
ev "opened: wakes the wait for the invite's open" id followup "$a1" invite opened '{"ua": "x"}'
ev "unsubscribed" id drip "$a2" one unsubscribed
ev "complained" id drip "$b2" one complained
ev "bounced hard" id drip "$a3" one bounced '{"type": "hard"}'
ev "bounced soft" id drip "$b3" one bounced '{"type": "soft"}'
ev "clicked: the exit rule on the event" id drip "$a4" one clicked '{"url": "https://x.test"}'
ev "opened" id drip "$b4" one opened
ev "opened again (recorded each time)" id drip "$b4" one opened
ev "unsubscribed from every channel" id drip "$a5" one unsubscribed '{"scope": "all"}'
ev "unsubscribed from a transactional journey" id receipts "$a8" one unsubscribed
ev "complained about a transactional journey" id receipts "$b8" one complained
ev "unknown kind (22023)" 22023 drip "$b5" one read
ev "bad bounce type (22023)" 22023 drip "$b5" one bounced '{"type": "odd"}'
ev "properties not an object (22023)" 22023 drip "$b5" one opened '[]'
check "unknown message (42704)" "42704" \
  "$(printf '\\set VERBOSITY sqlstate\nSELECT journey.message_event(999999, %s);\n' "'opened'" \
     | "$PGBIN/psql" -X -q -At -h "$CITUS_DIR" -p "$PGPORT" -U postgres -d "$CITUS_DB" 2>&1 | sed 's/^ERROR:  //')"

# Replays return the first event's id and change nothing.
replay() {  # db-fn journey customer step kind [props]: "same" when a second call returns the first's id
  local id again
  id=$(mid "$1" "$2" "$3" "$4")
  again=$($1 "SELECT journey.message_event($id, '$5', '${6:-{\}}')")
  $1 "SELECT CASE WHEN $again = (SELECT min(me.id) FROM journey.message_events me
                                  WHERE me.customer_id = '$3' AND me.message_id = $id
                                    AND me.kind = '$5')
                  THEN 'same' ELSE 'new' END"
}
check "replays (delivered, unsubscribed, complained, bounced hard): the first event's id" \
  "same same same same" \
  "$(replay c followup "$b1" invite delivered) $(replay c drip "$a2" one unsubscribed) $(replay c drip "$b2" one complained) $(replay c drip "$a3" one bounced '{"type": "hard"}')"
s "SELECT journey.message_event($(mid s followup "$b1" invite), 'delivered')" >/dev/null  # the single node's replay

# In a transaction: committed, and rolled back.
for db in c s; do
  $db "BEGIN; SELECT journey.message_event($(mid $db drip "$a6" one), 'opened');
       SELECT journey.message_event($(mid $db drip "$b6" one), 'unsubscribed'); COMMIT;" >/dev/null
  $db "BEGIN; SELECT journey.message_event($(mid $db drip "$a7" one), 'unsubscribed');
       SELECT journey.message_event($(mid $db drip "$b7" one), 'complained'); ROLLBACK;" >/dev/null
done
check "in a transaction, committed: recorded" "opened unsubscribed" \
  "$(c "SELECT string_agg(kind, ' ' ORDER BY customer_id = '$b6') FROM journey.message_events
         WHERE customer_id IN ('$a6', '$b6')")"
check "in a transaction, rolled back: nothing" "0 0 0 active active" \
  "$(c "SELECT count(*) FROM journey.message_events WHERE customer_id IN ('$a7', '$b7')") $(c "SELECT count(*) FROM journey.suppressions WHERE customer_id IN ('$a7', '$b7')") $(c "SELECT count(*) FROM journey.events WHERE customer_id IN ('$a7', '$b7')") $(c "SELECT string_agg(status::text, ' ' ORDER BY customer_id = '$b7') FROM journey.enrollments WHERE customer_id IN ('$a7', '$b7')")"
# As the sender's role (journey_app), a customer of each node.
for db in c s; do
  $db "SET ROLE sender; SELECT journey.message_event($(mid $db drip "$a7" one), 'delivered');
       SELECT journey.message_event($(mid $db drip "$b7" one), 'delivered');" >/dev/null
done
check "as a journey_app role" "delivered delivered" \
  "$(c "SELECT string_agg(kind, ' ') FROM journey.message_events WHERE customer_id IN ('$a7', '$b7')")"

# The second sends a day later: suppressed ones withdrawn by the tick; the
# wait woken by the open reaches its goal.
tick "2020-01-02 10:00:00+00"
both "SELECT journey.complete_message(m.id, true) FROM journey.claim_messages('email', 100) m"
# Pending messages of an unsubscribed customer are withdrawn by the event itself.
tick "2020-01-03 10:00:00+00"
tick "2020-01-05 10:00:00+00"
# A woken wait is due at the time of the message_event call (now).
tick "$(c "SELECT now() + interval '1 minute'")"

# The state, without ids, on both.
state() {  # db-fn
  $1 "SELECT 'e ' || j.name || ' ' || e.customer_id || ' ' || e.status || ' ' || coalesce(e.step_key, '-')
             || ' ' || coalesce(e.exit_reason, '-') || ' ' || (e.converted_at IS NOT NULL)
        FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
      UNION ALL
      SELECT 'm ' || j.name || ' ' || m.customer_id || ' ' || m.step_key || ' ' || m.status
             || ' ' || coalesce(m.reason, '-')
        FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
      UNION ALL
      SELECT 'x ' || j.name || ' ' || x.customer_id || ' ' || x.step_key || ' ' || x.kind || ' ' || x.properties::text
             || ' ' || (x.message_id = m.id AND x.enrollment_id = m.enrollment_id)
        FROM journey.message_events x JOIN journey.journeys j ON j.id = x.journey_id
        JOIN journey.messages m ON m.customer_id = x.customer_id AND m.id = x.message_id
      UNION ALL
      SELECT 'v ' || v.customer_id || ' ' || v.name || ' ' || (v.properties - 'message_id')::text
             || ' ' || (v.properties->>'message_id' IS NOT NULL)
        FROM journey.events v
      UNION ALL
      SELECT 's ' || p.customer_id || ' ' || coalesce(p.channel, '*') || ' ' || p.reason || ' '
             || (p.source ~ '^message [0-9]+$')
        FROM journey.suppressions p
      UNION ALL
      SELECT 'a ' || j.name || ' ' || a.customer_id || ' ' || a.step_key || ' ' || a.visit || ' '
             || a.outcome || ' ' || coalesce(a.reason, '-')
        FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
      ORDER BY 1"
}
dist=$(state c)
single=$(state s)
check "the same enrollments, messages, message events, events, suppressions and activity as on the single node" \
  "$single" "$dist"
# Exact values of the effects (the single node's too, by the check above).
sel() { echo "$dist" | grep -E "$1" | tr '\n' ';'; }
check "delivered: recorded once (a replay changed nothing)" \
  "x followup $b1 invite delivered {} true;" "$(sel "^x followup $b1 ")"
check "opened the invite: the wait woke, goal reached" \
  "e followup $a1 completed done - true;" "$(sel "^e followup $a1 ")"
check "not opened: the wait timed out" "e followup $b1 completed done - false;" "$(sel "^e followup $b1 ")"
check "unsubscribed: suppression of the channel, enrollment exited, nothing more sent" \
  "e drip $a2 exited pause unsubscribed false;|s $a2 email unsubscribed true;|m drip $a2 one sent -;" \
  "$(sel "^e drip $a2 ")|$(sel "^s $a2 ")|$(sel "^m drip $a2 ")"
check "complained: suppression of the channel, enrollment exited" \
  "e drip $b2 exited pause complained false;|s $b2 email complained true;" \
  "$(sel "^e drip $b2 ")|$(sel "^s $b2 ")"
check "bounced hard: suppression, the next message suppressed by the tick" \
  "e drip $a3 completed two - false;|s $a3 email bounced true;|m drip $a3 one sent -;m drip $a3 two suppressed suppression: bounced;" \
  "$(sel "^e drip $a3 ")|$(sel "^s $a3 ")|$(sel "^m drip $a3 ")"
check "bounced soft: no suppression, the next message sent" \
  "|m drip $b3 one sent -;m drip $b3 two sent -;" "$(sel "^s $b3 ")|$(sel "^m drip $b3 ")"
check "clicked: the event's exit rule ended the enrollment" \
  "e drip $a4 exited pause clicked false;|v $a4 clicked {\"url\": \"https://x.test\", \"channel\": \"email\", \"journey\": \"drip\", \"step_key\": \"one\"} true;" \
  "$(sel "^e drip $a4 ")|$(sel "^v $a4 ")"
check "opened twice: two rows, two events" "2 2" \
  "$(sel "^x drip $b4 one opened" | tr ';' '\n' | grep -c .) $(sel "^v $b4 opened" | tr ';' '\n' | grep -c .)"
check "unsubscribed from every channel" "s $a5 * unsubscribed true;" "$(sel "^s $a5 ")"
check "transactional journey: the unsubscriber stays, its next message sent" \
  "e receipts $a8 completed two - false;|s $a8 email unsubscribed true;|m receipts $a8 one sent -;m receipts $a8 two sent -;" \
  "$(sel "^e receipts $a8 ")|$(sel "^s $a8 ")|$(sel "^m receipts $a8 ")"
check "transactional journey: a complaint ends it" \
  "e receipts $b8 exited pause complained false;|m receipts $b8 one sent -;" \
  "$(sel "^e receipts $b8 ")|$(sel "^m receipts $b8 ")"
check "every ended enrollment has its activity row, once" "0" \
  "$(c "SELECT count(*) FROM journey.enrollments e WHERE e.status <> 'active' AND
          (SELECT count(*) FROM journey.activity a WHERE a.customer_id = e.customer_id
            AND a.enrollment_id = e.id AND a.outcome = e.status::text) <> 1")"
misplaced() {  # table: rows not on the shard of their customer
  c "SELECT coalesce(sum(result::int), 0) FROM run_command_on_shards('$1',
       \$\$SELECT count(*) FROM %s x
          WHERE get_shard_id_for_distribution_column('$1', x.customer_id)::text
                <> regexp_replace(x.tableoid::regclass::text, '^.*_', '')\$\$)"
}
for table in journey.message_events journey.suppressions journey.events journey.enrollments journey.activity journey.messages; do
  check "$table: every row on its customer's shard" "0" "$(misplaced "$table")"
done
check "message events and events written on the owning node (ids from its range)" "0 0" \
  "$(c "SELECT count(*) FROM journey.message_events x JOIN pg_dist_placement p
          ON p.shardid = get_shard_id_for_distribution_column('journey.message_events', x.customer_id)
         WHERE p.groupid <> (x.id >> 42)") $(c "SELECT count(*) FROM journey.events x JOIN pg_dist_placement p
          ON p.shardid = get_shard_id_for_distribution_column('journey.events', x.customer_id)
         WHERE p.groupid <> (x.id >> 42) AND x.name IN ('opened', 'clicked', 'delivered', 'bounced', 'complained', 'unsubscribed')")"
# Concurrency: two calls for one message at once; message_event against a claim.
c "SELECT journey.enroll('receipts', '$b9')" >/dev/null
for p in $w1 $w2; do cq "$p" "SELECT journey.run_due()" >/dev/null; done
m9=$(msg receipts "$b9" one)
expect_state "a pending message: never handed out" 55000 "$PGPORT" "SELECT journey.message_event($m9, 'opened')"
running() {  # waits (up to 60 s) until a session of the coordinator sleeps in pg_sleep
  local i
  for i in $(seq 1 600); do
    [ "$(c "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'")" = 1 ] && return 0
    sleep 0.1
  done
  return 1
}
# a claim holds the message (its transaction open); message_event waits for it and
# then finds it claimed
c "BEGIN; SELECT count(*) FROM journey.claim_messages('email', 100); SELECT pg_sleep(3); COMMIT;" >/tmp/pgj-cm-claim.$$ 2>&1 &
claim=$!
running
during=$(c "SELECT journey.message_event($m9, 'delivered')" 2>&1)
wait $claim
check "message_event waits for a claim of its message, then records against the claimed message" \
  "1 claimed 1" \
  "$(echo "$during" | grep -c '^[0-9]*$') $(c "SELECT status FROM journey.messages WHERE id = $m9") $(c "SELECT count(*) FROM journey.message_events WHERE message_id = $m9")"
# two unsubscribes of one message at once: recorded once, one suppression, one ending
c "BEGIN; SELECT journey.message_event($m9, 'complained'); SELECT pg_sleep(3); COMMIT;" >/tmp/pgj-cm-first.$$ 2>&1 &
first=$!
running
second=$(c "SELECT journey.message_event($m9, 'complained')" 2>&1)
wait $first
check "two calls for one message at once: the second returns the first's event, nothing doubled" \
  "$(head -1 /tmp/pgj-cm-first.$$)|1|1|1|1|exited" \
  "$second|$(c "SELECT count(*) FROM journey.message_events WHERE message_id = $m9 AND kind = 'complained'")|$(c "SELECT count(*) FROM journey.suppressions WHERE customer_id = '$b9'")|$(c "SELECT count(*) FROM journey.events WHERE customer_id = '$b9' AND name = 'complained'")|$(c "SELECT count(*) FROM journey.activity WHERE customer_id = '$b9' AND outcome = 'exited'")|$(c "SELECT status FROM journey.enrollments WHERE customer_id = '$b9'")"
rm -f /tmp/pgj-cm-claim.$$ /tmp/pgj-cm-first.$$

# The ending statement (src/pg/ending.cpp) on a shard finds the enrollment and
# its activity by customer and id, the shard's keys: its plan (auto_explain, on
# the node that owns the customer, the shards holding 20,000 parked
# enrollments and their activity, analyzed) reads enrollments_<id> and activity_<id> only
# through an index condition on customer_id.
c "SELECT journey.import('{\"name\": \"hold\", \"audience\": \"customers\", \"start\": \"d\",
     \"steps\": [{\"key\": \"d\", \"type\": \"delay\", \"duration\": \"7 days\", \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('hold')" >/dev/null
for x in $a1 $a2; do c "SELECT journey.enroll('hold', '$x')" >/dev/null; done
c "INSERT INTO journey.enrollments (journey_id, version, customer_id, step_key, status, entered_at,
                                    parked_at, next_run_at)
   SELECT j.id, 1, 'x' || g, 'd', 'active', now(), now(), '2100-01-01'
     FROM generate_series(1, 20000) g, journey.journeys j WHERE j.name = 'hold';
   INSERT INTO journey.activity (enrollment_id, journey_id, version, customer_id, step_key, step_type, visit, at, outcome)
   SELECT e.id, e.journey_id, 1, e.customer_id, 'd', 'delay', 1, now(), 'moved'
     FROM journey.enrollments e WHERE e.customer_id LIKE 'x%'" >/dev/null
c "ANALYZE journey.enrollments" >/dev/null
c "ANALYZE journey.activity" >/dev/null
check "20,000 parked enrollments and their activity beside them" "20000 20000" \
  "$(c "SELECT count(*) FROM journey.enrollments WHERE customer_id LIKE 'x%'") $(c "SELECT count(*) FROM journey.activity WHERE customer_id LIKE 'x%'")"
cq "$w1" "SELECT journey.run_due()" >/dev/null
explained() {  # sql on w1: the plans of the ending's statements (lock and end), as auto_explain gives them
  printf '%s\n' "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;
    SET auto_explain.log_nested_statements = on; SET auto_explain.log_level = notice;
    SET citus.explain_distributed_queries = off; $1" \
    | "$PGBIN/psql" -X -q -At -h "$CITUS_DIR" -p "$w1" -U postgres -d "$CITUS_DB" 2>&1 \
    | awk '/^NOTICE:/ { keep = 0 } /Query Text: .*(end enrollments|FOR UPDATE OF e|ORDER BY e.id FOR UPDATE)/ { keep = 1 } keep'
}
scans_without_customer() {  # plans: the scans of an enrollments or activity shard not by customer_id
  awk '/Scan.* on (enrollments|activity)_[0-9]+/ { if (scan != "") print scan; scan = $0; next }
       scan != "" && /Index Cond: .*customer_id =/ { scan = ""; next }
       scan != "" && /(Scan|Result|Join|Loop|Aggregate|CTE|Sort|Insert|Update|Unique|LockRows)/ { print scan; scan = "" }
       END { if (scan != "") print scan }' | sed 's/^ *//' | sort | uniq -c | tr -s ' ' | tr '\n' ';'
}
id1=$(c "SELECT e.id FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
          WHERE j.name = 'hold' AND e.customer_id = '$a1'")
plans=$(explained "SELECT journey._end_customer_enrollments('$a1', ARRAY[$id1::bigint], ARRAY['exited'], ARRAY['manual'])")
check "the ending on a shard (journey.exit, track, re-entry): its plans were read" "2" \
  "$(echo "$plans" | grep -c 'Query Text:')"
check "the ending on a shard finds enrollments and activity by customer and id (no scan)" "" \
  "$(echo "$plans" | scans_without_customer)"
[ -z "$(echo "$plans" | scans_without_customer)" ] || echo "$plans"
check "the ending ended it" "exited manual" \
  "$(c "SELECT status || ' ' || exit_reason FROM journey.enrollments WHERE customer_id = '$a1' AND id = $id1")"
# The customer-table trigger's (a deleted customer, the DELETE run on its shard).
plans=$(explained "DELETE FROM customers_$(c "SELECT get_shard_id_for_distribution_column('customers', '$a2')") WHERE id = '$a2'")
check "the trigger's ending of a deleted customer on its shard: plans read" "2" \
  "$(echo "$plans" | grep -c 'Query Text:')"
check "the trigger's ending on a shard finds enrollments and activity by customer and id (no scan)" "" \
  "$(echo "$plans" | scans_without_customer)"
check "the trigger ended it" "exited customer_deleted" \
  "$(c "SELECT e.status || ' ' || e.exit_reason FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
         WHERE j.name = 'hold' AND e.customer_id = '$a2'")"

citus_test_finish
