-- The outbox: withdrawing messages on exit, claiming and completing them.

-- No message leaves for a customer who has left the journey (an exit rule, a
-- goal, unsubscribing, a manual exit, an archive): their pending messages are
-- withdrawn in the transaction of the exit.
CREATE OR REPLACE FUNCTION journey._withdraw_messages() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  UPDATE journey.messages m SET status = 'suppressed', reason = 'exited', completed_at = now()
   WHERE m.enrollment_id = NEW.id AND m.status = 'pending';
  RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER enrollments_withdraw_messages
  AFTER UPDATE OF status ON journey.enrollments
  FOR EACH ROW WHEN (OLD.status = 'active' AND NEW.status = 'exited')
  EXECUTE FUNCTION journey._withdraw_messages();

-- Hands out up to max pending messages of a channel whose time has come; a
-- claimed message is never handed out again (SKIP LOCKED against concurrent
-- claimers).
CREATE OR REPLACE FUNCTION journey.claim_messages(channel text, max int DEFAULT 100)
RETURNS SETOF journey.messages
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  IF claim_messages.max IS NULL OR claim_messages.max < 1 THEN
    RAISE EXCEPTION 'max must be a positive number of messages' USING ERRCODE = '22023';
  END IF;
  RETURN QUERY
  UPDATE journey.messages m
     SET status = 'claimed', claimed_at = now(), attempts = m.attempts + 1
    FROM (SELECT p.id FROM journey.messages p
           WHERE p.status = 'pending' AND p.channel = claim_messages.channel
             AND p.send_after <= now()
             -- nothing leaves for a paused or archived journey
             AND EXISTS (SELECT 1 FROM journey.journeys j
                          WHERE j.id = p.journey_id AND j.state = 'published')
           ORDER BY p.send_after, p.id
           LIMIT claim_messages.max
           FOR UPDATE SKIP LOCKED) c
   WHERE m.id = c.id
  RETURNING m.*;
END
$$;

-- Reports the delivery of a claimed message: sent (ok) or failed with an error.
CREATE OR REPLACE FUNCTION journey.complete_message(id bigint, ok boolean, error text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  current_status text;
BEGIN
  IF complete_message.ok IS NULL THEN
    RAISE EXCEPTION 'ok must be true or false' USING ERRCODE = '22004';
  END IF;
  UPDATE journey.messages m
     SET status = CASE WHEN complete_message.ok THEN 'sent' ELSE 'failed' END,
         completed_at = now(), error = complete_message.error
   WHERE m.id = complete_message.id AND m.status = 'claimed';
  IF NOT FOUND THEN
    SELECT m.status INTO current_status FROM journey.messages m WHERE m.id = complete_message.id;
    IF current_status IS NULL THEN
      RAISE EXCEPTION 'message % does not exist', complete_message.id USING ERRCODE = '42704';
    END IF;
    RAISE EXCEPTION 'message % is %, not claimed', complete_message.id, current_status
      USING ERRCODE = '55000', HINT = 'claim it with journey.claim_messages() first';
  END IF;
END
$$;

-- Puts messages claimed longer ago than older_than back to pending (a sender
-- that died after claiming); returns how many.
CREATE OR REPLACE FUNCTION journey.requeue_claimed(older_than interval DEFAULT '15 minutes') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  UPDATE journey.messages m SET status = 'pending', claimed_at = NULL
   WHERE m.status = 'claimed' AND m.claimed_at < now() - requeue_claimed.older_than;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
