#!/usr/bin/env bash
# ALTER EXTENSION pg_journey UPDATE on a distributed install (docs/scale-out.md,
# "Updating pg_journey on Citus"). A distributed install of this build, with
# data on both worker nodes (enrollments in flight, messages, suppressions,
# events), is updated to a test-only next version: this build's library and
# code, with a state file of the DDL a release brings (ADD COLUMN on a
# distributed table and on a reference table, CREATE INDEX on a distributed
# table, CREATE OR REPLACE TRIGGER on a distributed table with a new trigger
# function, CREATE OR REPLACE FUNCTION, an UPDATE of a reference table and of a
# distributed table) written by journey._alter and journey._alter_rows, as
# src/sql/prelude.sql asks. The test version is built and installed only into a
# private copy of PG_CONFIG's PostgreSQL (tools/private-pg.sh), never shipped.
# Checks: the update succeeds, every node is at the new version, the column,
# index and trigger are on the shards of every node and on every node's table,
# the UPDATEs ran once, nothing is lost, and the engine, the triggers, the
# suppressions, the analytics views and the routed calls work after it.
# CITUS_UPGRADE_BARE=1 writes the state file's statements bare (no
# journey._alter), to show that they fail (the build's check of the scripts,
# tools/check-sql-scripts.py, is off for that). Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."

system_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" pg_journey.control)
next="$current.1"
[ -f pg_journey.so ] || { echo "pg_journey.so is not built here: make install first"; echo "0 passed, 1 failed"; exit 1; }

# 1. A private PostgreSQL (with Citus and this build's pg_journey, copied from
# PG_CONFIG's), and the test version's library and update script in a copy of
# this tree (its objects and build/libpgj_core.a reused: only version.o, which
# holds the version, is built again).
dir=$(mktemp -d /tmp/pgj_citus_upgrade.XXXXXX)
chmod 755 "$dir"
eval "$(PG_CONFIG_SYSTEM=$system_config tools/private-pg.sh "$dir/pg")"
export PG_CONFIG PGBIN
mkdir "$dir/next"
mkdir "$dir/next/tools"
cp -a Makefile pg_journey.control src sql "$dir/next/"
cp -a tools/check-sql-scripts.py "$dir/next/tools/"
sed -i "s/^default_version = .*/default_version = '$next'/" "$dir/next/pg_journey.control"
alter() {  # table statement [helper]: as an update script writes it
  if [ "${CITUS_UPGRADE_BARE:-0}" = 1 ]; then
    printf '%s;\n' "$2"
  else
    printf 'SELECT journey.%s(%s, $ddl$%s$ddl$);\n' "${3:-_alter}" "'$1'" "$2"
  fi
}
{
  echo "-- Test-only release $next (test/citus/upgrade.sh): the DDL a release brings."
  echo "CREATE OR REPLACE FUNCTION journey._upgrade_probe() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS \$\$
BEGIN
  NEW.priority := NEW.priority * 10;
  RETURN NEW;
END
\$\$;
CREATE OR REPLACE FUNCTION journey.upgrade_probe_version() RETURNS text
LANGUAGE sql AS \$\$ SELECT '$next'::text \$\$;"
  alter journey.enrollments "ALTER TABLE journey.enrollments ADD COLUMN IF NOT EXISTS priority int NOT NULL DEFAULT 0"
  alter journey.templates "ALTER TABLE journey.templates ADD COLUMN IF NOT EXISTS locale text NOT NULL DEFAULT 'en'"
  alter journey.messages "CREATE INDEX IF NOT EXISTS messages_upgrade_probe ON journey.messages (customer_id, created_at)"
  alter journey.enrollments "CREATE OR REPLACE TRIGGER enrollments_upgrade_probe
  BEFORE UPDATE OF priority ON journey.enrollments
  FOR EACH ROW EXECUTE FUNCTION journey._upgrade_probe()"
  alter journey.templates "UPDATE journey.templates SET body = body || ' (v$next)'" _alter_rows
  alter journey.suppressions "UPDATE journey.suppressions SET source = coalesce(source, '') || '+$next'" _alter_rows
} >"$dir/next/src/sql/updates/$current--$next.sql"
# (Bare, the build's check of the scripts would refuse them: off for the demonstration.)
check_sql=()
[ "${CITUS_UPGRADE_BARE:-0}" = 1 ] && check_sql=(CHECK_SQL=true)
if ! make -C "$dir/next" -s PG_CONFIG="$PG_CONFIG" PGJ_CORE_LIB="$PWD/build/libpgj_core.a" \
       "${check_sql[@]}" pg_journey.so "sql/pg_journey--$current--$next.sql" \
     >"$dir/next.log" 2>&1; then
  tail -20 "$dir/next.log"; rm -rf "$dir"; echo "0 passed, 1 failed"; exit 1
