-- Roles and privileges: who may call what.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'journey_reader') THEN
    CREATE ROLE journey_reader NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'journey_app') THEN
    CREATE ROLE journey_app NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'journey_admin') THEN
    CREATE ROLE journey_admin NOLOGIN;
  END IF;
  IF NOT pg_has_role('journey_app', 'journey_reader', 'MEMBER') THEN
    GRANT journey_reader TO journey_app;
  END IF;
  IF NOT pg_has_role('journey_admin', 'journey_app', 'MEMBER') THEN
    GRANT journey_app TO journey_admin;
  END IF;
END
$$;

GRANT USAGE ON SCHEMA journey TO journey_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA journey TO journey_reader;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA journey FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
  journey.export(text, int),
  journey.validate(text),
  journey.validate_definition(jsonb, regrole),
  journey._validate_version(jsonb, regrole, jsonb),
  journey.to_mermaid(text, int),
  journey.to_dot(text, int),
  journey._drawing_steps(text, int),
  journey._drawing_nodes(text, int),
  journey._journey(text, boolean),
  journey._version_of(journey.journeys, int),
  journey._relation_name(regclass),
  journey._find_audience(text),
  journey._audience_columns(regclass)
TO journey_reader;

GRANT EXECUTE ON FUNCTION
  journey.register_audience(regclass, name, name, name, jsonb),
  journey.unregister_audience(regclass),
  journey.create_journey(text, regclass, text),
  journey.drop_journey(text),
  journey.add_step(text, text, journey.step_type, jsonb),
  journey.remove_step(text, text),
  journey.set_start(text, text),
  journey.connect(text, text, text, text),
  journey.disconnect(text, text, text),
  journey.add_entry_trigger(text, text, jsonb),
  journey.remove_entry_trigger(text, int),
  journey.add_exit_rule(text, text, jsonb, boolean),
  journey.remove_exit_rule(text, int),
  journey.set_settings(text, jsonb),
  journey.create_template(text, text, text, text, boolean),
  journey.import(jsonb),
  journey.publish(text, boolean),
  journey.pause(text),
  journey.resume(text, text),
  journey.archive(text),
  journey.publish_preview(text),
  journey._migrations(bigint, int),
  journey.requeue_claimed(interval),
  journey.run_scheduled_trigger(text, int)
TO journey_admin;

GRANT EXECUTE ON FUNCTION
  journey.enroll(text, text, jsonb),
  journey.enroll_query(text, text),
  journey._enroll_keys(bigint, text[]),
  journey._require_enrollable(journey.journeys),
  journey._entity_key(text, jsonb, jsonb, text),
  journey._duration(text),
  journey._in_holdout(float8, text, text),
  journey.track(text, text, jsonb, timestamptz, text, regclass),
  journey.exit(bigint, text),
  journey.run_due(int, timestamptz),
  journey.claim_messages(text, int),
  journey.complete_message(bigint, boolean, text),
  journey._wake_workers()
TO journey_app;
GRANT EXECUTE ON FUNCTION journey._worker_slots() TO journey_reader;
GRANT EXECUTE ON FUNCTION journey._cron_job_state(text), journey._cron_schedule_error(text)
  TO journey_reader;

-- Editing in place, the journey list, diffs and the catalog (src/sql/editing.sql).
GRANT EXECUTE ON FUNCTION
  journey.catalog(),
  journey.list(boolean),
  journey.diff(text, int, int),
  journey._layout_member(bigint, int)
TO journey_reader;

GRANT EXECUTE ON FUNCTION
  journey.set_step_config(text, text, jsonb),
  journey.rename_step(text, text, text),
  journey.move_connection(text, text, text, text, text, text),
  journey.move_entry_trigger(text, int, int),
  journey.move_exit_rule(text, int, int),
  journey.set_entry_trigger(text, int, text, jsonb),
  journey.set_exit_rule(text, int, text, jsonb, boolean),
  journey.set_layout(text, jsonb),
  journey.clone(text, text),
  journey.discard_draft(text)
TO journey_admin;

-- Analytics (src/sql/analytics.sql).
GRANT EXECUTE ON FUNCTION
  journey.funnel(text, timestamptz, timestamptz, int),
  journey.split_report(text, timestamptz, timestamptz, text),
  journey.customer_journeys(text, regclass),
  journey._report_version(journey.journeys, int),
  journey._drawing_parts(bigint, int),
  journey._condition_words(jsonb),
  journey._exit_reason(text, int),
  journey._step_words(journey.step_type, jsonb),
  journey._report_window(timestamptz, timestamptz),
  journey._whole_hours(timestamptz, timestamptz),
  journey._report_steps(bigint, int, int),
  journey._funnel_visits(bigint, int, timestamptz, timestamptz),
  journey._split_control(journey.journeys, text),
  journey._split_counts(bigint, timestamptz, timestamptz),
  journey._weighted_percentiles(bigint[], bigint[], float8[]),
  journey._canonical_id(regclass, text),
  journey._customer_audience(text, regclass),
  journey._require_live_audience(regclass),
  journey._mermaid_text(text),
  journey._visible(text)
TO journey_reader;

-- The roll-up's upkeep (analytics.sql): the workers (journey_app) merge ended
-- hours; rebuilding it locks journey.activity, so only an admin may.
GRANT EXECUTE ON FUNCTION journey.compact_activity_hours(timestamptz) TO journey_app;
GRANT EXECUTE ON FUNCTION journey.rebuild_activity_hours(text) TO journey_admin;
