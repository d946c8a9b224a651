-- From 0.1 to 0.2: changes to the state (types, tables, indexes, event
-- triggers) and removals of code whose signature changed. The code (src/sql's
-- functions, views and grants) is rerun after this file.

-- Runs of scheduled entry triggers (see tables.sql).
CREATE TABLE journey.trigger_runs (
  id          bigserial PRIMARY KEY,
  journey_id  bigint NOT NULL REFERENCES journey.journeys (id) ON DELETE CASCADE,
  version     int NOT NULL,
  position    int NOT NULL,
  run_by      text NOT NULL CHECK (run_by IN ('schedule', 'manual')),
  started_at  timestamptz NOT NULL,
  finished_at timestamptz NOT NULL,
  enrolled    bigint,
  error       text,
  CHECK ((enrolled IS NULL) <> (error IS NULL))
);
COMMENT ON TABLE journey.trigger_runs IS
  'runs of scheduled (segment, date) entry triggers: enrolled, or the error; see journey.schedule_status';
CREATE INDEX trigger_runs_trigger ON journey.trigger_runs (journey_id, position, started_at);
SELECT pg_catalog.pg_extension_config_dump('journey.trigger_runs', '');
SELECT pg_catalog.pg_extension_config_dump('journey.trigger_runs_id_seq', '');

-- track() resolves the audience of the customer an event belongs to and records
-- it; events recorded by 0.1 keep NULL (audience unknown: behaviour conditions
-- count them for the customer id in every audience, as 0.1 did).
ALTER TABLE journey.events ADD COLUMN audience regclass;
ALTER TABLE journey.events ADD COLUMN audience_id bigint;
-- track() gained the audience argument.
DROP FUNCTION journey.track(text, text, jsonb, timestamptz, text);

-- Step positions on the builder's canvas (src/sql/editing.sql: journey.set_layout).
ALTER TABLE journey.steps ADD COLUMN layout jsonb
  CHECK (layout IS NULL OR jsonb_typeof(layout) = 'object');

-- A published version renders the templates frozen into it at publish, not the
-- live journey.templates (issue 8). Versions published by 0.1 freeze the
-- templates their steps name as they are now.
ALTER TABLE journey.versions ADD COLUMN templates jsonb;
COMMENT ON COLUMN journey.versions.templates IS
  'the templates a published version renders, frozen at publish: {name: {channel, subject, body}}';
UPDATE journey.versions v
   SET templates = (SELECT coalesce(jsonb_object_agg(t.name, jsonb_build_object(
                                      'channel', t.channel, 'subject', t.subject, 'body', t.body)),
                                    '{}')
                      FROM journey.templates t
                     WHERE t.name IN (SELECT s->>'template'
                                        FROM jsonb_array_elements(v.definition->'steps') s
                                       WHERE jsonb_typeof(s) = 'object' AND s ? 'template'))
 WHERE v.definition IS NOT NULL;

-- Counting right by construction (issue 10): every visit row says how it
-- ended, why, whether it converted, and when the enrollment arrived.
ALTER TABLE journey.activity
  ADD COLUMN outcome text NOT NULL DEFAULT 'moved'
    CHECK (outcome IN ('moved', 'completed', 'exited', 'failed')),
  ADD COLUMN reason text,
  ADD COLUMN converted boolean NOT NULL DEFAULT false,
  ADD COLUMN arrived_at timestamptz;
COMMENT ON TABLE journey.activity IS
  'append-only history: one row per step visit, written when the enrollment leaves the step (moved on, completed, exited or failed there)';
-- 0.1's last visit of a completed enrollment ended it there.
UPDATE journey.activity a SET outcome = 'completed'
  FROM journey.enrollments e
 WHERE e.id = a.enrollment_id AND e.status = 'completed'
   AND a.visit = (SELECT max(b.visit) FROM journey.activity b WHERE b.enrollment_id = e.id);

-- Delivery and engagement (issue 11, docs/delivery.md): recipients per channel,
-- the recipient of each message, global suppressions, message events.
ALTER TABLE journey.audiences ADD COLUMN recipients jsonb NOT NULL DEFAULT '{}'
  CHECK (jsonb_typeof(recipients) = 'object');
UPDATE journey.audiences SET recipients = jsonb_build_object('email', email_column)
 WHERE email_column IS NOT NULL;
ALTER TABLE journey.messages ADD COLUMN recipient text;
-- register_audience gained the recipients argument.
DROP FUNCTION journey.register_audience(regclass, name, name, name);
CREATE TABLE journey.suppressions (
  id          bigserial PRIMARY KEY,
  audience    regclass NOT NULL,
  customer_id text NOT NULL,
  channel     text CHECK (channel <> ''),
  reason      text NOT NULL CHECK (reason <> ''),
  source      text,
  at          timestamptz NOT NULL DEFAULT now(),
  -- The audience's journey.audiences.id, what every check compares: audience
  -- is the OID on the node that wrote the row, and a Citus shard move copies
  -- it verbatim to a node where it names nothing or another table.
  audience_id bigint NOT NULL
);
COMMENT ON TABLE journey.suppressions IS
  'customers (per channel, or every channel when channel is null) that no message may reach';
CREATE UNIQUE INDEX suppressions_customer_channel
  ON journey.suppressions (customer_id, audience_id, coalesce(channel, ''));
SELECT pg_catalog.pg_extension_config_dump('journey.suppressions', '');
SELECT pg_catalog.pg_extension_config_dump('journey.suppressions_id_seq', '');
CREATE TABLE journey.message_events (
  id            bigserial PRIMARY KEY,
  message_id    bigint NOT NULL,
  enrollment_id bigint NOT NULL,
  journey_id    bigint NOT NULL,
  version       int NOT NULL,
  step_key      text NOT NULL,
  customer_id   text NOT NULL,
  channel       text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('delivered', 'opened', 'clicked', 'bounced',
                                              'complained', 'unsubscribed', 'failed')),
  properties    jsonb NOT NULL DEFAULT '{}',
  occurred_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE journey.message_events IS
  'engagement with messages (journey.message_event): one row per delivered, opened, clicked, bounced, complained, unsubscribed or failed';
