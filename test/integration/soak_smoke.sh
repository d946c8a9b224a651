#!/usr/bin/env bash
# A short run of the soak (bench/soak.cpp; make soak runs 30 minutes): 50 s of
# steady load with the workers running and a snapshot held from 10 s to 25 s;
# its own checks: the load ran, the backlog stayed bounded, and the dead tuples
# of journey.enrollments, journey.messages and the customer table came back
# down after the snapshot was released (the load goes on until they did, 2 minutes
# at most). Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
prog=build/bench/soak
if [ ! -x "$prog" ]; then echo "$prog was not built (make unit)"; echo "0 passed, 1 failed"; exit 1; fi
csv=$(mktemp /tmp/pgj_soak.XXXXXX.csv)
trap 'rm -f "$csv"' EXIT
PGJ_SOAK_SECONDS=50 PGJ_SOAK_HOLD_AT_SECONDS=10 PGJ_SOAK_HOLD_SECONDS=15 PGJ_SOAK_SAMPLE=5 \
  PGJ_SOAK_SETTLE_SECONDS=120 \
  PGJ_SOAK_CSV="$csv" "$prog"
