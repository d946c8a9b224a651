#!/usr/bin/env bash
# Authoring, lifecycle, audiences, templates, settings, suppressions and
# analytics on a distributed install (issue 13, docs/scale-out.md): the same
# public API as on a single node, with the same results and errors. One Citus
# cluster (coordinator + 2 workers); beside the distributed database, a
# single-node database on the coordinator (no citus extension in it) gets the
# same statements, and the two outputs must be equal. Also: every public
# function of schema journey is probed (a function added later fails the probe
# until it is listed), the definitions written on the coordinator are the same
# on every node, a worker node's tick takes up a version published after it
# began, and funnel, step_stats, split_report count the activity of every node
# exactly as on the single node. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/citus/lib.bash
citus_test_start || exit 1

SINGLE=pgj_single
s() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$CITUS_DIR" -p "$PGPORT" -U postgres -d "$SINGLE" -c "$1"; }
N=200
T0="2030-01-01 09:00:00+00"

# The same state in both databases before the conversion: customers, an
# audience, templates, a journey of a split (with a holdout), a send per
# variant, a delay, a condition and a goal, and N enrollments at engine time T0.
setup="
CREATE TABLE customers (id text PRIMARY KEY, email text, plan text, tz text);
INSERT INTO customers SELECT 'c' || i, 'c' || i || '@example.com',
       CASE WHEN i % 3 = 0 THEN 'pro' ELSE 'free' END, 'UTC' FROM generate_series(1, $N) i;
