-- The out-of-hours reply goes out at most once per conversation and closed
-- period. A row here claims that reply before it is sent: the primary key
-- makes two messages arriving at the same moment produce exactly one reply,
-- whichever instance takes them.
CREATE TABLE out_of_hours_replies (
    conversation_id bigint NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    -- When the closed period ends (the department's next opening), or
    -- 'infinity' for a department that never opens: a later closed period
    -- ends at a later opening and so may get its own reply.
    period_ends     timestamptz NOT NULL,
    message_id      bigint REFERENCES messages(id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, period_ends)
);
