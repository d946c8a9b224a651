-- Tables and indexes: definitions (small reference tables) and runtime state
-- (tables that grow with customers). Installed once; later releases change
-- them in src/sql/updates/.

CREATE TABLE journey.audiences (
  relation        regclass PRIMARY KEY,
  key_column      name NOT NULL,
  email_column    name,
  timezone_column name,
  registered_at   timestamptz NOT NULL DEFAULT now(),
  registered_by   name NOT NULL DEFAULT current_user,
  -- Where each channel's recipient is: {"email": "email", "sms": "phone"}
  -- (journey.set_recipients); "email" is email_column.
  recipients      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(recipients) = 'object'),
  -- The audience's id on every node: its table's OID on the node that
  -- registered it, never rewritten. Tables distributed by customer on Citus name
  -- the audience by this id (audience_id), never by an OID of their own: a shard
  -- move copies their rows verbatim to a node whose OIDs differ (scale-out.md).
  id              bigint NOT NULL UNIQUE
);
COMMENT ON TABLE journey.audiences IS 'customer tables registered with journey.register_audience';

CREATE TABLE journey.journeys (
  id                bigserial PRIMARY KEY,
  name              text NOT NULL UNIQUE CHECK (name <> ''),
  description       text,
  audience          regclass NOT NULL REFERENCES journey.audiences (relation),
  state             journey.journey_state NOT NULL DEFAULT 'draft',
  settings          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
  published_version int,
  owner             regrole NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  published_at      timestamptz,
  archived_at       timestamptz
);
COMMENT ON TABLE journey.journeys IS
  'one row per journey; settings and published_version describe what is live';

CREATE TABLE journey.versions (
  journey_id   bigint NOT NULL REFERENCES journey.journeys (id) ON DELETE CASCADE,
  version      int NOT NULL CHECK (version > 0),
  status       journey.version_status NOT NULL DEFAULT 'draft',
  start_key    text,
  settings     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
  definition   jsonb,
  owner        regrole,
  created_at   timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  published_by name,
  templates    jsonb,
  ignored_suppression_reasons text[] NOT NULL DEFAULT '{}',
  PRIMARY KEY (journey_id, version)
);
CREATE UNIQUE INDEX versions_one_draft ON journey.versions (journey_id) WHERE status = 'draft';
CREATE UNIQUE INDEX versions_one_published ON journey.versions (journey_id)
  WHERE status = 'published';
COMMENT ON TABLE journey.versions IS
  'draft, published and retired versions; definition is the frozen graph of a published version';
COMMENT ON COLUMN journey.versions.templates IS
  'the templates a published version renders, frozen at publish: {name: {channel, subject, body}}';
COMMENT ON COLUMN journey.versions.ignored_suppression_reasons IS
  'the suppression reasons a published version''s messages ignore, decided by core at publish (transactional: unsubscribed)';

CREATE TABLE journey.steps (
  journey_id bigint NOT NULL,
  version    int NOT NULL,
  key        text NOT NULL CHECK (key ~ '^[A-Za-z0-9_.-]{1,63}$'),
  type       journey.step_type NOT NULL,
  config     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
  position   int NOT NULL,
  -- Where the builder draws the step: {"x": number, "y": number}; null: laid out automatically.
  layout     jsonb CHECK (layout IS NULL OR jsonb_typeof(layout) = 'object'),
  PRIMARY KEY (journey_id, version, key),
  FOREIGN KEY (journey_id, version) REFERENCES journey.versions ON DELETE CASCADE
);

CREATE TABLE journey.connections (
  journey_id bigint NOT NULL,
  version    int NOT NULL,
  from_key   text NOT NULL,
  branch     text NOT NULL CHECK (branch <> ''),
  to_key     text NOT NULL,
  PRIMARY KEY (journey_id, version, from_key, branch),
  FOREIGN KEY (journey_id, version, from_key) REFERENCES journey.steps ON DELETE CASCADE
);

CREATE TABLE journey.entry_triggers (
  journey_id bigint NOT NULL,
  version    int NOT NULL,
  position   int NOT NULL,
  type       text NOT NULL CHECK (type IN ('event', 'attribute', 'segment', 'date', 'manual')),
  config     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
  PRIMARY KEY (journey_id, version, position),
  FOREIGN KEY (journey_id, version) REFERENCES journey.versions ON DELETE CASCADE
);

CREATE TABLE journey.exit_rules (
  journey_id bigint NOT NULL,
  version    int NOT NULL,
  position   int NOT NULL,
  type       text NOT NULL CHECK (type IN ('event', 'condition')),
  config     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
  is_goal    boolean NOT NULL DEFAULT false,
  PRIMARY KEY (journey_id, version, position),
  FOREIGN KEY (journey_id, version) REFERENCES journey.versions ON DELETE CASCADE
);

