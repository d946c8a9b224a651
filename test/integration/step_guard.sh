#!/usr/bin/env bash
# A step that hangs or is cancelled never stalls the engine (issue 8, items 3
# and 4), whatever the calling mode:
#  1. pg_cron style: every tick is a new connection with statement_timeout.
#     The hung call step is charged by the next tick (any backend), retried with
#     backoff and finally failed; the other due enrollments advance meanwhile.
#  2. pg_journey.step_timeout: the tick itself charges the step and commits the
#     rest of the batch.
#  3. A background worker hung in a call step: pg_terminate_backend ends it at
#     once (PostgreSQL's die handling); the restarted worker charges the step.
#  4. Fast shutdown during such a step completes promptly; after the restart the
#     step is charged, nothing of the interrupted tick committed, nothing is
#     sent twice.
#  5. The worker under pg_journey.step_timeout (set with ALTER SYSTEM).
# Starts a throwaway cluster of its own (it stops and restarts it); prints
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash

own_cluster steps
cat >>"$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'pg_journey'
pg_journey.database = 'pgj_steps'
pg_journey.workers = 1
pg_journey.naptime = 100
pg_journey.role = 'journey_worker'
fsync = off
log_line_prefix = '%m [%p] %q%a '
CONF
start_server() {
  as_cluster_user "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start >/dev/null
}
start_server || { cat "$dir/log"; echo "0 passed, 1 failed"; exit 1; }
q() { psql -X -q -At -h "$dir" -U postgres -v ON_ERROR_STOP=1 "$@"; }
# Waits up to $2 seconds for the query $1 (in database $3) to print "t".
# Hung steps sleep 10 minutes: every check below waits for its condition with
# a deadline of a minute, so a step that was not interrupted shows as a failure.
wait_until() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    [ "$(q -d "$3" -c "$1" 2>/dev/null)" = "t" ] && return 0
    sleep 0.1
  done
  return 1
}

q -d postgres -c "CREATE ROLE journey_worker LOGIN" -c "CREATE DATABASE pgj_cron" \
  -c "CREATE DATABASE pgj_steps" >/dev/null
# The same schema in both databases: customers 1..30, a call step that sleeps
# for the customers listed in hang, then an e-mail.
for db in pgj_cron pgj_steps; do
  q -d "$db" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_journey;
