-- journey.simulate after a new analyst's probe (issue 10, probe-analytics-3):
-- a refused nested simulate leaves the outer one running (F5); errors keep
-- their context and carry no empty DETAIL/HINT, a key of the wrong type names
-- the customers argument (F6); a trailing semicolon or comment is fine, a
-- data-modifying WITH is refused saying why (F7); what the customers query
-- advances is put back (F8), and so is what a cancelled simulation advanced
-- (F9); an out-of-range horizon names the horizon, and journey._simulate is
-- not granted (F11); the virtual clock that runs each due time once (F3)
-- predicts what a real run does.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE sf_customers (id int PRIMARY KEY, email text, grp text,
                           touched boolean NOT NULL DEFAULT false,
                           flag boolean NOT NULL DEFAULT false, due_at timestamptz);
INSERT INTO sf_customers
  SELECT g, 'f' || g || '@x.test', CASE WHEN g <= 10 THEN 'maker' ELSE 'waiter' END, false, false,
         now() + g * interval '1 hour'
    FROM generate_series(1, 20) g;
SELECT journey.register_audience('sf_customers', 'id', 'email');
-- Makers wait until their due_at (an hour apart), then mark themselves (a
-- field update); waiters wait until their flag is set.
SELECT journey.import($${"name": "sf-wake", "audience": "sf_customers", "start": "route",
  "steps": [{"key": "route", "type": "condition", "if": {"field": "grp", "op": "eq", "value": "maker"},
             "branches": {"yes": "pause", "no": "waitf"}},
            {"key": "pause", "type": "delay", "until_field": "due_at", "next": "hello"},
            {"key": "hello", "type": "send", "channel": "sf", "payload": {}, "next": "mark"},
            {"key": "mark", "type": "update_field", "set": {"touched": true}, "next": "done"},
            {"key": "done", "type": "exit"},
            {"key": "waitf", "type": "wait_until", "when": {"field": "flag", "op": "eq", "value": true},
             "timeout": "1 day", "branches": {"met": "won", "timeout": "bye"}},
            {"key": "won", "type": "goal"},
            {"key": "bye", "type": "exit"}]}$$) > 0 AS imported;

-- The engine's clock as a simulation moves it (sql/simulate.sql's), for the real run.
CREATE FUNCTION sf_run_for_real(journey_name text, horizon interval) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  t timestamptz := now();
  t_next timestamptz;
  times int := 0;
BEGIN
  LOOP
    WHILE journey.run_due(1000, t) > 0 LOOP END LOOP;
    times := times + 1;
    SELECT min(e.next_run_at) INTO t_next
      FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
     WHERE j.name = journey_name AND e.status = 'active';
    EXIT WHEN t_next IS NULL OR t_next > now() + horizon;
    t := greatest(t, t_next);
  END LOOP;
  RETURN times;
END
$$;

-------------------------------------------------------------------------------
-- F3's clock (each due time's ticks walk the due index from that time on):
-- makers fall due an hour apart, each marked by a field update, waiters time
-- out after a day. The prediction equals the real run, row by row (one
-- transaction: the same now()).
BEGIN;
CREATE TEMP TABLE sf_predicted AS
  SELECT * FROM journey.simulate('sf-wake',
    'SELECT id FROM sf_customers WHERE id BETWEEN 1 AND 4 OR id BETWEEN 11 AND 16', '2 days')
    WITH ORDINALITY;
SELECT step_key, entered, now_at, moved, completed, exited, converted
  FROM sf_predicted ORDER BY ordinality;
SELECT count(*) AS touched_left FROM sf_customers WHERE touched OR flag;
SELECT journey.publish('sf-wake') AS version;
SELECT journey.enroll_query('sf-wake',
  'SELECT id FROM sf_customers WHERE id BETWEEN 1 AND 4 OR id BETWEEN 11 AND 16') AS enrolled;
SELECT sf_run_for_real('sf-wake', '2 days') AS times_ticked;
(SELECT * FROM journey.funnel('sf-wake') WITH ORDINALITY EXCEPT SELECT * FROM sf_predicted)
UNION ALL
(SELECT * FROM sf_predicted EXCEPT SELECT * FROM journey.funnel('sf-wake') WITH ORDINALITY);
ROLLBACK;

