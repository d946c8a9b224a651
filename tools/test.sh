#!/usr/bin/env bash
# Runs every test suite against a throwaway cluster and prints one closing line
# "N passed, N failed". Expects the extension built and installed and the CMake
# build in build/ (make test does all of that).
#
# The suites, in order (docs/development.md, "Tests"):
#   pg_regress   sql/*.sql against expected/*.out (REGRESS in the Makefile)
#   isolation    test/isolation/specs/*.spec (ISOLATION in the Makefile)
#   cron         test/cron/sql/*.sql, in pg_cron's database
#   pgTAP        test/pgtap/*.sql with pg_prove
#   ctest        the GoogleTest cases of test/unit/ (CMake build)
#   integration  one suite per test/integration/*.cpp (built by CMake) and *.sh
#   browser      one suite per test/browser/*.mjs (the builder in headless Chromium)
#   citus        test/citus/*.sh on throwaway Citus clusters, when Citus is installed
#   fuzz         the libFuzzer targets of test/fuzz/, a short run each (one test a target)
#
# What counts as one test in the closing line: a verdict the suite's tool gives
# on its own, i.e. a pg_regress/isolation/cron file, a pgTAP assertion, a
# GoogleTest case, an integration check. Honesty rules:
#   - a suite that cannot run (a tool missing, a program not built, a script
#     without its run bit, a test file left out of the Makefile's lists) counts
#     as a failure, with one line saying why; it is never skipped silently;
#   - a test of a suite's list that gets no verdict (the tool stopped early)
#     counts as failed; a tool that exits non-zero adds a failure when no test
#     was counted as failed;
#   - only optional suites (software make test does not install, e.g. Citus)
#     may be skipped, and then say so in one line (skip_suite).
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/cluster.sh

passed=0
failed=0
summary=()
# Adds a suite's counts to the totals and says how it went; with $5, the
# suite's seconds (else the seconds since the previous tally, the suites of the
# main lane running one after another).
last_tally=$SECONDS
tally() {  # suite passed failed unit [seconds]
  local secs=${5:-$((SECONDS - last_tally))}
  last_tally=$SECONDS
  passed=$((passed + $2)); failed=$((failed + $3))
  summary+=("$(printf '%-22s %5d passed, %3d failed  (%s, %d s)' "$1" "$2" "$3" "$4" "$secs")")
  printf '== %s: %d passed, %d failed (%s)\n' "$1" "$2" "$3" "$4"
}
# A suite that cannot run: one failure, and why.
cannot_run() {  # suite reason
  echo "== $1: CANNOT RUN: $2"
  tally "$1" 0 1 "could not run: $2"
}
# An optional suite that is not run here: no count either way, and why.
skip_suite() {  # suite reason
  echo "== $1: skipped: $2"
  summary+=("$(printf '%-22s skipped: %s' "$1" "$2")")
}
# The verdict pg_regress gave a test file in its output: ok, failed or none
# (PostgreSQL 15 prints "test NAME ... ok", 16+ "ok N - NAME").
verdict() {  # name log
  local n=$1
  if grep -qE "^(test +| +)$n +\.\.\. ok( |$)|^ok +[0-9]+ +[-+] +$n( |$)" "$2"; then echo ok
  elif grep -qE "^(test +| +)$n +\.\.\. |^not ok +[0-9]+ +[-+] +$n( |$)" "$2"; then echo failed
  else echo none; fi
}

# Counts the verdicts of a pg_regress-style run over the files of `names`: a
# file without a verdict is failed; a non-zero exit with nothing failed adds one.
tally_regress() {  # suite log rc unit names...
  local suite=$1 log=$2 rc=$3 unit=$4; shift 4
  local ok=0 bad=0 v
  for n in "$@"; do
    v=$(verdict "$n" "$log")
    case $v in
      ok) ok=$((ok + 1)) ;;
      failed) bad=$((bad + 1)) ;;
      *) bad=$((bad + 1)); echo "== $suite: no verdict for $n (the run stopped before it)" ;;
    esac
  done
  [ "$#" -eq 0 ] && { echo "== $suite: no test files"; bad=$((bad + 1)); }
  [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && { echo "== $suite: exit status $rc"; bad=1; }
  tally "$suite" "$ok" "$bad" "$unit"
}

