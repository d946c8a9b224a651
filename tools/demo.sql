-- The demo journey: a welcome series, authored the way an application would.
\set SHOW_CONTEXT never
\pset footer off
\echo '== install the extension (the background workers run as journey_worker)'
CREATE EXTENSION pg_journey;
GRANT journey_app TO journey_worker;

\echo '== a customer table, registered as an audience'
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, first_name text,
                        plan text NOT NULL DEFAULT 'free', unsubscribed boolean NOT NULL DEFAULT false);
INSERT INTO customers VALUES (1, 'ada@example.com', 'Ada', 'free', false),
                             (2, 'alan@example.com', 'Alan', 'pro', false);
\o /dev/null
SELECT journey.register_audience('customers', 'id', email_column => 'email');
\o
SELECT relation, key_column, email_column FROM journey.audiences;

\echo '== templates with merge tags'
\o /dev/null
SELECT journey.create_template('welcome', 'email', 'Welcome, {{first_name | default: "there"}}!', 'Glad you joined.');
SELECT journey.create_template('tips', 'email', 'Three tips', 'Here is how to get going.');
SELECT journey.create_template('nudge', 'email', 'Still there, {{first_name}}?', 'We miss you.');
\o
SELECT name, channel, subject FROM journey.templates ORDER BY name;

\echo '== author step by step (create_journey, add_step, connect, add_entry_trigger, ...)'
\o /dev/null
SELECT journey.create_journey('welcome-series', 'customers', 'Onboarding e-mails for new sign-ups');
SELECT journey.add_step('welcome-series', 'welcome', 'send_email', '{"template": "welcome"}');
SELECT journey.add_step('welcome-series', 'wait', 'wait_for_event', '{"event": "email_opened", "timeout": "3 days"}');
SELECT journey.add_step('welcome-series', 'tips', 'send_email', '{"template": "tips"}');
SELECT journey.add_step('welcome-series', 'nudge', 'send_email', '{"template": "nudge"}');
SELECT journey.connect('welcome-series', 'welcome', 'wait');
SELECT journey.connect('welcome-series', 'wait', 'tips', 'event');
SELECT journey.connect('welcome-series', 'wait', 'nudge', 'timeout');
SELECT journey.add_entry_trigger('welcome-series', 'event', '{"event": "signed_up"}');
SELECT journey.add_exit_rule('welcome-series', 'condition', '{"when": {"field": "unsubscribed", "op": "eq", "value": true}}');
SELECT journey.set_settings('welcome-series', '{"reentry": "never", "timezone": "UTC"}');

\echo '== a mistake, caught by the validator before anything goes live'
SELECT journey.add_step('welcome-series', 'upsell', 'condition', '{"if": {"field": "plann", "op": "eq", "value": "pro"}}');
\o
SELECT * FROM journey.validate('welcome-series');
\set ON_ERROR_STOP 0
SELECT journey.publish('welcome-series');
\set ON_ERROR_STOP 1
\o /dev/null
SELECT journey.remove_step('welcome-series', 'upsell');
\o

\echo '== publish: version 1 is frozen and live'
SELECT journey.publish('welcome-series') AS published_version;
SELECT name, state, published_version, settings FROM journey.journeys;

\echo '== the journey as JSON (journey.export), ready to be kept in git and imported elsewhere'
SELECT jsonb_pretty(journey.export('welcome-series')) AS definition;

\echo '== the first edit after a publish starts draft version 2; version 1 stays live'
\o /dev/null
SELECT journey.add_step('welcome-series', 'thanks', 'send_email', '{"template": "tips"}');
SELECT journey.connect('welcome-series', 'tips', 'thanks');
\o
SELECT v.version, v.status, count(s.key) AS steps
  FROM journey.versions v JOIN journey.journeys j ON j.id = v.journey_id
  LEFT JOIN journey.steps s ON s.journey_id = v.journey_id AND s.version = v.version
 GROUP BY 1, 2 ORDER BY 1;
SELECT journey.publish('welcome-series') AS published_version;
SELECT name, state, published_version FROM journey.journeys;

\echo '== run it: a sign-up event enrolls the customer; the background worker sends at once'
SELECT journey.track('1', 'signed_up', '{"source": "web"}') IS NOT NULL AS tracked;
SELECT journey.track('2', 'signed_up', '{"source": "app"}') IS NOT NULL AS tracked;
SELECT pg_sleep(0.5);
SELECT customer_id, status, step_key, waiting_for FROM journey.enrollments ORDER BY customer_id;
\echo '== the outbox: an e-mail sender claims the rendered messages and reports delivery'
SELECT id, customer_id, payload->>'subject' AS subject, payload->>'to' AS "to"
  FROM journey.claim_messages('email', 10) ORDER BY customer_id;
SELECT count(*) AS delivered FROM (SELECT journey.complete_message(id, true)
                                     FROM journey.messages WHERE status = 'claimed') d;
\echo '== Ada opens the e-mail: her wait ends and the tips e-mail goes out within milliseconds'
SELECT journey.track('1', 'email_opened') IS NOT NULL AS tracked;
SELECT pg_sleep(0.5);
\echo '== Alan does not: three days later (engine clock moved with run_due as_of) he gets the nudge'
SELECT journey.run_due(100, now() + interval '3 days') AS advanced;
SELECT customer_id, step_key, branch, visit FROM journey.activity ORDER BY customer_id, visit;
SELECT customer_id, step_key, status, payload->>'subject' AS subject FROM journey.messages
 ORDER BY customer_id, visit;
\echo '== what an analyst sees'
SELECT name, version, enrolled, active, completed, messages_sent FROM journey.journey_overview;
SELECT step_key, entered, now_at, branches FROM journey.step_stats WHERE version = 2 ORDER BY step_key;
SELECT database, worker, application_name, state FROM journey.worker_status ORDER BY worker;
