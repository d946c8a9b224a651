#!/usr/bin/env bash
# Builds the libFuzzer targets of test/fuzz (clang, ASan + UBSan) and runs each
# one in turn for FUZZ_SECONDS, starting from its seed corpus
# (test/fuzz/corpus/<target>, never written to) copied into a scratch corpus
# that the run grows. Prints one line per target and closes with
# "N passed, N failed"; exits non-zero on any crash, sanitizer report, property
# violation, timeout or build failure, printing the reproducer's path.
#
#   FUZZ_SECONDS  seconds per target (default 60)
#   FUZZ_SCRATCH  scratch corpora: a directory (default build-fuzz/corpus, kept
#                 between runs so coverage accumulates) or "tmp" (a fresh temp
#                 directory, removed at the end: what make test uses)
#   FUZZ_TARGETS  targets to run (default: every test/fuzz/fuzz_<target>.cpp)
#   FUZZ_FLAGS    extra libFuzzer flags, e.g. "-only_ascii=1"
#
# Reproduce a failure: build-fuzz/<target> <reproducer path>
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
build=build-fuzz
artifacts=$build/artifacts
scratch=${FUZZ_SCRATCH:-$build/corpus}
targets=${FUZZ_TARGETS:-$(ls test/fuzz/fuzz_*.cpp 2>/dev/null | sed -E 's|.*/fuzz_(.*)\.cpp|\1|')}
cxx=${FUZZ_CXX:-clang++}

passed=0
failed=0

if [ "$scratch" = tmp ]; then
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/pgj-fuzz.XXXXXX")
  trap 'rm -rf "$scratch"' EXIT
fi

# The longest input each target is given (bytes).
max_len() {
  case "$1" in
    validate_journey) echo 16384 ;;
    duration) echo 1024 ;;
    *) echo 4096 ;;
  esac
}

echo "== fuzz: building the targets in $build ($cxx, ASan + UBSan)"
mkdir -p "$build"
if ! { cmake -S test/fuzz -B "$build" -DCMAKE_CXX_COMPILER="$cxx" >"$build/build.log" 2>&1 \
       && cmake --build "$build" -j2 >>"$build/build.log" 2>&1; }; then
  tail -n 40 "$build/build.log"
  for t in $targets; do
    echo "== fuzz $t: FAILED (cannot be built, see $build/build.log)"
    failed=$((failed + 1))
  done
  echo "$passed passed, $failed failed"
  exit 1
fi
mkdir -p "$artifacts"

for t in $targets; do
  bin=$build/$t
  seeds=test/fuzz/corpus/$t
  work=$scratch/$t
  log=$build/$t.log
  if [ ! -x "$bin" ]; then
    echo "== fuzz $t: FAILED (no binary $bin)"
    failed=$((failed + 1))
    continue
  fi
  mkdir -p "$work"
  [ -d "$seeds" ] && cp -n "$seeds"/* "$work"/ 2>/dev/null
  dict=()
  [ -f "test/fuzz/$t.dict" ] && dict=(-dict="test/fuzz/$t.dict")
  # shellcheck disable=SC2086
  "$bin" "$work" "${dict[@]}" -max_total_time="$seconds" -max_len="$(max_len "$t")" \
    -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$artifacts/$t-" -print_final_stats=1 \
    ${FUZZ_FLAGS:-} >"$log" 2>&1
  rc=$?
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1)
  if [ "$rc" -eq 0 ] && ! grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:|property violated' "$log"; then
    echo "== fuzz $t: ok, ${runs:-?} runs in ${seconds} s, ${cov:-no stats} (corpus $work)"
    passed=$((passed + 1))
  else
    echo "== fuzz $t: FAILED (exit $rc), log $log"
    # The report: from the first sanitizer / property / libFuzzer error line.
    sed -n '/ERROR: \|runtime error:\|property violated\|==[0-9]*== ERROR\|ALARM\|out-of-memory/,$p' "$log" \
      | head -n 60
    repro=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -1)
    echo "   reproducer: ${repro:-none written} (run: $bin ${repro:-<input>})"
    failed=$((failed + 1))
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
