-- Staff search by the name WhatsApp shows as often as by the name we store.
CREATE INDEX contacts_profile_name_trgm ON contacts USING gin (profile_name gin_trgm_ops);
