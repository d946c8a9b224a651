-- remove_exit_rule: removes the rule at a position of the draft (the later ones
-- move up), refuses a position that holds none, edits only the draft (never a
-- live version), and a version published without a rule no longer applies it.
\set SHOW_CONTEXT never
SET timezone = 'UTC';
CREATE TABLE proof_fans (id int PRIMARY KEY, email text, unsubscribed boolean NOT NULL DEFAULT false,
                         vip boolean NOT NULL DEFAULT false);
INSERT INTO proof_fans (id, email) SELECT g, 'f' || g || '@x.test' FROM generate_series(1, 4) g;
SELECT journey.register_audience('proof_fans', 'id', 'email');
SELECT journey.import($${"name": "fan-club", "audience": "proof_fans", "start": "wait",
  "exit": [{"type": "event", "event": "purchased", "is_goal": true},
           {"type": "condition", "when": {"field": "unsubscribed", "op": "eq", "value": true}},
           {"type": "event", "event": "complained"},
           {"type": "condition", "when": {"field": "vip", "op": "eq", "value": true}}],
  "steps": [{"key": "wait", "type": "delay", "duration": "1 day"}]}$$) > 0 AS imported;
CREATE VIEW fan_rules AS
  SELECT r.version, r.position, r.type, r.config, r.is_goal
    FROM journey.exit_rules r JOIN journey.journeys j ON j.id = r.journey_id
   WHERE j.name = 'fan-club' ORDER BY 1, 2;
SELECT * FROM fan_rules;

-- remove the first (the goal on "purchased"), then the one now second ("complained")
SELECT journey.remove_exit_rule('fan-club', 1);
SELECT * FROM fan_rules;
SELECT journey.remove_exit_rule('fan-club', 2);
SELECT * FROM fan_rules;
SELECT try($$SELECT journey.remove_exit_rule('fan-club', 3)$$);
SELECT try($$SELECT journey.remove_exit_rule('fan-club', 0)$$);
SELECT try($$SELECT journey.remove_exit_rule('fan-club', NULL)$$);
SELECT try($$SELECT journey.remove_exit_rule('no-such-journey', 1)$$);
SELECT jsonb_pretty(journey.export('fan-club')->'exit') AS exit;

-- Published without them: "purchased" and "complained" end nobody; the kept
-- condition rules still do.
SELECT journey.publish('fan-club') AS version;
SELECT count(journey.enroll('fan-club', id::text)) AS enrolled FROM proof_fans;
SELECT journey.track('1', 'purchased', audience => 'proof_fans') IS NOT NULL AS purchased,
       journey.track('2', 'complained', audience => 'proof_fans') IS NOT NULL AS complained;
UPDATE proof_fans SET unsubscribed = true WHERE id = 3;
UPDATE proof_fans SET vip = true WHERE id = 4;
SELECT e.customer_id, e.status, e.exit_reason, e.converted_at IS NOT NULL AS converted
  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id AND j.name = 'fan-club'
 ORDER BY e.customer_id;

-- On a published journey it edits the next draft; version 1 keeps its rules.
SELECT journey.remove_exit_rule('fan-club', 1);
SELECT * FROM fan_rules;
SELECT journey.archive('fan-club');
SELECT try($$SELECT journey.remove_exit_rule('fan-club', 1)$$);

SELECT journey.drop_journey('fan-club');
DROP VIEW fan_rules;
SELECT journey.unregister_audience('proof_fans');
DROP TABLE proof_fans;
