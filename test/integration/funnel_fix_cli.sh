#!/usr/bin/env bash
# journeyctl's errors as docs/journeyctl.md promises them (issue 10): a port
# that is not one is a usage error (exit 2, like a malformed -d), not a failed
# connection (3); a server error prints its message, DETAIL and HINT and the
# SQLSTATE, never the SQL text journeyctl sent (no "LINE 1:" and caret).
# Needs the cluster of tools/test.sh (PGHOST).
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash

J=${JOURNEYCTL:-$("$PG_CONFIG" --bindir)/journeyctl}
DB=pgj_cli_errors
export PGDATABASE=$DB
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
jc() {
  out=$("$J" "$@" 2>"$work/stderr"); rc=$?
  err=$(cat "$work/stderr")
}
has() { case "$1" in *"$2"*) echo yes ;; *) echo "no: $1" ;; esac; }
lacks() { case "$1" in *"$2"*) echo "no: $1" ;; *) echo yes ;; esac; }

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d $DB -c "CREATE EXTENSION pg_journey" >/dev/null

jc list -p 99999
check "-p 99999 is a usage error (exit 2)" "2 yes" "$rc $(has "$err" "--port must be a whole number from 1 to 65535")"
jc list -p 0
check "-p 0 is a usage error (exit 2)" 2 "$rc"
jc list -p abc
check "-p abc is a usage error (exit 2)" 2 "$rc"
jc list -p "${PGPORT:-5432}"
check "a good -p connects" 0 "$rc"

# show where the extension is missing: an error with a position in
# journeyctl's statement (the server adds LINE 1: and a caret under it).
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ${DB}_bare" -c "CREATE DATABASE ${DB}_bare" >/dev/null 2>&1
jc show welcome -d "${DB}_bare"
check "show without the extension exits 1" 1 "$rc"
check "show prints the message" yes "$(has "$err" 'schema "journey" does not exist')"
check "show prints the SQLSTATE" yes "$(has "$err" "SQLSTATE: 3F000")"
check "show prints no SQL text" yes "$(lacks "$err" "LINE 1:")"
check "show prints no caret line" yes "$(lacks "$err" "^")"
psql -X -q -d postgres -c "DROP DATABASE ${DB}_bare" >/dev/null
# An error without a position, with its DETAIL/HINT kept.
jc show nosuch
check "show of a missing journey exits 1" "1 yes" "$rc $(has "$err" 'journey "nosuch" does not exist')"
check "its SQLSTATE is printed" yes "$(has "$err" "SQLSTATE: 42704")"

psql -X -q -d postgres -c "DROP DATABASE $DB" >/dev/null
finish_checks
