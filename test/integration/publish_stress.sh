#!/usr/bin/env bash
# Publishing races ticks (issue 8, item 5): three tickers call journey.run_due
# in a loop while a fourth session keeps publishing new versions with
# migrate => true (and an application keeps enrolling), for PGJ_STRESS_SECONDS
# (default 20). A tick must run each enrollment on the version committed when
# it claimed it: no enrollment may be charged or failed ("journey ... has no
# published version N"), and every one must finish with one message per send
# visit. Runs against the harness's cluster (PGHOST etc. exported); prints
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash
seconds=${PGJ_STRESS_SECONDS:-20}
db=pgj_publish_stress
work=$(mktemp -d /tmp/pgj_pstress.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
q() { psql -X -q -At -d "$db" -v ON_ERROR_STOP=1 "$@"; }

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_journey;
CREATE TABLE customers (id int PRIMARY KEY, email text);
INSERT INTO customers SELECT g, 'c' || g || '@x.test' FROM generate_series(1, 100000) g;
SELECT journey.register_audience('customers', 'id', 'email');
SELECT journey.create_template('odd', 'email', 'Odd', 'odd {{email}}');
SELECT journey.create_template('even', 'email', 'Even', 'even {{email}}');
-- The same keys in every version (so that each publish migrates every active
-- enrollment); versions alternate their templates and delays.
CREATE FUNCTION stress_definition(tpl text, pause text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('name', 'stress', 'audience', 'customers', 'start', 'a',
    'settings', jsonb_build_object('max_attempts', 1),  -- one charge fails an enrollment for good
    'steps', jsonb_build_array(
      jsonb_build_object('key', 'a', 'type', 'send_email', 'template', tpl, 'next', 'd1'),
      jsonb_build_object('key', 'd1', 'type', 'delay', 'duration', pause, 'next', 'b'),
      jsonb_build_object('key', 'b', 'type', 'send_email', 'template', tpl, 'next', 'd2'),
      jsonb_build_object('key', 'd2', 'type', 'delay', 'duration', pause, 'next', 'c'),
      jsonb_build_object('key', 'c', 'type', 'send_email', 'template', tpl)))
$$;
SELECT journey.import(stress_definition('odd', '1 second'));
SELECT journey.publish('stress');
SELECT journey.enroll_query('stress', 'SELECT id FROM customers WHERE id <= 300');
SQL

# Each worker file repeats its statement; psql runs each in its own transaction.
deadline=$(($(date +%s) + seconds))
repeat() {  # file, statement, count
  for ((i = 0; i < $3; i++)); do echo "$2"; done >"$1"
}
# A tick's statement takes its snapshot when it starts, some time before the
# tick claims (at once here; a busy server, or a statement that does more
# first, widens that gap): a random gap of up to 20 ms makes the race frequent.
repeat "$work/tick.sql" \
  "SELECT journey.run_due(200) FROM (SELECT pg_sleep(random() * 0.02) OFFSET 0) gap;" 200
cat >"$work/publish.sql" <<'SQL'
SELECT journey.import(stress_definition('even', '2 seconds'));
SELECT journey.publish('stress', migrate => true);
SELECT journey.import(stress_definition('odd', '1 second'));
SELECT journey.publish('stress', migrate => true);
SQL
ticker() {
  while [ "$(date +%s)" -lt "$deadline" ]; do
    psql -X -q -At -d "$db" -f "$work/tick.sql" >/dev/null 2>>"$work/errors" || true
  done
}
publisher() {
  while [ "$(date +%s)" -lt "$deadline" ]; do
    psql -X -q -At -d "$db" -v ON_ERROR_STOP=1 -f "$work/publish.sql" >/dev/null 2>>"$work/errors"
  done
}
enroller() {
  local next=301
  while [ "$(date +%s)" -lt "$deadline" ]; do
    q -c "SELECT journey.enroll_query('stress', 'SELECT id FROM customers WHERE id BETWEEN $next AND $((next + 49))')" \
      >/dev/null 2>>"$work/errors"
    next=$((next + 50))
    sleep 0.2
  done
}
ticker & ticker & ticker & publisher & enroller &
wait

versions=$(q -c "SELECT max(version) FROM journey.versions")
check "the publisher published many versions (more than 10)" 1 "$([ "$versions" -gt 10 ] && echo 1)"
check "no session saw an error" "" "$(grep -v '^$' "$work/errors" | head -5)"
# Drain what is left at a quiet moment.
for hours in 1 2 3 4 5; do
  q -c "SELECT journey.run_due(100000, now() + interval '$hours hours')" >/dev/null
done
check "no enrollment was charged or failed during the race" 0 \
  "$(q -c "SELECT count(*) FROM journey.enrollments WHERE attempts > 0 OR status = 'failed'")"
check "no enrollment was charged or failed (last_error)" "" \
  "$(q -c "SELECT string_agg(DISTINCT last_error, '; ') FROM journey.enrollments")"
check "every enrollment completed" 0 \
  "$(q -c "SELECT count(*) FROM journey.enrollments WHERE status <> 'completed'")"
check "three messages per enrollment, one per send visit" 0 \
  "$(q -c "SELECT count(*) FROM (SELECT e.id FROM journey.enrollments e
            LEFT JOIN journey.messages m ON m.enrollment_id = e.id
            GROUP BY e.id HAVING count(m.id) <> 3 OR count(DISTINCT m.visit) <> 3) x")"
echo "($(q -c "SELECT count(*) FROM journey.enrollments") enrollments, $versions versions)"
[ "${PGJ_STRESS_KEEP:-}" ] || psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null
finish_checks
