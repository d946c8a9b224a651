#!/usr/bin/env bash
# journeyctl against the test cluster: every command, its output and its exit
# codes (0 ok, 1 server error with SQLSTATE, 2 usage, 3 no connection,
# 4 invalid input, 5 local error, 6 cancelled), the connection options, and
# the security of journeyctl serve (sign-in, sessions, CSRF, Host and Origin
# checks, PostgreSQL privileges, parameters only). Uses the installed binary
# (make install puts it in pg_config --bindir). Needs the cluster of
# tools/test.sh (PGHOST) and curl.
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash

J=${JOURNEYCTL:-$("$PG_CONFIG" --bindir)/journeyctl}
DB=pgj_cli
export PGDATABASE=$DB
work=$(mktemp -d)
serve_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Runs journeyctl; sets $out (stdout), $err (stderr) and $rc.
jc() {
  out=$("$J" "$@" 2>"$work/stderr"); rc=$?
  err=$(cat "$work/stderr")
}
# jc with standard input from a string.
jc_in() {
  local input=$1; shift
  out=$(printf '%s' "$input" | "$J" "$@" 2>"$work/stderr"); rc=$?
  err=$(cat "$work/stderr")
}
has() { case "$1" in *"$2"*) echo yes ;; *) echo "no: $1" ;; esac; }

check "make install put journeyctl in pg_config --bindir" yes "$([ -x "$J" ] && echo yes)"

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d $DB >/dev/null <<'SQL'
CREATE EXTENSION pg_journey;
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, first_name text,
  plan text NOT NULL DEFAULT 'free', unsubscribed boolean NOT NULL DEFAULT false);
INSERT INTO customers SELECT g, 'c' || g || '@example.com', 'C' || g, 'free', false FROM generate_series(1, 30) g;
SELECT journey.register_audience('customers', 'id', email_column => 'email');
SELECT journey.create_template('welcome', 'email', 'Welcome!', 'Hi {{first_name}}');
SELECT journey.create_template('tips', 'email', 'Tips', 'Tips');
SELECT journey.create_template('nudge', 'email', 'Nudge', 'Nudge');
SQL

cat >"$work/welcome.json" <<'JSON'
{"name": "cli-welcome", "audience": "public.customers",
 "settings": {"reentry": "never", "timezone": "UTC"},
 "entry": [{"type": "event", "event": "signed_up"}],
 "exit": [{"type": "condition", "when": {"field": "unsubscribed", "op": "eq", "value": true}}],
 "start": "welcome",
 "steps": [
   {"key": "welcome", "type": "send_email", "template": "welcome", "next": "wait"},
   {"key": "wait", "type": "wait_for_event", "event": "email_opened", "timeout": "3 days",
    "branches": {"event": "tips", "timeout": "nudge"}},
   {"key": "tips", "type": "send_email", "template": "tips"},
   {"key": "nudge", "type": "send_email", "template": "nudge"}]}
JSON

# --- help and usage (exit 0 and 2) -----------------------------------------
jc --help
check "--help exits 0" 0 "$rc"
check "--help lists the commands" yes "$(echo "$out" | grep -qE '^  enroll +enroll the customers of a CSV file' && echo yes)"
check "--help documents the exit codes" yes "$(has "$out" "6 cancelled at the prompt")"
for c in list show import export validate schema publish pause resume archive clone stats watch draw enroll serve deliver track-server; do
  jc "$c" --help
  check "journeyctl $c --help" "0 yes" "$rc $(case "$out" in *"Usage: journeyctl $c"*Exit\ status*) echo yes ;; *) echo no ;; esac)"
done
jc help publish
check "journeyctl help publish" "0 yes" "$rc $(has "$out" "publish_preview")"
jc --version
check "--version" "0 yes" "$rc $(has "$out" "journeyctl (pg_journey) 0.2")"
jc frobnicate
check "an unknown command exits 2" "2 yes" "$rc $(has "$err" 'unknown command "frobnicate"')"
jc list --frobnicate
check "an unknown option exits 2 and points at --help" "2 yes" "$rc $(has "$err" 'Try "journeyctl list --help"')"
jc show
check "a missing argument exits 2" "2 yes" "$rc $(has "$err" "usage: journeyctl show NAME")"
jc stats cli-welcome --version x
check "a bad number exits 2" "2 yes" "$rc $(has "$err" "--version must be a whole number")"
"$J" >/dev/null 2>&1; rc=$?
check "no command at all exits 2" 2 "$rc"

