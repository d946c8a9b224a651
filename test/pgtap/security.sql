-- Security and robustness contracts: nobody gets more than their own
-- privileges through a journey, and the engine's own statements cannot be
-- steered by user code.
BEGIN;
SELECT plan(21);

CREATE ROLE sec_mallory IN ROLE journey_admin;
CREATE ROLE sec_app IN ROLE journey_app;
CREATE TABLE public.sec_customers (id int PRIMARY KEY, email text, plan text, is_admin boolean DEFAULT false);
INSERT INTO public.sec_customers (id, email, plan) VALUES (1, 'a@x.test', 'free'), (2, 'b@x.test', 'free');
GRANT SELECT ON public.sec_customers TO sec_mallory;
SELECT journey.register_audience('public.sec_customers', 'id', 'email');
SELECT journey.create_template('sec_t', 'email', 's', 'b');

-- A function that would make its caller a superuser, and one that changes the
-- session's settings.
CREATE FUNCTION public.sec_escalate(customer_id text, context jsonb) RETURNS jsonb
  LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'ALTER ROLE sec_mallory SUPERUSER'; RETURN '{}'; END $$;
CREATE FUNCTION public.sec_set_path(customer_id text, context jsonb) RETURNS jsonb
  LANGUAGE plpgsql AS $$ BEGIN PERFORM set_config('search_path', 'sec_nowhere', false);
                          PERFORM set_config('work_mem', '77kB', false); RETURN '{}'; END $$;
CREATE FUNCTION public.sec_nested(customer_id text, context jsonb) RETURNS jsonb
  LANGUAGE plpgsql AS $$ BEGIN PERFORM journey.run_due(); RETURN '{}'; END $$;

-- 1. A superuser's journey edited and published by an admin runs as that admin.
SELECT journey.create_journey('sec-su', 'public.sec_customers');
SET ROLE sec_mallory;
SELECT throws_ok($$SELECT journey.register_audience('public.sec_customers', 'id', 'plan')$$, '42501',
                 NULL, 'registering an audience needs TRIGGER on the table');
SELECT lives_ok($$SELECT journey.add_step('sec-su', 'x', 'call', '{"function": "public.sec_escalate"}')$$,
                'an admin edits a journey another role created');
SELECT lives_ok($$SELECT journey.publish('sec-su')$$, 'and publishes it');
RESET ROLE;
SELECT is((SELECT owner::text FROM journey.journeys WHERE name = 'sec-su'), 'sec_mallory',
          'the role that publishes owns the live version');
SET ROLE sec_app;
SELECT lives_ok($$SELECT journey.enroll('sec-su', '1'); SELECT journey.run_due(10)$$,
                'an app runs the journey');
RESET ROLE;
SELECT ok(NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'sec_mallory'),
          'the call step ran with the publisher''s privileges: no escalation');
SELECT matches((SELECT last_error FROM journey.enrollments e JOIN journey.journeys j
                  ON j.id = e.journey_id WHERE j.name = 'sec-su'),
               'permission denied|must be superuser|privilege',
               'the enrollment records why its call step failed');

-- 2. update_field is checked against the publisher's column privileges: the
-- publisher may update plan (a column grant) but not is_admin.
CREATE FUNCTION pg_temp.failure_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; det text;
BEGIN
  EXECUTE statement;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, det = PG_EXCEPTION_DETAIL;
  RETURN st || ': ' || det;
END $$;
GRANT UPDATE (plan) ON public.sec_customers TO sec_mallory;
SET ROLE sec_mallory;
SELECT journey.create_journey('sec-upd', 'public.sec_customers');
SELECT journey.add_step('sec-upd', 'u', 'update_field', '{"set": {"is_admin": true}}');
SELECT is(pg_temp.failure_of($$SELECT journey.publish('sec-upd')$$),
          '22023: u: journey owner sec_mallory may not update column "is_admin" of public.sec_customers',
          'a field update of a column the publisher may not update is refused at publish');
SELECT journey.create_journey('sec-upd-ok', 'public.sec_customers');
SELECT journey.add_step('sec-upd-ok', 'u', 'update_field', '{"set": {"plan": "gold"}}');
SELECT lives_ok($$SELECT journey.publish('sec-upd-ok')$$,
                'a field update of the column the publisher was granted is published');
RESET ROLE;
SELECT journey.enroll('sec-upd-ok', '2');
SELECT journey.run_due(10);
SELECT is((SELECT plan || '/' || is_admin FROM public.sec_customers WHERE id = 2), 'gold/false',
          'and runs: the granted column is updated, nothing else');

-- 3. User code cannot leave settings behind, nor start a tick inside a tick.
SELECT journey.import('{"name": "sec-path", "audience": "public.sec_customers", "start": "p",
  "steps": [{"key": "p", "type": "call", "function": "public.sec_set_path", "next": "n"},
            {"key": "n", "type": "call", "function": "public.sec_nested"}]}');
SELECT journey.publish('sec-path');
SELECT journey.enroll('sec-path', '2');
CREATE TEMP TABLE sec_before AS
  SELECT current_setting('search_path') AS search_path, current_setting('work_mem') AS work_mem;
SELECT journey.run_due(10);
SELECT is(current_setting('search_path'), (SELECT search_path FROM sec_before), 'search_path is what it was');
SELECT is(current_setting('work_mem'), (SELECT work_mem FROM sec_before), 'work_mem is what it was');
SELECT matches((SELECT last_error FROM journey.enrollments e JOIN journey.journeys j
                  ON j.id = e.journey_id WHERE j.name = 'sec-path'),
               'cannot run inside a running tick', 'a call step cannot start a nested tick');

