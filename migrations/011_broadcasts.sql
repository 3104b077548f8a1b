-- Broadcasts: the engine's tables. The 001 placeholders were never used, so
-- broadcast_recipients is rebuilt with the state machine the engine needs.

ALTER TABLE broadcasts DROP CONSTRAINT broadcasts_status_check;
ALTER TABLE broadcasts ADD CONSTRAINT broadcasts_status_check
    CHECK (status IN ('draft', 'pending_approval', 'rejected', 'scheduled', 'preparing',
                      'running', 'paused', 'completed', 'canceled'));
ALTER TABLE broadcasts
    ADD COLUMN wizard_step   integer NOT NULL DEFAULT 1,
    -- Why the engine stopped by itself (auto-pause), or the admin's note.
    ADD COLUMN paused_reason text NOT NULL DEFAULT '',
    -- Waiting for quiet hours to end: when it may go on.
    ADD COLUMN held_until    timestamptz,
    ADD COLUMN approved_at   timestamptz,
    ADD COLUMN canceled_by   bigint REFERENCES users(id);
CREATE INDEX broadcasts_status_idx ON broadcasts (status, created_at DESC, id DESC);

DROP TABLE broadcast_recipients;
CREATE TABLE broadcast_recipients (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    broadcast_id bigint NOT NULL REFERENCES broadcasts(id) ON DELETE CASCADE,
    contact_id   bigint REFERENCES contacts(id),
    phone        text NOT NULL,
    channel      text NOT NULL CHECK (channel IN ('whatsapp', 'sms')),
    -- An SMS sent because the WhatsApp one (that row) failed or was not
    -- delivered in time; counted apart.
    fallback_of  bigint REFERENCES broadcast_recipients(id),
    -- pending → sending → submitted (a Twilio SID; delivery status then lives
    -- on the message, updated by the status callbacks) | failed | skipped | canceled.
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'sending', 'submitted', 'failed', 'skipped', 'canceled')),
    skip_reason  text NOT NULL DEFAULT '',
    sender_id    bigint REFERENCES senders(id),
    message_id   bigint REFERENCES messages(id),
    message_sid  text UNIQUE,
    -- What goes out: rendered text (SMS, or a template as staff see it) and
    -- the template's variables.
    body         text NOT NULL DEFAULT '',
    template_id  bigint REFERENCES templates(id), -- the language variant chosen
    variables    jsonb,
    segments     integer NOT NULL DEFAULT 0,
    attempts     integer NOT NULL DEFAULT 0,
    -- A send in flight since then; older than the lease means its worker died.
    sending_since timestamptz,
    next_attempt_at timestamptz,
    error_code   integer,
    error_message text NOT NULL DEFAULT '',
    submitted_at timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (state <> 'skipped' OR skip_reason <> '')
);
-- Nobody is sent the same broadcast twice on a channel, whatever the audience
-- says; skipped duplicates are kept as rows to show why.
CREATE UNIQUE INDEX broadcast_recipients_once ON broadcast_recipients (broadcast_id, phone, channel)
    WHERE state <> 'skipped';
CREATE INDEX broadcast_recipients_state_idx ON broadcast_recipients (broadcast_id, state, id);
CREATE INDEX broadcast_recipients_message_idx ON broadcast_recipients (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX broadcast_recipients_contact_idx ON broadcast_recipients (contact_id);
CREATE INDEX broadcast_recipients_fallback_idx ON broadcast_recipients (fallback_of) WHERE fallback_of IS NOT NULL;

-- Every call to Twilio for a recipient, and every reconciliation after a crash.
CREATE TABLE broadcast_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    broadcast_id bigint NOT NULL REFERENCES broadcasts(id) ON DELETE CASCADE,
    recipient_id bigint NOT NULL REFERENCES broadcast_recipients(id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('submitted', 'rate_limited', 'server_error', 'network_error',
                                                  'permanent_error', 'found_at_twilio', 'not_at_twilio')),
    http_status  integer,
    error_code   integer,
    error_message text NOT NULL DEFAULT '',
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT now(),
    instance     text NOT NULL DEFAULT ''
);
CREATE INDEX broadcast_attempts_broadcast_idx ON broadcast_attempts (broadcast_id, id DESC);
CREATE INDEX broadcast_attempts_recipient_idx ON broadcast_attempts (recipient_id);

-- Token buckets shared by every Classline process: one row per sender.
CREATE TABLE send_rate_buckets (
    sender_id   bigint PRIMARY KEY REFERENCES senders(id) ON DELETE CASCADE,
    tokens      double precision NOT NULL,
    refilled_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Live Classline processes, so the account-wide concurrency cap is shared out.
CREATE TABLE engine_instances (
    id         text PRIMARY KEY,
    seen_at    timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz NOT NULL DEFAULT now()
);

-- Replies after a broadcast are marked with it in the inbox.
ALTER TABLE conversations ADD COLUMN last_broadcast_id bigint REFERENCES broadcasts(id);
