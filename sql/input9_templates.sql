-- F4 (attack-9): a merge tag without a default that names a column the
-- audience does not have ({{frist_name}}) is a validation error naming the
-- template (or payload), the tag and the audience, at the step that sends it;
-- publish refuses it. Context and event tags, and tags with a default, keep
-- rendering as documented. A published version is checked with the templates
-- it froze: replacing a template reaches it only through the next publish.
\set SHOW_CONTEXT never
CREATE TABLE i9_tmpl (id int PRIMARY KEY, email text, first_name text);
INSERT INTO i9_tmpl VALUES (1, 'ann@example.com', 'Ann'), (2, 'bob@example.com', 'Bob');
SELECT journey.register_audience('i9_tmpl', 'id', 'email');
SELECT journey.create_template('i9_typo', 'email', 'Hi {{frist_name}}',
  'x {{event.zzz}} {{context.c}} {{ nosuch | upcase }} {{nosuch}} {{first_name}}');
SELECT journey.create_template('i9_ok', 'email', 'Hi {{first_name}}',
  '{{nick | default: "friend"}}/{{event.cart_id}}/{{context.coupon}}/{{first_name | upcase}}');

-- The typo: one error per missing column, at the step; publish refuses it.
SELECT journey.import('{"name": "i9_typo_j", "audience": "i9_tmpl", "start": "m",
  "steps": [{"key": "m", "type": "send_email", "template": "i9_typo"}]}') IS NOT NULL AS imported;
SELECT * FROM journey.validate('i9_typo_j') ORDER BY 1, 2, 3;
SELECT try($$SELECT journey.publish('i9_typo_j')$$);
SELECT state FROM journey.journeys WHERE name = 'i9_typo_j';

-- A send payload's tags: the same rule.
SELECT journey.import('{"name": "i9_payload_j", "audience": "i9_tmpl", "start": "p",
  "steps": [{"key": "p", "type": "send", "channel": "push",
             "payload": {"title": "{{frist_name}}", "n": "{{nick | default: ''x''}}",
                         "deep": ["{{event.a}} {{context.b}} {{first_name}}"]}}]}') IS NOT NULL AS imported;
SELECT * FROM journey.validate('i9_payload_j') ORDER BY 1, 2, 3;
SELECT try($$SELECT journey.publish('i9_payload_j')$$);

-- Defaults, context and event tags: valid, published, rendered.
SELECT journey.import('{"name": "i9_ok_j", "audience": "i9_tmpl", "start": "m",
  "steps": [{"key": "m", "type": "send_email", "template": "i9_ok"}]}') IS NOT NULL AS imported;
SELECT count(*) AS issues FROM journey.validate('i9_ok_j');
SELECT journey.publish('i9_ok_j') AS published;
SELECT journey.enroll('i9_ok_j', '1', '{"coupon": "C1"}') IS NOT NULL AS enrolled;
SELECT journey.run_due(100, now()) AS ran;
SELECT m.customer_id, m.payload->>'subject' AS subject, m.payload->>'body' AS body
  FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
 WHERE j.name = 'i9_ok_j' ORDER BY m.id;

-- The template replaced with a typo after the publish: the published version
-- keeps its frozen text, so validate (of that version), preview and the
-- builder's view of it show no issue and it keeps rendering the old text.
SELECT journey.create_template('i9_ok', 'email', 'Hi {{frist_name}}', 'b', replace => true);
SELECT count(*) AS issues FROM journey.validate('i9_ok_j');
SELECT count(*) AS issues FROM journey._validate_version(journey.export('i9_ok_j', 1), NULL,
  (SELECT v.templates FROM journey.versions v JOIN journey.journeys j ON j.id = v.journey_id
    WHERE j.name = 'i9_ok_j' AND v.version = 1));
SELECT payload->>'subject' AS subject FROM journey.preview('i9_ok_j', 'm', '2');
SELECT journey.enroll('i9_ok_j', '2') IS NOT NULL AS enrolled;
SELECT journey.run_due(100, now()) AS ran;
SELECT m.customer_id, m.payload->>'subject' AS subject
  FROM journey.messages m JOIN journey.journeys j ON j.id = m.journey_id
 WHERE j.name = 'i9_ok_j' ORDER BY m.id;
-- A draft validates against journey.templates: an edit reports what it brings,
-- validate and publish refuse it, and previewing the draft says why.
SELECT * FROM journey.set_step_config('i9_ok_j', 'm', '{"template": "i9_typo"}');
SELECT * FROM journey.validate('i9_ok_j') ORDER BY 1, 2, 3;
SELECT try($$SELECT journey.publish('i9_ok_j')$$);
SELECT try($$SELECT * FROM journey.preview('i9_ok_j', 'm', '2', version => 2)$$);

SELECT journey.archive(name) FROM journey.journeys WHERE name LIKE 'i9\_%' ORDER BY name;
