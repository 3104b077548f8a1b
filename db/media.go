package db

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// MediaFile is a stored attachment: an inbound file fetched from Twilio or an
// outbound file a staff member uploaded. Data is not loaded by the lookups
// (files reach 16 MB); MediaFileData reads it once access is decided.
type MediaFile struct {
	ID          int64
	Token       string
	MessageID   int64 // 0: not attached to a message (yet)
	Direction   string
	ContentType string
	Filename    string
	Size        int64
	SourceURL   string
	PublicUntil *time.Time
	UploadedBy  int64 // 0: fetched by Classline
	// BroadcastID is the broadcast that sends the file (0: none). Such a
	// file has no MessageID: it goes out on every recipient's message.
	BroadcastID int64
	CreatedAt   time.Time
	// ConversationID and DepartmentID are the attached message's, for
	// deciding who may download the file; 0 and nil when there is none.
	ConversationID int64
	DepartmentID   *int64
}

// NewMediaFile is a file about to be stored.
type NewMediaFile struct {
	MessageID   int64  // 0: none yet (an upload waiting for its message)
	Direction   string // "inbound" or "outbound"
	ContentType string
	Filename    string
	Data        []byte
	SourceURL   string
	// PublicFor > 0 lets Twilio fetch the file by its token for that long.
	PublicFor  time.Duration
	UploadedBy int64 // 0: none
}

// newMediaToken is 32 random bytes, base64url: the capability that lets
// Twilio fetch an outbound file without a session.
func newMediaToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("db: media token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// InsertMediaFile stores a file and returns its id and random token.
func (d *DB) InsertMediaFile(ctx context.Context, f NewMediaFile) (id int64, token string, err error) {
	return InsertMediaFileTx(ctx, d.Pool, f)
}

// InsertMediaFileTx is InsertMediaFile inside a transaction.
func InsertMediaFileTx(ctx context.Context, q Querier, f NewMediaFile) (id int64, token string, err error) {
	token, err = newMediaToken()
	if err != nil {
		return 0, "", err
	}
	if f.Data == nil {
		f.Data = []byte{}
	}
	err = q.QueryRow(ctx, `
		INSERT INTO media_files (token, message_id, direction, content_type, filename, size_bytes, data, source_url, public_until, uploaded_by)
		VALUES ($1, nullif($2, 0), $3, $4, $5, $6, $7, $8,
		        CASE WHEN $9::float8 > 0 THEN now() + $9::float8 * interval '1 second' END, nullif($10, 0))
		RETURNING id`,
		token, f.MessageID, f.Direction, f.ContentType, f.Filename, len(f.Data), f.Data, f.SourceURL,
		f.PublicFor.Seconds(), f.UploadedBy).Scan(&id)
	if err != nil {
		return 0, "", fmt.Errorf("db: insert media file: %w", err)
	}
	return id, token, nil
}

const mediaFileColumns = `f.id, f.token, coalesce(f.message_id, 0), f.direction, f.content_type, f.filename, f.size_bytes,
	f.source_url, f.public_until, coalesce(f.uploaded_by, 0), coalesce(f.broadcast_id, 0), f.created_at, coalesce(m.conversation_id, 0), c.department_id`

// The joins find the department that may see the file: message → conversation.
const mediaFileFrom = ` FROM media_files f
	LEFT JOIN messages m ON m.id = f.message_id
	LEFT JOIN conversations c ON c.id = m.conversation_id`

func scanMediaFile(row pgx.Row) (MediaFile, error) {
	var f MediaFile
	err := row.Scan(&f.ID, &f.Token, &f.MessageID, &f.Direction, &f.ContentType, &f.Filename, &f.Size,
		&f.SourceURL, &f.PublicUntil, &f.UploadedBy, &f.BroadcastID, &f.CreatedAt, &f.ConversationID, &f.DepartmentID)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, ErrNotFound
	}
	return f, err
}

