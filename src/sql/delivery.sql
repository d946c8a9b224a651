-- Delivery and engagement (docs/delivery.md): global suppressions, engagement
-- with messages (journey.message_event), previews. Recipients per channel are
-- in audiences.sql (journey.set_recipients); claiming and completing messages
-- in outbox.sql.

-- Checks a channel name given to a function (what: where it was given, for
-- the message): lower-case letters, digits, '_' and '-', starting with a
-- letter, so that 'EMAIL' or ' email' never silently names a channel no
-- message uses. Returns the name; raises 22023 naming it.
CREATE OR REPLACE FUNCTION journey._check_channel(p_channel text, p_what text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  IF p_channel IS NOT NULL AND p_channel !~ '^[a-z][a-z0-9_-]*$' THEN
    RAISE EXCEPTION 'channel "%" of % is not a channel name', p_channel, p_what
      USING ERRCODE = '22023',
            HINT = CASE WHEN lower(btrim(p_channel)) ~ '^[a-z][a-z0-9_-]*$'
                        THEN format('channel names are lower case without blanks: "%s"',
                                    lower(btrim(p_channel)))
                        ELSE 'channel names are lower-case letters, digits, "_" and "-", '
                             'starting with a letter (email, sms, push, ...)' END;
  END IF;
  RETURN p_channel;
END
$$;

-- Raises the error of a customer column holding a finite timestamp or date
-- past 294246 AD, which microseconds since 1970 cannot hold (the engine's
-- time): called by the customer read of the tick and of preview instead of
-- failing with "bigint out of range". The type is bigint so that it fits the
-- CASE it is called from; it never returns.
CREATE OR REPLACE FUNCTION journey._timestamp_beyond(p_column text, p_relation text, p_value text)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'column "%" of % holds %, later than journeys can compute with', p_column,
    p_relation, p_value
    USING ERRCODE = '22008',
          DETAIL = 'journeys handle finite times up to the end of year 294246',
          HINT = 'store infinity for "never"';
END
$$;

-- The reason of the suppression that stops a message of `channel` to the
-- customer, or null: decided in core (core::stopping_suppression) from the
-- customer's suppressions in the audience (by its id, journey.audiences.id)
-- and the reasons the message's journey ignores (p_ignored: its version's
-- ignored_suppression_reasons, decided by core at publish). One message's
-- answer (sql/policy9_core.sql); the claims ask journey._claim_stops for their
-- whole batch, the tick asks core itself.
CREATE OR REPLACE FUNCTION journey._suppression(p_audience regclass, p_customer text,
                                                p_channel text, p_ignored text[])
RETURNS text
AS 'MODULE_PATHNAME', 'pgj_suppression'
LANGUAGE C STABLE;

