-- A department's default sender per channel: what the "department" picker
-- strategy uses while it can send. At most one per department and channel.
ALTER TABLE senders ADD COLUMN department_default boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX senders_department_default_key ON senders (department_id, channel)
    WHERE department_default AND archived_at IS NULL;
