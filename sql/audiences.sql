-- register_audience / unregister_audience: every check, and that a failed call
-- leaves nothing behind.
\set SHOW_CONTEXT never
CREATE TABLE people (pid uuid PRIMARY KEY, mail text, zone text, n int, nick text);
CREATE TABLE no_key (id int, mail text);
CREATE TABLE partial_key (id int, deleted boolean);
CREATE UNIQUE INDEX ON partial_key (id) WHERE NOT deleted;
CREATE UNIQUE INDEX ON people (mail);
CREATE VIEW people_view AS SELECT * FROM people;

SELECT try($$SELECT journey.register_audience('people', 'nope')$$);
SELECT try($$SELECT journey.register_audience('people', 'pid', 'nope')$$);
SELECT try($$SELECT journey.register_audience('people', 'pid', 'n')$$);
SELECT try($$SELECT journey.register_audience('people', 'pid', 'mail', 'n')$$);
SELECT try($$SELECT journey.register_audience('no_key', 'id')$$);
SELECT try($$SELECT journey.register_audience('partial_key', 'id')$$);
SELECT try($$SELECT journey.register_audience('people_view', 'pid')$$);
SELECT try($$SELECT journey.register_audience(NULL, 'pid')$$);
SELECT try($$SELECT journey.register_audience('missing_table', 'pid')$$);
SELECT count(*) AS nothing_registered FROM journey.audiences WHERE relation::text <> 'customers';

-- A uuid key works; registering again updates the optional columns.
SELECT journey.register_audience('people', 'pid', 'mail', 'zone');
SELECT journey.register_audience('people', 'pid', 'nick');
SELECT relation, key_column, email_column, timezone_column FROM journey.audiences ORDER BY relation::text;

-- The columns the condition compiler sees, with their type categories.
SELECT name, type_name, category FROM journey._audience_columns('customers');

-- A journey pins its audience: the key column cannot change, nor the audience go.
SELECT journey.create_journey('people-journey', 'people') > 0 AS created;
SELECT try($$SELECT journey.register_audience('people', 'nick')$$);
SELECT try($$SELECT journey.register_audience('people', 'mail')$$);
SELECT try($$SELECT journey.unregister_audience('people')$$);
-- nor can the table be dropped while it is registered
SELECT try($$DROP TABLE people CASCADE$$);
SELECT try($$SELECT journey.unregister_audience('no_key')$$);
SELECT journey.drop_journey('people-journey');
SELECT journey.unregister_audience('people');
SELECT relation FROM journey.audiences ORDER BY relation::text;
DROP VIEW people_view;
DROP TABLE people, no_key, partial_key;