# Test files the Makefile does not list would never run: each is a failure.
unlisted() {  # suite "listed names" files...
  local suite=$1 listed=" $2 " f n missing=0; shift 2
  for f in "$@"; do
    [ -e "$f" ] || continue
    n=$(basename "$f"); n=${n%.*}
    case $n in pg_journey--*) continue ;; esac  # install scripts, not tests
    case $listed in *" $n "*) ;; *) echo "== $suite: $f is not listed in the Makefile"; missing=$((missing + 1)) ;; esac
  done
  [ "$missing" -gt 0 ] && tally "$suite (unlisted)" 0 "$missing" "test files the Makefile does not list"
}

# What this run needs; a missing tool fails the suites that need it (below).
pg_regress_bin=""
if [ -x "${PG_CONFIG:-}" ] || command -v "${PG_CONFIG:-pg_config}" >/dev/null 2>&1; then
  pgxs=$("$PG_CONFIG" --pgxs 2>/dev/null) && pg_regress_bin=$(dirname "$pgxs")/../test/regress/pg_regress
  [ -x "$pg_regress_bin" ] || pg_regress_bin=""
else
  echo "pg_config not found (PG_CONFIG=${PG_CONFIG:-unset}): nothing can be tested"
  echo "0 passed, 1 failed"; exit 1
fi
isolation_bin=""
[ -n "$pg_regress_bin" ] && [ -x "$(dirname "$pg_regress_bin")/../isolation/pg_isolation_regress" ] \
  && isolation_bin=$(dirname "$pg_regress_bin")/../isolation/pg_isolation_regress

cluster_start || { echo "the test cluster did not start"; echo "0 passed, 1 failed"; exit 1; }
started=$SECONDS

# Side lanes: the suites that need no harness cluster run beside the others,
# each lane one suite after another, and are printed and tallied at the end:
# the distributed suite (Citus clusters of its own), in one; the integration
# scripts with servers of their own (the upgrade test builds the released
# library too) and the fuzzers, in another. Much of each suite's time is spent
# waiting on servers, so the lanes share the two cores well (make test took 30
# minutes in one lane, 13.5 in three).
# PGJ_TEST_SERIAL=1 runs them after the others, one at a time.
side_dir=$(mktemp -d "${TMPDIR:-/tmp}/pgj-side.XXXXXX")
side_suites=()  # "lane|name|command"
if [ -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]; then
  side_suites+=("citus|citus|tools/test-citus.sh")
else
  skip_suite "citus" "Citus is not installed; to run it: tools/citus.sh build CITUS_SRC, then make test-citus (docs/scale-out.md)"
fi
# The test/integration scripts that start servers of their own (the upgrade
# test first: it builds the released library).
side_scripts=" upgrade.sh deliver_reconnect.sh standby.sh worker_settings.sh compact_worker.sh compact_backlog.sh no_preload.sh errors9_sigterm.sh "
for name in $side_scripts; do
  side_suites+=("builds|$name|test/integration/$name")
done
# A short run of each libFuzzer target under ASan + UBSan (the seed corpus
# replayed, then fuzzed for PGJ_TEST_FUZZ_SECONDS); tools/fuzz.sh prints a line
# per target and its own "N passed, N failed" (one per target).
side_suites+=("builds|fuzz|FUZZ_SECONDS=${PGJ_TEST_FUZZ_SECONDS:-6} FUZZ_SCRATCH=tmp tools/fuzz.sh")
run_side_lane() {  # lane
  local i entry start
  for i in "${!side_suites[@]}"; do
    entry=${side_suites[$i]}
    [ "${entry%%|*}" = "$1" ] || [ "$1" = all ] || continue
    start=$SECONDS
    bash -c "${entry##*|}" >"$side_dir/$i.out" 2>&1
    echo "$? $((SECONDS - start))" >"$side_dir/$i.rc"
  done
}
# Stops a process and its descendants (a side lane, if the run is cut short).
stop_tree() {  # pid
  local child
  for child in $(pgrep -P "$1"); do stop_tree "$child"; done
  kill "$1" 2>/dev/null
}
# On every exit: the lanes still running (bash's own list of its background
# jobs, so no pid of a lane long finished) are stopped; each suite's own EXIT
# trap stops its servers.
trap 'for p in $(jobs -p); do stop_tree "$p"; done; rm -rf "$side_dir"; cluster_stop' EXIT
if [ "${PGJ_TEST_SERIAL:-0}" != 1 ]; then
  for lane in $(printf '%s\n' "${side_suites[@]}" | cut -d'|' -f1 | sort -u); do
    run_side_lane "$lane" &
  done
