# Shared by the shell integration tests (sourced; not a test itself): the
# cluster helpers of tools/cluster.sh, and pass/fail counting that ends with
# the "N passed, N failed" line tools/test.sh reads.
source "$(dirname "${BASH_SOURCE[0]}")/../../tools/cluster.sh"
passed=0
failed=0

# Counts one check: description, expected, actual.
check() {
  if [ "$2" = "$3" ]; then passed=$((passed + 1)); echo "ok     $1"
  else failed=$((failed + 1)); echo "FAILED $1: expected '$2', got '$3'"; fi
}

# Prints the closing line; the exit status says whether every check passed.
finish_checks() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# A throwaway cluster of the test's own (for tests that restart the server or
# need other settings than tools/test.sh's): initdb in a new temp dir, kept in
# $dir, Unix socket only, stopped and removed at exit. The caller appends its
# settings to "$dir/data/postgresql.conf" and starts it (own_cluster_start).
own_cluster() {  # name: the temp dir is /tmp/pgj_NAME.XXXXXX
  dir=$(mktemp -d "/tmp/pgj_$1.XXXXXX")
  chmod 755 "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  trap own_cluster_stop EXIT
  as_cluster_user "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync >/dev/null 2>&1
  printf "listen_addresses = ''\nunix_socket_directories = '%s'\n" "$dir" >>"$dir/data/postgresql.conf"
}
own_cluster_stop() {
  as_cluster_user "$PGBIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
  rm -rf "$dir"
}

# Starts the cluster own_cluster made, its log in "$dir/log"; a server that
# does not start ends the test as one failure, with the log.
own_cluster_start() {
  as_cluster_user "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start >/dev/null \
    || { cat "$dir/log"; echo "0 passed, 1 failed"; exit 1; }
}

# psql on the own cluster, in database $db (postgres when unset), values only.
q() { psql -X -q -At -h "$dir" -U postgres -d "${db:-postgres}" -v ON_ERROR_STOP=1 "$@"; }

# Polls a command every 0.1 s until it succeeds; false after `patience` seconds.
patience=60
wait_until() {
  local deadline=$((SECONDS + patience))
  until "$@"; do [ "$SECONDS" -ge "$deadline" ] && return 1; sleep 0.1; done
}
