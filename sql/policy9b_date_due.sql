-- When a date entry trigger's customer is due on a run (issue 9, audit-9 R8):
-- compiled and rendered by core (journey._date_due_sql, core::date_due_sql),
-- run by _run_entry_trigger as $1 = the last run (null on the first run),
-- $2 = now. Here the same SQL over a small table, at fixed times: leap days,
-- an offset across New Year, a month offset, infinity, the first run's
-- look-back of one calendar day, and the session's time zone.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE p9b_dates (id int PRIMARY KEY, d date, ts timestamptz);
INSERT INTO p9b_dates VALUES
  (1, '2000-02-29', NULL),                      -- a leap-day birthday
  (2, '1990-01-02', NULL),                      -- early January
  (3, '2026-01-31', NULL),                      -- the last of a month
  (4, '2026-03-10', NULL),                      -- a plain date
  (5, 'infinity', 'infinity'),
  (6, NULL, '2026-03-07 11:30 America/New_York'),  -- the day before DST began there
  (7, NULL, '2026-05-31 13:00+00'),
  (8, NULL, '2026-05-31 11:00+00');
CREATE FUNCTION pg_temp.due(config jsonb, since timestamptz, at timestamptz) RETURNS int[]
LANGUAGE plpgsql AS $$
DECLARE
  ids int[];
BEGIN
  EXECUTE format('SELECT coalesce(array_agg(t.id ORDER BY t.id), ''{}'') FROM p9b_dates t WHERE %s',
                 journey._date_due_sql(config))
    INTO ids USING since, at;
  RETURN ids;
END
$$;

-- Leap day, yearly: February 28 in common years, February 29 in leap years
-- (and then not on the 28th).
SELECT pg_temp.due('{"field": "d", "recurring": "yearly"}', '2027-02-27 12:00', '2027-02-28 12:00') AS common_year_28th,
       pg_temp.due('{"field": "d", "recurring": "yearly"}', '2028-02-27 12:00', '2028-02-28 12:00') AS leap_year_28th,
       pg_temp.due('{"field": "d", "recurring": "yearly"}', '2028-02-28 12:00', '2028-02-29 12:00') AS leap_year_29th,
       pg_temp.due('{"field": "d", "recurring": "yearly"}', '2028-02-29 12:00', '2028-03-01 12:00') AS leap_year_1st;
-- An offset across New Year: 3 days before January 2 is December 30 of the
-- year before (next year's anniversary is a candidate).
SELECT pg_temp.due('{"field": "d", "offset": "-3 days", "recurring": "yearly"}',
                   '2026-12-29 12:00', '2026-12-30 12:00') AS new_year_eve,
       pg_temp.due('{"field": "d", "offset": "-3 days", "recurring": "yearly"}',
                   '2026-12-30 12:00', '2027-01-01 12:00') AS after;
-- Not yearly: due once, when field + offset passes; a month is a calendar
-- month (January 31 + 1 month is February 28).
SELECT pg_temp.due('{"field": "d", "offset": "1 month"}', '2026-02-27 12:00', '2026-02-28 12:00') AS month_end,
       pg_temp.due('{"field": "d", "offset": "1 month"}', '2027-02-27 12:00', '2027-02-28 12:00') AS next_year;
-- The first run (no last run) looks back one day.
SELECT pg_temp.due('{"field": "ts"}', NULL, '2026-06-01 12:00+00') AS first_run,
       pg_temp.due('{"field": "ts"}', '2026-05-31 10:00+00', '2026-06-01 12:00+00') AS later_run;
-- The session's time zone: a date is due at its midnight there, and the
-- first run's day is a calendar day (23 hours on the day DST begins).
SELECT pg_temp.due('{"field": "d"}', '2026-03-09 00:00+00', '2026-03-10 03:00+00') AS utc;
SET timezone = 'America/New_York';
SELECT pg_temp.due('{"field": "d"}', '2026-03-09 00:00+00', '2026-03-10 03:00+00') AS new_york,
       pg_temp.due('{"field": "d"}', '2026-03-09 00:00+00', '2026-03-10 05:00+00') AS new_york_later;
-- March 8 12:00 in New York is 16:00 UTC; a day before is March 7 12:00
-- EST, 17:00 UTC (23 hours): 11:30 EST (16:30 UTC) is not due there, but is
-- within the 24 hours a UTC session's day has.
SELECT pg_temp.due('{"field": "ts"}', NULL, '2026-03-08 12:00') AS dst_first_run;
SET timezone = 'UTC';
SELECT pg_temp.due('{"field": "ts"}', NULL, '2026-03-08 16:00+00') AS utc_first_run;
-- Infinity has no anniversary (and is never due).
SELECT pg_temp.due('{"field": "ts", "recurring": "yearly"}', '2026-01-01', '2027-01-01') AS yearly_ts,
       pg_temp.due('{"field": "ts", "offset": "-1 day"}', '2000-01-01', '2100-01-01') AS a_century;
-- The SQL itself (quoted column, offset as an interval).
SELECT journey._date_due_sql('{"field": "Trial Ends", "offset": "2 hours"}');
-- A config that is not a date trigger's.
SELECT try($$SELECT journey._date_due_sql('{"offset": "1 day"}')$$);
SELECT try($$SELECT journey._date_due_sql('{"field": "d", "recurring": "weekly"}')$$);
SELECT try($$SELECT journey._date_due_sql(NULL)$$);
DROP TABLE p9b_dates;
