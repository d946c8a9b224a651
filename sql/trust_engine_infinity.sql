-- 'infinity' and '-infinity' in timestamp and date columns (issue 8, item 5): a
-- tick decodes only the columns a journey reads, and every conversion keeps
-- ±infinity: conditions compare it like PostgreSQL does, templates render it,
-- a delay until an infinite date never fires (-infinity: at once).
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE te_dates (id int PRIMARY KEY, email text, trial_end timestamptz, birthday date,
                       seen timestamp, plan text);
INSERT INTO te_dates VALUES
  (1, 'inf@x.test', 'infinity', '-infinity', 'infinity', 'free'),
  (2, 'fin@x.test', ref_time('2030-06-01 00:00+00'), '1990-05-17', '2020-01-01 00:00', 'free');
SELECT journey.register_audience('te_dates', 'id', 'email');
SELECT journey.create_template('te_inf_hi', 'email', 'Hi', 'Hello {{email}}');
SELECT journey.create_template('te_inf_show', 'email', 'Trial', 'until {{trial_end}}, born {{birthday}}');

CREATE VIEW te_inf_state AS
  SELECT j.name, e.customer_id AS who, e.status, e.step_key, e.attempts, e.last_error,
         CASE WHEN e.next_run_at IS NULL THEN 'never'
              WHEN e.next_run_at < ref_time('2030-01-01 00:00+00') THEN 'now'
              ELSE ref_shown(e.next_run_at)::text END AS due
    FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
   WHERE j.audience = 'te_dates'::regclass
   ORDER BY j.name, e.customer_id;

-- A journey that never reads the infinite columns runs for that customer.
SELECT journey.import($${"name": "te-inf-plain", "audience": "te_dates", "start": "a",
  "steps": [{"key": "a", "type": "send_email", "template": "te_inf_hi"}]}$$) > 0 AS imported;
SELECT journey.publish('te-inf-plain');
SELECT journey.enroll_query('te-inf-plain', 'SELECT id FROM te_dates');
SELECT journey.run_due(1000, ref_time('2030-01-01 00:00+00')) AS processed;

-- Conditions compare against ±infinity; templates render it.
SELECT journey.import($${"name": "te-inf-cond", "audience": "te_dates", "start": "late",
  "steps": [{"key": "late", "type": "condition",
             "if": {"field": "trial_end", "op": "gt", "value": "2100-01-01"},
             "branches": {"yes": "old", "no": "plain"}},
            {"key": "old", "type": "condition",
             "if": {"all": [{"field": "birthday", "op": "lt", "value": "0001-01-01"},
                            {"field": "seen", "op": "eq", "value": "infinity"},
                            {"field": "trial_end", "op": "gte", "value": "infinity"}]},
             "branches": {"yes": "show", "no": "plain"}},
            {"key": "show", "type": "send_email", "template": "te_inf_show"},
            {"key": "plain", "type": "send_email", "template": "te_inf_hi"}]}$$) > 0 AS imported;
SELECT journey.publish('te-inf-cond');
SELECT journey.enroll_query('te-inf-cond', 'SELECT id FROM te_dates');
SELECT journey.run_due(1000, ref_time('2030-01-01 00:00+00')) AS processed;
SELECT m.customer_id, m.step_key, m.payload->>'body' AS body
  FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
 WHERE j.name IN ('te-inf-plain', 'te-inf-cond') ORDER BY j.name, m.customer_id;

-- A delay until an infinite date never fires (the enrollment stays parked,
-- with no due time); until -infinity it is over at once.
SELECT journey.import($${"name": "te-inf-wait", "audience": "te_dates", "start": "trial",
  "steps": [{"key": "trial", "type": "delay", "until_field": "trial_end", "offset": "-1 day",
             "next": "born"},
            {"key": "born", "type": "delay", "until_field": "birthday", "next": "done"},
            {"key": "done", "type": "send_email", "template": "te_inf_hi"}]}$$) > 0 AS imported;