# --- connection options (exit 3) -------------------------------------------
jc list -h /nonexistent
check "an unreachable server exits 3" "3 yes" "$rc $(has "$err" "cannot connect")"
jc list -d "postgresql:///$DB?host=/nonexistent"
check "-d takes a URI (and its host)" "3 yes" "$rc $(has "$err" "/nonexistent/.s.PGSQL")"
jc list -d "host=/nonexistent dbname=$DB"
check "-d takes a key=value string" 3 "$rc"
jc list -d "postgresql://%2Fnonexistent/$DB" -h "$PGHOST"
check "-h overrides a URI's host" 0 "$rc"
jc list -d "not a = valid"
check "a malformed connection string is a usage error" 2 "$rc"
PGDATABASE=nosuchdb jc list
check "libpq's environment applies (PGDATABASE)" "3 yes" "$rc $(has "$err" 'database "nosuchdb" does not exist')"

# --- import, export, validate, schema ----------------------------------------
jc import "$work/welcome.json"
check "import creates the journey" "0 yes" "$rc $(has "$out" 'imported journey "cli-welcome"')"
check "import says the draft is valid" yes "$(has "$out" "the draft is valid")"
jc import "$work/nonexistent.json"
check "import of a missing file exits 5" "5 yes" "$rc $(has "$err" "cannot read")"
echo '{"name": "x",' >"$work/broken.json"
jc import "$work/broken.json"
check "import of invalid JSON exits 4" "4 yes" "$rc $(has "$err" "is not valid JSON")"
echo '{"name": "cli-other", "audience": "public.nothing"}' >"$work/other.json"
jc import "$work/other.json"
check "import refused by the server exits 1 with its SQLSTATE" "1 yes yes" \
  "$rc $(has "$err" 'audience "public.nothing" is not registered') $(has "$err" "SQLSTATE: 42704")"
check "server errors keep their hint" yes "$(has "$err" "HINT:  register the customer table first")"
check "server errors drop PL/pgSQL's CONTEXT" no "$(case "$err" in *CONTEXT*) echo yes ;; *) echo no ;; esac)"
jc_in "$(sed 's/"tips", "next"/"tips"/; s/cli-welcome/cli-stdin/' "$work/welcome.json")" import -
check "import - reads standard input" "0 yes" "$rc $(has "$out" 'imported journey "cli-stdin"')"

jc export cli-welcome
echo "$out" >"$work/exported.json"
check "export prints the definition" yes "$(has "$out" '"template": "welcome"')"
check "export prints journey.export" t \
  "$(psql -X -At -c "SELECT '$(tr -d "'" <"$work/exported.json" | tr '\n' ' ')'::jsonb = journey.export('cli-welcome')")"
jc export cli-welcome -o "$work/out.json"
check "export -o writes the file" "0 yes" "$rc $(has "$(cat "$work/out.json")" '"name": "cli-welcome"')"
jc export cli-nothing
check "export of an unknown journey exits 1 (42704)" "1 yes" "$rc $(has "$err" "SQLSTATE: 42704")"
jc export cli-welcome -o /nonexistent/dir/x.json
check "export to an unwritable file exits 5" 5 "$rc"

jc validate "$work/welcome.json"
check "validate: a valid file exits 0" "0 yes" "$rc $(has "$out" "0 error(s), 0 warning(s)")"
sed 's/"3 days"/"3 dayz"/; s/"template": "tips"/"template": "tipz"/; s/"unsubscribed"/"unsubscribd"/' \
  "$work/welcome.json" >"$work/bad.json"
