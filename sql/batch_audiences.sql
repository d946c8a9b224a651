-- One tick batch holds enrollments of several audiences: each run reads its
-- own audience's row of the customer, even where two audience tables share a
-- customer id (the batch's customer rows were once keyed by id alone, and the
-- audience read last stood in for both).
\set SHOW_CONTEXT never
CREATE TABLE ba_people (id int PRIMARY KEY, email text, score int);
CREATE TABLE ba_accounts (code text PRIMARY KEY, contact text, tier text, score int);
INSERT INTO ba_people VALUES (1, 'p1@x.test', 10), (2, 'p2@x.test', 70);
INSERT INTO ba_accounts VALUES ('1', 'a1@x.test', 'gold', 5), ('2', 'a2@x.test', 'plain', 95);
SELECT journey.register_audience('ba_people', 'id', 'email');
SELECT journey.register_audience('ba_accounts', 'code', 'contact');
SELECT journey.import($${"name": "ba-people", "audience": "ba_people", "start": "check",
  "steps": [{"key": "check", "type": "condition", "if": {"field": "score", "op": "gte", "value": 50},
             "branches": {"yes": "high", "no": "low"}},
            {"key": "high", "type": "exit"}, {"key": "low", "type": "exit"}]}$$) > 0 AS imported;
SELECT journey.import($${"name": "ba-accounts", "audience": "ba_accounts", "start": "check",
  "steps": [{"key": "check", "type": "condition",
             "if": {"all": [{"field": "tier", "op": "eq", "value": "gold"},
                            {"field": "score", "op": "lt", "value": 50}]},
             "branches": {"yes": "gold", "no": "other"}},
            {"key": "gold", "type": "exit"}, {"key": "other", "type": "exit"}]}$$) > 0 AS imported;
SELECT journey.publish('ba-people') > 0 AS published, journey.publish('ba-accounts') > 0 AS published;
SELECT count(journey.enroll('ba-people', c)) + count(journey.enroll('ba-accounts', c)) AS enrolled
  FROM unnest(ARRAY['1', '2']) c;
-- (other suites' enrollments may be due too: all of them run, in as few batches as can be)
SELECT journey.run_due(100000, ref_time('2030-01-01 10:00+00')) >= 4 AS ran;
SELECT j.name, e.customer_id, e.status, e.step_key, e.last_error
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id
 WHERE j.name LIKE 'ba-%' ORDER BY 1, 2;
