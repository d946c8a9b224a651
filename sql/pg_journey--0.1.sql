-- pg_journey 0.1: customer journeys inside PostgreSQL.
\echo Use "CREATE EXTENSION pg_journey" to load this file. \quit

-------------------------------------------------------------------------------
-- Types
-------------------------------------------------------------------------------

CREATE TYPE journey.journey_state AS ENUM ('draft', 'published', 'paused', 'archived');

CREATE TYPE journey.step_type AS ENUM (
  'send_email', 'send', 'delay', 'wait_for_event', 'wait_until', 'condition', 'branch',
  'split', 'update_field', 'call', 'goal', 'exit');

CREATE TYPE journey.enrollment_status AS ENUM ('active', 'completed', 'exited', 'failed');

CREATE TYPE journey.version_status AS ENUM ('draft', 'published', 'retired');

-------------------------------------------------------------------------------
-- Authoring tables (small reference tables; definitions of journeys)
-------------------------------------------------------------------------------

CREATE TABLE journey.audiences (
  relation        regclass PRIMARY KEY,
  key_column      name NOT NULL,
  email_column    name,
  timezone_column name,
  registered_at   timestamptz NOT NULL DEFAULT now(),
  registered_by   name NOT NULL DEFAULT current_user
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
  PRIMARY KEY (journey_id, version)
);
CREATE UNIQUE INDEX versions_one_draft ON journey.versions (journey_id) WHERE status = 'draft';
CREATE UNIQUE INDEX versions_one_published ON journey.versions (journey_id)
  WHERE status = 'published';
COMMENT ON TABLE journey.versions IS
  'draft, published and retired versions; definition is the frozen graph of a published version';

CREATE TABLE journey.steps (
  journey_id bigint NOT NULL,
  version    int NOT NULL,
  key        text NOT NULL CHECK (key ~ '^[A-Za-z0-9_.-]{1,63}$'),
  type       journey.step_type NOT NULL,
  config     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
  position   int NOT NULL,
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

-------------------------------------------------------------------------------
-- Runtime tables (grow with customers; keyed so they can be distributed by
-- customer_id)
-------------------------------------------------------------------------------

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
  FOREIGN KEY (journey_id, version) REFERENCES journey.versions ON DELETE CASCADE
) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02,
        autovacuum_analyze_scale_factor = 0.05);
COMMENT ON TABLE journey.enrollments IS
  'one row per customer (and entity) in a journey: where they are, and how it ended';
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
  PRIMARY KEY (enrollment_id, visit)
);
COMMENT ON TABLE journey.activity IS
  'append-only history: one row per step visit, with the way out (branch) it took';
CREATE INDEX activity_journey_step ON journey.activity (journey_id, version, step_key);
CREATE INDEX activity_customer ON journey.activity (customer_id, at);

CREATE TABLE journey.events (
  id              bigserial PRIMARY KEY,
  customer_id     text NOT NULL,
  name            text NOT NULL CHECK (name <> ''),
  properties      jsonb NOT NULL DEFAULT '{}',
  occurred_at     timestamptz NOT NULL DEFAULT now(),
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  idempotency_key text UNIQUE
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
  UNIQUE (enrollment_id, visit)
) WITH (fillfactor = 90);
COMMENT ON TABLE journey.messages IS
  'the outbox: one row per send-step visit; apps claim_messages() and complete_message()';
CREATE INDEX messages_pending ON journey.messages (channel, send_after) WHERE status = 'pending';

-- No message leaves for a customer who has left the journey (an exit rule, a
-- goal, unsubscribing, a manual exit, an archive): their pending messages are
-- withdrawn in the transaction of the exit.
CREATE FUNCTION journey._withdraw_messages() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  UPDATE journey.messages m SET status = 'suppressed', reason = 'exited', completed_at = now()
   WHERE m.enrollment_id = NEW.id AND m.status = 'pending';
  RETURN NULL;
