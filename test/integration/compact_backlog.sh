#!/usr/bin/env bash
# Worker 0's compaction of the roll-up (journey.compact_activity_hours, due at
# start-up and every pg_journey.compact_interval) does not hold up the ticks
# that drain a backlog (issue 9): while the tick leaves a full batch behind (as
# after a restart) the compaction waits. A compaction that takes long (here:
# one that waits for a row of journey.activity_hours another session holds,
# the stand-in for merging a big roll-up) therefore cannot stall the engine:
# the worker drains 40 due enrollments (4 batches of 10) while it is held,
# then compacts once the backlog is gone and the row is free. Before, worker 0
# compacted right after its first tick and ran nothing more until the merge
# was done. On a cluster of its own; every wait is for a condition, with a
# generous deadline. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash

own_cluster backlog
cat >>"$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'pg_journey'
pg_journey.database = 'pgj_backlog'
pg_journey.workers = 1
pg_journey.role = 'backlog_worker'
pg_journey.naptime = '200ms'
pg_journey.batch_size = 10
pg_journey.compact_interval = '10min'
pg_journey.enabled = off
fsync = off
CONF
own_cluster_start
q -c "CREATE DATABASE pgj_backlog" >/dev/null
export db=pgj_backlog
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_journey;
CREATE ROLE backlog_worker LOGIN;
GRANT journey_app TO backlog_worker;
CREATE TABLE customers (id int PRIMARY KEY, email text);
INSERT INTO customers SELECT g, 'c' || g || '@x.test' FROM generate_series(1, 40) g;
SELECT journey.register_audience('customers', 'id', 'email');
SELECT journey.import('{"name": "hello", "audience": "customers", "start": "m",
  "steps": [{"key": "m", "type": "send", "channel": "log", "payload": {}}]}');
SELECT journey.publish('hello');
SELECT count(journey.enroll('hello', g::text)) FROM generate_series(1, 40) g;
-- Two roll-up rows of one group of an ended hour: what a compaction merges.
INSERT INTO journey.activity_hours (journey_id, version, step_key, hour, outcome, branch, reason,
                                    visits, converted, spent)
SELECT -1, 1, 's', date_trunc('hour', now()) - interval '2 hours', 'moved', NULL, NULL, 1, 0,
       '{"0": 1}' FROM generate_series(1, 2);
SQL
old_rows() { q -c "SELECT count(*) FROM journey.activity_hours WHERE journey_id = -1"; }
check "40 enrollments due, 2 roll-up rows of an ended hour" "40 2" \
  "$(q -c "SELECT count(*) FROM journey.enrollments WHERE status = 'active'") $(old_rows)"
# Another session holds one of those rows: a compaction waits for it.
fifo=$dir/hold
mkfifo "$fifo"
chmod 666 "$fifo"
(psql -X -q -At -h "$dir" -U postgres -d pgj_backlog <"$fifo" >/dev/null 2>&1 &)
exec 3>"$fifo"
echo "BEGIN; SELECT 1 FROM journey.activity_hours WHERE journey_id = -1 LIMIT 1 FOR UPDATE;" >&3
holding() {
  [ "$(q -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
               WHERE a.datname = 'pgj_backlog' AND l.locktype = 'transactionid'
                 AND a.backend_type = 'client backend' AND a.state = 'idle in transaction'")" -ge 1 ]
}
wait_until holding
check "another session holds a roll-up row" 0 "$?"
# The worker starts ticking (its compaction is due: it never ran).
q -c "ALTER SYSTEM SET pg_journey.enabled = on" -c "SELECT pg_reload_conf()" >/dev/null
drained() {
  [ "$(q -c "SELECT count(*) FROM journey.enrollments WHERE status = 'completed'")" = 40 ]
}
wait_until drained
check "the worker drains the backlog (4 batches) while a compaction would wait" 0 "$?"
check "nothing merged yet" 2 "$(old_rows)"
echo "ROLLBACK;" >&3
exec 3>&-
merged() { [ "$(old_rows)" = 1 ]; }
wait_until merged
check "with the backlog gone and the row free, worker 0 compacts" 0 "$?"
check "the merged row keeps the sums" '2 {"0": 2}' \
  "$(q -c "SELECT visits || ' ' || spent FROM journey.activity_hours WHERE journey_id = -1")"
finish_checks
