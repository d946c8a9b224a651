-- The demo journey: a welcome series, authored the way an application would.
\set SHOW_CONTEXT never
\pset footer off
\echo '== install the extension'
CREATE EXTENSION pg_journey;

\echo '== a customer table, registered as an audience'
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, first_name text,
                        plan text NOT NULL DEFAULT 'free', unsubscribed boolean NOT NULL DEFAULT false);
INSERT INTO customers VALUES (1, 'ada@example.com', 'Ada', 'free', false),
                             (2, 'alan@example.com', 'Alan', 'pro', false);
SELECT journey.register_audience('customers', 'id', email_column => 'email');

\echo '== templates with merge tags'
SELECT journey.create_template('welcome', 'email', 'Welcome, {{first_name | default: "there"}}!', 'Glad you joined.');
SELECT journey.create_template('tips', 'email', 'Three tips', 'Here is how to get going.');
SELECT journey.create_template('nudge', 'email', 'Still there, {{first_name}}?', 'We miss you.');

\echo '== author step by step'
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
SELECT * FROM journey.validate('welcome-series');
\set ON_ERROR_STOP 0
SELECT journey.publish('welcome-series');
\set ON_ERROR_STOP 1
SELECT journey.remove_step('welcome-series', 'upsell');

\echo '== publish: version 1 is frozen and live'
SELECT journey.publish('welcome-series') AS published_version;
SELECT name, state, published_version, settings FROM journey.journeys;

\echo '== the journey as JSON (journey.export), ready to be kept in git and imported elsewhere'
SELECT jsonb_pretty(journey.export('welcome-series')) AS definition;

\echo '== the first edit after a publish starts draft version 2; version 1 stays live'
SELECT journey.add_step('welcome-series', 'thanks', 'send_email', '{"template": "tips"}');
SELECT journey.connect('welcome-series', 'tips', 'thanks');
SELECT v.version, v.status, count(s.key) AS steps
  FROM journey.versions v JOIN journey.journeys j ON j.id = v.journey_id
  LEFT JOIN journey.steps s ON s.journey_id = v.journey_id AND s.version = v.version
 GROUP BY 1, 2 ORDER BY 1;
SELECT journey.publish('welcome-series') AS published_version;
SELECT journey.pause('welcome-series');
SELECT name, state, published_version FROM journey.journeys;
