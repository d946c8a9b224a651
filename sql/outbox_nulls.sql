-- Null arguments of the outbox functions (attack-13d F10): each is refused
-- with 22004 naming the argument, not answered with nothing (claim_messages)
-- or "message <NULL> does not exist" (complete_message, message_event).
\set SHOW_CONTEXT never
SELECT public.try($$SELECT * FROM journey.claim_messages(NULL, 10)$$) AS claim_null_channel;
SELECT public.try($$SELECT * FROM journey.claim_messages(NULL)$$) AS claim_null_channel_default_max;
SELECT public.try($$SELECT journey.complete_message(NULL, true)$$) AS complete_null_id;
SELECT public.try($$SELECT journey.complete_message(NULL, false, 'boom')$$) AS complete_null_id_failed;
SELECT public.try($$SELECT journey.complete_message(1, NULL)$$) AS complete_null_ok;
SELECT public.try($$SELECT journey.requeue_claimed(NULL)$$) AS requeue_null;
SELECT public.try($$SELECT journey.message_event(NULL, 'opened')$$) AS event_null_id;
SELECT public.try($$SELECT journey.message_event(NULL, 'opened', '{}', now())$$) AS event_null_id_at;
-- Non-null arguments keep their answers.
SELECT public.try($$SELECT journey.complete_message(-42, true)$$) AS complete_missing;
SELECT public.try($$SELECT journey.message_event(-42, 'opened')$$) AS event_missing;
SELECT count(*) AS claimed_none FROM journey.claim_messages('no-such-channel', 10);
