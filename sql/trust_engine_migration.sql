-- publish(migrate => true) moves parked enrollments onto the new version's
-- step (issue 8, item 11): a wait follows the new event, where and timeout
-- (the deadline counted from when it arrived at the step), wait_until the new
-- condition, a delay the new duration; a step whose type changed is entered
-- afresh.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE te_mig (id int PRIMARY KEY, email text, plan text DEFAULT 'free');
INSERT INTO te_mig (id, email) SELECT g, 'g' || g || '@x.test' FROM generate_series(1, 6) g;
SELECT journey.register_audience('te_mig', 'id', 'email');
SELECT journey.create_template('te_mig_t', 'email', 'Hi', 'Hello {{email}}');

CREATE VIEW te_mig_state AS
  SELECT j.name, e.customer_id AS who, e.version, e.status, e.step_key, e.waiting_for,
         ref_shown(e.parked_at) AS parked_at, ref_shown(e.wait_deadline) AS wait_deadline,
         ref_shown(e.next_run_at) AS next_run_at, e.next_run_at <= now() AS due_now
    FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
   WHERE j.audience = 'te_mig'::regclass
   ORDER BY j.name, e.customer_id;
CREATE VIEW te_mig_visits AS
  SELECT j.name, a.customer_id AS who, a.version, a.step_key, a.branch, ref_shown(a.at) AS at
    FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id
   WHERE j.audience = 'te_mig'::regclass
   ORDER BY j.name, a.customer_id, a.visit;

-------------------------------------------------------------------------------
-- wait_for_event: v1 waits 3 days for "opened", v2 one day for a "clicked" on "buy".
SELECT journey.import($${"name": "te-mig-wait", "audience": "te_mig", "start": "w",
  "steps": [{"key": "w", "type": "wait_for_event", "event": "opened", "timeout": "3 days",
             "branches": {"event": "yes", "timeout": "late"}},
            {"key": "yes", "type": "send_email", "template": "te_mig_t"},
            {"key": "late", "type": "send_email", "template": "te_mig_t"}]}$$) > 0 AS imported;
SELECT journey.publish('te-mig-wait');
SELECT journey.enroll_query('te-mig-wait', 'SELECT id FROM te_mig WHERE id <= 4');
SELECT journey.run_due(1000, ref_time('2030-01-01 00:00+00')) AS processed;
SELECT who, version, step_key, waiting_for, parked_at, wait_deadline, next_run_at
  FROM te_mig_state WHERE name = 'te-mig-wait';

SELECT journey.import($${"name": "te-mig-wait", "audience": "te_mig", "start": "w",
  "steps": [{"key": "w", "type": "wait_for_event", "event": "clicked", "timeout": "1 day",
             "where": {"field": "event.link", "op": "eq", "value": "buy"},
             "branches": {"event": "yes", "timeout": "late"}},
            {"key": "yes", "type": "send_email", "template": "te_mig_t"},
            {"key": "late", "type": "send_email", "template": "te_mig_t"}]}$$) > 0 AS imported;
SELECT journey.publish('te-mig-wait', migrate => true);
SELECT who, version, step_key, waiting_for, wait_deadline, due_now
  FROM te_mig_state WHERE name = 'te-mig-wait';

-- The old event no longer wakes them; the new one does (with the new where).
SELECT journey.track('1', 'opened', audience => 'te_mig') > 0 AS tracked;
SELECT journey.track('2', 'clicked', '{"link": "buy"}', audience => 'te_mig') > 0 AS tracked;
SELECT journey.track('3', 'clicked', '{"link": "faq"}', audience => 'te_mig') > 0 AS tracked;
SELECT journey.run_due(1000, ref_time('2030-01-01 02:00+00')) AS processed;
SELECT who, version, status, step_key, waiting_for, wait_deadline, next_run_at
  FROM te_mig_state WHERE name = 'te-mig-wait';
-- One day after they arrived (not three), the others time out.
SELECT journey.run_due(1000, ref_time('2030-01-02 00:00+00')) AS processed;
SELECT who, version, step_key, branch, at FROM te_mig_visits WHERE name = 'te-mig-wait';

