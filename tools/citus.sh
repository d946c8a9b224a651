#!/usr/bin/env bash
# Citus for pg_journey's scale-out work: builds Citus from a source tree the
# caller brings (no Citus code lives in this repository) and runs a throwaway
# Citus cluster, a coordinator and two workers, for tests and experiments.
#
#   tools/citus.sh deps                  Debian packages Citus's build needs (root: install them)
#   tools/citus.sh build [CITUS_SRC]     fix, configure, build (-j2) and install Citus into PostgreSQL 15
#   tools/citus.sh run CMD [ARG...]      start the cluster, run CMD with PGHOST/PGPORT/PGDATABASE set
#                                        to the coordinator, then remove the cluster (even on failure)
#   source tools/citus.sh; citus_cluster_start; ...    the same as functions; citus_cluster_stop
#                                        runs from the EXIT trap; citus_psql_all SQL runs on every node
#
# Settings: CITUS_SRC (source tree), CITUS_JOBS (make -j, default 2), CITUS_DB (default
# pgj_citus), CITUS_SHARD_COUNT (default 8), CITUS_PGJ_ENABLED (pg_journey.enabled,
# default on), CITUS_PGJ_WORKERS (pg_journey.workers per node, default 1),
# CITUS_PORT_BASE (coordinator port, workers on the next two; default 5432), PGBIN
# (the PostgreSQL programs: set by tools/private-pg.sh for a private copy).
#
# Citus v13.2.x is the last line for PostgreSQL 15. On a user's machine it comes
# from Citus's own Debian packages (packagecloud.io/citusdata/community,
# postgresql-15-citus-13.2); these machines cannot reach them, hence the build.
#
# The three clusters run as the postgres OS user (PostgreSQL refuses root), listen
# only on Unix sockets in one temp dir (ports CITUS_PORT_BASE coordinator, the next
# two workers) and know each other by that directory as host name. Each preloads
# citus (first, as Citus requires), pg_cron and pg_journey; the database
# $CITUS_DB (default pgj_citus) exists on every node with the citus extension,
# and the workers are added to the coordinator's metadata.

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PG_CONFIG=${PG_CONFIG:-$PGBIN/pg_config}
CITUS_DB=${CITUS_DB:-pgj_citus}
CITUS_JOBS=${CITUS_JOBS:-2}
CITUS_DIR=""
# Coordinator, worker 1, worker 2: CITUS_PORT_BASE and the two ports after it. The
# sockets live in a private temp dir, so only the lock files in that dir decide;
# distinct bases still keep logs and psql commands unambiguous when several
# clusters run at once (make test-citus picks a free base).
CITUS_PORTS=""   # set by citus_cluster_start from CITUS_PORT_BASE (default 5432)

citus_deps_packages=(liblz4-dev libzstd-dev libkrb5-dev postgresql-server-dev-15 make gcc perl)

# Runs a command as the clusters' OS user.
citus_as_user() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Installs the Debian packages the Citus build needs (as root), or prints the
# apt-get line to run.
citus_deps() {
  local missing=() p
  for p in "${citus_deps_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "building Citus needs: ${missing[*]}" >&2
    echo "install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    return 1
  fi
  echo "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
}

# Local build fix, in the Citus tree only: PostgreSQL 15.20 (Debian) exports and
# declares have_createdb_privilege() in commands/dbcommands.h, while Citus
# 13.2's pg_version_compat.h defines a static one for PostgreSQL < 16, so the
# build stops at "static declaration of 'have_createdb_privilege' follows
# non-static declaration". Where the server declares it, use the server's.
citus_fix_build_tree() {
  local src=$1 compat="$1/src/include/pg_version_compat.h" server
  server=$("$PG_CONFIG" --includedir-server)
  grep -q 'have_createdb_privilege' "$server/commands/dbcommands.h" 2>/dev/null || return 0
  grep -q '^have_createdb_privilege(void)' "$compat" 2>/dev/null || return 0
  echo "citus: local build fix: $compat uses the server's have_createdb_privilege()"
  perl -0pi -e 's/static inline bool\nhave_createdb_privilege\(void\)\n\{.*?\n\}\n/\/* pg_journey tools\/citus.sh: the server declares have_createdb_privilege() *\/\n#include "commands\/dbcommands.h"\n/s' \
    "$compat"
  ! grep -q '^have_createdb_privilege(void)' "$compat"
}

