#!/usr/bin/env bash
# The log line of a worker whose tick a SIGTERM interrupted names what the tick
# was running: enrollment, journey, version and step (issue 9, attack-9 F17).
# A call step sleeps; pg_terminate_backend ends the worker's tick; the server
# log must say 'SIGTERM interrupted a tick running enrollment N of journey
# "napj" version 1 at step "c"', and the restarted worker charges that step.
# Starts a throwaway cluster of its own; prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash

own_cluster errors9
cat >>"$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'pg_journey'
pg_journey.database = 'pgj_e9'
pg_journey.workers = 1
pg_journey.naptime = 100
pg_journey.role = 'journey_worker'
fsync = off
log_line_prefix = '%m [%p] %q%a '
CONF
own_cluster_start
q -c "CREATE ROLE journey_worker LOGIN" -c "CREATE DATABASE pgj_e9" >/dev/null
db=pgj_e9
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_journey;
GRANT journey_app TO journey_worker;
CREATE TABLE customers (id int PRIMARY KEY, email text);
INSERT INTO customers VALUES (71, 'c71@x.test');
CREATE FUNCTION public.nap(customer_id text, context jsonb) RETURNS jsonb LANGUAGE sql
  AS $$ SELECT jsonb_build_object('n', pg_sleep(600)::text) $$;
SELECT journey.register_audience('customers', 'id', 'email');
SELECT journey.import('{"name": "napj", "audience": "customers", "start": "c",
  "settings": {"max_attempts": 3},
  "steps": [{"key": "c", "type": "call", "function": "public.nap", "next": "d"},
            {"key": "d", "type": "delay", "duration": "1 day"}]}');
SELECT journey.publish('napj');
SQL
id=$(q -c "SELECT journey.enroll('napj', '71')")

napping() {
  [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_journey worker'
                AND wait_event = 'PgSleep'")" = 1 ]
}
wait_until napping
check "the worker runs the call step" t "$(napping && echo t || echo f)"
q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE backend_type = 'pg_journey worker' AND wait_event = 'PgSleep'" >/dev/null

logged() { grep -q 'SIGTERM interrupted a tick' "$dir/log"; }
wait_until logged
line=$(grep -o 'SIGTERM interrupted a tick[^,]*, which was rolled back' "$dir/log" | head -1)
check "the log line names enrollment, journey, version and step" \
  "SIGTERM interrupted a tick running enrollment $id of journey \"napj\" version 1 at step \"c\", which was rolled back" \
  "$line"

# The restarted worker charges the step (attempt 1 of 3), at step c.
charged() { [ "$(q -c "SELECT attempts FROM journey.enrollments WHERE id = $id")" = 1 ]; }
wait_until charged
check "the restarted worker charges step c" "1 c 57014" \
  "$(q -c "SELECT attempts || ' ' || step_key || ' ' || last_error_code FROM journey.enrollments WHERE id = $id")"
finish_checks