-- The same for a claim's whole batch at once (claim_messages, the Citus claim):
-- element i of the result is the reason of the suppression that stops message
-- i (its customer, its audience's id, its journey and version), null where
-- none does; core::stopping_reasons reads the batch's suppressions and its
-- versions' ignored reasons in two queries.
CREATE OR REPLACE FUNCTION journey._claim_stops(p_customers text[], p_audience_ids bigint[],
                                                p_journeys bigint[], p_versions int[],
                                                p_channel text)
RETURNS text[]
AS 'MODULE_PATHNAME', 'pgj_claim_stops'
LANGUAGE C STABLE;

-- Why journey.preview's message would be recorded suppressed: "no_recipient",
-- "suppression: <reason>", or null (pending), as the tick decides it
-- (core::suppressed_reason).
CREATE OR REPLACE FUNCTION journey._preview_stop(p_audience regclass, p_customer text,
                                                 p_channel text, p_no_recipient boolean,
                                                 p_ignored text[])
RETURNS text
AS 'MODULE_PATHNAME', 'pgj_preview_stop'
LANGUAGE C STABLE;

-- Whether a suppression of `channel` (null: every channel) for `reason` stops a
-- message of p_message_channel whose journey ignores p_ignored
-- (core::suppression_stops): _add_suppression withdraws those messages.
CREATE OR REPLACE FUNCTION journey._suppression_stops(p_channel text, p_reason text,
                                                      p_message_channel text, p_ignored text[])
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgj_suppression_stops'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- The id (journey.audiences.id) of a registered audience, null for another
-- relation. Tables distributed by customer name their audience by it.
CREATE OR REPLACE FUNCTION journey._audience_id(p_audience regclass) RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  SELECT a.id FROM journey.audiences a WHERE a.relation = p_audience
$$;

-- Adds a suppression (see add_suppression) for a resolved customer and
-- withdraws the pending messages it stops. Returns false when the customer
-- already had one for that channel (which is kept as it was).
CREATE OR REPLACE FUNCTION journey._add_suppression(p_audience regclass, p_customer text,
                                                    p_channel text, p_reason text, p_source text)
RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  added boolean;
  -- The audience's journeys, read first from the definitions alone: on Citus a
  -- regclass compared in a query sent to other nodes would be this node's OID
  -- there (docs/scale-out.md).
  jids bigint[] := ARRAY(SELECT j.id FROM journey.journeys j WHERE j.audience = p_audience);
  aid bigint := journey._audience_id(p_audience);
BEGIN
  INSERT INTO journey.suppressions AS s (audience, customer_id, channel, reason, source, audience_id)
  VALUES (p_audience, p_customer, p_channel, p_reason, p_source, aid)
  ON CONFLICT (customer_id, audience_id, (coalesce(channel, ''))) DO NOTHING;
  added := FOUND;
  -- Pending messages it stops never leave (locking them: a concurrent claim
  -- either took a message first, or skips it and it is suppressed here):
  -- those core's rule says it stops (journey._suppression_stops: its channel,
  -- every channel when null, and a version that does not ignore its reason).
  -- On Citus after waiting for a move of the customer's group (journey._citus_hold_moves).
  PERFORM journey._citus_hold_moves(ARRAY[p_customer]);
  UPDATE journey.messages m
     SET status = 'suppressed', reason = 'suppression: ' || p_reason, completed_at = now()
    FROM journey.versions v
   WHERE m.customer_id = p_customer AND m.status = 'pending'
     AND m.journey_id = ANY (jids)
     AND v.journey_id = m.journey_id AND v.version = m.version
     AND journey._suppression_stops(p_channel, p_reason, m.channel,
                                    v.ignored_suppression_reasons);
  RETURN added;
END
$$;

-- Stops every message of `channel` (every channel when null) to the customer,
-- in every journey, until remove_suppression: the sends check it when a message
-- is created and again when it is claimed. Reasons are free text; 'unsubscribed'
-- is the one transactional journeys ignore (message_event also adds
-- 'complained' and 'bounced'). Returns false when the customer already had a
-- suppression for that channel (which is kept as it was).
CREATE OR REPLACE FUNCTION journey.add_suppression(customer_id text, channel text DEFAULT NULL,
                                                   reason text DEFAULT 'manual',
                                                   source text DEFAULT NULL,
                                                   audience regclass DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  resolved record;
BEGIN
  IF add_suppression.customer_id IS NULL THEN
    RAISE EXCEPTION 'customer_id must not be null' USING ERRCODE = '22004';
  END IF;
  IF add_suppression.channel = '' THEN
    RAISE EXCEPTION 'channel of a suppression must be a channel name, or null for every channel'
      USING ERRCODE = '22023';
  END IF;
  PERFORM journey._check_channel(add_suppression.channel, 'a suppression');
  IF coalesce(add_suppression.reason, '') = '' THEN
    RAISE EXCEPTION 'a suppression needs a reason' USING ERRCODE = '22023',
      HINT = 'for example ''unsubscribed'', ''complained'', ''bounced'' or ''manual''';
  END IF;
  resolved := journey._resolve_customer(add_suppression.customer_id, add_suppression.audience);
  RETURN journey._add_suppression(resolved.audience, resolved.key, add_suppression.channel,
                                  add_suppression.reason, add_suppression.source);
END
$$;

-- Lifts the customer's suppression of `channel` (every suppression of the
-- customer when null); returns how many were removed. Messages suppressed
-- meanwhile stay suppressed.
CREATE OR REPLACE FUNCTION journey.remove_suppression(customer_id text, channel text DEFAULT NULL,
                                                      audience regclass DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  resolved record;
  n bigint;
  ids bigint[];
  aid bigint;
BEGIN
  IF remove_suppression.customer_id IS NULL THEN
    RAISE EXCEPTION 'customer_id must not be null' USING ERRCODE = '22004';
  END IF;
  PERFORM journey._check_channel(remove_suppression.channel, 'a suppression');
  resolved := journey._resolve_customer(remove_suppression.customer_id, remove_suppression.audience);
  -- Found by the audience's id (journey.audiences.id, the same on every node),
  -- then deleted by id.
  aid := journey._audience_id(resolved.audience);
  SELECT array_agg(s.id) INTO ids FROM journey.suppressions s
   WHERE s.customer_id = resolved.key
     AND s.audience_id = aid
     AND (remove_suppression.channel IS NULL OR s.channel = remove_suppression.channel);
  DELETE FROM journey.suppressions s WHERE s.customer_id = resolved.key AND s.id = ANY (ids);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;

-- The suppressions, of one customer id and/or one channel (every channel's
-- suppressions apply to each channel: listing channel 'sms' shows those too).
CREATE OR REPLACE FUNCTION journey.list_suppressions(customer_id text DEFAULT NULL,
                                                     channel text DEFAULT NULL)
RETURNS SETOF journey.suppressions
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  r journey.suppressions;
BEGIN
  PERFORM journey._check_channel(list_suppressions.channel, 'list_suppressions');
  FOR r IN
    SELECT s.* FROM journey.suppressions s
     WHERE (list_suppressions.customer_id IS NULL OR s.customer_id = list_suppressions.customer_id)
       AND (list_suppressions.channel IS NULL OR s.channel IS NULL
            OR s.channel = list_suppressions.channel)
     ORDER BY s.customer_id, s.channel NULLS FIRST, s.id LOOP
    -- The audience as this node names it, found by its id: on Citus the row's
    -- audience column is the OID of the node that holds (or wrote) it.
    r.audience := coalesce((SELECT a.relation FROM journey.audiences a WHERE a.id = r.audience_id),
                           r.audience);
    RETURN NEXT r;
  END LOOP;
END
$$;

-- Records engagement `kind` with message m (see message_event): the row in
-- message_events, the suppression it implies, the exit of the message's
-- enrollment (unsubscribed, complained), the event through journey.track
-- (exit rules, waits and entry triggers on the event `kind`), and the wake of
-- the message's own enrollment with the message attached (waits with
-- "message_of"). Returns the message event id. Every statement on a runtime
-- table names m's customer (on Citus: pinned to the customer's shards).
CREATE OR REPLACE FUNCTION journey._message_event(m journey.messages, p_kind text, p_props jsonb,
                                                  p_at timestamptz)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys;
  fx record;
  event_id bigint;
  me_id bigint;
  lookup record;
  delivered jsonb;
  latest int;