# Configures, builds and installs Citus from the source tree $1 (or $CITUS_SRC).
citus_build() {
  local src=${1:-${CITUS_SRC:-}} start=$SECONDS
  if [ -z "$src" ] || [ ! -f "$src/configure" ] || [ ! -d "$src/src/backend/distributed" ]; then
    echo "usage: tools/citus.sh build CITUS_SRC (or set CITUS_SRC): a Citus v13.2.x source tree" >&2
    return 2
  fi
  citus_deps || return 1
  citus_fix_build_tree "$src" || { echo "citus: the local build fix did not apply" >&2; return 1; }
  (
    set -e
    cd "$src"
    echo "citus: configure (--without-libcurl)"
    ./configure --without-libcurl PG_CONFIG="$PG_CONFIG" >configure.out 2>&1 \
      || { tail -n 20 configure.out; exit 1; }
    echo "citus: make -j$CITUS_JOBS"
    make -j"$CITUS_JOBS" >make.out 2>&1 || { grep -E 'error|Error' make.out | head -n 20; exit 1; }
    echo "citus: make install into $("$PG_CONFIG" --pkglibdir)"
    make install >install.out 2>&1 \
      || { tail -n 20 install.out; echo "(installing needs root)" >&2; exit 1; }
  ) || return 1
  echo "citus: built and installed in $((SECONDS - start)) s"
}

# Creates and starts one node's cluster on port $1 in $CITUS_DIR/node-$1.
citus_node_start() {
  local port=$1 data="$CITUS_DIR/node-$1"
  citus_as_user "$PGBIN/initdb" -D "$data" -U postgres --auth=trust --no-sync -E UTF8 \
    --locale=C >"$CITUS_DIR/initdb-$port.log" 2>&1 || { cat "$CITUS_DIR/initdb-$port.log"; return 1; }
  cat >>"$data/postgresql.conf" <<CONF
listen_addresses = ''
port = $port
unix_socket_directories = '$CITUS_DIR'
shared_preload_libraries = 'citus,pg_cron,pg_journey'
citus.node_conninfo = 'sslmode=disable'
citus.local_hostname = '$CITUS_DIR'
citus.shard_count = ${CITUS_SHARD_COUNT:-8}
cron.database_name = '${CITUS_CRON_DB:-postgres}'
pg_journey.database = '$CITUS_DB'
pg_journey.workers = ${CITUS_PGJ_WORKERS:-1}
pg_journey.naptime = 200
pg_journey.role = 'journey_worker'
pg_journey.enabled = ${CITUS_PGJ_ENABLED:-on}
wal_level = logical
max_replication_slots = 10
max_wal_senders = 10
max_prepared_transactions = 50
max_connections = 80
max_worker_processes = 24
shared_buffers = 64MB
fsync = off
synchronous_commit = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%a '
CONF
  citus_as_user "$PGBIN/pg_ctl" -D "$data" -l "$CITUS_DIR/server-$port.log" -w -t 60 start \
    >/dev/null || { cat "$CITUS_DIR/server-$port.log"; return 1; }
}

# Runs SQL on one node ($1: port) in database $CITUS_DB (or $3).
citus_psql() {
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$CITUS_DIR" -p "$1" -U postgres -d "${3:-$CITUS_DB}" -c "$2"
}