jc validate "$work/bad.json"
check "validate: errors exit 4" 4 "$rc"
check "validate names the step of each problem" yes "$(has "$out" 'error  wait: "timeout": invalid duration "3 dayz"')"
check "validate checks templates on the server" yes "$(has "$out" 'error  tips: unknown template "tipz"')"
check "validate checks columns on the server" yes "$(has "$out" 'unknown column "unsubscribd"')"
check "validate counts them" yes "$(has "$out" "3 error(s), 0 warning(s)")"
jc validate --offline "$work/bad.json" -h /nonexistent
check "validate --offline needs no server and skips column and template checks" "4 yes no" \
  "$rc $(has "$out" "1 error(s)") $(case "$out" in *unsubscribd*|*tipz*) echo yes ;; *) echo no ;; esac)"
jc schema customers -o "$work/schema.json"
check "schema writes the audience's columns" "0 yes" "$rc $(has "$(cat "$work/schema.json")" '"category": "bool"')"
jc validate --schema "$work/schema.json" "$work/bad.json" -h /nonexistent
check "validate --schema checks columns and templates without a server" "4 yes" "$rc $(has "$out" "3 error(s)")"
jc validate --schema "$work/schema.json" --offline "$work/bad.json"
check "--schema and --offline together are a usage error" 2 "$rc"
jc validate --json --offline "$work/bad.json"
check "validate --json" "4 t" "$rc $(psql -X -At -c "SELECT jsonb_array_length('$(echo "$out" | tr -d "'" | tr '\n' ' ')'::jsonb) = 1")"
jc schema nothing
check "schema of an unregistered table exits 1" "1 yes" "$rc $(has "$err" "42704")"
same=$(psql -X -At -c "SELECT count(*) FROM journey.validate_definition('$(tr '\n' ' ' <"$work/bad.json")')")
check "validate finds what the server's validator finds" "$same" 3

# --- list, show, clone -------------------------------------------------------
jc list
check "list shows the journeys" "0 yes" "$rc $(has "$out" "cli-welcome")"
jc list --json
check "list --json is journey.list" "0 t" "$rc $(psql -X -At -c "SELECT jsonb_array_length('$(echo "$out" | tr '\n' ' ')'::jsonb) = 2")"
jc show cli-welcome
check "show prints the steps with their connections" "0 yes" "$rc $(has "$out" "event -> tips, timeout -> nudge")"
check "show prints the triggers" yes "$(has "$out" '1. event {"event":"signed_up"}')"
jc show cli-nothing
check "show of an unknown journey exits 1 with 42704" "1 yes" "$rc $(has "$err" "SQLSTATE: 42704")"
jc clone cli-welcome cli-copy
check "clone" "0 yes" "$rc $(has "$out" 'cloned "cli-welcome" as "cli-copy"')"
jc clone cli-welcome cli-copy
check "clone onto an existing name exits 1 (23505)" "1 yes" "$rc $(has "$err" "SQLSTATE: 23505")"

# --- publish, pause, resume, archive -------------------------------------------
jc_in "n" publish cli-welcome
check "publish asks; no is exit 6" "6 yes" "$rc $(has "$err" "not published")"
check "publish shows who is in flight first" yes "$(has "$out" "No customers are in flight.")"
check "nothing was published" draft "$(psql -X -At -c "SELECT state FROM journey.journeys WHERE name = 'cli-welcome'")"
jc publish cli-welcome </dev/null
check "publish with no answer (end of input) is no" 6 "$rc"
jc_in "y" publish cli-welcome
check "publish: yes publishes" "0 yes" "$rc $(has "$out" 'published "cli-welcome" version 1')"
jc publish cli-welcome --yes
check "publish without a draft exits 1 (55000)" "1 yes" "$rc $(has "$err" "SQLSTATE: 55000")"
jc_in "y" publish cli-nothing
check "publish of an unknown journey exits 1" 1 "$rc"
jc import "$work/bad.json"
check "import of a draft with errors succeeds but says so" "0 yes" "$rc $(has "$out" "3 error(s)")"
check "... and lists them on standard error" yes "$(has "$err" 'error  tips: unknown template "tipz"')"
jc publish cli-welcome --yes
check "publish of a draft with errors exits 1 (22023) listing them" "1 yes yes" \
  "$rc $(has "$err" "SQLSTATE: 22023") $(has "$err" 'tips: unknown template "tipz"')"
jc import "$work/welcome.json"

