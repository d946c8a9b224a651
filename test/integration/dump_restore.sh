#!/usr/bin/env bash
# pg_dump / pg_restore carry journeys, enrollments and history (extension
# configuration tables), and the restored customer-table triggers keep working.
# Runs against the harness's cluster (PGHOST etc. exported); prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

dump=$(mktemp /tmp/pgj_dump.XXXXXX)
psql -X -q -c "DROP DATABASE IF EXISTS pgj_dump_src" -c "DROP DATABASE IF EXISTS pgj_dump_dst" \
  -c "CREATE DATABASE pgj_dump_src" -c "CREATE DATABASE pgj_dump_dst" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d pgj_dump_src >/dev/null <<'SQL'
CREATE EXTENSION pg_journey;
CREATE TABLE customers (id bigint PRIMARY KEY, email text, plan text);
SELECT journey.register_audience('customers', 'id', 'email');
SELECT journey.create_template('t', 'email', 'Hi', 'Hello {{email}}');
SELECT journey.import('{"name": "w", "audience": "customers", "start": "a",
  "entry": [{"type": "attribute", "when": {"field": "plan", "op": "eq", "value": "pro"}}],
  "steps": [{"key": "a", "type": "send_email", "template": "t", "next": "b"},
            {"key": "b", "type": "delay", "duration": "1 day"}]}');
SELECT journey.publish('w');
INSERT INTO customers SELECT g, 'c' || g || '@x.test', 'pro' FROM generate_series(1, 50) g;
SELECT journey.run_due();
SELECT journey.track('3', 'opened');
SQL
state="SELECT (SELECT count(*) FROM journey.journeys) || '/' || (SELECT count(*) FROM journey.versions)
   || '/' || (SELECT count(*) FROM journey.steps) || '/' || (SELECT count(*) FROM journey.enrollments)
   || '/' || (SELECT count(*) FROM journey.activity) || '/' || (SELECT count(*) FROM journey.messages)
   || '/' || (SELECT count(*) FROM journey.events) || '/' || (SELECT count(*) FROM journey.templates)"
before=$(q pgj_dump_src "$state" 2>&1)
check "the source database holds 1 journey, 1 version, 2 steps, 50 enrollments, 50 visits, 50 messages, 1 event, 1 template" \
  "1/1/2/50/50/50/1/1" "$before"
dump_out=$("$PGBIN/pg_dump" -Fc -d pgj_dump_src -f "$dump" 2>&1)
check "pg_dump succeeds" "0:" "$?:$dump_out"
restore_out=$("$PGBIN/pg_restore" -d pgj_dump_dst "$dump" 2>&1)
check "pg_restore succeeds without a message" "0:" "$?:$restore_out"
check "journeys, versions, steps, enrollments, activity, messages, events, templates restored" \
  "$before" "$(q pgj_dump_dst "$state")"
check "the customer-table triggers are restored" 3 \
  "$(q pgj_dump_dst "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'customers'::regclass")"
q pgj_dump_dst "INSERT INTO customers VALUES (999, 'n@x.test', 'pro')" >/dev/null
check "a restored attribute trigger enrolls (ids continue from the dump)" 51 \
  "$(q pgj_dump_dst "SELECT count(DISTINCT id) FROM journey.enrollments")"
check "the restored journey runs to the end" 51 \
  "$(q pgj_dump_dst "SELECT journey.run_due(1000, now()) + 0 * journey.run_due(1000, now() + interval '2 days')" >/dev/null;
     q pgj_dump_dst "SELECT count(*) FROM journey.enrollments WHERE status = 'completed'")"
rm -f "$dump"
psql -X -q -c "DROP DATABASE pgj_dump_src" -c "DROP DATABASE pgj_dump_dst" >/dev/null 2>&1
finish_checks
