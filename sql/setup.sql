-- Shared fixtures for the pg_regress suite: the customer table, templates and
-- try(), which runs a statement and shows its SQLSTATE and message (so every
-- expected error is checked by code, without PL/pgSQL line numbers).
\set SHOW_CONTEXT never
SELECT extname, extversion FROM pg_extension WHERE extname = 'pg_journey';

CREATE FUNCTION public.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  st text; msg text; det text; hnt text;
BEGIN
  EXECUTE sql;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                          det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
  RETURN st || ': ' || msg || coalesce(E'\ndetail: ' || nullif(det, ''), '')
         || coalesce(E'\nhint: ' || nullif(hnt, ''), '');
END
$$;

CREATE TABLE public.customers (
  id           bigint PRIMARY KEY,
  email        text,
  plan         text,
  age          int,
  score        float8,
  vip          boolean NOT NULL DEFAULT false,
  unsubscribed boolean NOT NULL DEFAULT false,
  signed_up_at timestamptz,
  birthday     date,
  tz           text,
  attrs        jsonb
);
SELECT journey.register_audience('customers', 'id', 'email', 'tz');

SELECT journey.create_template('welcome', 'email', 'Welcome, {{first_name | default: "there"}}', 'Hi {{email}}!');
SELECT journey.create_template('tips', 'email', 'Tips', 'Here are some tips');
SELECT journey.create_template('nudge', 'email', 'Still there?', 'Come back, {{email}}');
SELECT journey.create_template('sms_hi', 'sms', NULL, 'Hi from {{context.brand | default: ''us''}}');

-- Engine time. Tests that move the engine clock (run_due's as_of) are written
-- against the calendar of 2030 (1 January a Tuesday, not a leap year) and run in
-- the first year after the current one with the same calendar (same weekdays,
-- same daylight-saving dates), so that every as_of lies ahead of now() whatever
-- the date of the run: ref_time('2030-01-01 10:00+00') is that moment of the
-- run's year, and ref_shown(ts) maps an engine timestamp back onto 2030 for the
-- expected output.
CREATE TABLE public.ref_clock AS
  SELECT make_date(y, 1, 1) - date '2030-01-01' AS shift_days
    FROM generate_series(extract(year FROM now())::int + 1, extract(year FROM now())::int + 100) y
   WHERE extract(isodow FROM make_date(y, 1, 1)) = 2
     AND NOT (y % 4 = 0 AND (y % 100 <> 0 OR y % 400 = 0))
   ORDER BY y LIMIT 1;
SELECT count(*) AS one_reference_year, bool_and(shift_days % 7 = 0) AS whole_weeks FROM public.ref_clock;
CREATE FUNCTION public.ref_time(t text) RETURNS timestamptz LANGUAGE sql STABLE AS
  $$ SELECT t::timestamptz + shift_days * interval '24 hours' FROM public.ref_clock $$;
CREATE FUNCTION public.ref_shown(t timestamptz) RETURNS timestamptz LANGUAGE sql STABLE AS
  $$ SELECT t - shift_days * interval '24 hours' FROM public.ref_clock $$;
