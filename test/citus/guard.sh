#!/usr/bin/env bash
# What a DBA moving a CRM meets on the distributed install (issue 13, attack-13
# F9, F7 and the doc gaps; docs/scale-out.md, "Moving a CRM onto it"):
# the bigint-keyed CRM re-keyed to text before distribute (the documented
# recipe); the ALTER TABLE guard of the audience on the coordinator, compared
# with a single-node database beside it (same statements, same errors); enroll,
# track and exit called once per row of a query on a distributed table refused
# with pg_journey's own error; the documented per-node checks (definitions,
# worker_status) and what a worker node down stops; the calls that write
# definitions refused on a worker node with pg_journey's own error (H4).
# Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/citus/lib.bash
citus_test_start || exit 1

# Statements $2 in database $1 of the coordinator, stopping at the first error:
# "ok", or the error as "ERROR:  SQLSTATE: message" with its detail and hint.
run_in() {  # database sql
  printf '\\set VERBOSITY verbose\n\\set SHOW_CONTEXT never\n%s;\n\\echo ok\n' "$2" \
    | "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$CITUS_DIR" -p "$PGPORT" -U postgres -d "$1" 2>&1 \
    | grep -v '^LOCATION: '
}
# The outcome of run_in: ok or the SQLSTATE.
outcome_of() {
  echo "$1" | sed -n -e 's/^ERROR:  \([0-9A-Z]\{5\}\): .*/\1/p' -e 's/^ok$/ok/p' | head -1
}

