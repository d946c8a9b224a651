-- The validator refuses what the runtime would refuse (issue 8, low items):
-- chains of steps longer than one run may take, durations past the timestamp
-- range, field update values the column's type does not accept. And errors of
-- PostgreSQL itself (a cancel) propagate out of validation instead of turning
-- into an issue.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TYPE te_color AS ENUM ('red', 'green');
CREATE DOMAIN te_positive AS int CHECK (VALUE > 0);
CREATE TABLE te_val (id int PRIMARY KEY, email text, small smallint, code varchar(3),
                     color te_color, n te_positive, meta jsonb, seen timestamptz, born date);
SELECT journey.register_audience('te_val', 'id', 'email');

-- A chain of n goal steps after `first` (a JSON array of steps).
CREATE FUNCTION te_chain(n int, first jsonb DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS $$
  SELECT CASE WHEN first IS NULL THEN '[]' ELSE jsonb_build_array(first) END || jsonb_agg(
           jsonb_build_object('key', 's' || g, 'type', 'goal')
           || CASE WHEN g < n THEN jsonb_build_object('next', 's' || (g + 1)) ELSE '{}' END
           ORDER BY g)
    FROM generate_series(1, n) g
$$;
CREATE FUNCTION te_issues(def jsonb) RETURNS TABLE (step_key text, message text) LANGUAGE sql AS $$
  SELECT i.step_key, i.message FROM journey.validate_definition(def) i
   WHERE i.severity = 'error' ORDER BY 1, 2
$$;

-- One run takes at most 200 steps: 200 steps that never park are fine, 201 are
-- not; a run leaving a wait counts the wait too. max_step_visits caps the first run.
SELECT * FROM te_issues(jsonb_build_object('name', 'te-chain', 'audience', 'te_val',
  'start', 's1', 'steps', te_chain(200)));
SELECT * FROM te_issues(jsonb_build_object('name', 'te-chain', 'audience', 'te_val',
  'start', 's1', 'steps', te_chain(201)));
SELECT * FROM te_issues(jsonb_build_object('name', 'te-chain', 'audience', 'te_val',
  'start', 'w', 'steps', te_chain(200, '{"key": "w", "type": "delay", "duration": "1 day", "next": "s1"}')));
SELECT * FROM te_issues(jsonb_build_object('name', 'te-chain', 'audience', 'te_val',
  'start', 's1', 'settings', jsonb_build_object('max_step_visits', 10), 'steps', te_chain(11)));
-- Branches: the longest way counts.
SELECT * FROM te_issues(jsonb_build_object('name', 'te-chain', 'audience', 'te_val',
  'start', 'c', 'steps', te_chain(200, $${"key": "c", "type": "condition",
    "if": {"field": "small", "op": "gt", "value": 1}, "branches": {"yes": "s1", "no": "s200"}}$$)));
-- publish refuses such a chain (the runtime would fail every enrollment at step 201).
SELECT journey.create_template('te_val_t', 'email', 'Hi', 'Hello');
SELECT try(format('SELECT journey.import(%L)', jsonb_build_object('name', 'te-chain', 'audience',
  'te_val', 'start', 's1', 'steps', te_chain(201))));
SELECT try($$SELECT journey.publish('te-chain')$$);

-- Durations and offsets: at most 5000 years either way.
SELECT * FROM te_issues($${"name": "te-long", "audience": "te_val", "start": "a",
  "settings": {"reentry": "after_exit", "reentry_cooldown": "6000 years"},
  "steps": [{"key": "a", "type": "delay", "duration": "200000000 months", "next": "b"},
            {"key": "b", "type": "delay", "until_field": "seen", "offset": "-5001 years", "next": "c"},
            {"key": "c", "type": "wait_for_event", "event": "x", "timeout": "2000000 days", "next": "d"},
            {"key": "d", "type": "delay", "duration": "5000 years", "next": "e"},
            {"key": "e", "type": "delay", "until_field": "born", "offset": "-4999 years"}]}$$);

-- Field update values are checked with the column type's input function: its
-- range, length limit, enum labels, domain checks and JSON syntax.
SELECT * FROM te_issues($${"name": "te-set", "audience": "te_val", "start": "a",
  "steps": [{"key": "a", "type": "update_field", "set": {"small": 70000, "code": "abcd",
             "color": "purple", "n": 0, "meta": "not json", "seen": "2030-02-30"}, "next": "b"},
            {"key": "b", "type": "update_field", "set": {"small": 7, "code": "abc", "color": "red",
             "n": 3, "meta": {"a": 1}, "seen": {"now": true}, "born": "infinity"}}]}$$);

-- A cancel inside validation (here a domain check that takes too long) is
-- raised as the cancel it is, not reported as an issue.
CREATE FUNCTION te_slow_check(v int) RETURNS boolean LANGUAGE sql AS $$ SELECT pg_sleep(2) IS NOT NULL $$;
CREATE DOMAIN te_slow AS int CHECK (te_slow_check(VALUE));
ALTER TABLE te_val ADD COLUMN slow te_slow;
SET statement_timeout = '300ms';
SELECT count(*) FROM journey.validate_definition('{"name": "te-slow", "audience": "te_val",
  "start": "a", "steps": [{"key": "a", "type": "update_field", "set": {"slow": 1}}]}');
RESET statement_timeout;
