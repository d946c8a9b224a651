-- Issue 9's review: the holdout share _enroll_rows draws with is read from the
-- settings by core (journey._holdout_percent), not by PL/pgSQL.
\set SHOW_CONTEXT never
SET timezone = 'UTC';

SELECT journey._holdout_percent(NULL) AS none, journey._holdout_percent('{}') AS empty,
       journey._holdout_percent('{"holdout_percent": 30}') AS thirty,
       journey._holdout_percent('{"holdout_percent": 12.5, "reentry": "never"}') AS twelve_and_a_half;

-- Enrollments draw their holdout with the published settings' share: the
-- flags are core::in_holdout's (pinned).
CREATE TABLE arch_review_people (id int PRIMARY KEY, email text);
INSERT INTO arch_review_people SELECT g, 'r' || g || '@x.test' FROM generate_series(1, 12) g;
SELECT journey.register_audience('arch_review_people', 'id', 'email');
SELECT journey.import($${"name": "arch-review-holdout", "audience": "arch_review_people",
  "start": "nap", "settings": {"holdout_percent": 50},
  "steps": [{"key": "nap", "type": "delay", "duration": "1 day"}]}$$) > 0 AS imported;
SELECT journey.publish('arch-review-holdout');
SELECT count(journey.enroll('arch-review-holdout', id::text)) AS enrolled FROM arch_review_people;
SELECT string_agg(e.customer_id, ' ' ORDER BY e.customer_id::int) FILTER (WHERE e.holdout) AS held_out,
       bool_and(e.holdout = journey._in_holdout(50, 'arch-review-holdout', e.customer_id)) AS as_drawn
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name = 'arch-review-holdout';

-- What engagement with a message does is decided in core too
-- (journey._engagement_effects, with the settings of the message's version).
SELECT k.kind, k.props, k.settings, fx.*
  FROM (VALUES ('opened', '{}', '{}'), ('bounced', '{"type": "hard"}', '{}'),
               ('bounced', '{"type": "soft"}', '{}'), ('complained', '{}', '{"transactional": true}'),
               ('unsubscribed', '{"scope": "all"}', '{}'),
               ('unsubscribed', '{}', '{"transactional": true}')) k(kind, props, settings),
       journey._engagement_effects(k.kind, k.props::jsonb, k.settings::jsonb) fx;

-- End to end: an unsubscribe from a transactional journey's message keeps the
-- enrollment (and adds the suppression); from another journey's, it ends it.
SELECT journey.create_template('arch-review-t', 'email', 'Hi', 'Hello {{email}}');
SELECT journey.import(format($${"name": "%s", "audience": "arch_review_people", "start": "hi",
  "settings": {"transactional": %s},
  "steps": [{"key": "hi", "type": "send_email", "template": "arch-review-t", "next": "nap"},
            {"key": "nap", "type": "delay", "duration": "1 day"}]}$$, n, t)::jsonb) > 0 AS imported
  FROM (VALUES ('arch-review-receipt', 'true'), ('arch-review-news', 'false')) x(n, t);
SELECT journey.publish('arch-review-receipt'), journey.publish('arch-review-news');
SELECT journey.enroll('arch-review-receipt', '2') IS NOT NULL AS receipt,
       journey.enroll('arch-review-news', '4') IS NOT NULL AS news;
SELECT journey.run_due(100, now()) AS processed;
SELECT count(*) AS claimed FROM journey.claim_messages('email', 10);
SELECT journey.message_event(m.id, 'unsubscribed') IS NOT NULL AS recorded
  FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
 WHERE j.name IN ('arch-review-receipt', 'arch-review-news') ORDER BY j.name;
SELECT j.name, e.customer_id, e.status, e.exit_reason
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name IN ('arch-review-receipt', 'arch-review-news') ORDER BY j.name;
SELECT customer_id, channel, reason FROM journey.suppressions
 WHERE audience = 'arch_review_people'::regclass ORDER BY customer_id;
SELECT journey.archive('arch-review-receipt'), journey.archive('arch-review-news');

SELECT journey.archive('arch-review-holdout');
SELECT count(*) AS active_left FROM journey.enrollments WHERE status = 'active';