CREATE INDEX message_events_message ON journey.message_events (message_id, kind);
CREATE INDEX message_events_enrollment ON journey.message_events (enrollment_id, step_key, kind);
SELECT pg_catalog.pg_extension_config_dump('journey.message_events', '');
SELECT pg_catalog.pg_extension_config_dump('journey.message_events_id_seq', '');

-- The SQLSTATE of an enrollment's last error (issue 9); enrollments that failed
-- under 0.1 keep NULL.
ALTER TABLE journey.enrollments ADD COLUMN last_error_code text
  CHECK (last_error_code ~ '^[0-9A-Z]{5}$');
COMMENT ON COLUMN journey.enrollments.last_error_code IS
  'the SQLSTATE of last_error (57014: cancelled or timed out, 54000: a visit cap)';

-- claim_messages reads pending messages in (send_after, id) order: the index
-- carries id too (a claim of 50 among 20,000 pending: about 25 ms -> 3.6 ms).
DROP INDEX journey.messages_pending;
CREATE INDEX messages_pending ON journey.messages (channel, send_after, id) WHERE status = 'pending';

-- Counting at volume (issue 10): journey.activity summed per hour of arrival
-- (UTC), version, step, outcome, branch and exit reason, so journey.funnel reads
-- a few rows an hour instead of every visit. Written by a statement trigger on
-- journey.activity (journey._count_activity, analytics.sql): one row per group
-- of each INSERT, never updated, so that two workers never wait for each
-- other's rows; readers sum the rows of a group. Not dumped: restoring
-- journey.activity's rows fires the trigger, which writes them again.
CREATE TABLE journey.activity_hours (
  journey_id bigint NOT NULL,
  version    int NOT NULL,
  step_key   text NOT NULL,
  hour       timestamptz NOT NULL,  -- date_trunc('hour', coalesce(arrived_at, at), 'UTC')
  outcome    text NOT NULL,
  branch     text,
  reason     text,                  -- the exit reason (outcome exited), else null
  visits     bigint NOT NULL,
  converted  bigint NOT NULL,
  spent      jsonb NOT NULL         -- {seconds spent at the step (rounded): visits}
);
COMMENT ON TABLE journey.activity_hours IS
  'journey.activity counted per hour of arrival, step, outcome, branch and exit reason (written by a trigger on activity; what journey.funnel reads)';
CREATE INDEX activity_hours_journey ON journey.activity_hours (journey_id, hour);
-- journey.funnel's "now at": the active enrollments of a journey by step,
-- with what it reads of them (an index-only scan instead of one heap page per
-- enrollment).
CREATE INDEX enrollments_active_journey ON journey.enrollments (journey_id, step_key)
  INCLUDE (version, parked_at, id, entered_at) WHERE status = 'active';
-- The visits that began in a time window (the partial hours at a funnel's edges).
CREATE INDEX activity_arrived ON journey.activity (journey_id, (coalesce(arrived_at, at)));
-- The activity written before: counted once here, then by the trigger.
INSERT INTO journey.activity_hours (journey_id, version, step_key, hour, outcome, branch, reason,
                                    visits, converted, spent)
SELECT g.journey_id, g.version, g.step_key, g.hour, g.outcome, g.branch, g.reason, sum(g.n),
       sum(g.c), jsonb_object_agg(g.secs, g.n)
  FROM (SELECT a.journey_id, a.version, a.step_key,
               date_trunc('hour', coalesce(a.arrived_at, a.at), 'UTC') AS hour, a.outcome, a.branch,
               CASE WHEN a.outcome = 'exited' THEN a.reason END AS reason,
               round(extract(epoch FROM greatest(a.at - coalesce(a.arrived_at, a.at),
                                                 interval '0')))::bigint AS secs,
               count(*) AS n, count(*) FILTER (WHERE a.converted) AS c
          FROM journey.activity a GROUP BY 1, 2, 3, 4, 5, 6, 7, 8) g
 GROUP BY 1, 2, 3, 4, 5, 6, 7;

-- The suppression reasons a version's messages ignore (issue 9, G1), decided
-- by core::ignored_suppression_reasons at publish. Versions published before
-- get what it decides for their settings: 'unsubscribed' when "transactional"
-- is true (a setting 0.1 did not know, so normally none).
ALTER TABLE journey.versions ADD COLUMN ignored_suppression_reasons text[] NOT NULL DEFAULT '{}';
COMMENT ON COLUMN journey.versions.ignored_suppression_reasons IS
  'the suppression reasons a published version''s messages ignore, decided by core at publish (transactional: unsubscribed)';
UPDATE journey.versions v SET ignored_suppression_reasons = '{unsubscribed}'
 WHERE v.definition IS NOT NULL AND v.definition->'settings'->'transactional' = 'true'::jsonb;

-- The audience's id on every node (tables distributed by customer name it by
-- this id, never by an OID: docs/scale-out.md): its table's OID here.
ALTER TABLE journey.audiences ADD COLUMN id bigint;
UPDATE journey.audiences SET id = relation::oid;
ALTER TABLE journey.audiences ALTER COLUMN id SET NOT NULL, ADD UNIQUE (id);

-- A segment's member source is compiled in core (journey._segment_source), which
-- replaces the condition renderer the SQL called with the raw "when".
DROP FUNCTION journey._condition_sql(jsonb, regclass);
