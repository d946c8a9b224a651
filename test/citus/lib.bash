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

# One value from the single-node database $SINGLE on the coordinator (without
# Citus), which suites that compare with a single node create.
SINGLE=${SINGLE:-pgj_single}
s() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$CITUS_DIR" -p "$PGPORT" -U postgres -d "$SINGLE" -c "$1"; }

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

# pg_journey's background workers on, on every node, in batches of $1.
workers_on() {  # batch_size
  local port
  for port in $CITUS_PORTS; do
    cq "$port" "ALTER SYSTEM SET pg_journey.batch_size = $1" >/dev/null
    cq "$port" "ALTER SYSTEM SET pg_journey.enabled = on" >/dev/null
    cq "$port" "SELECT pg_reload_conf()" >/dev/null
  done
}

# The journey's active enrollments.
active() {  # journey
  c "SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
      WHERE j.name = '$1' AND e.status = 'active'"
}

# Rows of a distributed journey table ($1) that are not on their customer's shard.
misplaced() {  # table
  c "SELECT coalesce(sum(result::int), 0) FROM run_command_on_shards('$1',
       \$\$SELECT count(*) FROM %s x
          WHERE get_shard_id_for_distribution_column('$1', x.customer_id)::text
                <> regexp_replace(x.tableoid::regclass::text, '^.*_', '')\$\$)"
}

# Messages of the journey: count / distinct (enrollment, visit) / enrollments;
# enrollments completed / failed or retried; enrollments whose visits are not
# exactly $2 (a literal array of step keys), numbered 1, 2, ... in order.
outcome() {  # journey visits
  c "SELECT (SELECT count(*) || '/' || count(DISTINCT (m.enrollment_id, m.visit)) || '/' ||
                    count(DISTINCT m.enrollment_id)
               FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id WHERE j.name = '$1')
            || '|' || (SELECT count(*) FILTER (WHERE e.status = 'completed') || '/' ||
                              count(*) FILTER (WHERE e.attempts > 0 OR e.last_error IS NOT NULL)
                         FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
                        WHERE j.name = '$1')
            || '|' || (SELECT count(*) FROM (
                 SELECT a.enrollment_id, array_agg(a.step_key ORDER BY a.visit) s,
                        array_agg(a.visit ORDER BY a.visit) v
                   FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
                  WHERE j.name = '$1' GROUP BY 1) x
                 WHERE s <> '$2'::text[] OR v <> array(SELECT generate_series(1, cardinality('$2'::text[]))))"
}

# One psql session on each worker node, kept open (a backend's caches live as
# long as it does): worker_sessions_open, then ask_workers SQL sets ANSWER to
# both answers (w1|w2), then worker_sessions_close. (ask_workers must not run
# in a subshell: the sessions count the questions.)
worker_sessions_open() {
  mkfifo "$CITUS_DIR/in1" "$CITUS_DIR/in2"
  "$PGBIN/psql" -X -q -At -h "$CITUS_DIR" -p "$w1" -U postgres -d "$CITUS_DB" <"$CITUS_DIR/in1" >"$CITUS_DIR/out1" 2>&1 &
  exec 7>"$CITUS_DIR/in1"
  "$PGBIN/psql" -X -q -At -h "$CITUS_DIR" -p "$w2" -U postgres -d "$CITUS_DB" <"$CITUS_DIR/in2" >"$CITUS_DIR/out2" 2>&1 &
  exec 8>"$CITUS_DIR/in2"
  asked=0
  echo "SELECT 'done 0';" >&7; echo "SELECT 'done 0';" >&8
}
ask_workers() {  # sql
  asked=$((asked + 1))
  echo "$1;" >&7; echo "SELECT 'done $asked';" >&7
  echo "$1;" >&8; echo "SELECT 'done $asked';" >&8
  local deadline=$((SECONDS + 60))
  until grep -q "^done $asked\$" "$CITUS_DIR/out1" && grep -q "^done $asked\$" "$CITUS_DIR/out2"; do
    [ $SECONDS -lt $deadline ] || { ANSWER=timeout; return 1; }
    sleep 0.1
  done
  ANSWER="$(sed -n "/^done $((asked - 1))\$/,/^done $asked\$/p" "$CITUS_DIR/out1" | grep -v '^done')|$(
            sed -n "/^done $((asked - 1))\$/,/^done $asked\$/p" "$CITUS_DIR/out2" | grep -v '^done')"
}
worker_sessions_close() {
  exec 7>&- 8>&-
}

citus_test_finish() {
  if [ "$failed" -gt 0 ]; then
    for log in $CITUS_LOGS; do echo "---- $log"; tail -n 15 "$log"; done
  fi
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
