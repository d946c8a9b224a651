#!/usr/bin/env bash
# make bench: the benchmarks of docs/benchmarks.md on throwaway clusters.
#   1. a cluster with fsync = off, synchronous_commit = off (tools/cluster.sh):
#      every benchmark of PGJ_BENCH_ONLY (default: engine counting claim latency triggers
#      scale analytics simulate graphile), each a program of build/bench/ but graphile
#      (bench/graphile/bench.mjs under node, its packages from
#      bench/graphile/package-lock.json through npm ci);
#   2. a cluster with fsync = on, synchronous_commit = on (the production
#      default): the benchmarks of PGJ_BENCH_DURABLE (default: engine latency;
#      empty to skip).
# Extra arguments go to each benchmark (engine, latency, graphile: number of
# enrollments; or PGJ_BENCH_ENROLLMENTS; claim: number of messages, or
# PGJ_BENCH_MESSAGES; triggers: PGJ_BENCH_ROWS, PGJ_BENCH_REPS; scale:
# PGJ_SCALE_LEVELS, PGJ_SCALE_FRESH). Each benchmark's
# header shows the machine's load average when it started. Expects the
# extension built and installed (make bench does that). bench/soak.cpp is not
# run here (make soak).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/cluster.sh
only=${PGJ_BENCH_ONLY-engine counting claim latency triggers scale analytics simulate graphile}
durable=${PGJ_BENCH_DURABLE-engine latency}
args=("$@")
status=0

header() { echo "== $1 ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"; }
run_graphile() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "== graphile: node and npm are needed (nodejs)"; status=1; return
  fi
  (cd bench/graphile && npm ci --no-audit --no-fund --silent) || { status=1; return; }
  header graphile
  node bench/graphile/bench.mjs "${args[@]}" || status=1
}
run_set() {
  for name in "$@"; do
    if [ "$name" = graphile ]; then run_graphile; continue; fi
    if [ -x "bench/$name.sh" ]; then
      header "$name"
      "bench/$name.sh" || status=1
      continue
    fi
    if [ ! -x "build/bench/$name" ]; then echo "== $name: build/bench/$name not built"; status=1; continue; fi
    header "$name"
    "build/bench/$name" "${args[@]}" || status=1
  done
}

# Scripts bench/NAME.sh run like the programs: deliver (bench/deliver.sh,
# journeyctl deliver against loopback SMTP and HTTP sinks) is part of the
# default set.
[ -n "${PGJ_BENCH_ONLY+set}" ] || only="$only deliver"

cluster_start
echo "== throwaway cluster up (socket $PGHOST): fsync = off, synchronous_commit = off"
# shellcheck disable=SC2086
run_set $only
cluster_stop
if [ -n "$durable" ]; then
  PGJ_CLUSTER_FSYNC=on PGJ_CLUSTER_SYNCHRONOUS_COMMIT=on cluster_start
  echo "== throwaway cluster up (socket $PGHOST): fsync = on, synchronous_commit = on"
  # shellcheck disable=SC2086
  run_set $durable
  cluster_stop
fi
exit $status
