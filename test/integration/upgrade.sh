#!/usr/bin/env bash
# Upgrade from the last release: the released library (built from its commit,
# sql/RELEASES) runs journeys into every state; then this build's library is
# installed, refuses the old schema with a hint, ALTER EXTENSION pg_journey
# UPDATE brings the schema up, and every journey carries on. Last, the upgraded
# schema must equal a fresh install's (pg_dump --schema-only, no difference).
# Runs on a private copy of the PostgreSQL installation (tools/private-pg.sh),
# so the system's pg_journey is never touched. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash

release=$(awk '!/^#/ && NF == 2 {v = $1; c = $2} END {print v}' sql/RELEASES)
commit=$(awk '!/^#/ && NF == 2 {c = $2} END {print c}' sql/RELEASES)
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" pg_journey.control)
system_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}

# 1. The released library, built once per commit (cached under build/).
release_dir=build/release-$release
if [ ! -f "$release_dir/pg_journey.so" ]; then
  if ! git cat-file -e "$commit^{commit}" 2>/dev/null; then
    echo "FAILED release $release: commit $commit is not in this clone (a shallow clone?)"
    echo "0 passed, 1 failed"; exit 1
  fi
  rm -rf "$release_dir" && mkdir -p "$release_dir"
  git archive "$commit" | tar -x -C "$release_dir"
  echo "building the released $release library (once; cached in $release_dir)"
  # -O1 without debug information: half the compile time of the release's own
  # -O2 -g, and the same behaviour (only what the test runs, not how fast).
  make -C "$release_dir" -s -j2 PG_CONFIG="$system_config" \
    PG_CXXFLAGS='-std=c++17 -fPIC -O1 -isystem $(includedir_server) -Isrc' >"$release_dir/build.log" 2>&1 \
    || { tail -20 "$release_dir/build.log"; echo "0 passed, 1 failed"; exit 1; }
fi

# 2. A private PostgreSQL installation with the released extension in it.
dir=$(mktemp -d /tmp/pgj_upgrade.XXXXXX)
chmod 755 "$dir"
eval "$(PG_CONFIG_SYSTEM=$system_config tools/private-pg.sh "$dir/pg")"
pkglib=$("$PG_CONFIG" --pkglibdir)
extdir=$("$PG_CONFIG" --sharedir)/extension
install_release() {  # source dir: its library, control file and scripts
  cp "$1/pg_journey.so" "$pkglib/pg_journey.so"
  cp "$1/pg_journey.control" "$extdir/"
  cp "$1"/sql/pg_journey--*.sql "$extdir/"
}
install_release "$release_dir"

[ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
stop() {
  as_cluster_user "$PGBIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
  rm -rf "$dir"
}
trap stop EXIT
as_cluster_user "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync >/dev/null 2>&1
cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
shared_preload_libraries = 'pg_cron,pg_journey'
cron.database_name = 'postgres'
pg_journey.database = 'pgj_upgrade'
pg_journey.role = 'journey_worker'
pg_journey.naptime = 200
fsync = off
log_min_messages = warning
CONF
start() {
  as_cluster_user "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null \
    || { cat "$dir/log"; echo "0 passed, 1 failed"; exit 1; }
}
start
q() { psql -X -q -At -h "$dir" -U postgres -d pgj_upgrade -v ON_ERROR_STOP=1 "$@"; }
psql -X -q -h "$dir" -U postgres -d postgres -c "CREATE ROLE journey_worker LOGIN" \
  -c "CREATE DATABASE pgj_upgrade" -c "CREATE DATABASE pgj_fresh"

# 3. Journeys into every state with the released version.
q >/dev/null <<'SQL'
CREATE EXTENSION pg_journey;
CREATE TABLE customers (id bigint PRIMARY KEY, email text, unsubscribed boolean NOT NULL DEFAULT false);
INSERT INTO customers SELECT g, 'c' || g || '@x.test' FROM generate_series(1, 12) g;
SELECT journey.register_audience('customers', 'id', 'email');
SELECT journey.create_template('welcome', 'email', 'Welcome', 'Hi {{email}}');
SELECT journey.create_template('tips', 'email', 'Tips', 'Tips for {{email}}');
SELECT journey.create_template('thanks', 'email', 'Thanks', 'Thanks {{email}}');
CREATE FUNCTION public.broken(customer_id text, context jsonb) RETURNS jsonb
  LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'broken on purpose'; END $$;
GRANT EXECUTE ON FUNCTION public.broken(text, jsonb) TO PUBLIC;
SELECT journey.import('{"name": "drip", "audience": "customers", "start": "welcome",
  "entry": [{"type": "event", "event": "signed_up"}],
  "exit": [{"type": "condition", "when": {"field": "unsubscribed", "op": "eq", "value": true}}],
  "steps": [{"key": "welcome", "type": "send_email", "template": "welcome", "next": "wait"},
            {"key": "wait", "type": "delay", "duration": "2 days", "next": "tips"},
            {"key": "tips", "type": "send_email", "template": "tips", "next": "opened"},
            {"key": "opened", "type": "wait_for_event", "event": "email_opened", "timeout": "3 days",
             "branches": {"event": "thanks", "timeout": "done"}},
            {"key": "thanks", "type": "send_email", "template": "thanks"},
            {"key": "done", "type": "exit"}]}');
SELECT journey.publish('drip');
SELECT journey.import('{"name": "held", "audience": "customers", "start": "nap",
  "steps": [{"key": "nap", "type": "delay", "duration": "1 day", "next": "hello"},
            {"key": "hello", "type": "send_email", "template": "welcome"}]}');
SELECT journey.publish('held');
SELECT journey.import('{"name": "gone", "audience": "customers", "start": "nap",
  "steps": [{"key": "nap", "type": "delay", "duration": "1 day"}]}');
SELECT journey.publish('gone');
SELECT journey.import('{"name": "fragile", "audience": "customers", "start": "call",
  "settings": {"max_attempts": 1},
  "steps": [{"key": "call", "type": "call", "function": "public.broken"}]}');
SELECT journey.publish('fragile');
SELECT journey.import('{"name": "idea", "audience": "customers", "start": "a",
  "steps": [{"key": "a", "type": "exit"}]}');

SELECT journey.track(g::text, 'signed_up') FROM generate_series(1, 6) g;
SELECT journey.run_due(1000, now());
UPDATE customers SET unsubscribed = true WHERE id = 2;
SELECT journey.run_due(1000, now() + interval '2 days 1 minute');
SELECT journey.track('1', 'email_opened');
SELECT journey.run_due(1000, now() + interval '2 days 2 minutes');
SELECT journey.track(g::text, 'signed_up') FROM generate_series(7, 8) g;
SELECT journey.run_due(1000, now());
SELECT journey.enroll('held', g::text) FROM generate_series(9, 10) g;
SELECT journey.pause('held');
SELECT journey.enroll('gone', '11');
SELECT journey.archive('gone');
SELECT journey.enroll('fragile', '12');
SELECT journey.run_due(1000, now());
SELECT id FROM journey.claim_messages('email', 3);
SELECT journey.complete_message(id, true) FROM journey.messages WHERE status = 'claimed' LIMIT 2;
SQL
state() {
  q -c "SELECT string_agg(format('%s:%s:%s:%s', j.name, e.customer_id, e.status, coalesce(e.step_key, '-')), ' '
                          ORDER BY j.name, e.customer_id::int)
          FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id"
}
check "released $release: journeys in every state" \
  "drip:1:completed:thanks drip:2:exited:wait drip:3:active:opened drip:4:active:opened drip:5:active:opened drip:6:active:opened drip:7:active:wait drip:8:active:wait fragile:12:failed:call gone:11:exited:nap held:9:active:nap held:10:active:nap" \
  "$(state)"
check "released $release: messages suppressed, sent, pending and claimed" "suppressed:1 sent:2 pending:10 claimed:1" \
  "$(q -c "SELECT string_agg(status || ':' || n, ' ' ORDER BY status DESC)
             FROM (SELECT status, count(*) n FROM journey.messages GROUP BY status) s")"