CREATE TABLE journey.templates (
  name       text PRIMARY KEY CHECK (name <> ''),
  channel    text NOT NULL CHECK (channel <> ''),
  subject    text,
  body       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE journey.templates IS 'message templates with {{merge_tags}}, by name';

-- pg_dump / pg_restore carry the journeys' definitions.
SELECT pg_catalog.pg_extension_config_dump('journey.audiences', '');
SELECT pg_catalog.pg_extension_config_dump('journey.journeys', '');
SELECT pg_catalog.pg_extension_config_dump('journey.journeys_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('journey.versions', '');
SELECT pg_catalog.pg_extension_config_dump('journey.steps', '');
SELECT pg_catalog.pg_extension_config_dump('journey.connections', '');
SELECT pg_catalog.pg_extension_config_dump('journey.entry_triggers', '');
SELECT pg_catalog.pg_extension_config_dump('journey.exit_rules', '');
SELECT pg_catalog.pg_extension_config_dump('journey.templates', '');


CREATE TABLE journey.enrollments (
  id            bigserial PRIMARY KEY,
  journey_id    bigint NOT NULL REFERENCES journey.journeys (id) ON DELETE CASCADE,
  version       int NOT NULL,
  customer_id   text NOT NULL,
  entity_key    text,
  status        journey.enrollment_status NOT NULL DEFAULT 'active',
  step_key      text,
  next_run_at   timestamptz,
  context       jsonb NOT NULL DEFAULT '{}',
  entered_at    timestamptz NOT NULL DEFAULT now(),
  ended_at      timestamptz,
  exit_reason   text,
  converted_at  timestamptz,
  attempts      int NOT NULL DEFAULT 0,
  last_error    text,
  holdout       boolean NOT NULL DEFAULT false,
  visits        int NOT NULL DEFAULT 0,
  parked_at     timestamptz,
  wait_deadline timestamptz,
  waiting_for   text,
  last_event    jsonb,
  woken_by      jsonb NOT NULL DEFAULT '[]',
  rearm         boolean NOT NULL DEFAULT false,
  last_error_code text CHECK (last_error_code ~ '^[0-9A-Z]{5}$'),
  FOREIGN KEY (journey_id, version) REFERENCES journey.versions ON DELETE CASCADE
) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02,
        autovacuum_analyze_scale_factor = 0.05);
COMMENT ON TABLE journey.enrollments IS
  'one row per customer (and entity) in a journey: where they are, and how it ended';
COMMENT ON COLUMN journey.enrollments.last_error_code IS
  'the SQLSTATE of last_error (57014: cancelled or timed out, 54000: a visit cap)';
-- The due set: only active enrollments with a time, in due order.
CREATE INDEX enrollments_due ON journey.enrollments (next_run_at, id) WHERE status = 'active';
-- At most one active enrollment per (journey, customer, entity); also how
-- track() and the customer-table triggers find a customer's active enrollments.
-- Few indexes on purpose: every step rewrites the row (and every index entry).
CREATE UNIQUE INDEX enrollments_one_active
  ON journey.enrollments (customer_id, journey_id, coalesce(entity_key, '')) WHERE status = 'active';
-- Every enrollment of a customer, ended ones too (re-entry "never", cooldowns).
CREATE INDEX enrollments_customer ON journey.enrollments (customer_id, journey_id);

CREATE TABLE journey.activity (
  enrollment_id bigint NOT NULL,
  journey_id    bigint NOT NULL,
  version       int NOT NULL,
  customer_id   text NOT NULL,
  step_key      text NOT NULL,
  step_type     journey.step_type NOT NULL,
  branch        text,
  visit         int NOT NULL,
  at            timestamptz NOT NULL DEFAULT now(),
  -- How the visit ended: moved (on by branch to another step), completed (the
  -- journey ended at this step), exited or failed (the enrollment ended here
  -- while at the step, parked or not); reason: the exit reason or the error.
  outcome       text NOT NULL DEFAULT 'moved'
                CHECK (outcome IN ('moved', 'completed', 'exited', 'failed')),
  reason        text,
  -- This visit converted the enrollment (a goal step, or a goal exit rule here).
  converted     boolean NOT NULL DEFAULT false,
  -- When the enrollment reached the step (at - arrived_at is the time spent).
  arrived_at    timestamptz,
  PRIMARY KEY (enrollment_id, visit)
);
COMMENT ON TABLE journey.activity IS
  'append-only history: one row per step visit, written when the enrollment leaves the step (moved on, completed, exited or failed there)';
CREATE INDEX activity_journey_step ON journey.activity (journey_id, version, step_key);
CREATE INDEX activity_customer ON journey.activity (customer_id, at);

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

CREATE TABLE journey.events (
  id              bigserial PRIMARY KEY,
  customer_id     text NOT NULL,
  name            text NOT NULL CHECK (name <> ''),
  properties      jsonb NOT NULL DEFAULT '{}',
  occurred_at     timestamptz NOT NULL DEFAULT now(),
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  idempotency_key text UNIQUE,
  -- The audience whose customer the event belongs to (track() resolves it);
  -- NULL for events recorded before 0.2, whose audience is unknown.
  audience        regclass,
  -- The audience's journey.audiences.id: what behaviour conditions compare
  -- (audience is this node's OID only where the row was written).
  audience_id     bigint
);
COMMENT ON TABLE journey.events IS 'events recorded by journey.track()';
CREATE INDEX events_customer_name ON journey.events (customer_id, name, occurred_at);

CREATE TABLE journey.messages (
  id            bigserial PRIMARY KEY,
  enrollment_id bigint NOT NULL,
  journey_id    bigint NOT NULL,
  version       int NOT NULL,
  step_key      text NOT NULL,
  visit         int NOT NULL,
  customer_id   text NOT NULL,
  channel       text NOT NULL,
  payload       jsonb NOT NULL,
  status        text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'claimed', 'sent', 'failed', 'suppressed')),
  reason        text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  send_after    timestamptz NOT NULL DEFAULT now(),
  claimed_at    timestamptz,
  completed_at  timestamptz,
  attempts      int NOT NULL DEFAULT 0,
  error         text,
  -- The address of the customer on the message's channel (the audience's
  -- recipient column), when the audience names one for the channel.
  recipient     text,
  UNIQUE (enrollment_id, visit)
) WITH (fillfactor = 90);
COMMENT ON TABLE journey.messages IS
  'the outbox: one row per send-step visit; apps claim_messages() and complete_message()';
