-- What Classline sends PostgreSQL for one status callback
-- (messaging.ApplyStatus), statement for statement: per-SID advisory lock,
-- lock the message, keep the callback as an event (a payload of the same
-- size), move the status, NOTIFY, commit. Seven round trips. The gap between
-- this and pgbench_upsert.sql is the cost of the design; the gap between
-- this and the app is HTTP, signature checking, Go and the pool.
\set i random(0, :targets - 1)
BEGIN;
SELECT pg_advisory_xact_lock(hashtextextended('SMbench' || lpad(:i::text, 27, '0'), 0));
SELECT m.id AS mid, coalesce(m.conversation_id, 0) AS cid, coalesce(c.department_id, 0) AS did, m.status AS st
  FROM messages m LEFT JOIN conversations c ON c.id = m.conversation_id
  WHERE m.twilio_sid = 'SMbench' || lpad(:i::text, 27, '0') FOR UPDATE OF m \gset
INSERT INTO message_events (message_sid, status, error_code, payload, applied, pending)
  VALUES ('SMbench' || lpad(:i::text, 27, '0'), 'delivered', nullif(0, 0),
  '{"AccountSid":"AC00000000000000000000000000000000","ApiVersion":"2010-04-01","From":"+14155550198","MessageSid":"SMbench000000000000000000000000000","MessageStatus":"delivered","RawDlrDoneDate":"2611241200","SmsMessageSid":"SMbench000000000000000000000000000","SmsSid":"SMbench000000000000000000000000000","SmsStatus":"delivered","To":"+14158000000"}',
  true, false);
UPDATE messages SET status = 'delivered', error_code = coalesce(nullif(0, 0), error_code),
  error_message = CASE WHEN '' <> '' THEN '' ELSE error_message END, status_updated_at = now() WHERE id = :mid;
SELECT pg_notify('classline_events', '{"id":"0123456789abcdef01234567","type":"message.status","conversation_id":' || :cid || ',"message_id":' || :mid || ',"department_id":' || :did || '}');
END;
