package media

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
)

func TestUpload(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	s := f.newService("")
	big := func(head []byte, n int) []byte {
		b := make([]byte, n)
		copy(b, head)
		return b
	}
	for _, tc := range []struct {
		name, channel, file, declared string
		data                          []byte
		wantType, wantName, refusal   string
	}{
		{"photo", "whatsapp", "IMG_0042.JPG", "image/jpeg", jpegBytes, "image/jpeg", "IMG_0042.JPG", ""},
		{"type from bytes", "whatsapp", "form.png", "image/png", pdfBytes, "application/pdf", "form.png", ""},
		{"docx", "whatsapp", "Trip letter.docx", "application/octet-stream", zipBytes, typeDOCX, "Trip letter.docx", ""},
		{"no name", "sms", "", "", gifBytes, "image/gif", "photo.gif", ""},
		{"gif on whatsapp", "whatsapp", "fun.gif", "image/gif", gifBytes, "", "", "WhatsApp does not accept GIF pictures"},
		{"page posing as a picture", "sms", "cat.jpg", "image/jpeg", htmlBytes, "", "", "do not accept web pages"},
		{"big picture", "whatsapp", "big.jpg", "image/jpeg", big(jpegBytes, 7_200_000), "", "", "WhatsApp accepts images up to 5 MB; this one is 7.2 MB."},
		{"too big for mms", "sms", "big.jpg", "image/jpeg", big(jpegBytes, 5_000_001), "", "", "carry up to 5 MB; this one is more than 5 MB"},
		{"too big for whatsapp", "whatsapp", "film.mp4", "video/mp4", big(mp4Bytes, 16_000_001), "", "", "WhatsApp accepts videos up to 16 MB; this one is more than 16 MB."},
		{"vorbis on whatsapp", "whatsapp", "song.ogg", "audio/ogg", vorbis, "", "", "Opus"},
		{"opus voice note", "whatsapp", "voice.ogg", "audio/ogg", opusBytes, "audio/ogg", "voice.ogg", ""},
		{"empty", "whatsapp", "x.jpg", "image/jpeg", nil, "", "", "not accept files of an unrecognised type"},
		{"no channel", "", "x.jpg", "image/jpeg", jpegBytes, "", "", "Choose WhatsApp or SMS"},
	} {
		md, err := s.Upload(ctx, 0, tc.channel, tc.file, tc.declared, bytes.NewReader(tc.data))
		if tc.refusal != "" {
			var re *RefusedError
			if !errors.As(err, &re) || !strings.Contains(re.Reason, tc.refusal) {
				t.Errorf("%s: got %v, want refusal %q", tc.name, err, tc.refusal)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if md.FileID == 0 || md.ContentType != tc.wantType || md.Filename != tc.wantName || md.Size != int64(len(tc.data)) || md.URL != "" {
			t.Errorf("%s: %+v", tc.name, md)
		}
		file, err := f.db.MediaFileByID(ctx, md.FileID)
		if err != nil {
			t.Fatal(err)
		}
		if file.Direction != "outbound" || file.MessageID != 0 || file.PublicUntil == nil ||
			time.Until(*file.PublicUntil) < PublicFor-time.Minute || time.Until(*file.PublicUntil) > PublicFor+time.Minute {
			t.Errorf("%s: stored %+v", tc.name, file)
		}
	}
}

func TestPublicURLAndAttach(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	s := f.newService("")
	up := func() db.Media {
		md, err := s.Upload(ctx, 0, ChannelWhatsApp, "a.jpg", "image/jpeg", bytes.NewReader(jpegBytes))
		if err != nil {
			t.Fatal(err)
		}
		return md
	}
	a, b := up(), up()
	u, err := s.PublicURL(ctx, a.FileID)
	if err != nil {
		t.Fatal(err)
	}
	token, ok := strings.CutPrefix(u, "https://classline.school.example/public/media/")
	if !ok || len(token) != 43 || strings.ContainsAny(token, "+/=") {
		t.Fatalf("public URL %q", u)
	}
	file, err := f.db.MediaFileByToken(ctx, token)
	if err != nil || file.ID != a.FileID {
		t.Fatalf("by token: %+v %v", file, err)
	}
	// A later ask extends the window instead of shortening it.
	if _, err := f.db.Pool.Exec(ctx, `UPDATE media_files SET public_until = now() - interval '1 hour' WHERE id = $1`, a.FileID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PublicURL(ctx, a.FileID); err != nil {
		t.Fatal(err)
	}
	if file, _ = f.db.MediaFileByID(ctx, a.FileID); file.PublicUntil == nil || time.Until(*file.PublicUntil) < PublicFor-time.Minute {
		t.Errorf("not extended: %v", file.PublicUntil)
	}

	// Attach: outbound, unattached files only, all or nothing.
	var msgID int64
	err = f.db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		msgID, err = db.InsertOutboundTx(ctx, tx, db.NewOutbound{ConversationID: f.conv, Channel: "whatsapp",
			From: "whatsapp:+14155550100", To: "whatsapp:+15550104242", Media: []db.Media{a, b}})
		if err != nil {
			return err
		}
		return db.AttachMediaFilesTx(ctx, tx, msgID, []int64{a.FileID, b.FileID, a.FileID})
	})
	if err != nil {
		t.Fatal(err)
	}
	if file, _ = f.db.MediaFileByID(ctx, b.FileID); file.MessageID != msgID || file.ConversationID != f.conv {
		t.Errorf("not attached: %+v", file)
	}
	c := up()
	err = f.db.InTx(ctx, func(tx pgx.Tx) error { return db.AttachMediaFilesTx(ctx, tx, msgID, []int64{c.FileID, a.FileID}) })
	if !errors.Is(err, db.ErrNotFound) {
		t.Errorf("attaching an attached file: %v", err)
	}
	if file, _ = f.db.MediaFileByID(ctx, c.FileID); file.MessageID != 0 {
		t.Error("partial attach was kept")
	}

	// Inbound files have no public URL.
	srvID := f.inbound("http://x.invalid/y")
	var inID int64
	if err := f.db.Pool.QueryRow(ctx, `INSERT INTO media_files (token, message_id, direction, content_type, size_bytes, data)
		VALUES ('tok-inbound', $1, 'inbound', 'image/jpeg', 1, 'x') RETURNING id`, srvID).Scan(&inID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PublicURL(ctx, inID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("public URL of an inbound file: %v", err)
	}
	err = f.db.InTx(ctx, func(tx pgx.Tx) error { return db.AttachMediaFilesTx(ctx, tx, msgID, []int64{inID}) })
	if !errors.Is(err, db.ErrNotFound) {
		t.Errorf("attaching an inbound file: %v", err)
	}
}