-- In claim order (send_after, id), so that a claim reads its LIMIT rows off the
-- index instead of sorting every pending message of the channel.
CREATE INDEX messages_pending ON journey.messages (channel, send_after, id) WHERE status = 'pending';

CREATE INDEX messages_customer_recent ON journey.messages (customer_id, created_at);

-- Scheduled (segment, date) entry triggers: who matched at the last run of a
-- segment (so only newly matching customers enroll), and when each trigger last ran.
CREATE TABLE journey.segment_members (
  journey_id  bigint NOT NULL,
  version     int NOT NULL,
  position    int NOT NULL,
  customer_id text NOT NULL,
  PRIMARY KEY (journey_id, version, position, customer_id),
  FOREIGN KEY (journey_id, version) REFERENCES journey.versions ON DELETE CASCADE
);
CREATE TABLE journey.scheduled_runs (
  journey_id  bigint NOT NULL,
  version     int NOT NULL,
  position    int NOT NULL,
  last_run_at timestamptz NOT NULL,
  enrolled    bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (journey_id, version, position),
  FOREIGN KEY (journey_id, version) REFERENCES journey.versions ON DELETE CASCADE
);
-- One row per run of a scheduled entry trigger (by its pg_cron job or by
-- journey.run_scheduled_trigger): when it ran, how many it enrolled, or why it
-- failed. Kept 30 days (each run deletes its trigger's older rows).
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
SELECT pg_catalog.pg_extension_config_dump('journey.segment_members', '');
SELECT pg_catalog.pg_extension_config_dump('journey.scheduled_runs', '');
SELECT pg_catalog.pg_extension_config_dump('journey.enrollments', '');
SELECT pg_catalog.pg_extension_config_dump('journey.enrollments_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('journey.activity', '');
SELECT pg_catalog.pg_extension_config_dump('journey.events', '');
SELECT pg_catalog.pg_extension_config_dump('journey.events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('journey.messages', '');
SELECT pg_catalog.pg_extension_config_dump('journey.messages_id_seq', '');

-- Global suppressions (docs/delivery.md): no message of `channel` (every
-- channel when null) is created or handed out for the customer. Unsubscribes,
-- complaints and hard bounces (journey.message_event) add them; journeys whose
-- settings say "transactional" ignore the reason 'unsubscribed'.
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

-- Engagement with messages (journey.message_event): delivered, opened, clicked,
-- bounced, complained, unsubscribed, failed; each against its message, step
-- and enrollment.
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