fi

source test/citus/lib.bash
cleanup() {
  local rc=$?
  citus_cluster_stop
  rm -rf "$dir"
  exit $rc
}
citus_test_start || { rm -rf "$dir"; exit 1; }
trap cleanup EXIT

# 2. The distributed install of this build, with data on both worker nodes.
c "CREATE EXTENSION pg_journey" >/dev/null || exit 1
citus_psql_all "GRANT journey_app TO journey_worker" >/dev/null
c "CREATE TABLE customers (id text PRIMARY KEY, email text);
   INSERT INTO customers SELECT 'c' || i, 'c' || i || '@example.com' FROM generate_series(1, 40) i;
   SELECT journey.register_audience('customers', 'id', 'email');
   SELECT journey.create_template('hello', 'email', 'Hi', 'Hello {{email}}');
   SELECT journey.create_template('bye', 'email', 'Bye', 'Bye {{email}}');
   SELECT journey.distribute('customers');
   SELECT journey.import('{\"name\": \"drip\", \"audience\": \"customers\", \"start\": \"hi\",
     \"exit\": [{\"type\": \"event\", \"event\": \"quit\"}],
     \"steps\": [{\"key\": \"hi\", \"type\": \"send_email\", \"template\": \"hello\", \"next\": \"wait\"},
                {\"key\": \"wait\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"bye\"},
                {\"key\": \"bye\", \"type\": \"send_email\", \"template\": \"bye\", \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('drip');
   SELECT count(journey.enroll('drip', 'c' || i)) FROM generate_series(1, 30) i;" >/dev/null || exit 1
tick() {  # as_of: journey.run_due on every node, the enrollments it took
  local port n=0 t
  for port in $CITUS_PORTS; do
    t=$(cq "$port" "SELECT journey.run_due(1000, now() + interval '$1')") || return 1
    n=$((n + t))
  done
  echo "$n"
}
check "before: the first sends on both worker nodes" "30" "$(tick '1 minute')"
c "SELECT count(journey.add_suppression('c' || i, 'email')) FROM generate_series(1, 4) i;
   SELECT journey.track('c' || i, 'visited') FROM generate_series(5, 9) i;
   SELECT journey.track('c10', 'quit');" >/dev/null || exit 1
# Rows of each runtime table (the customers' too), and the nodes holding them.
counts() {
  c "SELECT (SELECT count(*) FROM customers) || ' ' || (SELECT count(*) FROM journey.enrollments)
            || ' ' || (SELECT count(*) FROM journey.messages) || ' ' || (SELECT count(*) FROM journey.suppressions)
            || ' ' || (SELECT count(*) FROM journey.events) || ' ' || (SELECT count(*) FROM journey.activity)
            || ' ' || (SELECT count(*) FROM journey.templates)"
}
before=$(counts)
check "before: data on both worker nodes (enrollments, messages, suppressions, events)" "2 2 2 2" \
  "$(for t in enrollments messages suppressions events; do
       c "SELECT count(DISTINCT n.nodeport) FROM journey.$t x
            JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('journey.$t', x.customer_id)
            JOIN pg_dist_node n ON n.groupid = p.groupid"
     done | paste -sd' ')"

# 3. The test version on every node: its library and scripts, installed with
# the nodes stopped (a library file rewritten under a running server crashes it).
pkglib=$("$PG_CONFIG" --pkglibdir)
extdir=$("$PG_CONFIG" --sharedir)/extension
for port in $CITUS_PORTS; do
  citus_as_user "$PGBIN/pg_ctl" -D "$CITUS_DIR/node-$port" -m fast -w -t 60 stop >/dev/null \
    || { echo "node $port did not stop"; exit 1; }
done
cp "$dir/next/pg_journey.so" "$pkglib/pg_journey.so"
cp "$dir/next/pg_journey.control" "$dir/next/sql/pg_journey--$current--$next.sql" "$extdir/"
for port in $CITUS_PORTS; do
  citus_as_user "$PGBIN/pg_ctl" -D "$CITUS_DIR/node-$port" -l "$CITUS_DIR/server-$port.log" -w -t 60 \
    start >/dev/null || { echo "node $port did not start"; tail -n 20 "$CITUS_DIR/server-$port.log"; exit 1; }
done

# 4. The update, on the coordinator.
out=$(c "ALTER EXTENSION pg_journey UPDATE TO '$next'" 2>&1)
check "ALTER EXTENSION pg_journey UPDATE TO '$next' succeeds" "" "$(echo "$out" | grep -E '^(ERROR|CONTEXT)')"
check "every node is at $next" "$next $next $next" \
  "$(for port in $CITUS_PORTS; do cq "$port" "SELECT extversion FROM pg_extension WHERE extname = 'pg_journey'"; done | paste -sd' ')"
check "the new function on every node" "$next $next $next" \
  "$(for port in $CITUS_PORTS; do cq "$port" "SELECT journey.upgrade_probe_version()" 2>&1; done | paste -sd' ')"
shards() {  # table catalog-query (%s: the shard): "shards answering 1 / shards"
  c "SELECT count(*) FILTER (WHERE result = '1') || '/' || count(*) FROM run_command_on_shards('$1', \$\$$2\$\$)"
}
placements() {  # the same over every placement (a reference table's on every node)
  c "SELECT count(*) FILTER (WHERE result = '1') || '/' || count(*) || ' nodes ' || count(DISTINCT nodeport)
       FROM run_command_on_placements('$1', \$\$$2\$\$)"
}
nshards=$(c "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'journey.enrollments'::regclass")
check "ADD COLUMN on a distributed table: on every shard" "$nshards/$nshards" \
  "$(shards journey.enrollments "SELECT count(*) FROM pg_attribute WHERE attrelid = '%s'::regclass AND attname = 'priority' AND NOT attisdropped")"
check "ADD COLUMN on a reference table: on every placement (every node)" "3/3 nodes 3" \
  "$(placements journey.templates "SELECT count(*) FROM pg_attribute WHERE attrelid = '%s'::regclass AND attname = 'locale' AND NOT attisdropped")"
check "CREATE INDEX on a distributed table: on every shard" "$nshards/$nshards" \
  "$(shards journey.messages "SELECT count(*) FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid WHERE i.indrelid = '%s'::regclass AND starts_with(x.relname, 'messages_upgrade_probe')")"
check "CREATE OR REPLACE TRIGGER on a distributed table: on every shard" "$nshards/$nshards" \
  "$(shards journey.enrollments "SELECT count(*) FROM pg_trigger WHERE tgrelid = '%s'::regclass AND starts_with(tgname, 'enrollments_upgrade_probe')")"
check "the code's triggers on the shards: once each" "$nshards/$nshards $nshards/$nshards" \
  "$(shards journey.enrollments "SELECT count(*) FROM pg_trigger WHERE tgrelid = '%s'::regclass AND starts_with(tgname, 'enrollments_withdraw_messages')") $(
     shards journey.activity "SELECT count(*) FROM pg_trigger WHERE tgrelid = '%s'::regclass AND starts_with(tgname, 'count_activity')")"
check "every node's tables (the coordinator's, the workers' shell tables): column, column, index, trigger" \
  "1 1 1 1|1 1 1 1|1 1 1 1" \
  "$(for port in $CITUS_PORTS; do
       cq "$port" "SELECT (SELECT count(*) FROM pg_attribute WHERE attrelid = 'journey.enrollments'::regclass AND attname = 'priority')
                   || ' ' || (SELECT count(*) FROM pg_attribute WHERE attrelid = 'journey.templates'::regclass AND attname = 'locale')
                   || ' ' || (SELECT count(*) FROM pg_indexes WHERE schemaname = 'journey' AND indexname = 'messages_upgrade_probe')
                   || ' ' || (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'journey.enrollments'::regclass
                                 AND tgname = 'enrollments_upgrade_probe')"
     done | paste -sd'|')"
