-- Audiences: registering customer tables, their triggers, and the drop guard.

-- Registers a customer table: which column is the customer id, and optionally
-- where the e-mail address and the time zone of each customer are.
CREATE OR REPLACE FUNCTION journey.register_audience(relation regclass, key_column name,
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
CREATE OR REPLACE FUNCTION journey._install_audience_triggers(rel regclass) RETURNS void
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

CREATE OR REPLACE FUNCTION journey._remove_audience_triggers(rel regclass) RETURNS void
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
CREATE OR REPLACE FUNCTION journey.unregister_audience(relation regclass) RETURNS void
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
CREATE OR REPLACE FUNCTION journey._guard_audience_drop() RETURNS event_trigger
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
DROP EVENT TRIGGER IF EXISTS pg_journey_guard_audience_drop;
CREATE EVENT TRIGGER pg_journey_guard_audience_drop ON sql_drop
  EXECUTE FUNCTION journey._guard_audience_drop();