# Runs SQL on every node (coordinator first) in database $CITUS_DB: for what
# Citus does not propagate (GRANT to roles created on each node, settings).
citus_psql_all() {
  local port
  for port in $CITUS_PORTS; do citus_psql "$port" "$1" || return 1; done
}

# Starts the coordinator and two workers, creates $CITUS_DB with citus on each,
# registers the nodes; exports PGHOST/PGPORT/PGUSER/PGDATABASE (coordinator),
# CITUS_WORKER_PORTS, CITUS_DIR and CITUS_LOGS for clients.
citus_cluster_start() {
  local port
  [ -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ] \
    || { echo "Citus is not installed: tools/citus.sh build CITUS_SRC" >&2; return 1; }
  local base=${CITUS_PORT_BASE:-5432}
  CITUS_PORTS="$base $((base + 1)) $((base + 2))"
  CITUS_DIR=$(mktemp -d /tmp/pg_journey_citus.XXXXXX)
  chmod 755 "$CITUS_DIR"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$CITUS_DIR"
  trap citus_cluster_stop EXIT
  # The three nodes are set up side by side (one after another took 7 s of each
  # distributed suite); a node that fails leaves its status in node-PORT.status.
  local pids=()
  for port in $CITUS_PORTS; do
    {
      citus_node_start "$port" &&
        citus_psql "$port" "CREATE DATABASE $CITUS_DB" postgres &&
        citus_psql "$port" "CREATE ROLE journey_worker LOGIN" postgres &&
        citus_psql "$port" "CREATE EXTENSION citus"
      echo $? >"$CITUS_DIR/node-$port.status"
    } &
    pids+=($!)
  done
  wait "${pids[@]}"
  for port in $CITUS_PORTS; do
    [ "$(cat "$CITUS_DIR/node-$port.status" 2>/dev/null)" = 0 ] \
      || { echo "citus: node $port did not start" >&2; return 1; }
  done
  set -- $CITUS_PORTS
  citus_psql "$1" "SELECT citus_set_coordinator_host('$CITUS_DIR', $1)" >/dev/null || return 1
  citus_psql "$1" "SELECT citus_add_node('$CITUS_DIR', $2)" >/dev/null || return 1
  citus_psql "$1" "SELECT citus_add_node('$CITUS_DIR', $3)" >/dev/null || return 1
  export PGHOST="$CITUS_DIR" PGPORT="$1" PGUSER=postgres PGDATABASE="$CITUS_DB"
  export CITUS_DIR CITUS_WORKER_PORTS="$2 $3"
  export CITUS_LOGS="$CITUS_DIR/server-$1.log $CITUS_DIR/server-$2.log $CITUS_DIR/server-$3.log"
}

# Stops the three clusters (fast, then immediate) and removes their files.
citus_cluster_stop() {
  local rc=$? port
  if [ -n "$CITUS_DIR" ] && [ -d "$CITUS_DIR" ]; then
    for port in $CITUS_PORTS; do
      [ -d "$CITUS_DIR/node-$port" ] || continue
      citus_as_user "$PGBIN/pg_ctl" -D "$CITUS_DIR/node-$port" -m fast -t 30 stop >/dev/null 2>&1 \
        || citus_as_user "$PGBIN/pg_ctl" -D "$CITUS_DIR/node-$port" -m immediate stop >/dev/null 2>&1
    done
    rm -rf "$CITUS_DIR"
  fi
  CITUS_DIR=""
  return $rc
}

# Command line (when run, not sourced).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  case "${1:-}" in
    deps) citus_deps ;;
    build) shift; citus_build "$@" ;;
    run)
      shift
      [ $# -gt 0 ] || { echo "usage: tools/citus.sh run CMD [ARG...]" >&2; exit 2; }
      citus_cluster_start || exit 1
      "$@"
      ;;
    *)
      sed -n '2,/^$/{/^$/d;s/^# \{0,1\}//;p}' "$0" >&2
      exit 2
      ;;
  esac
fi
