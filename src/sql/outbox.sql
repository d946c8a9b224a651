-- The outbox: withdrawing messages on exit, claiming and completing them.

-- No message leaves for a customer who has left the journey (an exit rule, a
-- goal, unsubscribing, a manual exit, an archive): their pending messages are
-- withdrawn in the transaction of the exit. (Pinned to the customer: on a Citus
-- install this fires on the enrollments' shard and may write only its
-- customer's shard of journey.messages, docs/scale-out.md.)
CREATE OR REPLACE FUNCTION journey._withdraw_messages() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, journey, pg_temp AS $$
BEGIN
  UPDATE journey.messages m SET status = 'suppressed', reason = 'exited', completed_at = now()
   WHERE m.customer_id = NEW.customer_id AND m.enrollment_id = NEW.id AND m.status = 'pending';
  RETURN NULL;
END
$$;
-- By journey._alter: on a Citus install the trigger is on the shards too
-- (prelude.sql).
SELECT journey._alter('journey.enrollments', $ddl$
CREATE OR REPLACE TRIGGER enrollments_withdraw_messages
  AFTER UPDATE OF status ON journey.enrollments
  FOR EACH ROW WHEN (OLD.status = 'active' AND NEW.status = 'exited')
  EXECUTE FUNCTION journey._withdraw_messages()$ddl$);

-- Hands out up to max pending messages of a channel whose time has come; a
-- claimed message is never handed out again (SKIP LOCKED against concurrent
-- claimers). A message whose customer has been suppressed since it was created
-- (journey.suppressions) is recorded as suppressed instead, never handed out.
CREATE OR REPLACE FUNCTION journey.claim_messages(channel text, max int DEFAULT 100)
RETURNS SETOF journey.messages
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  want int := claim_messages.max;
  ids bigint[];
  customers text[];
  aids bigint[];
  jids bigint[];
  vers int[];
  whys text[];
  got bigint;
BEGIN
  IF claim_messages.channel IS NULL THEN
    RAISE EXCEPTION 'channel must not be null' USING ERRCODE = '22004',
      HINT = 'name the channel to claim messages of, such as ''email''';
  END IF;
  IF claim_messages.max IS NULL OR claim_messages.max < 1 THEN
    RAISE EXCEPTION 'max must be a positive number of messages' USING ERRCODE = '22023';
  END IF;
  PERFORM journey._check_channel(claim_messages.channel, 'claim_messages');
  IF journey._citus_distributed() THEN  -- a Citus install (docs/scale-out.md)
    RETURN QUERY SELECT * FROM journey._claim_messages_distributed(claim_messages.channel,
                                                                  claim_messages.max);
    RETURN;
  END IF;
  LOOP
    SELECT array_agg(c.id), array_agg(c.customer_id), array_agg(c.audience_id),
           array_agg(c.journey_id), array_agg(c.version)
      INTO ids, customers, aids, jids, vers
      FROM (SELECT p.id, p.customer_id, a.id AS audience_id, p.journey_id, p.version
              FROM journey.messages p
              JOIN journey.journeys j ON j.id = p.journey_id
              LEFT JOIN journey.audiences a ON a.relation = j.audience
             WHERE p.status = 'pending' AND p.channel = claim_messages.channel
               AND p.send_after <= now()
               -- nothing leaves for a paused or archived journey
               AND j.state = 'published'
             ORDER BY p.send_after, p.id
             LIMIT want
             FOR UPDATE OF p SKIP LOCKED) c;
    EXIT WHEN ids IS NULL;
    -- Which suppression stops each message: decided in core for the whole batch.
    whys := journey._claim_stops(customers, aids, jids, vers, claim_messages.channel);
    UPDATE journey.messages m
       SET status = 'suppressed', reason = 'suppression: ' || s.why, completed_at = now()
      FROM unnest(ids, whys) s(id, why)
     WHERE m.id = s.id AND s.why IS NOT NULL;
    RETURN QUERY
    UPDATE journey.messages m
       SET status = 'claimed', claimed_at = now(), attempts = m.attempts + 1
      FROM unnest(ids, whys) s(id, why)
     WHERE m.id = s.id AND s.why IS NULL
    RETURNING m.*;
    GET DIAGNOSTICS got = ROW_COUNT;
    -- Done when max are claimed, or when no more were pending; else the
    -- suppressed ones leave room for more.
    EXIT WHEN got = want OR cardinality(ids) < want;
    want := want - got::int;
  END LOOP;
END
$$;

-- Reports the delivery of a claimed message: sent (ok) or failed with an error.
CREATE OR REPLACE FUNCTION journey.complete_message(id bigint, ok boolean, error text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  current_status text;
  customer text;
  done journey.messages;
BEGIN
  -- Called per row of a query on a Citus shard (journey._citus_refuse_per_row).
  IF journey._citus_shard_query_call() THEN
    PERFORM journey._citus_refuse_per_row('journey.complete_message',
      'read the message ids first, then complete them from the ids as values: '
      'SELECT journey.complete_message(i, true) FROM unnest(''{42,43}''::bigint[]) i');
  END IF;
  IF complete_message.id IS NULL THEN
    RAISE EXCEPTION 'id must not be null' USING ERRCODE = '22004';
  END IF;
  IF complete_message.ok IS NULL THEN
    RAISE EXCEPTION 'ok must be true or false' USING ERRCODE = '22004';
  END IF;
  -- (Without Citus, to_regclass alone: the hot path of a sender skips the
  -- 20 us of journey._citus_distributed().)
  IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL AND journey._citus_distributed() THEN
    -- On a Citus install the write names the message's customer (the
    -- distribution column: a router query, on the customer's placement), after
    -- a wait for a move of the customer's shard group in a statement of its own:
    -- an UPDATE that waits for the move itself, on the move's target node,
    -- matches no row (docs/citus-notes.md, section 14).
    SELECT m.customer_id INTO customer FROM journey.messages m WHERE m.id = complete_message.id;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'message % does not exist', complete_message.id USING ERRCODE = '42704';
    END IF;
    PERFORM journey._citus_hold_moves(ARRAY[customer]);
    UPDATE journey.messages m
       SET status = CASE WHEN complete_message.ok THEN 'sent' ELSE 'failed' END,
           completed_at = now(), error = complete_message.error
     WHERE m.customer_id = customer AND m.id = complete_message.id AND m.status = 'claimed'
    RETURNING m.* INTO done;
    IF NOT FOUND THEN
      SELECT m.status INTO current_status FROM journey.messages m
       WHERE m.customer_id = customer AND m.id = complete_message.id;
    END IF;
  ELSE
    UPDATE journey.messages m
       SET status = CASE WHEN complete_message.ok THEN 'sent' ELSE 'failed' END,
           completed_at = now(), error = complete_message.error
     WHERE m.id = complete_message.id AND m.status = 'claimed'
    RETURNING m.* INTO done;
    IF NOT FOUND THEN
      SELECT m.status INTO current_status FROM journey.messages m WHERE m.id = complete_message.id;
    END IF;
  END IF;
  IF done.id IS NULL THEN
    IF current_status IS NULL THEN
      RAISE EXCEPTION 'message % does not exist', complete_message.id USING ERRCODE = '42704';
    END IF;
    RAISE EXCEPTION 'message % is %, not claimed', complete_message.id, current_status
      USING ERRCODE = '55000', HINT = 'claim it with journey.claim_messages() first';
  END IF;
  -- A failed delivery reaches the journey as the message event "failed".
  IF NOT complete_message.ok THEN
    PERFORM journey._message_event(done, 'failed',
                                   jsonb_strip_nulls(jsonb_build_object('error', complete_message.error)),
                                   now());
  END IF;
END
$$;

-- Puts messages claimed longer ago than older_than back to pending (a sender
-- that died after claiming). Those of an enrollment that
-- exited or of an archived journey are withdrawn instead (never handed out
-- again). Returns how many it requeued or withdrew.
CREATE OR REPLACE FUNCTION journey.requeue_claimed(older_than interval DEFAULT '15 minutes') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, journey, pg_temp AS $$
DECLARE
  n bigint;
  -- now() as a value: Citus refuses a non-IMMUTABLE function in CASE in an
  -- UPDATE of a distributed table.
  t_now timestamptz := now();
BEGIN
  IF requeue_claimed.older_than IS NULL THEN
    RAISE EXCEPTION 'older_than must not be null' USING ERRCODE = '22004',
      HINT = 'claims older than it are requeued: pass an interval such as ''15 minutes''';
  END IF;
  BEGIN
    PERFORM t_now - requeue_claimed.older_than;
  EXCEPTION WHEN datetime_field_overflow THEN
    RAISE EXCEPTION 'older_than of requeue_claimed reaches beyond the valid time range, got %',
      requeue_claimed.older_than USING ERRCODE = '22023', HINT = 'claims older than it are requeued: pass an interval such as ''15 minutes''';
  END;
  -- On a Citus install, a shard move waited for first (journey._citus_hold_moves:
  -- called on a move's target node, the UPDATE below could miss the moved rows).
  PERFORM journey._citus_hold_moves(NULL);
  -- Back to pending, unless their enrollment exited or their journey was archived
  -- meanwhile: those are withdrawn as exit and archive withdraw pending ones.
  UPDATE journey.messages m
     SET status = CASE WHEN j.state = 'archived' OR e.status = 'exited' THEN 'suppressed'
                       ELSE 'pending' END,
         reason = CASE WHEN j.state = 'archived' THEN 'archived'
                       WHEN e.status = 'exited' THEN 'exited' ELSE m.reason END,
         completed_at = CASE WHEN j.state = 'archived' OR e.status = 'exited' THEN t_now END,
         claimed_at = NULL
    FROM journey.journeys j, journey.enrollments e
   WHERE m.status = 'claimed' AND m.claimed_at < t_now - requeue_claimed.older_than
     AND j.id = m.journey_id AND e.customer_id = m.customer_id AND e.id = m.enrollment_id;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