# The CRM: a bigint-keyed customer table with an orders table referencing it.
# Journey "up" reads plan (entry) and tier (a wait); journey "old" read score in
# version 1 (an exit rule), which keeps 3 active enrollments after version 2
# (which does not read it) is published. The same in database single (no Citus).
setup="CREATE TABLE customers (id bigserial PRIMARY KEY, email text, plan text DEFAULT 'free',
                              tier text DEFAULT 'a', score int DEFAULT 0, note text);
   CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint REFERENCES customers (id), total int);
   INSERT INTO customers (email) SELECT 'c' || i || '@x' FROM generate_series(1, 40) i;
   INSERT INTO orders (customer_id, total) SELECT i, i FROM generate_series(1, 40) i;
   SELECT journey.register_audience('customers', 'id', 'email');
   SELECT journey.import('{\"name\": \"up\", \"audience\": \"customers\", \"start\": \"w\",
     \"entry\": [{\"type\": \"attribute\", \"when\": {\"field\": \"plan\", \"op\": \"changed_to\", \"value\": \"pro\"}}],
     \"steps\": [{\"key\": \"w\", \"type\": \"wait_until\", \"when\": {\"field\": \"tier\", \"op\": \"eq\", \"value\": \"b\"},
                 \"timeout\": \"1 day\", \"branches\": {\"met\": \"done\", \"timeout\": \"done\"}},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('up');
   SELECT journey.import('{\"name\": \"old\", \"audience\": \"customers\", \"start\": \"d\",
     \"exit\": [{\"type\": \"condition\", \"name\": \"high\", \"when\": {\"field\": \"score\", \"op\": \"gt\", \"value\": 5}}],
     \"steps\": [{\"key\": \"d\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('old');
   SELECT journey.enroll('old', i::text) FROM generate_series(1, 3) i;
   SELECT journey.import('{\"name\": \"old\", \"audience\": \"customers\", \"start\": \"d\",
     \"steps\": [{\"key\": \"d\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('old');"
# The re-keying recipe of docs/scale-out.md ("A CRM keyed by bigint").
rekey="BEGIN;
   ALTER TABLE orders DROP CONSTRAINT orders_customer_id_fkey;
   ALTER TABLE customers ALTER COLUMN id TYPE text;
   ALTER TABLE customers ALTER COLUMN id SET DEFAULT nextval('customers_id_seq')::text;
   ALTER TABLE orders ALTER COLUMN customer_id TYPE text;
   ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers (id);
   COMMIT;"
"$PGBIN/psql" -X -q -h "$CITUS_DIR" -p "$PGPORT" -U postgres -d postgres -c "CREATE DATABASE single" >/dev/null
for db in single "$CITUS_DB"; do
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$CITUS_DIR" -p "$PGPORT" -U postgres -d "$db" \
    -c "CREATE EXTENSION pg_journey" -c "$setup" >/dev/null || exit 1
done
citus_psql_all "GRANT journey_app TO journey_worker" >/dev/null
check "distribute refuses the bigint key" "42804" "$(outcome_of "$(run_in "$CITUS_DB" "SELECT journey.distribute('customers')")")"
check "the re-keying recipe" "ok|ok" "$(outcome_of "$(run_in single "$rekey")")|$(outcome_of "$(run_in "$CITUS_DB" "$rekey")")"
check "distribute, then the referencing table co-located" "ok|t" \
  "$(outcome_of "$(run_in "$CITUS_DB" "ALTER TABLE orders DROP CONSTRAINT orders_customer_id_fkey;
                                      ALTER TABLE orders DROP CONSTRAINT orders_pkey, ADD PRIMARY KEY (customer_id, id);
                                      SELECT journey.distribute('customers');
                                      SELECT create_distributed_table('orders', 'customer_id', colocate_with => 'customers');
                                      ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers (id);")"
     )|$(c "SELECT count(*) = 2 FROM pg_dist_partition WHERE logicalrelid IN ('orders'::regclass, 'customers'::regclass)")"
check "the enrollments keep their customers; a new customer gets a text id" "3|41|41" \
  "$(c "SELECT count(*) FROM journey.enrollments e JOIN customers t ON t.id = e.customer_id WHERE e.status = 'active'")|$(
     c "INSERT INTO customers (email) VALUES ('new@x') RETURNING id")|$(
     c "SELECT journey.enroll('old', '41')" >/dev/null
     c "SELECT customer_id FROM journey.enrollments WHERE customer_id = '41'")"

# F9: the ALTER TABLE guard, the same on both.
both() {  # name expected sql
  local single dist
  single=$(run_in single "$3")
  dist=$(run_in "$CITUS_DB" "$3")
  check "$1: single node" "$2" "$(outcome_of "$single")"
  check "$1: the same on the coordinator" "$single" "$dist"
}
both "DROP COLUMN of a column a live journey reads" 2BP01 "ALTER TABLE customers DROP COLUMN plan"
both "ALTER COLUMN TYPE of a column a live journey reads" 2BP01 \
  "ALTER TABLE customers ALTER COLUMN tier DROP DEFAULT, ALTER COLUMN tier TYPE int USING 0"
both "DROP COLUMN of a column a retired version with active enrollments reads" 2BP01 \
  "ALTER TABLE customers DROP COLUMN score"
both "DROP COLUMN of the e-mail column" 2BP01 "ALTER TABLE customers DROP COLUMN email"
both "ADD COLUMN" ok "ALTER TABLE customers ADD COLUMN extra text"
both "DROP COLUMN no journey reads" ok "ALTER TABLE customers DROP COLUMN note"
both "RENAME COLUMN of the e-mail column" ok "ALTER TABLE customers RENAME COLUMN email TO mail"
check "the rename recorded on every node" "mail|mail|mail" \
  "$(for p in $CITUS_PORTS; do cq "$p" "SELECT email_column FROM journey.audiences"; done | paste -sd'|')"
check "the refused columns are still there, the added one too" "id,mail,plan,tier,score,extra" \
  "$(c "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
         WHERE attrelid = 'customers'::regclass AND attnum > 0 AND NOT attisdropped")"

# F7: enroll, track, exit once per row of a query on a distributed table.
per_row() {  # name function sql
  local out
  out=$(run_in "$CITUS_DB" "$3")
  check "$1" "ERROR:  0A000: $2 cannot be called once per row of a query on a distributed table" \
    "$(echo "$out" | head -1)"
}
per_row "enroll per row of the audience" journey.enroll \
  "SELECT count(journey.enroll('up', id)) FROM customers WHERE id IN ('3', '9', '11', '12')"
per_row "track per row of the audience" journey.track \
  "SELECT count(journey.track(id, 'ping')) FROM customers WHERE id IN ('3', '9', '11', '12')"
per_row "exit of a subquery's enrollment" journey.exit \
  "SELECT journey.exit((SELECT id FROM journey.enrollments WHERE customer_id = '2' AND status = 'active'))"
per_row "exit per row of the enrollments" journey.exit \
  "SELECT journey.exit(id) FROM journey.enrollments WHERE customer_id = '2' AND status = 'active'"
check "nothing of them written" "0|4" \
  "$(c "SELECT count(*) FROM journey.events")|$(c "SELECT count(*) FROM journey.enrollments WHERE status = 'active'")"
check "the ways that work: enroll_query, track and exit one call a statement" "4|t|exited" \
  "$(c "SELECT journey.enroll_query('up', \$\$SELECT id FROM customers WHERE id IN ('3', '9', '11', '12')\$\$)")|$(
     c "SELECT journey.track('3', 'ping') IS NOT NULL")|$(
     id=$(c "SELECT id FROM journey.enrollments WHERE customer_id = '2' AND status = 'active'")
     c "SELECT journey.exit($id)" >/dev/null; c "SELECT status FROM journey.enrollments WHERE id = $id")"

# H4: the calls that write definitions, on a worker node: refused first with
# pg_journey's own error (not Citus's late "operation is not allowed on this
# node", nor journeys written with the worker's own ids), nothing written.
c "CREATE TABLE leads (id text PRIMARY KEY, email text);
   SELECT create_distributed_table('leads', 'id', colocate_with => 'journey.enrollments')" >/dev/null
definitions="SELECT (SELECT count(*) FROM journey.audiences) || '/' || (SELECT count(*) FROM journey.journeys)
                || '/' || (SELECT count(*) FROM journey.versions) || '/' || (SELECT count(*) FROM journey.templates)
                || '/' || (SELECT count(*) FROM journey.entry_triggers) || '/' || (SELECT count(*) FROM journey.trigger_runs)
                || '/' || (SELECT string_agg(name || ':' || state, ',' ORDER BY name) FROM journey.journeys)"
before=$(c "$definitions")
on_worker=$(printf '\\set VERBOSITY verbose\n\\set SHOW_CONTEXT never\nSELECT journey.register_audience(%s, %s, %s);\n' \
              "'leads'" "'id'" "'email'" \
            | "$PGBIN/psql" -X -q -At -h "$CITUS_DIR" -p "$w1" -U postgres -d "$CITUS_DB" 2>&1 | grep -v '^LOCATION: ')
check "register_audience on a worker node: refused, naming the audience" \
  "ERROR:  55000: cannot register audience public.leads: this node is not the Citus coordinator
HINT:  call it on the coordinator (docs/scale-out.md, \"Authoring and analytics on the coordinator\")" \
  "$(echo "$on_worker" | grep '^ERROR\|^HINT')"
while IFS='|' read -r call what; do
  check "$call on a worker node: refused" "ERROR:  55000: cannot $what: this node is not the Citus coordinator" \
    "$(printf '\\set VERBOSITY verbose\nSELECT %s;\n' "$call" \
       | "$PGBIN/psql" -X -q -At -h "$CITUS_DIR" -p "$w1" -U postgres -d "$CITUS_DB" 2>&1 | grep '^ERROR')"
done <<'CALLS'
journey.set_recipients('customers', '{"sms": "mail"}')|set the recipients of audience public.customers
journey.unregister_audience('customers')|unregister audience public.customers
journey.create_journey('k', 'customers')|create journey "k"
journey.import('{"name": "k2", "audience": "customers", "start": "done", "steps": [{"key": "done", "type": "exit"}]}')|import journey "k2"
journey.create_template('t2', 'email', 'Hi', 'Hello')|create template "t2"
journey.add_step('up', 'x', 'exit')|edit journey "up"
journey.add_entry_trigger('up', 'event', '{"event": "ping"}')|edit journey "up"
journey.set_settings('up', '{}')|edit journey "up"
journey.publish('up')|publish journey "up"
journey.pause('up')|pause journey "up"
journey.resume('up')|resume journey "up"
journey.archive('up')|archive journey "up"
journey.clone('up', 'up2')|clone journey "up"
journey.discard_draft('up')|discard the draft of journey "up"
journey.drop_journey('old')|drop journey "old"
journey.run_scheduled_trigger('up')|run the entry triggers of journey "up"
journey.run_entry_trigger((SELECT id FROM journey.journeys WHERE name = 'up'), 1)|run entry trigger 1 of journey "up"
journey.rebuild_activity_hours()|rebuild journey.activity_hours
CALLS
check "... nothing of them written" "$before" "$(c "$definitions")"
check "the coordinator registers the audience (and unregisters it)" "ok" \
  "$(outcome_of "$(run_in "$CITUS_DB" "SELECT journey.register_audience('leads', 'id', 'email');
                                      SELECT journey.unregister_audience('leads')")")"

# Monitoring: each node's background workers (docs/scale-out.md, "Monitoring").
workers_on 100
monitor="SELECT nodeport, result FROM run_command_on_workers(
           \$\$SELECT count(*) FILTER (WHERE state IS NOT NULL) || ' running, ' ||
                     count(*) FILTER (WHERE state IS NULL) || ' gone'
                FROM journey.worker_status WHERE database = current_database()\$\$) ORDER BY nodeport"
expected="$w1|1 running, 0 gone
$w2|1 running, 0 gone"
deadline=$((SECONDS + 60))
until [ "$(c "$monitor")" == "$expected" ] || [ $SECONDS -gt $deadline ]; do sleep 0.5; done
check "worker_status of every worker node, from the coordinator" "$expected" "$(c "$monitor")"

# Checking a node (docs/scale-out.md, "Adding a node, and checking it").
check "every worker node's definitions name its own tables" "$w1|customers
$w2|customers" \
  "$(c "SELECT nodeport, result FROM run_command_on_workers(
          \$\$SELECT string_agg(relation::text, ',' ORDER BY relation::text) FROM journey.audiences\$\$)
         ORDER BY nodeport")"

# A null customer id: Citus 13.2 would hash it to delegate the call and crash the
# backend (attack-13b G1); pg_journey's planner hook refuses it first, as the
# single node does (22004), also as a bound parameter. The coordinator stays up.
for sql in "SELECT journey.enroll('up', NULL)" "SELECT journey.track(NULL, 'ping')" \
           "PREPARE null_track(text) AS SELECT journey.track(\$1, 'ping'); EXECUTE null_track(NULL)"; do
  check "null customer id refused before Citus plans it: $sql" \
    "ERROR:  22004: customer_id must not be null" \
    "$(run_in "$CITUS_DB" "$sql" | grep '^ERROR' | head -1)"
done
check "null customer id: the coordinator still up" "ok" \
  "$(outcome_of "$(run_in "$CITUS_DB" "SELECT 1")")"

# A worker node down ("When a worker node is down"): claim_messages fails on the
# coordinator; track of a customer of the live node works; back up, claims work.
live=$(c "SELECT min(t.id) FROM customers t
           JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('customers', t.id)
           JOIN pg_dist_node n ON n.groupid = p.groupid WHERE n.nodeport = $w1")
citus_as_user "$PGBIN/pg_ctl" -D "$CITUS_DIR/node-$w2" -m fast -w stop >/dev/null
down_claim=$(run_in "$CITUS_DB" "SELECT count(*) FROM journey.claim_messages('email', 10)")
check "node down: claim_messages fails" "t" \
  "$(echo "$down_claim" | grep -q '^ERROR:  .*connection to the remote node' && echo t)"
check "node down: track of a live node's customer" "ok" \
  "$(outcome_of "$(run_in "$CITUS_DB" "SELECT journey.track('$live', 'down_ping')")")"
citus_as_user "$PGBIN/pg_ctl" -D "$CITUS_DIR/node-$w2" -l "$CITUS_DIR/server-$w2.log" -w -t 60 start >/dev/null
check "node back: claim_messages works" "ok" \
  "$(outcome_of "$(run_in "$CITUS_DB" "SELECT count(*) FROM journey.claim_messages('email', 10)")")"

citus_test_finish