-------------------------------------------------------------------------------
-- wait_until: the new condition is checked right after the publish.
SELECT journey.import($${"name": "te-mig-until", "audience": "te_mig", "start": "u",
  "steps": [{"key": "u", "type": "wait_until", "when": {"field": "plan", "op": "eq", "value": "pro"},
             "timeout": "10 days", "branches": {"met": "m"}},
            {"key": "m", "type": "send_email", "template": "te_mig_t"}]}$$) > 0 AS imported;
SELECT journey.publish('te-mig-until');
SELECT journey.enroll_query('te-mig-until', 'SELECT id FROM te_mig WHERE id IN (5, 6)');
SELECT journey.run_due(1000, ref_time('2030-01-01 00:00+00')) AS processed;
UPDATE te_mig SET plan = 'gold' WHERE id = 5;
SELECT journey.import($${"name": "te-mig-until", "audience": "te_mig", "start": "u",
  "steps": [{"key": "u", "type": "wait_until", "when": {"field": "plan", "op": "eq", "value": "gold"},
             "timeout": "2 days", "branches": {"met": "m"}},
            {"key": "m", "type": "send_email", "template": "te_mig_t"}]}$$) > 0 AS imported;
SELECT journey.publish('te-mig-until', migrate => true);
SELECT journey.run_due(1000, ref_time('2030-01-01 01:00+00')) AS processed;
SELECT who, version, status, step_key, wait_deadline FROM te_mig_state WHERE name = 'te-mig-until';

-------------------------------------------------------------------------------
-- delay: the new duration counts from the arrival (2 arrived at d on the 5th:
-- with 5 days it wakes on the 10th, not the 12th); a step whose type changed is
-- entered afresh (1 parked at delay x, which became a send_email).
SELECT journey.import($${"name": "te-mig-delay", "audience": "te_mig", "start": "d",
  "steps": [{"key": "d", "type": "delay", "duration": "7 days", "next": "x"},
            {"key": "x", "type": "delay", "duration": "7 days", "next": "m"},
            {"key": "m", "type": "send_email", "template": "te_mig_t"}]}$$) > 0 AS imported;
SELECT journey.publish('te-mig-delay');
SELECT journey.enroll('te-mig-delay', '1') > 0 AS one;
SELECT journey.run_due(1000, ref_time('2030-01-01 00:00+00')) AS processed;
SELECT journey.enroll('te-mig-delay', '2') > 0 AS two;
SELECT journey.run_due(1000, ref_time('2030-01-05 00:00+00')) AS processed;
SELECT journey.run_due(1000, ref_time('2030-01-08 00:00+00')) AS processed;  -- 1 moves on to x; 2 still in d (arrived later)
SELECT who, step_key, parked_at, next_run_at FROM te_mig_state WHERE name = 'te-mig-delay';
SELECT journey.import($${"name": "te-mig-delay", "audience": "te_mig", "start": "d",
  "steps": [{"key": "d", "type": "delay", "duration": "5 days", "next": "x"},
            {"key": "x", "type": "send_email", "template": "te_mig_t", "next": "m"},
            {"key": "m", "type": "send_email", "template": "te_mig_t"}]}$$) > 0 AS imported;
SELECT journey.publish('te-mig-delay', migrate => true);
SELECT journey.run_due(1000, ref_time('2030-01-08 00:01+00')) AS processed;
SELECT who, version, status, step_key, parked_at, next_run_at FROM te_mig_state
 WHERE name = 'te-mig-delay';
SELECT journey.run_due(1000, ref_time('2030-01-10 00:00+00')) AS processed;  -- 5 days after 2 arrived at d
SELECT who, version, step_key, branch, at FROM te_mig_visits WHERE name = 'te-mig-delay';

SELECT journey.archive(name) FROM journey.journeys WHERE name LIKE 'te-mig-%' ORDER BY name;
SELECT count(*) AS active_left FROM journey.enrollments WHERE status = 'active';
