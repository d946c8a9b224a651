#!/usr/bin/env bash
# Worker 0 merges journey.activity_hours' rows of ended hours
# (journey.compact_activity_hours) every pg_journey.compact_interval
# (docs/operations.md, "Settings"), on a cluster of its own: five statements
# of visits of one group two hours ago make five roll-up rows; with
# compact_interval = 0 (off) they stay; after a reload to 1s the worker merges
# them into one row with the same sums, and leaves a later hour's rows alone. Every wait is for a condition, with a
# generous deadline. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash

own_cluster compact
cat >>"$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'pg_journey'
pg_journey.database = 'pgj_compact'
pg_journey.workers = 1
pg_journey.role = 'compact_worker'
pg_journey.naptime = '200ms'
pg_journey.compact_interval = 0
fsync = off
CONF
own_cluster_start
q -c "CREATE DATABASE pgj_compact" >/dev/null
export db=pgj_compact
q -c "CREATE EXTENSION pg_journey" -c "CREATE ROLE compact_worker LOGIN" \
  -c "GRANT journey_app TO compact_worker" >/dev/null 2>&1
worker_up() {
  [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_journey worker'
               AND datname = 'pgj_compact'" 2>&1)" = 1 ]
}
wait_until worker_up
check "a worker runs in pgj_compact" 0 "$?"
# Five statements of one group (two hours ago), two of an hour not yet ended
# (five hours ahead: the test never depends on the clock passing an hour).
add() {
  q -c "INSERT INTO journey.activity (enrollment_id, journey_id, version, customer_id, step_key,
          step_type, branch, visit, at, outcome, arrived_at)
        SELECT -g, -1, 1, g::text, 's', 'delay', 'next', 1, $2 + g * interval '1 second', 'moved',
               $2 FROM generate_series($1, $1 + 1) g" >/dev/null
}
for i in 1 3 5 7 9; do add "$i" "date_trunc('hour', now()) - interval '2 hours'"; done
for i in 11 13; do add "$i" "date_trunc('hour', now()) + interval '5 hours'"; done
rows() {
  q -c "SELECT count(*) || ' ' || sum(visits) FROM journey.activity_hours
         WHERE journey_id = -1 AND hour $1 now()"
}
check "as written: 5 rows of the ended hour (10 visits), 2 of the later one (4)" "5 10 2 4" \
  "$(rows '<') $(rows '>')"
sleep 2
check "compact_interval = 0: nothing merged 2 s later" "5 10 2 4" "$(rows '<') $(rows '>')"
q -c "ALTER SYSTEM SET pg_journey.compact_interval = '1s'" -c "SELECT pg_reload_conf()" >/dev/null
merged() { [ "$(rows '<')" = "1 10" ]; }
wait_until merged
check "compact_interval = 1s: the worker merged the ended hour into one row" 0 "$?"
check "the merged row keeps the sums; the later hour is left as written" \
  '1 10 {"1": 1, "2": 1, "3": 1, "4": 1, "5": 1, "6": 1, "7": 1, "8": 1, "9": 1, "10": 1} 2 4' \
  "$(rows '<') $(q -c "SELECT spent FROM journey.activity_hours WHERE journey_id = -1
                         AND hour < now()") $(rows '>')"
finish_checks