GRANT journey_app TO journey_worker;
CREATE TABLE customers (id int PRIMARY KEY, email text);
INSERT INTO customers SELECT g, 'c' || g || '@x.test' FROM generate_series(1, 30) g;
CREATE TABLE hang (id text PRIMARY KEY, seconds float8 NOT NULL);
GRANT SELECT ON hang TO PUBLIC;
CREATE FUNCTION public.sleepy(customer_id text, context jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_sleep(h.seconds) FROM public.hang h WHERE h.id = customer_id;
  RETURN '{"called": true}';
END $$;
SELECT journey.register_audience('customers', 'id', 'email');
SELECT journey.create_template('t', 'email', 'Hi', 'Hello {{email}}');
SELECT journey.import('{"name": "calls", "audience": "customers", "start": "c",
  "settings": {"max_attempts": 3},
  "steps": [{"key": "c", "type": "call", "function": "public.sleepy", "next": "m"},
            {"key": "m", "type": "send_email", "template": "t"}]}');
SELECT journey.publish('calls');
SELECT journey.import('{"name": "plain", "audience": "customers", "start": "m",
  "steps": [{"key": "m", "type": "send_email", "template": "t"}]}');
SELECT journey.publish('plain');
SQL
done
state() {  # database, customer: status attempts of its "calls" enrollment
  q -d "$1" -c "SELECT e.status || ' ' || e.attempts FROM journey.enrollments e JOIN journey.journeys j
                 ON j.id = e.journey_id WHERE j.name = 'calls' AND e.customer_id = '$2'"
}
completed() {  # database, journey: completed enrollments
  q -d "$1" -c "SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
                 WHERE j.name = '$2' AND e.status = 'completed'"
}

# ---- 1. pg_cron style ------------------------------------------------------
# Customer 1 enrolls first (first in claim order) and hangs; every tick is a
# fresh connection with statement_timeout = 3 s, as_of moving past the backoff
# (10 s, 20 s) by one minute per tick.
q -d pgj_cron >/dev/null <<'SQL'
INSERT INTO hang VALUES ('1', 600);
SELECT journey.enroll('calls', '1');
SELECT journey.enroll_query('calls', 'SELECT id FROM customers WHERE id > 1');
SELECT journey.enroll_query('plain', 'SELECT id FROM customers');
SQL
cron_tick() {  # minutes ahead
  psql -X -q -At -h "$dir" -U postgres -d pgj_cron -c "SET pg_journey.step_timeout = 0" \
    -c "SET statement_timeout = '3s'" \
    -c "SELECT journey.run_due(1000, now() + interval '$1 minutes')" 2>&1
}
out=$(cron_tick 1)
check "pg_cron: the first tick is cancelled by statement_timeout" 1 \
  "$(echo "$out" | grep -c 'canceling statement due to statement timeout')"
check "pg_cron: nothing of the cancelled tick committed" 0 "$(completed pgj_cron calls)"
cron_tick 2 >/dev/null
check "pg_cron: the next tick (a new connection) charges the hung step" "active 1" "$(state pgj_cron 1)"
check "pg_cron: ... and the other 29 enrollments of that journey advance" 29 "$(completed pgj_cron calls)"
check "pg_cron: ... and those of another journey too" 30 "$(completed pgj_cron plain)"
check "pg_cron: last_error says what happened" 1 \
  "$(q -d pgj_cron -c "SELECT count(*) FROM journey.enrollments WHERE customer_id = '1' AND
      last_error = 'cancelled while running step c (statement timeout, pg_cancel_backend,'
                   ' pg_terminate_backend or shutdown)'")"
for minutes in 3 4 5 6; do cron_tick "$minutes" >/dev/null; done
check "pg_cron: retried with backoff, failed after max_attempts (3)" "failed 3" "$(state pgj_cron 1)"
check "pg_cron: no record of an interrupted tick is left behind" 0 \
  "$(as_cluster_user ls "$dir/data/pg_journey" 2>/dev/null | wc -l)"

# ---- 2. pg_journey.step_timeout in a manual tick ---------------------------
q -d pgj_cron >/dev/null <<'SQL'
DELETE FROM hang;
INSERT INTO hang VALUES ('2', 600);
SELECT journey.import('{"name": "calls2", "audience": "customers", "start": "c",
  "steps": [{"key": "c", "type": "call", "function": "public.sleepy", "next": "m"},
            {"key": "m", "type": "send_email", "template": "t"}]}');
SELECT journey.publish('calls2');
SELECT journey.enroll_query('calls2', 'SELECT id FROM customers ORDER BY id');
SQL
# (statement_timeout only as a safety net: without step_timeout the tick would
# sleep 10 minutes.)
q -d pgj_cron -c "SET pg_journey.step_timeout = '500ms'" -c "SET statement_timeout = '60s'" \
  -c "SELECT journey.run_due(1000)" >/dev/null
check "step_timeout: one tick charges the hung step and commits the other 29" "29 1" \
  "$(completed pgj_cron calls2) $(q -d pgj_cron -c "SELECT count(*) FROM journey.enrollments e
      JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'calls2' AND e.attempts = 1
      AND e.last_error = 'timed out after pg_journey.step_timeout (500 ms) in the run from step \"c\"'")"

# ---- 3. a worker hung in a call step: pg_terminate_backend -----------------
worker_pid() {
  q -d postgres -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_journey worker'"
}
# Restarts the worker (it reads database settings when it connects).
restart_worker() {
  local victim
  victim=$(worker_pid)
  [ -n "$victim" ] && q -d postgres -c "SELECT pg_terminate_backend($victim)" >/dev/null
  wait_until "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_journey worker'
                AND pid <> ${victim:-0}" 60 postgres
}
wait_until "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_journey worker'" 60 postgres
q -d pgj_steps -c "ALTER DATABASE pgj_steps SET pg_journey.step_timeout = 0" >/dev/null
restart_worker
q -d pgj_steps >/dev/null <<'SQL'
INSERT INTO hang VALUES ('1', 600);
SELECT journey.enroll('calls', '1');
SELECT journey.enroll_query('calls', 'SELECT id FROM customers WHERE id BETWEEN 2 AND 10');
SQL
sleeping="SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_journey worker'
            AND wait_event = 'PgSleep'"
check "worker: hung in the call step" 0 "$(wait_until "$sleeping" 60 postgres; echo $?)"
victim=$(worker_pid)
q -d postgres -c "SELECT pg_terminate_backend($victim)" >/dev/null
check "worker: pg_terminate_backend ends the tick hung in a 10-minute step" 0 \
  "$(wait_until "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $victim" 60 postgres; echo $?)"
check "worker: the restarted worker charges the step, the other 9 complete" "active 1 9" \
  "$(wait_until "SELECT count(*) = 9 FROM journey.enrollments WHERE status = 'completed'" 60 pgj_steps
     echo "$(state pgj_steps 1) $(completed pgj_steps calls)")"
