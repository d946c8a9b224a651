-- Run-time decisions SQL used to make itself, now core's (issue 9, policy9):
-- re-entry per earlier enrollment (_enroll_rows, _enroll_customer), which suppression
-- stops a message (claims, add_suppression's withdraw) and the preview's
-- pending or suppressed. Called as the SQL callers call them.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
-- Re-entry, per earlier enrollment: (any_earlier_blocks, replaces_active,
-- cooldown start, active, entered_at) -> replaced? blocks once replaced ended?
SELECT r.policy, r.active, r.entered_at,
       journey._reentry_replaces(r.never, r.always, r.since, r.active, r.entered_at) AS replaces,
       journey._reentry_blocks(r.never, r.always, r.since, r.active, r.entered_at) AS blocks
  FROM (VALUES ('never', true, false, NULL::timestamptz, false, '2026-01-01'::timestamptz),
               ('after_exit', false, false, NULL, false, '2026-01-01'),
               ('after_exit', false, false, NULL, true, '2026-01-01'),
               ('after_exit', false, false, '2026-01-10', false, '2026-01-11'),
               ('always', false, true, '2026-01-10', true, '2026-01-05'),
               ('always', false, true, '2026-01-10', true, '2026-01-10'),
               ('always', false, true, '2026-01-10', true, '2026-01-11'),
               ('always', false, true, '2026-01-10', false, '2026-01-11'),
               ('always', false, true, NULL, true, '2026-01-11'))
       r(policy, never, always, since, active, entered_at);

-- The suppression rule: (suppression's channel, reason, message's channel,
-- reasons the message's journey ignores).
SELECT journey._suppression_stops(NULL, 'unsubscribed', 'email', '{}') AS every_channel,
       journey._suppression_stops('sms', 'unsubscribed', 'email', '{}') AS other_channel,
       journey._suppression_stops('email', 'unsubscribed', 'email', '{unsubscribed}') AS ignored,
       journey._suppression_stops('email', 'complained', 'email', '{unsubscribed}') AS email;

CREATE TABLE p9c (id int PRIMARY KEY, email text);
INSERT INTO p9c VALUES (1, 'a@x.test'), (2, NULL);
SELECT journey.register_audience('p9c', 'id', 'email');
SELECT journey.add_suppression('1', 'email', 'unsubscribed', audience => 'p9c') AS added;
SELECT journey.add_suppression('1', NULL, 'complained', audience => 'p9c') AS added;
-- Every channel first, then by time added; ignored reasons skipped; none for
-- another customer or a relation that is no audience.
SELECT journey._suppression('p9c', '1', 'email', '{}') AS email,
       journey._suppression('p9c', '1', 'email', '{complained}') AS ignoring_complaints,
       journey._suppression('p9c', '1', 'sms', '{complained}') AS sms,
       journey._suppression('p9c', '1', NULL, '{complained}') AS no_channel,
       journey._suppression('p9c', '2', 'email', '{}') AS other_customer,
       journey._suppression('pg_class', '1', 'email', '{}') AS not_an_audience;
-- The preview: no recipient first, then the suppression, else pending (null).
SELECT journey._preview_stop('p9c', '1', 'email', false, '{}') AS suppressed,
       journey._preview_stop('p9c', '1', 'email', true, '{}') AS no_recipient,
       journey._preview_stop('p9c', '1', 'sms', false, '{complained}') AS pending,
       journey._preview_stop('p9c', '2', 'email', false, '{}') AS not_suppressed;
SELECT journey.remove_suppression('1', NULL, audience => 'p9c') AS removed;
SELECT journey.unregister_audience('p9c');
DROP TABLE p9c;