-- 3b. User code run by a tick cannot publish (it would speak for the session's role).
CREATE FUNCTION public.sec_publisher(customer_id text, context jsonb) RETURNS jsonb
  LANGUAGE plpgsql AS $$ BEGIN PERFORM journey.publish('sec-su'); RETURN '{}'; END $$;
SELECT journey.import('{"name": "sec-carrier", "audience": "public.sec_customers", "start": "c",
  "steps": [{"key": "c", "type": "call", "function": "public.sec_publisher"}]}');
SELECT journey.publish('sec-carrier');
SELECT journey.enroll('sec-carrier', '1');
SELECT journey.run_due(10);
SELECT matches((SELECT last_error FROM journey.enrollments e JOIN journey.journeys j
                  ON j.id = e.journey_id WHERE j.name = 'sec-carrier'),
               'on another role''s behalf', 'a call step cannot publish a journey');

-- 3c. An older version keeps running with the privileges of the role that
-- published it, not of whoever published the latest version.
SET ROLE sec_mallory;
SELECT journey.import('{"name": "sec-old", "audience": "public.sec_customers", "start": "d",
  "steps": [{"key": "d", "type": "delay", "duration": "1 day", "next": "x"},
            {"key": "x", "type": "call", "function": "public.sec_escalate"}]}');
SELECT journey.publish('sec-old');
RESET ROLE;
SELECT journey.enroll('sec-old', '2');
SELECT journey.run_due(10);
SELECT journey.remove_step('sec-old', 'x');
SELECT journey.publish('sec-old');
SELECT is((SELECT v.owner::text FROM journey.versions v JOIN journey.journeys j ON j.id = v.journey_id
            WHERE j.name = 'sec-old' AND v.version = 1), 'sec_mallory', 'each version records who published it');
SELECT journey.run_due(10, now() + interval '2 days');
SELECT ok(NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'sec_mallory'),
          'version 1 ran with its own publisher''s privileges');
SELECT matches((SELECT last_error FROM journey.enrollments e JOIN journey.journeys j
                  ON j.id = e.journey_id WHERE j.name = 'sec-old'),
               'must be superuser|permission denied', 'and its call step was refused for that reason');

-- 3d. A trigger on the customer table, fired by the engine's field update,
-- cannot author journeys either.
CREATE FUNCTION public.sec_author() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM journey.create_journey('sec-sneaky', 'public.sec_customers'); RETURN NEW; END $$;
CREATE TRIGGER sec_author AFTER UPDATE OF plan ON public.sec_customers
  FOR EACH ROW EXECUTE FUNCTION public.sec_author();
SELECT journey.import('{"name": "sec-upd2", "audience": "public.sec_customers", "start": "u",
  "steps": [{"key": "u", "type": "update_field", "set": {"plan": "pro"}}]}');
SELECT journey.publish('sec-upd2');
SELECT journey.enroll('sec-upd2', '1');
SELECT journey.run_due(10);
SELECT matches((SELECT last_error FROM journey.enrollments e JOIN journey.journeys j
                  ON j.id = e.journey_id WHERE j.name = 'sec-upd2'),
               'on another role''s behalf', 'a trigger fired by a field update cannot create journeys');
DROP TRIGGER sec_author ON public.sec_customers;

-- 4. A real cancel (here a statement timeout) during a step ends the tick; a
-- step that merely raises the same SQLSTATE is that enrollment's failure.
CREATE FUNCTION public.sec_slow(customer_id text, context jsonb) RETURNS jsonb
  LANGUAGE sql AS $$ SELECT pg_sleep(2); SELECT '{}'::jsonb $$;
CREATE FUNCTION public.sec_fake_cancel(customer_id text, context jsonb) RETURNS jsonb
  LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'not a real cancel' USING ERRCODE = 'query_canceled'; END $$;
SELECT journey.import('{"name": "sec-slow", "audience": "public.sec_customers", "start": "s",
  "steps": [{"key": "s", "type": "call", "function": "public.sec_slow"}]}');
SELECT journey.import('{"name": "sec-fake", "audience": "public.sec_customers", "start": "s",
  "steps": [{"key": "s", "type": "call", "function": "public.sec_fake_cancel"}]}');
SELECT journey.publish('sec-slow'), journey.publish('sec-fake');
SELECT journey.enroll('sec-fake', '1');
SELECT journey.run_due(10);
SELECT is((SELECT attempts FROM journey.enrollments e JOIN journey.journeys j
            ON j.id = e.journey_id WHERE j.name = 'sec-fake'), 1,
          'a raised query_canceled is charged to its enrollment');
SELECT journey.enroll('sec-slow', '1');
CREATE FUNCTION pg_temp.tick_outcome() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM journey.run_due(10);
  RETURN 'completed';
EXCEPTION WHEN query_canceled THEN
  RETURN 'cancelled';
END $$;
SET statement_timeout = '300ms';
SELECT pg_temp.tick_outcome() AS outcome \gset
RESET statement_timeout;
SELECT is(:'outcome'::text, 'cancelled'::text, 'a statement timeout during a step cancels the tick');
SELECT journey.run_due(10);
SELECT matches((SELECT last_error FROM journey.enrollments e JOIN journey.journeys j
                  ON j.id = e.journey_id WHERE j.name = 'sec-slow'),
               'cancelled while running step s',
               'the next tick charges the cancelled step, so it cannot stall every tick');

SELECT * FROM finish();
ROLLBACK;
