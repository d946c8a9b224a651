#!/usr/bin/env bash
# make demo: a throwaway cluster, a customer table, and a journey designed,
# validated, published and exported end to end. Prints what it does, and ends
# with the address of the visual builder on the demo data (journeyctl serve):
# in a terminal it keeps serving until Ctrl-C; otherwise (CI) it checks that
# the builder answers, stops it and exits.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/cluster.sh
# In a terminal psql would page the long outputs and wait for a key.
export PSQL_PAGER=cat
cluster_start
echo "== throwaway cluster up (socket $PGHOST)"
# The cluster's background workers serve database pgj_worker as role journey_worker.
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE ROLE journey_worker LOGIN" -c "CREATE DATABASE pgj_worker"
psql -X -v ON_ERROR_STOP=1 -q -d pgj_worker -f tools/demo.sql

echo "== journeyctl, the command-line client (installed beside psql)"
journeyctl=$("$PG_CONFIG" --bindir)/journeyctl
"$journeyctl" list -d pgj_worker
"$journeyctl" stats welcome-series -d pgj_worker

# The visual builder on the demo data, signed in as a marketer who may author
# and publish (journey_admin) but is not a superuser.
psql -X -q -v ON_ERROR_STOP=1 -d pgj_worker -c "CREATE ROLE marketer LOGIN IN ROLE journey_admin" \
  -c "GRANT SELECT, UPDATE ON customers TO marketer"
echo "== the visual builder: sign in as role \"marketer\" with any password (this throwaway"
echo "   cluster trusts local connections, hence --allow-passwordless; never on a real server)"
serve=("$journeyctl" serve -d pgj_worker --allow-passwordless)
if [ -t 0 ] && [ -t 1 ] && [ -z "${CI:-}" ]; then
  echo "   Ctrl-C stops it and removes the cluster"
  "${serve[@]}" --http-port "${PGJ_DEMO_PORT:-8080}" || "${serve[@]}" --http-port 0
  echo "== demo finished; the cluster is removed"
  exit 0
fi
# Not in a terminal (CI): start it, check that it answers, print where it was, stop.
log=$(mktemp)
"${serve[@]}" --http-port 0 >"$log" 2>&1 &
serve_pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(grep -o 'http://127.0.0.1:[0-9]*/' "$log" || true)
  [ -n "$url" ] && break
  sleep 0.1
done
ok=0
[ -n "$url" ] && curl -fsS "$url" | grep -q '<div id="root">' && ok=1
kill "$serve_pid" 2>/dev/null
wait "$serve_pid" 2>/dev/null || true
rm -f "$log"
[ "$ok" -eq 1 ] || { echo "the builder did not answer"; exit 1; }
echo "== demo finished (not a terminal, so the builder stopped again); the cluster is removed"
echo "the builder was at: $url (run make demo in a terminal to keep it serving)"
