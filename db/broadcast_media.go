package db

import (
	"context"
	"fmt"
	"slices"
)

// A broadcast's attachments: media_files rows whose broadcast_id names it
// (migration 012). The broadcast's content lists them (media_file_ids) in the
// order they are sent; the column is what keeps them from pruning and from
// being taken by one message, and what the download route checks.

// BroadcastMediaCandidates returns, among ids, the files a draft broadcast may
// carry: outbound files not attached to a message that are either held by the
// broadcast already or uploads of userID held by no broadcast. Anything else
// (another person's upload, another broadcast's file, an inbound file, an id
// that does not exist) is left out, so ids guessed or copied from elsewhere
// attach nothing. The order is that of ids.
func (d *DB) BroadcastMediaCandidates(ctx context.Context, broadcastID, userID int64, ids []int64) ([]MediaFile, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := d.Pool.Query(ctx, `SELECT `+mediaFileColumns+mediaFileFrom+`
		WHERE f.id = ANY($1) AND f.direction = 'outbound' AND f.message_id IS NULL
		  AND (f.broadcast_id = $2 OR (f.broadcast_id IS NULL AND f.uploaded_by = $3))`, ids, broadcastID, userID)
	if err != nil {
		return nil, fmt.Errorf("db: media candidates of broadcast %d: %w", broadcastID, err)
	}
	defer rows.Close()
	var found []MediaFile
	for rows.Next() {
		f, err := scanMediaFile(rows)
		if err != nil {
			return nil, fmt.Errorf("db: media candidates of broadcast %d: %w", broadcastID, err)
		}
		found = append(found, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: media candidates of broadcast %d: %w", broadcastID, err)
	}
	return inIDOrder(found, ids), nil
}

// BroadcastMediaFiles loads the files among ids that broadcast holds, in the
// order of ids (the order they are sent in).
func (d *DB) BroadcastMediaFiles(ctx context.Context, broadcastID int64, ids []int64) ([]MediaFile, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := d.Pool.Query(ctx, `SELECT `+mediaFileColumns+mediaFileFrom+`
		WHERE f.id = ANY($1) AND f.broadcast_id = $2`, ids, broadcastID)
	if err != nil {
		return nil, fmt.Errorf("db: media of broadcast %d: %w", broadcastID, err)
	}
	defer rows.Close()
	var found []MediaFile
	for rows.Next() {
		f, err := scanMediaFile(rows)
		if err != nil {
			return nil, fmt.Errorf("db: media of broadcast %d: %w", broadcastID, err)
		}
		found = append(found, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: media of broadcast %d: %w", broadcastID, err)
	}
	return inIDOrder(found, ids), nil
}

func inIDOrder(files []MediaFile, ids []int64) []MediaFile {
	out := make([]MediaFile, 0, len(files))
	for _, id := range ids {
		if i := slices.IndexFunc(files, func(f MediaFile) bool { return f.ID == id }); i >= 0 {
			out = append(out, files[i])
			files = slices.Delete(files, i, i+1) // an id listed twice comes once
		}
	}
	return out
}

// SetBroadcastMediaTx makes ids the files broadcast holds: it claims each
// (an outbound file attached to no message, held by no other broadcast) and
// lets go of the broadcast's other files, which are then pruned like any
// abandoned upload. When a file cannot be claimed (the composer sent it
// meanwhile, another draft took it) the error wraps ErrNotFound and the
// caller's transaction rolls back.
func SetBroadcastMediaTx(ctx context.Context, q Querier, broadcastID int64, ids []int64) error {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if ids == nil {
		ids = []int64{}
	}
	if _, err := q.Exec(ctx, `UPDATE media_files SET broadcast_id = NULL
		WHERE broadcast_id = $1 AND NOT (id = ANY($2))`, broadcastID, ids); err != nil {
		return fmt.Errorf("db: release media of broadcast %d: %w", broadcastID, err)
	}
	if len(ids) == 0 {
		return nil
	}
	tag, err := q.Exec(ctx, `UPDATE media_files SET broadcast_id = $1
		WHERE id = ANY($2) AND direction = 'outbound' AND message_id IS NULL
		  AND (broadcast_id IS NULL OR broadcast_id = $1)`, broadcastID, ids)
	if err != nil {
		return fmt.Errorf("db: claim media for broadcast %d: %w", broadcastID, err)
	}
	if n := tag.RowsAffected(); n != int64(len(ids)) {
		return fmt.Errorf("db: claim media for broadcast %d: %d of %d files are unknown, sent or another broadcast's: %w",
			broadcastID, int64(len(ids))-n, len(ids), ErrNotFound)
	}
	return nil
}

// BroadcastReachedDepartments reports whether a message of the broadcast
// lies in a conversation of one of departmentIDs: staff who see that
// conversation may see the files its message carries, even when the
// broadcast itself is another department's or the school's.
func (d *DB) BroadcastReachedDepartments(ctx context.Context, broadcastID int64, departmentIDs []int64) (bool, error) {
	if len(departmentIDs) == 0 {
		return false, nil
	}
	var ok bool
	err := d.Pool.QueryRow(ctx, `SELECT EXISTS (
		SELECT 1 FROM broadcast_recipients r
		JOIN messages m ON m.id = r.message_id
		JOIN conversations c ON c.id = m.conversation_id
		WHERE r.broadcast_id = $1 AND r.message_id IS NOT NULL AND c.department_id = ANY($2))`,
		broadcastID, departmentIDs).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("db: departments reached by broadcast %d: %w", broadcastID, err)
	}
	return ok, nil
}
