-- F21: track() refuses an occurred_at that is not a finite time (as
-- message_event does); an event dated before the enrollment entered neither
-- wakes its wait_for_event (nor, so, converts it at a goal after the wait),
-- as it neither ends nor converts it through an exit rule.
\set SHOW_CONTEXT never
CREATE TABLE fi_track (id int PRIMARY KEY, email text);
INSERT INTO fi_track SELECT g, format('c%s@example.com', g) FROM generate_series(1, 9) g;
SELECT journey.register_audience('fi_track', 'id', 'email');
SELECT journey.import('{"name": "fi_inf", "audience": "fi_track", "start": "w",
  "exit": [{"type": "event", "event": "fi_buy", "is_goal": true, "name": "bought"}],
  "steps": [{"key": "w", "type": "wait_for_event", "event": "fi_click", "timeout": "1 day",
             "branches": {"event": "g", "timeout": "d"}},
            {"key": "g", "type": "goal", "next": "d"}, {"key": "d", "type": "delay", "duration": "1 day"}]}')
  IS NOT NULL AS imported;
SELECT journey.publish('fi_inf') IS NOT NULL AS published;
SELECT count(journey.enroll('fi_inf', g::text)) AS enrolled FROM generate_series(1, 6) g;
SELECT journey.run_due(100) AS ran;
SELECT count(*) AS waiting FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'fi_inf' AND e.step_key = 'w' AND e.waiting_for = 'fi_click';

-- Infinite times are refused, naming the event; nothing is recorded.
SELECT try($$SELECT journey.track('1', 'fi_buy', occurred_at => 'infinity', audience => 'fi_track')$$);
SELECT try($$SELECT journey.track('2', 'fi_click', occurred_at => '-infinity', audience => 'fi_track')$$);
SELECT count(*) AS recorded FROM journey.events WHERE name IN ('fi_buy', 'fi_click');

-- Backdated before the entry: recorded, but wakes and converts nothing.
SELECT journey.track('3', 'fi_click', occurred_at => now() - interval '30 days', audience => 'fi_track')
  IS NOT NULL AS recorded;
SELECT journey.track('4', 'fi_buy', occurred_at => now() - interval '30 days', audience => 'fi_track')
  IS NOT NULL AS recorded;
-- Now (or later): wakes and converts.
SELECT journey.track('5', 'fi_click', audience => 'fi_track') IS NOT NULL AS recorded;
SELECT journey.track('6', 'fi_buy', audience => 'fi_track') IS NOT NULL AS recorded;
SELECT journey.run_due(100) AS ran;
SELECT e.customer_id, e.status, e.step_key, e.exit_reason, e.converted_at IS NOT NULL AS converted,
       jsonb_array_length(e.woken_by) AS woken
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'fi_inf' ORDER BY e.customer_id::int;

SELECT journey.archive('fi_inf');
SELECT journey.drop_journey('fi_inf');
SELECT journey.unregister_audience('fi_track');
DELETE FROM journey.events WHERE name IN ('fi_buy', 'fi_click');
DROP TABLE fi_track;
