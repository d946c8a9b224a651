-- journey.simulate (issue 10): the draft (or a version) of a journey run over
-- real customers on a virtual clock by the engine's own tick, inside a
-- subtransaction that is rolled back. Its prediction equals a real run on the
-- same data and clock, row by row; it sends nothing, calls nothing, and leaves
-- nothing behind (row counts of every table, the audience's rows, every
-- sequence); errors; who may call it.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE sim_customers (id int PRIMARY KEY, email text, plan text,
                            unsubscribed boolean NOT NULL DEFAULT false,
                            touched boolean NOT NULL DEFAULT false);
INSERT INTO sim_customers
  SELECT g, 'c' || g || '@x.test', CASE WHEN g % 3 = 0 THEN 'pro' ELSE 'free' END, g % 7 = 0
    FROM generate_series(1, 30) g;
SELECT journey.register_audience('sim_customers', 'id', 'email');
-- A call step's function with a side effect: a simulation must not call it.
CREATE TABLE sim_calls (id serial PRIMARY KEY, customer_id text);
CREATE FUNCTION sim_score(customer_id text, context jsonb) RETURNS jsonb LANGUAGE sql AS
  $$ INSERT INTO public.sim_calls (customer_id) VALUES (customer_id) RETURNING jsonb_build_object('score', 5) $$;
-- A delay, a field update, a call (which declares what a simulation takes for
-- its result: what the function returns), a condition (on that result too), a
-- split, sends, a wait for an event with a timeout, a goal, an exit step and a
-- named exit rule.
SELECT journey.import($${"name": "sim-trip", "audience": "sim_customers", "start": "hello",
  "entry": [{"type": "event", "event": "sim_joined"}],
  "exit": [{"type": "condition", "name": "unsubscribed",
            "when": {"field": "unsubscribed", "op": "eq", "value": true}}],
  "steps": [{"key": "hello", "type": "send", "channel": "sim", "payload": {"n": 1}, "next": "pause"},
            {"key": "pause", "type": "delay", "duration": "1 day", "next": "mark"},
            {"key": "mark", "type": "update_field", "set": {"touched": true}, "next": "score"},
            {"key": "score", "type": "call", "function": "public.sim_score", "next": "is_pro",
             "simulate_result": {"score": 5}},
            {"key": "is_pro", "type": "condition",
             "if": {"all": [{"field": "plan", "op": "eq", "value": "pro"},
                            {"field": "context.score", "op": "gte", "value": 5}]},
             "branches": {"yes": "ab", "no": "listen"}},
            {"key": "ab", "type": "split", "variants": [{"name": "control", "weight": 1},
                                                        {"name": "offer", "weight": 1}],
             "branches": {"control": "listen", "offer": "promo"}},
            {"key": "promo", "type": "send", "channel": "sim", "payload": {"n": 2}, "next": "listen"},
            {"key": "listen", "type": "wait_for_event", "event": "clicked", "timeout": "2 days",
             "branches": {"event": "won", "timeout": "bye"}},
            {"key": "won", "type": "goal"},
            {"key": "bye", "type": "exit"}]}$$) > 0 AS imported;