fi

regress=$(make -s list-regress)
isolation=$(make -s list-isolation)
rm -rf results output_iso regression.diffs regression.out test/cron/results test/cron/regression.*

# 1. pg_regress (make installcheck without the isolation specs).
unlisted "pg_regress" "$regress" sql/*.sql
if [ -z "$pg_regress_bin" ]; then
  cannot_run "pg_regress" "pg_regress not found next to $("$PG_CONFIG" --pgxs) (install postgresql-server-dev-15)"
else
  make -s installcheck ISOLATION= >regress.log 2>&1; rc=$?
  cat regress.log
  # shellcheck disable=SC2086
  tally_regress "pg_regress" regress.log "$rc" "files" $regress
  [ -s regression.diffs ] && { echo "---- regression.diffs"; cat regression.diffs; }
  rm -f regress.log
fi

# 2. Isolation specs (make installcheck without the pg_regress files).
specs=(test/isolation/specs/*.spec)
unlisted "isolation" "$isolation" "${specs[@]}"
if [ -z "$isolation_bin" ]; then
  cannot_run "isolation" "pg_isolation_regress not found (install postgresql-server-dev-15)"
else
  make -s installcheck REGRESS= >isolation.log 2>&1; rc=$?
  cat isolation.log
  # shellcheck disable=SC2086
  tally_regress "isolation" isolation.log "$rc" "spec files" $isolation
  [ -s output_iso/regression.diffs ] && { echo "---- output_iso/regression.diffs"; cat output_iso/regression.diffs; }
  rm -f isolation.log
fi

# 3. Scheduled entry triggers need pg_cron, which only runs in cron.database_name.
cron_tests=()
for f in test/cron/sql/*.sql; do [ -e "$f" ] && { n=$(basename "$f"); cron_tests+=("${n%.sql}"); }; done
if [ -z "$pg_regress_bin" ]; then
  cannot_run "cron" "pg_regress not found"
else
  "$pg_regress_bin" --use-existing --dbname=postgres --inputdir=test/cron --outputdir=test/cron \
    --bindir="$PGBIN" "${cron_tests[@]}" >cron.log 2>&1; rc=$?
  cat cron.log
  tally_regress "cron" cron.log "$rc" "files" "${cron_tests[@]}"
  [ -s test/cron/regression.diffs ] && { echo "---- test/cron/regression.diffs"; cat test/cron/regression.diffs; }
  rm -f cron.log
fi

# 4. pgTAP (pg_prove), in a database of its own; each file on its own, so that
# a file that dies early is counted against its plan.
if ! command -v pg_prove >/dev/null; then
  cannot_run "pgTAP" "pg_prove not found (install libtap-parser-sourcehandler-pgtap-perl)"
elif ! psql -q -X -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS pgj_tap" -c "CREATE DATABASE pgj_tap" \
     || ! psql -q -X -v ON_ERROR_STOP=1 -d pgj_tap -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION pg_journey"; then
  cannot_run "pgTAP" "setting up database pgj_tap failed (see above)"
else
  ok=0; bad=0
  for f in test/pgtap/*.sql; do
    pg_prove --verbose -d pgj_tap "$f" >pgtap.log 2>&1; rc=$?
    cat pgtap.log
    plan=$(sed -nE 's/^1\.\.([0-9]+).*/\1/p' pgtap.log | head -1)
    fok=$(grep -cE '^ok [0-9]+' pgtap.log)
    fbad=$(grep -cE '^not ok [0-9]+' pgtap.log)
    if [ -z "$plan" ]; then
      echo "== pgTAP: $f printed no plan (it died before plan())"; fbad=$((fbad + 1))
    elif [ $((fok + fbad)) -lt "$plan" ]; then
      echo "== pgTAP: $f planned $plan assertions, ran $((fok + fbad))"; fbad=$((plan - fok))
    fi
    [ "$rc" -ne 0 ] && [ "$fbad" -eq 0 ] && { echo "== pgTAP: pg_prove $f exited $rc"; fbad=1; }
    ok=$((ok + fok)); bad=$((bad + fbad))
  done
  rm -f pgtap.log
  tally "pgTAP" "$ok" "$bad" "assertions"
fi

# 5. GoogleTest through CTest (pure C++, no server).
if ! command -v ctest >/dev/null; then
  cannot_run "ctest" "ctest not found (install cmake)"