END
$$;
CREATE TRIGGER enrollments_withdraw_messages
  AFTER UPDATE OF status ON journey.enrollments
  FOR EACH ROW WHEN (OLD.status = 'active' AND NEW.status = 'exited')
  EXECUTE FUNCTION journey._withdraw_messages();
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
SELECT pg_catalog.pg_extension_config_dump('journey.segment_members', '');
SELECT pg_catalog.pg_extension_config_dump('journey.scheduled_runs', '');
SELECT pg_catalog.pg_extension_config_dump('journey.enrollments', '');
SELECT pg_catalog.pg_extension_config_dump('journey.enrollments_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('journey.activity', '');
SELECT pg_catalog.pg_extension_config_dump('journey.events', '');
SELECT pg_catalog.pg_extension_config_dump('journey.events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('journey.messages', '');
SELECT pg_catalog.pg_extension_config_dump('journey.messages_id_seq', '');

-------------------------------------------------------------------------------
-- C functions (src/pg)
-------------------------------------------------------------------------------

CREATE FUNCTION journey.validate_definition(definition jsonb, owner regrole DEFAULT NULL)
RETURNS TABLE (step_key text, severity text, message text)
AS 'MODULE_PATHNAME', 'pgj_validate_definition'
LANGUAGE C STABLE SET search_path = pg_catalog, journey, pg_temp;
COMMENT ON FUNCTION journey.validate_definition(jsonb, regrole) IS
  'every problem of a journey definition (JSON), without storing it';

CREATE FUNCTION journey._settings_issues(settings jsonb)
RETURNS TABLE (step_key text, severity text, message text)
AS 'MODULE_PATHNAME', 'pgj_settings_issues'
LANGUAGE C STABLE STRICT SET search_path = pg_catalog, journey, pg_temp;

CREATE FUNCTION journey._template_errors(body text)
RETURNS TABLE (step_key text, severity text, message text)
AS 'MODULE_PATHNAME', 'pgj_template_errors'
LANGUAGE C IMMUTABLE SET search_path = pg_catalog, journey, pg_temp;

CREATE FUNCTION journey._invoking_role() RETURNS regrole
AS 'MODULE_PATHNAME', 'pgj_invoking_role'
LANGUAGE C STABLE;

CREATE FUNCTION journey._bridge_selftest(mode text) RETURNS int
AS 'MODULE_PATHNAME', 'pgj_bridge_selftest'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION journey._in_holdout(percent float8, journey text, customer_id text) RETURNS boolean
AS 'MODULE_PATHNAME', 'pgj_in_holdout'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION journey._event_matches(condition jsonb, properties jsonb) RETURNS boolean
AS 'MODULE_PATHNAME', 'pgj_event_matches'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION journey._duration(duration text) RETURNS interval
AS 'MODULE_PATHNAME', 'pgj_duration'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION journey._audience_trigger() RETURNS trigger
AS 'MODULE_PATHNAME', 'pgj_audience_trigger'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp;

CREATE FUNCTION journey._condition_sql(condition jsonb, audience regclass) RETURNS text
AS 'MODULE_PATHNAME', 'pgj_condition_sql'
LANGUAGE C STABLE SET search_path = pg_catalog, journey, pg_temp;

CREATE FUNCTION journey._owner_query_keys(query text, owner regrole) RETURNS text[]
AS 'MODULE_PATHNAME', 'pgj_owner_query_keys'
LANGUAGE C VOLATILE;

CREATE FUNCTION journey._preloaded() RETURNS boolean
AS 'MODULE_PATHNAME', 'pgj_preloaded'
LANGUAGE C STABLE;

CREATE FUNCTION journey._wake_workers() RETURNS void
AS 'MODULE_PATHNAME', 'pgj_wake_workers'
LANGUAGE C VOLATILE;

CREATE FUNCTION journey._worker_slots(OUT database oid, OUT worker int, OUT pid int)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgj_workers'
LANGUAGE C VOLATILE;

CREATE FUNCTION journey.run_due(max_enrollments int DEFAULT 1000, as_of timestamptz DEFAULT now())
RETURNS int
AS 'MODULE_PATHNAME', 'pgj_run_due'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp;
COMMENT ON FUNCTION journey.run_due(int, timestamptz) IS
  'one engine tick: advances up to max_enrollments due enrollments at engine time as_of';

-------------------------------------------------------------------------------
-- Internal helpers
-------------------------------------------------------------------------------

-- Columns of an audience table with the type category conditions compare by.
CREATE FUNCTION journey._audience_columns(relation regclass)
RETURNS TABLE (attnum int, name text, type_name text, category text)
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT a.attnum::int, a.attname::text, format_type(a.atttypid, a.atttypmod),
         CASE
           WHEN b.oid = 'bool'::regtype THEN 'bool'
           WHEN b.oid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN 'int'
           WHEN b.oid IN ('float4'::regtype, 'float8'::regtype, 'numeric'::regtype) THEN 'float'
           WHEN b.oid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype,
                          'name'::regtype, 'uuid'::regtype)
                OR b.typtype = 'e' OR b.typname = 'citext' THEN 'text'
           WHEN b.oid IN ('timestamptz'::regtype, 'timestamp'::regtype) THEN 'timestamp'
           WHEN b.oid = 'date'::regtype THEN 'date'
           WHEN b.oid IN ('json'::regtype, 'jsonb'::regtype) THEN 'json'
           ELSE 'other'
         END
    FROM pg_attribute a
    JOIN pg_type t ON t.oid = a.atttypid
    JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
   WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
   ORDER BY a.attnum
$$;

-- Schema-qualified, quoted name of a relation (what export writes).
CREATE FUNCTION journey._relation_name(relation regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT format('%I.%I', n.nspname, c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = $1
$$;

-- The journey named p_name (locked for update when asked); 42704 when missing.
CREATE FUNCTION journey._journey(p_name text, p_lock boolean DEFAULT false)
RETURNS journey.journeys
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys;
BEGIN
  IF p_name IS NULL THEN
    RAISE EXCEPTION 'journey name must not be null' USING ERRCODE = '22004';
  END IF;
  IF p_lock THEN
    SELECT * INTO j FROM journey.journeys x WHERE x.name = p_name FOR UPDATE;
  ELSE
    SELECT * INTO j FROM journey.journeys x WHERE x.name = p_name;
  END IF;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'journey "%" does not exist', p_name USING ERRCODE = '42704';
  END IF;
  RETURN j;
END
$$;

-- The registered audience a definition names: schema-qualified, or by table
-- name alone when exactly one registered audience has that name (so a name
-- means the same whatever the caller's search_path). NULL when none.
CREATE FUNCTION journey._find_audience(p_name text) RETURNS regclass
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  found regclass[];
BEGIN
  SELECT array_agg(a.relation) INTO found
    FROM journey.audiences a
    JOIN pg_class c ON c.oid = a.relation
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE p_name IN (format('%I.%I', n.nspname, c.relname), n.nspname || '.' || c.relname,
                    format('%I', c.relname), c.relname::text);
  IF cardinality(found) > 1 THEN
    RAISE EXCEPTION 'audience name "%" is ambiguous', p_name
      USING ERRCODE = '42725', HINT = 'qualify it with its schema, as in public.customers';
  END IF;
  RETURN found[1];
END
$$;

-- Like _find_audience, but a name that is not registered is an error.
CREATE FUNCTION journey._audience_by_name(p_name text) RETURNS regclass
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  rel regclass := journey._find_audience(p_name);
BEGIN
  IF rel IS NULL THEN
    RAISE EXCEPTION 'audience "%" is not registered', p_name
      USING ERRCODE = '42704',
            HINT = 'register the customer table first: SELECT journey.register_audience(''table'', ''key_column'')';
  END IF;
  RETURN rel;
END
$$;

-- Raises the error for a state transition the journey's state does not allow.
CREATE FUNCTION journey._illegal_transition(j journey.journeys, verb text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'cannot % journey "%": it is %', verb, j.name,
    j.state::text || CASE j.state
                 WHEN 'draft' THEN ' (a draft journey can only be published or archived)'
                 WHEN 'published' THEN ' (a published journey can only be paused or archived)'
                 WHEN 'paused' THEN ' (a paused journey can only be resumed, published or archived)'
                 ELSE ' (archived is final: no transition is allowed)'
               END
    USING ERRCODE = '55000';
END
$$;

-- Locks the journey and returns its draft version, starting a new draft from
-- the latest version when there is none (the first edit after a publish).
CREATE FUNCTION journey._draft_for_edit(p_journey text, OUT j journey.journeys, OUT v int)
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  src int;
BEGIN
  j := journey._journey(p_journey, true);
  IF j.state = 'archived' THEN
    RAISE EXCEPTION 'journey "%" is archived and cannot be edited', j.name
      USING ERRCODE = '55000',
            HINT = 'import its export under a new name to start again from it';
  END IF;
  SELECT x.version INTO v FROM journey.versions x WHERE x.journey_id = j.id AND x.status = 'draft';
  IF FOUND THEN
    UPDATE journey.journeys x SET updated_at = now() WHERE x.id = j.id;
    RETURN;
  END IF;
  SELECT max(x.version) INTO src FROM journey.versions x WHERE x.journey_id = j.id;
  v := src + 1;
  INSERT INTO journey.versions (journey_id, version, status, start_key, settings)
    SELECT x.journey_id, v, 'draft', x.start_key, x.settings
      FROM journey.versions x WHERE x.journey_id = j.id AND x.version = src;
  INSERT INTO journey.steps (journey_id, version, key, type, config, position)
    SELECT s.journey_id, v, s.key, s.type, s.config, s.position
      FROM journey.steps s WHERE s.journey_id = j.id AND s.version = src;
  INSERT INTO journey.connections (journey_id, version, from_key, branch, to_key)
    SELECT c.journey_id, v, c.from_key, c.branch, c.to_key
      FROM journey.connections c WHERE c.journey_id = j.id AND c.version = src;
  INSERT INTO journey.entry_triggers (journey_id, version, position, type, config)
    SELECT t.journey_id, v, t.position, t.type, t.config
      FROM journey.entry_triggers t WHERE t.journey_id = j.id AND t.version = src;
  INSERT INTO journey.exit_rules (journey_id, version, position, type, config, is_goal)
    SELECT r.journey_id, v, r.position, r.type, r.config, r.is_goal
      FROM journey.exit_rules r WHERE r.journey_id = j.id AND r.version = src;
  UPDATE journey.journeys x SET updated_at = now() WHERE x.id = j.id;
END
$$;

-- Checks a step key's form; 22023 naming the journey otherwise.
CREATE FUNCTION journey._check_step_key(p_journey text, p_key text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  IF p_key IS NULL OR p_key !~ '^[A-Za-z0-9_.-]{1,63}$' THEN
    RAISE EXCEPTION 'invalid step key "%" in journey "%"', p_key, p_journey
      USING ERRCODE = '22023',
            HINT = 'step keys are 1 to 63 letters, digits, "_", "-" or "."';
  END IF;
END
$$;

-- Checks that a step exists in the draft; 42704 naming step and journey otherwise.
CREATE FUNCTION journey._require_step(j journey.journeys, v int, p_key text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  PERFORM 1 FROM journey.steps s WHERE s.journey_id = j.id AND s.version = v AND s.key = p_key;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'step "%" does not exist in journey "%"', p_key, j.name
      USING ERRCODE = '42704';
  END IF;
END
$$;

-- Inserts one step into a draft, with the checks add_step and import share.
CREATE FUNCTION journey._insert_step(j journey.journeys, v int, p_key text, p_type text,
                                     p_config jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  reserved text;
BEGIN
  PERFORM journey._check_step_key(j.name, p_key);
  IF p_type IS NULL OR NOT p_type = ANY (enum_range(NULL::journey.step_type)::text[]) THEN
    RAISE EXCEPTION 'unknown step type "%" for step "%" of journey "%"', p_type, p_key, j.name
      USING ERRCODE = '22023',
            HINT = 'step types: ' || array_to_string(enum_range(NULL::journey.step_type)::text[], ', ');
  END IF;
  IF p_config IS NULL OR jsonb_typeof(p_config) <> 'object' THEN
    RAISE EXCEPTION 'config of step "%" of journey "%" must be a JSON object', p_key, j.name
      USING ERRCODE = '22023';
  END IF;
  SELECT k INTO reserved FROM unnest(ARRAY['key', 'type', 'next', 'branches']) k
   WHERE p_config ? k LIMIT 1;
  IF reserved IS NOT NULL THEN
    RAISE EXCEPTION 'config of step "%" of journey "%" may not contain "%"', p_key, j.name, reserved
      USING ERRCODE = '22023', HINT = 'connect steps with journey.connect()';
  END IF;
  BEGIN
    INSERT INTO journey.steps (journey_id, version, key, type, config, position)
    VALUES (j.id, v, p_key, p_type::journey.step_type, p_config,
            coalesce((SELECT max(s.position) + 1 FROM journey.steps s
                       WHERE s.journey_id = j.id AND s.version = v), 1));
  EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'step "%" already exists in journey "%"', p_key, j.name
      USING ERRCODE = '23505';
  END;
END
$$;

-- Inserts one entry trigger (at the end) into a draft; returns its position.
CREATE FUNCTION journey._insert_entry_trigger(j journey.journeys, v int, p_type text,
                                              p_config jsonb) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  pos int;
BEGIN
  IF p_type IS NULL OR p_type NOT IN ('event', 'attribute', 'segment', 'date', 'manual') THEN
    RAISE EXCEPTION 'unknown entry trigger type "%" for journey "%"', p_type, j.name
      USING ERRCODE = '22023', HINT = 'entry trigger types: event, attribute, segment, date, manual';
  END IF;
  IF p_config IS NULL OR jsonb_typeof(p_config) <> 'object' OR p_config ? 'type' THEN
    RAISE EXCEPTION 'config of the % entry trigger of journey "%" must be a JSON object without "type"',
      p_type, j.name USING ERRCODE = '22023';
  END IF;
  SELECT coalesce(max(t.position), 0) + 1 INTO pos FROM journey.entry_triggers t
   WHERE t.journey_id = j.id AND t.version = v;
  INSERT INTO journey.entry_triggers (journey_id, version, position, type, config)
  VALUES (j.id, v, pos, p_type, p_config);
  RETURN pos;
END
$$;

-- Inserts one exit rule (at the end) into a draft; returns its position.
CREATE FUNCTION journey._insert_exit_rule(j journey.journeys, v int, p_type text, p_config jsonb,
                                          p_is_goal boolean) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  pos int;
BEGIN
  IF p_type IS NULL OR p_type NOT IN ('event', 'condition') THEN
    RAISE EXCEPTION 'unknown exit rule type "%" for journey "%"', p_type, j.name
      USING ERRCODE = '22023', HINT = 'exit rule types: event, condition';
  END IF;
  IF p_config IS NULL OR jsonb_typeof(p_config) <> 'object' OR p_config ?| ARRAY['type', 'is_goal'] THEN
    RAISE EXCEPTION 'config of the % exit rule of journey "%" must be a JSON object without "type" or "is_goal"',
      p_type, j.name USING ERRCODE = '22023';
  END IF;
  SELECT coalesce(max(r.position), 0) + 1 INTO pos FROM journey.exit_rules r
   WHERE r.journey_id = j.id AND r.version = v;
  INSERT INTO journey.exit_rules (journey_id, version, position, type, config, is_goal)
  VALUES (j.id, v, pos, p_type, p_config, coalesce(p_is_goal, false));
  RETURN pos;
END
$$;

-- Raises one 22023 error listing every error-severity issue, if there are any.
CREATE FUNCTION journey._raise_issues(p_what text, p_issues jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  n int := jsonb_array_length(p_issues);
BEGIN
  IF n > 0 THEN
    RAISE EXCEPTION '% has % error%', p_what, n, CASE WHEN n = 1 THEN '' ELSE 's' END
      USING ERRCODE = '22023',
            DETAIL = (SELECT string_agg(format('%s: %s', coalesce(i->>'step_key', 'journey'),
                                               i->>'message'), E'\n')
                        FROM jsonb_array_elements(p_issues) i);
  END IF;
END
$$;

-------------------------------------------------------------------------------
-- Audiences
-------------------------------------------------------------------------------

-- Registers a customer table: which column is the customer id, and optionally
-- where the e-mail address and the time zone of each customer are.
CREATE FUNCTION journey.register_audience(relation regclass, key_column name,
                                          email_column name DEFAULT NULL,
                                          timezone_column name DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  rel regclass := register_audience.relation;
  kind "char";
  key_attnum int;
  col record;
  old journey.audiences;
BEGIN
  IF rel IS NULL OR register_audience.key_column IS NULL THEN
    RAISE EXCEPTION 'relation and key_column must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = rel;
  IF kind NOT IN ('r', 'p') THEN
    RAISE EXCEPTION '"%" is not a table', rel USING ERRCODE = '42809';
  END IF;
  IF NOT (has_table_privilege(journey._invoking_role(), rel, 'SELECT')
          AND has_table_privilege(journey._invoking_role(), rel, 'TRIGGER')) THEN
    RAISE EXCEPTION 'permission denied for table %', rel USING ERRCODE = '42501',
      HINT = 'registering an audience needs SELECT and TRIGGER on the table (it installs triggers)';
  END IF;
  FOR col IN SELECT * FROM (VALUES ('key_column', register_audience.key_column),
                                   ('email_column', register_audience.email_column),
                                   ('timezone_column', register_audience.timezone_column)) v(role, name)
             WHERE v.name IS NOT NULL LOOP
    PERFORM 1 FROM journey._audience_columns(rel) c WHERE c.name = col.name;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'column "%" of relation "%" does not exist', col.name, rel
        USING ERRCODE = '42703', DETAIL = format('it was given as %s', col.role);
    END IF;
    IF col.role <> 'key_column' THEN
      PERFORM 1 FROM journey._audience_columns(rel) c WHERE c.name = col.name AND c.category = 'text';
      IF NOT FOUND THEN
        RAISE EXCEPTION '% "%" of relation "%" must be of a text type', col.role, col.name, rel
          USING ERRCODE = '42804';
      END IF;
    END IF;
  END LOOP;
  SELECT c.attnum INTO key_attnum FROM journey._audience_columns(rel) c
   WHERE c.name = register_audience.key_column;
  PERFORM 1 FROM pg_index i
   WHERE i.indrelid = rel AND i.indisunique AND i.indnkeyatts = 1
     AND i.indkey[0] = key_attnum AND i.indpred IS NULL AND i.indexprs IS NULL;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'key column "%" of relation "%" is not unique', register_audience.key_column, rel
      USING ERRCODE = '42P10',
            HINT = format('add a primary key or a unique index on %s (%I)', rel, register_audience.key_column);
  END IF;
  SELECT * INTO old FROM journey.audiences a WHERE a.relation = rel FOR UPDATE;
  IF FOUND AND old.key_column <> register_audience.key_column THEN
    PERFORM 1 FROM journey.journeys x WHERE x.audience = rel;
    IF FOUND THEN
      RAISE EXCEPTION 'cannot change the key column of audience "%": journeys use it', rel
        USING ERRCODE = '55000';
    END IF;
  END IF;
  INSERT INTO journey.audiences AS a (relation, key_column, email_column, timezone_column, registered_by)
  VALUES (rel, register_audience.key_column, register_audience.email_column,
          register_audience.timezone_column,
          (SELECT r.rolname FROM pg_roles r WHERE r.oid = journey._invoking_role()))
  ON CONFLICT ON CONSTRAINT audiences_pkey DO UPDATE
     SET key_column = excluded.key_column, email_column = excluded.email_column,
         timezone_column = excluded.timezone_column;
  PERFORM journey._install_audience_triggers(rel);
END
$$;

-- (Re)creates the statement-level triggers that fire attribute entry triggers,
-- condition exit rules and wait_until steps in the transaction of the change.
CREATE FUNCTION journey._install_audience_triggers(rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  PERFORM journey._remove_audience_triggers(rel);
  EXECUTE format('CREATE TRIGGER pg_journey_insert AFTER INSERT ON %s
                    REFERENCING NEW TABLE AS pg_journey_new
                    FOR EACH STATEMENT EXECUTE FUNCTION journey._audience_trigger()', rel);
  EXECUTE format('CREATE TRIGGER pg_journey_update AFTER UPDATE ON %s
                    REFERENCING OLD TABLE AS pg_journey_old NEW TABLE AS pg_journey_new
                    FOR EACH STATEMENT EXECUTE FUNCTION journey._audience_trigger()', rel);
  EXECUTE format('CREATE TRIGGER pg_journey_delete AFTER DELETE ON %s
                    REFERENCING OLD TABLE AS pg_journey_old
                    FOR EACH STATEMENT EXECUTE FUNCTION journey._audience_trigger()', rel);
END
$$;

CREATE FUNCTION journey._remove_audience_triggers(rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  name text;
BEGIN
  FOR name IN SELECT t.tgname FROM pg_trigger t
               WHERE t.tgrelid = rel AND t.tgname IN ('pg_journey_insert', 'pg_journey_update',
                                                      'pg_journey_delete') LOOP
    EXECUTE format('DROP TRIGGER %I ON %s', name, rel);
  END LOOP;
END
$$;

-- Forgets a customer table; refused while journeys use it.
CREATE FUNCTION journey.unregister_audience(relation regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  users text;
BEGIN
  PERFORM 1 FROM journey.audiences a WHERE a.relation = unregister_audience.relation FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'relation "%" is not a registered audience', unregister_audience.relation
      USING ERRCODE = '42704';
  END IF;
  SELECT string_agg(format('%s (%s)', x.name, x.state), ', ' ORDER BY x.name) INTO users
    FROM journey.journeys x WHERE x.audience = unregister_audience.relation;
  IF users IS NOT NULL THEN
    RAISE EXCEPTION 'audience "%" is used by journeys: %', unregister_audience.relation, users
      USING ERRCODE = '2BP01', HINT = 'drop those journeys first (journey.drop_journey)';
  END IF;
  PERFORM journey._remove_audience_triggers(unregister_audience.relation);
  DELETE FROM journey.audiences a WHERE a.relation = unregister_audience.relation;
END
$$;

-- A registered customer table cannot be dropped from under its journeys.
CREATE FUNCTION journey._guard_audience_drop() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  dropped record;
BEGIN
  FOR dropped IN SELECT d.objid, d.object_identity FROM pg_event_trigger_dropped_objects() d
                  WHERE d.object_type = 'table' LOOP
    IF EXISTS (SELECT 1 FROM journey.audiences a WHERE a.relation::oid = dropped.objid) THEN
      RAISE EXCEPTION 'cannot drop table %: it is a registered journey audience', dropped.object_identity
        USING ERRCODE = '2BP01',
              HINT = 'drop its journeys (journey.drop_journey) and call journey.unregister_audience first';
    END IF;
  END LOOP;
END
$$;
CREATE EVENT TRIGGER pg_journey_guard_audience_drop ON sql_drop
  EXECUTE FUNCTION journey._guard_audience_drop();

-------------------------------------------------------------------------------
-- Journeys: creation and editing (always on the draft version)
-------------------------------------------------------------------------------

-- Creates a journey (state draft, version 1 empty); returns its id.
CREATE FUNCTION journey.create_journey(name text, audience regclass, description text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  jid bigint;
BEGIN
  IF create_journey.name IS NULL OR btrim(create_journey.name) = '' THEN
    RAISE EXCEPTION 'journey name must be a non-empty string' USING ERRCODE = '22023';
  END IF;
  PERFORM 1 FROM journey.audiences a WHERE a.relation = create_journey.audience;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'relation "%" is not a registered audience', create_journey.audience
      USING ERRCODE = '42704',
            HINT = format('register it first: SELECT journey.register_audience(%L, ''key_column'')',
                          create_journey.audience::text);
  END IF;
  BEGIN
    INSERT INTO journey.journeys (name, description, audience, owner)
    VALUES (create_journey.name, create_journey.description, create_journey.audience,
            journey._invoking_role())
    RETURNING id INTO jid;
  EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'journey "%" already exists', create_journey.name USING ERRCODE = '23505';
  END;
  INSERT INTO journey.versions (journey_id, version) VALUES (jid, 1);
  RETURN jid;
END
$$;

-- Deletes a journey that never went live, or an archived one, with its history.
CREATE FUNCTION journey.drop_journey(journey text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(drop_journey.journey, true);
BEGIN
  IF j.state NOT IN ('draft', 'archived') THEN
    RAISE EXCEPTION 'cannot drop journey "%": it is %', j.name, j.state
      USING ERRCODE = '55000', HINT = 'archive it first (journey.archive)';
  END IF;
  DELETE FROM journey.journeys x WHERE x.id = j.id;
  PERFORM journey._sync_schedules(j.id);
END
$$;

-- Adds a step to the draft; the first step added becomes the start step.
CREATE FUNCTION journey.add_step(journey text, key text, type journey.step_type,
                                 config jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(add_step.journey);
BEGIN
  IF add_step.type IS NULL THEN
    RAISE EXCEPTION 'step type must not be null (step "%" of journey "%")', add_step.key, (d.j).name
      USING ERRCODE = '22004';
  END IF;
  PERFORM journey._insert_step(d.j, d.v, add_step.key, add_step.type::text,
                               coalesce(add_step.config, '{}'));
  UPDATE journey.versions x SET start_key = add_step.key
   WHERE x.journey_id = (d.j).id AND x.version = d.v AND x.start_key IS NULL;
END
$$;

-- Removes a step from the draft with every connection from or to it.
CREATE FUNCTION journey.remove_step(journey text, key text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(remove_step.journey);
BEGIN
  PERFORM journey._require_step(d.j, d.v, remove_step.key);
  DELETE FROM journey.connections c
   WHERE c.journey_id = (d.j).id AND c.version = d.v AND c.to_key = remove_step.key;
  DELETE FROM journey.steps s
   WHERE s.journey_id = (d.j).id AND s.version = d.v AND s.key = remove_step.key;
  UPDATE journey.versions x SET start_key = NULL
   WHERE x.journey_id = (d.j).id AND x.version = d.v AND x.start_key = remove_step.key;
END
$$;

-- Makes `key` the step every enrollment starts at.
CREATE FUNCTION journey.set_start(journey text, key text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(set_start.journey);
BEGIN
  PERFORM journey._require_step(d.j, d.v, set_start.key);
  UPDATE journey.versions x SET start_key = set_start.key
   WHERE x.journey_id = (d.j).id AND x.version = d.v;
END
$$;

-- Connects branch `branch` of step from_key to step to_key (replacing any
-- earlier target of that branch).
CREATE FUNCTION journey.connect(journey text, from_key text, to_key text, branch text DEFAULT 'next')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(connect.journey);
BEGIN
  PERFORM journey._require_step(d.j, d.v, connect.from_key);
  PERFORM journey._require_step(d.j, d.v, connect.to_key);
  IF connect.branch IS NULL OR connect.branch = '' THEN
    RAISE EXCEPTION 'branch of step "%" in journey "%" must be a non-empty name', connect.from_key,
      (d.j).name USING ERRCODE = '22023';
  END IF;
  INSERT INTO journey.connections AS c (journey_id, version, from_key, branch, to_key)
  VALUES ((d.j).id, d.v, connect.from_key, connect.branch, connect.to_key)
  ON CONFLICT ON CONSTRAINT connections_pkey DO UPDATE SET to_key = excluded.to_key;
END
$$;

-- Removes the connection leaving step from_key by branch `branch`.
CREATE FUNCTION journey.disconnect(journey text, from_key text, branch text DEFAULT 'next')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(disconnect.journey);
BEGIN
  PERFORM journey._require_step(d.j, d.v, disconnect.from_key);
  DELETE FROM journey.connections c
   WHERE c.journey_id = (d.j).id AND c.version = d.v AND c.from_key = disconnect.from_key
     AND c.branch = disconnect.branch;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'step "%" of journey "%" has no connection "%"', disconnect.from_key, (d.j).name,
      disconnect.branch USING ERRCODE = '42704';
  END IF;
END
$$;

-- Adds an entry trigger to the draft; returns its position (1-based).
CREATE FUNCTION journey.add_entry_trigger(journey text, type text, config jsonb DEFAULT '{}')
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(add_entry_trigger.journey);
BEGIN
  RETURN journey._insert_entry_trigger(d.j, d.v, add_entry_trigger.type,
                                       coalesce(add_entry_trigger.config, '{}'));
END
$$;

-- Removes the entry trigger at `position` from the draft; later ones move up.
CREATE FUNCTION journey.remove_entry_trigger(journey text, "position" int) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(remove_entry_trigger.journey);
BEGIN
  DELETE FROM journey.entry_triggers t
   WHERE t.journey_id = (d.j).id AND t.version = d.v AND t.position = remove_entry_trigger.position;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'journey "%" has no entry trigger at position %', (d.j).name,
      remove_entry_trigger.position USING ERRCODE = '42704';
  END IF;
  UPDATE journey.entry_triggers t SET position = t.position - 1
   WHERE t.journey_id = (d.j).id AND t.version = d.v AND t.position > remove_entry_trigger.position;
END
$$;

-- Adds an exit rule to the draft; returns its position (1-based).
CREATE FUNCTION journey.add_exit_rule(journey text, type text, config jsonb DEFAULT '{}',
                                      is_goal boolean DEFAULT false)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(add_exit_rule.journey);
BEGIN
  RETURN journey._insert_exit_rule(d.j, d.v, add_exit_rule.type,
                                   coalesce(add_exit_rule.config, '{}'), add_exit_rule.is_goal);
END
$$;

-- Removes the exit rule at `position` from the draft; later ones move up.
CREATE FUNCTION journey.remove_exit_rule(journey text, "position" int) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(remove_exit_rule.journey);
BEGIN
  DELETE FROM journey.exit_rules r
   WHERE r.journey_id = (d.j).id AND r.version = d.v AND r.position = remove_exit_rule.position;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'journey "%" has no exit rule at position %', (d.j).name,
      remove_exit_rule.position USING ERRCODE = '42704';
  END IF;
  UPDATE journey.exit_rules r SET position = r.position - 1
   WHERE r.journey_id = (d.j).id AND r.version = d.v AND r.position > remove_exit_rule.position;
END
$$;

-- Merges `settings` into the draft's settings (a key set to null is removed)
-- and returns the result; refuses settings with errors.
CREATE FUNCTION journey.set_settings(journey text, settings jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  d record := journey._draft_for_edit(set_settings.journey);
  merged jsonb;
  problems jsonb;
BEGIN
  IF set_settings.settings IS NULL OR jsonb_typeof(set_settings.settings) <> 'object' THEN
    RAISE EXCEPTION 'settings of journey "%" must be a JSON object', (d.j).name USING ERRCODE = '22023';
  END IF;
  SELECT x.settings || set_settings.settings INTO merged FROM journey.versions x
   WHERE x.journey_id = (d.j).id AND x.version = d.v;
  SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}') INTO merged
    FROM jsonb_each(merged) e WHERE jsonb_typeof(e.value) <> 'null';
  SELECT coalesce(jsonb_agg(to_jsonb(i)), '[]') INTO problems
    FROM journey._settings_issues(merged) i WHERE i.severity = 'error';
  PERFORM journey._raise_issues(format('settings of journey "%s"', (d.j).name), problems);
  UPDATE journey.versions x SET settings = merged WHERE x.journey_id = (d.j).id AND x.version = d.v;
  RETURN merged;
END
$$;

-------------------------------------------------------------------------------
-- Templates
-------------------------------------------------------------------------------

-- Creates a message template (replace => true overwrites one of the same name).
CREATE FUNCTION journey.create_template(name text, channel text, subject text, body text,
                                        replace boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  problems jsonb;
BEGIN
  IF create_template.name IS NULL OR create_template.name = '' THEN
    RAISE EXCEPTION 'template name must be a non-empty string' USING ERRCODE = '22023';
  END IF;
  IF create_template.channel IS NULL OR create_template.channel = '' THEN
    RAISE EXCEPTION 'template "%" needs a channel (email, sms, push, ...)', create_template.name
      USING ERRCODE = '22023';
  END IF;
  IF create_template.body IS NULL THEN
    RAISE EXCEPTION 'template "%" needs a body', create_template.name USING ERRCODE = '22023';
  END IF;
  SELECT coalesce(jsonb_agg(jsonb_build_object('step_key', p.part, 'message', i.message)), '[]')
    INTO problems
    FROM (VALUES ('subject', create_template.subject), ('body', create_template.body)) p(part, text)
    CROSS JOIN LATERAL journey._template_errors(p.text) i;
  PERFORM journey._raise_issues(format('template "%s"', create_template.name), problems);
  INSERT INTO journey.templates AS t (name, channel, subject, body)
  VALUES (create_template.name, create_template.channel, create_template.subject, create_template.body)
  ON CONFLICT ON CONSTRAINT templates_pkey DO UPDATE
     SET channel = excluded.channel, subject = excluded.subject, body = excluded.body,
         updated_at = now()
   WHERE create_template.replace;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'template "%" already exists', create_template.name
      USING ERRCODE = '23505', HINT = 'pass replace => true to overwrite it';
  END IF;
END
$$;

-------------------------------------------------------------------------------
-- Export, import, validation
-------------------------------------------------------------------------------

-- The JSON definition of a version (default: the latest, the draft if any).
CREATE FUNCTION journey.export(journey text, version int DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(export.journey);
  v journey.versions;
BEGIN
  IF export.version IS NULL THEN
    SELECT * INTO v FROM journey.versions x WHERE x.journey_id = j.id ORDER BY x.version DESC LIMIT 1;
  ELSE
    SELECT * INTO v FROM journey.versions x WHERE x.journey_id = j.id AND x.version = export.version;
  END IF;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'journey "%" has no version %', j.name, export.version USING ERRCODE = '42704';
  END IF;
  IF v.definition IS NOT NULL THEN
    RETURN v.definition;  -- published versions are frozen as they were exported
  END IF;
  RETURN jsonb_build_object(
    'name', j.name,
    'audience', journey._relation_name(j.audience),
    'settings', v.settings,
    'entry', coalesce((SELECT jsonb_agg(jsonb_build_object('type', t.type) || t.config
                                         ORDER BY t.position)
                         FROM journey.entry_triggers t
                        WHERE t.journey_id = j.id AND t.version = v.version), '[]'),
    'exit', coalesce((SELECT jsonb_agg(jsonb_build_object('type', r.type, 'is_goal', r.is_goal)
                                        || r.config ORDER BY r.position)
                        FROM journey.exit_rules r
                       WHERE r.journey_id = j.id AND r.version = v.version), '[]'),
    'steps', coalesce((SELECT jsonb_agg(jsonb_build_object('key', s.key, 'type', s.type)
                                         || s.config || links.l ORDER BY s.position)
                         FROM journey.steps s
                         CROSS JOIN LATERAL (
                           SELECT CASE
                                    WHEN count(*) = 0 THEN '{}'::jsonb
                                    WHEN bool_and(c.branch = 'next') THEN jsonb_build_object('next', min(c.to_key))
                                    ELSE jsonb_build_object('branches', jsonb_object_agg(c.branch, c.to_key))
                                  END AS l
                             FROM journey.connections c
                            WHERE c.journey_id = s.journey_id AND c.version = s.version
                              AND c.from_key = s.key) links
                        WHERE s.journey_id = j.id AND s.version = v.version), '[]'))
    || CASE WHEN v.start_key IS NULL THEN '{}' ELSE jsonb_build_object('start', v.start_key) END
    || CASE WHEN j.description IS NULL THEN '{}' ELSE jsonb_build_object('description', j.description) END;
END
$$;

-- Creates a journey from its JSON definition, or replaces the draft of the
-- journey of that name; returns the journey id.
CREATE FUNCTION journey.import(definition jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  def jsonb := import.definition;
  jname text;
  rel regclass;
  d record;
  step jsonb;
  link record;
  item jsonb;
  member text;
BEGIN
  IF def IS NULL OR jsonb_typeof(def) <> 'object' THEN
    RAISE EXCEPTION 'a journey definition must be a JSON object' USING ERRCODE = '22023';
  END IF;
  IF jsonb_typeof(def->'name') IS DISTINCT FROM 'string' OR def->>'name' = '' THEN
    RAISE EXCEPTION 'a journey definition needs "name", a non-empty string' USING ERRCODE = '22023';
  END IF;
  jname := def->>'name';
  IF jsonb_typeof(def->'audience') IS DISTINCT FROM 'string' THEN
    RAISE EXCEPTION 'journey "%": the definition needs "audience", the customer table''s name', jname
      USING ERRCODE = '22023';
  END IF;
  FOREACH member IN ARRAY ARRAY['steps', 'entry', 'exit'] LOOP
    IF def ? member AND jsonb_typeof(def->member) <> 'array' THEN
      RAISE EXCEPTION 'journey "%": "%" must be an array', jname, member USING ERRCODE = '22023';
    END IF;
  END LOOP;
  IF def ? 'settings' AND jsonb_typeof(def->'settings') <> 'object' THEN
    RAISE EXCEPTION 'journey "%": "settings" must be an object', jname USING ERRCODE = '22023';
  END IF;
  IF def ? 'start' AND jsonb_typeof(def->'start') <> 'string' THEN
    RAISE EXCEPTION 'journey "%": "start" must be a step key (a string)', jname USING ERRCODE = '22023';
  END IF;
  IF def ? 'description' AND jsonb_typeof(def->'description') NOT IN ('string', 'null') THEN
    RAISE EXCEPTION 'journey "%": "description" must be a string', jname USING ERRCODE = '22023';
  END IF;
  rel := journey._audience_by_name(def->>'audience');

  PERFORM 1 FROM journey.journeys x WHERE x.name = jname;
  IF NOT FOUND THEN
    PERFORM journey.create_journey(jname, rel, def->>'description');
  END IF;
  d := journey._draft_for_edit(jname);
  IF (d.j).audience <> rel THEN
    RAISE EXCEPTION 'journey "%" has audience %, the definition names %', jname,
      journey._relation_name((d.j).audience), def->>'audience' USING ERRCODE = '22023';
  END IF;
  IF def ? 'description' THEN
    UPDATE journey.journeys x SET description = def->>'description' WHERE x.id = (d.j).id;
  END IF;

  -- The draft is replaced as a whole.
  DELETE FROM journey.steps s WHERE s.journey_id = (d.j).id AND s.version = d.v;
  DELETE FROM journey.entry_triggers t WHERE t.journey_id = (d.j).id AND t.version = d.v;
  DELETE FROM journey.exit_rules r WHERE r.journey_id = (d.j).id AND r.version = d.v;
  UPDATE journey.versions x SET start_key = def->>'start', settings = coalesce(def->'settings', '{}')
   WHERE x.journey_id = (d.j).id AND x.version = d.v;

  FOR step IN SELECT e.value FROM jsonb_array_elements(coalesce(def->'steps', '[]')) e LOOP
    IF jsonb_typeof(step) <> 'object' THEN
      RAISE EXCEPTION 'journey "%": every step must be a JSON object, found %', jname, step
        USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(step->'key') IS DISTINCT FROM 'string' THEN
      RAISE EXCEPTION 'journey "%": a step has no "key" (a string): %', jname, step
        USING ERRCODE = '22023';
    END IF;
    PERFORM journey._insert_step(d.j, d.v, step->>'key', step->>'type',
                                 step - ARRAY['key', 'type', 'next', 'branches']);
  END LOOP;
  FOR step IN SELECT e.value FROM jsonb_array_elements(coalesce(def->'steps', '[]')) e LOOP
    IF step ? 'branches' AND jsonb_typeof(step->'branches') <> 'object' THEN
      RAISE EXCEPTION 'journey "%", step "%": "branches" must be an object of branch: step key',
        jname, step->>'key' USING ERRCODE = '22023';
    END IF;
    IF step ? 'next' AND step->'branches' ? 'next' THEN
      RAISE EXCEPTION 'journey "%", step "%": branch "next" is given twice', jname, step->>'key'
        USING ERRCODE = '22023';
    END IF;
    FOR link IN
      SELECT 'next' AS branch, step->'next' AS target WHERE step ? 'next'
      UNION ALL
      SELECT b.key, b.value FROM jsonb_each(CASE WHEN step ? 'branches' THEN step->'branches' ELSE '{}' END) b
    LOOP
      IF jsonb_typeof(link.target) <> 'string' OR link.branch = '' THEN
        RAISE EXCEPTION 'journey "%", step "%": branch "%" must name a step key', jname,
          step->>'key', link.branch USING ERRCODE = '22023';
      END IF;
      INSERT INTO journey.connections (journey_id, version, from_key, branch, to_key)
      VALUES ((d.j).id, d.v, step->>'key', link.branch, link.target #>> '{}');
    END LOOP;
  END LOOP;
  FOR item IN SELECT e.value FROM jsonb_array_elements(coalesce(def->'entry', '[]')) e LOOP
    IF jsonb_typeof(item) <> 'object' THEN
      RAISE EXCEPTION 'journey "%": every entry trigger must be a JSON object', jname
        USING ERRCODE = '22023';
    END IF;
    PERFORM journey._insert_entry_trigger(d.j, d.v, item->>'type', item - 'type');
  END LOOP;
  FOR item IN SELECT e.value FROM jsonb_array_elements(coalesce(def->'exit', '[]')) e LOOP
    IF jsonb_typeof(item) <> 'object' OR jsonb_typeof(item->'is_goal') NOT IN ('boolean', 'null') THEN
      RAISE EXCEPTION 'journey "%": every exit rule must be a JSON object (is_goal a boolean)', jname
        USING ERRCODE = '22023';
    END IF;
    PERFORM journey._insert_exit_rule(d.j, d.v, item->>'type', item - ARRAY['type', 'is_goal'],
                                      (item->>'is_goal')::boolean);
  END LOOP;
  RETURN (d.j).id;
END
$$;

-- Every problem of the journey's draft (or latest version), errors and warnings.
CREATE FUNCTION journey.validate(journey text)
RETURNS TABLE (step_key text, severity text, message text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(validate.journey);
BEGIN
  RETURN QUERY SELECT i.step_key, i.severity, i.message
                 FROM journey.validate_definition(journey.export(j.name), j.owner) i;
END
$$;

-------------------------------------------------------------------------------
-- Lifecycle: publish, pause, resume, archive
-------------------------------------------------------------------------------

-- Validates the draft and makes it the published version; returns its number.
-- A draft journey becomes published; a paused one stays paused on the new version.
CREATE FUNCTION journey.publish(journey text, migrate boolean DEFAULT false) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  publisher regrole := journey._invoking_role();  -- first: refused for code run on others' behalf
  j journey.journeys := journey._journey(publish.journey, true);
  v int;
  def jsonb;
  problems jsonb;
BEGIN
  IF j.state = 'archived' THEN
    PERFORM journey._illegal_transition(j, 'publish');
  END IF;
  SELECT x.version INTO v FROM journey.versions x WHERE x.journey_id = j.id AND x.status = 'draft';
  IF NOT FOUND THEN
    RAISE EXCEPTION 'journey "%" has no draft to publish', j.name
      USING ERRCODE = '55000',
            DETAIL = format('version %s is live and nothing was edited since it was published',
                            j.published_version),
            HINT = 'edit the journey (add_step, connect, set_settings, import) to start a new draft';
  END IF;
  def := journey.export(j.name, v);
  -- The role that publishes owns what goes live: call steps, segment queries and
  -- field updates run with its privileges, and are validated against them.
  j.owner := publisher;
  IF NOT has_table_privilege(j.owner, j.audience, 'SELECT') THEN
    RAISE EXCEPTION 'permission denied for table %', j.audience USING ERRCODE = '42501',
      DETAIL = format('publishing journey "%s" needs SELECT on its audience', j.name);
  END IF;
  SELECT coalesce(jsonb_agg(to_jsonb(i)), '[]') INTO problems
    FROM journey.validate_definition(def, j.owner) i WHERE i.severity = 'error';
  PERFORM journey._raise_issues(format('journey "%s" cannot be published: it', j.name), problems);

  UPDATE journey.versions x SET status = 'retired'
   WHERE x.journey_id = j.id AND x.status = 'published';
  UPDATE journey.versions x
     SET status = 'published', definition = def, published_at = now(), owner = j.owner,
         published_by = (SELECT r.rolname FROM pg_roles r WHERE r.oid = publisher)
   WHERE x.journey_id = j.id AND x.version = v;
  UPDATE journey.journeys x
     SET published_version = v, settings = def->'settings', published_at = now(), updated_at = now(),
         owner = j.owner,
         state = CASE WHEN x.state = 'draft' THEN 'published'::journey.journey_state ELSE x.state END
   WHERE x.id = j.id;
  PERFORM journey._sync_schedules(j.id);
  IF publish.migrate THEN
    -- Active enrollments move when their current step key exists in the new version.
    UPDATE journey.enrollments e SET version = v
     WHERE e.journey_id = j.id AND e.status = 'active' AND e.version <> v
       AND EXISTS (SELECT 1 FROM journey.steps s
                    WHERE s.journey_id = j.id AND s.version = v AND s.key = e.step_key);
  END IF;
  RETURN v;
END
$$;

-- Stops a published journey: no entry, no step runs; enrollments keep their place.
CREATE FUNCTION journey.pause(journey text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(pause.journey, true);
BEGIN
  IF j.state <> 'published' THEN
    PERFORM journey._illegal_transition(j, 'pause');
  END IF;
  UPDATE journey.journeys x SET state = 'paused', updated_at = now() WHERE x.id = j.id;
END
$$;

-- Puts a paused journey back to work. catch_up => 'run' (default): enrollments
-- whose delays or waits fell due during the pause run at once; 'skip': delays
-- "until" a time of day that fell due during the pause wait for their next
-- window instead of firing late.
CREATE FUNCTION journey.resume(journey text, catch_up text DEFAULT 'run') RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(resume.journey, true);
BEGIN
  IF j.state <> 'paused' THEN
    PERFORM journey._illegal_transition(j, 'resume');
  END IF;
  IF resume.catch_up IS NULL OR resume.catch_up NOT IN ('run', 'skip') THEN
    RAISE EXCEPTION 'catch_up must be ''run'' or ''skip'', not %', coalesce(resume.catch_up, 'null')
      USING ERRCODE = '22023';
  END IF;
  IF resume.catch_up = 'skip' THEN
    UPDATE journey.enrollments e SET rearm = true
      FROM journey.steps s
     WHERE e.journey_id = j.id AND e.status = 'active' AND e.parked_at IS NOT NULL
       AND e.next_run_at <= now()
       AND s.journey_id = e.journey_id AND s.version = e.version AND s.key = e.step_key
       AND s.type = 'delay' AND s.config ? 'until';
  END IF;
  UPDATE journey.journeys x SET state = 'published', updated_at = now() WHERE x.id = j.id;
  PERFORM journey._wake_workers();
END
$$;

-- Deactivates a journey for good.
CREATE FUNCTION journey.archive(journey text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(archive.journey, true);
BEGIN
  IF j.state = 'archived' THEN
    PERFORM journey._illegal_transition(j, 'archive');
  END IF;
  UPDATE journey.journeys x SET state = 'archived', archived_at = now(), updated_at = now()
   WHERE x.id = j.id;
  UPDATE journey.enrollments e
     SET status = 'exited', exit_reason = 'archived', ended_at = now(), next_run_at = NULL,
         waiting_for = NULL
   WHERE e.journey_id = j.id AND e.status = 'active';
  PERFORM journey._sync_schedules(j.id);
END
$$;

-------------------------------------------------------------------------------
-- Runtime: enrollments, events, delivery
-------------------------------------------------------------------------------

-- Enrolls customers into a published journey, set-based, applying the re-entry
-- policy and the one-active-enrollment rule; customers missing from the
-- audience table are skipped. Returns the new enrollment ids.
CREATE FUNCTION journey._enroll_rows(p_journey_id bigint, p_customers text[],
                                     p_contexts jsonb[] DEFAULT NULL,
                                     p_events jsonb[] DEFAULT NULL,
                                     p_entities text[] DEFAULT NULL)
RETURNS bigint[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp
-- Probe indexes even when the statistics still describe an empty table (a new
-- install's first bulk enrollment): a sequential scan per candidate row in the
-- re-entry check would make a bulk enrollment quadratic.
SET enable_seqscan = off AS $$
DECLARE
  j journey.journeys;
  key_column name;
  key_type text;
  reentry text;
  cooldown interval;
  n int := cardinality(p_customers);
  ids bigint[];
BEGIN
  SELECT * INTO j FROM journey.journeys x WHERE x.id = p_journey_id;
  PERFORM journey._require_enrollable(j);
  reentry := coalesce(j.settings->>'reentry', 'never');
  cooldown := journey._duration(j.settings->>'reentry_cooldown');
  SELECT a.key_column INTO key_column FROM journey.audiences a WHERE a.relation = j.audience;
  SELECT c.type_name INTO key_type FROM journey._audience_columns(j.audience) c
   WHERE c.name = key_column;
  IF reentry = 'always' THEN
    -- Re-entry replaces the active enrollment (outside the cooldown).
    UPDATE journey.enrollments e
       SET status = 'exited', exit_reason = 'reentered', ended_at = now(), next_run_at = NULL,
           waiting_for = NULL
      FROM unnest(p_customers, coalesce(p_entities, array_fill(NULL::text, ARRAY[n]))) u(c, ent)
     WHERE e.journey_id = j.id AND e.status = 'active' AND e.customer_id = u.c
       AND e.entity_key IS NOT DISTINCT FROM u.ent
       AND (cooldown IS NULL OR e.entered_at <= now() - cooldown);
  END IF;
  EXECUTE format($sql$
    WITH input AS (
      SELECT DISTINCT ON (t.%2$I, coalesce(u.ent, '')) t.%2$I::text AS c,
             coalesce(u.ctx, '{}') AS ctx, u.ev, u.ent
        FROM unnest($1::text[], $2::jsonb[], $3::jsonb[], $4::text[]) u(c, ctx, ev, ent)
        JOIN %1$s t ON t.%2$I = u.c::%3$s
       WHERE u.c IS NOT NULL),
    ins AS (
      INSERT INTO journey.enrollments AS e
        (journey_id, version, customer_id, entity_key, step_key, next_run_at, context, last_event,
         holdout, entered_at)
      SELECT $5, $6, i.c, i.ent, v.start_key, now(), i.ctx, i.ev,
             journey._in_holdout($7, $8, i.c), now()
        FROM input i
        JOIN journey.versions v ON v.journey_id = $5 AND v.version = $6
       WHERE NOT EXISTS (
               SELECT 1 FROM journey.enrollments p
                WHERE p.journey_id = $5 AND p.customer_id = i.c
                  AND p.entity_key IS NOT DISTINCT FROM i.ent
                  AND ($9 = 'never' OR ($10::interval IS NOT NULL AND p.entered_at > now() - $10)))
      ON CONFLICT (journey_id, customer_id, (coalesce(entity_key, ''))) WHERE status = 'active'
      DO NOTHING
      RETURNING e.id)
    SELECT coalesce(array_agg(ins.id), '{}') FROM ins$sql$, j.audience, key_column, key_type)
  INTO ids
  USING p_customers,
        coalesce(p_contexts, array_fill(NULL::jsonb, ARRAY[n])),
        coalesce(p_events, array_fill(NULL::jsonb, ARRAY[n])),
        coalesce(p_entities, array_fill(NULL::text, ARRAY[n])),
        j.id, j.published_version,
        coalesce((j.settings->>'holdout_percent')::float8, 0), j.name, reentry, cooldown;
  IF cardinality(ids) > 0 THEN
    PERFORM journey._wake_workers();
  END IF;
  RETURN ids;
END
$$;

-- What enroll_query (which runs the caller's query as the caller) may do with
-- the keys it got: enroll them, nothing else (no context, no forged event).
CREATE FUNCTION journey._enroll_keys(p_journey_id bigint, p_customers text[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys;
BEGIN
  SELECT * INTO j FROM journey.journeys x WHERE x.id = p_journey_id;
  IF j.settings ? 'entity_property' THEN
    RAISE EXCEPTION 'journey "%" runs one enrollment per "%": enroll its customers with journey.enroll(..., context)',
      j.name, j.settings->>'entity_property' USING ERRCODE = '22023';
  END IF;
  RETURN cardinality(journey._enroll_rows(p_journey_id, p_customers));
END
$$;

-- Raises unless the journey takes new enrollments (published).
CREATE FUNCTION journey._require_enrollable(j journey.journeys) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  IF j.state <> 'published' THEN
    RAISE EXCEPTION 'cannot enroll into journey "%": it is %', j.name, j.state
      USING ERRCODE = '55000',
            HINT = CASE j.state WHEN 'draft' THEN 'publish it first'
                                WHEN 'paused' THEN 'resume it first'
                                ELSE 'an archived journey takes no one' END;
  END IF;
END
$$;

-- Enrolls one customer; returns the enrollment id, or null when the customer is
-- not eligible (re-entry policy, already active, cooldown).
CREATE FUNCTION journey.enroll(journey text, customer_id text, context jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(enroll.journey);
  entity_property text := j.settings->>'entity_property';
  entity text;
  ids bigint[];
  a journey.audiences;
  found_customer boolean;
BEGIN
  PERFORM journey._require_enrollable(j);
  IF enroll.customer_id IS NULL THEN
    RAISE EXCEPTION 'customer_id must not be null' USING ERRCODE = '22004';
  END IF;
  IF enroll.context IS NOT NULL AND jsonb_typeof(enroll.context) <> 'object' THEN
    RAISE EXCEPTION 'context for journey "%" must be a JSON object', j.name USING ERRCODE = '22023';
  END IF;
  IF entity_property IS NOT NULL THEN
    entity := enroll.context->>entity_property;
    IF entity IS NULL THEN
      RAISE EXCEPTION 'journey "%" runs one enrollment per "%": the context needs that key',
        j.name, entity_property USING ERRCODE = '22023';
    END IF;
  END IF;
  ids := journey._enroll_rows(j.id, ARRAY[enroll.customer_id],
                              ARRAY[coalesce(enroll.context, '{}')], NULL, ARRAY[entity]);
  IF cardinality(ids) = 0 THEN
    SELECT * INTO a FROM journey.audiences x WHERE x.relation = j.audience;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s t WHERE t.%I::text = $1)', j.audience,
                   a.key_column)
      INTO found_customer USING enroll.customer_id;
    IF NOT found_customer THEN
      RAISE EXCEPTION 'customer "%" does not exist in %', enroll.customer_id, j.audience
        USING ERRCODE = '23503';
    END IF;
    RETURN NULL;
  END IF;
  RETURN ids[1];
END
$$;

-- Enrolls every customer whose key the query returns (first column); returns
-- how many were enrolled. The query runs with the caller's privileges and
-- search_path (so this function pins none; everything in it is qualified).
CREATE FUNCTION journey.enroll_query(journey text, query text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  j journey.journeys := journey._journey(enroll_query.journey);
  keys text[];
BEGIN
  PERFORM journey._require_enrollable(j);
  IF j.settings ? 'entity_property' THEN
    RAISE EXCEPTION 'journey "%" runs one enrollment per "%": enroll its customers with journey.enroll(..., context)',
      j.name, j.settings->>'entity_property' USING ERRCODE = '22023';
  END IF;
  EXECUTE format('SELECT array_agg(k::text) FROM (%s) q(k)', enroll_query.query) INTO keys;
  RETURN journey._enroll_keys(j.id, coalesce(keys, '{}'));
END
$$;

-- Records an event, and in the same transaction: ends enrollments whose event
-- exit rules it matches, wakes enrollments waiting for it, and enrolls the
-- customer into journeys it triggers. Returns the event id (null for a repeated
-- idempotency_key, which changes nothing).
CREATE FUNCTION journey.track(customer_id text, event text, properties jsonb DEFAULT '{}',
                              occurred_at timestamptz DEFAULT now(),
                              idempotency_key text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  props jsonb := coalesce(track.properties, '{}');
  event_id bigint;
  delivered jsonb;
  j journey.journeys;
  entity_property text;
BEGIN
  IF track.customer_id IS NULL OR track.event IS NULL OR track.event = '' THEN
    RAISE EXCEPTION 'track needs a customer_id and an event name' USING ERRCODE = '22004';
  END IF;
  IF jsonb_typeof(props) <> 'object' THEN
    RAISE EXCEPTION 'properties of event "%" must be a JSON object', track.event
      USING ERRCODE = '22023';
  END IF;
  INSERT INTO journey.events AS ev (customer_id, name, properties, occurred_at, idempotency_key)
  VALUES (track.customer_id, track.event, props, coalesce(track.occurred_at, now()),
          track.idempotency_key)
  ON CONFLICT ON CONSTRAINT events_idempotency_key_key DO NOTHING
  RETURNING ev.id INTO event_id;
  IF event_id IS NULL THEN
    RETURN NULL;
  END IF;
  delivered := jsonb_build_object('id', event_id, 'name', track.event, 'properties', props,
                                  'occurred_at', coalesce(track.occurred_at, now()));

  -- Event exit rules (goals mark the conversion).
  UPDATE journey.enrollments e
     SET status = 'exited', ended_at = now(), next_run_at = NULL, waiting_for = NULL,
         exit_reason = format('exit rule exit[%s]', r.position - 1),
         converted_at = CASE WHEN r.is_goal THEN coalesce(e.converted_at, coalesce(track.occurred_at, now()))
                             ELSE e.converted_at END
    FROM (SELECT DISTINCT ON (x.id) x.id, rr.position, rr.is_goal
            FROM journey.enrollments x
            JOIN journey.journeys jj ON jj.id = x.journey_id
            JOIN journey.exit_rules rr ON rr.journey_id = x.journey_id AND rr.version = x.version
           WHERE x.customer_id = track.customer_id AND x.status = 'active'
             AND jj.state IN ('published', 'paused')
             AND rr.type = 'event' AND rr.config->>'event' = track.event
             AND (NOT jj.settings ? 'entity_property' OR NOT props ? (jj.settings->>'entity_property')
                  OR x.entity_key = props->>(jj.settings->>'entity_property'))
             AND journey._event_matches(rr.config->'where', props)
           ORDER BY x.id, rr.position) r
   WHERE e.id = r.id AND e.status = 'active';

  -- Wake enrollments waiting for this event; the engine checks their "where".
  UPDATE journey.enrollments e
     SET woken_by = e.woken_by || jsonb_build_array(delivered), next_run_at = now()
    FROM journey.journeys x
   WHERE e.customer_id = track.customer_id AND e.status = 'active'
     AND e.waiting_for = track.event AND x.id = e.journey_id
     AND (NOT x.settings ? 'entity_property' OR NOT props ? (x.settings->>'entity_property')
          OR e.entity_key = props->>(x.settings->>'entity_property'));

  IF FOUND THEN
    PERFORM journey._wake_workers();
  END IF;

  -- Event entry triggers of published journeys.
  FOR j IN SELECT x.* FROM journey.journeys x
            WHERE x.state = 'published'
              AND EXISTS (SELECT 1 FROM journey.entry_triggers t
                           WHERE t.journey_id = x.id AND t.version = x.published_version
                             AND t.type = 'event' AND t.config->>'event' = track.event
                             AND journey._event_matches(t.config->'where', props))
            ORDER BY x.id LOOP
    entity_property := j.settings->>'entity_property';
    CONTINUE WHEN entity_property IS NOT NULL AND NOT props ? entity_property;
    PERFORM journey._enroll_rows(j.id, ARRAY[track.customer_id], NULL, ARRAY[props],
                                 ARRAY[props->>entity_property]);
  END LOOP;
  RETURN event_id;
END
$$;

-- Ends an active enrollment by hand.
CREATE FUNCTION journey.exit(enrollment_id bigint, reason text DEFAULT 'manual') RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  current_status journey.enrollment_status;
BEGIN
  UPDATE journey.enrollments e
     SET status = 'exited', ended_at = now(), next_run_at = NULL, waiting_for = NULL,
         exit_reason = coalesce(exit.reason, 'manual')
   WHERE e.id = exit.enrollment_id AND e.status = 'active';
  IF NOT FOUND THEN
    SELECT e.status INTO current_status FROM journey.enrollments e WHERE e.id = exit.enrollment_id;
    IF current_status IS NULL THEN
      RAISE EXCEPTION 'enrollment % does not exist', exit.enrollment_id USING ERRCODE = '42704';
    END IF;
    RAISE EXCEPTION 'enrollment % is already %', exit.enrollment_id, current_status
      USING ERRCODE = '55000';
  END IF;
END
$$;

-- Hands out up to max pending messages of a channel whose time has come; a
-- claimed message is never handed out again (SKIP LOCKED against concurrent
-- claimers).
CREATE FUNCTION journey.claim_messages(channel text, max int DEFAULT 100)
RETURNS SETOF journey.messages
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  IF claim_messages.max IS NULL OR claim_messages.max < 1 THEN
    RAISE EXCEPTION 'max must be a positive number of messages' USING ERRCODE = '22023';
  END IF;
  RETURN QUERY
  UPDATE journey.messages m
     SET status = 'claimed', claimed_at = now(), attempts = m.attempts + 1
    FROM (SELECT p.id FROM journey.messages p
           WHERE p.status = 'pending' AND p.channel = claim_messages.channel
             AND p.send_after <= now()
             -- nothing leaves for a paused or archived journey
             AND EXISTS (SELECT 1 FROM journey.journeys j
                          WHERE j.id = p.journey_id AND j.state = 'published')
           ORDER BY p.send_after, p.id
           LIMIT claim_messages.max
           FOR UPDATE SKIP LOCKED) c
   WHERE m.id = c.id
  RETURNING m.*;
END
$$;

-- Reports the delivery of a claimed message: sent (ok) or failed with an error.
CREATE FUNCTION journey.complete_message(id bigint, ok boolean, error text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  current_status text;
BEGIN
  IF complete_message.ok IS NULL THEN
    RAISE EXCEPTION 'ok must be true or false' USING ERRCODE = '22004';
  END IF;
  UPDATE journey.messages m
     SET status = CASE WHEN complete_message.ok THEN 'sent' ELSE 'failed' END,
         completed_at = now(), error = complete_message.error
   WHERE m.id = complete_message.id AND m.status = 'claimed';
  IF NOT FOUND THEN
    SELECT m.status INTO current_status FROM journey.messages m WHERE m.id = complete_message.id;
    IF current_status IS NULL THEN
      RAISE EXCEPTION 'message % does not exist', complete_message.id USING ERRCODE = '42704';
    END IF;
    RAISE EXCEPTION 'message % is %, not claimed', complete_message.id, current_status
      USING ERRCODE = '55000', HINT = 'claim it with journey.claim_messages() first';
  END IF;
END
$$;

-- Puts messages claimed longer ago than older_than back to pending (a sender
-- that died after claiming); returns how many.
CREATE FUNCTION journey.requeue_claimed(older_than interval DEFAULT '15 minutes') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  UPDATE journey.messages m SET status = 'pending', claimed_at = NULL
   WHERE m.status = 'claimed' AND m.claimed_at < now() - requeue_claimed.older_than;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;

-- Before a publish: per step, how many active enrollments sit there and what
-- publish(migrate => true) would do to them: move to the new version, or stay on
-- theirs because the draft has no step of that key.
CREATE FUNCTION journey.publish_preview(journey text)
RETURNS TABLE (step_key text, enrolled bigint, fate text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(publish_preview.journey);
  draft int;
BEGIN
  SELECT v.version INTO draft FROM journey.versions v WHERE v.journey_id = j.id AND v.status = 'draft';
  RETURN QUERY
  SELECT e.step_key, count(*),
         CASE WHEN draft IS NULL THEN 'stay (no draft to publish)'
              WHEN bool_or(s.key IS NOT NULL) THEN 'move'
              ELSE 'stay (step not in the draft)' END
    FROM journey.enrollments e
    LEFT JOIN journey.steps s ON s.journey_id = j.id AND s.version = draft AND s.key = e.step_key
   WHERE e.journey_id = j.id AND e.status = 'active'
   GROUP BY e.step_key
   ORDER BY e.step_key;
END
$$;

-------------------------------------------------------------------------------
-- Scheduled entry triggers (segment, date) through pg_cron
-------------------------------------------------------------------------------

-- Runs one scheduled entry trigger of a published journey now: enrolls the
-- customers newly matching a segment, or those whose date falls due since the
-- last run. Called by the pg_cron job publish creates; returns how many enrolled.
CREATE FUNCTION journey.run_entry_trigger(journey_id bigint, "position" int) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys;
  t journey.entry_triggers;
  a journey.audiences;
  keys text[];
  fresh text[];
  last_run timestamptz;
  due text;
  n bigint;
BEGIN
  SELECT * INTO j FROM journey.journeys x WHERE x.id = run_entry_trigger.journey_id;
  IF NOT FOUND OR j.state <> 'published' THEN
    RETURN 0;  -- paused, archived or gone: the schedule waits
  END IF;
  SELECT * INTO t FROM journey.entry_triggers x
   WHERE x.journey_id = j.id AND x.version = j.published_version
     AND x.position = run_entry_trigger.position AND x.type IN ('segment', 'date');
  IF NOT FOUND THEN
    RETURN 0;
  END IF;
  SELECT * INTO a FROM journey.audiences x WHERE x.relation = j.audience;
  SELECT r.last_run_at INTO last_run FROM journey.scheduled_runs r
   WHERE r.journey_id = j.id AND r.version = t.version AND r.position = t.position FOR UPDATE;

  IF t.type = 'segment' THEN
    IF t.config ? 'query' THEN
      keys := journey._owner_query_keys(t.config->>'query', j.owner);
    ELSE
      EXECUTE format('SELECT coalesce(array_agg(t.%I::text), ''{}'') FROM %s t WHERE %s',
                     a.key_column, j.audience, journey._condition_sql(t.config->'when', j.audience))
        INTO keys;
    END IF;
    -- Only customers newly matching since the last run enter.
    SELECT coalesce(array_agg(k), '{}') INTO fresh FROM unnest(keys) k
     WHERE NOT EXISTS (SELECT 1 FROM journey.segment_members m
                        WHERE m.journey_id = j.id AND m.version = t.version
                          AND m.position = t.position AND m.customer_id = k);
    DELETE FROM journey.segment_members m
     WHERE m.journey_id = j.id AND m.version = t.version AND m.position = t.position
       AND NOT (m.customer_id = ANY (keys));
    INSERT INTO journey.segment_members (journey_id, version, position, customer_id)
    SELECT j.id, t.version, t.position, k FROM unnest(fresh) k ON CONFLICT DO NOTHING;
  ELSE
    -- date: field + offset (this year's anniversary when recurring yearly) fell
    -- due since the last run (the first run looks back one day).
    due := format('(t.%I + %L::interval)', t.config->>'field',
                  coalesce(journey._duration(t.config->>'offset'), interval '0'));
    IF t.config->>'recurring' = 'yearly' THEN
      due := format('(t.%1$I + make_interval(years => (extract(year from now()) - extract(year from t.%1$I))::int) + %2$L::interval)',
                    t.config->>'field', coalesce(journey._duration(t.config->>'offset'), interval '0'));
    END IF;
    EXECUTE format('SELECT coalesce(array_agg(t.%I::text), ''{}'') FROM %s t WHERE %s > $1 AND %s <= now()',
                   a.key_column, j.audience, due, due)
      INTO fresh USING coalesce(last_run, now() - interval '1 day');
  END IF;

  n := cardinality(journey._enroll_rows(j.id, fresh));
  INSERT INTO journey.scheduled_runs AS r (journey_id, version, position, last_run_at, enrolled)
  VALUES (j.id, t.version, t.position, now(), n)
  ON CONFLICT ON CONSTRAINT scheduled_runs_pkey
  DO UPDATE SET last_run_at = excluded.last_run_at, enrolled = r.enrolled + excluded.enrolled;
  RETURN n;
END
$$;

-- Whether pg_cron can be used from this database.
CREATE FUNCTION journey._pg_cron_available() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT to_regprocedure('cron.schedule(text,text,text)') IS NOT NULL
     AND to_regprocedure('cron.unschedule(bigint)') IS NOT NULL
$$;

-- Makes the pg_cron jobs of a journey match its scheduled entry triggers: one
-- job per trigger of the published version while it is published or paused,
-- none once archived (or dropped). Job names: pg_journey:<journey id>:<position>.
CREATE FUNCTION journey._sync_schedules(p_journey_id bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys;
  t record;
  wanted text[] := '{}';
  job text;
  cron_ok boolean := journey._pg_cron_available();
BEGIN
  SELECT * INTO j FROM journey.journeys x WHERE x.id = p_journey_id;
  IF FOUND AND j.state IN ('published', 'paused') THEN
    FOR t IN SELECT x.position, x.type, x.config->>'schedule' AS schedule
               FROM journey.entry_triggers x
              WHERE x.journey_id = j.id AND x.version = j.published_version
                AND x.type IN ('segment', 'date')
              ORDER BY x.position LOOP
      IF NOT cron_ok THEN
        RAISE EXCEPTION 'journey "%" has a % entry trigger, which needs pg_cron', j.name, t.type
          USING ERRCODE = '55000',
                DETAIL = format('pg_cron is not installed in database %I', current_database()),
                HINT = 'install the postgresql-15-cron package, add pg_cron to shared_preload_libraries, '
                       'set cron.database_name to this database, restart, and CREATE EXTENSION pg_cron';
      END IF;
      job := format('pg_journey:%s:%s', j.id, t.position);
      wanted := wanted || job;
      EXECUTE 'SELECT cron.schedule($1, $2, $3)'
        USING job, t.schedule, format('SELECT journey.run_entry_trigger(%s, %s)', j.id, t.position);
    END LOOP;
  END IF;
  IF cron_ok THEN
    FOR t IN EXECUTE 'SELECT jobid, jobname FROM cron.job WHERE jobname LIKE $1'
               USING format('pg_journey:%s:%%', p_journey_id) LOOP
      IF NOT t.jobname = ANY (wanted) THEN
        EXECUTE 'SELECT cron.unschedule($1)' USING t.jobid;
      END IF;
    END LOOP;
  END IF;
END
$$;

-------------------------------------------------------------------------------
-- Reading: views for analysts
-------------------------------------------------------------------------------

CREATE VIEW journey.journey_overview AS
SELECT j.id AS journey_id, j.name, v.version, j.state,
       coalesce(e.enrolled, 0) AS enrolled, coalesce(e.active, 0) AS active,
       coalesce(e.completed, 0) AS completed, coalesce(e.exited, 0) AS exited,
       coalesce(e.failed, 0) AS failed, coalesce(e.converted, 0) AS converted,
       round(coalesce(e.converted, 0)::numeric / nullif(e.enrolled, 0), 4) AS conversion_rate,
       coalesce(m.sent, 0) AS messages_sent
  FROM journey.journeys j
  JOIN journey.versions v ON v.journey_id = j.id AND v.status <> 'draft'
  LEFT JOIN LATERAL (
    SELECT count(*) AS enrolled,
           count(*) FILTER (WHERE x.status = 'active') AS active,
           count(*) FILTER (WHERE x.status = 'completed') AS completed,
           count(*) FILTER (WHERE x.status = 'exited') AS exited,
           count(*) FILTER (WHERE x.status = 'failed') AS failed,
           count(x.converted_at) AS converted
      FROM journey.enrollments x WHERE x.journey_id = j.id AND x.version = v.version) e ON true
  LEFT JOIN LATERAL (
    SELECT count(*) AS sent FROM journey.messages y
     WHERE y.journey_id = j.id AND y.version = v.version AND y.status = 'sent') m ON true
 WHERE j.state <> 'archived';
COMMENT ON VIEW journey.journey_overview IS 'one row per live journey version: funnel and conversion';

CREATE VIEW journey.step_stats AS
SELECT j.id AS journey_id, j.name, s.version, s.key AS step_key, s.type AS step_type,
       coalesce(a.visits, 0) + coalesce(n.now_at, 0) AS entered,
       coalesce(n.now_at, 0) AS now_at,
       coalesce(a.branches, '{}') AS branches
  FROM journey.steps s
  JOIN journey.versions v ON v.journey_id = s.journey_id AND v.version = s.version
  JOIN journey.journeys j ON j.id = s.journey_id
  LEFT JOIN LATERAL (
    SELECT sum(b.n)::bigint AS visits, jsonb_object_agg(b.branch, b.n) AS branches
      FROM (SELECT coalesce(x.branch, '(end)') AS branch, count(*) AS n FROM journey.activity x
             WHERE x.journey_id = s.journey_id AND x.version = s.version AND x.step_key = s.key
             GROUP BY 1) b) a ON true
  LEFT JOIN LATERAL (
    SELECT count(*) AS now_at FROM journey.enrollments e
     WHERE e.journey_id = s.journey_id AND e.version = s.version AND e.step_key = s.key
       AND e.status = 'active') n ON true
 WHERE v.status <> 'draft';
COMMENT ON VIEW journey.step_stats IS
  'one row per step of each published or retired version: visits, who is there now, ways out taken';

CREATE VIEW journey.customer_timeline AS
SELECT a.customer_id, j.name, a.version, a.step_key, a.step_type, a.branch, a.at, a.enrollment_id,
       a.visit
  FROM journey.activity a JOIN journey.journeys j ON j.id = a.journey_id;
COMMENT ON VIEW journey.customer_timeline IS 'every step visit of every customer, by time';

-- The steps of a version with their per-step counts (visits so far plus who is
-- there now), for the drawings.
CREATE FUNCTION journey._drawing_steps(journey text, version int)
RETURNS TABLE (n int, key text, type journey.step_type, entered bigint, now_at bigint,
               is_start boolean, journey_id bigint, v int)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(_drawing_steps.journey);
  ver journey.versions;
BEGIN
  IF _drawing_steps.version IS NULL THEN
    SELECT * INTO ver FROM journey.versions x WHERE x.journey_id = j.id
     ORDER BY (x.status = 'published') DESC, x.version DESC LIMIT 1;
  ELSE
    SELECT * INTO ver FROM journey.versions x WHERE x.journey_id = j.id AND x.version = _drawing_steps.version;
  END IF;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'journey "%" has no version %', j.name, _drawing_steps.version USING ERRCODE = '42704';
  END IF;
  RETURN QUERY
  SELECT row_number() OVER (ORDER BY s.position)::int, s.key, s.type,
         (SELECT count(*) FROM journey.activity a
           WHERE a.journey_id = j.id AND a.version = ver.version AND a.step_key = s.key)
         + (SELECT count(*) FROM journey.enrollments e
             WHERE e.journey_id = j.id AND e.version = ver.version AND e.step_key = s.key
               AND e.status = 'active'),
         (SELECT count(*) FROM journey.enrollments e
           WHERE e.journey_id = j.id AND e.version = ver.version AND e.step_key = s.key
             AND e.status = 'active'),
         s.key = ver.start_key, j.id, ver.version
    FROM journey.steps s WHERE s.journey_id = j.id AND s.version = ver.version
   ORDER BY s.position;
END
$$;

-- A Mermaid flowchart of a version (default: the published one, else the
-- latest), each step with how many entered it and how many are there now.
CREATE FUNCTION journey.to_mermaid(journey text, version int DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  WITH st AS (SELECT * FROM journey._drawing_steps($1, $2)),
  nodes AS (
    SELECT string_agg(format('  s%s["%s<br/>%s<br/>entered %s, now %s"]%s', st.n,
                             replace(st.key, '"', '#quot;'), st.type, st.entered, st.now_at,
                             CASE WHEN st.is_start THEN ':::start' ELSE '' END),
                      E'\n' ORDER BY st.n) AS text
      FROM st),
  edges AS (
    SELECT string_agg(format('  s%s -->|%s| s%s', f.n, replace(c.branch, '|', '#124;'), t.n),
                      E'\n' ORDER BY f.n, c.branch) AS text
      FROM journey.connections c
      JOIN st f ON f.key = c.from_key
      JOIN st t ON t.key = c.to_key
     WHERE c.journey_id = (SELECT journey_id FROM st LIMIT 1) AND c.version = (SELECT v FROM st LIMIT 1))
  SELECT 'flowchart TD' || E'\n' || coalesce((SELECT text FROM nodes), '')
         || coalesce(E'\n' || (SELECT text FROM edges), '')
         || E'\n  classDef start stroke-width:3px'
$$;

-- The same drawing in Graphviz DOT.
CREATE FUNCTION journey.to_dot(journey text, version int DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  WITH st AS (SELECT * FROM journey._drawing_steps($1, $2))
  SELECT format('digraph %s {', '"' || replace(replace($1, '\', '\\'), '"', '\"') || '"') || E'\n'
         || '  node [shape=box];' || E'\n'
         || coalesce((SELECT string_agg(
                        format('  s%s [label="%s\n%s\nentered %s, now %s"%s];', st.n,
                               replace(replace(st.key, '\', '\\'), '"', '\"'), st.type, st.entered,
                               st.now_at, CASE WHEN st.is_start THEN ', penwidth=3' ELSE '' END),
                        E'\n' ORDER BY st.n) FROM st), '')
         || coalesce(E'\n' || (SELECT string_agg(
                        format('  s%s -> s%s [label="%s"];', f.n, t.n,
                               replace(replace(c.branch, '\', '\\'), '"', '\"')),
                        E'\n' ORDER BY f.n, c.branch)
                FROM journey.connections c
                JOIN st f ON f.key = c.from_key
                JOIN st t ON t.key = c.to_key
               WHERE c.journey_id = (SELECT journey_id FROM st LIMIT 1)
                 AND c.version = (SELECT v FROM st LIMIT 1)), '')
         || E'\n}'
$$;

CREATE VIEW journey.worker_status AS
SELECT d.datname AS database, w.worker, w.pid, a.application_name, a.state, a.query,
       a.state_change, a.backend_start
  FROM journey._worker_slots() w
  LEFT JOIN pg_database d ON d.oid = w.database
  LEFT JOIN pg_stat_activity a ON a.pid = w.pid;
COMMENT ON VIEW journey.worker_status IS 'running background workers and what they do';

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

-------------------------------------------------------------------------------
-- Roles and privileges
-------------------------------------------------------------------------------

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
  journey.to_mermaid(text, int),
  journey.to_dot(text, int),
  journey._drawing_steps(text, int),
  journey._journey(text, boolean),
  journey._relation_name(regclass),
  journey._find_audience(text),
  journey._audience_columns(regclass)
TO journey_reader;

GRANT EXECUTE ON FUNCTION
  journey.register_audience(regclass, name, name, name),
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
  journey.requeue_claimed(interval)
TO journey_admin;

GRANT EXECUTE ON FUNCTION
  journey.enroll(text, text, jsonb),
  journey.enroll_query(text, text),
  journey._enroll_keys(bigint, text[]),
  journey._require_enrollable(journey.journeys),
  journey._duration(text),
  journey._in_holdout(float8, text, text),
  journey.track(text, text, jsonb, timestamptz, text),
  journey.exit(bigint, text),
  journey.run_due(int, timestamptz),
  journey.claim_messages(text, int),
  journey.complete_message(bigint, boolean, text),
  journey._wake_workers()
TO journey_app;
GRANT EXECUTE ON FUNCTION journey._worker_slots() TO journey_reader;
