#!/usr/bin/env bash
# Milliseconds of the SQL callers of the one ending statement (issue 9:
# journey._end_enrollments, a plan kept per backend): N calls of journey.track
# whose event exit rule ends the enrollment, N calls of journey.exit, then N
# calls of journey._end_enrollments itself (one enrollment each), each N in one
# statement, on a throwaway cluster of the
# PostgreSQL that PG_CONFIG names (install the build first). Prints
# "track: T ms, exit: E ms, _end_enrollments: X ms (N calls each)". Compare two builds with
# tools/private-pg.sh copies (docs/benchmarks.md).
#   tools/bench-ending.sh [N]     (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
source tools/cluster.sh
cluster_start >/dev/null
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
q >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION pg_journey CASCADE;
CREATE TABLE bench_people (id int PRIMARY KEY, email text);
INSERT INTO bench_people SELECT g, 'p' || g || '@x.test' FROM generate_series(1, 3 * $n) g;
SELECT journey.register_audience('bench_people', 'id', 'email');
SELECT journey.import('{"name": "bench-ending", "audience": "bench_people", "start": "wait",
  "exit": [{"type": "event", "event": "stop", "name": "stopped"}],
  "steps": [{"key": "wait", "type": "delay", "duration": "1 day"}]}');
SELECT journey.publish('bench-ending');
SELECT count(journey.enroll('bench-ending', g::text)) FROM generate_series(1, 3 * $n) g;
SELECT journey.run_due(100000, now());
ANALYZE journey.enrollments, journey.activity;
SQL
# Milliseconds of one statement that makes the calls (no round trip a call).
ms() { q -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9]*\)\..*/\1/p'; }
track_ms=$(ms "SELECT count(journey.track(g::text, 'stop', audience => 'bench_people'))
                 FROM generate_series(1, $n) g")
exit_ms=$(ms "SELECT count(journey.exit(e.id, 'bench'))
                FROM (SELECT e.id FROM journey.enrollments e WHERE e.status = 'active'
                       ORDER BY e.id LIMIT $n) e")
end_ms=$(ms "SELECT count(journey._end_enrollments(ARRAY[e.id], ARRAY['exited'], ARRAY['bench']))
               FROM (SELECT e.id FROM journey.enrollments e WHERE e.status = 'active'
                      ORDER BY e.id LIMIT $n) e")
ended=$(q -c "SELECT count(*) FROM journey.enrollments WHERE status = 'exited'")
[ "$ended" = $((3 * n)) ] || { echo "bench-ending: $ended of $((3 * n)) enrollments ended"; exit 1; }
echo "track: $track_ms ms, exit: $exit_ms ms, _end_enrollments: $end_ms ms ($n calls each)"
