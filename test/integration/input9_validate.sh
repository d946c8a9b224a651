#!/usr/bin/env bash
# attack-9 F4 through journeyctl: `validate` (against the server, and with a
# schema file `journeyctl schema` wrote) reports a merge tag without a default
# that names a column the audience lacks; the builder's journey view
# (/api/journey) checks a published version with the templates it froze, and
# its draft with journey.templates. Needs the cluster of tools/test.sh (PGHOST),
# curl and jq.
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash

J=${JOURNEYCTL:-$("$PG_CONFIG" --bindir)/journeyctl}
export PGDATABASE=pgj_input9
work=$(mktemp -d)
trap 'kill $(cat "$work/serve.pid" 2>/dev/null) 2>/dev/null; rm -rf "$work"' EXIT
has() { case "$1" in *"$2"*) echo yes ;; *) echo "no: $1" ;; esac; }

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $PGDATABASE" -c "CREATE DATABASE $PGDATABASE" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION pg_journey;
CREATE TABLE i9c (id bigint PRIMARY KEY, email text, first_name text);
INSERT INTO i9c VALUES (1, 'ann@example.com', 'Ann');
SELECT journey.register_audience('i9c', 'id', 'email');
SELECT journey.create_template('i9_typo', 'email', 'Hi {{frist_name}}',
                               'Hello {{nick | default: "you"}} {{event.x}} {{context.y}}');
SELECT journey.create_template('i9_ok', 'email', 'Hi {{first_name}}', 'Hello');
SQL
definition() {  # name template
  printf '{"name": "%s", "audience": "public.i9c", "start": "m",
  "steps": [{"key": "m", "type": "send_email", "template": "%s"}]}' "$1" "$2"
}
definition i9-typo i9_typo >"$work/typo.json"
definition i9-ok i9_ok >"$work/ok.json"
expected='error  m: template "i9_typo" renders column "frist_name", which audience public.i9c does not have'

out=$("$J" validate "$work/typo.json" 2>&1); rc=$?
check "validate (server): the typo is an error at its step, exit 4" "4 yes" "$rc $(has "$out" "$expected")"
out=$("$J" validate "$work/ok.json" 2>&1); rc=$?
check "validate (server): defaults, event and context tags pass" "0 yes" \
  "$rc $(has "$out" "0 error(s), 0 warning(s)")"
"$J" schema i9c -o "$work/schema.json" >/dev/null 2>&1
check "schema lists the columns each template needs" '["frist_name"] ["first_name"]' \
  "$(jq -c '.template_columns.i9_typo' "$work/schema.json") $(jq -c '.template_columns.i9_ok' "$work/schema.json")"
out=$("$J" validate --schema "$work/schema.json" "$work/typo.json" 2>&1); rc=$?
check "validate --schema: the same error" "4 yes" "$rc $(has "$out" "$expected")"
out=$("$J" validate --offline "$work/typo.json" 2>&1); rc=$?
check "validate --offline: not checked" "0 yes" "$rc $(has "$out" "0 error(s)")"

# The builder: a published version keeps the templates it froze.
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT journey.import('{"name": "i9-ok", "audience": "i9c", "start": "m",
  "steps": [{"key": "m", "type": "send_email", "template": "i9_ok"}]}');
SELECT journey.publish('i9-ok');
SELECT journey.create_template('i9_ok', 'email', 'Hi {{frist_name}}', 'Hello', replace => true);
SQL
"$J" serve --http-port 0 --allow-passwordless >"$work/serve.log" 2>&1 &
echo $! >"$work/serve.pid"
wait_until grep -q 'http://127.0.0.1:[0-9]' "$work/serve.log"
base=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log")
curl -s -o /dev/null -b "$work/cookies" -c "$work/cookies" -H 'Content-Type: application/json' \
  --data '{"user": "postgres"}' "$base/api/login"
issues() { curl -s -b "$work/cookies" "$base/api/journey?name=i9-ok" | jq -c '[.version, .issues]'; }
check "builder: the published version shows no issue of the replaced template" '[1,[]]' "$(issues)"
psql -X -q -v ON_ERROR_STOP=1 -c "SELECT journey.set_start('i9-ok', 'm')" >/dev/null
check "builder: its draft does" \
  '[2,[{"message":"template \"i9_ok\" renders column \"frist_name\", which audience public.i9c does not have","severity":"error","step_key":"m"}]]' \
  "$(issues)"

finish_checks
