#!/usr/bin/env bash
# make chaos: the long version of test/integration/chaos.cpp (make test runs the
# short one) on a throwaway cluster. Settings through the environment:
#   PGJ_CHAOS_ROUNDS (default here 100), PGJ_CHAOS_CUSTOMERS (100000),
#   PGJ_CHAOS_KILL_MS (1500), PGJ_CHAOS_SEED (time).
# Writes the run's output to build/results/chaos-latest.txt (a build output, not kept in git;
# the figures worth keeping go into docs/operations.md). Needs root (tmpfs).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/cluster.sh
cluster_start
export PGJ_CHAOS_ROUNDS=${PGJ_CHAOS_ROUNDS:-100} PGJ_CHAOS_CUSTOMERS=${PGJ_CHAOS_CUSTOMERS:-100000}
export PGJ_CHAOS_KILL_MS=${PGJ_CHAOS_KILL_MS:-1500}
mkdir -p build/results
out=build/results/chaos-latest.txt
{
  echo "# make chaos, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load: $(uptime | sed 's/.*load average: //')"
  echo "# PGJ_CHAOS_ROUNDS=$PGJ_CHAOS_ROUNDS PGJ_CHAOS_CUSTOMERS=$PGJ_CHAOS_CUSTOMERS PGJ_CHAOS_KILL_MS=$PGJ_CHAOS_KILL_MS"
} >"$out"
status=0
build/test/integration/chaos 2>&1 | grep -v 'another server might be running' | tee -a "$out" || status=1
echo "# load after: $(uptime | sed 's/.*load average: //')" >>"$out"
exit $status
