#!/usr/bin/env bash
# A worker role that exists but is not a member of journey_app (attack-9 F7):
# each tick failed "permission denied for schema journey", logged every naptime
# with no hint. Now the worker says it once, with the GRANT to run, waits
# (pg_stat_activity: "waiting for GRANT journey_app"), and runs journeys by
# itself once granted. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash

own_cluster workerrole
cat >>"$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'pg_journey'
pg_journey.database = 'pgj_role'
pg_journey.workers = 1
pg_journey.role = 'role_worker'
pg_journey.naptime = 100
fsync = off
CONF
as_cluster_user "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start >/dev/null \
  || { cat "$dir/log"; echo "0 passed, 1 failed"; exit 1; }
q() { psql -X -q -At -h "$dir" -U postgres -d "${db:-postgres}" -v ON_ERROR_STOP=1 "$@"; }
patience=60
wait_until() {
  local deadline=$((SECONDS + patience))
  until "$@"; do [ "$SECONDS" -ge "$deadline" ] && return 1; sleep 0.1; done
}
count_in_log() { grep -cF -- "$1" "$dir/log"; }

q -c "CREATE DATABASE pgj_role" >/dev/null
export db=pgj_role
# The role exists, but nobody granted it journey_app.
q >/dev/null <<'SQL'
CREATE ROLE role_worker LOGIN;
CREATE EXTENSION pg_journey;
CREATE TABLE customers (id int PRIMARY KEY, email text);
INSERT INTO customers VALUES (1, 'one@example.com');
SELECT journey.register_audience('customers', 'id', 'email');
SELECT journey.import('{"name": "r", "audience": "customers", "start": "x", "steps": [{"key": "d", "type": "delay", "duration": "1 second", "next": "x"}, {"key": "x", "type": "exit"}]}');
SELECT journey.publish('r');
SELECT journey.enroll('r', '1');
SQL
waiting() {
  [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_journey worker'
               AND query = 'waiting for GRANT journey_app'")" = 1 ]
}
wait_until waiting
check "the worker waits for the GRANT (pg_stat_activity)" 0 "$?"
wait_until test "$(count_in_log 'is not a member of journey_app')" -ge 1
# Three more seconds of naps (30 naptimes): still said once, no permission errors.
sleep 3
check "said once" 1 "$(count_in_log 'pg_journey worker waits: role "role_worker" (pg_journey.role) is not a member of journey_app')"
check "with the GRANT to run" 1 "$(count_in_log 'HINT:  GRANT journey_app TO role_worker;')"
check "no permission errors logged" 0 "$(count_in_log 'permission denied')"
check "the enrollment waits" "active" "$(q -c "SELECT status FROM journey.enrollments")"

q -c "GRANT journey_app TO role_worker" >/dev/null
done_() { [ "$(q -c "SELECT status FROM journey.enrollments")" != active ]; }
wait_until done_
check "granted: the worker runs the journey by itself" 0 "$?"
finish_checks
