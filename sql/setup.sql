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
