-- The journey state machine (draft, published, paused, archived): every legal
-- transition, every illegal one (SQLSTATE 55000 naming the current and allowed
-- states), and a refused publish that leaves everything as it was.
\set SHOW_CONTEXT never
SELECT journey.create_journey('lc', 'customers') > 0 AS created;

-- draft: cannot pause or resume; publishing an invalid draft is refused
SELECT try($$SELECT journey.pause('lc')$$);
SELECT try($$SELECT journey.resume('lc')$$);
SELECT try($$SELECT journey.publish('lc')$$);
SELECT journey.add_step('lc', 'hello', 'send_email', '{"template": "no-such-template"}');
SELECT journey.add_step('lc', 'orphan', 'goal');
SELECT try($$SELECT journey.publish('lc')$$);
SELECT state, published_version FROM journey.journeys WHERE name = 'lc';
SELECT version, status, definition IS NULL AS not_frozen FROM journey.versions v
  JOIN journey.journeys j ON j.id = v.journey_id WHERE j.name = 'lc';

-- fix it: warnings do not block a publish
SELECT journey.remove_step('lc', 'hello');
SELECT journey.add_step('lc', 'hello', 'send_email', '{"template": "welcome"}');
SELECT journey.set_start('lc', 'hello');
SELECT severity, step_key, message FROM journey.validate('lc');
SELECT journey.publish('lc') AS version;
SELECT state, published_version FROM journey.journeys WHERE name = 'lc';

-- published: nothing to publish without an edit; resume is not allowed
SELECT try($$SELECT journey.publish('lc')$$);
SELECT try($$SELECT journey.resume('lc')$$);

-- paused: pause again is not allowed; a new version may be published and the
-- journey stays paused until resumed
SELECT journey.pause('lc');
SELECT try($$SELECT journey.pause('lc')$$);
SELECT journey.connect('lc', 'hello', 'orphan');
SELECT journey.publish('lc') AS version;
SELECT state, published_version FROM journey.journeys WHERE name = 'lc';
SELECT journey.resume('lc');
SELECT state FROM journey.journeys WHERE name = 'lc';

-- archived is final
SELECT journey.archive('lc');
SELECT state, archived_at IS NOT NULL AS archived FROM journey.journeys WHERE name = 'lc';
SELECT try($$SELECT journey.archive('lc')$$);
SELECT try($$SELECT journey.publish('lc')$$);
SELECT try($$SELECT journey.pause('lc')$$);
SELECT try($$SELECT journey.resume('lc')$$);
SELECT try($$SELECT journey.add_step('lc', 'late', 'goal')$$);
SELECT try($$SELECT journey.set_settings('lc', '{}')$$);

-- a draft can be archived directly
SELECT journey.create_journey('lc2', 'customers') > 0 AS created;
SELECT journey.archive('lc2');
SELECT name, state FROM journey.journeys WHERE name LIKE 'lc%' ORDER BY name;
SELECT try($$SELECT journey.pause('missing')$$);
SELECT journey.drop_journey('lc');
SELECT journey.drop_journey('lc2');
