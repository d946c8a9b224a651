-- A split that another split leads to draws its own variant (hash of journey,
-- step and customer): with one draw for the journey, the customers who took
-- "a" at the first 1:1 split all took the same variant at the second. A
-- journey's first split keeps the journey-wide draw, so single-split journeys
-- assign as before; split_report counts both splits.
\set SHOW_CONTEXT never
CREATE TABLE sn_people (id int PRIMARY KEY, email text);
INSERT INTO sn_people SELECT g, 'sn' || g || '@x.test' FROM generate_series(1, 200) g;
SELECT journey.register_audience('sn_people', 'id', 'email');
SELECT journey.import($${"name": "sn-nested", "audience": "sn_people", "start": "ab",
  "steps": [{"key": "ab", "type": "split", "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}],
             "branches": {"a": "cd", "b": "done"}},
            {"key": "cd", "type": "split", "variants": [{"name": "c", "weight": 1}, {"name": "d", "weight": 1}],
             "branches": {"c": "done", "d": "done"}},
            {"key": "done", "type": "exit"}]}$$) > 0 AS imported;
SELECT journey.publish('sn-nested');
SELECT journey.enroll_query('sn-nested', 'SELECT id FROM sn_people');
SELECT journey.run_due(1000, now()) > 0 AS ran;
-- Visits per step and branch: both variants of cd are taken.
SELECT a.step_key, a.branch, count(*)
  FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
 WHERE j.name = 'sn-nested' AND a.step_key IN ('ab', 'cd')
 GROUP BY 1, 2 ORDER BY 1, 2;
-- Without its own draw, cd's row would be one variant with all of ab's "a".
SELECT count(*) FILTER (WHERE a.branch = 'c') > 30 AND count(*) FILTER (WHERE a.branch = 'd') > 30
       AS both_variants_well_used
  FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
 WHERE j.name = 'sn-nested' AND a.step_key = 'cd';
SELECT variant, enrolled FROM journey.split_report('sn-nested') ORDER BY 1;
