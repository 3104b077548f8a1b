-- The whole product's schema, designed up front so later features extend it
-- rather than fight it. Times are timestamptz (UTC inside, school zone on screen).

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE departments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    slug        text NOT NULL UNIQUE,
    response_goal_minutes integer,
    business_hours jsonb NOT NULL DEFAULT '{}'::jsonb,
    out_of_hours_reply text NOT NULL DEFAULT '',
    archived_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text NOT NULL,
    name          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'staff')),
    password_hash text NOT NULL,
    -- Bumped on password change, deactivation and "sign out everywhere":
    -- sessions carry the epoch they were issued in and die when it moves.
    session_epoch integer NOT NULL DEFAULT 1,
    deactivated_at timestamptz,
    last_login_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE memberships (
    user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    department_id bigint NOT NULL REFERENCES departments(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, department_id)
);
CREATE INDEX memberships_department_idx ON memberships (department_id);

-- Server-side sessions: the cookie carries only this random id, so logout,
-- password change and deactivation end a session at once.
CREATE TABLE user_sessions (
    id          text PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token  text NOT NULL,
    ip          text NOT NULL DEFAULT '',
    user_agent  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id);

-- Failed sign-ins, by account and by address, for throttling.
CREATE TABLE login_attempts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email      text NOT NULL,
    ip         text NOT NULL,
    succeeded  boolean NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_email_idx ON login_attempts (lower(email), created_at DESC);
CREATE INDEX login_attempts_ip_idx ON login_attempts (ip, created_at DESC);

CREATE TABLE senders (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel       text NOT NULL CHECK (channel IN ('whatsapp', 'sms')),
    -- E.164 number, or empty for a Messaging Service sender.
    address       text NOT NULL DEFAULT '',
    messaging_service_sid text NOT NULL DEFAULT '',
    display_name  text NOT NULL DEFAULT '',
    department_id bigint REFERENCES departments(id),
    twilio_sender_sid text NOT NULL DEFAULT '',
    phone_number_sid  text NOT NULL DEFAULT '',
    status        text NOT NULL DEFAULT 'ONLINE',
    quality_rating text NOT NULL DEFAULT '',
    messaging_limit text NOT NULL DEFAULT '',
    offline_reasons jsonb NOT NULL DEFAULT '[]'::jsonb,
    profile       jsonb NOT NULL DEFAULT '{}'::jsonb,
    rate_per_second numeric,
    last_used_at  timestamptz,
    synced_at     timestamptz,
    archived_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (address <> '' OR messaging_service_sid <> '')
);
CREATE UNIQUE INDEX senders_channel_address_key ON senders (channel, address) WHERE address <> '';
CREATE INDEX senders_department_idx ON senders (department_id);

CREATE TABLE contacts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone       text NOT NULL,                       -- E.164
    name        text NOT NULL DEFAULT '',
    role        text NOT NULL DEFAULT 'guardian' CHECK (role IN ('guardian', 'student', 'staff')),
    whatsapp_capable boolean NOT NULL DEFAULT true,
    preferred_channel text CHECK (preferred_channel IN ('whatsapp', 'sms')),
    language    text NOT NULL DEFAULT '',
    custom_fields jsonb NOT NULL DEFAULT '{}'::jsonb,
    profile_name text NOT NULL DEFAULT '',           -- WhatsApp ProfileName, as last seen
    merged_into bigint REFERENCES contacts(id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX contacts_phone_key ON contacts (phone) WHERE merged_into IS NULL;
CREATE INDEX contacts_name_trgm ON contacts USING gin (name gin_trgm_ops);
CREATE INDEX contacts_phone_trgm ON contacts USING gin (phone gin_trgm_ops);

CREATE TABLE contact_links (
    guardian_id bigint NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    student_id  bigint NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    relation    text NOT NULL DEFAULT '',
    PRIMARY KEY (guardian_id, student_id)
);

CREATE TABLE groups (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL,
    kind       text NOT NULL DEFAULT 'static' CHECK (kind IN ('static', 'smart')),
    filter     jsonb NOT NULL DEFAULT '{}'::jsonb,
    department_id bigint REFERENCES departments(id),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE group_members (
    group_id   bigint NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    contact_id bigint NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, contact_id)
);
CREATE INDEX group_members_contact_idx ON group_members (contact_id);

-- One conversation per contact × sender; the department follows the sender.
CREATE TABLE conversations (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id    bigint NOT NULL REFERENCES contacts(id),
    sender_id     bigint NOT NULL REFERENCES senders(id),
    department_id bigint REFERENCES departments(id),
    channel       text NOT NULL CHECK (channel IN ('whatsapp', 'sms')),
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'snoozed', 'closed')),
    assignee_id   bigint REFERENCES users(id),
    snoozed_until timestamptz,
    last_message_at timestamptz NOT NULL DEFAULT now(),
    last_inbound_at timestamptz,
    -- Set when the contact writes and nobody has answered yet: "waiting longest".
    waiting_since timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (contact_id, sender_id)
);
CREATE INDEX conversations_inbox_idx ON conversations (department_id, status, last_message_at DESC, id DESC);
CREATE INDEX conversations_assignee_idx ON conversations (assignee_id, status, last_message_at DESC, id DESC);
CREATE INDEX conversations_recent_idx ON conversations (last_message_at DESC, id DESC);
CREATE INDEX conversations_waiting_idx ON conversations (waiting_since) WHERE waiting_since IS NOT NULL;

CREATE TABLE conversation_reads (
    conversation_id bigint NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id         bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    read_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, user_id)
);

