#!/usr/bin/env bash
# Runs the distributed suites, test/citus/*.sh (each starts its own Citus
# coordinator + 2 workers with tools/citus.sh and prints "N passed, N failed"),
# and prints their total as one closing line. Expects pg_journey and Citus
# installed in PG_CONFIG's PostgreSQL (make test-citus installs pg_journey).
set -uo pipefail
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PGBIN=${PGBIN:-$("$PG_CONFIG" --bindir)}
if [ ! -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]; then
  echo "Citus is not installed in $("$PG_CONFIG" --pkglibdir): tools/citus.sh build CITUS_SRC (docs/scale-out.md)"
  echo "0 passed, 1 failed"
  exit 1
fi
passed=0
failed=0
for suite in test/citus/*.sh; do
  start=$SECONDS
  out=$(bash "$suite" 2>&1); rc=$?
  echo "$out"
  echo "== $suite: $((SECONDS - start)) s"
  line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
  if [ -z "$line" ]; then
    echo "== $suite: no closing line (exit status $rc)"; failed=$((failed + 1)); continue
  fi
  p=${line%% passed*}; f=$(echo "$line" | sed -nE 's/.*passed, ([0-9]+) failed.*/\1/p')
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
  passed=$((passed + p)); failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
