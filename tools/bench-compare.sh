#!/usr/bin/env bash
# Before/after figures of a change, side by side in one run: builds BASE (a git
# revision, default the merge-base with origin's main or HEAD~1) and the work
# tree, each into a private PostgreSQL copy (tools/private-pg.sh), then runs the
# benchmarks of PGJ_COMPARE_BENCHES against a fresh throwaway cluster of each,
# alternating BASE and HEAD ROUNDS times so both see the same machine. Prints
# each round and the ratio of the medians per benchmark (head/base seconds:
# 1.05 = 5% slower).
#   engine: each tree's bench/engine.cpp (PGJ_BENCH_ENROLLMENTS enrollments);
#   claim:  this tree's bench/claim.cpp against either build (it uses only the
#           SQL API; PGJ_BENCH_MESSAGES messages, default 10000).
#   tools/bench-compare.sh [BASE]      (make bench-compare BASE=rev)
# Env: PGJ_COMPARE_ROUNDS (default 3), PGJ_BENCH_ENROLLMENTS (default 50000),
# PGJ_COMPARE_BENCHES (default "engine claim"),
# PGJ_COMPARE_DIR (default /tmp/pgj-compare: the two builds and PostgreSQL copies).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
base=${1:-HEAD~1}
rounds=${PGJ_COMPARE_ROUNDS:-3}
work=${PGJ_COMPARE_DIR:-/tmp/pgj-compare}
export PGJ_BENCH_ENROLLMENTS=${PGJ_BENCH_ENROLLMENTS:-50000}
benches=${PGJ_COMPARE_BENCHES:-engine claim}
base_rev=$(git rev-parse --verify "$base^{commit}")
mkdir -p "$work"

# Builds the tree $1 into the private PostgreSQL $2 (extension, journeyctl, the
# benchmark targets $3...).
build_side() {
  local tree=$1 pg=$2
  shift 2
  (
    eval "$(tools/private-pg.sh "$pg")"
    cd "$tree"
    make -s -j2 all >/dev/null
    make -s install >/dev/null
    for target in "$@"; do cmake --build build -j2 --target "$target" >/dev/null; done
  )
}

# The base tree is kept between runs of the same revision, so its build is incremental.
if [ "$(cat "$work/base/.rev" 2>/dev/null)" != "$base_rev" ]; then
  rm -rf "$work/base"
  git archive --format=tar --prefix=base/ "$base_rev" | tar -x -C "$work"
  echo "$base_rev" >"$work/base/.rev"
fi
echo "== building base $(git log -1 --format='%h %s' "$base_rev" | cut -c1-70)"
base_targets=() head_targets=()
for bench in $benches; do
  case $bench in
    engine) base_targets+=(bench_engine) head_targets+=(bench_engine) ;;
    claim) head_targets+=(bench_claim) ;;
    *) echo "bench-compare: unknown benchmark $bench (engine, claim)"; exit 2 ;;
  esac
done
build_side "$work/base" "$work/pg-base" "${base_targets[@]}"
echo "== building head (this work tree)"
build_side "$root" "$work/pg-head" "${head_targets[@]}"

# Seconds of one run of benchmark $1 on a fresh cluster of PostgreSQL copy $3
# (tree $2's engine program; this tree's claim program).
bench_seconds() {
  local bench=$1 tree=$2 pg=$3
  (
    eval "$(tools/private-pg.sh "$pg")"
    source tools/cluster.sh
    cluster_start
    case $bench in
      engine) "$tree/build/bench/engine" | sed -n 's/^engine: \([0-9.]*\) s.*/\1/p' ;;
      claim) "$root/build/bench/claim" | sed -n 's/^claim: \([0-9.]*\) s.*/\1/p' ;;
    esac
  )
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
declare -A sizes=([engine]="$PGJ_BENCH_ENROLLMENTS enrollments" [claim]="${PGJ_BENCH_MESSAGES:-10000} messages")
for bench in $benches; do
  b=() h=()
  for ((r = 1; r <= rounds; r++)); do
    x=$(bench_seconds "$bench" "$work/base" "$work/pg-base")
    y=$(bench_seconds "$bench" "$root" "$work/pg-head")
    [ -n "$x" ] && [ -n "$y" ] || { echo "bench-compare: the $bench benchmark failed"; exit 1; }
    echo "$bench round $r: base $x s, head $y s"
    b+=("$x") h+=("$y")
  done
  mb=$(median "${b[@]}") mh=$(median "${h[@]}")
  echo "$bench head/base (medians of $rounds, ${sizes[$bench]}, load $(cut -d' ' -f1-3 /proc/loadavg)): base $mb s, head $mh s, ratio $(awk -v a="$mh" -v b="$mb" 'BEGIN{printf "%.3f", a/b}')"
done
