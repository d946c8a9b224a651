-- The backend's caches show in pg_backend_memory_contexts (docs/operations.md,
-- "Memory of a backend"): compiled journeys, audiences, the customer-table
-- trigger's entry conditions and the key readers each have a named context
-- under CacheMemoryContext, with one child an entry (ident: which), sized by
-- the entry's C++ objects; dropping an entry deletes its context.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE g2_people (id bigint PRIMARY KEY, email text, tier text NOT NULL DEFAULT 'basic');
SELECT journey.register_audience('g2_people', 'id', 'email');
SELECT journey.create_template('g2_hello', 'email', 'Hello', 'Tier {{tier}}');
SELECT journey.import($${"name": "g2-tiered", "audience": "g2_people", "start": "hello",
  "entry": [{"type": "attribute", "when": {"field": "tier", "op": "eq", "value": "gold"}}],
  "steps": [{"key": "hello", "type": "send_email", "template": "g2_hello", "next": "rest"},
            {"key": "rest", "type": "delay", "duration": "1 day"}]}$$) > 0 AS imported;
SELECT journey.publish('g2-tiered');

-- The cache contexts and this test's entries, journeys by name (ids depend on
-- the tests before, whose audiences and journeys a tick may load too). A cache
-- context appears once its cache is first used.
CREATE VIEW g2_caches AS
  SELECT c.name, c.parent, c.level,
         coalesce(j.name || ' v' || (regexp_match(c.ident, 'version (\d+)$'))[1], c.ident) AS entry,
         c.total_bytes > 0 AS sized, c.used_bytes = c.total_bytes AS all_used
    FROM pg_backend_memory_contexts c
    LEFT JOIN journey.journeys j ON j.id = (regexp_match(c.ident, '^journey (\d+) '))[1]::bigint
   WHERE c.name IN ('pg_journey compiled journeys', 'pg_journey audiences',
                    'pg_journey trigger entries', 'pg_journey key readers')
      OR (c.parent IN ('pg_journey compiled journeys', 'pg_journey audiences',
                       'pg_journey trigger entries', 'pg_journey key readers')
          AND (c.ident = 'public.g2_people' OR j.name = 'g2-tiered'))
   ORDER BY c.level, c.name, entry;

-- Nothing cached yet in this backend.
SELECT * FROM g2_caches;

-- A trigger fire compiles the journey, its audience and its entry conditions.
INSERT INTO g2_people (id, email, tier) VALUES (1, 'a@x.test', 'gold'), (2, 'b@x.test', 'basic');
SELECT * FROM g2_caches;

-- A tick uses the cached journey; track() adds the audience's key reader.
SELECT journey.run_due(100000, '2030-01-01 10:00+00') > 0 AS ran;
SELECT journey.track('1', 'g2_clicked', audience => 'g2_people') IS NOT NULL AS tracked;
SELECT * FROM g2_caches;

-- Each entry's size is its C++ objects: a compiled journey is a few kB, not nothing.
SELECT name, total_bytes BETWEEN 1000 AND 1000000 AS plausible
  FROM pg_backend_memory_contexts
 WHERE parent = 'pg_journey compiled journeys'
   AND ident = (SELECT 'journey ' || id || ' version 1' FROM journey.journeys WHERE name = 'g2-tiered');

-- Republished (enrollments migrated): every backend drops its cached entries
-- when the publish commits (each cache at its next use), and loads again only
-- what it uses: the migration compiled version 2 (journey._migrations) and the
-- tick runs customer 1 on it, so version 2 alone is cached; the trigger's
-- entries and key readers go at their next use.
SELECT count(*) AS issues FROM journey.set_step_config('g2-tiered', 'rest', '{"duration": "2 days"}');
SELECT journey.publish('g2-tiered', migrate => true);
SELECT * FROM g2_caches;
SELECT journey.run_due(100000, '2030-01-03 10:00+00') > 0 AS ran;
SELECT e.customer_id, e.version, e.status FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'g2-tiered' ORDER BY 1;
SELECT * FROM g2_caches;

-- Published twice more: nothing is due, so nothing is compiled (the versions the
-- publishes retired are not kept).
SELECT count(*) AS issues FROM journey.set_step_config('g2-tiered', 'rest', '{"duration": "3 days"}');
SELECT journey.publish('g2-tiered', migrate => true);
SELECT count(*) AS issues FROM journey.set_step_config('g2-tiered', 'rest', '{"duration": "9 days"}');
SELECT journey.publish('g2-tiered', migrate => true);
SELECT journey.run_due(100000, '2030-01-06 10:00+00') >= 0 AS ran;
SELECT * FROM g2_caches;

-- The customer-table trigger evaluates the exit rules and wait_until steps of
-- every published and retired version of the audience's published journeys:
-- a backend that fires it holds them all.
UPDATE g2_people SET tier = 'gold' WHERE id = 2;
SELECT * FROM g2_caches;

-- An ALTER TABLE of the audience drops every cached entry; the next fire
-- builds what it needs again: the audience's entry, one (long-named) column more, is larger.
CREATE TEMP TABLE g2_before AS
  SELECT total_bytes FROM pg_backend_memory_contexts WHERE name = 'pg_journey audience'
     AND ident = 'public.g2_people';
ALTER TABLE g2_people ADD COLUMN preferred_nickname_text varchar(200);
UPDATE g2_people SET preferred_nickname_text = 'c' WHERE id = 2;
SELECT c.total_bytes > b.total_bytes AS rebuilt_larger
  FROM pg_backend_memory_contexts c, g2_before b
 WHERE c.name = 'pg_journey audience' AND c.ident = 'public.g2_people';
SELECT * FROM g2_caches WHERE parent IN ('pg_journey audiences', 'pg_journey compiled journeys');

-- The caches, one line each (docs/operations.md's query).
SELECT parent AS cache, count(*) > 0 AS entries, sum(total_bytes) > 0 AS sized
  FROM pg_backend_memory_contexts
 WHERE parent IN ('pg_journey compiled journeys', 'pg_journey audiences',
                  'pg_journey trigger entries', 'pg_journey key readers')
 GROUP BY parent ORDER BY parent;

-- The server log's dump of this backend's contexts prints the entries too
-- ("N total in 1 blocks; 0 free; N used (C++ objects on the heap)").
SELECT pg_log_backend_memory_contexts(pg_backend_pid()) AS logged;
SELECT 1 AS still_here;

-- Leave no active enrollment behind (docs/development.md).
SELECT journey.archive('g2-tiered');
