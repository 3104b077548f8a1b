-- Why the sender picker chose a message's sender ("sticky: last used with
-- this contact 3 days ago"), shown before sending and kept with the message.
ALTER TABLE messages ADD COLUMN sender_reason text NOT NULL DEFAULT '';
