# Shared by the distributed suites (test/citus/*.sh): a throwaway Citus cluster
# (tools/citus.sh) and the check helpers. Source it from the repository root.
# The PostgreSQL of PG_CONFIG (a private copy: tools/private-pg.sh) unless PGBIN says.
export PGBIN=${PGBIN:-$("${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" --bindir)}
source tools/citus.sh
passed=0
failed=0

# Starts the coordinator ($PGPORT) and two workers ($w1, $w2) on ports of their
# own (a base derived from the process id, so that suites of several work trees
# do not share names in logs and psql lines; the sockets live in the cluster's
# private directory).
# pg_journey's background worker is off unless CITUS_PGJ_ENABLED=on: the suites drive
# the engine with journey.run_due's as_of.
citus_test_start() {
  export CITUS_PORT_BASE=${CITUS_PORT_BASE:-$((20000 + ($$ % 3000) * 3))}
  export CITUS_PGJ_ENABLED=${CITUS_PGJ_ENABLED:-off}
  citus_cluster_start || { echo "0 passed, 1 failed (the cluster did not start)"; return 1; }
  # The worker nodes' ports.
  w1=${CITUS_WORKER_PORTS%% *}
  w2=${CITUS_WORKER_PORTS##* }
}

# One value (unaligned, tuples only) from node $1.
cq() {
  "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$CITUS_DIR" -p "$1" -U postgres -d "$CITUS_DB" -c "$2"
}

# One value from the coordinator.
c() { cq "$PGPORT" "$1"; }

check() {  # name expected actual
  if [ "$2" == "$3" ]; then
    passed=$((passed + 1)); echo "ok: $1"
  else
    failed=$((failed + 1)); printf 'FAILED: %s\n  expected: %s\n  actual:   %s\n' "$1" "$2" "$3"
  fi
}

# The SQLSTATE of the error the statements on node $3 raise.
expect_state() {  # name sqlstate port sql
  local out
  out=$(printf '\\set VERBOSITY sqlstate\n%s\n' "$4" \
        | "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$CITUS_DIR" -p "$3" -U postgres -d "$CITUS_DB" 2>&1)
  check "$1 ($2)" "ERROR:  $2" "$(echo "$out" | grep '^ERROR' | head -1)"
}

citus_test_finish() {
  if [ "$failed" -gt 0 ]; then
    for log in $CITUS_LOGS; do echo "---- $log"; tail -n 15 "$log"; done
  fi
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