// MediaFileByID loads a file's description (not its bytes).
func (d *DB) MediaFileByID(ctx context.Context, id int64) (MediaFile, error) {
	f, err := scanMediaFile(d.Pool.QueryRow(ctx, `SELECT `+mediaFileColumns+mediaFileFrom+` WHERE f.id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return f, fmt.Errorf("db: media file %d: %w", id, err)
	}
	return f, err
}

// MediaFileByToken loads a file's description by its public token. The
// caller checks PublicUntil and Direction.
func (d *DB) MediaFileByToken(ctx context.Context, token string) (MediaFile, error) {
	f, err := scanMediaFile(d.Pool.QueryRow(ctx, `SELECT `+mediaFileColumns+mediaFileFrom+` WHERE f.token = $1`, token))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return f, fmt.Errorf("db: media file by token: %w", err)
	}
	return f, err
}

// MediaFileData reads a file's bytes.
func (d *DB) MediaFileData(ctx context.Context, id int64) ([]byte, error) {
	var data []byte
	err := d.Pool.QueryRow(ctx, `SELECT data FROM media_files WHERE id = $1`, id).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: media file %d data: %w", id, err)
	}
	return data, nil
}

// ExtendMediaPublic keeps an outbound file fetchable by its token for at
// least d from now (never shortening it) and returns the token. Sending (or
// sending again) asks for the URL, so a retry hours later still works.
func (d *DB) ExtendMediaPublic(ctx context.Context, id int64, dur time.Duration) (string, error) {
	var token string
	err := d.Pool.QueryRow(ctx, `
		UPDATE media_files SET public_until = greatest(public_until, now() + $2::float8 * interval '1 second')
		WHERE id = $1 AND direction = 'outbound' RETURNING token`, id, dur.Seconds()).Scan(&token)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("db: extend media %d: %w", id, err)
	}
	return token, nil
}

// AttachMediaFilesTx links uploaded files to the outbound message that sends
// them. Only outbound files not attached to any message nor held by a
// broadcast qualify (a broadcast's file goes out on every recipient's
// message, so one message may not take it); when any id does not, nothing
// is attached and the error wraps ErrNotFound.
func AttachMediaFilesTx(ctx context.Context, q Querier, messageID int64, fileIDs []int64) error {
	ids := slices.Clone(fileIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return nil
	}
	tag, err := q.Exec(ctx, `UPDATE media_files SET message_id = $1
		WHERE id = ANY($2) AND message_id IS NULL AND broadcast_id IS NULL AND direction = 'outbound'`, messageID, ids)
	if err != nil {
		return fmt.Errorf("db: attach media to message %d: %w", messageID, err)
	}
	if n := tag.RowsAffected(); n != int64(len(ids)) {
		// The caller's transaction rolls back, undoing the partial update.
		return fmt.Errorf("db: attach media to message %d: %d of %d files are unknown, inbound, already attached or a broadcast's: %w",
			messageID, int64(len(ids))-n, len(ids), ErrNotFound)
	}
	return nil
}

// DeleteUnattachedUploads removes outbound uploads never attached to a
// message (the reply was abandoned, or its message deleted) older than age.
// Files held by a broadcast are kept whatever their age: a scheduled,
// waiting or running broadcast sends them later, and its messages show them.
func (d *DB) DeleteUnattachedUploads(ctx context.Context, age time.Duration) (int64, error) {
	tag, err := d.Pool.Exec(ctx, `DELETE FROM media_files
		WHERE message_id IS NULL AND broadcast_id IS NULL AND direction = 'outbound'
		  AND created_at < now() - $1::float8 * interval '1 second'`, age.Seconds())
	if err != nil {
		return 0, fmt.Errorf("db: delete unattached uploads: %w", err)
	}
	return tag.RowsAffected(), nil
}

// MessageDepartment returns the conversation of a message and its department
// (nil: none), for deciding who may see things attached to it.
func (d *DB) MessageDepartment(ctx context.Context, messageID int64) (conversationID int64, departmentID *int64, err error) {
	err = d.Pool.QueryRow(ctx, `SELECT coalesce(m.conversation_id, 0), c.department_id
		FROM messages m LEFT JOIN conversations c ON c.id = m.conversation_id WHERE m.id = $1`, messageID).Scan(&conversationID, &departmentID)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, ErrNotFound
	}
	if err != nil {
		return 0, nil, fmt.Errorf("db: department of message %d: %w", messageID, err)
	}
	return conversationID, departmentID, nil
}

// MediaEntry is one element of messages.media as the inbound fetcher sees
// it: the Media everyone reads plus its retry bookkeeping.
type MediaEntry struct {
	Media
	// FetchAttempts counts failed fetches that may succeed later.
	FetchAttempts int `json:"fetch_attempts,omitempty"`
	// FetchAfter: do not try again before then (backoff).
	FetchAfter *time.Time `json:"fetch_after,omitempty"`
}

// MediaMessage is a message's attachments with what is needed to store and
// announce a fetched file.
type MediaMessage struct {
	ID, ConversationID int64
	DepartmentID       *int64
	Direction          string
	Entries            []MediaEntry
}

func mediaMessage(ctx context.Context, q Querier, id int64, lock bool) (MediaMessage, error) {
	sql := `SELECT m.id, coalesce(m.conversation_id, 0), c.department_id, m.direction, m.media
		FROM messages m LEFT JOIN conversations c ON c.id = m.conversation_id WHERE m.id = $1`
	if lock {
		sql += ` FOR UPDATE OF m`
	}
	var mm MediaMessage
	var raw []byte
	err := q.QueryRow(ctx, sql, id).Scan(&mm.ID, &mm.ConversationID, &mm.DepartmentID, &mm.Direction, &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return mm, ErrNotFound
	}
	if err != nil {
		return mm, fmt.Errorf("db: media of message %d: %w", id, err)
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &mm.Entries); err != nil {
			return mm, fmt.Errorf("db: media of message %d: %w", id, err)
		}
	}
	return mm, nil
}

// MessageMedia reads a message's attachments and their fetch state.
func (d *DB) MessageMedia(ctx context.Context, messageID int64) (MediaMessage, error) {
	return mediaMessage(ctx, d.Pool, messageID, false)
}

// MessageMediaForUpdateTx is MessageMedia with the message row locked, so two
// fetchers cannot both store the same file.
func MessageMediaForUpdateTx(ctx context.Context, q Querier, messageID int64) (MediaMessage, error) {
	return mediaMessage(ctx, q, messageID, true)
}

// MediaEntryUpdate is what changes in one messages.media element. Nil
// fields are left alone.
type MediaEntryUpdate struct {
	FileID      *int64
	Filename    *string
	Size        *int64
	ContentType *string
	FetchError  *string
	Attempts    *int
	// FetchAfter: a time sets the backoff; the zero time clears it.
	FetchAfter *time.Time
}

// UpdateMediaEntryTx merges u into element index of message messageID's
// media and marks the message changed (status_updated_at), so live streams
// catching up re-render it.
func UpdateMediaEntryTx(ctx context.Context, q Querier, messageID int64, index int, u MediaEntryUpdate) error {
	patch := map[string]any{}
	if u.FileID != nil {
		patch["file_id"] = *u.FileID
	}
	if u.Filename != nil {
		patch["filename"] = *u.Filename
	}
	if u.Size != nil {
		patch["size"] = *u.Size
	}
	if u.ContentType != nil {
		patch["content_type"] = *u.ContentType
	}
	if u.FetchError != nil {
		patch["fetch_error"] = *u.FetchError
	}
	if u.Attempts != nil {
		patch["fetch_attempts"] = *u.Attempts
	}
	if u.FetchAfter != nil {
		if u.FetchAfter.IsZero() {
			patch["fetch_after"] = nil
		} else {
			patch["fetch_after"] = u.FetchAfter.UTC().Format(time.RFC3339Nano)
		}
	}
	b, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	tag, err := q.Exec(ctx, `
		UPDATE messages SET media = jsonb_set(media, ARRAY[$2::int::text], (media -> $2::int) || $3::jsonb),
		       status_updated_at = now()
		WHERE id = $1 AND $2::int >= 0 AND jsonb_array_length(media) > $2::int`, messageID, index, b)
	if err != nil {
		return fmt.Errorf("db: update media %d of message %d: %w", index, messageID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("db: update media %d of message %d: %w", index, messageID, ErrNotFound)
	}
	return nil
}

// InboundMediaPending lists inbound messages created between maxAge and
// minAge ago with an attachment neither stored (no file_id) nor given up on
// (no fetch_error) whose backoff has passed, oldest first: the fetcher's
// sweep, so a crash or a full queue loses nothing.
//
// The WHERE clause repeats the predicate of a partial index
// (direction = 'inbound' AND media <> '[]'), should one be added: without
// it this scans the recent messages, which is fine once a minute at school
// volumes.
func (d *DB) InboundMediaPending(ctx context.Context, minAge, maxAge time.Duration, limit int) ([]int64, error) {
	rows, err := d.Pool.Query(ctx, `
		SELECT m.id FROM messages m
		WHERE m.direction = 'inbound' AND m.media <> '[]'::jsonb
		  AND m.created_at > now() - $2::float8 * interval '1 second'
		  AND m.created_at <= now() - $1::float8 * interval '1 second'
		  AND EXISTS (
		      SELECT 1 FROM jsonb_array_elements(m.media) e
		      WHERE jsonb_typeof(e) = 'object'
		        AND coalesce(e ->> 'url', '') <> ''
		        AND NOT (e ? 'file_id') AND coalesce(e ->> 'fetch_error', '') = ''
		        AND coalesce((e ->> 'fetch_after')::timestamptz, '-infinity') <= now())
		ORDER BY m.created_at, m.id
		LIMIT $3`, minAge.Seconds(), maxAge.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("db: inbound media pending: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
