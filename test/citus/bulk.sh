#!/usr/bin/env bash
# Bulk enrollment on the distributed install (issue 13, docs/scale-out.md):
# enroll_query and a many-row UPDATE firing an attribute entry trigger, called on
# the coordinator, send one call a shard group (journey._enroll_group), not one
# a customer, with the single node's results exactly: the same enrollments
# (re-entry, also twice in one transaction, cooldown, holdout, a missing and a
# repeated key), the same errors naming the journey, nothing on a rollback;
# every enrollment on its customer's shard, written on the node that holds it.
# Beside the distributed database a single-node database on the coordinator
# gets the same statements.
# Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/citus/lib.bash
citus_test_start || exit 1
# The output of a statement (errors tersely, without context) on database $1.
out() { "$PGBIN/psql" -X -q -At -v VERBOSITY=terse -v SHOW_CONTEXT=never -h "$CITUS_DIR" -p "$PGPORT" -U postgres -d "$1" -c "$2" 2>&1; }
# Statements on both databases: checked to give the same output.
both() {  # name sql
  check "$1: as on the single node" "$(out "$SINGLE" "$2")" "$(out "$CITUS_DB" "$2")"
}

setup="
CREATE TABLE customers (id text PRIMARY KEY, email text, plan text DEFAULT 'free');
INSERT INTO customers SELECT 'c' || i, 'c' || i || '@example.com' FROM generate_series(1, 300) i;
SELECT journey.register_audience('customers', 'id', 'email');
SELECT journey.import(('{\"name\": \"' || n || '\", \"audience\": \"customers\", \"start\": \"d\",
  \"settings\": ' || s || ',
  \"steps\": [{\"key\": \"d\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"done\"},
             {\"key\": \"done\", \"type\": \"exit\"}]}')::jsonb)
  FROM (VALUES ('bulk', '{\"holdout_percent\": 30}'), ('again', '{\"reentry\": \"always\"}'),
               ('cool', '{\"reentry\": \"always\", \"reentry_cooldown\": \"1 day\"}'),
               ('carts', '{\"entity_property\": \"cart_id\"}'), ('drafty', '{}')) x(n, s);
SELECT journey.import('{\"name\": \"upgrade\", \"audience\": \"customers\", \"start\": \"d\",
  \"entry\": [{\"type\": \"attribute\", \"when\": {\"field\": \"plan\", \"op\": \"changed_to\", \"value\": \"pro\"}}],
  \"steps\": [{\"key\": \"d\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"done\"},
             {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
SELECT journey.publish(n) FROM unnest(ARRAY['bulk', 'again', 'cool', 'carts', 'upgrade']) n;"
c "CREATE DATABASE $SINGLE" >/dev/null || exit 1
for db in c s; do $db "CREATE EXTENSION pg_journey; $setup" >/dev/null || exit 1; done
citus_psql_all "GRANT journey_app TO journey_worker" >/dev/null
c "SELECT journey.distribute('customers')" >/dev/null || exit 1

# 1. enroll_query: every customer (both nodes), a missing key, a repeated one;
# the coordinator sends one call a worker node (2), none a customer.
all="'SELECT id FROM customers UNION ALL SELECT ''nobody'' UNION ALL SELECT ''c7'''"
groups=$(c "SELECT count(DISTINCT get_shard_id_for_distribution_column('customers', id)) FROM customers")
check "enroll_query of 300 customers: one call a shard group ($groups) from the coordinator, 300 enrolled" \
  "$groups|0|300" \
  "$(c "BEGIN; SET LOCAL track_functions = 'all';
        CREATE TEMP TABLE got AS SELECT journey.enroll_query('bulk', $all) n;
        SELECT coalesce(sum(calls) FILTER (WHERE funcname = '_enroll_group'), 0) || '|' ||
               coalesce(sum(calls) FILTER (WHERE funcname = '_enroll_customer'), 0) || '|' ||
               (SELECT n FROM got)
          FROM pg_stat_xact_user_functions WHERE schemaname = 'journey';
        COMMIT;")"
s "SELECT journey.enroll_query('bulk', $all)" >/dev/null
both "enroll_query again: nobody new (re-entry never)" "SELECT journey.enroll_query('bulk', $all)"
# 2. re-entry always: the second ends the first "reentered"; with a cooldown, nobody re-enters.
both "re-entry always" "SELECT journey.enroll_query('again', 'SELECT id FROM customers WHERE id < ''c2''');
                        SELECT journey.enroll_query('again', 'SELECT id FROM customers WHERE id < ''c2''')"
both "re-entry with a cooldown" "SELECT journey.enroll_query('cool', 'SELECT id FROM customers WHERE id < ''c3''');
                                 SELECT journey.enroll_query('cool', 'SELECT id FROM customers WHERE id < ''c3''')"
# 3. rolled back: nothing, on any node.
both "enroll_query rolled back" "BEGIN; SELECT journey.enroll_query('cool', 'SELECT id FROM customers');
                                 ROLLBACK; SELECT count(*) FROM journey.enrollments"
# 4. errors naming the journey.
both "errors" "SELECT journey.enroll_query('carts', 'SELECT id FROM customers');
               SELECT journey.enroll_query('drafty', 'SELECT id FROM customers');
               SELECT journey.enroll_query('nope', 'SELECT id FROM customers');
               SELECT journey.enroll_query('bulk', 'SELECT 1/0')"
# 5. one UPDATE of 200 rows on both nodes fires the attribute entry trigger on the shards.
both "a 200-row UPDATE fires the attribute entry" \
  "UPDATE customers SET plan = 'pro' WHERE id IN (SELECT 'c' || i FROM generate_series(51, 250) i);
   SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
    WHERE j.name = 'upgrade'"

# 6. the same on a worker node, for its own customers (its shards: the trigger runs in
# that backend): one call a shard group, none a customer.
mine=$(c "SELECT string_agg(quote_literal(t.id), ',') || '|' ||
                 count(DISTINCT get_shard_id_for_distribution_column('customers', t.id))
            FROM customers t
            JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('customers', t.id)
            JOIN pg_dist_node n ON n.groupid = p.groupid
           WHERE n.nodeport = $w1 AND t.plan = 'free'")
check "an UPDATE on a worker node of its customers: the trigger enrolls one call a shard group (${mine##*|}), none a customer" \
  "${mine##*|}|0|$(c "SELECT count(*) FROM customers WHERE id IN (${mine%|*})")" \
  "$(cq "$w1" "BEGIN; SET LOCAL track_functions = 'all';
               UPDATE customers SET plan = 'pro' WHERE id IN (${mine%|*});
               SELECT coalesce(sum(calls) FILTER (WHERE funcname = '_enroll_group'), 0) || '|' ||
                      coalesce(sum(calls) FILTER (WHERE funcname = '_enroll_customer'), 0) || '|' ||
                      (SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
                        WHERE j.name = 'upgrade' AND e.customer_id IN (${mine%|*}))
                 FROM pg_stat_xact_user_functions WHERE schemaname = 'journey';
               COMMIT;")"
s "UPDATE customers SET plan = 'pro' WHERE id IN (${mine%|*})" >/dev/null

state="SELECT (SELECT count(*) || ' ' || md5(string_agg(concat_ws('/', j.name, e.customer_id, e.status,
                                  e.exit_reason, e.holdout, e.step_key, e.entity_key, e.version),
                        ',' ORDER BY j.name, e.customer_id, e.status, e.exit_reason))
                 || ' ' || count(*) FILTER (WHERE e.holdout)
                 FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id)
        || ' ' || (SELECT count(*) FROM journey.activity)"
check "the same enrollments (holdout, re-entry, cooldown, trigger) and activity as on the single node" \
  "$(s "$state")" "$(c "$state")"
check "holdouts drawn (30%: some, not all)" "t" \
  "$(c "SELECT count(*) FILTER (WHERE holdout) BETWEEN 50 AND 130 FROM journey.enrollments e
         JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'bulk'")"
check "journey.enrollments: every row on its customer's shard" "0" "$(misplaced journey.enrollments)"
check "journey.activity: every row on its customer's shard" "0" "$(misplaced journey.activity)"
check "every enrollment written on the node that holds it (the id's node range)" "0" \
  "$(c "SELECT sum(result::int) FROM run_command_on_shards('journey.enrollments',
       \$\$SELECT count(*) FROM %s x WHERE (x.id >> 42) <> (SELECT groupid FROM pg_dist_local_group)\$\$)")"
check "the bulk journey's enrollments on both worker nodes, each node its customers" \
  "$(c "SELECT string_agg(n::text, ' ' ORDER BY g) FROM (
          SELECT p.groupid g, count(*) n FROM customers t
            JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('customers', t.id)
           GROUP BY 1) x")" \
  "$(c "SELECT string_agg(n::text, ' ' ORDER BY g) FROM (
          SELECT e.id >> 42 g, count(*) n FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
           WHERE j.name = 'bulk' GROUP BY 1) x")"
check "one active enrollment a customer and journey" "0" \
  "$(c "SELECT count(*) FROM (SELECT 1 FROM journey.enrollments WHERE status = 'active'
                               GROUP BY journey_id, customer_id HAVING count(*) > 1) x")"

citus_test_finish
