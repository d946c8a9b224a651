#!/usr/bin/env bash
# make soak: bench/soak.cpp on a throwaway cluster (tools/cluster.sh), then a
# PNG plot of its CSV with gnuplot. Settings through the environment (see
# bench/soak.cpp): PGJ_SOAK_MINUTES (default 30), PGJ_SOAK_HOLD_AT (10),
# PGJ_SOAK_HOLD (10), PGJ_SOAK_ENROLL_RATE (200), PGJ_SOAK_EVENT_RATE (100),
# PGJ_SOAK_UPDATE_RATE (500). Writes build/results/soak-latest.{csv,png,txt}
# (PGJ_SOAK_OUT changes the prefix).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${PGJ_SOAK_OUT:-build/results/soak-latest}
mkdir -p "$(dirname "$out")"
source tools/cluster.sh
cluster_start
{
  echo "# make soak, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load before: $(uptime | sed 's/.*load average: //')"
  env | grep '^PGJ_SOAK_' | sed 's/^/# /' || true
} >"$out.txt"
status=0
PGJ_SOAK_CSV="$out.csv" build/bench/soak 2>&1 | tee -a "$out.txt" || status=1
echo "# load after: $(uptime | sed 's/.*load average: //')" >>"$out.txt"
if command -v gnuplot >/dev/null; then
  gnuplot -e "csv='$out.csv'; png='$out.png'" tools/soak.gp && echo "plot: $out.png"
else
  echo "gnuplot not found (apt-get install gnuplot-nox): no plot"; status=1
fi
exit $status
