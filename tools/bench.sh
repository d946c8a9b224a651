#!/usr/bin/env bash
# make bench: runs every benchmark in build/bench/ against a throwaway cluster.
# Extra arguments go to each benchmark (engine: number of enrollments; or set
# PGJ_BENCH_ENROLLMENTS; triggers: PGJ_BENCH_ROWS, PGJ_BENCH_REPS). Expects the extension
# built and installed (make bench does that).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/cluster.sh
cluster_start
echo "== throwaway cluster up (socket $PGHOST); $(nproc) cores"
status=0
for prog in build/bench/*; do
  [ -x "$prog" ] && [ -f "$prog" ] || continue
  echo "== $(basename "$prog")"
  "$prog" "$@" || status=1
done
exit $status
