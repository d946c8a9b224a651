-- One classification of audience columns (issue 9): journey._audience_columns,
-- the validator, the tick's customer read and the customer-table trigger all
-- take a column's category from core::classify_column, by its base type, so
-- they agree for every type, also a domain over a domain.
\set SHOW_CONTEXT never
SET timezone = 'UTC';

CREATE DOMAIN acc_score AS int CHECK (VALUE >= 0);
CREATE DOMAIN acc_points AS acc_score;
CREATE TYPE acc_mood AS ENUM ('calm', 'keen');
CREATE TABLE acc_people (
  id      uuid PRIMARY KEY,
  email   varchar(80),
  code    char(6),
  nick    name,
  mood    acc_mood,
  points  acc_points,
  small   int2,
  amount  numeric(12, 4),
  ratio   float4,
  seen    timestamp,
  born    date,
  doc     json,
  spot    point,
  span    interval
);
SELECT journey.register_audience('acc_people', 'id', 'email');
SELECT attnum, name, type_name, category FROM journey._audience_columns('acc_people') ORDER BY attnum;
SELECT count(*) AS no_rows_for_null FROM journey._audience_columns(NULL);

-- A condition on the domain-over-domain column compares it as a number.
SELECT * FROM journey.validate_definition($${"name": "acc-points", "audience": "acc_people",
  "start": "check",
  "steps": [{"key": "check", "type": "condition",
             "if": {"field": "points", "op": "gt", "value": 10},
             "branches": {"yes": "hi", "no": "bye"}},
            {"key": "hi", "type": "update_field", "set": {"small": 1}},
            {"key": "bye", "type": "update_field", "set": {"small": 2}}]}$$);

-- The tick reads each class of column (binary datums) and decides by it.
INSERT INTO acc_people VALUES
  ('00000000-0000-0000-0000-000000000001', 'a@x.test', 'ab', 'ann', 'keen', 25, 0, 12.3456, 0.5,
   '2030-01-01 08:00', '2000-02-29', '{"k": 1}', '(1,2)', '1 day'),
  ('00000000-0000-0000-0000-000000000002', 'b@x.test', 'cd', 'bob', 'calm', 5, 0, 1, 0.25,
   NULL, NULL, NULL, NULL, NULL);
SELECT journey.create_template('acc_t', 'email', 'Hi {{nick}}',
  '{{code}}|{{mood}}|{{points}}|{{amount}}|{{ratio}}|{{seen}}|{{born}}');
SELECT journey.import($${"name": "acc-read", "audience": "acc_people", "start": "check",
  "steps": [{"key": "check", "type": "condition",
             "if": {"all": [{"field": "points", "op": "gt", "value": 10},
                            {"field": "mood", "op": "eq", "value": "keen"},
                            {"field": "amount", "op": "gt", "value": 12.3},
                            {"field": "ratio", "op": "lt", "value": 0.75},
                            {"field": "seen", "op": "lt", "value": "2030-01-02T00:00:00Z"},
                            {"field": "born", "op": "eq", "value": "2000-02-29"},
                            {"field": "code", "op": "eq", "value": "ab"},
                            {"field": "nick", "op": "eq", "value": "ann"}]},
             "branches": {"yes": "mail", "no": "mark"}},
            {"key": "mail", "type": "send_email", "template": "acc_t"},
            {"key": "mark", "type": "update_field", "set": {"small": 7}}]}$$) > 0 AS imported;
SELECT journey.publish('acc-read');
SELECT count(journey.enroll('acc-read', id::text)) AS enrolled FROM acc_people;
SELECT journey.run_due(100, ref_time('2030-01-01 00:00+00')) AS processed;
SELECT e.customer_id, e.status, e.step_key FROM journey.enrollments e
  JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'acc-read' ORDER BY e.customer_id;
SELECT m.customer_id, m.payload->>'subject' AS subject, m.payload->>'body' AS body
  FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id AND j.name = 'acc-read';
SELECT id, small FROM acc_people ORDER BY id;

SELECT journey.archive('acc-read');
SELECT journey.drop_journey('acc-read');
SELECT journey.unregister_audience('acc_people');
DROP TABLE acc_people;
DROP DOMAIN acc_points;
DROP DOMAIN acc_score;
DROP TYPE acc_mood;
