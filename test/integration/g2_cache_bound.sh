#!/usr/bin/env bash
# A backend that keeps running while journeys are republished does not grow
# (issue 9, G2): one session (a worker's or pg_cron's, say) publishes a journey
# PGJ_REPUBLISHES times (default 50) with migrate => true, and after each
# publish ticks and tracks, while an application's connection inserts a
# customer that enters (the customer-table trigger). The session's caches in
# pg_backend_memory_contexts must stay as they were after the first rounds: one
# compiled journey, one audience, one key reader, the same bytes within a
# tolerance. (A backend that fires the customer-table trigger holds every
# published and retired version of the audience's published journeys, whose
# exit rules and wait_until steps it evaluates: docs/operations.md.) Runs
# against the harness's cluster (PGHOST etc. exported); prints
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash
rounds=${PGJ_REPUBLISHES:-50}
db=pgj_g2_cache_bound
q() { psql -X -q -At -d "$db" -v ON_ERROR_STOP=1 "$@"; }

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_journey;
CREATE TABLE people (id bigint PRIMARY KEY, email text, tier text NOT NULL DEFAULT 'basic');
SELECT journey.register_audience('people', 'id', 'email');
SELECT journey.create_template('hello', 'email', 'Hello', 'Tier {{tier}}, a long enough body');
SELECT journey.import($${"name": "bound", "audience": "people", "start": "hello",
  "entry": [{"type": "attribute", "when": {"field": "tier", "op": "eq", "value": "gold"}}],
  "exit": [{"type": "condition", "when": {"field": "tier", "op": "eq", "value": "gone"}}],
  "steps": [{"key": "hello", "type": "send_email", "template": "hello", "next": "rest"},
            {"key": "rest", "type": "delay", "duration": "1 day"}]}$$);
SELECT journey.publish('bound');
-- An ANALYZE of the audience table or journey.versions sends a relcache
-- invalidation, on which every backend drops its compiled journeys (as it must
-- after an ALTER TABLE): autovacuum's would empty the caches at a random round
-- (seen in CI: no compiled journey after round 50). Not what this test measures.
ALTER TABLE people SET (autovacuum_enabled = false);
ALTER TABLE journey.versions SET (autovacuum_enabled = false);
CREATE VIEW cache_sizes AS
  SELECT coalesce(c.parent, '') AS cache, count(*) AS entries, sum(c.total_bytes) AS bytes
    FROM pg_backend_memory_contexts c
   WHERE c.parent IN ('pg_journey compiled journeys', 'pg_journey audiences',
                      'pg_journey trigger entries', 'pg_journey key readers')
   GROUP BY c.parent;
SQL

# One session: each round publishes (its own transaction), then a trigger fire,
# a tick and a track use the caches; a snapshot line after each round:
# round|entries of each cache|bytes of all caches|the backend's total.
{
  echo "SET client_min_messages = warning;"
  for ((i = 1; i <= rounds; i++)); do
    # A new draft each round, of the same length (its enrollments stay due each round).
    if ((i % 2)); then pause="1 day"; else pause="24 hours"; fi
    echo "SELECT count(*) FROM journey.set_step_config('bound', 'rest',"
    echo "  jsonb_build_object('duration', '$pause')) \\g /dev/null"
    echo "SELECT journey.publish('bound', migrate => true) \\g /dev/null"
    echo "\\! psql -X -q -d $db -c \"INSERT INTO people VALUES ($i, 'p$i@x.test', 'gold')\""
    echo "SELECT journey.run_due(1000, '2030-01-01'::timestamptz + interval '1 day' * $i) \\g /dev/null"
    echo "SELECT journey.track('$i', 'clicked') \\g /dev/null"
    echo "SELECT '$i|' || (SELECT string_agg(cache || '=' || entries, ',' ORDER BY cache) FROM cache_sizes)"
    echo "       || '|' || (SELECT sum(bytes) FROM cache_sizes)"
    echo "       || '|' || (SELECT sum(total_bytes) FROM pg_backend_memory_contexts);"
  done
} | q >"/tmp/pgj_g2_cache_bound.$$" 2>&1
out=$(cat "/tmp/pgj_g2_cache_bound.$$")
rm -f "/tmp/pgj_g2_cache_bound.$$"

rows=$(echo "$out" | grep -cE '^[0-9]+\|')
check "one snapshot a round" "$rounds" "$rows"
[ "$rows" = "$rounds" ] || echo "$out" | grep -vE '^[0-9]+\|' | head -5
one="pg_journey audiences=1,pg_journey compiled journeys=1,pg_journey key readers=1"
check "one entry a cache after round 10" "$one" "$(echo "$out" | grep -E '^10\|' | cut -d'|' -f2)"
check "one entry a cache after round $rounds" "$one" \
  "$(echo "$out" | grep -E "^$rounds\\|" | cut -d'|' -f2)"
entries_max=$(echo "$out" | grep -E '^[0-9]+\|' | cut -d'|' -f2 | tr ',' '\n' | cut -d= -f2 |
  sort -n | tail -1)
check "no cache ever held more than one entry" "1" "$entries_max"
# The caches' bytes: each round's entries are the same journey with another
# delay, so the same size up to the allocator's rounding; 10% leaves room for
# it, and one leftover version a round would be 100% more after the second.
b10=$(echo "$out" | grep -E '^10\|' | cut -d'|' -f3)
bn=$(echo "$out" | grep -E "^$rounds\\|" | cut -d'|' -f3)
check "caches' bytes after round $rounds within 10% of round 10 ($b10 -> $bn)" "t" \
  "$(awk -v a="${b10:-0}" -v b="${bn:-1e12}" 'BEGIN { print (a > 0 && b <= a * 1.1 && b >= a * 0.9) ? "t" : "f" }')"
# The whole backend (every context, not only pg_journey's): bounded too,
# whatever PostgreSQL's own caches do; 25% leaves room for them.
t10=$(echo "$out" | grep -E '^10\|' | cut -d'|' -f4)
tn=$(echo "$out" | grep -E "^$rounds\\|" | cut -d'|' -f4)
check "the backend's contexts after round $rounds within 25% of round 10 ($t10 -> $tn)" "t" \
  "$(awk -v a="${t10:-0}" -v b="${tn:-1e12}" 'BEGIN { print (a > 0 && b <= a * 1.25) ? "t" : "f" }')"

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null
finish_checks