BEGIN
  SELECT * INTO j FROM journey.journeys x WHERE x.id = m.journey_id;
  -- What it does is decided in core (journey._engagement_effects), with the
  -- settings of the message's version.
  fx := journey._engagement_effects(p_kind, p_props,
                                    (SELECT v.definition->'settings' FROM journey.versions v
                                      WHERE v.journey_id = m.journey_id AND v.version = m.version));
  INSERT INTO journey.message_events (message_id, enrollment_id, journey_id, version, step_key,
                                      customer_id, channel, kind, properties, occurred_at)
  VALUES (m.id, m.enrollment_id, m.journey_id, m.version, m.step_key, m.customer_id, m.channel,
          p_kind, p_props, p_at)
  RETURNING id INTO me_id;

  -- Suppressions: an unsubscribe (of the channel, or of everything with
  -- "scope": "all"), a complaint, a hard bounce.
  IF fx.suppress THEN
    PERFORM journey._add_suppression(j.audience, m.customer_id,
                                     CASE WHEN fx.all_channels THEN NULL ELSE m.channel END, p_kind,
                                     coalesce(p_props->>'source', 'message ' || m.id));
  END IF;
  -- Unsubscribing from (or complaining about) a journey's message ends the
  -- customer's enrollment in it; a transactional journey keeps unsubscribers.
  IF fx.ends_enrollment THEN
    PERFORM journey._end_customer_enrollments(m.customer_id, ARRAY[m.enrollment_id],
                                              ARRAY['exited'], ARRAY[p_kind]);
  END IF;

  -- The event, as journey.track records it (unless the customer is gone).
  lookup := journey._lookup_customer(j.audience, m.customer_id);
  IF lookup.problem IS NULL THEN
    event_id := journey.track(m.customer_id, p_kind,
                              p_props || jsonb_build_object('message_id', m.id,
                                                            'journey', j.name,
                                                            'step_key', m.step_key,
                                                            'channel', m.channel),
                              p_at, NULL, j.audience);
  END IF;

  -- Whether the engagement wakes the message's enrollment (a wait with
  -- "message_of") is decided in core (journey._engagement_wakes) from the
  -- step's latest visit with a message and the enrollment; the enrollment is
  -- locked only when woken (rechecked on its newest row version, as an UPDATE
  -- would).
  SELECT max(x.visit) INTO latest FROM journey.messages x
   WHERE x.customer_id = m.customer_id AND x.enrollment_id = m.enrollment_id
     AND x.step_key = m.step_key;
  PERFORM FROM journey.enrollments e
   WHERE e.customer_id = m.customer_id AND e.id = m.enrollment_id
     AND journey._engagement_wakes(p_kind, m.visit, latest, e.status::text, e.waiting_for)
     FOR UPDATE;
  IF NOT FOUND THEN
    RETURN me_id;
  END IF;
  delivered := jsonb_build_object('id', event_id, 'name', p_kind, 'properties', p_props,
                                  'occurred_at', p_at,
                                  'message', jsonb_build_object('id', m.id, 'step', m.step_key,
                                                                'enrollment_id', m.enrollment_id));
  UPDATE journey.enrollments e
     SET woken_by = e.woken_by || jsonb_build_array(delivered), next_run_at = now()
   WHERE e.customer_id = m.customer_id AND e.id = m.enrollment_id;
  PERFORM journey._wake_workers();
  RETURN me_id;