# 4. This build's library on the released schema: refused with a hint.
as_cluster_user "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
install_release .
start
refused=$(q -c "SELECT journey.run_due()" 2>&1)
check "the new library refuses the old schema" \
  "ERROR:  loaded pg_journey library version $current differs from installed extension version $release" \
  "$(echo "$refused" | grep '^ERROR')"
check "... with the hint to update" "HINT:  Run ALTER EXTENSION pg_journey UPDATE and try again." \
  "$(echo "$refused" | grep '^HINT')"
waited=0
for _ in $(seq 600); do  # up to 60 s
  grep -q "pg_journey worker waits: library version $current, installed extension version $release" "$dir/log" \
    && { waited=1; break; }
  sleep 0.1
done
check "the workers wait for the update and say so in the log" 1 "$waited"

# 5. ALTER EXTENSION ... UPDATE, and the journeys carry on.
q -c "ALTER EXTENSION pg_journey UPDATE" >/dev/null
check "the extension is at version $current" "$current" \
  "$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_journey'")"
q >/dev/null <<'SQL'
SELECT journey.resume('held');
SELECT journey.run_due(1000, now() + interval '10 days');
SELECT journey.track(g::text, 'email_opened') FROM generate_series(7, 8) g;
SELECT journey.run_due(1000, now() + interval '12 days');
SELECT journey.import('{"name": "after", "audience": "customers", "start": "a",
  "steps": [{"key": "a", "type": "send_email", "template": "thanks"}]}');
SELECT journey.publish('after');
SELECT journey.enroll('after', '3');
SELECT journey.run_due(1000, now());
SQL
check "every enrollment finished its journey on the new version" \
  "after:3:completed:a drip:1:completed:thanks drip:2:exited:wait drip:3:completed:done drip:4:completed:done drip:5:completed:done drip:6:completed:done drip:7:completed:thanks drip:8:completed:thanks fragile:12:failed:call gone:11:exited:nap held:9:completed:hello held:10:completed:hello" \
  "$(state)"
check "exactly one message per send visit across the upgrade" "21 21" \
  "$(q -c "SELECT count(*) || ' ' || count(DISTINCT (enrollment_id, visit)) FROM journey.messages")"

# 6. The upgraded schema is the fresh install's: detach the members of the
# extension (pg_dump leaves them out otherwise) and compare schema-only dumps.
psql -X -q -h "$dir" -U postgres -d pgj_fresh -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pg_journey" 2>/dev/null
schema_dump() {
  psql -X -q -At -h "$dir" -U postgres -d "$1" -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT format('ALTER EXTENSION pg_journey DROP %s %s', i.type, i.identity)
  FROM pg_depend d CROSS JOIN LATERAL pg_identify_object(d.classid, d.objid, d.objsubid) i
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_journey')
\gexec
SQL
  [ "$?" -eq 0 ] || return 1
  "$PGBIN/pg_dump" -h "$dir" -U postgres -d "$1" --schema-only --schema=journey --no-owner \
    | grep -v -e '^--' -e '^$' -e '^\\restrict' -e '^\\unrestrict'
}
schema_dump pgj_upgrade >"$dir/upgraded.sql"; upgraded_rc=$?
schema_dump pgj_fresh >"$dir/fresh.sql"; fresh_rc=$?
# Two failed (empty) dumps would compare equal: both must succeed and hold the schema.
check "both schema dumps succeed and hold journey.enrollments" "0 0 1 1" \
  "$upgraded_rc $fresh_rc $(grep -c '^CREATE TABLE journey.enrollments ' "$dir/upgraded.sql") $(grep -c '^CREATE TABLE journey.enrollments ' "$dir/fresh.sql")"
difference=$(diff -u "$dir/fresh.sql" "$dir/upgraded.sql")
check "the upgraded schema equals a fresh install ($(wc -l <"$dir/fresh.sql") lines of dump)" "" "$difference"
[ -n "$difference" ] && echo "$difference" | head -60
finish_checks
