-- A contact may have several numbers. The main one stays in contacts.phone
-- (unique among unmerged contacts, so every existing lookup keeps working);
-- the others are rows here. Secondary numbers are not unique: the same
-- number on two contacts is what the "Possible duplicates" page lists.
CREATE TABLE contact_phones (
    contact_id       bigint NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    phone            text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{1,14}$'),   -- E.164
    label            text NOT NULL DEFAULT 'mobile' CHECK (label IN ('mobile', 'home', 'work', 'other')),
    whatsapp_capable boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (contact_id, phone)
);
-- Inbound resolution and duplicate detection look numbers up here.
CREATE INDEX contact_phones_phone_idx ON contact_phones (phone);
-- The contacts search matches part of a number ("0104242").
CREATE INDEX contact_phones_phone_trgm ON contact_phones USING gin (phone gin_trgm_ops);

-- The main number's label; its WhatsApp flag is contacts.whatsapp_capable.
ALTER TABLE contacts ADD COLUMN phone_label text NOT NULL DEFAULT 'mobile'
    CHECK (phone_label IN ('mobile', 'home', 'work', 'other'));

-- The number a conversation talks to; NULL is the contact's main number.
-- A parent writing from a second phone keeps being answered on that phone,
-- and conversations moved by a merge keep the number they used.
ALTER TABLE conversations ADD COLUMN phone text;
ALTER TABLE conversations DROP CONSTRAINT conversations_contact_id_sender_id_key;
CREATE UNIQUE INDEX conversations_contact_sender_phone_key
    ON conversations (contact_id, sender_id, (coalesce(phone, '')));
-- ConversationFor by a secondary number.
CREATE INDEX conversations_phone_sender_idx ON conversations (phone, sender_id) WHERE phone IS NOT NULL;
