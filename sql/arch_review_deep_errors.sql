-- Issue 9's hostile review: an error thrown deep in C++ during a tick (a
-- published version that no longer compiles against its table) and a
-- PostgreSQL error raised inside the tick's C++ frames (a field update that
-- violates a CHECK constraint, in the batch's writes) are each charged to the
-- enrollments they belong to, with their SQLSTATE; the other journeys of the
-- same tick carry on.
\set SHOW_CONTEXT never
SET timezone = 'UTC';

CREATE TABLE arch_deep (id int PRIMARY KEY, email text, plan text, score int CHECK (score < 10));
INSERT INTO arch_deep SELECT g, 'p' || g || '@x.test', 'free', 0 FROM generate_series(1, 4) g;
SELECT journey.register_audience('arch_deep', 'id', 'email');
SELECT journey.import($${"name": "arch-deep-plan", "audience": "arch_deep", "start": "w",
  "steps": [{"key": "w", "type": "delay", "duration": "1 minute", "next": "c"},
            {"key": "c", "type": "condition", "if": {"field": "plan", "op": "eq", "value": "pro"},
             "branches": {"yes": "e", "no": "e"}},
            {"key": "e", "type": "exit"}]}$$) > 0 AS imported;
SELECT journey.publish('arch-deep-plan');
SELECT journey.import($${"name": "arch-deep-score", "audience": "arch_deep", "start": "u",
  "steps": [{"key": "u", "type": "update_field", "set": {"score": 20}, "next": "e"},
            {"key": "e", "type": "exit"}]}$$) > 0 AS imported;
SELECT journey.publish('arch-deep-score');
SELECT journey.import($${"name": "arch-deep-fine", "audience": "arch_deep", "start": "w",
  "steps": [{"key": "w", "type": "delay", "duration": "1 minute", "next": "u"},
            {"key": "u", "type": "update_field", "set": {"score": 5}, "next": "e"},
            {"key": "e", "type": "exit"}]}$$) > 0 AS imported;
SELECT journey.publish('arch-deep-fine');
SELECT count(journey.enroll('arch-deep-plan', g::text)) AS plan_enrolled FROM generate_series(1, 2) g;
SELECT count(journey.enroll('arch-deep-fine', g::text)) AS fine_enrolled FROM generate_series(3, 4) g;
SELECT journey.run_due(100, ref_time('2030-01-01 10:00+00')) AS processed;

-- The column the condition reads goes behind the DDL guard's back.
SET session_replication_role = replica;
ALTER TABLE arch_deep DROP COLUMN plan;
RESET session_replication_role;
SELECT journey.enroll('arch-deep-score', '1') IS NOT NULL AS score_enrolled;
SELECT journey.run_due(100, ref_time('2030-01-01 10:05+00')) AS processed;
SELECT j.name, e.customer_id, e.status, e.step_key, e.attempts, e.last_error_code, e.last_error
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name LIKE 'arch-deep-%' ORDER BY j.name, e.customer_id;
SELECT id, score FROM arch_deep ORDER BY id;

SELECT journey.archive(n) FROM unnest(ARRAY['arch-deep-plan', 'arch-deep-score', 'arch-deep-fine']) n;
SELECT count(*) AS active_left FROM journey.enrollments WHERE status = 'active';
