#!/usr/bin/env bash
# journeyctl deliver against the coordinator when a node fails (attack-13b G4,
# G8; docs/scale-out.md, "When a worker node is down"), with a real SMTP sink:
# - a worker node down: claim_messages fails on a healthy coordinator
#   connection with 08006 "connection to the remote node ... failed": deliver
#   prints that message (naming the node), keeps its connections, claims again
#   with backoff and delivers everything once the node is back; with
#   --exit-when-idle it exits 1 after --give-up-after;
# - the coordinator killed (-9) and restarted while deliver runs (Citus may
#   answer the COMMIT with a plain XX000 error first): deliver reconnects and
#   goes on; what it had claimed is requeued; every message delivered once.
# Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/citus/lib.bash
citus_test_start || exit 1

J=$("${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" --bindir)/journeyctl
J=${JOURNEYCTL:-$J}
PY=/usr/bin/python3  # Debian's, with python3-aiosmtpd
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
  citus_cluster_stop
}
trap cleanup EXIT
wait_for() {  # shell condition; up to 60 s
  local deadline=$((SECONDS + 60))
  until eval "$1" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}
has() { case "$1" in *"$2"*) echo yes ;; *) echo "no: $1" ;; esac; }
mails() { find "$work/smtp" -name 'mail-*.eml' | wc -l; }
doubles() {
  find "$work/smtp" -name 'mail-*.eml' -exec grep -h '^X-Journey-Message-ID:' {} + | sort | uniq -d | wc -l
}
counts() {  # sent/claimed/pending of journey $1
  c "SELECT count(*) FILTER (WHERE m.status = 'sent') || '/' || count(*) FILTER (WHERE m.status = 'claimed')
            || '/' || count(*) FILTER (WHERE m.status = 'pending')
       FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id WHERE j.name = '$1'"
}
backends() {
  c "SELECT coalesce(string_agg(pid::text, ',' ORDER BY pid), '') FROM pg_stat_activity
      WHERE application_name = 'journeyctl' AND datname = '$CITUS_DB'"
}
alive() { kill -0 "$1" 2>/dev/null && echo running || echo exited; }
node() {  # stop|start PORT
  if [ "$1" = stop ]; then
    citus_as_user "$PGBIN/pg_ctl" -D "$CITUS_DIR/node-$2" -m fast -w stop >/dev/null
  else
    citus_as_user "$PGBIN/pg_ctl" -D "$CITUS_DIR/node-$2" -l "$CITUS_DIR/server-$2.log" -w -t 60 start >/dev/null
  fi
}

mkdir -p "$work/smtp"
"$PY" test/integration/smtp_sink.py "$work/smtp" >"$work/smtp.log" 2>&1 &
pids+=($!)
wait_for "test -s $work/smtp/port"
send=(-h "$CITUS_DIR" -p "$PGPORT" -U postgres -d "$CITUS_DB" --smtp-url "smtp://127.0.0.1:$(cat "$work/smtp/port")"
      --smtp-tls off --from 'Shop <news@shop.example>' --progress 0)
export JOURNEYCTL_TRACKING_SECRET=track-secret

