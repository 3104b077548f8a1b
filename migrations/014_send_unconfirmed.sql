-- A message whose create call got no clear answer (a timeout, a reset, a
-- 5xx): when that was noticed. Twilio is asked about it once the call could
-- no longer be creating it; until then it shows as "checking with Twilio".
ALTER TABLE messages ADD COLUMN send_unconfirmed_at timestamptz;
-- Outbound messages still waiting for a SID are few at any moment; the
-- reconciler finds them without scanning the table.
CREATE INDEX messages_unsent_idx ON messages (created_at)
    WHERE twilio_sid IS NULL AND status = 'queued' AND direction = 'outbound';
