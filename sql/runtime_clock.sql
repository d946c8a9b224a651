-- run_due's as_of moves the clock of every journey (a later time skips delays,
-- an earlier one shortens them), so only superusers and members of
-- journey_admin may pass another time than now; journey_app runs ticks at now.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE ROLE rc_app IN ROLE journey_app;
CREATE ROLE rc_admin IN ROLE journey_admin;
CREATE ROLE rc_nobody;
CREATE TABLE rc_customers (id int PRIMARY KEY, email text);
INSERT INTO rc_customers VALUES (1, 'a@x.test');
SELECT journey.register_audience('rc_customers', 'id', 'email');
SELECT journey.create_template('rc_t', 'email', 'T', 'Later');
SELECT journey.import($${"name": "rc-delay", "audience": "rc_customers", "start": "wait",
  "steps": [{"key": "wait", "type": "delay", "duration": "3 days", "next": "send"},
            {"key": "send", "type": "send_email", "template": "rc_t"}]}$$) > 0 AS imported;
SELECT journey.publish('rc-delay');
SELECT journey.enroll('rc-delay', '1') > 0 AS enrolled;
CREATE VIEW rc_state AS
  SELECT e.customer_id, e.status, e.step_key FROM journey.enrollments e
    JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'rc-delay';

SET ROLE rc_app;
-- Now (the default, now() itself, the wall clock) is everyone's.
SELECT journey.run_due(100) AS parked;
SELECT journey.run_due(100, now()) AS at_now,
       journey.run_due(100, clock_timestamp()) AS at_clock,
       journey.run_due(100, NULL) AS at_null;
-- Any other time is refused, later or earlier.
SELECT try($$SELECT journey.run_due(100, now() + interval '3 days')$$);
SELECT try($$SELECT journey.run_due(100, now() - interval '1 day')$$);
RESET ROLE;
SELECT * FROM rc_state;

-- A member of journey_admin moves the clock (as tests and administrators do).
SET ROLE rc_admin;
SELECT journey.run_due(100, now() + interval '3 days') AS crossed;
RESET ROLE;
SELECT * FROM rc_state;

-- Without EXECUTE, run_due is not callable at all.
SET ROLE rc_nobody;
SELECT try($$SELECT journey.run_due(100)$$);
RESET ROLE;

SELECT journey.archive('rc-delay');
SELECT journey.drop_journey('rc-delay');
SELECT journey.unregister_audience('rc_customers');
DROP ROLE rc_app, rc_admin, rc_nobody;