jc pause cli-welcome
check "pause" "0 yes" "$rc $(has "$out" 'paused "cli-welcome"')"
jc pause cli-welcome
check "pause twice exits 1 (55000)" "1 yes" "$rc $(has "$err" "cannot pause journey")"
jc resume cli-welcome --catch-up=later
check "resume --catch-up checks its value" 2 "$rc"
jc resume cli-welcome --catch-up skip
check "resume" "0 published" "$rc $(psql -X -At -c "SELECT state FROM journey.journeys WHERE name = 'cli-welcome'")"

# --- enroll --csv, stats, watch, draw ------------------------------------------
printf 'customer_id,source\n1,csv\n2,"a, b"\n3,csv\n' >"$work/three.csv"
jc enroll cli-welcome --csv "$work/three.csv" --progress
check "enroll --csv" "0 yes" "$rc $(has "$out" "3 row(s): 3 enrolled, 0 not eligible")"
check "enroll draws a progress bar" yes "$(has "$err" "[##############################] 3/3  100%")"
check "the other columns go into the context" '{"source": "a, b"}' \
  "$(psql -X -At -c "SELECT context FROM journey.enrollments WHERE customer_id = '2'")"
jc enroll cli-welcome --csv "$work/three.csv"
check "enroll again: not eligible (re-entry never)" "0 yes" "$rc $(has "$out" "0 enrolled, 3 not eligible")"
printf 'id\n4\n999\n5\n' >"$work/bad.csv"
jc enroll cli-welcome --csv "$work/bad.csv" --batch 2
check "a failing row stops enroll with exit 1, naming the row" "1 yes" "$rc $(has "$err" 'bad.csv:3: customer "999"')"
check "rows before it stay enrolled" 1 "$(psql -X -At -c "SELECT count(*) FROM journey.enrollments WHERE customer_id = '4'")"
jc enroll cli-welcome --csv "$work/bad.csv" --keep-going
check "--keep-going goes on and exits 1 at the end" "1 yes" "$rc $(has "$out" "3 row(s): 1 enrolled, 1 not eligible (already in the journey, or re-entry not allowed), 1 failed")"
check "--keep-going enrolled the rest" 1 "$(psql -X -At -c "SELECT count(*) FROM journey.enrollments WHERE customer_id = '5'")"
printf 'id,x\n6\n' >"$work/ragged.csv"
jc enroll cli-welcome --csv "$work/ragged.csv"
check "a ragged CSV exits 4" "4 yes" "$rc $(has "$err" "row 2 has 1 fields")"
jc enroll cli-welcome
check "enroll without --csv exits 2" 2 "$rc"
jc enroll cli-nothing --csv "$work/three.csv"
check "enroll in an unknown journey exits 1 before any row" "1 yes" "$rc $(has "$err" "42704")"

psql -X -q -At -c "SELECT journey.run_due()" >/dev/null
jc stats cli-welcome
check "stats: per-step counts" "0 yes" "$rc $(has "$out" "wait     wait_for_event  5        5")"
check "stats: totals" yes "$(has "$out" "enrolled 5  active 5")"
jc stats cli-welcome --json
check "stats --json" "0 5" "$rc $(psql -X -At -c "SELECT '$(echo "$out" | tr '\n' ' ')'::jsonb #>> '{totals,active}'")"
jc stats cli-copy
check "stats of a journey never published" "0 yes" "$rc $(has "$out" "never published")"
( sleep 0.6; psql -X -q -c "SELECT journey.track('1', 'email_opened')" -c "SELECT journey.run_due()" >/dev/null ) &
jc watch cli-welcome --interval 1 --count 3
wait
check "watch refreshes --count times" "0 3" "$rc $(echo "$out" | grep -c "refreshing every 1 s")"
check "watch shows the changes since the last refresh" yes "$(has "$out" "1 (+1)")"
jc draw cli-welcome --svg "$work/w.svg"
check "draw --svg" "0 1" "$rc $(grep -c "^<svg" "$work/w.svg")"
jc draw cli-welcome --png "$work/w.png"
check "draw --png" "0 PNG" "$rc $(head -c 4 "$work/w.png" | tail -c 3)"
jc draw cli-welcome --dot -
check "draw --dot -" "0 yes" "$rc $(has "$out" "digraph")"
JOURNEYCTL_DOT=/nonexistent/dot jc draw cli-welcome --svg "$work/x.svg"
check "draw without Graphviz exits 5" "5 yes" "$rc $(has "$err" "apt-get install graphviz")"
jc draw cli-welcome
check "draw needs one output" 2 "$rc"

jc archive cli-welcome </dev/null
check "archive asks; end of input is no (exit 6)" "6 published" \
  "$rc $(psql -X -At -c "SELECT state FROM journey.journeys WHERE name = 'cli-welcome'")"
jc archive cli-welcome --yes
check "archive --yes" "0 archived" "$rc $(psql -X -At -c "SELECT state FROM journey.journeys WHERE name = 'cli-welcome'")"
jc list
check "list hides archived journeys" no "$(case "$out" in *cli-welcome*) echo yes ;; *) echo no ;; esac)"
jc list --all
check "list --all shows them" yes "$(has "$out" "cli-welcome  archived")"
jc archive cli-welcome --yes
check "archive twice exits 1" 1 "$rc"

# --- journeyctl serve: sign-in, sessions, CSRF, privileges ---------------------
psql -X -q -c "DROP ROLE IF EXISTS cli_reader" -c "CREATE ROLE cli_reader LOGIN IN ROLE journey_reader" \
  -c "DROP ROLE IF EXISTS cli_admin" -c "CREATE ROLE cli_admin LOGIN IN ROLE journey_admin" \
  -c "GRANT SELECT ON customers TO cli_admin" -c "DROP ROLE IF EXISTS cli_nobody" \
  -c "CREATE ROLE cli_nobody LOGIN" >/dev/null
start_serve() {
  # Emptied here, not by the background job's redirection: under load the loop
  # below could otherwise read the previous server's address before the
  # new job truncates the file (every request then went to a dead server).
  : >"$work/serve.log"
  "$J" serve --http-port 0 "$@" >>"$work/serve.log" 2>&1 &
  serve_pid=$!
  base=""
  for _ in $(seq 1 600); do  # 30 s: generous under load
    base=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log" || true)
    [ -n "$base" ] && break
    sleep 0.05
  done
}
stop_serve() { kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null; serve_pid=""; }
# HTTP status and body of a request: http METHOD PATH [BODY] [extra curl args].
http() {
  local method=$1 path=$2 data=${3:-}
  shift 2
  [ $# -gt 0 ] && shift
  if [ "$method" = GET ]; then
    resp=$(curl -s -w '\n%{http_code}' -b "$work/cookies" -c "$work/cookies" "$@" "$base$path")
  else
    resp=$(curl -s -w '\n%{http_code}' -b "$work/cookies" -c "$work/cookies" -X "$method" \
      -H 'Content-Type: application/json' --data "$data" "$@" "$base$path")
  fi
  status=$(echo "$resp" | tail -1)
  body=$(echo "$resp" | sed '$d')
}
json() { echo "$body" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const j=JSON.parse(s);console.log($1)})"; }

start_serve
check "serve prints its address" yes "$([ -n "$base" ] && echo yes)"
http POST /api/login '{"user": "cli_admin"}'
check "a sign-in the server does not check a password for is refused by default" "403 yes" \
  "$status $(has "$body" "--allow-passwordless")"
stop_serve

start_serve --allow-passwordless
rm -f "$work/cookies"
http GET /api/journeys
check "the API needs a session" 401 "$status"
http GET /
check "the page is served" "200 yes" "$status $(has "$body" '<div id="root">')"
hdrs=$(curl -s -D - -o /dev/null "$base/app.js")
check "the front end is built in (app.js)" yes "$(has "$hdrs" "text/javascript")"
check "pages carry a Content-Security-Policy" yes "$(has "$hdrs" "Content-Security-Policy: default-src 'self'")"
http GET /api/me "" -H "Host: evil.example:80"
check "a foreign Host header is refused (DNS rebinding)" 421 "$status"
http POST /api/login '{"user": "cli_nobody"}'
check "a role without pg_journey privileges cannot sign in" "403 yes" "$status $(has "$body" "may not use pg_journey")"
http POST /api/login '{"user": "no_such_role"}'
check "an unknown role cannot sign in" "401 yes" "$status $(has "$body" 'role \"no_such_role\" does not exist')"
login_hdrs=$(curl -s -D - -o "$work/login.json" -c "$work/cookies" -H 'Content-Type: application/json' \
  --data '{"user": "cli_admin"}' "$base/api/login")
check "the session cookie is HttpOnly and SameSite=Strict" yes "$(has "$login_hdrs" "HttpOnly; SameSite=Strict")"
body=$(cat "$work/login.json")
csrf=$(json 'j.csrf')
check "sign-in answers the role and a CSRF token" "cli_admin 64" "$(json 'j.user') ${#csrf}"
http GET /api/journeys
check "a signed-in role lists journeys" "200 yes" "$status $(has "$body" "cli-copy")"
edit='{"name": "cli-copy", "key": "tips", "config": {"template": "nudge"}}'
http POST /api/edit/step_config "$edit"
check "a write without the CSRF token is refused" 403 "$status"
http POST /api/edit/step_config "$edit" -H "X-CSRF-Token: 0000"
check "a write with a wrong CSRF token is refused" 403 "$status"
http POST /api/edit/step_config "$edit" -H "X-CSRF-Token: $csrf" -H "Origin: http://evil.example"
check "a write from another origin is refused" 403 "$status"
resp=$(curl -s -w '\n%{http_code}' -b "$work/cookies" -H "X-CSRF-Token: $csrf" -H 'Content-Type: text/plain' \
  --data "$edit" "$base/api/edit/step_config")
check "a write that is not JSON (a form) is refused" 415 "$(echo "$resp" | tail -1)"
http POST /api/edit/step_config "$edit" -H "X-CSRF-Token: $csrf"
check "a write with the token runs as the role" "200 nudge" "$status $(json 'j.doc.definition.steps.find(s=>s.key==="tips").template')"
http POST /api/edit/step_config '{"name": "cli-copy", "key": "tips", "config": {"template": "nope"}}' -H "X-CSRF-Token: $csrf"
check "an edit answers the issues it introduced" "200 unknown template \"nope\"" "$status $(json 'j.introduced[0].message')"
http POST /api/edit/step_config "{\"name\": \"cli-copy'); DROP TABLE customers; --\", \"key\": \"tips\", \"config\": {}}" -H "X-CSRF-Token: $csrf"
check "request text is a parameter, never SQL" "404 1" "$status $(psql -X -At -c "SELECT count(*) FROM pg_tables WHERE tablename = 'customers'")"
check "server errors come back with their SQLSTATE" 42704 "$(json 'j.sqlstate')"
http GET '/api/journey/customer?name=cli-welcome&customer=1'
check "a customer's path" "200 yes" "$status $(has "$body" '"branch":"event"')"
http POST /api/logout '{}' -H "X-CSRF-Token: $csrf"
http GET /api/journeys
check "after sign-out the session is gone" 401 "$status"

rm -f "$work/cookies"
http POST /api/login '{"user": "cli_reader"}'
csrf=$(json 'j.csrf')
check "a reader signs in and may not edit" "200 false" "$status $(json 'j.can_edit')"
http POST /api/edit/step_config "$edit" -H "X-CSRF-Token: $csrf"
check "PostgreSQL refuses a reader's edit (42501)" "403 42501" "$status $(json 'j.sqlstate')"
http GET '/api/journey?name=cli-copy'
check "a reader reads a journey" "200 cli-copy" "$status $(json 'j.journey.name')"
stop_serve

start_serve --allow-passwordless --max-sessions 1
rm -f "$work/cookies"
http POST /api/login '{"user": "cli_reader"}'
rm -f "$work/cookies"
http POST /api/login '{"user": "cli_reader"}'
check "sign-ins beyond --max-sessions are refused (each holds a connection)" 503 "$status"
stop_serve

psql -X -q -d postgres -c "DROP DATABASE $DB" >/dev/null
psql -X -q -c "DROP ROLE cli_reader" -c "DROP ROLE cli_admin" -c "DROP ROLE cli_nobody" >/dev/null 2>&1
finish_checks
