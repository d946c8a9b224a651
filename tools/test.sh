#!/usr/bin/env bash
# Runs every test suite against a throwaway cluster and prints one closing line
# "N passed, N failed". Expects the extension built and installed (make test does that).
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/cluster.sh

passed=0
failed=0
# Adds a suite's counts to the totals and says how it went.
tally() {  # name passed failed
  passed=$((passed + $2)); failed=$((failed + $3))
  printf '== %s: %d passed, %d failed\n' "$1" "$2" "$3"
}

cluster_start || { echo "0 passed, 1 failed"; exit 1; }

# 1. pg_regress, then the isolation specs (make installcheck, one suite at a time
# so that a failure in one does not hide the other).
rm -rf results output_iso regression.diffs regression.out test/cron/results test/cron/regression.*
: >installcheck.log
installcheck_rc=0
make -s installcheck ISOLATION= >>installcheck.log 2>&1 || installcheck_rc=1
make -s installcheck REGRESS= >>installcheck.log 2>&1 || installcheck_rc=1
cat installcheck.log
ok=$(grep -cE '^(ok|test|[ ]+) .*\.\.\. ok|^ok [0-9]+ ' installcheck.log)
bad=$(grep -cE '\.\.\. FAILED|^not ok [0-9]+ |failed \(ignored\)' installcheck.log)
[ "$installcheck_rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
# Scheduled entry triggers need pg_cron, which only runs in cron.database_name.
if pg_regress_bin=$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress && [ -x "$pg_regress_bin" ]; then
  "$pg_regress_bin" --use-existing --dbname=postgres --inputdir=test/cron --outputdir=test/cron \
    --bindir="$PGBIN" schedules >cron.log 2>&1 || installcheck_rc=1
  cat cron.log
  ok=$((ok + $(grep -cE '\.\.\. ok' cron.log)))
  bad=$((bad + $(grep -cE '\.\.\. FAILED' cron.log)))
  [ -s test/cron/regression.diffs ] && { echo "---- test/cron/regression.diffs"; cat test/cron/regression.diffs; }
fi
tally "pg_regress + isolation" "$ok" "$bad"
for diffs in regression.diffs output_iso/regression.diffs; do
  [ -s "$diffs" ] && { echo "---- $diffs"; cat "$diffs"; }
done

# 2. pgTAP (pg_prove), in a database of its own.
psql -q -X -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS pgj_tap" -c "CREATE DATABASE pgj_tap" \
  && psql -q -X -v ON_ERROR_STOP=1 -d pgj_tap -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION pg_journey"
pg_prove -d pgj_tap test/pgtap/*.sql >pgtap.log 2>&1
cat pgtap.log
ok=$(grep -cE '\.\. ok$' pgtap.log)
bad=$(grep -cE '\.\. (Failed|Dubious|not ok)|\.\. *$' pgtap.log)
[ "$ok" -eq 0 ] && [ "$bad" -eq 0 ] && bad=1
tally "pgTAP" "$ok" "$bad"

# 3. GoogleTest through CTest (pure C++, no server).
(cd build && ctest --output-on-failure) >ctest.log 2>&1
cat ctest.log
total=$(sed -nE 's/.* tests failed out of ([0-9]+).*/\1/p' ctest.log | tail -1)
bad=$(sed -nE 's/.* ([0-9]+) tests failed out of .*/\1/p' ctest.log | tail -1)
[ -z "$total" ] && { total=1; bad=1; }
tally "ctest" "$((total - bad))" "$bad"

# 4. Integration programs (libpqxx): each prints its own "N passed, N failed".
for prog in build/test/integration/* test/integration/*.sh; do
  [ -x "$prog" ] && [ -f "$prog" ] || continue
  out=$("$prog" 2>&1); rc=$?
  echo "$out"
  line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
  p=$(echo "$line" | sed -nE 's/^([0-9]+) passed.*/\1/p'); f=$(echo "$line" | sed -nE 's/.*passed, ([0-9]+) failed.*/\1/p')
  [ -z "$line" ] && { p=0; f=1; }
  [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ] && f=1
  tally "$(basename "$prog")" "${p:-0}" "${f:-1}"
done

if [ "$failed" -gt 0 ]; then
  echo "---- server log (tail)"
  tail -n 40 "$PGJ_CLUSTER_LOG"
fi
rm -f installcheck.log pgtap.log ctest.log cron.log
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
