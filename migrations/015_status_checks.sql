-- Status callbacks Twilio could not deliver (the app was down, a proxy
-- failed) are never sent again. A message stuck short of a final status is
-- asked about at Twilio, at most twice; status_checks counts the asks.
ALTER TABLE messages ADD COLUMN status_checks smallint NOT NULL DEFAULT 0;
CREATE INDEX messages_unsettled_idx ON messages (status_updated_at)
    WHERE direction = 'outbound' AND twilio_sid IS NOT NULL
      AND status IN ('accepted', 'scheduled', 'queued', 'sending', 'sent');
