-- F18: a temporary table cannot be an audience (it is visible only to its
-- session and dropped with it, unseen by the drop guard); an audience whose
-- table is gone (registered before 0.2 refused them) is skipped by plain
-- track()/customer_journeys() and named with 42P01 when asked for.
\set SHOW_CONTEXT never
CREATE TABLE fi_cust (id text PRIMARY KEY, email text);
INSERT INTO fi_cust VALUES ('fi-1', 'fi1@example.com');
SELECT journey.register_audience('fi_cust', 'id', 'email');

-- A temporary table is refused, naming it; nothing is registered.
CREATE TEMP TABLE fi_temp (id text PRIMARY KEY, email text);
SELECT try($$SELECT journey.register_audience('fi_temp', 'id', 'email')$$);
SELECT count(*) AS registered FROM journey.audiences WHERE relation = 'fi_temp'::regclass;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'fi_temp'::regclass;

-- An unlogged table is accepted (visible to every session; a crash empties it).
CREATE UNLOGGED TABLE fi_unlogged (id text PRIMARY KEY);
SELECT journey.register_audience('fi_unlogged', 'id');
SELECT journey.unregister_audience('fi_unlogged');
DROP TABLE fi_unlogged;

-- A dangling audience: the temporary table registered (as 0.1 allowed), then
-- its session's temporary tables dropped (no sql_drop event for them).
INSERT INTO journey.audiences (relation, key_column, email_column, id)
VALUES ('fi_temp'::regclass, 'id', 'email', 'fi_temp'::regclass::oid);
SELECT 'fi_temp'::regclass::oid AS gone \gset
DISCARD TEMP;
SELECT count(*) AS dangling FROM journey.audiences a
 WHERE a.relation = :gone AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = a.relation);

-- Plain track() and customer_journeys() skip it.
SELECT journey.track('fi-1', 'fi_evt') IS NOT NULL AS tracked;
SELECT customer_id, name, audience FROM journey.events WHERE name = 'fi_evt';
SELECT count(*) AS journeys FROM journey.customer_journeys('fi-1');

-- Named, it is a clear 42P01 with the way out (its OID masked).
SELECT regexp_replace(try(format('SELECT journey.track(%L, %L, audience => %s)', 'fi-1', 'fi_evt', :gone)),
                      '\d{3,}', 'OID', 'g') AS named_track;
SELECT regexp_replace(try(format('SELECT * FROM journey.customer_journeys(%L, audience => %s)', 'fi-1', :gone)),
                      '\d{3,}', 'OID', 'g') AS named_journeys;
SELECT regexp_replace(try(format('SELECT journey._lookup_customer(%s, %L)', :gone, 'fi-1')),
                      '\d{3,}', 'OID', 'g') AS named_lookup;

-- The way out works.
SELECT journey.unregister_audience(:gone::regclass);
SELECT count(*) AS left_over FROM journey.audiences WHERE relation = :gone;

SELECT journey.unregister_audience('fi_cust');
DELETE FROM journey.events WHERE name = 'fi_evt';
DROP TABLE fi_cust;
