#!/usr/bin/env bash
# tools/check-sql-scripts.py, the build's check that update and code files
# change journey tables only through journey._alter / journey._alter_rows
# (docs/development.md, "Changing tables in scripts"): src/sql passes; each
# bare statement of a future update file is flagged with its line; statements
# inside function bodies, strings, comments, through the helpers, on tables of
# other schemas, and the exempt files (state files, updates from 0.1) are not.
# Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/integration/check.bash

dir=$(mktemp -d /tmp/pgj_check_sql.XXXXXX)
trap 'rm -rf "$dir"' EXIT
checker=tools/check-sql-scripts.py

python3 "$checker" src/sql/*.sql src/sql/updates/*.sql >"$dir/out" 2>&1
check "src/sql passes" "0|" "$?|$(cat "$dir/out")"

mkdir -p "$dir/updates"
cat >"$dir/updates/0.2--0.3.sql" <<'SQL'
-- A future update written bare.
ALTER TABLE journey.enrollments ADD COLUMN priority int;
CREATE INDEX messages_x ON journey.messages (customer_id);
create unique index if not exists
  messages_y on only journey.messages (customer_id, id);
CREATE OR REPLACE TRIGGER t BEFORE UPDATE ON journey.enrollments
  FOR EACH ROW EXECUTE FUNCTION journey.f();
DROP TRIGGER IF EXISTS t ON journey.enrollments;
DROP INDEX journey.messages_x;
UPDATE journey.templates SET body = body || ';';
INSERT INTO journey.templates (name) VALUES ('x');
DELETE FROM journey.suppressions WHERE reason = 'x';
SQL
python3 "$checker" "$dir/updates/0.2--0.3.sql" >"$dir/out" 2>&1
rc=$?
check "a bare update file is refused" 1 "$rc"
check "each bare statement flagged at its line" "2 3 4 6 8 9 10 11 12" \
  "$(sed -nE 's/^.*0\.2--0\.3\.sql:([0-9]+): .*$/\1/p' "$dir/out" | paste -sd' ')"
check "DDL is pointed to journey._alter, data changes to journey._alter_rows" "6 3" \
  "$(grep -c "journey._alter('journey" "$dir/out") $(grep -c "journey._alter_rows('journey" "$dir/out")"

cat >"$dir/updates/0.3--0.4.sql" <<'SQL'
-- ALTER TABLE journey.enrollments ADD COLUMN a int;  (a comment)
/* UPDATE journey.templates SET body = 'x'; */
SELECT journey._alter('journey.enrollments', $ddl$ALTER TABLE journey.enrollments ADD COLUMN b int$ddl$);
SELECT journey._alter_rows('journey.templates', 'UPDATE journey.templates SET body = ''y''');
CREATE OR REPLACE FUNCTION journey.g() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  UPDATE journey.templates SET body = 'z';
  EXECUTE 'ALTER TABLE journey.enrollments ADD COLUMN c int';
END
$$;
ALTER TABLE public.customers ADD COLUMN d int;
CREATE INDEX customers_d ON public.customers (d);
COMMENT ON COLUMN journey.enrollments.b IS 'not propagated by Citus: each node sets its own';
CREATE OR REPLACE VIEW journey.v AS SELECT 1;
SQL
python3 "$checker" "$dir/updates/0.3--0.4.sql" >"$dir/out" 2>&1
check "helpers, function bodies, strings, comments and other schemas pass" "0|" "$?|$(cat "$dir/out")"

cp "$dir/updates/0.2--0.3.sql" "$dir/updates/0.1--0.2.sql"
cp "$dir/updates/0.2--0.3.sql" "$dir/tables.sql"
python3 "$checker" "$dir/updates/0.1--0.2.sql" "$dir/tables.sql" >"$dir/out" 2>&1
check "updates from 0.1 (never distributable) and the state files are not checked" "0|" "$?|$(cat "$dir/out")"
finish_checks
