#!/usr/bin/env bash
# journeyctl deliver and track-server when the database fails under them
# (attack-13b G4, G8; docs/delivery.md, "When the database fails"), on a
# cluster of the test's own (it is restarted), with a real SMTP sink:
# - its connections terminated (pg_terminate_backend) and the server restarted
#   mid-run: deliver reconnects and goes on, every message delivered once;
# - a server error of class 08 on a live connection (what Citus raises when a
#   worker node is down: "connection to the remote node ... failed"; here a
#   test-only trigger raises it during the claim): deliver prints the server's
#   message, keeps its connections and claims again, and delivers once the
#   error is gone; with --exit-when-idle it exits 1 after --give-up-after;
# - a plain error on COMMIT of the claim on a live connection (Citus raised
#   XX000 "postmaster was shut down, exiting" so): deliver goes on;
# - track-server: a pooled connection terminated between two clicks: the
#   second click is recorded on a new connection.
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash

J=${JOURNEYCTL:-$("$PG_CONFIG" --bindir)/journeyctl}
PY=/usr/bin/python3  # Debian's, with python3-aiosmtpd
own_cluster deliver_reconnect
own_cluster_start
db=pgj_reconnect
export PGHOST=$dir PGPORT=5432 PGUSER=postgres PGDATABASE=$db
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
  own_cluster_stop
}
trap cleanup EXIT

has() { case "$1" in *"$2"*) echo yes ;; *) echo "no: $1" ;; esac; }
wait_for() { wait_until eval "$1" >/dev/null 2>&1; }  # shell condition; up to $patience s
mails() { find "$work/smtp" -name 'mail-*.eml' | wc -l; }
# Mails that carry the same message id as another one (a message delivered twice).
doubles() {
  find "$work/smtp" -name 'mail-*.eml' -exec grep -h '^X-Journey-Message-ID:' {} + | sort | uniq -d | wc -l
}
status_counts() {  # the journey's messages: sent/claimed/pending
  q -c "SELECT count(*) FILTER (WHERE status = 'sent') || '/' || count(*) FILTER (WHERE status = 'claimed')
              || '/' || count(*) FILTER (WHERE status = 'pending') FROM journey.messages"
}
# N new messages: customers PREFIX1..PREFIXN enter the journey and are ticked.
messages() {  # prefix n
  q -c "INSERT INTO customers SELECT '$1' || i, '$1' || i || '@example.com' FROM generate_series(1, $2) i;
        SELECT count(journey.track('$1' || i, 'go')) FROM generate_series(1, $2) i;
        SELECT journey.run_due()" >/dev/null
}
backends() {  # the pids of journeyctl's connections
  q -c "SELECT coalesce(string_agg(pid::text, ',' ORDER BY pid), '') FROM pg_stat_activity
         WHERE application_name = 'journeyctl' AND datname = '$db'"
}
alive() { kill -0 "$1" 2>/dev/null && echo running || echo exited; }

mkdir -p "$work/smtp"
"$PY" test/integration/smtp_sink.py "$work/smtp" >"$work/smtp.log" 2>&1 &
pids+=($!)
wait_for "test -s $work/smtp/port"
SMTP=smtp://127.0.0.1:$(cat "$work/smtp/port")
export JOURNEYCTL_TRACKING_SECRET=track-secret
send_opts=(--smtp-url "$SMTP" --smtp-tls off --from 'Shop <news@shop.example>' --progress 0)

db=postgres q -c "CREATE DATABASE $db" >/dev/null
q >/dev/null 2>&1 <<'SQL'; check "set-up" 0 "$?"
CREATE EXTENSION pg_journey;
CREATE TABLE customers (id text PRIMARY KEY, email text);
SELECT journey.register_audience('customers', 'id', email_column => 'email');
SELECT journey.create_template('hello', 'email', 'Hello', '<p>See <a href="https://shop.example/sale">the sale</a></p>');
SELECT journey.import('{"name": "news", "audience": "customers", "settings": {"reentry": "always"},
  "entry": [{"type": "event", "event": "go"}], "start": "send",
  "steps": [{"key": "send", "type": "send_email", "template": "hello"}]}');
