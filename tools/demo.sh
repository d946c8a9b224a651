#!/usr/bin/env bash
# make demo: a throwaway cluster, a customer table, and a journey designed,
# validated, published and exported end to end. Prints what it does.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/cluster.sh
cluster_start
echo "== throwaway cluster up (socket $PGHOST)"
# The cluster's background workers serve database pgj_worker as role journey_worker.
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE ROLE journey_worker LOGIN" -c "CREATE DATABASE pgj_worker"
psql -X -v ON_ERROR_STOP=1 -q -d pgj_worker -f tools/demo.sql
echo "== demo finished; the cluster is removed"
