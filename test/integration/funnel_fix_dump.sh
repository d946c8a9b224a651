#!/usr/bin/env bash
# journey.activity_hours (what journey.funnel counts) after pg_dump / pg_restore
# (issue 10): the table is not dumped; restoring journey.activity's rows fires
# its trigger, which counts them again, so the restored funnel equals the
# source's. Runs against the harness's cluster (PGHOST etc. exported); prints
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

dump=$(mktemp /tmp/pgj_ffdump.XXXXXX)
trap 'rm -f "$dump"' EXIT
psql -X -q -c "DROP DATABASE IF EXISTS pgj_ffdump_src" -c "DROP DATABASE IF EXISTS pgj_ffdump_dst" \
  -c "CREATE DATABASE pgj_ffdump_src" -c "CREATE DATABASE pgj_ffdump_dst" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d pgj_ffdump_src >/dev/null <<'SQL'
CREATE EXTENSION pg_journey;
CREATE TABLE customers (id bigint PRIMARY KEY, email text);
INSERT INTO customers SELECT g, 'c' || g || '@x.test' FROM generate_series(1, 40) g;
SELECT journey.register_audience('customers', 'id', 'email');
SELECT journey.import('{"name": "dumped", "audience": "customers", "start": "a",
  "steps": [{"key": "a", "type": "send", "channel": "c", "payload": {}, "next": "w"},
            {"key": "w", "type": "delay", "duration": "1 hour", "next": "b"},
            {"key": "b", "type": "send", "channel": "c", "payload": {}}]}');
SELECT journey.publish('dumped');
SELECT count(journey.enroll('dumped', c::text)) FROM generate_series(1, 40) c;
SELECT journey.run_due(100, now() + interval '1 minute');
SELECT journey.exit(e.id, 'by hand') FROM journey.enrollments e WHERE e.customer_id::int <= 5;
SELECT journey.run_due(100, now() + interval '2 hours');
SQL
funnel="SELECT string_agg(concat_ws(' ', step_key, entered, now_at, moved, completed, exited, median_time), '; ')
          FROM journey.funnel('dumped')"
counted="SELECT sum(visits) || '/' || (SELECT count(*) FROM journey.activity) FROM journey.activity_hours"
before=$(q pgj_ffdump_src "$funnel")
check "the source counts every visit once" "115/115" "$(q pgj_ffdump_src "$counted")"
pg_dump -Fc -d pgj_ffdump_src -f "$dump"
pg_restore -d pgj_ffdump_dst "$dump" 2>"$dump.err"; rc=$?
check "pg_restore succeeds" "0 " "$rc $(grep -v '^$' "$dump.err" | head -1)"
rm -f "$dump.err"
check "activity_hours is not dumped: counted again from activity, once" "115/115" \
  "$(q pgj_ffdump_dst "$counted")"
check "the restored funnel equals the source's" "$before" "$(q pgj_ffdump_dst "$funnel")"

psql -X -q -c "DROP DATABASE pgj_ffdump_src" -c "DROP DATABASE pgj_ffdump_dst" >/dev/null
finish_checks
