#!/usr/bin/env bash
# journeyctl deliver and journeyctl track-server with real parts: a real SMTP
# server on loopback (aiosmtpd, test/integration/smtp_sink.py; STARTTLS and
# AUTH), an HTTP sink (test/integration/webhook_sink.py) that checks the
# webhook signatures and fails or hangs on purpose, and the tracking server
# answering the links of the mails received. Checks the RFC 5322 mail and its
# RFC 8058 headers, signed links (forged, altered and cross-kind tokens get
# 404), retries with backoff, permanent failures reaching complete_message,
# rate limits, requeue of a dead sender's claims, a clean SIGTERM, and end to
# end: opens and clicks through the served links running the right branch,
# an unsubscribe through the List-Unsubscribe header stopping every e-mail,
# a hard bounce suppressing the address. Needs the cluster of tools/test.sh.
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash

J=${JOURNEYCTL:-$("$PG_CONFIG" --bindir)/journeyctl}
PY=/usr/bin/python3  # Debian's, with python3-aiosmtpd
DB=pgj_deliver
export PGDATABASE=$DB
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
# Waits up to 60 s for a command to succeed.
wait_for() {
  local deadline=$((SECONDS + 60))
  until eval "$1" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}
has() { case "$1" in *"$2"*) echo yes ;; *) echo "no: $1" ;; esac; }
mails() { find "$work/smtp" -name 'mail-*.eml' | wc -l; }

# --- the parts: SMTP sink, webhook sink, tracking server --------------------
mkdir -p "$work/smtp" "$work/smtp-tls" "$work/hook"
"$PY" test/integration/smtp_sink.py "$work/smtp" >"$work/smtp.log" 2>&1 &
pids+=($!)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
  -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost >/dev/null 2>&1
"$PY" test/integration/smtp_sink.py "$work/smtp-tls" --tls "$work/cert.pem" "$work/key.pem" \
  --auth sender:s3cret >"$work/smtp-tls.log" 2>&1 &
pids+=($!)
printf 'hook-secret\n' >"$work/hook-secret"
"$PY" test/integration/webhook_sink.py "$work/hook" hook-secret >"$work/hook.log" 2>&1 &
pids+=($!)
printf 'track-secret\n' >"$work/track-secret"
wait_for "test -s $work/smtp/port && test -s $work/smtp-tls/port && test -s $work/hook/port"
check "the SMTP and HTTP sinks listen" yes "$([ -s "$work/smtp/port" ] && [ -s "$work/hook/port" ] && echo yes)"
SMTP=smtp://127.0.0.1:$(cat "$work/smtp/port")
HOOK=http://127.0.0.1:$(cat "$work/hook/port")/send

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'; check "set-up" 0 "$?"
CREATE EXTENSION pg_journey;
CREATE TABLE customers (id text PRIMARY KEY, email text, phone text, mode text NOT NULL DEFAULT 'ok',
  first_name text);
