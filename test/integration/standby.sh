#!/usr/bin/env bash
# A streaming standby (docs/operations.md, "Replicas"), on clusters of its own:
#   - a primary listening on 127.0.0.1 (a free port), with 2 workers in
#     database pgj_standby; a standby made with pg_basebackup -R over loopback,
#     as the postgres OS user, streaming from it;
#   - on the standby no pg_journey process runs (the launcher and the workers
#     start only once recovery is over), journey.workers() is empty, and the
#     views read the replicated state;
#   - the primary's workers run 2,000 enrollments up to a delay, are switched
#     off, 1,000 more are enrolled; the standby replays all of it, the primary
#     is stopped with -m immediate (a crash), the standby promoted;
#   - on the promoted standby the launcher starts 2 workers, which run every
#     enrollment to its end: nothing lost (3,000 completed), nothing repeated
#     (exactly 2 messages each, the 2,000 first messages the very rows the
#     primary wrote).
# Every wait is for a condition, with a generous deadline. Prints
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash

dir=$(mktemp -d /tmp/pgj_standby.XXXXXX)
chmod 755 "$dir"
[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
stop() {
  for d in primary standby; do
    [ -d "$dir/$d" ] && as_cluster_user "$PGBIN/pg_ctl" -D "$dir/$d" -m immediate stop >/dev/null 2>&1
  done
  rm -rf "$dir"
}
trap stop EXIT

# A loopback port nobody listens on.
port=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 20000))
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { port=$p; break; }
done
[ -n "$port" ] || { echo "no free loopback port"; echo "0 passed, 1 failed"; exit 1; }

as_cluster_user "$PGBIN/initdb" -D "$dir/primary" -U postgres --auth=trust --no-sync >/dev/null 2>&1
mkdir -p "$dir/ps" "$dir/ss"
[ "$(id -u)" -eq 0 ] && chown postgres: "$dir/ps" "$dir/ss"
cat >>"$dir/primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/ps'
shared_preload_libraries = 'pg_journey'
pg_journey.database = 'pgj_standby'
pg_journey.workers = 2
pg_journey.naptime = 200
pg_journey.role = 'journey_worker'
wal_level = replica
max_wal_senders = 4
fsync = off
log_line_prefix = '%m [%p] %b '
CONF
as_cluster_user "$PGBIN/pg_ctl" -D "$dir/primary" -l "$dir/primary.log" -w -t 60 start >/dev/null \
  || { cat "$dir/primary.log"; echo "0 passed, 1 failed"; exit 1; }

p() { psql -X -q -At -h "$dir/ps" -p "$port" -U postgres -d pgj_standby -v ON_ERROR_STOP=1 "$@"; }
s() { psql -X -q -At -h "$dir/ss" -p "$port" -U postgres -d pgj_standby -v ON_ERROR_STOP=1 "$@"; }
patience=90
wait_until() {
  local deadline=$((SECONDS + patience))
  until "$@" 2>/dev/null; do [ "$SECONDS" -ge "$deadline" ] && return 1; sleep 0.2; done
}
journey_procs() {  # primary|standby: pg_journey launcher and worker backends
  local f=p; [ "$1" = standby ] && f=s
  $f -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'pg_journey%'"
}
workers_are() { [ "$(journey_procs "$1")" = "$2" ]; }

psql -X -q -h "$dir/ps" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
  -c "CREATE ROLE journey_worker LOGIN" -c "CREATE DATABASE pgj_standby" >/dev/null
p >/dev/null <<'SQL'
CREATE EXTENSION pg_journey;
GRANT journey_app TO journey_worker;
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL);
INSERT INTO customers SELECT i, 'c' || i || '@example.com' FROM generate_series(1, 3000) i;
SELECT journey.register_audience('customers', 'id', email_column => 'email');
SELECT journey.create_template('hello', 'email', 'Hello', 'Hi {{email}}');
SELECT journey.create_template('bye', 'email', 'Bye', 'Bye {{email}}');
SELECT journey.import($${"name": "standby", "audience": "customers", "start": "hello",
  "steps": [{"key": "hello", "type": "send_email", "template": "hello", "next": "wait"},
            {"key": "wait", "type": "delay", "duration": "5 seconds", "next": "bye"},
            {"key": "bye", "type": "send_email", "template": "bye"}]}$$);
SELECT journey.publish('standby');
SQL
check "primary: launcher and 2 workers run" 3 "$(wait_until workers_are primary 3; journey_procs primary)"

# The standby: a base backup over loopback as the postgres OS user, streaming.
as_cluster_user "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$port" -U postgres -D "$dir/standby" \
  -R -X stream -c fast >"$dir/basebackup.log" 2>&1
check "pg_basebackup -R over 127.0.0.1:$port" 0 "$?"
cat >>"$dir/standby/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir/ss'
CONF
as_cluster_user "$PGBIN/pg_ctl" -D "$dir/standby" -l "$dir/standby.log" -w -t 60 start >/dev/null \
  || { cat "$dir/standby.log"; }