CREATE TABLE templates (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    content_sid  text UNIQUE,                        -- HX...
    friendly_name text NOT NULL,
    language     text NOT NULL DEFAULT 'en',
    logical_name text NOT NULL DEFAULT '',           -- groups language variants
    types        jsonb NOT NULL DEFAULT '{}'::jsonb,
    variables    jsonb NOT NULL DEFAULT '{}'::jsonb, -- sample values
    variable_map jsonb NOT NULL DEFAULT '{}'::jsonb, -- "1" -> contact field
    category     text NOT NULL DEFAULT '',
    approval_status text NOT NULL DEFAULT 'unsubmitted',
    rejection_reason text NOT NULL DEFAULT '',
    synced_at    timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE broadcasts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL,
    status        text NOT NULL DEFAULT 'draft'
                  CHECK (status IN ('draft', 'pending_approval', 'approved', 'rejected', 'scheduled',
                                    'running', 'paused', 'completed', 'canceled', 'failed')),
    department_id bigint REFERENCES departments(id),
    created_by    bigint REFERENCES users(id),
    approved_by   bigint REFERENCES users(id),
    audience      jsonb NOT NULL DEFAULT '{}'::jsonb,
    content       jsonb NOT NULL DEFAULT '{}'::jsonb,
    sender_strategy jsonb NOT NULL DEFAULT '{}'::jsonb,
    purpose       text NOT NULL DEFAULT 'transactional' CHECK (purpose IN ('transactional', 'marketing')),
    urgent        boolean NOT NULL DEFAULT false,
    scheduled_at  timestamptz,
    started_at    timestamptz,
    finished_at   timestamptz,
    feedback      text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE broadcast_recipients (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    broadcast_id bigint NOT NULL REFERENCES broadcasts(id) ON DELETE CASCADE,
    contact_id   bigint REFERENCES contacts(id),
    phone        text NOT NULL,
    channel      text CHECK (channel IN ('whatsapp', 'sms')),
    sender_id    bigint REFERENCES senders(id),
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'sending', 'submitted', 'sent', 'delivered', 'read',
                                  'failed', 'undelivered', 'skipped')),
    skip_reason  text NOT NULL DEFAULT '',
    attempts     integer NOT NULL DEFAULT 0,
    message_sid  text UNIQUE,
    error_code   integer,
    error_message text NOT NULL DEFAULT '',
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (broadcast_id, phone)
);
CREATE INDEX broadcast_recipients_state_idx ON broadcast_recipients (broadcast_id, state, id);

CREATE TABLE messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id bigint REFERENCES conversations(id),
    direction       text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    channel         text NOT NULL CHECK (channel IN ('whatsapp', 'sms')),
    from_address    text NOT NULL,
    to_address      text NOT NULL,
    body            text NOT NULL DEFAULT '',
    media           jsonb NOT NULL DEFAULT '[]'::jsonb,
    -- NULL until Twilio answers the create call; unique so redeliveries dedupe.
    twilio_sid      text UNIQUE,
    status          text NOT NULL,
    error_code      integer,
    error_message   text NOT NULL DEFAULT '',
    segments        integer,
    sent_by         bigint REFERENCES users(id),
    broadcast_id    bigint REFERENCES broadcasts(id),
    template_id     bigint REFERENCES templates(id),
    is_note         boolean NOT NULL DEFAULT false,
    -- Webhook parameters we do not model (ButtonPayload, Referral*...), kept whole.
    extra           jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    status_updated_at timestamptz NOT NULL DEFAULT now(),
    search          tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED
);
CREATE INDEX messages_conversation_idx ON messages (conversation_id, created_at DESC, id DESC);
CREATE INDEX messages_search_idx ON messages USING gin (search);
-- Live streams catch up on what changed while they (re)connected.
CREATE INDEX messages_status_updated_idx ON messages (status_updated_at);
CREATE INDEX messages_broadcast_idx ON messages (broadcast_id) WHERE broadcast_id IS NOT NULL;

-- Every status callback, kept as it came, including ones for SIDs we do not know (yet).
CREATE TABLE message_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_sid text NOT NULL,
    status      text NOT NULL,
    error_code  integer,
    payload     jsonb NOT NULL DEFAULT '{}'::jsonb,
    applied     boolean NOT NULL,
    -- true while the SID is unknown: the callback beat the create call's answer,
    -- or the message was sent from outside Classline.
    pending     boolean NOT NULL DEFAULT false,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX message_events_sid_idx ON message_events (message_sid, received_at);
CREATE INDEX message_events_pending_idx ON message_events (message_sid) WHERE pending;

-- The consent ledger: append-only, newest row per (phone, purpose) wins.
CREATE TABLE consent_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone      text NOT NULL,
    channel    text CHECK (channel IN ('whatsapp', 'sms')),
    purpose    text NOT NULL CHECK (purpose IN ('transactional', 'marketing')),
    opted_in   boolean NOT NULL,
    method     text NOT NULL CHECK (method IN ('web_form', 'keyword', 'staff', 'import')),
    source     text NOT NULL DEFAULT '',
    recorded_by bigint REFERENCES users(id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_events_phone_idx ON consent_events (phone, purpose, created_at DESC, id DESC);

CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint REFERENCES users(id),
    action     text NOT NULL,
    subject    text NOT NULL DEFAULT '',
    before     jsonb,
    after      jsonb,
    ip         text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_created_idx ON audit_log (created_at DESC, id DESC);

CREATE TABLE settings (
    key        text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
