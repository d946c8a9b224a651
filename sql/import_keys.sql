-- journey.import refuses a top-level key a definition does not have: a setting
-- written beside "settings" instead of inside it (holdout_percent) was dropped
-- without a word, and the experiment ran without its holdout (probe-sim-5).
-- An export's own keys (version, state, id, layout) import again.
\set SHOW_CONTEXT never
\set VERBOSITY default
CREATE TABLE ik_people (id int PRIMARY KEY, email text);
SELECT journey.register_audience('ik_people', 'id', 'email');
SELECT journey.import($${"name": "ik", "audience": "ik_people", "start": "e",
  "holdout_percent": 10, "steps": [{"key": "e", "type": "exit"}]}$$);
SELECT count(*) AS stored FROM journey.journeys WHERE name = 'ik';
SELECT journey.import($${"name": "ik", "audience": "ik_people", "start": "e",
  "settings": {"holdout_percent": 10}, "steps": [{"key": "e", "type": "exit"}]}$$) > 0 AS imported;
SELECT journey.import(journey.export('ik')) > 0 AS export_imports_again;
SELECT message FROM journey.validate_definition($${"name": "ik2", "audience": "ik_people",
  "start": "e", "holdout_percent": 10, "steps": [{"key": "e", "type": "exit"}]}$$);
