-- Files attached to a broadcast (pictures, PDFs sent with its SMS text as
-- MMS). A broadcast's file is sent to every recipient, possibly days after
-- it was uploaded (a schedule, an approval queue), and never belongs to a
-- single message, so message_id stays empty. This column says which
-- broadcast holds it: the pruning of abandoned uploads spares such files,
-- the composer cannot attach them to one message, and the download route
-- decides access by the broadcast's department. A column with a foreign key
-- rather than a search of broadcasts.content: it is indexed, it cannot point
-- at a broadcast that no longer exists (deleting one lets its files be
-- pruned), and claiming a file is a single conditional UPDATE that two
-- drafts (or a draft and the composer) cannot both win.
ALTER TABLE media_files ADD COLUMN broadcast_id bigint REFERENCES broadcasts(id) ON DELETE SET NULL;
CREATE INDEX media_files_broadcast_idx ON media_files (broadcast_id) WHERE broadcast_id IS NOT NULL;

-- Broadcasts saved before this migration name their files only in their
-- content; claim those files for them.
UPDATE media_files f SET broadcast_id = b.id
FROM broadcasts b
WHERE f.message_id IS NULL AND f.direction = 'outbound'
  AND jsonb_typeof(b.content -> 'media_file_ids') = 'array'
  AND b.content -> 'media_file_ids' @> to_jsonb(f.id);