SELECT journey.publish('news');
-- Test-only faults (never in the product): a claim (its UPDATE to claimed)
-- raises fault.on_claim's SQLSTATE while it is set, naming a remote node as
-- Citus does; and the first fault.on_commit claims fail at COMMIT with XX000.
CREATE TABLE fault (on_claim text, on_commit int NOT NULL DEFAULT 0);
INSERT INTO fault VALUES (NULL, 0);
CREATE SEQUENCE fault_commits;
CREATE FUNCTION fault_claim() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE code text := (SELECT on_claim FROM public.fault);
BEGIN
  IF code IS NOT NULL THEN
    RAISE EXCEPTION 'connection to the remote node postgres@test-node:58302 failed with the following error: Connection refused'
      USING ERRCODE = code;
  END IF;
  RETURN NEW;
END $$;
CREATE FUNCTION fault_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('public.fault_commits') <= (SELECT on_commit FROM public.fault) THEN
    RAISE EXCEPTION 'postmaster was shut down, exiting' USING ERRCODE = 'XX000';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER fault_claim BEFORE UPDATE ON journey.messages
  FOR EACH ROW WHEN (NEW.status = 'claimed') EXECUTE FUNCTION fault_claim();
CREATE CONSTRAINT TRIGGER fault_commit AFTER UPDATE ON journey.messages
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (NEW.status = 'claimed') EXECUTE FUNCTION fault_commit();
SQL

# --- connections terminated mid-run, then the server restarted ---------------
messages a 40
"$J" deliver "${send_opts[@]}" --concurrency 2 --batch 5 --rate 20 --poll-ms 100 \
  --requeue-after 3 2>"$work/a.log" &
dpid=$!
pids+=($dpid)
wait_for "[ \$(mails) -ge 8 ]"
q -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
       WHERE application_name = 'journeyctl' AND datname = '$db'" >/dev/null
wait_for "[ \$(mails) -ge 24 ]"
as_cluster_user "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -m fast -w -t 60 restart >/dev/null
check "server restarted" 0 "$?"
wait_for "[ \"\$(status_counts)\" = 40/0/0 ]"
check "terminated and restarted under it: every message sent, none claimed or pending" \
  "40/0/0" "$(status_counts)"
check "each delivered once (40 mails, no message id twice)" "40 0" "$(mails) $(doubles)"
check "deliver still runs" running "$(alive $dpid)"
check "it said it reconnects" yes "$(has "$(cat "$work/a.log")" "lost the database connection; reconnecting")"
kill -TERM $dpid; wait $dpid
check "and stops cleanly" 0 "$?"

# --- a class 08 server error on a live connection (a Citus node down) --------
q -c "UPDATE fault SET on_claim = '08006'" >/dev/null
messages b 5
"$J" deliver "${send_opts[@]}" --concurrency 2 --poll-ms 100 2>"$work/b.log" &
dpid=$!
pids+=($dpid)
wait_for "grep -q 'remote node postgres@test-node:58302 failed' $work/b.log"
check "the server's message is printed" \
  "journeyctl deliver: email: claiming failed (the database connection is fine): connection to the remote node postgres@test-node:58302 failed with the following error: Connection refused; trying again" \
  "$(grep -m1 'remote node' "$work/b.log")"
before=$(backends)
sleep 4  # each worker claims again after 1 s, then 2 s (backoff), on the same connections
after=$(backends)
check "its connections are kept (no reconnect): 3 (2 workers, the requeue), the same" "3 $before" \
  "$(echo "$after" | tr ',' '\n' | grep -c .) $after"
