#!/usr/bin/env bash
# make demo: a throwaway cluster, a customer table, and a journey designed,
# validated, published and exported end to end. Prints what it does.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/cluster.sh
cluster_start
echo "== throwaway cluster up (socket $PGHOST)"
psql -X -v ON_ERROR_STOP=1 -q -f tools/demo.sql
echo "== demo finished; the cluster is removed"
