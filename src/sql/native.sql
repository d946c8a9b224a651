-- SQL declarations of the C++ entry points (src/pg).

CREATE OR REPLACE FUNCTION journey.validate_definition(definition jsonb, owner regrole DEFAULT NULL)
RETURNS TABLE (step_key text, severity text, message text)
AS 'MODULE_PATHNAME', 'pgj_validate_definition'
LANGUAGE C STABLE SET search_path = pg_catalog, journey, pg_temp;
COMMENT ON FUNCTION journey.validate_definition(jsonb, regrole) IS
  'every problem of a journey definition (JSON), without storing it';

-- validate_definition with a published version's frozen templates
-- (journey.versions.templates; null: journey.templates).
CREATE OR REPLACE FUNCTION journey._validate_version(definition jsonb, owner regrole, templates jsonb)
RETURNS TABLE (step_key text, severity text, message text)
AS 'MODULE_PATHNAME', 'pgj_validate_version'
LANGUAGE C STABLE SET search_path = pg_catalog, journey, pg_temp;
COMMENT ON FUNCTION journey._validate_version(jsonb, regrole, jsonb) IS
  'every problem of a journey version, with the templates it froze at its publish';

-- The top-level keys of a definition that a definition does not have
-- (journey.import refuses them).
CREATE OR REPLACE FUNCTION journey._unknown_definition_keys(definition jsonb) RETURNS text[]
AS 'MODULE_PATHNAME', 'pgj_unknown_definition_keys'
LANGUAGE C IMMUTABLE STRICT SET search_path = pg_catalog, journey, pg_temp;

-- The errors a definition has because of its audience table's current shape
-- (what a column rename, type change or drop breaks), and only those.
CREATE OR REPLACE FUNCTION journey._shape_issues(definition jsonb, audience regclass)
RETURNS TABLE (step_key text, message text)
AS 'MODULE_PATHNAME', 'pgj_shape_issues'
LANGUAGE C STABLE STRICT SET search_path = pg_catalog, journey, pg_temp;

-- Whether enroll / track / exit runs once per row of a query Citus sent to a
-- shard (journey._citus_refuse_per_row). No SET clause: enroll and track call
-- it on every call, and it reads no table.
CREATE OR REPLACE FUNCTION journey._citus_shard_query_call() RETURNS boolean
AS 'MODULE_PATHNAME', 'pgj_citus_shard_query_call'
LANGUAGE C VOLATILE;

-- Makes every backend drop its compiled journeys when the calling transaction
-- commits (journey.publish: the versions it retires are not kept cached).
CREATE OR REPLACE FUNCTION journey._journeys_changed() RETURNS void
AS 'MODULE_PATHNAME', 'pgj_journeys_changed'
LANGUAGE C SET search_path = pg_catalog, journey, pg_temp;

-- Event trigger (ddl_command_start of DROP EXTENSION; see audiences.sql).
CREATE OR REPLACE FUNCTION journey._drop_extension_start() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'pgj_drop_extension_start'
LANGUAGE C SET search_path = pg_catalog, journey, pg_temp;

CREATE OR REPLACE FUNCTION journey._settings_issues(settings jsonb)
RETURNS TABLE (step_key text, severity text, message text)
AS 'MODULE_PATHNAME', 'pgj_settings_issues'
LANGUAGE C STABLE STRICT SET search_path = pg_catalog, journey, pg_temp;

CREATE OR REPLACE FUNCTION journey._template_errors(body text)
RETURNS TABLE (step_key text, severity text, message text)
AS 'MODULE_PATHNAME', 'pgj_template_errors'
LANGUAGE C IMMUTABLE SET search_path = pg_catalog, journey, pg_temp;

CREATE OR REPLACE FUNCTION journey._invoking_role() RETURNS regrole
AS 'MODULE_PATHNAME', 'pgj_invoking_role'
LANGUAGE C STABLE;

CREATE OR REPLACE FUNCTION journey._bridge_selftest(mode text) RETURNS int
AS 'MODULE_PATHNAME', 'pgj_bridge_selftest'
LANGUAGE C VOLATILE STRICT;

CREATE OR REPLACE FUNCTION journey._in_holdout(percent float8, journey text, customer_id text) RETURNS boolean
AS 'MODULE_PATHNAME', 'pgj_in_holdout'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION journey._event_matches(condition jsonb, properties jsonb) RETURNS boolean
AS 'MODULE_PATHNAME', 'pgj_event_matches'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION journey._track_effects(audience regclass, customer_id text, event text,
                                                  properties jsonb, customer_given text,
                                                  occurred_at timestamptz,
                                                  OUT enter_journeys bigint[], OUT enter_entities text[],
                                                  OUT exit_ids bigint[], OUT exit_reasons text[],
                                                  OUT exit_goals boolean[], OUT wake_ids bigint[])
