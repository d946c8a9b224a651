#!/usr/bin/env bash
# The background workers' settings (docs/operations.md, "Settings"), on a
# cluster of its own (pg_journey.role is read at server start):
#   - pg_journey.role naming a superuser: the launcher says so and starts none;
#   - pg_journey.role naming a missing role: the launcher says so and starts
#     none, then starts the worker once the role exists (no restart);
#   - pg_journey.batch_size: a worker advances at most that many enrollments
#     per transaction, and starts the next batch at once when one was full;
#   - pg_journey.naptime: a worker nobody wakes looks for due work only that
#     often (1 h: a row made due by hand waits; after a reload to 200 ms it is
#     taken).
# Every wait is for a condition, with a generous deadline. Prints
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash

own_cluster settings
cat >>"$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'pg_journey'
pg_journey.database = 'pgj_settings'
pg_journey.workers = 1
pg_journey.role = 'postgres'
pg_journey.batch_size = 7
pg_journey.naptime = '1h'
fsync = off
log_line_prefix = '%m [%p] '
CONF
restart() {
  as_cluster_user "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
  own_cluster_start
}
log_since() { tail -c +"$(($1 + 1))" "$dir/log"; }
log_has() { log_since "$1" | grep -qF -- "$2"; }
workers() {
  q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_journey worker'" 2>&1
}
launcher_up() { [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_journey launcher'" 2>&1)" = 1 ]; }

# 1. A superuser as pg_journey.role: refused, no worker.
own_cluster_start
q -c "CREATE DATABASE pgj_settings" >/dev/null
db=pgj_settings q -c "CREATE EXTENSION pg_journey" >/dev/null 2>&1
wait_until log_has 0 'pg_journey: role "postgres" (pg_journey.role) is a superuser; no worker is started'
check "superuser pg_journey.role: the launcher logs the refusal" 0 "$?"
check "superuser pg_journey.role: the launcher runs, no worker" "1 0" \
  "$(launcher_up && echo 1 || echo 0) $(workers)"

# 2. A role that does not exist yet: said once, then picked up without a restart.
q -c "ALTER SYSTEM SET pg_journey.role = 'settings_worker'" >/dev/null
from=$(stat -c %s "$dir/log")
restart
wait_until log_has "$from" 'pg_journey: role "settings_worker" (pg_journey.role) does not exist; no worker is started'
check "missing pg_journey.role: the launcher logs it" 0 "$?"
check "missing pg_journey.role: the launcher runs, no worker" "1 0" \
  "$(launcher_up && echo 1 || echo 0) $(workers)"
q -c "CREATE ROLE settings_worker LOGIN" -c "GRANT journey_app TO settings_worker" >/dev/null
worker_as_role() {
  [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_journey worker'
                AND datname = 'pgj_settings' AND usename = 'settings_worker'" 2>&1)" = 1 ]
}
wait_until worker_as_role
check "once the role exists, a worker runs as it in pgj_settings (no restart)" 0 "$?"

# 3. batch_size = 7: 30 enrollments are advanced in transactions of 7, 7, 7, 7, 2
# (each transaction's visits share its clock, activity.at).
export db=pgj_settings
q >/dev/null <<'SQL'
CREATE TABLE customers (id int PRIMARY KEY, email text);
INSERT INTO customers SELECT g, 'c' || g || '@x.test' FROM generate_series(1, 100) g;
SELECT journey.register_audience('customers', 'id', 'email');
SELECT journey.create_template('t', 'email', 'Hi', 'Hello {{email}}');
SELECT journey.import('{"name": "batch", "audience": "customers", "start": "a",
  "steps": [{"key": "a", "type": "send_email", "template": "t"}]}');
SELECT journey.import('{"name": "nap", "audience": "customers", "start": "wait",
  "steps": [{"key": "wait", "type": "delay", "duration": "1 day", "next": "b"},
            {"key": "b", "type": "send_email", "template": "t"}]}');
SELECT journey.publish('batch');
SELECT journey.publish('nap');
SQL
completed() {
  [ "$(q -c "SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
               WHERE j.name = '$1' AND e.status = 'completed'" 2>&1)" = "$2" ]
}
q -c "SELECT journey.enroll_query('batch', 'SELECT id FROM customers WHERE id <= 30')" >/dev/null
wait_until completed batch 30
check "batch_size = 7: the worker completes the 30 enrollments" 0 "$?"
check "batch_size = 7: one transaction per 7 enrollments (7 7 7 7 2)" "7 7 7 7 2" \
  "$(q -c "SELECT string_agg(n::text, ' ' ORDER BY n DESC) FROM (SELECT count(*) AS n
             FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
            WHERE j.name = 'batch' GROUP BY a.at) s" 2>&1)"

# 4. naptime. Customers 50 and 51 park at a one-day delay; nothing wakes the
# worker when a row is made due by hand, so with naptime = 1 h it sleeps on.
parked() {
  [ "$(q -c "SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
               WHERE j.name = 'nap' AND e.status = 'active' AND e.step_key = 'wait'
                 AND e.next_run_at > now() + interval '23 hours'" 2>&1)" = "$1" ]
}
# The worker is asleep (in WaitLatch) and stays so for a second: no wake-up is
# pending, so whatever it does next, only a wake-up or its naptime started.
worker_sleep() {
  q -c "SELECT wait_event_type || ' ' || state_change FROM pg_stat_activity
         WHERE backend_type = 'pg_journey worker'" 2>&1
}
settled() {
  local before
  before=$(worker_sleep); sleep 1
  [ "$before" = "$(worker_sleep)" ] && [[ "$before" == Extension* ]]
}
wait_until settled
q -c "SELECT journey.enroll('nap', id::text) FROM customers WHERE id IN (50, 51)" >/dev/null
wait_until parked 2
check "naptime: both enrollments parked at the one-day delay" 0 "$?"
wait_until settled
make_due() {
  q -c "UPDATE journey.enrollments e SET next_run_at = now() FROM journey.journeys j
         WHERE j.id = e.journey_id AND j.name = 'nap' AND e.customer_id = '$1'" >/dev/null
}
make_due 50
sleep 3
check "naptime = 1h: a row made due by hand, with no wake-up, is still waiting 3 s later" \
  "active wait" \
  "$(q -F ' ' -c "SELECT e.status, e.step_key FROM journey.enrollments e JOIN journey.journeys j
                   ON j.id = e.journey_id WHERE j.name = 'nap' AND e.customer_id = '50'" 2>&1)"
# The reload wakes the worker: it reads naptime = 200 ms and takes customer 50.
q -c "ALTER SYSTEM SET pg_journey.naptime = '200ms'" -c "SELECT pg_reload_conf()" >/dev/null
wait_until completed nap 1
check "naptime: after the reload the worker has woken and taken the due row" 0 "$?"
# Now nothing wakes it, yet a row made due by hand is taken within the naptime.
make_due 51
wait_until completed nap 2
check "naptime = 200ms: a row made due by hand is taken without a wake-up" 0 "$?"

check "no worker error in the server log" "" \
  "$(grep -E 'ERROR|FATAL|PANIC|terminated by signal' "$dir/log" | grep -v 'is a superuser' | head -5)"
finish_checks