check "standby is in recovery" t "$(s -c 'SELECT pg_is_in_recovery()')"
check "primary streams to it" streaming \
  "$(wait_until test "$(p -c 'SELECT state FROM pg_stat_replication')" = streaming; p -c 'SELECT state FROM pg_stat_replication')"

# Work on the primary: 2,000 enrollments run up to the delay.
p -c "SELECT journey.enroll_query('standby', 'SELECT id FROM customers WHERE id <= 2000')" >/dev/null
parked() { [ "$(p -c "SELECT count(*) FROM journey.enrollments WHERE step_key = 'wait' AND visits = 1")" = 2000 ]; }
wait_until parked
check "primary's workers ran 2,000 enrollments up to the delay" 2000 \
  "$(p -c "SELECT count(*) FROM journey.messages WHERE step_key = 'hello'")"
# The primary's workers stop (the failover must not race them), 1,000 more
# enrollments wait for the next tick.
p -c "ALTER SYSTEM SET pg_journey.enabled = off" -c "SELECT pg_reload_conf()" >/dev/null
off() { [ "$(p -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_journey worker' AND query LIKE 'disabled%'")" = 2 ]; }
wait_until off
p -c "SELECT journey.enroll_query('standby', 'SELECT id FROM customers WHERE id > 2000')" >/dev/null
p -c "SELECT id, customer_id, visit, created_at FROM journey.messages ORDER BY id" >"$dir/first_messages"

# The standby replays all of it.
lsn=$(p -c "SELECT pg_current_wal_insert_lsn()")
caught_up() { [ "$(s -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ]; }
check "standby replayed up to the primary's last write" 0 "$(wait_until caught_up; echo $?)"
check "standby: no pg_journey launcher or worker runs in recovery" 0 "$(journey_procs standby)"
check "standby: journey._worker_slots() is empty" 0 "$(s -c "SELECT count(*) FROM journey._worker_slots()")"
check "standby: journey_overview reads the replicated state" "standby|3000|3000|0|2000" \
  "$(s -c "SELECT name, enrolled, active, completed, (SELECT count(*) FROM journey.messages) FROM journey.journey_overview")"
check "standby: step_stats reads" "hello|3000|1000;wait|2000|2000;bye|0|0" \
  "$(s -c "SELECT step_key, entered, now_at FROM journey.step_stats ORDER BY step_key = 'bye', step_key = 'wait', step_key" | paste -sd';')"
check "standby: customer_timeline reads" 1 \
  "$(s -c "SELECT count(*) FROM journey.customer_timeline WHERE customer_id = '1' AND step_key = 'hello'")"
check "standby: worker_status, schedule_status and to_mermaid read" "0|0|t" \
  "$(s -c "SELECT (SELECT count(*) FROM journey.worker_status), (SELECT count(*) FROM journey.schedule_status), journey.to_mermaid('standby') LIKE '%hello%'")"
check "standby: run_due refuses to write in recovery" 25006 \
  "$(s -c "\\set VERBOSITY verbose" -c "SELECT journey.run_due()" 2>&1 | sed -nE "s/^ERROR: +([0-9A-Z]{5}):.*/\1/p")"

# Failover: the primary crashes, the standby is promoted.
as_cluster_user "$PGBIN/pg_ctl" -D "$dir/primary" -m immediate stop >/dev/null 2>&1
as_cluster_user "$PGBIN/pg_ctl" -D "$dir/standby" -w -t 60 promote >/dev/null 2>&1
check "standby promoted" f "$(s -c 'SELECT pg_is_in_recovery()')"
check "promoted: the launcher starts 2 workers" 3 "$(wait_until workers_are standby 3; journey_procs standby)"
done_all() { [ "$(s -c "SELECT count(*) FROM journey.enrollments WHERE status = 'completed'")" = 3000 ]; }
wait_until done_all
check "promoted: every enrollment ran to its end" "completed|3000" \
  "$(s -c "SELECT status, count(*) FROM journey.enrollments GROUP BY 1")"
check "nothing repeated: exactly 2 messages per enrollment, one per send visit" "6000|0|0" \
  "$(s -c "SELECT (SELECT count(*) FROM journey.messages),
                  (SELECT count(*) FROM journey.enrollments e WHERE (SELECT count(*) FROM journey.messages m WHERE m.enrollment_id = e.id) <> 2),
                  (SELECT count(*) FROM (SELECT 1 FROM journey.messages GROUP BY enrollment_id, visit HAVING count(*) > 1) d)")"
check "nothing lost or rewritten: the primary's 2,000 messages are the same rows" "" \
  "$(s -c "SELECT id, customer_id, visit, created_at FROM journey.messages WHERE id <= (SELECT max(id) FROM journey.messages WHERE step_key = 'hello' AND customer_id::int <= 2000) AND customer_id::int <= 2000 AND step_key = 'hello' ORDER BY id" | diff - "$dir/first_messages")"
check "activity: 3 visits per enrollment" "9000|0" \
  "$(s -c "SELECT count(*), count(*) FILTER (WHERE visit > 3) FROM journey.activity")"
check "no error in the standby's log but the refused run_due" 1 "$(grep -c "ERROR" "$dir/standby.log")"
finish_checks
