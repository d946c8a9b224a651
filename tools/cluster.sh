# Throwaway PostgreSQL cluster for tests and the demo. Source it, then call
# cluster_start; cluster_stop runs from the EXIT trap, even on failure.
# PostgreSQL refuses to run as root, so as root the server runs as the postgres OS user.
# The server listens only on a Unix socket in its own temp dir: no port clashes.
# fsync and synchronous_commit are off (a throwaway cluster) unless
# PGJ_CLUSTER_FSYNC / PGJ_CLUSTER_SYNCHRONOUS_COMMIT say otherwise (make bench
# measures both: tools/bench.sh); shared_buffers is PostgreSQL's default 128MB
# unless PGJ_CLUSTER_SHARED_BUFFERS says otherwise (the scale benchmark).

# PG_CONFIG picks the PostgreSQL installation (default: Debian's PostgreSQL 15;
# tools/private-pg.sh makes a private copy for parallel work trees).
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PGBIN=${PGBIN:-$("$PG_CONFIG" --bindir)}
export PG_CONFIG PGBIN
CLUSTER_DIR=""

# Runs a command as the cluster's OS user.
as_cluster_user() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Creates and starts the cluster; exports PGHOST/PGPORT/PGUSER for clients.
cluster_start() {
  CLUSTER_DIR=$(mktemp -d /tmp/pg_journey.XXXXXX)
  chmod 755 "$CLUSTER_DIR"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$CLUSTER_DIR"
  trap cluster_stop EXIT
  as_cluster_user "$PGBIN/initdb" -D "$CLUSTER_DIR/data" -U postgres --auth=trust \
    --no-sync -E UTF8 --locale=C >"$CLUSTER_DIR/initdb.log" 2>&1 \
    || { cat "$CLUSTER_DIR/initdb.log"; return 1; }
  cat >>"$CLUSTER_DIR/data/postgresql.conf" <<CONF
listen_addresses = ''
port = 5432
unix_socket_directories = '$CLUSTER_DIR'
shared_preload_libraries = 'pg_cron,pg_journey'
cron.database_name = 'postgres'
pg_journey.database = 'pgj_worker'
pg_journey.workers = 2
pg_journey.naptime = 200
pg_journey.role = 'journey_worker'
max_connections = 60
max_worker_processes = 24
shared_buffers = ${PGJ_CLUSTER_SHARED_BUFFERS:-128MB}
fsync = ${PGJ_CLUSTER_FSYNC:-off}
synchronous_commit = ${PGJ_CLUSTER_SYNCHRONOUS_COMMIT:-off}
log_min_messages = warning
log_line_prefix = '%m [%p] %q%a '
CONF
  as_cluster_user "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w \
    -t 60 start >/dev/null || { cat "$CLUSTER_DIR/server.log"; return 1; }
  export PGHOST="$CLUSTER_DIR" PGPORT=5432 PGUSER=postgres PGDATABASE=postgres
  export PGJ_CLUSTER_DATA="$CLUSTER_DIR/data" PGJ_CLUSTER_LOG="$CLUSTER_DIR/server.log"
}

# Stops the cluster (fast, then immediate) and removes its files.
cluster_stop() {
  local rc=$?
  if [ -n "$CLUSTER_DIR" ] && [ -d "$CLUSTER_DIR/data" ]; then
    as_cluster_user "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -t 30 stop >/dev/null 2>&1 \
      || as_cluster_user "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate stop >/dev/null 2>&1
    rm -rf "$CLUSTER_DIR"
  fi
  CLUSTER_DIR=""
  return $rc
}
