-- Audiences: registering customer tables, their triggers, and the drop guard.

-- Registers a customer table: which column is the customer id, and optionally
-- where the e-mail address and the time zone of each customer are, and the
-- recipient column of other channels (journey.set_recipients: {"sms": "phone"}).
CREATE OR REPLACE FUNCTION journey.register_audience(relation regclass, key_column name,
                                          email_column name DEFAULT NULL,
                                          timezone_column name DEFAULT NULL,
                                          recipients jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  rel regclass := register_audience.relation;
  kind "char";
  persistence "char";
  old journey.audiences;
  registrar name;
  merged jsonb;
BEGIN
  IF rel IS NULL OR register_audience.key_column IS NULL THEN
    RAISE EXCEPTION 'relation and key_column must not be null' USING ERRCODE = '22004';
  END IF;
  PERFORM journey._citus_require_coordinator(format('register audience %s', rel));
  SELECT c.relkind, c.relpersistence INTO kind, persistence FROM pg_class c WHERE c.oid = rel;
  IF kind NOT IN ('r', 'p') THEN
    RAISE EXCEPTION '"%" is not a table', rel USING ERRCODE = '42809';
  END IF;
  -- A temporary table is visible to its own session only and is dropped with
  -- it without the drop guard seeing it: every other session's track() would
  -- fail on it (docs/authoring.md "Registering an audience").
  IF persistence = 't' THEN
    RAISE EXCEPTION 'temporary table "%" cannot be an audience', rel
      USING ERRCODE = '0A000',
            DETAIL = 'a temporary table is visible only to the session that created it and is dropped with it',
            HINT = 'register a permanent (or unlogged) table';
  END IF;
  PERFORM journey._require_table_owner(rel, 'register');
  PERFORM journey._check_audience_columns(rel, register_audience.key_column,
                                          register_audience.email_column,
                                          register_audience.timezone_column);
  PERFORM journey._citus_check_audience(rel, register_audience.key_column);
  SELECT * INTO old FROM journey.audiences a WHERE a.relation = rel FOR UPDATE;
  IF FOUND AND old.key_column <> register_audience.key_column THEN
    PERFORM 1 FROM journey.journeys x WHERE x.audience = rel;
    IF FOUND THEN
      RAISE EXCEPTION 'cannot change the key column of audience "%": journeys use it', rel
        USING ERRCODE = '55000';
    END IF;
  END IF;
  -- Looked up first: Citus refuses a subquery in INSERT ... VALUES on a
  -- reference table (docs/scale-out.md).
  SELECT r.rolname INTO registrar FROM pg_roles r WHERE r.oid = journey._invoking_role();
  INSERT INTO journey.audiences AS a (relation, key_column, email_column, timezone_column, registered_by,
                                      id)
  VALUES (rel, register_audience.key_column, register_audience.email_column,
          register_audience.timezone_column, registrar, rel::oid)
  ON CONFLICT ON CONSTRAINT audiences_pkey DO UPDATE
     SET key_column = excluded.key_column, email_column = excluded.email_column,
         timezone_column = excluded.timezone_column;
  -- The e-mail channel's recipient is email_column. (Computed first: Citus
  -- refuses a non-IMMUTABLE function in CASE in an UPDATE of a reference table.)
  SELECT CASE WHEN a.email_column IS NULL THEN a.recipients - 'email'
              ELSE a.recipients || jsonb_build_object('email', a.email_column) END
    INTO merged FROM journey.audiences a WHERE a.relation = rel;
  UPDATE journey.audiences a SET recipients = merged WHERE a.relation = rel;
  IF register_audience.recipients IS NOT NULL THEN
    IF register_audience.email_column IS NOT NULL AND jsonb_typeof(register_audience.recipients) = 'object'
       AND register_audience.recipients ? 'email'
       AND register_audience.recipients->>'email' IS DISTINCT FROM register_audience.email_column THEN
      RAISE EXCEPTION 'recipients of audience "%" name e-mail column "%", but email_column is "%"', rel,
        register_audience.recipients->>'email', register_audience.email_column
        USING ERRCODE = '22023', HINT = 'give the e-mail column once';
    END IF;
    PERFORM journey._set_recipients(rel, register_audience.recipients);
  END IF;
  PERFORM journey._invalidate_audience(rel);
  PERFORM journey._install_audience_triggers(rel);
