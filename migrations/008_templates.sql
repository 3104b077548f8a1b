-- Message templates (Twilio Content API) as Classline manages them.
-- logical_name groups language variants; approval_name is the name WhatsApp
-- reviewed (the same as logical_name for templates made here).
ALTER TABLE templates
    ADD COLUMN approval_name text NOT NULL DEFAULT '',
    ADD COLUMN created_by bigint REFERENCES users(id),
    ADD COLUMN submitted_at timestamptz,
    ADD COLUMN deleted_at timestamptz,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX templates_logical_idx ON templates (logical_name, language) WHERE deleted_at IS NULL;
-- Values a template message was sent with, to show and to resend.
ALTER TABLE messages ADD COLUMN content_variables jsonb;
