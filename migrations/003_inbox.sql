-- The shared inbox's second half: canned replies, media, presence,
-- automatic replies, and indexes for the inbox views.

CREATE TABLE canned_replies (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    department_id bigint NOT NULL REFERENCES departments(id) ON DELETE CASCADE,
    -- The shortcut typed after "/": lowercase letters, digits and dashes.
    name          text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,39}$'),
    body          text NOT NULL,
    created_by    bigint REFERENCES users(id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (department_id, name)
);

-- Attachments: inbound media fetched from Twilio, outbound media uploaded by
-- staff. Kept in the database so one backup holds everything.
CREATE TABLE media_files (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Random and unguessable: outbound files are served to Twilio by it.
    token        text NOT NULL UNIQUE,
    message_id   bigint REFERENCES messages(id) ON DELETE SET NULL,
    direction    text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    content_type text NOT NULL,
    filename     text NOT NULL DEFAULT '',
    size_bytes   integer NOT NULL,
    data         bytea NOT NULL,
    -- The Twilio URL an inbound file was fetched from.
    source_url   text NOT NULL DEFAULT '',
    -- Outbound only: Twilio may fetch the file without a session until then.
    public_until timestamptz,
    uploaded_by  bigint REFERENCES users(id),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX media_files_message_idx ON media_files (message_id);

-- Who has a conversation open or is typing in it, for collision warnings.
CREATE TABLE conversation_presence (
    conversation_id bigint NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id         bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    typing          boolean NOT NULL DEFAULT false,
    seen_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, user_id)
);

-- Replies Classline sends by itself (WhatsApp STOP/START/HELP answers).
ALTER TABLE messages ADD COLUMN automatic boolean NOT NULL DEFAULT false;

-- Inbox views: a department's conversations newest first whatever their
-- status, everything of one status, and the "waiting longest" order.
CREATE INDEX conversations_department_recent_idx ON conversations (department_id, last_message_at DESC, id DESC);
CREATE INDEX conversations_status_recent_idx ON conversations (status, last_message_at DESC, id DESC);
CREATE INDEX conversations_waiting_order_idx ON conversations (waiting_since, id) WHERE waiting_since IS NOT NULL;
CREATE INDEX conversations_snoozed_idx ON conversations (snoozed_until) WHERE status = 'snoozed';
