-- The analyst's reports over one scripted run (issue 10): journey.funnel
-- (combined versions, one version, a time window), journey.split_report
-- (variants, holdout, lift with its confidence interval, messages per
-- conversion), journey.list, journey.customer_journeys, and the drawings.
-- The run: 16 customers enter a journey with a 25% holdout; while they wait a
-- day, version 2 is published with migrate (the waiting ones move to it) and
-- 4 more enter version 2; two buy while waiting (a goal exit rule); a split
-- sends the others to "control" or "offer"; some click (a goal step), one
-- buys while listening, one stops (an exit rule), the rest time out.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE anr_customers (id int PRIMARY KEY, email text);
INSERT INTO anr_customers SELECT g, 'c' || g || '@x.test' FROM generate_series(1, 20) g;
SELECT journey.register_audience('anr_customers', 'id', 'email');
SELECT journey.import($${"name": "anr-promo", "audience": "anr_customers", "start": "hello",
  "settings": {"holdout_percent": 25},
  "entry": [{"type": "event", "event": "anr_joined"}],
  "exit": [{"type": "event", "event": "purchased", "is_goal": true, "name": "purchased"},
           {"type": "event", "event": "stop"}],
  "steps": [{"key": "hello", "type": "send", "channel": "anr", "payload": {"n": 1}, "next": "wait"},
            {"key": "wait", "type": "delay", "duration": "1 day", "next": "ab"},
            {"key": "ab", "type": "split", "variants": [{"name": "control", "weight": 1},
                                                        {"name": "offer", "weight": 1}],
             "branches": {"control": "remind", "offer": "coupon"}},
            {"key": "remind", "type": "send", "channel": "anr", "payload": {"n": 2}, "next": "listen"},
            {"key": "coupon", "type": "send", "channel": "anr", "payload": {"n": 3}, "next": "listen"},
            {"key": "listen", "type": "wait_for_event", "event": "clicked", "timeout": "2 days",
             "branches": {"event": "won"}},
            {"key": "won", "type": "goal"}]}$$) > 0 AS imported;
SELECT journey.publish('anr-promo');
-- The draws of this journey (a hash of journey and customer): pinned here.
SELECT string_agg(c::text, ',' ORDER BY c) FILTER (WHERE journey._in_holdout(25, 'anr-promo', c::text)) AS holdout
  FROM generate_series(1, 20) c;

-------------------------------------------------------------------------------
-- The run.
SELECT count(journey.enroll('anr-promo', c::text)) AS enrolled FROM generate_series(1, 16) c;
-- enroll() stamps entered_at with now(); the run is in engine time (run_due's
-- as_of), so the entries are put at 09:00 of its first day.
UPDATE journey.enrollments e SET entered_at = ref_time('2030-01-01 09:00+00')
  FROM journey.journeys j WHERE j.id = e.journey_id AND j.name = 'anr-promo';
SELECT journey.run_due(100, ref_time('2030-01-01 10:00+00')) AS ran;
-- Version 2 (coupon sends another payload), migrating the waiting enrollments.
SELECT count(*) AS issues FROM journey.set_step_config('anr-promo', 'coupon',
  '{"channel": "anr", "payload": {"n": 4}}');
SELECT journey.publish('anr-promo', migrate => true) AS version;
SELECT count(journey.enroll('anr-promo', c::text)) AS enrolled FROM generate_series(17, 20) c;
UPDATE journey.enrollments e SET entered_at = ref_time('2030-01-01 11:00+00')
  FROM journey.journeys j
 WHERE j.id = e.journey_id AND j.name = 'anr-promo'
   AND e.customer_id IN (SELECT c::text FROM generate_series(17, 20) c);
SELECT journey.run_due(100, ref_time('2030-01-01 12:00+00')) AS ran;
SELECT journey.track(c, 'purchased', audience => 'anr_customers') > 0 AS tracked FROM unnest(ARRAY['2', '17']) c;

-- Before the day is over: everyone else waits at "wait".
SELECT step_key, step_type, entered, now_at, moved, completed, exited, converted, failed,
       median_time, p90_time FROM journey.funnel('anr-promo');

SELECT journey.run_due(100, ref_time('2030-01-02 10:00+00')) AS ran;
SELECT journey.run_due(100, ref_time('2030-01-02 12:00+00')) AS ran;
SELECT journey.track(c, 'clicked', audience => 'anr_customers') > 0 AS tracked FROM unnest(ARRAY['1', '5', '6', '9', '12', '18']) c;
SELECT journey.run_due(100, ref_time('2030-01-02 13:00+00')) AS ran;
SELECT journey.track('3', 'purchased', audience => 'anr_customers') > 0 AS tracked;
SELECT journey.track('4', 'stop', audience => 'anr_customers') > 0 AS tracked;
-- Those who entered at 11:00 and did not click (19, 20) listen until 12:00;
-- the others time out.
SELECT journey.run_due(100, ref_time('2030-01-04 11:00+00')) AS ran;
-- The sender delivered every message that was not suppressed.
UPDATE journey.messages m SET status = 'sent' FROM journey.journeys j
 WHERE j.id = m.journey_id AND j.name = 'anr-promo' AND m.status = 'pending';

