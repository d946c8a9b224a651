#!/usr/bin/env bash
# make bench: journeyctl deliver against the loopback sinks of its tests
# (test/integration/smtp_sink.py, webhook_sink.py, in --count-only mode):
# messages per second with 1 and 8 connections over SMTP (tracking links on)
# and over signed webhooks, and what the outbox costs per message (claim +
# complete) against one delivery round trip, also with a receiver that
# takes 20 ms as one across a network does. Run by tools/bench.sh on its
# throwaway cluster (PGHOST set); PGJ_BENCH_MESSAGES messages a run (2000).
set -euo pipefail
cd "$(dirname "$0")/.."
J=${JOURNEYCTL:-build/journeyctl}
PY=/usr/bin/python3
N=${PGJ_BENCH_MESSAGES:-2000}
DB=pgj_bench_deliver
export PGDATABASE=$DB
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
wait_file() { for _ in $(seq 600); do [ -s "$1" ] && return; sleep 0.1; done; return 1; }

mkdir -p "$work/smtp" "$work/hook"
"$PY" test/integration/smtp_sink.py "$work/smtp" --count-only >"$work/smtp.log" 2>&1 &
pids+=($!)
"$PY" test/integration/webhook_sink.py "$work/hook" bench-secret --count-only >"$work/hook.log" 2>&1 &
pids+=($!)
wait_file "$work/smtp/port"
wait_file "$work/hook/port"
SMTP=smtp://127.0.0.1:$(cat "$work/smtp/port")
HOOK=http://127.0.0.1:$(cat "$work/hook/port")/send

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE EXTENSION pg_journey;
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, first_name text);
INSERT INTO customers SELECT g, 'c' || g || '@example.com', 'C' || g FROM generate_series(1, $N) g;
SELECT journey.register_audience('customers', 'id', email_column => 'email');
SELECT journey.create_template('bench', 'email', 'Hello {{first_name}}',
  '<html><body><p>Hi {{first_name}}, see <a href="https://shop.example/a">this</a> and
   <a href="https://shop.example/b">that</a>.</p></body></html>');
SELECT journey.import('{"name": "bench-mail", "audience": "customers", "settings": {"reentry": "always"},
  "start": "s", "steps": [{"key": "s", "type": "send_email", "template": "bench"}]}');
SELECT journey.publish('bench-mail');
SELECT journey.import('{"name": "bench-hook", "audience": "customers", "settings": {"reentry": "always"},
  "start": "s", "steps": [{"key": "s", "type": "send", "channel": "push",
  "payload": {"title": "Hello {{first_name}}", "body": "A push for you"}}]}');
SELECT journey.publish('bench-hook');
SELECT journey.import('{"name": "bench-slow", "audience": "customers", "settings": {"reentry": "always"},
  "start": "s", "steps": [{"key": "s", "type": "send", "channel": "push",
  "payload": {"title": "Hello {{first_name}}", "mode": "slow20"}}]}');
SELECT journey.publish('bench-slow');
SQL

# Makes N pending messages of a journey.
fill() {
  q "SELECT journey.enroll_query('$1', 'SELECT id FROM customers')" >/dev/null
  while [ "$(q "SELECT journey.run_due(5000)")" -gt 0 ]; do :; done
}

printf '%-8s %11s %10s %14s %17s %17s %12s %13s\n' channel connections "msgs/s" "claim ms/msg" \
  "complete ms/msg" "delivery ms/msg" "outbox share" "smtp sessions"
run() {  # channel connections journey deliver-args...
  local channel=$1 conns=$2 journey=$3; shift 3
  fill "$journey"
  local before_sessions
  before_sessions=$(cat "$work/smtp/connections" 2>/dev/null || echo 0)
  local line
  line=$(JOURNEYCTL_TRACKING_SECRET=bench-track JOURNEYCTL_WEBHOOK_SECRET=bench-secret \
    "$J" deliver --exit-when-idle --progress 0 --batch 50 --concurrency "$conns" "$@" 2>&1 | grep 'done:')
  local sessions=$(($(cat "$work/smtp/connections" 2>/dev/null || echo 0) - before_sessions))
  # "done: sent N, failed 0, retried 0; N messages in S s (R/s); per message: claim A ms, complete B ms, delivery C ms"
  echo "$line" | "$PY" -c '
import re, sys
line = sys.stdin.read()
m = re.search(r"sent (\d+), failed (\d+).*\(([\d.]+)/s\); per message: claim ([\d.]+) ms, complete ([\d.]+) ms, delivery ([\d.]+) ms", line)
if not m:
    print("unexpected output: " + line); sys.exit(1)
sent, failed, rate, claim, complete, delivery = m.groups()
if int(failed):
    print("%s messages failed" % failed); sys.exit(1)
share = (float(claim) + float(complete)) / float(delivery) * 100
print("%-8s %11s %10s %14s %17s %17s %11.1f%% %13s" % (sys.argv[1], sys.argv[2], rate, claim, complete, delivery, share, sys.argv[3]))
' "$channel" "$conns" "$([ "$channel" = smtp ] && echo "$sessions" || echo -)"
}
run smtp 1 bench-mail --smtp-url "$SMTP" --from news@shop.example --tracking-url https://t.shop.example
run smtp 8 bench-mail --smtp-url "$SMTP" --from news@shop.example --tracking-url https://t.shop.example
run webhook 1 bench-hook --webhook "push=$HOOK"
run webhook 8 bench-hook --webhook "push=$HOOK"
# A receiver that takes 20 ms, as a real one across a network does.
run web20ms 1 bench-slow --webhook "push=$HOOK"
run web20ms 8 bench-slow --webhook "push=$HOOK"
echo "($N messages a run; claim and complete are per message: a worker claims 50 at a time and"
echo " completes what it delivered every 100 ms in one transaction; delivery is one SMTP"
echo " transaction or webhook round trip; outbox share = (claim + complete) / delivery;"
echo " web20ms: the webhook sink answers after 20 ms)"
psql -X -q -d postgres -c "DROP DATABASE $DB" >/dev/null
