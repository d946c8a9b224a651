-- The distributed paths of enroll, track, exit and the customer-table trigger
-- (docs/scale-out.md) leave a single node as it was: a customer table whose
-- name ends like a Citus shard's (_<digits>) is still its own audience (the
-- trigger asks journey._citus_shard_group, which finds no Citus), and the
-- per-customer helpers act as journey._end_enrollments does (test/citus/
-- runtime.sh runs the distributed side: make test-citus).
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE TABLE crs_members_2024 (id text PRIMARY KEY, email text, plan text DEFAULT 'free');
INSERT INTO crs_members_2024 VALUES ('m1', 'm1@example.com'), ('m2', 'm2@example.com');
SELECT journey.register_audience('crs_members_2024', 'id', 'email');
SELECT journey.import('{"name": "crs_upgrade", "audience": "crs_members_2024", "start": "w",
  "entry": [{"type": "attribute", "when": {"field": "plan", "op": "changed_to", "value": "pro"}}],
  "exit": [{"type": "event", "event": "crs_bought", "is_goal": true}],
  "steps": [{"key": "w", "type": "delay", "duration": "1 day", "next": "done"},
            {"key": "done", "type": "exit"}]}'::jsonb) IS NOT NULL AS imported;
SELECT journey.publish('crs_upgrade') IS NOT NULL AS published;
SELECT count(*) AS shard_group_rows FROM journey._citus_shard_group('public', 'crs_members_2024');
UPDATE crs_members_2024 SET plan = 'pro';
SELECT customer_id, status FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'crs_upgrade' ORDER BY customer_id;
SELECT journey.track('m1', 'crs_bought') IS NOT NULL AS tracked;
DELETE FROM crs_members_2024 WHERE id = 'm2';
SELECT e.customer_id, e.status, e.exit_reason, e.converted_at IS NOT NULL AS converted,
       (SELECT count(*) FROM journey.activity a WHERE a.enrollment_id = e.id) AS activity_rows
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'crs_upgrade' ORDER BY e.customer_id;
-- The per-customer ending: ids of that customer, as journey._end_enrollments.
SELECT journey.enroll('crs_upgrade', 'm1') IS NULL AS not_again;
SELECT journey._end_customer_enrollments('m1', '{}', '{}', '{}') AS nothing_to_end;
SELECT journey.archive('crs_upgrade');
SELECT journey.drop_journey('crs_upgrade');
SELECT journey.unregister_audience('crs_members_2024');
DROP TABLE crs_members_2024;