AS 'MODULE_PATHNAME', 'pgj_track_effects'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION journey._track_effects(regclass, text, text, jsonb, text, timestamptz) IS
  'what an event does to the journeys of its audience (decided in src/core/event_rules): track writes it';

CREATE OR REPLACE FUNCTION journey._entity_key(journey text, settings jsonb, context jsonb,
                                               key_list text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'pgj_entity_key'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION journey._entity_key(text, jsonb, jsonb, text) IS
  'the entity key enroll''s context names in a journey with these settings, null when it runs per customer (decided in src/core/entity, as track reads an event''s): 22023 when the context lacks it or it is no entity id; with key_list (''enroll'', ''simulate''): 22023 for a list of customer keys when the journey runs per entity';

CREATE OR REPLACE FUNCTION journey._reentry_rule(settings jsonb, OUT any_earlier_blocks boolean,
                                                 OUT replaces_active boolean, OUT cooldown interval)
AS 'MODULE_PATHNAME', 'pgj_reentry_rule'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION journey._reentry_rule(jsonb) IS
  'how a published journey''s re-entry settings apply (decided in src/core/policy): _enroll_rows applies it';

CREATE OR REPLACE FUNCTION journey._reentry_replaces(any_earlier_blocks boolean,
                                                     replaces_active boolean,
                                                     cooldown_since timestamptz, active boolean,
                                                     entered_at timestamptz)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgj_reentry_replaces'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION journey._reentry_replaces(boolean, boolean, timestamptz, boolean, timestamptz) IS
  'whether re-entry replaces an earlier enrollment (decided in src/core/policy): _enroll_rows_in, the body of every enrollment, ends it';

CREATE OR REPLACE FUNCTION journey._reentry_blocks(any_earlier_blocks boolean,
                                                   replaces_active boolean,
                                                   cooldown_since timestamptz, active boolean,
                                                   entered_at timestamptz)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgj_reentry_blocks'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION journey._reentry_blocks(boolean, boolean, timestamptz, boolean, timestamptz) IS
  'whether an earlier enrollment keeps the customer out (decided in src/core/policy): _enroll_rows_in, the body of every enrollment, applies it';

CREATE OR REPLACE FUNCTION journey._exit_reason(name text, rule_position int) RETURNS text
AS 'MODULE_PATHNAME', 'pgj_exit_reason'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION journey._exit_reason(text, int) IS
  'the exit_reason of enrollments an exit rule ends: its name, or exit rule exit[N] (src/core/engine, exit_reason_of); rule_position as in journey.exit_rules (1-based)';

CREATE OR REPLACE FUNCTION journey._holdout_percent(settings jsonb) RETURNS float8
AS 'MODULE_PATHNAME', 'pgj_holdout_percent'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION journey._holdout_percent(jsonb) IS
  'the holdout share of a published journey''s settings (read in src/core/policy): _enroll_rows draws with it';

CREATE OR REPLACE FUNCTION journey._engagement_effects(kind text, properties jsonb, settings jsonb,
                                                       OUT suppress boolean,
                                                       OUT all_channels boolean,
                                                       OUT ends_enrollment boolean)
AS 'MODULE_PATHNAME', 'pgj_engagement_effects'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION journey._engagement_effects(text, jsonb, jsonb) IS
  'what engagement with a message does (decided in src/core/policy): _message_event writes it';

CREATE OR REPLACE FUNCTION journey._check_engagement(kind text, properties jsonb) RETURNS void
AS 'MODULE_PATHNAME', 'pgj_check_engagement'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION journey._check_engagement(text, jsonb) IS
  'raises 22023 for engagement a caller may not report: kind, properties, bounce type, unsubscribe scope (decided in src/core/policy): message_event calls it first';

CREATE OR REPLACE FUNCTION journey._engagement_accepted(status text) RETURNS boolean
AS 'MODULE_PATHNAME', 'pgj_engagement_accepted'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION journey._engagement_accepted(text) IS
  'whether engagement may be reported for a message in this status: one handed out to a sender (decided in src/core/policy): _message_event_of refuses the others';

CREATE OR REPLACE FUNCTION journey._engagement_once_key(kind text, properties jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'pgj_engagement_once_key'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION journey._engagement_once_key(text, jsonb) IS
  'what engagement happens once to a message, null when recorded each time (decided in src/core/policy): _message_event_of ignores replays by it';

CREATE OR REPLACE FUNCTION journey._engagement_wakes(kind text, visit int, latest_visit int,
                                                     status text, waiting_for text) RETURNS boolean
AS 'MODULE_PATHNAME', 'pgj_engagement_wakes'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION journey._engagement_wakes(text, int, int, text, text) IS
  'whether engagement with the message of a visit wakes its enrollment (decided in src/core/policy): _message_event reads and writes';

CREATE OR REPLACE FUNCTION journey._ignored_suppression_reasons(settings jsonb) RETURNS text[]
AS 'MODULE_PATHNAME', 'pgj_ignored_suppression_reasons'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION journey._ignored_suppression_reasons(jsonb) IS
  'the suppression reasons the messages of a journey with these settings ignore (decided in src/core/policy): publish stores them in journey.versions';

CREATE OR REPLACE FUNCTION journey._duration(duration text) RETURNS interval
AS 'MODULE_PATHNAME', 'pgj_duration'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION journey._audience_trigger() RETURNS trigger
AS 'MODULE_PATHNAME', 'pgj_audience_trigger'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp;

-- Which of the audience's triggers must capture transition tables (PostgreSQL
-- copies every changed row into a transition table for a trigger declared
-- with REFERENCING, whether or not anything reads it): changes while a version
-- the trigger evaluates has a rule of its scope, deletes while a journey of
-- the audience may have active enrollments (core::capture_needs over the
-- versions the trigger itself loads: src/pg/audience_trigger.cpp,
-- docs/triggers.md). journey._install_audience_triggers applies it.
CREATE OR REPLACE FUNCTION journey._audience_capture(rel regclass, OUT changes boolean,
                                                     OUT deletes boolean)
AS 'MODULE_PATHNAME', 'pgj_audience_capture'
LANGUAGE C VOLATILE SET search_path = pg_catalog, journey, pg_temp;
COMMENT ON FUNCTION journey._audience_capture(regclass) IS
  'whether the audience''s triggers capture changed and deleted rows (decided in src/core/row_rules from the versions the trigger loads)';

CREATE OR REPLACE FUNCTION journey._lookup_customer(audience regclass, id text, OUT key text,
                                                    OUT problem text)
AS 'MODULE_PATHNAME', 'pgj_lookup_customer'
LANGUAGE C STABLE SET search_path = pg_catalog, journey, pg_temp;
COMMENT ON FUNCTION journey._lookup_customer(regclass, text) IS
  'the canonical id of the audience''s customer an id names (the key as text), or why there is none';

CREATE OR REPLACE FUNCTION journey._trigger_schedule(type text, config jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'pgj_trigger_schedule'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION journey._trigger_schedule(text, jsonb) IS
  'the cron schedule of a scheduled (segment, date) entry trigger, as src/core/schedule_rules reads it';

CREATE OR REPLACE FUNCTION journey._segment_source(config jsonb, audience regclass,
                                                   OUT query text, OUT member_sql text)
AS 'MODULE_PATHNAME', 'pgj_segment_source'
LANGUAGE C STABLE SET search_path = pg_catalog, journey, pg_temp;
COMMENT ON FUNCTION journey._segment_source(jsonb, regclass) IS
  'where a segment entry trigger''s members come from: its SQL query, or its condition as SQL over the audience aliased t (compiled in src/core/schedule_rules)';

CREATE OR REPLACE FUNCTION journey._date_due_sql(config jsonb) RETURNS text
AS 'MODULE_PATHNAME', 'pgj_date_due_sql'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION journey._date_due_sql(jsonb) IS
  'when a date entry trigger''s customer is due on a run, as SQL over the audience aliased t ($1 last run or null, $2 now; decided in src/core/schedule_rules)';

CREATE OR REPLACE FUNCTION journey._segment_changes(matching text[], members text[],
                                                    OUT entering text[], OUT leaving text[])
AS 'MODULE_PATHNAME', 'pgj_segment_changes'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION journey._segment_changes(text[], text[]) IS
  'who a segment''s run enrolls (newly matching) and who leaves it (decided in src/core/schedule_rules): _run_entry_trigger writes it';

CREATE OR REPLACE FUNCTION journey._owner_query_keys(query text, owner regrole) RETURNS text[]
AS 'MODULE_PATHNAME', 'pgj_owner_query_keys'
LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION journey._preloaded() RETURNS boolean
AS 'MODULE_PATHNAME', 'pgj_preloaded'
LANGUAGE C STABLE;

CREATE OR REPLACE FUNCTION journey._wake_workers() RETURNS void
AS 'MODULE_PATHNAME', 'pgj_wake_workers'
LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION journey._worker_slots(OUT database oid, OUT worker int, OUT pid int)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgj_workers'
LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION journey.run_due(max_enrollments int DEFAULT 1000, as_of timestamptz DEFAULT now())
RETURNS int
AS 'MODULE_PATHNAME', 'pgj_run_due'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp;
COMMENT ON FUNCTION journey.run_due(int, timestamptz) IS
  'one engine tick: advances up to max_enrollments due enrollments at engine time as_of';

-- Without shared_preload_libraries no background worker runs: say so, and how
-- journeys advance then.
DO $$
BEGIN
  IF NOT journey._preloaded() THEN
    RAISE WARNING 'pg_journey is not in shared_preload_libraries: no background worker will run'
      USING HINT = 'add it to shared_preload_libraries and restart, or schedule '
                   'SELECT journey.run_due() with pg_cron (see docs/operations.md)';
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION journey.catalog() RETURNS jsonb
AS 'MODULE_PATHNAME', 'pgj_catalog'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION journey.catalog() IS
  'every step type, entry trigger, exit rule and setting: fields, kinds, required, allowed values, help';

-- Makes every backend reload its cached facts about an audience (recipient,
-- e-mail and time zone columns) once the transaction commits (delivery.sql).
CREATE OR REPLACE FUNCTION journey._invalidate_audience(relation regclass) RETURNS void
AS 'MODULE_PATHNAME', 'pgj_invalidate_audience'
LANGUAGE C STRICT SET search_path = pg_catalog, journey, pg_temp;

-- The message a step renders for a customer, without writing (delivery.sql:
-- journey.preview).
CREATE OR REPLACE FUNCTION journey._preview(definition jsonb, templates jsonb, audience regclass,
                                            step_key text, customer_id text, context jsonb,
                                            event jsonb)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'pgj_preview'
LANGUAGE C STABLE SET search_path = pg_catalog, journey, pg_temp;

-- The send steps of a definition that address their channel's recipient
-- column of the audience (no "to_field"), as its one compile sees them
-- (core::compile_definition, core::channels_sent): _set_recipients refuses to
-- remove the column of a channel a live version sends on.
CREATE OR REPLACE FUNCTION journey._channels_sent(definition jsonb, audience regclass)
RETURNS TABLE (step_key text, channel text)
AS 'MODULE_PATHNAME', 'pgj_channels_sent'
LANGUAGE C STABLE STRICT SET search_path = pg_catalog, journey, pg_temp;

-- The templates a definition's send steps render, by name (its one compile:
-- core::templates_named): publish share-locks and freezes them
-- (journey._definition_templates).
CREATE OR REPLACE FUNCTION journey._templates_named(definition jsonb) RETURNS text[]
AS 'MODULE_PATHNAME', 'pgj_templates_named'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Version migration and resume's re-arm (lifecycle.sql), decided in
-- src/core/migration from the compiled steps.
CREATE OR REPLACE FUNCTION journey._migrations(journey_id bigint, new_version int)
RETURNS TABLE (old_version int, step_key text, moves boolean, keeps_place boolean,
               waiting_for text, rearm boolean, due_now boolean)
AS 'MODULE_PATHNAME', 'pgj_migrations'
LANGUAGE C VOLATILE STRICT SET search_path = pg_catalog, journey, pg_temp;
COMMENT ON FUNCTION journey._migrations(bigint, int) IS
  'per step of the other versions, what publish(migrate => true) onto new_version does to an active enrollment there (src/core/migration): publish applies it, publish_preview shows moves';

CREATE OR REPLACE FUNCTION journey._skip_rearms(journey_id bigint, versions int[])
RETURNS TABLE (version int, step_key text)
AS 'MODULE_PATHNAME', 'pgj_skip_rearms'
LANGUAGE C VOLATILE STRICT SET search_path = pg_catalog, journey, pg_temp;
COMMENT ON FUNCTION journey._skip_rearms(bigint, int[]) IS
  'the steps of these versions at which resume(catch_up => ''skip'') re-arms a parked enrollment that fell due during the pause (src/core/migration)';
