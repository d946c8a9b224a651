-- Decisions in core, applied by SQL and the tick (issue 9): the re-entry rule
-- _enroll_rows applies comes from core (journey._reentry_rule), and each batch
-- of a tick runs in a memory context of its own, deleted after the batch.
\set SHOW_CONTEXT never
SET timezone = 'UTC';

SELECT * FROM journey._reentry_rule(NULL);
SELECT * FROM journey._reentry_rule('{"reentry": "never", "reentry_cooldown": "1 day"}');
SELECT * FROM journey._reentry_rule('{"reentry": "after_exit"}');
SELECT * FROM journey._reentry_rule('{"reentry": "always", "reentry_cooldown": "7 days 2 hours"}');

-- The batch's memory context exists while the batch runs (a call step sees
-- it) and is gone after the tick.
CREATE TABLE arch_mem (id int PRIMARY KEY, email text);
INSERT INTO arch_mem SELECT g, 'm' || g || '@x.test' FROM generate_series(1, 3) g;
SELECT journey.register_audience('arch_mem', 'id', 'email');
CREATE FUNCTION arch_batch_contexts(customer_id text, context jsonb) RETURNS jsonb
  LANGUAGE sql AS $$
    SELECT jsonb_build_object('batch_contexts',
             (SELECT count(*) FROM pg_catalog.pg_backend_memory_contexts
               WHERE name = 'pg_journey tick batch'))
  $$;
SELECT journey.import($${"name": "arch-mem", "audience": "arch_mem", "start": "look",
  "steps": [{"key": "look", "type": "call", "function": "public.arch_batch_contexts"}]}$$) > 0 AS imported;
SELECT journey.publish('arch-mem');
SELECT count(journey.enroll('arch-mem', id::text)) AS enrolled FROM arch_mem;
SELECT journey.run_due(100, ref_time('2030-01-01 00:00+00')) AS processed;
SELECT e.customer_id, e.status, e.context FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'arch-mem' ORDER BY e.customer_id;
SELECT count(*) AS batch_contexts_after FROM pg_backend_memory_contexts
 WHERE name = 'pg_journey tick batch';

SELECT journey.archive('arch-mem');
SELECT count(*) AS active_left FROM journey.enrollments WHERE status = 'active';