once="length(body) - length(replace(body, ' (v$next)', '')) = length(' (v$next)')"
check "a data change of a reference table ran once, on every placement" "2/2 3/3 nodes 3" \
  "$(c "SELECT count(*) FILTER (WHERE $once) || '/' || count(*) FROM journey.templates") $(
     placements journey.templates "SELECT (count(*) = 2 AND bool_and($once))::int FROM %s")"
check "a data change of a distributed table ran once (the 4 suppressions, on both worker nodes)" "4/4" \
  "$(c "SELECT count(*) FILTER (WHERE source = '+$next') || '/' || count(*) FROM journey.suppressions")"
check "no row lost or added" "$before" "$(counts)"

# 5. Working after the update.
check "the new trigger fires on the shards" "70" \
  "$(c "UPDATE journey.enrollments SET priority = 7 WHERE customer_id = 'c11' RETURNING priority")"
check "the distributed functions keep their settings on every node" "t t t" \
  "$(for port in $CITUS_PORTS; do
       cq "$port" "SELECT count(*) = 3 FROM pg_proc WHERE pronamespace = 'journey'::regnamespace
                      AND proname IN ('_enroll_group', '_message_event_of', '_end_customer_enrollments')
                      AND 'citus.allow_nested_distributed_execution=on' = ANY (proconfig)"
     done | paste -sd' ')"