SELECT journey.register_audience('customers', 'id', email_column => 'email');
SELECT journey.create_template('news', 'email', 'Nouveautés for {{first_name}} ✓',
  '<html><body><p>Hello {{first_name}},</p><p><a href="https://shop.example/sale?x=1&amp;y=2">See the sale</a>
  and <a href=''https://shop.example/new''>what is new</a>, <a href="mailto:help@shop.example">help</a>.</p></body></html>');
SELECT journey.create_template('plain', 'email', 'Plain', 'Hi {{first_name}}, read https://shop.example/blog. Thanks');
SELECT journey.import('{"name": "news", "audience": "customers", "settings": {"reentry": "always"},
  "entry": [{"type": "event", "event": "news"}], "start": "send",
  "steps": [{"key": "send", "type": "send_email", "template": "news"}]}');
SELECT journey.publish('news');
SELECT journey.import('{"name": "plain", "audience": "customers", "settings": {"reentry": "always"},
  "entry": [{"type": "event", "event": "plain"}], "start": "send",
  "steps": [{"key": "send", "type": "send_email", "template": "plain"}]}');
SELECT journey.publish('plain');
SELECT journey.import('{"name": "sms", "audience": "customers", "settings": {"reentry": "always"},
  "entry": [{"type": "event", "event": "sms"}], "start": "send",
  "steps": [{"key": "send", "type": "send", "channel": "sms",
             "payload": {"text": "Hi {{first_name}}", "mode": "{{mode}}"}}]}');
SELECT journey.publish('sms');
SQL

# Customers and messages: each event makes one message after a tick.
customer() {  # id email mode
  q "INSERT INTO customers (id, email, mode, first_name) VALUES ('$1', NULLIF('$2', ''), '$3', 'Ann $1')
     ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, mode = EXCLUDED.mode"
}
send() {  # event customer...
  local e=$1; shift
  for c in "$@"; do q "SELECT journey.track('$c', '$e')" >/dev/null; done
  q "SELECT journey.run_due()" >/dev/null
}
status_of() {  # customer journey -> status|error of its latest message
  q "SELECT m.status || coalesce('|' || m.error, '') FROM journey.messages m
       JOIN journey.journeys j ON j.id = m.journey_id
      WHERE m.customer_id = '$1' AND j.name = '$2' ORDER BY m.id DESC LIMIT 1"
}
id_of() { q "SELECT max(m.id) FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
              WHERE m.customer_id = '$1' AND j.name = '$2'"; }
deliver() {  # runs the sender until the outbox is empty; $out/$err/$rc
  out=$(JOURNEYCTL_TRACKING_SECRET=track-secret JOURNEYCTL_WEBHOOK_SECRET=hook-secret \
    "$J" deliver --exit-when-idle --progress 0 --backoff-ms 200 "$@" 2>"$work/stderr"); rc=$?
  err=$(cat "$work/stderr")
}
# The value of a header of a mail file.
header() {  # file name
  "$PY" - "$1" "$2" <<'PY'
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
print(m.get(sys.argv[2], ""))
PY
}
body_of() {
  "$PY" - "$1" <<'PY'
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
print(m.get_content())
PY
}

# --- usage ------------------------------------------------------------------
out=$("$J" deliver 2>&1); rc=$?
check "deliver without a channel is a usage error" "2 yes" "$rc $(has "$out" "nothing to deliver")"
out=$("$J" deliver --smtp-url "$SMTP" 2>&1); rc=$?
check "e-mail needs --from" "2 yes" "$rc $(has "$out" "needs --from")"
out=$("$J" deliver --smtp-url "$SMTP" --from a@b --tracking-url http://t 2>&1); rc=$?
check "tracking links need a secret" "2 yes" "$rc $(has "$out" "needs a secret")"
out=$("$J" deliver --webhook sms=$HOOK --smtp-tls sometimes 2>&1); rc=$?
check "--smtp-tls off/try/required" "2 yes" "$rc $(has "$out" "off, try or required")"
printf 'smtp-url = %s\nfrobnicate = 1\n' "$SMTP" >"$work/bad.conf"
out=$("$J" deliver --config "$work/bad.conf" 2>&1); rc=$?
check "an unknown setting in the file is a usage error" "2 yes" "$rc $(has "$out" 'unknown setting "frobnicate"')"
out=$(JOURNEYCTL_WEBHOOK_SECRET=hook-secret "$J" deliver --webhook sms=$HOOK -h /nonexistent 2>&1); rc=$?
check "no server: exit 3" "3" "$rc"

# --- e-mail over SMTP: the RFC 5322 message, tracking links, List-Unsubscribe
customer c1 'c1@example.com' ok
send news c1
TRACK=http://127.0.0.1:9/t
deliver --smtp-url "$SMTP" --from 'Shop <news@shop.example>' --tracking-url "$TRACK/"
check "deliver exits 0 when idle" 0 "$rc"
check "the final line counts what was sent" yes "$(has "$err" "done: sent 1, failed 0, retried 0")"
check "one mail received" 1 "$(mails)"
check "the message is sent" "sent" "$(status_of c1 news)"
m1=$(id_of c1 news)
mail=$(find "$work/smtp" -name 'mail-*.eml' | sort | tail -1)
check "From" "Shop <news@shop.example>" "$(header "$mail" From)"
check "To" "c1@example.com" "$(header "$mail" To)"
check "Subject (RFC 2047, UTF-8)" "Nouveautés for Ann c1 ✓" "$(header "$mail" Subject)"
check "Message-ID names the message" "<pgj-$m1@shop.example>" "$(header "$mail" Message-ID)"
check "Date is RFC 5322" yes "$(header "$mail" Date | grep -qE '^[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} \+0000$' && echo yes)"
unsub=$(header "$mail" List-Unsubscribe)
check "List-Unsubscribe is the signed unsubscribe link" yes "$(echo "$unsub" | grep -qE "^<$TRACK/u/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+>$" && echo yes)"
check "List-Unsubscribe-Post (RFC 8058)" "List-Unsubscribe=One-Click" "$(header "$mail" List-Unsubscribe-Post)"
body=$(body_of "$mail")
check "links are click-tracked" 2 "$(echo "$body" | grep -oE "href=[\"']$TRACK/c/[A-Za-z0-9_.-]+[\"']" | wc -l)"
check "mailto: links are left alone" yes "$(has "$body" 'href="mailto:help@shop.example"')"
check "the open pixel" 1 "$(echo "$body" | grep -oE "<img src=\"$TRACK/o/[A-Za-z0-9_.-]+\.gif\"" | wc -l)"
check "the unsubscribe link in the body" yes "$(has "$body" "<a href=\"${unsub:1:${#unsub}-2}\">Unsubscribe</a>")"
check "lines end in CRLF" yes "$(head -c 2000 "$mail" | grep -c $'\r$' | awk '{print ($1 > 5) ? "yes" : "no"}')"

customer c2 'c2@example.com' ok
send plain c2
deliver --smtp-url "$SMTP" --from news@shop.example --tracking-url "$TRACK" --no-open-tracking
mail=$(find "$work/smtp" -name 'mail-*.eml' | sort | tail -1)
body=$(body_of "$mail")
check "plain text: Content-Type" "text/plain; charset=\"utf-8\"" "$(header "$mail" Content-Type)"
check "plain text: the URL is tracked, the full stop kept" yes "$(echo "$body" | grep -qE "read $TRACK/c/[A-Za-z0-9_.-]+\. Thanks" && echo yes)"
check "plain text: an unsubscribe line" yes "$(echo "$body" | grep -qE "^Unsubscribe: $TRACK/u/" && echo yes)"

customer c3 'c3@example.com' ok
send plain c3
deliver --smtp-url "$SMTP" --from news@shop.example
mail=$(find "$work/smtp" -name 'mail-*.eml' | sort | tail -1)
check "no tracking URL: no List-Unsubscribe" "" "$(header "$mail" List-Unsubscribe)"
check "no tracking URL: links unchanged" yes "$(has "$(body_of "$mail")" "read https://shop.example/blog. Thanks")"

# STARTTLS required and AUTH (a self-signed certificate for localhost).
TLS_SMTP=smtp://localhost:$(cat "$work/smtp-tls/port")
customer c4 'c4@example.com' ok
send plain c4
printf 'wrong\n' >"$work/smtp-password"
deliver --smtp-url "$TLS_SMTP" --smtp-tls required --ca-file "$work/cert.pem" --smtp-user sender \
  --smtp-password-file "$work/smtp-password" --from news@shop.example
check "a refused SMTP login stops the sender (exit 1), the message stays claimed" "1 yes claimed" \
  "$rc $(has "$err" "Login denied") $(status_of c4 plain)"
q "UPDATE journey.messages SET status = 'pending' WHERE status = 'claimed'"
deliver --smtp-url "$TLS_SMTP" --smtp-tls required --from news@shop.example
check "an unverifiable certificate stops the sender" "1 yes" "$rc $(has "$err" "SSL")"
q "UPDATE journey.messages SET status = 'pending' WHERE status = 'claimed'"
printf 's3cret\n' >"$work/smtp-password"
deliver --smtp-url "$TLS_SMTP" --smtp-tls required --ca-file "$work/cert.pem" --smtp-user sender \
  --smtp-password-file "$work/smtp-password" --from news@shop.example
check "STARTTLS + AUTH: delivered" "0 sent 1" "$rc $(status_of c4 plain) $(find "$work/smtp-tls" -name 'mail-*.eml' | wc -l)"

# SMTP answers: 550 is permanent, 451 is retried with backoff.
customer b1 'bounce-b1@example.com' ok
customer s1 'soft2-s1@example.com' ok
customer s2 'soft9-s2@example.com' ok
customer n1 '' ok
send plain b1 s1 s2 n1
before=$(mails)
deliver --smtp-url "$SMTP" --from news@shop.example --max-attempts 3 --concurrency 1
check "550: failed at once with the server's answer" yes "$(status_of b1 plain | grep -q '^failed|smtp 550: ' && echo yes)"
check "451 twice, then accepted: sent" "sent" "$(status_of s1 plain)"
check "451 past --max-attempts: failed" yes "$(status_of s2 plain | grep -q '^failed|gave up after 3 attempts: smtp 451' && echo yes)"
check "550 at RCPT: a hard bounce, the address suppressed" "bounced hard 550|bounced" \
  "$(q "SELECT kind, properties->>'type', properties->>'smtp_code' FROM journey.message_events
        WHERE customer_id = 'b1' AND kind = 'bounced'" | tr '|' ' ')|$(q "SELECT reason FROM journey.list_suppressions('b1', 'email')")"
check "451 past --max-attempts: a soft bounce, not suppressed" "bounced soft 451|" \
  "$(q "SELECT kind, properties->>'type', properties->>'smtp_code' FROM journey.message_events
        WHERE customer_id = 's2' AND kind = 'bounced'" | tr '|' ' ')|$(q "SELECT reason FROM journey.list_suppressions('s2', 'email')")"
check "the failure reaches the journey (message event failed)" "failed failed" \
  "$(q "SELECT string_agg(kind, ' ' ORDER BY customer_id) FROM journey.message_events WHERE customer_id IN ('b1', 's2') AND kind = 'failed'")"
check "no address: never handed out (suppressed, no_recipient)" "suppressed" "$(status_of n1 plain)"
check "retries counted" yes "$(has "$err" "sent 1, failed 2, retried 4")"
check "one mail for the four" $((before + 1)) "$(mails)"

# --- webhooks: signature, idempotency key, retries, backoff, failures --------
hook() { grep "\"customer_id\": \"$1\"" "$work/hook/requests.jsonl"; }
for c in w1:ok w2:fail2 w3:always500 w4:reject w5:hang; do customer "${c%%:*}" '' "${c#*:}"; done
send sms w1 w2 w3 w4 w5
deliver --webhook "sms=$HOOK" --max-attempts 3 --timeout-ms 1000 --concurrency 5
check "webhooks: exit 0" 0 "$rc"
check "ok: sent, one request" "sent 1" "$(status_of w1 sms) $(hook w1 | wc -l)"
check "every signature is valid" 0 "$(grep -c '"valid": false' "$work/hook/requests.jsonl")"
check "the idempotency key is the message id" "$(id_of w1 sms)" "$(hook w1 | "$PY" -c 'import json,sys; print(json.loads(sys.stdin.readline())["key"])')"
check "500 twice then 200: sent after 3 attempts" "sent 3" "$(status_of w2 sms) $(hook w2 | wc -l)"
gaps=$(hook w2 | "$PY" -c '
import json, sys
t = [json.loads(l)["at"] for l in sys.stdin]
print(" ".join("yes" if g >= lo else "no:%.3f" % g for g, lo in zip([t[1] - t[0], t[2] - t[1]], [0.19, 0.39])))')
check "backoff doubles (200 ms, 400 ms)" "yes yes" "$gaps"
check "the retries keep one idempotency key" 1 "$(hook w2 | "$PY" -c 'import json,sys; print(len({json.loads(l)["key"] for l in sys.stdin}))')"
check "always 500: failed after --max-attempts" "failed|gave up after 3 attempts: http 500" "$(status_of w3 sms)"
check "400: failed at once with the answer" "failed|http 400: bad request: not for us 1" "$(status_of w4 sms) $(hook w4 | wc -l)"
check "a hanging server: timeouts retried, then failed" yes "$(status_of w5 sms | grep -q '^failed|gave up after 3 attempts: http: Operation timed out after' && echo yes)"

out=$("$J" deliver --webhook "sms=$HOOK" --exit-when-idle --progress 0 2>&1)
customer w6 '' ok
send sms w6
JOURNEYCTL_WEBHOOK_SECRET=other "$J" deliver --webhook "sms=$HOOK" --exit-when-idle --progress 0 \
  --max-attempts 1 >/dev/null 2>&1
check "a wrong key: the sink refuses the signature (401), failed" "failed|http 401" "$(status_of w6 sms)"

# --- a config file, rate limits --------------------------------------------
for i in 1 2 3 4 5 6; do customer "r$i" '' ok; done
send sms r1 r2 r3 r4 r5 r6
cat >"$work/deliver.conf" <<CONF
# journeyctl deliver settings
webhook = sms=$HOOK
webhook-secret-file = $work/hook-secret
rate = sms=5
concurrency = 3
CONF
out=$("$J" deliver --config "$work/deliver.conf" --exit-when-idle --progress 0 2>&1); rc=$?
check "config file: delivered" "0 yes" "$rc $(has "$out" "sent 6, failed 0")"
span=$(grep -E '"customer_id": "r[1-6]"' "$work/hook/requests.jsonl" | "$PY" -c '
import json, sys
t = sorted(json.loads(l)["at"] for l in sys.stdin)
print("yes" if t[-1] - t[0] >= 0.8 else "no:%.3f" % (t[-1] - t[0]))')
check "rate 5/s over 3 workers: 6 requests span about 1 s (at least 0.8 s)" yes "$span"

# --- a dead sender's claims are requeued ------------------------------------
customer d1 '' ok
send sms d1
q "SELECT count(*) FROM journey.claim_messages('sms', 10)" >/dev/null
q "UPDATE journey.messages SET claimed_at = now() - interval '2 hours' WHERE status = 'claimed'"
deliver --webhook "sms=$HOOK" --requeue-after 3600
check "claims older than --requeue-after are requeued and delivered" "0 yes sent" \
  "$rc $(has "$err" "requeued 1 messages") $(status_of d1 sms)"

# --- the database connection breaks: the sender reconnects and goes on ------
JOURNEYCTL_WEBHOOK_SECRET=hook-secret "$J" deliver --webhook "sms=$HOOK" --concurrency 2 \
  --poll-ms 100 --progress 1 2>"$work/reconnect.log" &
dpid=$!
wait_for "[ \$(q \"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'journeyctl' AND datname = '$DB'\") -ge 2 ]"
check "connections killed" t "$(q "SELECT bool_and(pg_terminate_backend(pid)) FROM pg_stat_activity
                                    WHERE application_name = 'journeyctl' AND datname = '$DB'")"
customer k1 '' ok
send sms k1
wait_for "[ \"\$(status_of k1 sms)\" = sent ]"
check "after losing its connections the sender reconnects and delivers" "sent yes" \
  "$(status_of k1 sms) $(has "$(cat "$work/reconnect.log")" "lost the database connection; reconnecting")"
wait_for "grep -q 'journeyctl deliver: sent 1, failed 0, retried 0, ' $work/reconnect.log"
check "a progress line every --progress seconds" yes \
  "$(grep -qE '^journeyctl deliver: sent 1, failed 0, retried 0, [0-9.]+/s \([0-9.]+/s overall\)$' "$work/reconnect.log" && echo yes)"
kill -TERM $dpid; wait $dpid
check "and stops cleanly" 0 "$?"

# --- SIGTERM: finish what is claimed, complete it, exit 0 -------------------
for i in 1 2 3 4; do customer "t$i" '' slow700; done
send sms t1 t2 t3 t4
JOURNEYCTL_WEBHOOK_SECRET=hook-secret "$J" deliver --webhook "sms=$HOOK" --concurrency 1 --batch 3 \
  --poll-ms 100 --progress 0 2>"$work/term.log" &
dpid=$!
wait_for "grep -q '\"customer_id\": \"t1\"' $work/hook/requests.jsonl || grep -q '\"customer_id\": \"t2\"' $work/hook/requests.jsonl"
kill -TERM $dpid
wait $dpid; rc=$?
check "SIGTERM: exit 0" 0 "$rc"
check "SIGTERM: the claimed batch was delivered and completed, nothing left claimed" "sent:3 pending:1" \
  "$(q "SELECT string_agg(status || ':' || n, ' ' ORDER BY status DESC) FROM (SELECT status, count(*) n
          FROM journey.messages WHERE customer_id IN ('t1','t2','t3','t4') GROUP BY status) s")"
check "SIGTERM: said so" yes "$(has "$(cat "$work/term.log")" "stopping: finishing the messages already claimed")"
q "UPDATE journey.messages SET status = 'suppressed', reason = 'test' WHERE status = 'pending'"

# --- end to end: the tracking server, opens and clicks, unsubscribe, bounce --
"$J" track-server --http-port 0 --tracking-secret-file "$work/track-secret" >"$work/track.out" 2>"$work/track.err" &
pids+=($!)
wait_for "grep -q 'listening on' $work/track.out"
TRACK=$(sed -nE 's|.*listening on (http://[^ ]+)/$|\1|p' "$work/track.out")
check "track-server listens" yes "$(case "$TRACK" in http://127.0.0.1:*) echo yes ;; *) echo "no: $TRACK" ;; esac)"
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'; check "the follow-up journey" 0 "$?"
SELECT journey.create_template('invite', 'email', 'You are invited',
  '<html><body><p>Come to <a href="https://shop.example/party?who=you&amp;n=1">the party</a>.</p></body></html>');
SELECT journey.create_template('thanks', 'email', 'Thanks for opening', '<p>Thanks</p>');
SELECT journey.create_template('clicker', 'email', 'You clicked', '<p>See you there</p>');
SELECT journey.import('{"name": "followup", "audience": "customers",
  "entry": [{"type": "event", "event": "invited"}], "start": "invite",
  "steps": [{"key": "invite", "type": "send_email", "template": "invite", "next": "wait"},
            {"key": "wait", "type": "wait_for_event", "event": "opened", "message_of": "invite",
             "timeout": "3 days", "branches": {"event": "thanks", "timeout": "clicked_q"}},
            {"key": "clicked_q", "type": "condition",
             "if": {"event": "clicked", "message_of": "invite", "within": "7 days"},
             "branches": {"yes": "clicker", "no": "nothing"}},
            {"key": "thanks", "type": "send_email", "template": "thanks"},
            {"key": "clicker", "type": "send_email", "template": "clicker"},
            {"key": "nothing", "type": "exit"}]}');
SELECT journey.publish('followup');
SQL
for c in e1 e2 e3; do customer "$c" "$c@example.com" ok; done
customer e4 'bounce-e4@example.com' ok
send invited e1 e2 e3 e4
before=$(mails)
deliver --smtp-url "$SMTP" --from 'Shop <news@shop.example>' --tracking-url "$TRACK"
check "invites: 3 delivered, the bounce failed" "0 $((before + 3))" "$rc $(mails)"
mail_to() { grep -l "^To: $1" "$work"/smtp/mail-*.eml | sort | tail -1; }
link() { body_of "$1" | grep -oE "$2=\"$TRACK/[^\"]+\"" | head -1 | sed -E "s/^$2=\"(.*)\"$/\1/"; }
pixel=$(link "$(mail_to e1@example.com)" src)
click=$(link "$(mail_to e2@example.com)" href)

# Tokens: forged, altered, of another kind, of another message: 404, nothing recorded.
token=${click#"$TRACK/c/"}
payload=${token%%.*}; mac=${token#*.}
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check "a forged signature: 404" 404 "$(code "$TRACK/c/$payload.${mac:0:10}AAAA${mac:14}")"
evil=$("$PY" -c 'import base64,sys; p=sys.argv[1]; d=base64.urlsafe_b64decode(p+"="*(-len(p)%4)).decode(); d=d.rsplit("\n",1)[0]+"\nhttps://evil.example/"; print(base64.urlsafe_b64encode(d.encode()).decode().rstrip("="))' "$payload")
check "another URL under the same signature: 404" 404 "$(code "$TRACK/c/$evil.$mac")"
other=$("$PY" -c 'import base64,sys; p=sys.argv[1]; d=base64.urlsafe_b64decode(p+"="*(-len(p)%4)).decode().split("\n"); d[1]=str(int(d[1])-1); print(base64.urlsafe_b64encode("\n".join(d).encode()).decode().rstrip("="))' "$payload")
check "another message (customer) under the same signature: 404" 404 "$(code "$TRACK/c/$other.$mac")"
check "a click token used as unsubscribe: 404" 404 "$(code -X POST -d List-Unsubscribe=One-Click "$TRACK/u/$token")"
check "nothing recorded for them" 0 "$(q "SELECT count(*) FROM journey.message_events WHERE kind IN ('clicked', 'unsubscribed')")"
forged=$("$PY" -c 'import hmac,hashlib,base64,sys; p=sys.argv[1]; print(base64.urlsafe_b64encode(hmac.new(b"other-key", base64.urlsafe_b64decode(p+"="*(-len(p)%4)), hashlib.sha256).digest()).decode().rstrip("="))' "$payload")
check "signed with another key: 404" 404 "$(code "$TRACK/c/$payload.$forged")"

# e1 opens the invite: the open is recorded and the "opened" branch sends thanks.
ctype=$(curl -s -o "$work/pixel.gif" -w '%{http_code} %{content_type}' "$pixel")
check "the open pixel: a GIF" "200 image/gif" "$ctype"
check "opened, against e1's invite" "e1 invite opened" "$(q "SELECT customer_id, step_key, kind FROM journey.message_events WHERE kind = 'opened'" | tr '|' ' ')"
# e2 clicks: redirected to exactly the signed URL.
check "the click redirects to the signed URL" "302 https://shop.example/party?who=you&n=1" \
  "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$click")"
check "clicked, with the URL" "e2 invite https://shop.example/party?who=you&n=1" \
  "$(q "SELECT customer_id, step_key, properties->>'url' FROM journey.message_events WHERE kind = 'clicked'" | tr '|' ' ')"
q "SELECT journey.run_due()" >/dev/null
deliver --smtp-url "$SMTP" --from 'Shop <news@shop.example>' --tracking-url "$TRACK"
check "e3 unsubscribed later: its enrollment still waits" "e3 active wait" \
  "$(q "SELECT e.customer_id, e.status, e.step_key FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'followup' AND e.customer_id = 'e3'" | tr '|' ' ')"
check "e1 opened: the thanks e-mail" "Thanks for opening" "$(header "$(mail_to e1@example.com)" Subject)"
# e3 unsubscribes through the List-Unsubscribe header (RFC 8058 one-click POST).
unsub=$(header "$(mail_to e3@example.com)" List-Unsubscribe); unsub=${unsub:1:${#unsub}-2}
check "GET of the unsubscribe link: a page, nothing recorded" "200 yes 0" \
  "$(code "$unsub") $(has "$(curl -s "$unsub")" '<form method="post">') $(q "SELECT count(*) FROM journey.list_suppressions('e3')")"
check "the one-click POST unsubscribes" "200 unsubscribed" \
  "$(code -X POST -H 'Content-Type: application/x-www-form-urlencoded' -d List-Unsubscribe=One-Click "$unsub") $(q "SELECT reason FROM journey.list_suppressions('e3', 'email')")"
before=$(mails)
send news e3
send plain e3
deliver --smtp-url "$SMTP" --from 'Shop <news@shop.example>' --tracking-url "$TRACK"
check "unsubscribing ended e3's enrollment" "exited unsubscribed" \
  "$(q "SELECT e.status, e.exit_reason FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'followup' AND e.customer_id = 'e3'" | tr '|' ' ')"
check "no journey e-mails e3 again" "$before suppressed suppressed" "$(mails) $(status_of e3 news) $(status_of e3 plain)"
# Three days later e2 has not opened but clicked: the clicker branch.
q "SELECT journey.run_due(as_of => now() + interval '4 days')" >/dev/null
q "UPDATE journey.messages SET send_after = now() WHERE status = 'pending'"
deliver --smtp-url "$SMTP" --from 'Shop <news@shop.example>' --tracking-url "$TRACK"
check "e2 clicked: the clicker e-mail" "You clicked" "$(header "$(mail_to e2@example.com)" Subject)"
check "the right branches: e1 thanks, e2 clicker" "e1:thanks e2:clicker" \
  "$(q "SELECT string_agg(customer_id || ':' || step_key, ' ' ORDER BY customer_id) FROM journey.messages m
          JOIN journey.journeys j ON j.id = m.journey_id WHERE j.name = 'followup' AND step_key <> 'invite'")"

# e4's invite bounced hard: suppressed, nothing more is even attempted.
send news e4
check "a hard bounce suppressed e4's address" "bounced suppressed" \
  "$(q "SELECT reason FROM journey.list_suppressions('e4', 'email')") $(status_of e4 news)"
# Keys rotate: a file with a new first key still accepts links signed with the old one.
printf 'new-key\ntrack-secret\n' >"$work/keys"
"$J" track-server --http-port 0 --tracking-secret-file "$work/keys" >"$work/track2.out" 2>&1 &
pids+=($!)
wait_for "grep -q 'listening on' $work/track2.out"
TRACK2=$(sed -nE 's|.*listening on (http://[^ ]+)/$|\1|p' "$work/track2.out")
check "an old key still verifies after rotation" 302 "$(code "$TRACK2/c/$token")"

# --- hardening (issue 11, a new user's probe) --------------------------------
# Merge tags in HTML bodies are escaped; only the template's own links are
# click-tracked, never a URL from customer data (no open redirect).
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'; check "hardening: journeys" 0 "$?"
SELECT journey.create_template('hd_html', 'email', 'Hi {{first_name}}',
  '<html><body><p>Hi {{first_name}}</p><p><a href="https://shop.example/deal">deal</a>
  <a href="{{phone}}">your site</a></p></body></html>');
SELECT journey.create_template('hd_text', 'email', 'Hi', 'Hi {{first_name}}, read https://shop.example/blog today');
SELECT journey.import('{"name": "hd_html", "audience": "customers", "settings": {"reentry": "always"},
  "entry": [{"type": "event", "event": "hd_html"}], "start": "send",
  "steps": [{"key": "send", "type": "send_email", "template": "hd_html"}]}');
SELECT journey.publish('hd_html');
SELECT journey.import('{"name": "hd_text", "audience": "customers", "settings": {"reentry": "always"},
  "entry": [{"type": "event", "event": "hd_text"}], "start": "send",
  "steps": [{"key": "send", "type": "send_email", "template": "hd_text"}]}');
SELECT journey.publish('hd_text');
SQL
q "INSERT INTO customers (id, email, phone, first_name) VALUES
     ('x1', 'x1@example.com', 'https://evil.example/phish', '<script>alert(1)</script>'),
     ('x2', 'x2@example.com', NULL, 'see https://evil.example/x')"
send hd_html x1
send hd_text x2
deliver --smtp-url "$SMTP" --from 'Shop <news@shop.example>' --tracking-url "$TRACK"
check "hardening: both sent" "0 sent sent" "$rc $(status_of x1 hd_html) $(status_of x2 hd_text)"
body=$(body_of "$(mail_to x1@example.com)")
check "HTML: the merge tag is escaped, no <script> in the mail" "yes no" \
  "$(has "$body" '<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;</p>') $(case "$body" in *'<script>'*) echo yes ;; *) echo no ;; esac)"
check "HTML: the template's own link is click-tracked" 1 "$(echo "$body" | grep -oE "href=\"$TRACK/c/[A-Za-z0-9_.-]+\"" | wc -l)"
check "HTML: the customer's URL is left as it is, not wrapped" yes "$(has "$body" 'href="https://evil.example/phish"')"
# No token in either mail redirects to the customer's URL.
targets() {  # the targets of the click tokens of a mail body on stdin
  grep -oE "$TRACK/c/[A-Za-z0-9_-]+" | sed "s|$TRACK/c/||" | "$PY" -c '
import base64, sys
for t in sys.stdin.read().split():
    print(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)).decode().split("\n", 3)[3])'
}
check "HTML: the only click target is the template's link" "https://shop.example/deal" "$(echo "$body" | targets | tr '\n' ' ' | sed 's/ $//')"
text=$(body_of "$(mail_to x2@example.com)")
check "plain text: not escaped, the customer's URL not wrapped" yes "$(has "$text" 'Hi see https://evil.example/x, read ')"
check "plain text: the template's URL is wrapped" "https://shop.example/blog" "$(echo "$text" | targets | tr '\n' ' ' | sed 's/ $//')"
x1click=$(echo "$body" | grep -oE "$TRACK/c/[A-Za-z0-9_.-]+" | head -1)
check "the tracked click redirects to the template's link" "302 https://shop.example/deal" \
  "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$x1click")"

# A recipient column holding two addresses is refused, sent to neither.
q "INSERT INTO customers (id, email) VALUES ('x3', 'x3a@example.com, x3b@example.com')"
before=$(mails)
send hd_text x3
deliver --smtp-url "$SMTP" --from news@shop.example
check "two addresses in the e-mail column: failed, no mail" \
  "failed|invalid recipient address \"x3a@example.com, x3b@example.com\": expected one address (local@domain) $before" \
  "$(status_of x3 hd_text) $(mails)"

# The relay is down (connection refused): retried past --max-attempts, never
# failed; after SIGTERM the claim is requeued and delivered once the relay is up.
dead=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
customer x4 'x4@example.com' ok
send hd_text x4
JOURNEYCTL_TRACKING_SECRET=track-secret "$J" deliver --smtp-url "smtp://127.0.0.1:$dead" --from news@shop.example \
  --max-attempts 2 --backoff-ms 50 --max-backoff-ms 100 --progress 1 --poll-ms 100 2>"$work/down.log" &
dpid=$!
wait_for "grep -qE 'retried ([5-9]|[1-9][0-9]+),' $work/down.log"
check "relay down: retried more than --max-attempts, still claimed" "yes claimed" \
  "$(has "$(cat "$work/down.log")" "SMTP relay unreachable") $(status_of x4 hd_text)"
kill -TERM $dpid; wait $dpid; rc=$?
check "relay down: SIGTERM exits 0, the message left claimed (not failed)" "0 claimed" "$rc $(status_of x4 hd_text)"
q "UPDATE journey.messages SET claimed_at = now() - interval '2 hours' WHERE status = 'claimed'"
deliver --smtp-url "$SMTP" --from news@shop.example --requeue-after 3600
check "relay back: requeued and delivered" "0 sent" "$rc $(status_of x4 hd_text)"

# Start-up checks: a second track-server on the same port, unknown settings,
# missing keys, a role that may not call the functions, no pg_journey.
port=${TRACK##*:}
out=$(timeout 30 "$J" track-server --http-port "$port" --tracking-secret-file "$work/track-secret" 2>&1); rc=$?
check "a second track-server on the same port: exit 5, said why" "5 yes" "$rc $(has "$out" "cannot listen on 127.0.0.1:$port")"
printf 'tracking-secret-file = %s\nbogus = 1\n' "$work/track-secret" >"$work/track-bad.conf"
out=$(timeout 30 "$J" track-server --config "$work/track-bad.conf" --http-port 0 2>&1); rc=$?
check "track-server: an unknown setting is a usage error" "2 yes" "$rc $(has "$out" 'unknown setting "bogus"')"
out=$(JOURNEYCTL_TRACKING_SECRET= timeout 30 "$J" track-server --http-port 0 2>&1); rc=$?
check "track-server: no key is a usage error" "2 yes" "$rc $(has "$out" "a secret is needed")"
out=$("$J" deliver --webhook "sms=$HOOK" --exit-when-idle 2>&1); rc=$?
check "deliver: a webhook without a signing key is a usage error" "2 yes" "$rc $(has "$out" "--webhook needs a secret")"
psql -X -q -d postgres -c "DROP ROLE IF EXISTS pgj_hd_nobody" -c "CREATE ROLE pgj_hd_nobody LOGIN" >/dev/null 2>&1
out=$(PGUSER=pgj_hd_nobody timeout 30 "$J" track-server --http-port 0 --tracking-secret-file "$work/track-secret" 2>&1); rc=$?
check "track-server: a role without journey_app stops at start-up" "1 yes" \
  "$rc $(has "$out" 'role "pgj_hd_nobody" may not execute journey.message_event(bigint,text,jsonb,timestamptz)')"
out=$(PGUSER=pgj_hd_nobody JOURNEYCTL_WEBHOOK_SECRET=hook-secret "$J" deliver --webhook "sms=$HOOK" --exit-when-idle 2>&1); rc=$?
check "deliver: a role without journey_app stops at start-up" "1 yes" \
  "$rc $(has "$out" 'role "pgj_hd_nobody" may not execute journey.claim_messages(text,integer)')"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS pgj_deliver_bare" -c "CREATE DATABASE pgj_deliver_bare" >/dev/null 2>&1
out=$(JOURNEYCTL_WEBHOOK_SECRET=hook-secret "$J" deliver -d pgj_deliver_bare --webhook "sms=$HOOK" --exit-when-idle 2>&1); rc=$?
check "deliver: a database without pg_journey stops at start-up" "1 yes" \
  "$rc $(has "$out" 'pg_journey is not installed in database "pgj_deliver_bare"')"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS pgj_deliver_bare" -c "DROP ROLE IF EXISTS pgj_hd_nobody" >/dev/null 2>&1

finish_checks