SELECT journey.publish('te-inf-wait');
SELECT journey.enroll_query('te-inf-wait', 'SELECT id FROM te_dates');
SELECT journey.run_due(1000, ref_time('2030-01-01 00:00+00')) AS processed;
SELECT * FROM te_inf_state WHERE name = 'te-inf-wait';
SELECT journey.run_due(1000, ref_time('2200-01-01 00:00+00')) AS processed;
SELECT * FROM te_inf_state WHERE name = 'te-inf-wait';

-- Field updates may write infinity, and the steps after them read it.
SELECT journey.import($${"name": "te-inf-set", "audience": "te_dates", "start": "set",
  "steps": [{"key": "set", "type": "update_field", "set": {"trial_end": "-infinity"}, "next": "over"},
            {"key": "over", "type": "condition",
             "if": {"field": "trial_end", "op": "lt", "value": "1900-01-01"},
             "branches": {"yes": "done"}},
            {"key": "done", "type": "send_email", "template": "te_inf_show"}]}$$) > 0 AS imported;
SELECT journey.publish('te-inf-set');
SELECT journey.enroll('te-inf-set', '2') > 0 AS enrolled;
SELECT journey.run_due(1000, ref_time('2030-01-01 00:00+00')) AS processed;
SELECT id, CASE WHEN isfinite(trial_end) THEN ref_shown(trial_end)::text ELSE trial_end::text END AS trial_end
  FROM te_dates ORDER BY id;
SELECT m.payload->>'body' AS body FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
 WHERE j.name = 'te-inf-set';

-- The customer-table triggers decode ±infinity too: an attribute entry trigger
-- fires when a date becomes infinity, and a date of -infinity is not "after".
SELECT journey.import($${"name": "te-inf-attr", "audience": "te_dates", "start": "a",
  "entry": [{"type": "attribute", "when": {"field": "seen", "op": "gt", "value": "2100-01-01"}}],
  "steps": [{"key": "a", "type": "send_email", "template": "te_inf_hi"}]}$$) > 0 AS imported;
SELECT journey.publish('te-inf-attr');
UPDATE te_dates SET seen = 'infinity' WHERE id = 2;
UPDATE te_dates SET seen = '-infinity' WHERE id = 1;
SELECT * FROM te_inf_state WHERE name = 'te-inf-attr';

SELECT * FROM te_inf_state WHERE status <> 'completed' AND name <> 'te-inf-wait';
SELECT name, count(*) FILTER (WHERE status = 'completed') AS completed, count(*) AS enrolled
  FROM te_inf_state GROUP BY name ORDER BY name;

-- A yearly date trigger skips infinite dates instead of failing the whole run
-- (the entry trigger is added by hand: publishing one needs pg_cron, which
-- runs in another database; run_entry_trigger is what its job calls).
SELECT journey.import($${"name": "te-inf-birthday", "audience": "te_dates", "start": "a",
  "steps": [{"key": "a", "type": "send_email", "template": "te_inf_hi"}]}$$) > 0 AS imported;
SELECT journey.publish('te-inf-birthday');
UPDATE te_dates SET birthday = (now() - interval '30 years')::date WHERE id = 2;
UPDATE te_dates SET birthday = 'infinity' WHERE id = 1;
INSERT INTO journey.entry_triggers (journey_id, version, position, type, config)
SELECT j.id, 1, 1, 'date', '{"schedule": "0 9 * * *", "field": "birthday", "recurring": "yearly"}'
  FROM journey.journeys j WHERE j.name = 'te-inf-birthday';
SELECT journey.run_entry_trigger(j.id, 1) AS birthdays FROM journey.journeys j WHERE j.name = 'te-inf-birthday';
SELECT who, status FROM te_inf_state WHERE name = 'te-inf-birthday';

SELECT journey.archive(name) FROM journey.journeys WHERE name LIKE 'te-inf-%' ORDER BY name;
SELECT count(*) AS active_left FROM journey.enrollments WHERE status = 'active';
