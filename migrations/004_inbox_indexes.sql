-- The media sweep looks for recent inbound messages with attachments still
-- to fetch, every minute: keep that to the few rows that can qualify.
CREATE INDEX messages_inbound_media_idx ON messages (created_at)
    WHERE direction = 'inbound' AND media <> '[]'::jsonb;

-- Counting every inbox view (one grouped pass per page view) reads only
-- this index, not the conversations themselves.
CREATE INDEX conversations_counts_idx ON conversations (status, department_id) INCLUDE (assignee_id, last_inbound_at);