END
$$;

-- Engagement with a message, reported by the sender or the tracking server:
-- delivered, opened, clicked, bounced (properties.type 'hard' or 'soft'; a
-- hard bounce suppresses the channel), complained, unsubscribed (suppresses
-- the channel, every channel with properties.scope = 'all'). Recorded against
-- the message, its step and enrollment (journey.message_events); wakes the
-- enrollment's wait for that engagement ("message_of") or ends it
-- (unsubscribed, complained); also recorded as the event `kind` through
-- journey.track. Returns the id of the message event.
CREATE OR REPLACE FUNCTION journey.message_event(message_id bigint, kind text,
                                                 properties jsonb DEFAULT '{}',
                                                 occurred_at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  props jsonb := message_event.properties;
  customer text;
BEGIN
  -- Called per row of a query on a Citus shard (journey._citus_refuse_per_row).
  IF journey._citus_shard_query_call() THEN
    PERFORM journey._citus_refuse_per_row('journey.message_event',
      'read the message ids first, then report each from the ids as values: '
      'SELECT journey.message_event(i, ''opened'') FROM unnest(''{42,43}''::bigint[]) i');
  END IF;
  IF message_event.message_id IS NULL THEN
    RAISE EXCEPTION 'message_id of message event "%" must not be null', message_event.kind
      USING ERRCODE = '22004';
  END IF;
  IF props IS NULL THEN
    RAISE EXCEPTION 'properties of message event "%" must not be null', message_event.kind
      USING ERRCODE = '22004', HINT = 'pass ''{}'' for none';
  END IF;
  IF message_event.occurred_at IS NOT NULL AND NOT isfinite(message_event.occurred_at) THEN
    RAISE EXCEPTION 'occurred_at of message event "%" must be a finite time, got %',
      message_event.kind, message_event.occurred_at USING ERRCODE = '22023';
  END IF;
  -- What a caller may report (the kind, an object of properties, a bounce's
  -- type, an unsubscribe's scope) is checked in core: 22023 otherwise.
  PERFORM journey._check_engagement(message_event.kind, props);
  IF journey._citus_distributed() THEN
    -- On a Citus install (docs/scale-out.md) the message's customer first (a
    -- read by id, on every shard, without locks); the rest runs on the node
    -- that owns the customer, every statement pinned to it.
    SELECT x.customer_id INTO customer FROM journey.messages x
     WHERE x.id = message_event.message_id;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'message % does not exist', message_event.message_id USING ERRCODE = '42704';
    END IF;
  END IF;
  RETURN journey._message_event_of(customer, message_event.message_id, message_event.kind, props,
                                   coalesce(message_event.occurred_at, now()));
END
$$;

-- The rest of journey.message_event, for message p_message (of customer
-- p_customer; null on a single node, where the message is found by id): locks
-- the message, refuses one never handed out, returns the first event of a
-- replayed delivered/bounced/complained/unsubscribed, else records it
-- (journey._message_event). On a Citus install this is a distributed function
-- by p_customer (journey.distribute): it runs on the node that owns the
-- customer, its statements pinned to the customer; called elsewhere (as
-- message_event, a function, calls it), it sends itself there as a query on
-- the message's row of the customer's shard, in the caller's transaction.
CREATE OR REPLACE FUNCTION journey._message_event_of(p_customer text, p_message bigint,
                                                     p_kind text, p_props jsonb,
                                                     p_at timestamptz)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  m journey.messages;
  first_id bigint;
  result bigint;
  once text;
BEGIN
  IF p_customer IS NULL THEN
    SELECT * INTO m FROM journey.messages x WHERE x.id = p_message FOR UPDATE;
  ELSIF NOT EXISTS (SELECT 1 FROM journey._citus_customer_shards(p_customer)) THEN
    -- Committed with the caller's transaction on every node it writes (two-phase):
    -- journey._citus_write_on_customer_node.
    PERFORM journey._citus_write_on_customer_node(p_customer);
    EXECUTE 'SELECT journey._message_event_of($1, $2, $3, $4, $5)
               FROM journey.messages x WHERE x.customer_id = $1 AND x.id = $2'
      INTO result USING p_customer, p_message, p_kind, p_props, p_at;
    IF result IS NULL THEN
      RAISE EXCEPTION 'message % does not exist', p_message USING ERRCODE = '42704';
    END IF;
    RETURN result;
  ELSE
    SELECT * INTO m FROM journey.messages x
     WHERE x.customer_id = p_customer AND x.id = p_message FOR UPDATE;
  END IF;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'message % does not exist', p_message USING ERRCODE = '42704';
  END IF;
  -- Only a message handed out to a sender takes engagement (core decides).
  IF NOT journey._engagement_accepted(m.status::text) THEN
    RAISE EXCEPTION 'the message of step "%" of journey "%" was never handed out: it is %',
      m.step_key, (SELECT j.name FROM journey.journeys j WHERE j.id = m.journey_id), m.status
      USING ERRCODE = '55000', HINT = 'engagement is reported for claimed or sent messages';
  END IF;
  -- Engagement that happens once to a message (core decides which: a key,
  -- journey._engagement_once_key): a replay (a provider's webhook retried, the
  -- unsubscribe link followed twice) returns the first event and changes
  -- nothing. Opens and clicks (no key) are recorded each time.
  once := journey._engagement_once_key(p_kind, p_props);
  IF once IS NOT NULL THEN
    SELECT me.id INTO first_id FROM journey.message_events me
     WHERE me.customer_id = m.customer_id AND me.message_id = m.id AND me.kind = p_kind
       AND journey._engagement_once_key(me.kind, me.properties) = once
     ORDER BY me.id LIMIT 1;
    IF FOUND THEN
      RETURN first_id;
    END IF;
  END IF;
  RETURN journey._message_event(m, p_kind, p_props, p_at);
END
$$;

-- Renders the message of a send step for a real customer, as the engine would
-- now, without writing anything: the channel, the recipient, what would become
-- of it (status pending, or suppressed with the reason: no_recipient, a
-- suppression; or exited when an exit rule of the journey would end the
-- enrollment first) and the rendered payload. version null: the journey's
-- latest version (its draft when it has one, with the templates as they are
-- now; a published version renders the templates frozen into it). context and
-- event stand in for the enrollment context and the triggering event
-- ({{context.x}}, {{event.x}}). The caller must be able to read the customer
-- table.
CREATE OR REPLACE FUNCTION journey.preview(journey text, step_key text, customer_id text,
                                           context jsonb DEFAULT '{}', event jsonb DEFAULT NULL,
                                           version int DEFAULT NULL)
RETURNS TABLE (channel text, recipient text, status text, reason text, payload jsonb)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  j journey.journeys := journey._journey(preview.journey);
  v journey.versions;
  def jsonb;
  templates jsonb;
  problem record;
  customer text;
  r jsonb;
  why text;
BEGIN
  IF preview.step_key IS NULL OR preview.customer_id IS NULL THEN
    RAISE EXCEPTION 'preview needs a step_key and a customer_id' USING ERRCODE = '22004';
  END IF;
  IF NOT has_table_privilege(journey._invoking_role(), j.audience, 'SELECT') THEN
    RAISE EXCEPTION 'permission denied to preview journey "%": it renders rows of %', j.name,
      j.audience USING ERRCODE = '42501', HINT = format('needs SELECT on %s', j.audience);
  END IF;
  IF preview.context IS NOT NULL AND jsonb_typeof(preview.context) <> 'object' THEN
    RAISE EXCEPTION 'context for the preview of journey "%" must be a JSON object', j.name
      USING ERRCODE = '22023';
  END IF;
  v := journey._version_of(j, preview.version);
  def := journey.export(j.name, v.version);
  templates := CASE WHEN v.definition IS NOT NULL THEN coalesce(v.templates, '{}')
                    ELSE journey._definition_templates(def) END;
  -- A draft must validate before it renders (a published version with the
  -- templates it froze, which it renders).
  SELECT i.step_key, i.message INTO problem
    FROM journey._validate_version(def, NULL, v.templates) i WHERE i.severity = 'error'
   ORDER BY i.step_key IS DISTINCT FROM preview.step_key, i.step_key LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'cannot preview journey "%" version %: %', j.name, v.version,
      coalesce('step "' || nullif(problem.step_key, '') || '": ', '') || problem.message
      USING ERRCODE = '22023', HINT = format('journey.validate(%L) lists every problem', j.name);
  END IF;
  customer := (journey._resolve_customer(preview.customer_id, j.audience)).key;
  BEGIN
    r := journey._preview(def, templates, j.audience, preview.step_key, customer,
                          coalesce(preview.context, '{}'), preview.event);
  EXCEPTION WHEN datetime_field_overflow OR numeric_value_out_of_range THEN
    -- Name the journey, step and customer with the field the error names.
    GET STACKED DIAGNOSTICS why = MESSAGE_TEXT;
    RAISE EXCEPTION 'cannot preview step "%" of journey "%" for customer %: %', preview.step_key,
      j.name, customer, why USING ERRCODE = SQLSTATE, HINT = 'store infinity for "never"';
  END;
  IF r ? 'exit_reason' THEN
    RETURN QUERY SELECT NULL::text, NULL::text, 'exited'::text, r->>'exit_reason', NULL::jsonb;
    RETURN;
  END IF;
  channel := r->>'channel';
  recipient := r->>'recipient';
  payload := r->'payload';
  -- Pending or suppressed as the tick decides (core): the ignored reasons
  -- decided by core at publish; for a draft, from its settings now.
  reason := journey._preview_stop(j.audience, customer, channel,
                                  (r->>'no_recipient')::boolean,
                                  CASE WHEN v.definition IS NOT NULL
                                       THEN v.ignored_suppression_reasons
                                       ELSE journey._ignored_suppression_reasons(def->'settings')
                                  END);
  status := CASE WHEN reason IS NULL THEN 'pending' ELSE 'suppressed' END;
  RETURN NEXT;
END
$$;

REVOKE ALL ON FUNCTION
  journey._check_channel(text, text),
  journey._timestamp_beyond(text, text, text),
  journey._suppression(regclass, text, text, text[]),
  journey._claim_stops(text[], bigint[], bigint[], int[], text),
  journey._preview_stop(regclass, text, text, boolean, text[]),
  journey._suppression_stops(text, text, text, text[]),
  journey._audience_id(regclass),
  journey._add_suppression(regclass, text, text, text, text),
  journey.add_suppression(text, text, text, text, regclass),
  journey.remove_suppression(text, text, regclass),
  journey.list_suppressions(text, text),
  journey._message_event(journey.messages, text, jsonb, timestamptz),
  journey.message_event(bigint, text, jsonb, timestamptz),
  journey._message_event_of(text, bigint, text, jsonb, timestamptz),
  journey.set_recipients(regclass, jsonb),
  journey._set_recipients(regclass, jsonb),
  journey._invalidate_audience(regclass),
  journey._preview(jsonb, jsonb, regclass, text, text, jsonb, jsonb),
  journey.preview(text, text, text, jsonb, jsonb, int)
FROM PUBLIC;
-- list_suppressions runs as its caller and checks its channel argument.
GRANT EXECUTE ON FUNCTION journey._check_channel(text, text) TO journey_reader, journey_app;
-- The customer read of a tick or preview may call it, as whichever role runs them.
GRANT EXECUTE ON FUNCTION journey._timestamp_beyond(text, text, text) TO journey_reader, journey_app;
GRANT EXECUTE ON FUNCTION
  journey.list_suppressions(text, text),
  journey.preview(text, text, text, jsonb, jsonb, int)
TO journey_reader;
GRANT EXECUTE ON FUNCTION
  journey.add_suppression(text, text, text, text, regclass),
  journey.remove_suppression(text, text, regclass),
  journey.message_event(bigint, text, jsonb, timestamptz)
TO journey_app;
GRANT EXECUTE ON FUNCTION journey.set_recipients(regclass, jsonb) TO journey_admin;