elif [ ! -f build/CTestTestfile.cmake ]; then
  cannot_run "ctest" "no CMake build in build/ (make unit)"
else
  (cd build && ctest --output-on-failure) >ctest.log 2>&1; rc=$?
  cat ctest.log
  total=$(sed -nE 's/.* tests failed out of ([0-9]+).*/\1/p' ctest.log | tail -1)
  bad=$(sed -nE 's/.* ([0-9]+) tests failed out of .*/\1/p' ctest.log | tail -1)
  rm -f ctest.log
  if [ -z "$total" ] || [ "$total" -eq 0 ]; then
    cannot_run "ctest" "ctest found no test (exit status $rc)"
  else
    [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
    tally "ctest" "$((total - bad))" "$bad" "GoogleTest cases"
  fi
fi

# 6. Integration programs: each C++ source must have been built, each script
# must be executable; each prints its own "N passed, N failed".
run_integration() {  # suite program
  local out rc
  out=$("$2" 2>&1); rc=$?
  echo "$out"
  tally_output "$1" "$out" "$rc"
}
# Tallies what a suite printed ($2) and its exit status ($3).
tally_output() {  # suite output rc [seconds]
  local out=$2 rc=$3 line p f
  line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
  p=$(echo "$line" | sed -nE 's/^([0-9]+) passed.*/\1/p')
  f=$(echo "$line" | sed -nE 's/.*passed, ([0-9]+) failed.*/\1/p')
  if [ -z "$line" ]; then
    echo "== $1: no closing \"N passed, N failed\" line (exit status $rc)"; p=${p:-0}; f=1
  elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "== $1: exit status $rc after \"$line\""; f=1
  elif [ "$rc" -eq 0 ] && [ "$f" -ne 0 ]; then
    echo "== $1: exit status 0 after \"$line\""
  fi
  tally "$1" "$p" "$f" "checks" ${4:-}
}
for src in test/integration/*.cpp; do
  [ -e "$src" ] || continue
  name=$(basename "$src" .cpp)
  prog=build/test/integration/$name
  if [ ! -x "$prog" ]; then
    cannot_run "$name" "$prog was not built (CMake needs libpqxx: make unit)"
  else
    run_integration "$name" "$prog"
  fi
done
for script in test/integration/*.sh; do
  [ -e "$script" ] || continue
  name=$(basename "$script")
  case $side_scripts in *" $name "*) continue ;; esac
  if [ ! -x "$script" ]; then
    cannot_run "$name" "$script is not executable (chmod +x)"
  else
    run_integration "$name" "$script"
  fi
done

# 7. The builder in a real browser: Node.js drives Debian's Chromium through
# playwright-core (web/node_modules, installed by the build's npm ci); each
# suite prints its own "N passed, N failed".
for suite in test/browser/*.mjs; do
  [ -e "$suite" ] || continue
  name=browser/$(basename "$suite" .mjs)
  if ! command -v node >/dev/null; then
    cannot_run "$name" "node not found (tools/deps.sh installs Node.js)"
  elif [ ! -f web/node_modules/playwright-core/package.json ]; then
    cannot_run "$name" "web/node_modules has no playwright-core (make builds it with npm ci)"
  elif [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    cannot_run "$name" "no Chromium at ${CHROMIUM:-/usr/bin/chromium} (install chromium)"
  elif [ ! -x "$suite" ]; then
    cannot_run "$name" "$suite is not executable (chmod +x)"
  else
    run_integration "$name" "$suite"
  fi
done

# 8. The side lanes (above): the distributed suite, the upgrade test, the fuzzers.
if [ "${PGJ_TEST_SERIAL:-0}" != 1 ]; then
  wait  # the lanes: the only background jobs of this shell
else
  run_side_lane all
fi
for i in "${!side_suites[@]}"; do
  entry=${side_suites[$i]}
  name=${entry#*|}; name=${name%%|*}
  out=$(cat "$side_dir/$i.out" 2>/dev/null)
  read -r rc secs <"$side_dir/$i.rc" 2>/dev/null || { rc=1; secs=0; out+=$'\n'"(its side lane did not finish it)"; }
  echo "$out"
  tally_output "$name" "$out" "$rc" "$secs"
done

if [ "$failed" -gt 0 ]; then
  echo "---- server log (tail)"
  tail -n 40 "$PGJ_CLUSTER_LOG"
fi
echo "---- suites ($((SECONDS - started)) s)"
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