SELECT e.customer_id::int AS c, e.version, e.holdout, e.status, e.step_key, e.exit_reason,
       e.converted_at IS NOT NULL AS converted
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'anr-promo' ORDER BY 1;

-------------------------------------------------------------------------------
-- funnel: both versions combined by step key, in graph order.
SELECT step_key, step_type, entered, now_at, moved, completed, exited, converted, failed,
       median_time, p90_time FROM journey.funnel('anr-promo');
-- Each version alone: the migrated enrollments count in version 2 from "wait" on.
SELECT step_key, entered, now_at, moved, completed, exited, converted
  FROM journey.funnel('anr-promo', version => 1);
SELECT step_key, entered, now_at, moved, completed, exited, converted
  FROM journey.funnel('anr-promo', version => 2);
-- A window: the step visits that began on 2 January (engine time).
SELECT step_key, entered, now_at, moved, completed, exited, converted
  FROM journey.funnel('anr-promo', ref_time('2030-01-02 00:00+00'), ref_time('2030-01-03 00:00+00'));
-- By construction: entered = now_at + moved + completed + exited + failed.
SELECT bool_and(entered = now_at + completed + failed
                + (SELECT coalesce(sum(v::bigint), 0) FROM jsonb_each_text(moved) m(k, v))
                + (SELECT coalesce(sum(v::bigint), 0) FROM jsonb_each_text(exited) x(k, v)))
       AS balanced
  FROM journey.funnel('anr-promo');
SELECT try($$SELECT * FROM journey.funnel('anr-promo', version => 3)$$);
SELECT try($$SELECT * FROM journey.funnel('anr-nothing')$$);

-------------------------------------------------------------------------------
-- split_report: each variant and the holdout, lift against the holdout.
SELECT * FROM journey.split_report('anr-promo');
-- Lift against a control variant instead, when asked (holdout excluded).
SELECT split_step, variant, enrolled, converted, rate, baseline, lift, lift_low, lift_high
  FROM journey.split_report('anr-promo', control => 'control') WHERE variant <> '(holdout)';

-------------------------------------------------------------------------------
-- list: state, live version, active, converted, last activity; archived hidden.
SELECT name, state, live_version, draft_version, enrolled, active, completed, exited, failed,
       converted, last_activity >= ref_time('2030-01-04 11:00+00') AS last_activity_is_last_tick
  FROM journey.list() WHERE name LIKE 'anr-%';

-------------------------------------------------------------------------------
-- One customer's journeys: 1 clicked and converted (variant offer), 2 bought
-- while waiting, 3 is in the holdout and bought while listening, 20 is still
-- listening.
SELECT journey, version, ref_shown(at) AS at, kind, step_key, detail
  FROM journey.customer_journeys('1', 'anr_customers');
SELECT journey, version, CASE WHEN at < ref_time('2030-01-01') THEN 'now()' ELSE ref_shown(at)::text END AS at,
       kind, step_key, detail
  FROM journey.customer_journeys('2', 'anr_customers');
SELECT journey, version, CASE WHEN at < ref_time('2030-01-01') THEN 'now()' ELSE ref_shown(at)::text END AS at,
       kind, step_key, detail
  FROM journey.customer_journeys('3', 'anr_customers');
SELECT journey, version, ref_shown(at) AS at, kind, step_key,
       replace(detail, ref_time('2030-01-04 12:00+00')::text, '<2030-01-04 12:00>') AS detail
  FROM journey.customer_journeys('20', 'anr_customers');
-- With its audience (without one, "1" names customers of every audience the
-- earlier files registered: 42725, sql/funnel_fix_reports.sql).
SELECT count(*) AS rows_of_anr_promo FROM journey.customer_journeys('1', 'anr_customers') WHERE journey = 'anr-promo';

-------------------------------------------------------------------------------
-- The drawings of version 2: counts per branch on the edges, each step's
-- config, exits and conversions, entry triggers and exit rules.
SELECT journey.to_mermaid('anr-promo');
SELECT journey.to_dot('anr-promo', 1);

SELECT journey.archive('anr-promo');
SELECT count(*) AS listed FROM journey.list() WHERE name = 'anr-promo';
SELECT name, state FROM journey.list(include_archived => true) WHERE name = 'anr-promo';
SELECT journey.drop_journey('anr-promo');
SELECT journey.unregister_audience('anr_customers');
