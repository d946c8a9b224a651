-- The plans pg_journey keeps for the backend's life (the tick's, track's,
-- the customer-table trigger's) live in one memory context,
-- "pg_journey plan cache", that pg_backend_memory_contexts shows with what it
-- holds (issue 9).
\set SHOW_CONTEXT never
SET timezone = 'UTC';

CREATE TABLE acx_people (id int PRIMARY KEY, email text, n int);
INSERT INTO acx_people SELECT g, 'p' || g || '@x.test', g FROM generate_series(1, 3) g;
SELECT journey.register_audience('acx_people', 'id', 'email');
SELECT journey.import($${"name": "acx", "audience": "acx_people", "start": "mark",
  "entry": [{"type": "event", "event": "acx_go"}],
  "steps": [{"key": "mark", "type": "update_field", "set": {"n": 0}}]}$$) > 0 AS imported;
SELECT journey.publish('acx');
SELECT count(journey.track(id::text, 'acx_go', audience => 'acx_people')) AS tracked FROM acx_people;
SELECT journey.run_due(100, ref_time('2030-01-01 00:00+00')) AS processed;
SELECT id, n FROM acx_people ORDER BY id;

SELECT name, parent, level, total_bytes > 0 AS holds_memory
  FROM pg_backend_memory_contexts WHERE name = 'pg_journey plan cache';
-- The tick's claim and batched writes are plans of that context.
SELECT count(*) FILTER (WHERE ident LIKE '%FOR UPDATE OF e SKIP LOCKED%') > 0 AS claim_plan,
       count(*) FILTER (WHERE ident LIKE 'INSERT INTO journey.activity%') > 0 AS activity_plan,
       -- (this journey's enrollments complete: the ending statement writes them)
       count(*) FILTER (WHERE ident LIKE '/* pg_journey: end enrollments */%') > 0 AS enrollment_plan
  FROM pg_backend_memory_contexts WHERE parent = 'pg_journey plan cache';
-- None of them is left directly under CacheMemoryContext.
SELECT count(*) AS claim_plans_elsewhere FROM pg_backend_memory_contexts
 WHERE parent <> 'pg_journey plan cache' AND ident LIKE '%FOR UPDATE OF e SKIP LOCKED%';

SELECT journey.archive('acx');
