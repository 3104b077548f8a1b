-- The "equivalent single-row upsert" of one status callback, for pgbench
-- (internal/bench/pgbench.go runs it with 50 clients against the database the
-- app just used): one statement, one round trip, one commit, recording a
-- delivery status on the message's row by its Twilio SID. Every SID exists,
-- so it is always the UPDATE arm, on the real messages table with its real
-- indexes. It is the floor of what a callback must write durably before
-- answering 200; it keeps neither the callback itself nor tells anyone.
\set i random(0, :targets - 1)
INSERT INTO messages (direction, channel, from_address, to_address, twilio_sid, status)
VALUES ('outbound', 'sms', '+14155550198', '+14158000000', 'SMbench' || lpad(:i::text, 27, '0'), 'delivered')
ON CONFLICT (twilio_sid) DO UPDATE SET status = EXCLUDED.status, status_updated_at = now();
