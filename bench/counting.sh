#!/usr/bin/env bash
# What the analytics' counting costs the engine (issue 10's 5% budget): the
# engine benchmark with the activity roll-up trigger and the two analytics
# indexes (on) and without them (off, PGJ_BENCH_COUNTING=off), alternated
# ROUNDS times on the same cluster so both see the same machine. Prints each
# run's engine seconds and the ratio of the medians (on/off: 1.05 = 5% slower).
# Needs PGHOST/PGPORT of a cluster with pg_journey installed (tools/bench.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${PGJ_COUNTING_ROUNDS:-3}
export PGJ_BENCH_ENROLLMENTS=${PGJ_BENCH_ENROLLMENTS:-50000}
on=() off=()
engine_seconds() { PGJ_BENCH_COUNTING=$1 build/bench/engine | sed -n 's/^engine: \([0-9.]*\) s.*/\1/p'; }
for ((r = 1; r <= rounds; r++)); do
  a=$(engine_seconds on); b=$(engine_seconds off)
  [ -n "$a" ] && [ -n "$b" ] || { echo "counting: the engine benchmark failed"; exit 1; }
  echo "round $r: counting on $a s, off $b s"
  on+=("$a"); off+=("$b")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
mon=$(median "${on[@]}"); moff=$(median "${off[@]}")
echo "engine with counting / without (medians of $rounds, $PGJ_BENCH_ENROLLMENTS enrollments): on $mon s, off $moff s, ratio $(awk -v a="$mon" -v b="$moff" 'BEGIN{printf "%.3f", a/b}')"
