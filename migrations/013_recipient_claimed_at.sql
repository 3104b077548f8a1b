-- When the current send of a recipient began. sending_since is a lease that
-- a rescuer renews while it asks Twilio what became of a send; claimed_at
-- stays put, so every later check at Twilio looks back far enough to find a
-- message created by the original call.
ALTER TABLE broadcast_recipients ADD COLUMN claimed_at timestamptz;
UPDATE broadcast_recipients SET claimed_at = sending_since WHERE state = 'sending';
