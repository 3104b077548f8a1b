-- The media sweep looks for recent inbound messages with attachments still
-- to fetch, every minute: keep that to the few rows that can qualify.
CREATE INDEX messages_inbound_media_idx ON messages (created_at)
    WHERE direction = 'inbound' AND media <> '[]'::jsonb;
