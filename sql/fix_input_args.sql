-- Arguments the fuzz reached raw PostgreSQL errors with (attack-9 "Raw
-- PostgreSQL errors"): each is now a clear SQLSTATE and message naming the
-- argument. And F19: to_mermaid writes <, >, & and " of user text as Mermaid
-- entity codes, never as markup.
\set SHOW_CONTEXT never
SELECT try($$SELECT journey.run_due(10, as_of => 'infinity')$$);
SELECT try($$SELECT journey.run_due(10, as_of => '-infinity')$$);
SELECT try($$SELECT journey.requeue_claimed('178000000 years')$$);
SELECT try($$SELECT journey.requeue_claimed('-178000000 years')$$);
SELECT journey.requeue_claimed('15 minutes') AS requeued;

CREATE TABLE fi_args (id int PRIMARY KEY, email text);
INSERT INTO fi_args VALUES (1, 'one@example.com');
SELECT journey.register_audience('fi_args', 'id', 'email');
SELECT journey.import($j${"name": "fi_xss", "audience": "fi_args", "start": "a",
  "entry": [{"type": "event", "event": "a<b>&\"c\""}],
  "exit": [{"type": "event", "event": "<i>stop</i>", "name": "s<t>op"}],
  "steps": [{"key": "a", "type": "wait_for_event", "event": "<img src=x onerror=alert(1)>",
             "timeout": "1 day", "branches": {"event": "b", "timeout": "b"}},
            {"key": "b", "type": "exit"}]}$j$) IS NOT NULL AS imported;
SELECT journey.publish('fi_xss') IS NOT NULL AS published;
SELECT journey.to_mermaid('fi_xss');
SELECT replace(replace(journey.to_mermaid('fi_xss'), '<br/>', ''), '-->', '') ~ '[<>&]' AS raw_markup_left;

SELECT try($$SELECT journey.enroll_query('fi_xss', NULL)$$);
SELECT try($$SELECT journey.enroll_query('fi_xss', '')$$);
SELECT try($$SELECT journey.enroll_query('fi_xss', E'  \n')$$);
SELECT journey.enroll_query('fi_xss', 'SELECT 1') AS enrolled;

SELECT journey.archive('fi_xss');
SELECT journey.drop_journey('fi_xss');
SELECT journey.unregister_audience('fi_args');
DROP TABLE fi_args;