c "SELECT journey.track('c12', 'quit')" >/dev/null
check "an exit withdraws the pending message (enrollments_withdraw_messages on the shard)" "exited suppressed" \
  "$(c "SELECT e.status || ' ' || m.status FROM journey.enrollments e JOIN journey.messages m
          ON m.customer_id = e.customer_id AND m.enrollment_id = e.id
         WHERE e.customer_id = 'c12' ORDER BY m.id DESC LIMIT 1")"
check "enroll and enroll_query after the update (routed to the owning nodes)" "1 5" \
  "$(c "SELECT count(journey.enroll('drip', 'c31'))") $(c "SELECT journey.enroll_query('drip', \$\$SELECT 'c' || i FROM generate_series(32, 36) i\$\$)")"
check "the engine ticks on every node after the update" "34" "$(tick '2 days')"
# 30 enrolled before: 2 exited (c10 before, c12 after), 28 completed; the 6
# enrolled after the update sent their first message and wait.
check "the enrollments went on: completed, exited, waiting; one message per send visit" \
  "active:wait:6 completed:done:28 exited:wait:2|64/64" \
  "$(c "SELECT (SELECT string_agg(status || ':' || step_key || ':' || n, ' ' ORDER BY status, step_key)
                  FROM (SELECT status, step_key, count(*) n FROM journey.enrollments GROUP BY 1, 2) s)
               || '|' || (SELECT count(*) || '/' || count(DISTINCT (enrollment_id, visit)) FROM journey.messages)")"
# c1-c4's first messages were withdrawn by add_suppression, their second ones
# suppressed by the tick after the update.
check "the suppressions made before the update hold: both messages of c1-c4 suppressed" "8" \
  "$(c "SELECT count(*) FROM journey.messages WHERE customer_id IN ('c1', 'c2', 'c3', 'c4') AND status = 'suppressed'")"
# journey.distribute wrote the views in the shape Citus plans on the coordinator
# (views.sql, _analytics_views): the update, which reruns views.sql, keeps it.
check "the coordinator keeps the analytics views' distributed shape, and they answer" "false false|1 4" \
  "$(c "SELECT (pg_get_viewdef('journey.journey_overview') LIKE '%LATERAL%') || ' ' ||
               (pg_get_viewdef('journey.step_stats') LIKE '%LATERAL%')")|$(
     c "SELECT count(*) FROM journey.journey_overview") $(c "SELECT count(*) FROM journey.step_stats")"
citus_test_finish
