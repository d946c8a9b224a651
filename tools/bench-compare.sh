#!/usr/bin/env bash
# Before/after figures of a change, side by side in one run: builds BASE (a git
# revision, default the merge-base with origin's main or HEAD~1) and the work
# tree, each into a private PostgreSQL copy (tools/private-pg.sh), then runs the
# engine benchmark of each against a fresh throwaway cluster, alternating BASE
# and HEAD ROUNDS times so both see the same machine. Prints each round and the
# ratio of the medians (head/base engine seconds: 1.05 = 5% slower).
#   tools/bench-compare.sh [BASE]      (make bench-compare BASE=rev)
# Env: PGJ_COMPARE_ROUNDS (default 3), PGJ_BENCH_ENROLLMENTS (default 50000),
# PGJ_COMPARE_DIR (default /tmp/pgj-compare: the two builds and PostgreSQL copies).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
base=${1:-HEAD~1}
rounds=${PGJ_COMPARE_ROUNDS:-3}
work=${PGJ_COMPARE_DIR:-/tmp/pgj-compare}
export PGJ_BENCH_ENROLLMENTS=${PGJ_BENCH_ENROLLMENTS:-50000}
base_rev=$(git rev-parse --verify "$base^{commit}")
mkdir -p "$work"

# Builds the tree $1 into the private PostgreSQL $2 (extension, journeyctl, engine benchmark).
build_side() {
  local tree=$1 pg=$2
  (
    eval "$(tools/private-pg.sh "$pg")"
    cd "$tree"
    make -s -j2 all >/dev/null
    make -s install >/dev/null
    cmake --build build -j2 --target bench_engine >/dev/null
  )
}

# The base tree is kept between runs of the same revision, so its build is incremental.
if [ "$(cat "$work/base/.rev" 2>/dev/null)" != "$base_rev" ]; then
  rm -rf "$work/base"
  git archive --format=tar --prefix=base/ "$base_rev" | tar -x -C "$work"
  echo "$base_rev" >"$work/base/.rev"
fi
echo "== building base $(git log -1 --format='%h %s' "$base_rev" | cut -c1-70)"
build_side "$work/base" "$work/pg-base"
echo "== building head (this work tree)"
build_side "$root" "$work/pg-head"

# Engine seconds of one run of tree $1's benchmark on a fresh cluster of PostgreSQL copy $2.
engine_seconds() {
  local tree=$1 pg=$2
  (
    eval "$(tools/private-pg.sh "$pg")"
    source tools/cluster.sh
    cluster_start
    "$tree/build/bench/engine" | sed -n 's/^engine: \([0-9.]*\) s.*/\1/p'
  )
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
b=() h=()
for ((r = 1; r <= rounds; r++)); do
  x=$(engine_seconds "$work/base" "$work/pg-base")
  y=$(engine_seconds "$root" "$work/pg-head")
  [ -n "$x" ] && [ -n "$y" ] || { echo "bench-compare: the engine benchmark failed"; exit 1; }
  echo "round $r: base $x s, head $y s"
  b+=("$x") h+=("$y")
done
mb=$(median "${b[@]}") mh=$(median "${h[@]}")
echo "engine head/base (medians of $rounds, $PGJ_BENCH_ENROLLMENTS enrollments, load $(cut -d' ' -f1-3 /proc/loadavg)): base $mb s, head $mh s, ratio $(awk -v a="$mh" -v b="$mb" 'BEGIN{printf "%.3f", a/b}')"
