#!/usr/bin/env bash
# Scheduled entry triggers on the distributed install (docs/scale-out.md):
# segment triggers (a condition, and a query) and a date trigger, run by
# journey.run_scheduled_trigger on the coordinator, enroll each matching customer
# once, on the node that owns it; a later run enrolls only the customers newly
# matching. pg_cron runs in the distributed database here (CITUS_CRON_DB), as a
# user's would. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
export CITUS_CRON_DB=pgj_citus CITUS_DB=pgj_citus
source test/citus/lib.bash
citus_test_start || exit 1

c "CREATE EXTENSION pg_cron" >/dev/null || exit 1
c "CREATE EXTENSION pg_journey" >/dev/null || exit 1
citus_psql_all "GRANT journey_app TO journey_worker" >/dev/null
c "CREATE TABLE leads (id text PRIMARY KEY, email text, plan text, renew_at date);
   INSERT INTO leads SELECT 'l' || i, 'l' || i || '@example.com',
                            CASE WHEN i % 3 = 0 THEN 'free' ELSE 'paid' END,
                            CASE WHEN i % 10 = 0 THEN current_date ELSE current_date + 100 END
     FROM generate_series(1, 60) i;
   SELECT journey.register_audience('leads', 'id', 'email');
   SELECT journey.distribute('leads');
   SELECT journey.import('{\"name\": \"seg\", \"audience\": \"leads\", \"start\": \"d\",
     \"entry\": [{\"type\": \"segment\", \"schedule\": \"0 9 * * mon\",
                  \"when\": {\"field\": \"plan\", \"op\": \"eq\", \"value\": \"free\"}}],
     \"steps\": [{\"key\": \"d\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('seg');
   SELECT journey.import('{\"name\": \"segq\", \"audience\": \"leads\", \"start\": \"d\",
     \"entry\": [{\"type\": \"segment\", \"schedule\": \"0 9 * * mon\",
                  \"query\": \"SELECT id FROM public.leads WHERE plan = ''paid''\"}],
     \"steps\": [{\"key\": \"d\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('segq');
   SELECT journey.import('{\"name\": \"renewal\", \"audience\": \"leads\", \"start\": \"d\",
     \"entry\": [{\"type\": \"date\", \"schedule\": \"@daily\", \"field\": \"renew_at\"}],
     \"steps\": [{\"key\": \"d\", \"type\": \"delay\", \"duration\": \"1 day\", \"next\": \"done\"},
                {\"key\": \"done\", \"type\": \"exit\"}]}'::jsonb);
   SELECT journey.publish('renewal');" >/dev/null || exit 1

enrolled() {  # journey: its enrollments, and how many are not on their customer's shard
  c "SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
      WHERE j.name = '$1'"
}
run() {  # journey: what run_scheduled_trigger reports (enrolled|error)
  c "SELECT coalesce(enrolled::text, '-') || '|' || coalesce(error, '') FROM journey.run_scheduled_trigger('$1')"
}
check "segment trigger (condition): the 20 free leads enrolled" "20|" "$(run seg)"
check "segment trigger (condition): 20 enrollments" "20" "$(enrolled seg)"
check "segment trigger (query): the 40 paying leads enrolled" "40|" "$(run segq)"
check "segment trigger (query): 40 enrollments" "40" "$(enrolled segq)"
check "date trigger: the 6 leads due today enrolled" "6|" "$(run renewal)"
check "segment trigger again: nobody new" "0|" "$(run seg)"
c "UPDATE leads SET plan = 'free' WHERE id IN ('l1', 'l2')" >/dev/null
check "segment trigger: the 2 newly free leads enter" "2|" "$(run seg)"
check "segment members: 22, one each" "22 22" \
  "$(c "SELECT count(*) || ' ' || count(DISTINCT customer_id) FROM journey.segment_members m
         JOIN journey.journeys j ON j.id = m.journey_id WHERE j.name = 'seg'")"
check "every enrollment on its customer's shard" "0" \
  "$(c "SELECT coalesce(sum(result::int), 0) FROM run_command_on_shards('journey.enrollments',
       \$\$SELECT count(*) FROM %s x
          WHERE get_shard_id_for_distribution_column('journey.enrollments', x.customer_id)::text
                <> regexp_replace(x.tableoid::regclass::text, '^.*_', '')\$\$)")"
check "the runs are recorded without error" "5 0" \
  "$(c "SELECT count(*) || ' ' || count(error) FROM journey.trigger_runs")"

citus_test_finish
