#!/usr/bin/env bash
# Managed services: pg_journey without shared_preload_libraries (only pg_cron is
# preloaded). CREATE EXTENSION works and says no worker will run; journeys
# advance through journey.run_due(), the call a pg_cron job makes; worker
# settings are absent rather than fatal. Starts a second throwaway cluster of
# its own; prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash

own_cluster nopreload
cat >>"$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
fsync = off
CONF
own_cluster_start

notice=$(q -c "CREATE EXTENSION pg_cron" -c "CREATE EXTENSION pg_journey" 2>&1)
check "CREATE EXTENSION says that no background worker will run" 1 \
  "$(echo "$notice" | grep -c 'not in shared_preload_libraries')"
# In a session that has loaded the module: its reloadable settings exist, the
# workers' topology settings do not (defining them after start-up would be fatal).
check "with the module loaded: naptime, batch_size, enabled defined; database, workers, role not" \
  "naptime=1s batch_size=500 enabled=on database= workers= role=" \
  "$(q -c "LOAD 'pg_journey'" -c "SELECT string_agg(n || '=' || coalesce(current_setting('pg_journey.' || n, true), ''), ' ' ORDER BY o)
                                  FROM unnest(ARRAY['naptime', 'batch_size', 'enabled', 'database', 'workers', 'role'])
                                       WITH ORDINALITY AS s(n, o)" 2>&1)"
q >/dev/null <<'SQL'
CREATE TABLE customers (id int PRIMARY KEY, email text, plan text DEFAULT 'free');
INSERT INTO customers SELECT g, 'c' || g || '@x.test' FROM generate_series(1, 20) g;
SELECT journey.register_audience('customers', 'id', 'email');
SELECT journey.create_template('t', 'email', 'Hi', 'Hello {{email}}');
SELECT journey.import('{"name": "w", "audience": "customers", "start": "a",
  "entry": [{"type": "attribute", "when": {"field": "plan", "op": "eq", "value": "pro"}}],
  "steps": [{"key": "a", "type": "send_email", "template": "t", "next": "b"},
            {"key": "b", "type": "delay", "duration": "1 day", "next": "c"},
            {"key": "c", "type": "send_email", "template": "t"}]}');
SELECT journey.publish('w');
SELECT cron.schedule('pg_journey_tick', '* * * * *', 'SELECT journey.run_due()');
UPDATE customers SET plan = 'pro';
SQL
check "the customer-table trigger enrolls without preloading" 20 \
  "$(q -c "SELECT count(*) FROM journey.enrollments")"
check "the pg_cron job that ticks is scheduled" 1 \
  "$(q -c "SELECT count(*) FROM cron.job WHERE command = 'SELECT journey.run_due()'")"
q -c "SELECT journey.run_due()" -c "SELECT journey.run_due(1000, now() + interval '2 days')" >/dev/null
check "journey.run_due (the job's command) runs the journeys to the end" 20 \
  "$(q -c "SELECT count(*) FROM journey.enrollments WHERE status = 'completed'")"
check "one message per send visit" 40 \
  "$(q -c "SELECT count(DISTINCT (enrollment_id, visit)) FROM journey.messages")"
check "worker_status says why it is empty" 1 \
  "$(q -c "SELECT count(*) FROM journey.worker_status" 2>&1 | grep -c 'not in shared_preload_libraries')"
finish_checks