exit_customer() {  # its retry would hang again
  q -d pgj_steps -c "SELECT journey.exit(e.id) FROM journey.enrollments e
                      WHERE e.customer_id = '$1' AND e.status = 'active'" >/dev/null
}
exit_customer 1
grep -F "[$victim]" "$dir/log" | sed 's/^/  log: /'
check "worker: it exited cleanly (a LOG line, no FATAL)" "1 0" \
  "$(grep -F "[$victim]" "$dir/log" | grep -c 'LOG:  pg_journey worker: SIGTERM interrupted a tick') \
$(grep -F "[$victim]" "$dir/log" | grep -c 'FATAL')"

# ---- 3b. user code that swallows the cancel: the tick terminates the backend
q -d pgj_steps >/dev/null <<'SQL'
CREATE FUNCTION public.stubborn(customer_id text, context jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_sleep(600);
  RETURN '{}';
EXCEPTION WHEN query_canceled THEN
  RETURN '{"swallowed": true}';
END $$;
SELECT journey.import('{"name": "stubborn", "audience": "customers", "start": "c",
  "steps": [{"key": "c", "type": "call", "function": "public.stubborn", "next": "m"},
            {"key": "m", "type": "send_email", "template": "t"}]}');
SELECT journey.publish('stubborn');
SELECT journey.enroll('stubborn', '1');
SQL
check "stubborn: the worker sleeps in a call step that swallows cancels" 0 \
  "$(wait_until "$sleeping" 60 postgres; echo $?)"
victim=$(worker_pid)
q -d postgres -c "SELECT pg_terminate_backend($victim)" >/dev/null
check "stubborn: the worker still terminates" 0 \
  "$(wait_until "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $victim" 60 postgres; echo $?)"
check "stubborn: nothing of that tick committed, the next tick charges the step" "active 1 0" \
  "$(wait_until "SELECT count(*) = 1 FROM journey.enrollments WHERE attempts = 1 AND customer_id = '1'
                   AND status = 'active'" 60 pgj_steps
     q -d pgj_steps -c "SELECT e.status || ' ' || e.attempts || ' ' || (SELECT count(*)
                          FROM journey.messages m WHERE m.enrollment_id = e.id)
                          FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
                         WHERE j.name = 'stubborn'")"
q -d pgj_steps -c "SELECT journey.archive('stubborn')" >/dev/null

# ---- 4. fast shutdown during a hung step ------------------------------------
q -d pgj_steps >/dev/null <<'SQL'
INSERT INTO hang VALUES ('11', 600);
SELECT journey.enroll('calls', '11');
SELECT journey.enroll_query('calls', 'SELECT id FROM customers WHERE id BETWEEN 12 AND 20');
SQL
check "shutdown: the worker is hung in the call step" 0 "$(wait_until "$sleeping" 60 postgres; echo $?)"
as_cluster_user "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1
rc=$?
check "shutdown: pg_ctl -m fast stop succeeds while a step sleeps 10 minutes" 0 "$rc"
[ "$rc" -ne 0 ] && as_cluster_user "$PGBIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
start_server || cat "$dir/log"
check "shutdown: after the restart the step is charged and the other 9 complete" "active 1 18" \
  "$(wait_until "SELECT count(*) = 18 FROM journey.enrollments WHERE status = 'completed'" 60 pgj_steps
     echo "$(state pgj_steps 11) $(completed pgj_steps calls)")"
exit_customer 11
check "shutdown: one message per completed enrollment, none twice" "18 18" \
  "$(q -d pgj_steps -c "SELECT count(*) || ' ' || count(DISTINCT enrollment_id) FROM journey.messages")"

# ---- 5. the worker under pg_journey.step_timeout ----------------------------
q -d postgres -c "ALTER SYSTEM SET pg_journey.step_timeout = '1s'" -c "SELECT pg_reload_conf()" >/dev/null
q -d pgj_steps -c "ALTER DATABASE pgj_steps RESET pg_journey.step_timeout" >/dev/null
restart_worker
q -d pgj_steps >/dev/null <<'SQL'
INSERT INTO hang VALUES ('21', 600);
SELECT journey.enroll('calls', '21');
SELECT journey.enroll_query('calls', 'SELECT id FROM customers WHERE id BETWEEN 22 AND 30');
SQL
check "worker + step_timeout: the step is charged in the worker's own tick, the others complete" \
  "active 1 27" \
  "$(wait_until "SELECT count(*) = 27 FROM journey.enrollments WHERE status = 'completed'" 60 pgj_steps
     echo "$(state pgj_steps 21) $(completed pgj_steps calls)")"
check "worker + step_timeout: the error names the timeout" 1 \
  "$(q -d pgj_steps -c "SELECT count(*) FROM journey.enrollments WHERE customer_id = '21'
      AND last_error LIKE 'timed out after pg_journey.step_timeout (1000 ms)%'")"
check "no crash, no PANIC in the server log" 0 "$(grep -cE 'PANIC|terminated by signal' "$dir/log")"
finish_checks
