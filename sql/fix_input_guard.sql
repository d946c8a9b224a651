-- F16: the table guard keeps a registered audience's key column unique: the
-- last primary key / unique index on it cannot be dropped (two customers
-- would share an id and their rows mix).
\set SHOW_CONTEXT never
CREATE TABLE fi_guard (id int PRIMARY KEY, email text, vip boolean DEFAULT false);
INSERT INTO fi_guard VALUES (1, 'one@example.com'), (2, 'two@example.com');
SELECT journey.register_audience('fi_guard', 'id', 'email');

-- No journey yet: still refused, naming table and column.
SELECT try($$ALTER TABLE fi_guard DROP CONSTRAINT fi_guard_pkey$$);

SELECT journey.import('{"name": "fi_guard_j", "audience": "fi_guard", "start": "x",
  "steps": [{"key": "x", "type": "exit"}]}') IS NOT NULL AS imported;
SELECT try($$ALTER TABLE fi_guard DROP CONSTRAINT fi_guard_pkey$$);
-- A retyped key keeps its (rebuilt) primary key: allowed.
SELECT try($$ALTER TABLE fi_guard ALTER COLUMN id TYPE bigint$$);

-- A second unique index on the key: then the primary key may go, but not that one too.
CREATE UNIQUE INDEX fi_guard_id_key ON fi_guard (id);
SELECT try($$ALTER TABLE fi_guard DROP CONSTRAINT fi_guard_pkey$$);
SELECT try($$DROP INDEX fi_guard_id_key$$);
-- A partial or two-column unique index does not count.
CREATE UNIQUE INDEX fi_guard_partial ON fi_guard (id) WHERE vip;
CREATE UNIQUE INDEX fi_guard_pair ON fi_guard (id, email);
SELECT try($$DROP INDEX fi_guard_id_key$$);
SELECT indexrelid::regclass AS still_there FROM pg_index WHERE indrelid = 'fi_guard'::regclass
 ORDER BY indexrelid::regclass::text;
-- The duplicate the guard keeps out.
SELECT try($$INSERT INTO fi_guard (id, email) VALUES (1, 'dup@example.com')$$);

-- Unrelated indexes still drop freely.
SELECT try($$DROP INDEX fi_guard_pair$$);

SELECT journey.drop_journey('fi_guard_j');
SELECT journey.unregister_audience('fi_guard');
DROP INDEX fi_guard_id_key;  -- no longer an audience: allowed
DROP TABLE fi_guard;