END
$$;

-- What journey.register_audience checks of the columns it is given: each
-- exists, the e-mail and time zone columns are of a text type, and the key
-- column is unique (a one-column unique index without predicate).
CREATE OR REPLACE FUNCTION journey._check_audience_columns(rel regclass, key_column name,
                                                          email_column name, timezone_column name)
RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  key_attnum int;
  col record;
BEGIN
  FOR col IN SELECT * FROM (VALUES ('key_column', _check_audience_columns.key_column),
                                   ('email_column', _check_audience_columns.email_column),
                                   ('timezone_column', _check_audience_columns.timezone_column)) v(role, name)
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
   WHERE c.name = _check_audience_columns.key_column;
  PERFORM 1 FROM pg_index i
   WHERE i.indrelid = rel AND i.indisunique AND i.indnkeyatts = 1
     AND i.indkey[0] = key_attnum AND i.indpred IS NULL AND i.indexprs IS NULL;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'key column "%" of relation "%" is not unique', _check_audience_columns.key_column, rel
      USING ERRCODE = '42P10',
            HINT = format('add a primary key or a unique index on %s (%I)', rel, _check_audience_columns.key_column);
  END IF;
END
$$;

-- Changes the recipient columns of an audience's channels: {"email": "email",
-- "sms": "phone", "push": "push_token"}. Merges into the columns already set; a
-- channel mapped to null is removed. Each column must be of a text type. The
-- "email" channel is the audience's email_column.
CREATE OR REPLACE FUNCTION journey.set_recipients(audience regclass, recipients jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  PERFORM journey._citus_require_coordinator(format('set the recipients of audience %s', set_recipients.audience));
  PERFORM 1 FROM journey.audiences a WHERE a.relation = set_recipients.audience FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'relation "%" is not a registered audience', set_recipients.audience
      USING ERRCODE = '42704', HINT = 'register it first with journey.register_audience';
  END IF;
  PERFORM journey._require_table_owner(set_recipients.audience, 'change');
  PERFORM journey._set_recipients(set_recipients.audience, set_recipients.recipients);
END
$$;

-- Checks and merges recipients into the audience's (see set_recipients).
CREATE OR REPLACE FUNCTION journey._set_recipients(rel regclass, p_recipients jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  r record;
  problems text[];
BEGIN
  IF p_recipients IS NULL OR jsonb_typeof(p_recipients) <> 'object' THEN
    RAISE EXCEPTION 'recipients of audience "%" must be a JSON object of channel: column', rel
      USING ERRCODE = '22023', HINT = 'for example {"email": "email", "sms": "phone"}';
  END IF;
  FOR r IN SELECT * FROM jsonb_each(p_recipients) ORDER BY key LOOP
    IF r.key = '' OR r.key <> btrim(r.key) THEN
      RAISE EXCEPTION 'recipients of audience "%": channel name "%" is not valid', rel, r.key
        USING ERRCODE = '22023';
    END IF;
    PERFORM journey._check_channel(r.key, format('the recipients of audience "%s"', rel));
    CONTINUE WHEN jsonb_typeof(r.value) = 'null';
    IF jsonb_typeof(r.value) <> 'string' THEN
      RAISE EXCEPTION 'recipients of audience "%": channel "%" must name a column, got %', rel, r.key,
        r.value USING ERRCODE = '22023';
    END IF;
    PERFORM 1 FROM journey._audience_columns(rel) c WHERE c.name = r.value->>0;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'column "%" of relation "%" does not exist', r.value->>0, rel
        USING ERRCODE = '42703', DETAIL = format('it was given as the recipient of channel "%s"', r.key);
    END IF;
    PERFORM 1 FROM journey._audience_columns(rel) c WHERE c.name = r.value->>0 AND c.category = 'text';
    IF NOT FOUND THEN
      RAISE EXCEPTION 'recipient column "%" of channel "%" of relation "%" must be of a text type',
        r.value->>0, r.key, rel USING ERRCODE = '42804';
    END IF;
  END LOOP;
  -- A channel whose recipient column is removed while live journeys still send
  -- on it would leave their messages pending without a recipient: refused,
  -- naming the journeys and steps.
  -- (The versions with active enrollments first, on their own: on Citus a
  -- correlated subquery on enrollments beside the reference tables has no plan;
  -- and read over one connection a node, as the reference table audiences is
  -- written below: local to this function, its SET clause restores it.)
  IF journey._citus_distributed() THEN
    PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
  END IF;
  WITH live AS MATERIALIZED (
    SELECT DISTINCT e.journey_id, e.version FROM journey.enrollments e
     WHERE e.status = 'active'
       AND e.journey_id IN (SELECT x.id FROM journey.journeys x WHERE x.audience = rel)
       AND EXISTS (SELECT 1 FROM jsonb_each(p_recipients) ch WHERE jsonb_typeof(ch.value) = 'null'))
  SELECT array_agg(format('journey "%s" version %s, step "%s" sends on channel "%s"',
                          l.name, l.version, l.step_key, l.channel)
                   ORDER BY l.name, l.version, l.step_key)
    INTO problems
    FROM (SELECT DISTINCT j.name, x.version, st.step_key, ch.key AS channel
            FROM journey.audiences a
            CROSS JOIN jsonb_each(p_recipients) ch
            JOIN journey.journeys j ON j.audience = a.relation
            JOIN journey.versions x ON x.journey_id = j.id
            -- which steps send on which channel's column: the version's
            -- definition compiled by core (journey._channels_sent)
            CROSS JOIN LATERAL journey._channels_sent(x.definition, a.relation) st
           WHERE a.relation = rel AND jsonb_typeof(ch.value) = 'null'
             AND (a.recipients ? ch.key OR (ch.key = 'email' AND a.email_column IS NOT NULL))
             AND j.state IN ('published', 'paused') AND x.definition IS NOT NULL
             AND (x.status = 'published'
                  OR (x.status = 'retired'
                      AND (x.journey_id, x.version) IN (SELECT l.journey_id, l.version FROM live l)))
             AND st.channel = ch.key) l;
  IF cardinality(problems) > 0 THEN
    RAISE EXCEPTION 'cannot remove recipient columns of audience "%": live journeys send on their channels', rel
      USING ERRCODE = '55000',
            DETAIL = array_to_string(problems, E'\n'),
            HINT = 'archive these journeys, or publish versions without these steps and let the '
                   'enrollments of older versions end; then remove the recipient column';
  END IF;
  UPDATE journey.audiences a
     SET recipients = jsonb_strip_nulls(a.recipients || p_recipients),
         email_column = CASE WHEN p_recipients ? 'email' THEN (p_recipients->>'email')::name
                             ELSE a.email_column END
   WHERE a.relation = rel;
  PERFORM journey._invalidate_audience(rel);
END
$$;

-- Raises 42501 unless the calling role owns the table (or is a member of the
-- owning role, as for ALTER TABLE): a registered table is guarded against DROP
-- and ALTER, a decision that belongs to its owner, not to whoever may add a
-- trigger to it.
CREATE OR REPLACE FUNCTION journey._require_table_owner(rel regclass, verb text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  caller regrole := journey._invoking_role();
  owner regrole;
BEGIN
  SELECT c.relowner::regrole INTO owner FROM pg_class c WHERE c.oid = rel;
  IF NOT pg_has_role(caller, owner, 'USAGE') THEN
    RAISE EXCEPTION 'must be owner of table % to % it as a journey audience', rel, verb
      USING ERRCODE = '42501',
            DETAIL = format('table %s is owned by %s; %s is not a member of that role', rel, owner, caller),
            HINT = 'only its owner may register or unregister a table: a registered table is guarded '
                   'against DROP and against ALTERs that break its journeys';
  END IF;
END
$$;

-- Creates the three statement-level triggers that fire attribute entry
-- triggers, condition exit rules, wait_until steps and customer_deleted exits
-- in the transaction of the change, or brings them in line with what the
-- audience's journeys need (journey._audience_capture, native.sql: decided in
-- core from the versions the trigger itself loads): with transition tables
-- while needed, without (a call that returns at once) otherwise. Only a trigger
-- whose definition must change is replaced (that takes a SHARE ROW EXCLUSIVE
-- lock on the table). Called by register_audience and by every change of a
-- journey's state (publish, pause, resume, archive).
CREATE OR REPLACE FUNCTION journey._install_audience_triggers(rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  need record := journey._audience_capture(rel);
  t record;
BEGIN
  FOR t IN SELECT d.name, d.event, d.capture, d.referencing, tg.oid IS NOT NULL AS present,
                  (tg.tgoldtable IS NOT NULL OR tg.tgnewtable IS NOT NULL) AS capturing
             FROM (VALUES ('pg_journey_insert', 'INSERT', need.changes,
                           'REFERENCING NEW TABLE AS pg_journey_new'),
                          ('pg_journey_update', 'UPDATE', need.changes,
                           'REFERENCING OLD TABLE AS pg_journey_old NEW TABLE AS pg_journey_new'),
                          ('pg_journey_delete', 'DELETE', need.deletes,
                           'REFERENCING OLD TABLE AS pg_journey_old')) d(name, event, capture, referencing)
             LEFT JOIN pg_trigger tg ON tg.tgrelid = rel AND tg.tgname = d.name LOOP
    CONTINUE WHEN t.present AND t.capturing = t.capture;
    -- A Citus table takes triggers (created on its shards too) only with this
    -- setting; local to this function (its SET clause restores it at exit).
    IF journey._citus_table(rel) THEN
      PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
    END IF;
    EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT'
                   ' EXECUTE FUNCTION journey._audience_trigger()',
                   t.name, t.event, rel, CASE WHEN t.capture THEN t.referencing ELSE '' END);
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION journey._remove_audience_triggers(rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  name text;
BEGIN
  FOR name IN SELECT t.tgname FROM pg_trigger t
               WHERE t.tgrelid = rel AND t.tgname IN ('pg_journey_insert', 'pg_journey_update',
                                                      'pg_journey_delete') LOOP
    IF journey._citus_table(rel) THEN  -- as in _install_audience_triggers
      PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
    END IF;
    EXECUTE format('DROP TRIGGER %I ON %s', name, rel);
  END LOOP;
END
$$;

-- Forgets a customer table; refused while journeys use it.
CREATE OR REPLACE FUNCTION journey.unregister_audience(relation regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  users text;
BEGIN
  PERFORM journey._citus_require_coordinator(format('unregister audience %s', unregister_audience.relation));
  PERFORM 1 FROM journey.audiences a WHERE a.relation = unregister_audience.relation FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'relation "%" is not a registered audience', unregister_audience.relation
      USING ERRCODE = '42704';
  END IF;
  PERFORM journey._require_table_owner(unregister_audience.relation, 'unregister');
  SELECT string_agg(format('%s (%s)', x.name, x.state), ', ' ORDER BY x.name) INTO users
    FROM journey.journeys x WHERE x.audience = unregister_audience.relation;
  IF users IS NOT NULL THEN
    RAISE EXCEPTION 'audience "%" is used by journeys: %', unregister_audience.relation, users
      USING ERRCODE = '2BP01', HINT = 'drop those journeys first (journey.drop_journey)';
  END IF;
  -- On Citus: the triggers are dropped on every shard, and a reference table may
  -- be written after that in one transaction only in sequential mode (local to
  -- this function: its SET clause restores the setting at exit).
  IF journey._citus_distributed() THEN
    PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
  END IF;
  PERFORM journey._remove_audience_triggers(unregister_audience.relation);
  DELETE FROM journey.audiences a WHERE a.relation = unregister_audience.relation;
END
$$;

-- DDL guards. Event triggers fire for every role's DDL, so they run as the
-- extension's owner (SECURITY DEFINER, pinned search_path): installing
-- pg_journey changes nothing for roles that never touch its schema. Their fast
-- path is one lookup in journey.audiences.

-- The name a DDL guard reads reference table rel by on this node: on a Citus
-- node that holds a placement of it (the coordinator, docs/scale-out.md), that
-- local shard (journey.audiences as journey.audiences_102017), a plain table;
-- else rel itself. While an ALTER TABLE runs, Citus returns no rows for every
-- query it plans (citus multi_executor.c, AlterTableConstraintCheck), so the
-- guards below would see no audience and no journey there. (Defined here, not
-- in citus.sql: the guards fire from the install on.)
CREATE OR REPLACE FUNCTION journey._citus_local_table(rel regclass) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  shard text;
BEGIN
  IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
    EXECUTE $q$SELECT format('%I.%I', n.nspname, c.relname || '_' || s.shardid)
                 FROM pg_catalog.pg_dist_partition d
                 JOIN pg_catalog.pg_dist_shard s ON s.logicalrelid = d.logicalrelid
                 JOIN pg_catalog.pg_dist_placement p ON p.shardid = s.shardid
                 JOIN pg_catalog.pg_class c ON c.oid = d.logicalrelid
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE d.logicalrelid = $1 AND d.partmethod = 'n' AND d.repmodel = 't'
                  AND p.groupid = (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g)$q$
      INTO shard USING rel;
  END IF;
  RETURN coalesce(shard, (SELECT format('%I.%I', n.nspname, c.relname)
                            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                           WHERE c.oid = rel));
END
$$;

-- Whether version p_version of journey p_journey has active enrollments. On a
-- distributed install each shard of journey.enrollments is asked over
-- connections of their own (run_command_on_shards: Citus plans no query here,
-- see _citus_local_table; committed enrollments only); a shard that cannot be
-- asked counts as having some.
CREATE OR REPLACE FUNCTION journey._version_has_active(p_journey bigint, p_version int) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  found boolean;
BEGIN
  IF NOT journey._citus_table('journey.enrollments', 'h') THEN
    RETURN EXISTS (SELECT 1 FROM journey.enrollments e
                    WHERE e.journey_id = p_journey AND e.version = p_version AND e.status = 'active');
  END IF;
  EXECUTE $q$SELECT coalesce(bool_or(NOT r.success OR r.result = 't'), false)
               FROM pg_catalog.run_command_on_shards('journey.enrollments', $1) r$q$
    INTO found
    USING format($q$SELECT EXISTS (SELECT 1 FROM %%s e WHERE e.journey_id = %s AND e.version = %s
                                                         AND e.status = 'active')$q$, p_journey, p_version);
  RETURN found;
END
$$;

REVOKE ALL ON FUNCTION journey._citus_local_table(regclass), journey._version_has_active(bigint, int)
  FROM PUBLIC;

-- Whether rel is `ancestor` or one of its partitions / inheritance children.
CREATE OR REPLACE FUNCTION journey._inherits_from(rel regclass, ancestor oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, journey, pg_temp AS $$
  WITH RECURSIVE up(r) AS (SELECT rel::oid
                           UNION SELECT i.inhparent FROM pg_inherits i JOIN up ON i.inhrelid = up.r)
  SELECT EXISTS (SELECT 1 FROM up WHERE up.r = ancestor)
$$;

-- The audience row of rel after following a RENAME COLUMN (renamed_in /
-- renamed_attnum: the column renamed, in rel or an ancestor of it): its key,
-- e-mail, time zone and recipient columns keep pointing at their column.
CREATE OR REPLACE FUNCTION journey._follow_audience_rename(rel regclass, renamed_in oid,
                                                           renamed_attnum int)
RETURNS journey.audiences
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  a journey.audiences;
  new_name name;
  found_cols record;
  new_recipients jsonb;
BEGIN
  EXECUTE format('SELECT * FROM %s x WHERE x.relation = $1', journey._citus_local_table('journey.audiences'))
    INTO a USING rel;
  SELECT t.attname INTO new_name FROM pg_attribute t
   WHERE t.attrelid = renamed_in AND t.attnum = renamed_attnum AND NOT t.attisdropped;
  SELECT bool_or(c.name = a.key_column) AS has_key,
         a.email_column IS NULL OR bool_or(c.name = a.email_column) AS has_email,
         a.timezone_column IS NULL OR bool_or(c.name = a.timezone_column) AS has_tz,
         bool_or(c.name = new_name) AS has_new
    INTO found_cols FROM journey._audience_columns(rel) c;
  -- A rename changes one name: a column of the audience row whose name is
  -- gone is the one that was renamed.
  IF found_cols.has_new AND NOT (found_cols.has_key AND found_cols.has_email AND found_cols.has_tz) THEN
    UPDATE journey.audiences x
       SET key_column = CASE WHEN found_cols.has_key THEN x.key_column ELSE new_name END,
           email_column = CASE WHEN found_cols.has_email THEN x.email_column ELSE new_name END,
           timezone_column = CASE WHEN found_cols.has_tz THEN x.timezone_column ELSE new_name END
     WHERE x.relation = rel
    RETURNING x.* INTO a;
  END IF;
  -- Recipient columns follow a rename too.
  IF found_cols.has_new AND EXISTS (SELECT 1 FROM jsonb_each_text(a.recipients) r
                                     WHERE NOT EXISTS (SELECT 1 FROM journey._audience_columns(rel) c
                                                        WHERE c.name = r.value)) THEN
    -- Computed here, not in the UPDATE: on Citus the UPDATE of a reference
    -- table is sent to every node, where a function in it would run inside a
    -- query on a shard (which Citus refuses).
    new_recipients := (SELECT jsonb_object_agg(r.key,
                            CASE WHEN EXISTS (SELECT 1 FROM journey._audience_columns(rel) c
                                               WHERE c.name = r.value)
                                 THEN r.value ELSE new_name END)
                     FROM jsonb_each_text(a.recipients) r);
    UPDATE journey.audiences x SET recipients = new_recipients
     WHERE x.relation = rel
    RETURNING x.* INTO a;
    PERFORM journey._invalidate_audience(rel);
  END IF;
  RETURN a;
END
$$;

-- Checks a registered audience against its table's current shape, after DDL
-- changed it (renamed_in / renamed_attnum: the column an ALTER TABLE ... RENAME
-- COLUMN renamed, in that table or an ancestor of it). The audience row follows
-- a rename of its key, e-mail or time zone column; those columns cannot be
-- dropped (nor e-mail and time zone become non-text). Then every version that
-- can still run is validated against the table (journey._shape_issues): the
-- published version of each published or paused journey, and retired versions
-- with active enrollments (their entry triggers no longer fire). Any problem
-- refuses the DDL (2BP01), naming journey, version and step.
CREATE OR REPLACE FUNCTION journey._check_audience(rel regclass, renamed_in oid DEFAULT NULL,
                                                   renamed_attnum int DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  a journey.audiences;
  col record;
  v record;
  issue record;
  problems text[] := '{}';
BEGIN
  -- On a Citus coordinator the definitions are read from their local
  -- placements: while an ALTER TABLE runs, Citus returns no rows for the
  -- queries it plans (journey._citus_local_table).
  EXECUTE format('SELECT * FROM %s x WHERE x.relation = $1 FOR UPDATE',
                 journey._citus_local_table('journey.audiences'))
    INTO a USING rel;
  IF a.relation IS NULL THEN
    RETURN;
  END IF;
  IF renamed_attnum IS NOT NULL THEN
    a := journey._follow_audience_rename(rel, renamed_in, renamed_attnum);
  END IF;

  FOR col IN SELECT r.role, r.name, c.category
               FROM (VALUES ('key', a.key_column), ('e-mail', a.email_column),
                            ('time zone', a.timezone_column)
                     UNION ALL
                     SELECT format('recipient (channel "%s")', e.key), e.value::name
                       FROM jsonb_each_text(a.recipients) e WHERE e.key <> 'email') r(role, name)
               LEFT JOIN journey._audience_columns(rel) c ON c.name = r.name
              WHERE r.name IS NOT NULL AND (c.name IS NULL OR (r.role <> 'key' AND c.category <> 'text')) LOOP
    IF col.category IS NULL THEN
      RAISE EXCEPTION 'cannot drop column "%" of table %: it is the % column of a registered journey audience',
                      col.name, rel, col.role
        USING ERRCODE = '2BP01',
              HINT = CASE WHEN col.role = 'key'
                          THEN 'unregister the audience first (journey.unregister_audience)'
                          WHEN col.role LIKE 'recipient%'
                          THEN 'remove it from the audience''s recipients first (journey.set_recipients)'
                          ELSE format('register the audience again without its %s column first (journey.register_audience)', col.role) END;
    END IF;
    RAISE EXCEPTION 'column "%" of table % must stay of a text type: it is the % column of a registered journey audience',
                    col.name, rel, col.role
      USING ERRCODE = '42804',
            HINT = CASE WHEN col.role LIKE 'recipient%'
                        THEN 'remove it from the audience''s recipients first (journey.set_recipients)'
                        ELSE format('register the audience again without its %s column first (journey.register_audience)', col.role) END;
  END LOOP;

  FOR v IN EXECUTE format(
             $q$SELECT j.id, j.name, x.version, x.status, x.definition
                  FROM %s j JOIN %s x ON x.journey_id = j.id
                 WHERE j.audience = $1 AND j.state IN ('published', 'paused') AND x.definition IS NOT NULL
                   AND x.status IN ('published', 'retired')
                 ORDER BY j.name, x.version$q$,
             journey._citus_local_table('journey.journeys'), journey._citus_local_table('journey.versions'))
             USING rel LOOP
    CONTINUE WHEN v.status = 'retired' AND NOT journey._version_has_active(v.id, v.version);
    FOR issue IN SELECT * FROM journey._shape_issues(
                   CASE WHEN v.status = 'retired' THEN v.definition - 'entry' ELSE v.definition END, rel) LOOP
      problems := problems || format('journey "%s" version %s, %s: %s', v.name, v.version,
                                     CASE WHEN issue.step_key IS NULL THEN 'journey'
                                          WHEN issue.step_key ~ '^(entry|exit)\[' OR issue.step_key = 'settings'
                                          THEN issue.step_key
                                          ELSE format('step "%s"', issue.step_key) END,
                                     issue.message);
    END LOOP;
  END LOOP;
  IF cardinality(problems) > 0 THEN
    RAISE EXCEPTION 'cannot alter table % because live journeys read the changed columns', rel
      USING ERRCODE = '2BP01',
            DETAIL = array_to_string(problems, E'\n'),
            HINT = 'publish versions of these journeys that do not read those columns and let the '
                   'enrollments of older versions end (or exit them), or archive the journeys; then alter the table';
  END IF;
END
$$;

-- Raises 2BP01 when the key column of audience rel no longer has a primary key
-- or a non-partial unique index on exactly that column (what register_audience
-- requires): with duplicate keys two customers' rows would mix.
CREATE OR REPLACE FUNCTION journey._check_audience_key(rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  key name;
  journeys text;
BEGIN
  EXECUTE format('SELECT a.key_column FROM %s a WHERE a.relation = $1',
                 journey._citus_local_table('journey.audiences'))
    INTO key USING rel;
  -- A dropped key column is refused by the column checks (_check_audience).
  IF key IS NULL OR NOT EXISTS (SELECT 1 FROM pg_attribute att WHERE att.attrelid = rel
                                 AND att.attname = key AND NOT att.attisdropped) THEN
    RETURN;
  END IF;
  PERFORM 1 FROM pg_index i JOIN pg_attribute att ON att.attrelid = i.indrelid AND att.attnum = i.indkey[0]
   WHERE i.indrelid = rel AND i.indisunique AND i.indnkeyatts = 1 AND att.attname = key
     AND i.indpred IS NULL AND i.indexprs IS NULL;
  IF FOUND THEN
    RETURN;
  END IF;
  EXECUTE format($q$SELECT string_agg(format('"%%s"', j.name), ', ' ORDER BY j.name) FROM %s j
                    WHERE j.audience = $1$q$, journey._citus_local_table('journey.journeys'))
    INTO journeys USING rel;
  RAISE EXCEPTION 'cannot drop the unique index of column "%" of table %: it is the key column of a registered journey audience',
                  key, rel
    USING ERRCODE = '2BP01',
          DETAIL = coalesce('journeys of this audience: ' || journeys,
                            'no journey uses this audience yet'),
          HINT = format('create another primary key or unique index on %s (%I) first, or unregister the audience (journey.unregister_audience)',
                        rel, key);
END
$$;

-- sql_drop: a registered customer table cannot be dropped from under its
-- journeys; columns dropped by a cascade (DROP TYPE / DOMAIN / EXTENSION ...
-- CASCADE) are checked like an ALTER TABLE (ALTER TABLE itself is checked at
-- ddl_command_end, by the guard below).
CREATE OR REPLACE FUNCTION journey._guard_audience_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  dropped record;
  changed regclass[] := '{}';
  rel regclass;
BEGIN
  -- On a Citus worker node (docs/scale-out.md) what is dropped is a shard or a
  -- shell table, by the coordinator, which runs this check itself; reading the
  -- audiences (a reference table) from a shard drop would fail it.
  IF to_regclass('pg_catalog.pg_dist_local_group') IS NOT NULL THEN
    IF (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g) <> 0 THEN
      RETURN;
    END IF;
  END IF;
  FOR dropped IN EXECUTE format(
                   $q$SELECT a.relation, d.object_type, d.object_identity
                        FROM pg_event_trigger_dropped_objects() d
                        JOIN %s a ON a.relation::oid = d.objid
                       WHERE d.classid = 'pg_class'::regclass AND d.object_type IN ('table', 'table column')$q$,
                   journey._citus_local_table('journey.audiences')) LOOP
    IF dropped.object_type = 'table' THEN
      RAISE EXCEPTION 'cannot drop table %: it is a registered journey audience', dropped.object_identity
        USING ERRCODE = '2BP01',
              HINT = 'drop its journeys (journey.drop_journey) and call journey.unregister_audience first';
    END IF;
    IF TG_TAG <> 'ALTER TABLE' AND NOT dropped.relation = ANY (changed) THEN
      changed := changed || dropped.relation;
    END IF;
  END LOOP;
  FOREACH rel IN ARRAY changed LOOP
    PERFORM journey._check_audience(rel);
  END LOOP;
  -- An index or constraint dropped (DROP INDEX, ALTER TABLE ... DROP
  -- CONSTRAINT): every audience's key must still be unique, or two customers
  -- would share an id (its table is no longer known here, so all are checked).
  IF EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() d
              WHERE d.object_type IN ('index', 'table constraint')) THEN
    FOR rel IN EXECUTE format($q$SELECT a.relation FROM %s a
                                  WHERE EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = a.relation)
                                  ORDER BY a.relation::oid$q$, journey._citus_local_table('journey.audiences')) LOOP
      PERFORM journey._check_audience_key(rel);
    END LOOP;
  END IF;
END
$$;
DROP EVENT TRIGGER IF EXISTS pg_journey_guard_audience_drop;
CREATE EVENT TRIGGER pg_journey_guard_audience_drop ON sql_drop
  EXECUTE FUNCTION journey._guard_audience_drop();

-- ddl_command_end of ALTER TABLE: a registered audience (the altered table or
-- a partition / child of it) must still fit its journeys (journey._check_audience).
-- On a Citus coordinator the audiences are read from their local placement
-- (journey._citus_local_table), as _check_audience reads the definitions.
CREATE OR REPLACE FUNCTION journey._guard_audience_alter() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  hit record;
BEGIN
  FOR hit IN EXECUTE format(
               $q$SELECT a.relation, min(c.objid) FILTER (WHERE c.object_type = 'table column') AS renamed_in,
                         min(c.objsubid) FILTER (WHERE c.object_type = 'table column') AS renamed_attnum
                    FROM pg_event_trigger_ddl_commands() c
                    JOIN %s a ON a.relation::oid = c.objid OR journey._inherits_from(a.relation, c.objid)
                   WHERE c.classid = 'pg_class'::regclass
                   GROUP BY a.relation ORDER BY a.relation::oid$q$,
               journey._citus_local_table('journey.audiences')) LOOP
    PERFORM journey._check_audience(hit.relation, hit.renamed_in, hit.renamed_attnum);
  END LOOP;
END
$$;
DROP EVENT TRIGGER IF EXISTS pg_journey_guard_audience_alter;
CREATE EVENT TRIGGER pg_journey_guard_audience_alter ON ddl_command_end
  WHEN TAG IN ('ALTER TABLE') EXECUTE FUNCTION journey._guard_audience_alter();

-- ddl_command_start of DROP EXTENSION pg_journey: takes the locks the drop needs
-- without deadlocking against running ticks and applications, and removes the
-- extension's pg_cron jobs (src/pg/ddl_guard.cpp). Other DROP EXTENSIONs pass.
DROP EVENT TRIGGER IF EXISTS pg_journey_drop_extension;
CREATE EVENT TRIGGER pg_journey_drop_extension ON ddl_command_start
  WHEN TAG IN ('DROP EXTENSION') EXECUTE FUNCTION journey._drop_extension_start();