-- Everything a simulation could leave behind: the rows of every table of
-- schemas journey and public (the audience's rows by content), and every
-- sequence of the database.
CREATE FUNCTION sim_state() RETURNS TABLE (what text, value text) LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c
            WHERE c.relnamespace IN ('journey'::regnamespace, 'public'::regnamespace)
              AND c.relkind IN ('r', 'p') ORDER BY 1 LOOP
    what := 'rows of ' || r.rel;
    EXECUTE format('SELECT count(*)::text FROM %s', r.rel) INTO value;
    RETURN NEXT;
  END LOOP;
  what := 'content of sim_customers';
  SELECT md5(string_agg(c::text, ',' ORDER BY c.id)) INTO value FROM sim_customers c;
  RETURN NEXT;
  what := 'journeys and versions';
  SELECT string_agg(concat_ws(' ', j.name, j.state, j.published_version, v.version, v.status,
                              v.definition IS NULL), ', ' ORDER BY j.id, v.version) INTO value
    FROM journey.journeys j JOIN journey.versions v ON v.journey_id = j.id;
  RETURN NEXT;
  FOR r IN SELECT s.schemaname, s.sequencename, s.last_value FROM pg_sequences s ORDER BY 1, 2 LOOP
    what := format('sequence %s.%s', r.schemaname, r.sequencename);
    value := coalesce(r.last_value::text, 'not called');
    RETURN NEXT;
  END LOOP;
END
$$;

-- The engine's clock as a simulation moves it: from now() through every time
-- an enrollment of the journey falls due, up to now() + horizon, each time
-- ticked until nothing is due. Returns the times (from now()) it ran at.
CREATE FUNCTION sim_run_for_real(journey_name text, horizon interval) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  t timestamptz := now();
  t_next timestamptz;
  times text[] := '{}';
BEGIN
  LOOP
    WHILE journey.run_due(1000, t) > 0 LOOP END LOOP;
    times := times || (t - now())::text;
    SELECT min(e.next_run_at) INTO t_next
      FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
     WHERE j.name = journey_name AND e.status = 'active';
    EXIT WHEN t_next IS NULL OR t_next > now() + horizon;
    t := t_next;
  END LOOP;
  RETURN array_to_string(times, ', ');
END
$$;

-------------------------------------------------------------------------------
-- The draft, simulated, then run for real on the same data and clock (one
-- transaction: the same now()).
BEGIN;
CREATE TEMP TABLE state_before AS SELECT * FROM sim_state();
SELECT count(*) > 30 AS many_things_watched FROM state_before;
CREATE TEMP TABLE predicted AS
  SELECT * FROM journey.simulate('sim-trip', 'SELECT id FROM sim_customers WHERE id <= 20', '5 days')
    WITH ORDINALITY;
SELECT step_key, step_type, entered, now_at, moved, completed, exited, converted, failed,
       median_time, p90_time FROM predicted ORDER BY ordinality;
-- Nothing is left: every table's rows, the audience's content (the field
-- update), the journey still a draft, every sequence as it was; no message,
-- no call.
SELECT b.what, b.value AS before, a.value AS after
  FROM state_before b FULL JOIN sim_state() a ON a.what = b.what
 WHERE a.value IS DISTINCT FROM b.value;
SELECT count(*) AS messages FROM journey.messages m
  JOIN journey.journeys j ON j.id = m.journey_id AND j.name = 'sim-trip';
SELECT count(*) AS calls FROM sim_calls;
SELECT name, state, published_version FROM journey.journeys WHERE name = 'sim-trip';
-- The real run.
SELECT journey.publish('sim-trip') AS version;
SELECT journey.enroll_query('sim-trip', 'SELECT id FROM sim_customers WHERE id <= 20') AS enrolled;
SELECT sim_run_for_real('sim-trip', '5 days') AS ticked_at;
-- Row by row, the prediction is the real funnel (both ways: no row of one is
-- missing from the other).
SELECT count(*) AS rows_compared FROM journey.funnel('sim-trip');
(SELECT * FROM journey.funnel('sim-trip') WITH ORDINALITY EXCEPT SELECT * FROM predicted)
UNION ALL
(SELECT * FROM predicted EXCEPT SELECT * FROM journey.funnel('sim-trip') WITH ORDINALITY);
-- The real run sent and called; the enrollment ids it got are the ones the
-- simulation had used and given back.
SELECT count(*) AS messages FROM journey.messages m
  JOIN journey.journeys j ON j.id = m.journey_id AND j.name = 'sim-trip';
SELECT count(*) AS calls FROM sim_calls;
SELECT min(e.id) = coalesce((SELECT b.value FROM state_before b
                              WHERE b.what = 'sequence journey.enrollments_id_seq'
                                AND b.value <> 'not called')::bigint, 0) + 1 AS ids_given_back
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'sim-trip';
COMMIT;

-------------------------------------------------------------------------------
-- The live version (no draft now): the horizon stops the clock. Customers
-- already in the journey are not enrolled again (re-entry "never"), as a real
-- enrollment would not be.
SELECT step_key, entered, now_at, moved, exited
  FROM journey.simulate('sim-trip', 'SELECT id FROM sim_customers WHERE id BETWEEN 15 AND 30', '12 hours');
-- Real enrollments in flight are neither advanced nor counted by a simulation
-- of their version; the simulation's run is its own.
SELECT journey.enroll_query('sim-trip', 'SELECT id FROM sim_customers WHERE id BETWEEN 21 AND 25') AS enrolled;
CREATE TEMP TABLE in_flight AS
  SELECT e.id, e.step_key, e.next_run_at, e.visits, e.xmin::text AS row_version FROM journey.enrollments e
    JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'sim-trip' WHERE e.status = 'active';
DROP TABLE state_before;
CREATE TEMP TABLE state_before AS SELECT * FROM sim_state();
SELECT step_key, entered, now_at, moved, exited, converted
  FROM journey.simulate('sim-trip', 'SELECT id FROM sim_customers WHERE id BETWEEN 21 AND 30', '5 days',
                        version => 1);
SELECT count(*) AS unchanged_in_flight FROM in_flight f
  JOIN journey.enrollments e ON e.id = f.id AND e.step_key = f.step_key
   AND e.next_run_at = f.next_run_at AND e.visits = f.visits AND e.xmin::text = f.row_version;
SELECT b.what, b.value AS before, a.value AS after
  FROM state_before b FULL JOIN sim_state() a ON a.what = b.what
 WHERE a.value IS DISTINCT FROM b.value;
DROP TABLE state_before;

-- A new draft: simulated before it is published, the live version untouched.
SELECT count(*) AS issues FROM journey.set_step_config('sim-trip', 'pause', '{"duration": "3 days"}');
SELECT step_key, entered, now_at, moved
  FROM journey.simulate('sim-trip', 'SELECT id FROM sim_customers WHERE id BETWEEN 26 AND 30', '2 days')
 WHERE step_key IN ('hello', 'pause');
SELECT v.version, v.status FROM journey.versions v
  JOIN journey.journeys j ON j.id = v.journey_id AND j.name = 'sim-trip' ORDER BY v.version;
-- The draft, published later, runs its own definition (nothing of the
-- simulation's compiled draft is kept).
SELECT count(*) AS issues FROM journey.set_step_config('sim-trip', 'pause', '{"duration": "4 days"}');
SELECT step_key, entered, now_at, moved
  FROM journey.simulate('sim-trip', 'SELECT id FROM sim_customers WHERE id BETWEEN 26 AND 30', '3 days 12 hours')
 WHERE step_key IN ('hello', 'pause');

-------------------------------------------------------------------------------
-- Errors.
SELECT try($$SELECT * FROM journey.simulate('no-such-journey', 'SELECT 1', '1 day')$$);
SELECT try($$SELECT * FROM journey.simulate(NULL, 'SELECT 1', '1 day')$$);
SELECT try($$SELECT * FROM journey.simulate('sim-trip', 'SELECT 1', '-1 day')$$);
SELECT try($$SELECT * FROM journey.simulate('sim-trip', 'SELECT 1', '0 seconds')$$);
SELECT try($$SELECT * FROM journey.simulate('sim-trip', 'SELECT 1', NULL)$$);
SELECT try($$SELECT * FROM journey.simulate('sim-trip', NULL, '1 day')$$);
SELECT try($$SELECT * FROM journey.simulate('sim-trip', 'SELECT id FROM no_such_table', '1 day')$$);
SELECT try($$SELECT * FROM journey.simulate('sim-trip', 'customers of plan pro', '1 day')$$);
SELECT try($$SELECT * FROM journey.simulate('sim-trip', 'SELECT 1', '1 day', version => 99)$$);
-- What the customers query writes is rolled back too.
CREATE FUNCTION sim_forget() RETURNS boolean LANGUAGE sql AS
  $$ DELETE FROM public.sim_calls; SELECT true $$;
SELECT count(*) AS calls_before FROM sim_calls;
SELECT step_key, entered FROM journey.simulate('sim-trip',
  'SELECT id FROM sim_customers WHERE id = 30 AND sim_forget()', '1 hour')
 WHERE entered > 0;
SELECT count(*) AS calls_kept FROM sim_calls;
BEGIN READ ONLY;
SELECT try($$SELECT * FROM journey.simulate('sim-trip', 'SELECT 1', '1 day')$$);
ROLLBACK;
-- A draft with an error is refused, naming it.
SELECT count(*) AS issues FROM journey.set_step_config('sim-trip', 'score', '{"function": "public.no_such_function"}');
SELECT try($$SELECT * FROM journey.simulate('sim-trip', 'SELECT 1', '1 day')$$);
SELECT journey.discard_draft('sim-trip');
-- A call step that declares no simulate_result leaves the context as it is:
-- the condition on the score it would have returned says no to everyone.
SELECT count(*) AS issues FROM journey.set_step_config('sim-trip', 'score', '{"function": "public.sim_score"}');
SELECT step_key, entered, moved
  FROM journey.simulate('sim-trip', 'SELECT id FROM sim_customers WHERE id BETWEEN 26 AND 30', '5 days')
 WHERE step_key IN ('score', 'is_pro');
SELECT journey.discard_draft('sim-trip');

-------------------------------------------------------------------------------
-- Privileges: the same as journey.funnel's (journey_reader). The customers
-- query runs as the caller.
SELECT r.rolname,
       has_function_privilege(r.rolname, 'journey.simulate(text, text, interval, int)', 'EXECUTE') AS simulate,
       has_function_privilege(r.rolname, 'journey.funnel(text, timestamptz, timestamptz, int)', 'EXECUTE') AS funnel
  FROM (VALUES ('public'), ('journey_reader'), ('journey_app'), ('journey_admin')) r(rolname);
CREATE ROLE sim_analyst IN ROLE journey_reader;
CREATE ROLE sim_stranger;
GRANT SELECT, UPDATE ON sim_customers TO sim_analyst;
GRANT SELECT ON sim_customers TO sim_stranger;
SET ROLE sim_analyst;
SELECT step_key, entered FROM journey.simulate('sim-trip', 'SELECT id FROM sim_customers WHERE id = 30', '1 hour')
 WHERE entered > 0;
SELECT try($$SELECT * FROM journey.simulate('sim-trip', 'SELECT id FROM sim_calls', '1 hour')$$);
RESET ROLE;
SET ROLE sim_stranger;
SELECT try($$SELECT * FROM journey.simulate('sim-trip', 'SELECT 30', '1 hour')$$);
SELECT try($$SELECT journey._simulate(1, '{30}', '1 hour', NULL)$$);
RESET ROLE;
-- The simulation reads the audience, and writes it through update_field steps
-- ('mark'), as the journey's owner: the reader needs those privileges on the
-- table itself (and may not call _simulate directly).
REVOKE UPDATE ON sim_customers FROM sim_analyst;
SET ROLE sim_analyst;
SELECT try($$SELECT * FROM journey.simulate('sim-trip', 'SELECT 30', '1 hour')$$);
RESET ROLE;
REVOKE SELECT ON sim_customers FROM sim_analyst;
SET ROLE sim_analyst;
SELECT try($$SELECT * FROM journey.simulate('sim-trip', 'SELECT 30', '1 hour')$$);
SELECT try($$SELECT journey._simulate((SELECT id FROM journey.journeys WHERE name = 'sim-trip'),
                                      '{30}', '1 hour', NULL)$$);
RESET ROLE;
REVOKE ALL ON sim_customers FROM sim_analyst, sim_stranger;
DROP ROLE sim_analyst;
DROP ROLE sim_stranger;

-- Reading the sequences' values locks no sequence against nextval, ALTER
-- SEQUENCE or another simulation putting its own back: sim_calls' serial, which
-- the simulation never advances, holds no ROW EXCLUSIVE lock afterwards.
BEGIN;
SELECT count(*) > 0 AS funnel_rows FROM journey.simulate('sim-trip', 'SELECT 30', '1 hour');
SELECT count(*) AS locks_on_an_untouched_sequence FROM pg_locks l
 WHERE l.pid = pg_backend_pid() AND l.relation = 'sim_calls_id_seq'::regclass
   AND l.mode = 'RowExclusiveLock';
COMMIT;

-- An archived journey cannot be simulated.
SELECT journey.archive('sim-trip');
SELECT try($$SELECT * FROM journey.simulate('sim-trip', 'SELECT 1', '1 day')$$);
