-- Importing a journey is linear in its number of steps: each step is placed at
-- its position in the definition (no max(position) + 1 over the steps so far),
-- so 2,000 steps read about 2,000 step rows, not about 2,000,000. The reads are
-- counted by the statistics of the importing transaction, so the test does not
-- depend on the machine's speed. Export, validate and publish of the imported
-- journey keep its order.
\set SHOW_CONTEXT never
CREATE TABLE rim_customers (id int PRIMARY KEY, email text);
SELECT journey.register_audience('rim_customers', 'id', 'email');
SELECT journey.create_template('rim_t', 'email', 'T', 'B');
-- n steps in a chain: a delay every 50th, a condition every 7th, e-mails between.
CREATE FUNCTION rim_definition(name text, n int) RETURNS jsonb LANGUAGE sql AS $$
  -- max_step_visits above n: the chain's one path visits n steps (validate would warn).
  SELECT jsonb_build_object('name', name, 'audience', 'rim_customers', 'start', 's1',
    'settings', jsonb_build_object('max_step_visits', 5000),
    'steps', jsonb_agg(
      CASE WHEN i % 50 = 0 THEN jsonb_build_object('key', 's' || i, 'type', 'delay', 'duration', '1 hour')
           WHEN i % 7 = 0 THEN jsonb_build_object('key', 's' || i, 'type', 'condition',
                'if', jsonb_build_object('field', 'email', 'op', 'exists'))
           ELSE jsonb_build_object('key', 's' || i, 'type', 'send_email', 'template', 'rim_t') END
      || CASE WHEN i = n THEN '{}'::jsonb
              WHEN i % 7 = 0 AND i % 50 <> 0
                THEN jsonb_build_object('branches', jsonb_build_object('yes', 's' || (i + 1), 'no', 's' || (i + 1)))
              ELSE jsonb_build_object('next', 's' || (i + 1)) END
      ORDER BY i))
    FROM generate_series(1, n) i
$$;

BEGIN;
SELECT journey.import(rim_definition('rim-big', 2000)) > 0 AS imported;
-- Step rows read by the import (index fetches and sequential reads).
SELECT s.idx_tup_fetch + s.seq_tup_read < 10000 AS linear_reads
  FROM pg_stat_xact_all_tables s WHERE s.relid = 'journey.steps'::regclass;
COMMIT;
-- Positions are the definition's order.
SELECT count(*) AS steps, count(*) FILTER (WHERE s.position = substr(s.key, 2)::int) AS in_order
  FROM journey.steps s JOIN journey.journeys j ON j.id = s.journey_id WHERE j.name = 'rim-big';
SELECT count(*) AS problems FROM journey.validate('rim-big');
SELECT journey.export('rim-big')->'steps' = rim_definition('rim-big', 2000)->'steps' AS export_in_order;
SELECT journey.publish('rim-big');
-- Re-importing replaces the draft: positions start again at 1.
SELECT journey.import(rim_definition('rim-big', 3)) > 0 AS reimported;
SELECT s.key, s.position FROM journey.steps s JOIN journey.journeys j ON j.id = s.journey_id
 WHERE j.name = 'rim-big' AND s.version = 2 ORDER BY s.position;
-- A duplicate key is still refused, naming the step.
SELECT try($$SELECT journey.import('{"name": "rim-dup", "audience": "rim_customers", "start": "a",
  "steps": [{"key": "a", "type": "goal"}, {"key": "b", "type": "goal"}, {"key": "a", "type": "exit"}]}')$$);
SELECT count(*) AS no_journey_left FROM journey.journeys WHERE name = 'rim-dup';
-- add_step still appends after the last position.
SELECT journey.add_step('rim-big', 'extra', 'goal');
SELECT s.key, s.position FROM journey.steps s JOIN journey.journeys j ON j.id = s.journey_id
 WHERE j.name = 'rim-big' AND s.version = 2 ORDER BY s.position;
SELECT try($$SELECT journey.add_step('rim-big', 'extra', 'goal')$$);

SELECT journey.archive('rim-big');
SELECT journey.drop_journey('rim-big');
SELECT journey.unregister_audience('rim_customers');