# 20 messages of journey news, 30 of journey blast (paused until its part),
# made before the conversion, on both worker nodes after it.
c "CREATE EXTENSION pg_journey" >/dev/null
citus_psql_all "GRANT journey_app TO journey_worker" >/dev/null
c "CREATE TABLE customers (id text PRIMARY KEY, email text);
   INSERT INTO customers SELECT 'c' || i, 'c' || i || '@example.com' FROM generate_series(1, 50) i;
   SELECT journey.register_audience('customers', 'id', 'email');
   SELECT journey.create_template('hello', 'email', 'Hello', 'Hello {{email}}');
   SELECT journey.import('{\"name\": \"news\", \"audience\": \"customers\", \"start\": \"s\",
     \"steps\": [{\"key\": \"s\", \"type\": \"send_email\", \"template\": \"hello\"}]}');
   SELECT journey.publish('news');
   SELECT journey.import('{\"name\": \"blast\", \"audience\": \"customers\", \"start\": \"s\",
     \"steps\": [{\"key\": \"s\", \"type\": \"send_email\", \"template\": \"hello\"}]}');
   SELECT journey.publish('blast');
   SELECT count(journey.enroll('news', 'c' || i)) FROM generate_series(1, 20) i;
   SELECT count(journey.enroll('blast', 'c' || i)) FROM generate_series(21, 50) i;
   SELECT journey.run_due();
   SELECT journey.pause('blast');" >/dev/null
c "SELECT journey.distribute('customers')" >/dev/null
check "set-up: messages pending on both worker nodes" "0/0/20 0/0/30 2" \
  "$(counts news) $(counts blast) $(c "SELECT count(DISTINCT n.nodeport) FROM journey.messages m
     JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('journey.messages', m.customer_id)
     JOIN pg_dist_node n ON n.groupid = p.groupid")"

# --- a worker node down --------------------------------------------------------
node stop "$w2"
start=$SECONDS
"$J" deliver "${send[@]}" --exit-when-idle --give-up-after 3 2>"$work/idle.log"
rc=$?
check "node down, --exit-when-idle: exit 1 after --give-up-after" "1 yes" \
  "$rc $([ $((SECONDS - start)) -le 30 ] && echo yes)"
check "naming the node that is down" yes \
  "$(grep -q "journeyctl: error: email: claiming failed for 3 s (--give-up-after 3): connection to the remote node .*:$w2 failed" "$work/idle.log" && echo yes)"
node start "$w2"
check "nothing claimed or sent" "0/0/20" "$(counts news)"
node stop "$w2"

"$J" deliver "${send[@]}" --concurrency 2 --poll-ms 100 --requeue-after 3 2>"$work/down.log" &
dpid=$!
pids+=($dpid)
wait_for "grep -q 'remote node' $work/down.log"
check "the server's message is printed, naming the node" yes \
  "$(grep -q "journeyctl deliver: email: claiming failed (the database connection is fine): connection to the remote node .*:$w2 failed" "$work/down.log" && echo yes)"
before=$(backends)
sleep 3  # each worker claims again after 1 s, then 2 s, on the same connections
after=$(backends)
check "the coordinator connections are kept: 3 (2 workers, the requeue), the same" "3 $before" \
  "$(echo "$after" | tr ',' '\n' | grep -c .) $after"
check "no lost-connection line" no "$(grep -q 'lost the database connection' "$work/down.log" && echo yes || echo no)"
node start "$w2"
wait_for "[ \"\$(counts news)\" = 20/0/0 ]"
check "node back: every message delivered once" "20/0/0 20 0" "$(counts news) $(mails) $(doubles)"
check "it says the database answers again" yes "$(has "$(cat "$work/down.log")" "email: the database answers again")"
kill -TERM $dpid; wait $dpid
check "and stops cleanly" 0 "$?"

# --- the coordinator killed (-9) while deliver runs ----------------------------
c "SELECT journey.resume('blast')" >/dev/null
"$J" deliver "${send[@]}" --concurrency 2 --batch 5 --rate 10 --poll-ms 100 --requeue-after 3 \
  2>"$work/kill.log" &
dpid=$!
pids+=($dpid)
wait_for "[ \$(mails) -ge 26 ]"
kill -9 "$(head -1 "$CITUS_DIR/node-$PGPORT/postmaster.pid")"
# Its backends go when they notice; then it starts (crash recovery).
deadline=$((SECONDS + 60))
until node start "$PGPORT" 2>/dev/null; do [ $SECONDS -ge $deadline ] && break; sleep 0.5; done
check "coordinator restarted" 0 "$(c "SELECT 0")"
wait_for "[ \"\$(counts blast)\" = 30/0/0 ]"
check "coordinator killed and restarted under it: every message sent, none claimed or pending" \
  "30/0/0" "$(counts blast)"
check "each delivered once (50 mails, no message id twice)" "50 0" "$(mails) $(doubles)"
check "deliver still runs" running "$(alive $dpid)"
kill -TERM $dpid; wait $dpid
check "and stops cleanly" 0 "$?"

citus_test_finish
