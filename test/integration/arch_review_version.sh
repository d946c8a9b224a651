#!/usr/bin/env bash
# The version check holds for the whole life of a session (issue 9): a session
# that has used the extension at this library's version, then drops it and
# creates it at the last release's version, is refused like a new session
# would be (0A000 with the hint), and carries on after ALTER EXTENSION UPDATE;
# so is a session whose extension another session dropped and created anew.
# The check used to be made once per backend, so such a session (a pooled
# connection) ran this library against the old schema. Starts a throwaway
# cluster of its own; prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash

release=$(awk '!/^#/ && NF == 2 {v = $1} END {print v}' sql/RELEASES)
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" pg_journey.control)

own_cluster arch_version
cat >>"$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
fsync = off
CONF
as_cluster_user "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null \
  || { cat "$dir/log"; echo "0 passed, 1 failed"; exit 1; }

# One session, each statement its own transaction.
out=$(psql -X -q -At -h "$dir" -U postgres -d postgres 2>&1 <<SQL
\set VERBOSITY default
CREATE EXTENSION pg_cron;
CREATE EXTENSION pg_journey;
SELECT 'current: ' || journey._bridge_selftest('ok');
DROP EXTENSION pg_journey;
CREATE EXTENSION pg_journey VERSION '$release';
SELECT 'installed: ' || extversion FROM pg_extension WHERE extname = 'pg_journey';
SELECT 'old schema: ' || journey.run_due();
SELECT 'old schema, selftest: ' || journey._bridge_selftest('ok');
ALTER EXTENSION pg_journey UPDATE;
SELECT 'updated: ' || journey.run_due();
\\! psql -X -q -h "$dir" -U postgres -d postgres -c "DROP EXTENSION pg_journey" -c "CREATE EXTENSION pg_journey VERSION '$release'"
SELECT 'changed by another session: ' || journey.run_due();
SQL
)
check "the session uses the extension at version $current" "current: 42" \
  "$(echo "$out" | grep '^current:')"
check "... then has it at version $release" "installed: $release" \
  "$(echo "$out" | grep '^installed:')"
check "the same session is refused on the old schema, with the hint (twice)" \
  "ERROR:  loaded pg_journey library version $current differs from installed extension version $release
HINT:  Run ALTER EXTENSION pg_journey UPDATE and try again.
ERROR:  loaded pg_journey library version $current differs from installed extension version $release
HINT:  Run ALTER EXTENSION pg_journey UPDATE and try again." \
  "$(echo "$out" | grep -A1 '^ERROR' | grep -v '^--$' | head -4)"
check "nothing ran on the old schema" "" "$(echo "$out" | grep '^old schema')"
check "after ALTER EXTENSION UPDATE the same session runs" "updated: 0" \
  "$(echo "$out" | grep '^updated:')"
check "... and is refused once another session has put the old version back" \
  "ERROR:  loaded pg_journey library version $current differs from installed extension version $release" \
  "$(echo "$out" | grep '^ERROR' | sed -n 3p)"
check "nothing ran after the other session's change" "" "$(echo "$out" | grep '^changed by another session')"
finish_checks