check "nothing claimed meanwhile" "40/0/5" "$(status_counts)"
check "no lost-connection line" no "$(grep -q 'lost the database connection' "$work/b.log" && echo yes || echo no)"
q -c "UPDATE fault SET on_claim = NULL" >/dev/null
wait_for "[ \"\$(status_counts)\" = 45/0/0 ]"
check "once the error is gone, the messages are delivered once" "45/0/0 45 0" "$(status_counts) $(mails) $(doubles)"
check "it says the database answers again" yes "$(has "$(cat "$work/b.log")" "email: the database answers again")"
kill -TERM $dpid; wait $dpid
check "and stops cleanly" 0 "$?"

# --- --exit-when-idle gives up after --give-up-after seconds of failing claims -
q -c "UPDATE fault SET on_claim = '08006'" >/dev/null
messages c 3
start=$SECONDS
printf 'give-up-after = 3\n' >"$work/shared.conf"  # a file deliver and track-server share
"$J" deliver "${send_opts[@]}" --exit-when-idle --config "$work/shared.conf" 2>"$work/c.log"
rc=$?
check "--exit-when-idle with failing claims: exit 1 after give-up-after (from --config)" "1 yes" \
  "$rc $([ $((SECONDS - start)) -le 20 ] && echo yes)"
check "naming the server's error" yes \
  "$(has "$(cat "$work/c.log")" "journeyctl: error: email: claiming failed for 3 s (--give-up-after 3): connection to the remote node postgres@test-node:58302 failed")"
check "nothing claimed" "45/0/3" "$(status_counts)"
q -c "UPDATE fault SET on_claim = NULL" >/dev/null

# --- a plain error on COMMIT of the claim, on a live connection --------------
q -c "UPDATE fault SET on_commit = 2; SELECT setval('fault_commits', 1, false)" >/dev/null
"$J" deliver "${send_opts[@]}" --concurrency 1 --exit-when-idle 2>"$work/d.log"
rc=$?
check "an error on COMMIT (twice): deliver goes on, exit 0 when idle" 0 "$rc"
check "it printed the error" yes "$(has "$(cat "$work/d.log")" "claiming failed (the database connection is fine): postmaster was shut down, exiting; trying again")"
check "every message delivered once" "48/0/0 48 0" "$(status_counts) $(mails) $(doubles)"
q -c "UPDATE fault SET on_commit = 0" >/dev/null

# --- track-server: a pooled connection terminated between two clicks ---------
messages t 1
"$J" deliver "${send_opts[@]}" --exit-when-idle --tracking-url http://127.0.0.1:9/t 2>/dev/null
mail=$(grep -l 'To: t1@example.com' "$work"/smtp/mail-*.eml | head -1)
click=$("$PY" - "$mail" <<'PY'
import email, email.policy, re, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
body = m.get_body(("html",)).get_content()
print(re.search(r'href="http://127\.0\.0\.1:9/t(/c/[^"]+)"', body).group(1))
PY
)
"$J" track-server --http-port 0 --config "$work/shared.conf" >"$work/track.out" 2>"$work/track.log" &
tpid=$!
pids+=($tpid)
wait_for "grep -q listening $work/track.out"
base=$(sed -n 's|.*listening on \(http://[^ ]*\)/$|\1|p' "$work/track.out")
clicks() { q -c "SELECT count(*) FROM journey.message_events WHERE kind = 'clicked'"; }
curl -s -o /dev/null "$base$click"
check "a click is recorded" 1 "$(clicks)"
q -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
       WHERE application_name = 'journeyctl' AND datname = '$db'" >/dev/null
curl -s -o /dev/null -w '%{http_code}' "$base$click" >"$work/code"
check "after its connection was terminated, the next click is recorded too" "302 2" \
  "$(cat "$work/code") $(clicks)"
check "and nothing was logged as lost" "" "$(grep 'not recorded' "$work/track.log")"
kill -TERM $tpid; wait $tpid

finish_checks