-------------------------------------------------------------------------------
-- F5: a trigger of a field update calls simulate and catches the refusal; the
-- outer simulation goes on and predicts what it predicts without the trigger.
-- One transaction: both simulations start at the same now(), so their times
-- spent (a maker's delay until its due_at) compare exactly.
BEGIN;
CREATE TEMP TABLE sf_plain AS
  SELECT * FROM journey.simulate('sf-wake', 'SELECT id FROM sf_customers WHERE id IN (3, 6, 13)', '1 day');
CREATE FUNCTION sf_nested() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    PERFORM count(*) FROM journey.simulate('sf-wake', 'SELECT 1', '1 day');
  EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'nested: % %', SQLSTATE, SQLERRM;
  END;
  RETURN NEW;
END $$;
CREATE TRIGGER sf_nested BEFORE UPDATE ON sf_customers FOR EACH ROW EXECUTE FUNCTION sf_nested();
CREATE TEMP TABLE sf_nested_run AS
  SELECT * FROM journey.simulate('sf-wake', 'SELECT id FROM sf_customers WHERE id IN (3, 6, 13)', '1 day');
SELECT step_key, entered, now_at, moved, exited, converted FROM sf_nested_run;
(SELECT * FROM sf_plain EXCEPT SELECT * FROM sf_nested_run)
UNION ALL
(SELECT * FROM sf_nested_run EXCEPT SELECT * FROM sf_plain);
COMMIT;
DROP TRIGGER sf_nested ON sf_customers;
DROP FUNCTION sf_nested();

-------------------------------------------------------------------------------
-- F6: a key of the wrong type names the customers argument (22P02).
SELECT try($$SELECT * FROM journey.simulate('sf-wake', $q$SELECT 'abc'$q$, '1 day')$$);
-- Errors are raised again as they were: no empty DETAIL or HINT line, and
-- their context (where they were raised) kept.
SELECT count(*) AS issues FROM journey.set_step_config('sf-wake', 'pause', '{"until_field": "no_such_column"}');
SELECT * FROM journey.simulate('sf-wake', 'SELECT 1', '1 day');
CREATE FUNCTION sf_context(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  ctx text;
BEGIN
  EXECUTE sql;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS ctx = PG_EXCEPTION_CONTEXT;
  RETURN CASE WHEN ctx LIKE '%function journey._raise_issues(text,jsonb)%'
                OR ctx LIKE '%function _raise_issues(text,jsonb)%'
              THEN 'raised in _raise_issues' ELSE ctx END;
END $$;
SELECT sf_context($$SELECT * FROM journey.simulate('sf-wake', 'SELECT 1', '1 day')$$) AS context;
SELECT count(*) AS issues FROM journey.set_step_config('sf-wake', 'pause', '{"until_field": "due_at"}');

-------------------------------------------------------------------------------
-- F7: a trailing semicolon, a trailing comment (and both) are fine.
SELECT entered FROM journey.simulate('sf-wake', 'SELECT id FROM sf_customers WHERE id <= 2;', '1 hour')
 WHERE step_key = 'route';
SELECT entered FROM journey.simulate('sf-wake', 'SELECT id FROM sf_customers WHERE id <= 3 -- three', '1 hour')
 WHERE step_key = 'route';
SELECT entered FROM journey.simulate('sf-wake', E'SELECT id FROM sf_customers\n WHERE id <= 4 -- four\n ;\n', '1 hour')
 WHERE step_key = 'route';
-- A data-modifying WITH is refused, naming customers and saying why.
SELECT try($$SELECT * FROM journey.simulate('sf-wake',
  'WITH x AS (UPDATE sf_customers SET flag = flag WHERE id = 1 RETURNING id) SELECT id FROM x', '1 day')$$);

-------------------------------------------------------------------------------
-- F8: the sequences the customers query advances are put back too.
CREATE TABLE sf_audit (id serial PRIMARY KEY, who text);
CREATE FUNCTION sf_side() RETURNS int LANGUAGE sql AS
  $$ INSERT INTO public.sf_audit (who) VALUES ('x') RETURNING 1 $$;
SELECT last_value, is_called FROM sf_audit_id_seq;
SELECT entered FROM journey.simulate('sf-wake', 'SELECT 15 WHERE sf_side() = 1', '1 hour')
 WHERE step_key = 'route';
SELECT last_value, is_called, (SELECT count(*) FROM sf_audit) AS audit_rows FROM sf_audit_id_seq;
-- Also when the customers query fails after advancing one.
SELECT try($$SELECT * FROM journey.simulate('sf-wake', 'SELECT 1 / (sf_side() - 1)', '1 hour')$$);
SELECT last_value, is_called FROM sf_audit_id_seq;

-------------------------------------------------------------------------------
-- F9: a simulation cancelled by statement_timeout (here while a trigger of
-- its field update sleeps) puts back the ids it took, then reports the cancel.
CREATE TEMP TABLE sf_seq_before AS
  SELECT sequencename, last_value FROM pg_sequences
   WHERE schemaname = 'journey' AND sequencename IN ('enrollments_id_seq', 'messages_id_seq');
CREATE FUNCTION sf_slow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_sleep(30);
  RETURN NEW;
END $$;
CREATE TRIGGER sf_slow BEFORE UPDATE ON sf_customers FOR EACH ROW EXECUTE FUNCTION sf_slow();
SET statement_timeout = '1s';
SELECT * FROM journey.simulate('sf-wake', 'SELECT id FROM sf_customers WHERE id <= 2', '1 day');
RESET statement_timeout;
DROP TRIGGER sf_slow ON sf_customers;
SELECT b.sequencename, s.last_value IS NOT DISTINCT FROM b.last_value AS put_back
  FROM sf_seq_before b JOIN pg_sequences s ON s.schemaname = 'journey' AND s.sequencename = b.sequencename
 ORDER BY 1;
-- The session goes on: the next simulation runs.
SELECT entered FROM journey.simulate('sf-wake', 'SELECT id FROM sf_customers WHERE id <= 2', '1 day')
 WHERE step_key = 'mark';

-------------------------------------------------------------------------------
-- F11: a horizon past the last timestamp names the horizon (22023).
SELECT try($$SELECT * FROM journey.simulate('sf-wake', 'SELECT 1', '1000000 years')$$);
-- journey._simulate is not granted: simulate (and _simulate_checked, which
-- does every check simulate does) are.
SELECT p.oid::regprocedure AS function,
       has_function_privilege('journey_reader', p.oid, 'EXECUTE') AS reader_may_call
  FROM pg_proc p
 WHERE p.pronamespace = 'journey'::regnamespace
   AND p.proname IN ('simulate', '_simulate', '_simulate_checked', '_simulate_run',
                     '_customer_keys', '_simulation_check')
 ORDER BY p.oid::regprocedure::text;

SELECT journey.archive('sf-wake');