SELECT journey.register_audience('customers', 'id', 'email', 'tz');
SELECT journey.create_template('ta', 'email', 'A', 'Hello A {{email}}');
SELECT journey.create_template('tb', 'email', 'B', 'Hello B {{email}}');
SELECT journey.import('{\"name\": \"ab\", \"audience\": \"customers\", \"start\": \"s\",
  \"settings\": {\"holdout_percent\": 20},
  \"steps\": [{\"key\": \"s\", \"type\": \"split\", \"variants\": [{\"name\": \"a\", \"weight\": 1}, {\"name\": \"b\", \"weight\": 1}],
               \"branches\": {\"a\": \"sa\", \"b\": \"sb\"}},
             {\"key\": \"sa\", \"type\": \"send_email\", \"template\": \"ta\", \"next\": \"wait\"},
             {\"key\": \"sb\", \"type\": \"send_email\", \"template\": \"tb\", \"next\": \"wait\"},
             {\"key\": \"wait\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"chk\"},
             {\"key\": \"chk\", \"type\": \"condition\", \"if\": {\"field\": \"plan\", \"op\": \"eq\", \"value\": \"pro\"},
              \"branches\": {\"yes\": \"g\", \"no\": \"end\"}},
             {\"key\": \"g\", \"type\": \"goal\", \"next\": \"end\"},
             {\"key\": \"end\", \"type\": \"exit\"}]}'::jsonb);
SELECT journey.publish('ab');
SELECT count(journey.enroll('ab', 'c' || i)) FROM generate_series(1, $N) i;
SELECT journey.import('{\"name\": \"later\", \"audience\": \"customers\", \"start\": \"wait\",
  \"steps\": [{\"key\": \"wait\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"hi\"},
             {\"key\": \"hi\", \"type\": \"send_email\", \"template\": \"ta\", \"next\": \"end\"},
             {\"key\": \"end\", \"type\": \"exit\"}]}'::jsonb);
SELECT journey.publish('later');
SELECT count(journey.enroll('later', 'c' || i)) FROM generate_series(1, 20) i;
SELECT journey.clone('later', 'held');
SELECT journey.publish('held');
SELECT count(journey.enroll('held', 'c' || i)) FROM generate_series(21, 30) i;
UPDATE journey.enrollments SET entered_at = '$T0', next_run_at = '$T0';
"
c "CREATE EXTENSION pg_journey" >/dev/null
citus_psql_all "GRANT journey_app TO journey_worker" >/dev/null
c "$setup" >/dev/null || exit 1
c "SELECT journey.distribute('customers')" >/dev/null || exit 1
c "CREATE DATABASE $SINGLE" >/dev/null || exit 1
s "CREATE EXTENSION pg_journey" >/dev/null
s "$setup" >/dev/null || exit 1
check "the single-node database is no Citus database" "f|t" \
  "$(s "SELECT journey._citus_distributed()")|$(c "SELECT journey._citus_distributed()")"

# Every public function of schema journey, from pg_proc: probed by the
# statements below, or one of the runtime functions other suites cover
# (test/citus/engine.sh, distribute.sh) or that this one checks apart.
# message_event records its engagement through journey.track (the runtime's);
# the scheduled triggers need pg_cron, whose database on the test cluster is
# postgres; simulate is refused on a distributed install (checked below).
elsewhere="claim_messages complete_message distribute enroll enroll_query exit run_due track
  message_event run_entry_trigger run_scheduled_trigger simulate"

# The statements, run on the coordinator of the distributed install and on the
# single node; errors included (SQLSTATE, message, detail, hint). The same
# output expected.
cat >"$CITUS_DIR/sequence.sql" <<'EOF'
\set VERBOSITY verbose
\set SHOW_CONTEXT never
-- audiences: accounts, registered after the conversion
SELECT journey.register_audience('accounts', 'id', 'email', recipients => '{"sms": "phone"}');
SELECT journey.register_audience('accounts', 'nope');
SELECT journey.set_recipients('accounts', '{"push": "phone"}');
SELECT journey.set_recipients('accounts', '{"push": null}');
SELECT journey.set_recipients('accounts', '{"push": "nope"}');
SELECT relation, key_column, email_column, recipients, registered_by FROM journey.audiences ORDER BY 1;
-- templates
SELECT journey.create_template('t2', 'email', 'S', 'B {{email}}');
SELECT journey.create_template('t2', 'email', 'S', 'B');
SELECT journey.create_template('t2', 'email', 'S2', 'B2 {{email}}', true);
SELECT journey.create_template('t3', 'email', 'S', 'B {{');
SELECT name, channel, subject, body FROM journey.templates ORDER BY 1;
-- building a journey
SELECT journey.create_journey('j2', 'accounts', 'a journey');
SELECT journey.create_journey('j2', 'accounts');
SELECT journey.add_step('j2', 'a', 'send_email', '{"template": "t2"}');
SELECT journey.add_step('j2', 'b', 'delay', '{"duration": "1 day"}');
SELECT journey.add_step('j2', 'x', 'exit', '{}');
SELECT journey.add_step('j2', 'y', 'exit', '{}');
SELECT journey.add_step('j2', 'a', 'exit', '{}');
SELECT journey.connect('j2', 'a', 'b');
SELECT journey.connect('j2', 'b', 'y');
SELECT journey.connect('j2', 'zz', 'b');
SELECT journey.set_start('j2', 'a');
SELECT journey.set_step_config('j2', 'b', '{"duration": "2 days"}');
SELECT journey.rename_step('j2', 'b', 'bb');
SELECT journey.move_connection('j2', 'bb', 'next', 'x');
SELECT journey.disconnect('j2', 'bb');
SELECT journey.connect('j2', 'bb', 'x');
SELECT journey.remove_step('j2', 'y');
SELECT journey.add_entry_trigger('j2', 'event', '{"event": "signed_up"}');
SELECT journey.add_entry_trigger('j2', 'attribute', '{"when": {"field": "email", "op": "changed"}}');
SELECT journey.set_entry_trigger('j2', 1, 'event', '{"event": "joined"}');
SELECT journey.move_entry_trigger('j2', 2, 1);
SELECT journey.remove_entry_trigger('j2', 1);
SELECT journey.remove_entry_trigger('j2', 9);
SELECT journey.add_exit_rule('j2', 'event', '{"event": "bought"}', true);
SELECT journey.add_exit_rule('j2', 'condition', '{"when": {"field": "phone", "op": "eq", "value": "0"}}');
SELECT journey.set_exit_rule('j2', 1, 'event', '{"event": "paid"}', true);
SELECT journey.move_exit_rule('j2', 2, 1);
SELECT journey.remove_exit_rule('j2', 1);
SELECT journey.set_settings('j2', '{"max_attempts": 3}');
SELECT journey.set_settings('j2', '{"max_attempts": 0}');
SELECT journey.set_layout('j2', '{"a": {"x": 1, "y": 2}}');
SELECT * FROM journey.validate('j2');
SELECT * FROM journey.validate_definition(journey.export('j2'));
SELECT * FROM journey.publish_preview('j2');
-- lifecycle
SELECT journey.publish('j2');
SELECT journey.publish('j2');
SELECT journey.set_step_config('j2', 'bb', '{"duration": "3 days"}');
SELECT * FROM journey.diff('j2', 1);
SELECT journey.discard_draft('j2');
SELECT journey.set_step_config('j2', 'bb', '{"duration": "4 days"}');
SELECT journey.publish('j2', true);
SELECT journey.export('j2');
SELECT journey.export('j2', 1);
SELECT journey.to_dot('j2');
SELECT journey.to_mermaid('j2', 1);
SELECT journey.clone('j2', 'j3');
SELECT journey.pause('j2');
SELECT journey.pause('j2');
SELECT journey.resume('j2', 'skip');
SELECT journey.resume('j2');
SELECT journey.drop_journey('j2');
SELECT journey.archive('j3');
SELECT journey.drop_journey('j3');
SELECT journey.unregister_audience('accounts');
SELECT journey.import('{"name": "imp", "audience": "accounts", "start": "a", "steps": [{"key": "a", "type": "exit"}]}'::jsonb);
SELECT journey.import('{"name": "imp2", "audience": "accounts", "start": "a", "sttings": {}, "steps": []}'::jsonb);
SELECT journey.archive('imp');
SELECT journey.drop_journey('imp');
SELECT journey.archive('j2');
SELECT journey.drop_journey('j2');
SELECT journey.unregister_audience('accounts');
SELECT journey.unregister_audience('accounts');
SELECT name, state, live_version, draft_version, steps, enrolled, active FROM journey.list(true);
SELECT name, state FROM journey.journeys ORDER BY 1;
SELECT journey_id, version, status, start_key, settings, definition, published_by FROM journey.versions ORDER BY 1, 2;
SELECT * FROM journey.catalog() x WHERE x IS NULL;
SELECT * FROM journey.preview('ab', 'sa', 'c1');
SELECT * FROM journey.customer_journeys('c1');
-- suppressions
SELECT journey.add_suppression('c1', 'email', 'unsubscribed', 'pc');
SELECT journey.add_suppression('c2');
SELECT journey.add_suppression('c3', 'nope channel');
SELECT journey.add_suppression('nobody');
SELECT customer_id, channel, reason, source FROM journey.list_suppressions();
SELECT customer_id, channel, reason FROM journey.list_suppressions('c1');
SELECT journey.remove_suppression('c1', 'email');
SELECT journey.remove_suppression('c2');
SELECT customer_id, channel, reason FROM journey.list_suppressions();
-- delivery upkeep and the analytics of a journey nobody has reached yet
SELECT journey.requeue_claimed();
SELECT journey.rebuild_activity_hours('later');
SELECT * FROM journey.funnel('later');
SELECT * FROM journey.split_report('later');
SELECT journey.compact_activity_hours('2000-01-01');
EOF

# An audience registered after the conversion: its table (distributed first on
# the distributed install, as docs/scale-out.md says).
s "CREATE TABLE accounts (id text PRIMARY KEY, email text, phone text)"
c "CREATE TABLE accounts (id text PRIMARY KEY, email text, phone text);
   SELECT create_distributed_table('accounts', 'id', colocate_with => 'journey.enrollments')" >/dev/null

# Which public functions the statements (or the elsewhere list) do not reach.
missing=$(c "SELECT string_agg(DISTINCT p.proname, ' ' ORDER BY p.proname) FROM pg_proc p
              WHERE p.pronamespace = 'journey'::regnamespace AND p.proname !~ '^_'
                AND p.proname <> ALL (string_to_array(regexp_replace(\$\$$elsewhere\$\$, '\\s+', ' ', 'g'), ' '))
                AND position('journey.' || p.proname || '(' IN \$\$$(cat "$CITUS_DIR/sequence.sql")\$\$) = 0")
check "every public function of schema journey is probed" "" "$missing"

run_sequence() {  # database
  "$PGBIN/psql" -X -a -At -h "$CITUS_DIR" -p "$PGPORT" -U postgres -d "$1" \
    -f "$CITUS_DIR/sequence.sql" 2>&1 | sed -E 's/^psql:[^:]*:[0-9]+: //'
}
run_sequence "$CITUS_DB" >"$CITUS_DIR/distributed.out"
run_sequence "$SINGLE" >"$CITUS_DIR/single.out"
check "the authoring statements: the same output, errors included, as on a single node" "" \
  "$(diff "$CITUS_DIR/single.out" "$CITUS_DIR/distributed.out")"
check "the statements ran (errors expected, none from Citus)" "t|0" \
  "$([ "$(grep -c '^ERROR' "$CITUS_DIR/single.out")" -ge 10 ] && echo t)|$(
     grep '^ERROR' "$CITUS_DIR/distributed.out" | grep -ci 'distributed\|citus\|shard')"

# The definitions written on the coordinator, as each node reads them (its
# placement of the reference tables; audiences and owners as its own names).
definitions_sql="SELECT md5(concat_ws('|',
     (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM (SELECT a.relation::text, a.key_column,
        a.email_column, a.recipients, a.registered_by, a.relation = to_regclass(a.relation::text) AS own
        FROM journey.audiences a) t),
     (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM (SELECT j.id, j.name, j.state, j.audience::text,
        j.owner::text, j.published_version, j.settings FROM journey.journeys j) t),
     (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM (SELECT v.journey_id, v.version, v.status,
        v.definition, v.templates, v.owner::text, v.published_by FROM journey.versions v) t),
     (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM journey.steps t),
     (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM journey.connections t),
     (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM journey.entry_triggers t),
     (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM journey.exit_rules t),
     (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM (SELECT name, channel, subject, body
        FROM journey.templates) t)))"
definitions() { cq "$1" "$definitions_sql"; }
check "the definitions are the same on every node" "$(definitions "$PGPORT")|$(definitions "$PGPORT")" \
  "$(definitions "$w1")|$(definitions "$w2")"
check "... and the same as on the single node" "$(definitions "$PGPORT")" \
  "$(s "$definitions_sql")"

# An audience registered after the conversion has its statement triggers on
# every shard; unregistered, on none (citus.enable_unsafe_triggers, set by
# register_audience and unregister_audience for their own DDL).
shard_triggers() {
  c "SELECT string_agg(result, ',' ORDER BY result) FROM run_command_on_shards('accounts',
       \$\$SELECT count(*) FROM pg_trigger WHERE tgrelid = '%s'::regclass AND tgname LIKE 'pg_journey_%%'\$\$)"
}
c "SELECT journey.register_audience('accounts', 'id', 'email')" >/dev/null
check "an audience registered after the conversion: its triggers on every shard" \
  "3,3,3,3,3,3,3,3" "$(shard_triggers)"
c "SELECT journey.unregister_audience('accounts')" >/dev/null
check "... unregistered: on none" "0,0,0,0,0,0,0,0" "$(shard_triggers)"
check "the published audience's triggers are on every shard of customers" "3,3,3,3,3,3,3,3" \
  "$(c "SELECT string_agg(result, ',' ORDER BY result) FROM run_command_on_shards('customers',
         \$\$SELECT count(*) FROM pg_trigger WHERE tgrelid = '%s'::regclass AND tgname LIKE 'pg_journey_%%'\$\$)")"
expect_state "simulate is refused on a distributed install" 0A000 "$PGPORT" \
  "SELECT * FROM journey.simulate('ab', 'SELECT id FROM customers', '1 day')"

# The engine: a worker node's tick takes up a version published after it began.
# One session on each worker node stays open across the publish (its journey
# cache lives as long as it does); the single node gets the same ticks.
worker_sessions_open
tick() {  # engine time: the worker nodes' sessions (on the cluster) and the single node
  ask_workers "SELECT journey.run_due(1000, '$1')"
  s "SELECT journey.run_due(1000, '$1')" >/dev/null
}
T1="2030-01-02 09:01:00+00"
tick "$T0"
check "the first tick on the worker nodes takes every enrollment, some on each" "230|t" \
  "$((${ANSWER%%|*} + ${ANSWER##*|}))|$([ "${ANSWER%%|*}" -gt 0 ] && [ "${ANSWER##*|}" -gt 0 ] && echo t)"
for q in c s; do
  $q "SELECT journey.pause('held');
      SELECT journey.create_template('tc', 'email', 'C', 'Hello C {{email}}');
      SELECT journey.set_step_config('later', 'hi', '{\"template\": \"tc\"}');
      SELECT journey.publish('later', true);" >/dev/null
done
# A suppression on the coordinator withdraws the customer's pending message,
# on its node (c3 is in neither the holdout nor anywhere but variant a or b).
for q in c s; do $q "SELECT journey.add_suppression('c3', 'email', 'unsubscribed')" >/dev/null; done
check "a suppression withdraws the customer's pending message on its node" "suppressed|suppression: unsubscribed" \
  "$(c "SELECT string_agg(status || '|' || reason, ',') FROM journey.messages WHERE customer_id = 'c3'")"
tick "$T1"
check "the tick a day later takes every enrollment again, but those of the journey paused since" "220" \
  "$((${ANSWER%%|*} + ${ANSWER##*|}))"
tick "$T1"
check "a second tick at the same engine time takes nothing" "0|0" "$ANSWER"
for q in c s; do $q "SELECT journey.resume('held')" >/dev/null; done
tick "$T1"
check "resumed on the coordinator, the paused journey's enrollments are taken by the open sessions" "10" \
  "$((${ANSWER%%|*} + ${ANSWER##*|}))"
check "the worker nodes' ticks ran the version published after they began" "2|20|C|20" \
  "$(c "SELECT max(e.version) || '|' || count(*) FILTER (WHERE e.status = 'completed')
          FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'later'")|$(
     c "SELECT string_agg(DISTINCT m.payload->>'subject', ',') || '|' || count(*)
          FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id WHERE j.name = 'later'")"
worker_sessions_close
wait

# A suppression that a message was made beside (its row written directly, as
# when the tick and add_suppression raced): claim_messages on the coordinator
# suppresses the message instead of handing it out.
raced=$(c "SELECT string_agg(quote_literal(customer_id), ', ' ORDER BY customer_id) FROM (
             SELECT DISTINCT customer_id FROM journey.messages WHERE status = 'pending'
              ORDER BY customer_id LIMIT 4) x")
for q in c s; do
  $q "UPDATE journey.messages SET send_after = '2000-01-01' WHERE status = 'pending';
      INSERT INTO journey.suppressions (audience, customer_id, reason, audience_id)
      VALUES $(echo "$raced" | sed -E "s/('[^']*')/('customers', \1, 'manual', journey._audience_id('customers'))/g")" >/dev/null
done
pending=$(c "SELECT count(*) FROM journey.messages WHERE customer_id IN ($raced) AND status = 'pending'")
for q in c s; do $q "SELECT count(*) FROM journey.claim_messages('email', 1000)" >/dev/null; done
check "claim_messages suppresses the messages of a suppression made beside them" "t|$pending|0" \
  "$([ "$pending" -gt 3 ] && echo t)|$(c "SELECT count(*) FROM journey.messages
      WHERE customer_id IN ($raced) AND status = 'suppressed' AND reason = 'suppression: manual'")|$(
     c "SELECT count(*) FROM journey.messages WHERE customer_id IN ($raced) AND status = 'claimed'")"

# The analytics of the same activity: the cluster's (made on the worker nodes)
# and the single node's, exactly.
cat >"$CITUS_DIR/analytics.sql" <<'SQL'
SELECT * FROM journey.funnel('ab');
SELECT * FROM journey.funnel('ab', '2030-01-01 09:00:00+00', '2030-01-02 09:00:30+00');
SELECT * FROM journey.funnel('ab', '2030-01-01 08:30:00+00', '2030-01-02 12:00:00+00', 1);
SELECT * FROM journey.funnel('later');
SELECT * FROM journey.funnel('later', version => 2);
SELECT * FROM journey.split_report('ab');
SELECT * FROM journey.split_report('ab', control => 'a');
SELECT * FROM journey.split_report('ab', '2030-01-01 08:00:00+00', '2030-01-01 10:00:00+00');
SELECT * FROM journey.split_report('later');
SELECT * FROM journey.step_stats ORDER BY 1, 2, 3;
SELECT * FROM journey.journey_overview ORDER BY 1;
SELECT name, state, live_version, steps, enrolled, active, completed, exited, failed, converted, last_activity FROM journey.list();
SELECT journey.to_dot('ab');
SELECT journey.to_mermaid('later', 1);
SELECT journey, enrollment_id, version, CASE WHEN kind <> 'message' THEN at END, kind, step_key, detail
  FROM journey.customer_journeys('c3');
SELECT journey, enrollment_id, version, CASE WHEN kind <> 'message' THEN at END, kind, step_key, detail
  FROM journey.customer_journeys('c12');
SELECT status, reason, count(*) FROM journey.messages GROUP BY 1, 2 ORDER BY 1, 2;
SELECT * FROM journey.customer_timeline WHERE customer_id = 'c3' ORDER BY at, enrollment_id, visit;
SELECT count(*) FROM journey.schedule_status;
SELECT count(*) FROM journey.worker_status;
SQL
check "every view of schema journey is read" "" \
  "$(c "SELECT string_agg(v.viewname, ' ' ORDER BY v.viewname) FROM pg_views v
         WHERE v.schemaname = 'journey'
           AND position('journey.' || v.viewname IN \$\$$(cat "$CITUS_DIR/analytics.sql")\$\$) = 0")"
analytics() {  # database
  "$PGBIN/psql" -X -At -h "$CITUS_DIR" -p "$PGPORT" -U postgres -d "$1" -f "$CITUS_DIR/analytics.sql" 2>&1
}
analytics "$CITUS_DB" >"$CITUS_DIR/analytics-distributed.out"
analytics "$SINGLE" >"$CITUS_DIR/analytics-single.out"
check "funnel, split_report, step_stats, list, drawings: the same numbers as on the single node" "" \
  "$(diff "$CITUS_DIR/analytics-single.out" "$CITUS_DIR/analytics-distributed.out")"
check "... which counted the worker nodes' activity (converted, moved, holdout, sent)" "t|t|t" \
  "$(c "SELECT sum(converted) > 0 AND sum(entered) > 200 FROM journey.funnel('ab')")|$(
     c "SELECT bool_and(enrolled > 0) AND count(*) = 3 FROM journey.split_report('ab')")|$(
     grep -q ERROR "$CITUS_DIR/analytics-single.out" || echo t)"

cp "$CITUS_DIR"/*.out "$CITUS_DIR"/out1 "$CITUS_DIR"/out2 /tmp/ca/ 2>/dev/null
citus_test_finish
