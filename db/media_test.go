package db_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
	"github.com/classline/classline/migrations"
)

// mediaFixture is a fresh database with two staff members, a draft
// broadcast of each and helpers to store files.
type mediaFixture struct {
	t          *testing.T
	d          *db.DB
	ann, ben   db.User
	annB, benB int64 // their drafts
}

func newMediaFixture(t *testing.T) *mediaFixture {
	t.Helper()
	ctx := context.Background()
	f := &mediaFixture{t: t, d: dbtest.New(t)}
	var err error
	if f.ann, err = f.d.CreateUser(ctx, db.NewUser{Email: "ann@school.example", Name: "Ann", Role: "staff", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	if f.ben, err = f.d.CreateUser(ctx, db.NewUser{Email: "ben@school.example", Name: "Ben", Role: "staff", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	err = f.d.InTx(ctx, func(tx pgx.Tx) error {
		if f.annB, err = db.InsertBroadcastTx(ctx, tx, db.NewBroadcast{Name: "Ann's", CreatedBy: f.ann.ID}); err != nil {
			return err
		}
		f.benB, err = db.InsertBroadcastTx(ctx, tx, db.NewBroadcast{Name: "Ben's", CreatedBy: f.ben.ID})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// upload stores an outbound file as the composer or the wizard does.
func (f *mediaFixture) upload(by db.User, name string) int64 {
	f.t.Helper()
	id, _, err := f.d.InsertMediaFile(context.Background(), db.NewMediaFile{Direction: "outbound", ContentType: "image/png",
		Filename: name, Data: []byte("\x89PNG\x0d\x0a\x1a\x0a"), PublicFor: time.Hour, UploadedBy: by.ID})
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *mediaFixture) setMedia(broadcastID int64, ids ...int64) error {
	return f.d.InTx(context.Background(), func(tx pgx.Tx) error { return db.SetBroadcastMediaTx(context.Background(), tx, broadcastID, ids) })
}

func (f *mediaFixture) holder(id int64) int64 {
	f.t.Helper()
	file, err := f.d.MediaFileByID(context.Background(), id)
	if err != nil {
		f.t.Fatalf("file %d: %v", id, err)
	}
	return file.BroadcastID
}

func (f *mediaFixture) exists(id int64) bool {
	f.t.Helper()
	_, err := f.d.MediaFileByID(context.Background(), id)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		f.t.Fatal(err)
	}
	return err == nil
}

// Pruning deletes uploads nobody sent after a day, but never a file a
// broadcast holds (a scheduled or waiting broadcast sends it later); a file
// a draft let go is pruned again like any other.
func TestDeleteUnattachedUploadsSparesBroadcastFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newMediaFixture(t)
	kept := f.upload(f.ann, "poster.png")
	abandoned := f.upload(f.ann, "draft-reply.png")
	released := f.upload(f.ann, "first-try.png")
	fresh := f.upload(f.ann, "just-now.png")
	if err := f.setMedia(f.annB, kept, released); err != nil {
		t.Fatal(err)
	}
	if err := f.setMedia(f.annB, kept); err != nil { // the draft removed one
		t.Fatal(err)
	}
	if got := f.holder(released); got != 0 {
		t.Fatalf("a removed file is still held by broadcast %d", got)
	}
	if _, err := f.d.Pool.Exec(ctx, `UPDATE media_files SET created_at = now() - interval '2 days' WHERE id = ANY($1)`,
		[]int64{kept, abandoned, released}); err != nil {
		t.Fatal(err)
	}
	n, err := f.d.DeleteUnattachedUploads(ctx, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || !f.exists(kept) || f.exists(abandoned) || f.exists(released) || !f.exists(fresh) {
		t.Fatalf("pruned %d: kept %v, abandoned %v, released %v, fresh %v (want 2: true false false true)",
			n, f.exists(kept), f.exists(abandoned), f.exists(released), f.exists(fresh))
	}
	// Whatever the broadcast's state: a canceled one keeps its history.
	if _, err := f.d.Pool.Exec(ctx, `UPDATE broadcasts SET status = 'canceled' WHERE id = $1`, f.annB); err != nil {
		t.Fatal(err)
	}
	if n, err := f.d.DeleteUnattachedUploads(ctx, 24*time.Hour); err != nil || n != 0 || !f.exists(kept) {
		t.Fatalf("second pruning: %d, %v; kept exists %v", n, err, f.exists(kept))
	}
	// A deleted broadcast lets its files go (ON DELETE SET NULL): pruned.
	if _, err := f.d.Pool.Exec(ctx, `DELETE FROM broadcasts WHERE id = $1`, f.annB); err != nil {
		t.Fatal(err)
	}
	if n, err := f.d.DeleteUnattachedUploads(ctx, 24*time.Hour); err != nil || n != 1 || f.exists(kept) {
		t.Fatalf("after deleting the broadcast: pruned %d (%v), file exists %v", n, err, f.exists(kept))
	}
}

// A draft may take its author's own loose uploads and the files it holds;
// nothing else, whatever ids are sent.
func TestBroadcastMediaCandidates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newMediaFixture(t)
	own := f.upload(f.ann, "own.png")
	bens := f.upload(f.ben, "bens.png")
	onBens := f.upload(f.ben, "on-bens-draft.png")
	sent := f.upload(f.ann, "sent.png")
	inbound, _, err := f.d.InsertMediaFile(ctx, db.NewMediaFile{Direction: "inbound", ContentType: "image/png", Filename: "in.png", Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.setMedia(f.benB, onBens); err != nil {
		t.Fatal(err)
	}
	// A file the composer sent is attached to a message.
	if _, err := f.d.Pool.Exec(ctx, `WITH c AS (INSERT INTO contacts (phone, name) VALUES ('+15550109999', 'X') RETURNING id),
		s AS (INSERT INTO senders (channel, address, display_name) VALUES ('sms', '+14155550111', 'S') RETURNING id),
		v AS (INSERT INTO conversations (contact_id, sender_id, channel) SELECT c.id, s.id, 'sms' FROM c, s RETURNING id),
		m AS (INSERT INTO messages (conversation_id, direction, channel, from_address, to_address, body, status)
		      SELECT id, 'outbound', 'sms', '+14155550111', '+15550109999', 'hi', 'queued' FROM v RETURNING id)
		UPDATE media_files SET message_id = (SELECT id FROM m) WHERE id = $1`, sent); err != nil {
		t.Fatal(err)
	}

	got, err := f.d.BroadcastMediaCandidates(ctx, f.annB, f.ann.ID, []int64{bens, own, onBens, sent, inbound, 999999, own})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != own {
		t.Fatalf("Ann's draft may take %v, want only her own upload %d", ids(got), own)
	}
	// Ben's draft keeps its file even for Ann, who may edit it (an admin would).
	got, err = f.d.BroadcastMediaCandidates(ctx, f.benB, f.ann.ID, []int64{onBens, own})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), []int64{onBens, own}) {
		t.Fatalf("on Ben's draft: %v, want [%d %d] in the order asked", ids(got), onBens, own)
	}

	// Claiming checks again: another broadcast's file, a sent file, an
	// inbound one, an unknown id: nothing changes.
	for name, id := range map[string]int64{"another broadcast's": onBens, "sent": sent, "inbound": inbound, "unknown": 999999} {
		err := f.setMedia(f.annB, own, id)
		if !errors.Is(err, db.ErrNotFound) {
			t.Errorf("claiming a %s file: %v, want ErrNotFound", name, err)
		}
		if got := f.holder(own); got != 0 {
			t.Errorf("claiming a %s file still claimed the others (rolled back?)", name)
		}
	}
	if got := f.holder(onBens); got != f.benB {
		t.Errorf("Ben's file moved to %d", got)
	}
}

// The composer cannot attach a broadcast's file to one message: it would
// leave the broadcast without it.
func TestAttachMediaFilesRefusesBroadcastFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newMediaFixture(t)
	held := f.upload(f.ann, "held.png")
	loose := f.upload(f.ann, "loose.png")
	if err := f.setMedia(f.annB, held); err != nil {
		t.Fatal(err)
	}
	var msg int64
	err := f.d.Pool.QueryRow(ctx, `WITH c AS (INSERT INTO contacts (phone, name) VALUES ('+15550109998', 'Y') RETURNING id),
		s AS (INSERT INTO senders (channel, address, display_name) VALUES ('sms', '+14155550112', 'S') RETURNING id),
		v AS (INSERT INTO conversations (contact_id, sender_id, channel) SELECT c.id, s.id, 'sms' FROM c, s RETURNING id)
		INSERT INTO messages (conversation_id, direction, channel, from_address, to_address, body, status)
		SELECT id, 'outbound', 'sms', '+14155550112', '+15550109998', 'hi', 'queued' FROM v RETURNING id`).Scan(&msg)
	if err != nil {
		t.Fatal(err)
	}
	err = f.d.InTx(ctx, func(tx pgx.Tx) error { return db.AttachMediaFilesTx(ctx, tx, msg, []int64{loose, held}) })
	if !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("attaching a broadcast's file to a message: %v, want ErrNotFound", err)
	}
	for _, id := range []int64{held, loose} {
		file, err := f.d.MediaFileByID(ctx, id)
		if err != nil || file.MessageID != 0 {
			t.Errorf("file %d attached to message %d (%v) after the refusal", id, file.MessageID, err)
		}
	}
	if got := f.holder(held); got != f.annB {
		t.Errorf("the broadcast lost its file: held by %d", got)
	}
	// A loose upload still attaches as before.
	if err := f.d.InTx(ctx, func(tx pgx.Tx) error { return db.AttachMediaFilesTx(ctx, tx, msg, []int64{loose}) }); err != nil {
		t.Fatal(err)
	}
	// And a file a message has can no longer be claimed by a draft.
	if err := f.setMedia(f.annB, held, loose); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("claiming a sent file: %v", err)
	}
}

// Migration 012 gives files named only in a broadcast's content (saved
// before the column existed) to that broadcast; its backfill statement, run
// again here on such a file, claims it and nothing else.
func TestBroadcastMediaBackfill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newMediaFixture(t)
	listed := f.upload(f.ann, "listed.png")
	other := f.upload(f.ann, "other.png")
	if _, err := f.d.Pool.Exec(ctx, `UPDATE broadcasts SET content = jsonb_build_object('mode', 'sms', 'media_file_ids', jsonb_build_array($2::bigint))
		WHERE id = $1`, f.annB, listed); err != nil {
		t.Fatal(err)
	}
	sql, err := migrations.FS.ReadFile("012_broadcast_media.sql")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(sql), "UPDATE media_files")
	if i < 0 {
		t.Fatal("012 has no backfill")
	}
	if _, err := f.d.Pool.Exec(ctx, string(sql[i:])); err != nil {
		t.Fatalf("backfill: %v", err)
	}
	if f.holder(listed) != f.annB || f.holder(other) != 0 {
		t.Fatalf("after the backfill: listed held by %d, other by %d", f.holder(listed), f.holder(other))
	}
}

func ids(files []db.MediaFile) []int64 {
	var out []int64
	for _, f := range files {
		out = append(out, f.ID)
	}
	return out
}
