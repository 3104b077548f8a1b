package broadcast_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/broadcast"
)

// pngFile is a small real PNG, so the simulator's fetch (HEAD, GET, type
// check) sees what Twilio would.
func pngFile(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A broadcast's attachment goes with every free-form message (here SMS, so
// MMS) but not with an approved WhatsApp template, which carries its own
// header; each stored message lists the file so the thread shows it; an
// attachment that no longer exists fails its recipients with the reason
// instead of sending them the text alone.
func TestBroadcastAttachments(t *testing.T) {
	e := newEnv(t, envOptions{})
	data := pngFile(t)
	fid, _, err := e.db.InsertMediaFile(e.ctx, db.NewMediaFile{Direction: "outbound", ContentType: "image/png", Filename: "route.png",
		Data: data, UploadedBy: e.admin.ID})
	e.must(err)
	// Twilio fetches attachments by their public token URL.
	public := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := e.db.MediaFileByToken(r.Context(), strings.TrimPrefix(r.URL.Path, "/public/media/"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		b, err := e.db.MediaFileData(r.Context(), f.ID)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", f.ContentType)
		_, _ = w.Write(b)
	}))
	t.Cleanup(public.Close)

	tpl := e.template()
	sms1 := e.contact("+14155557105", "Ann", false)
	sms2 := e.contact("+14155557115", "Ben", false)
	wa := e.contact("+14155557125", "Cat", true)
	_, err = e.db.Pool.Exec(e.ctx, `UPDATE senders SET rate_per_second = 1000`)
	e.must(err)
	withFile := e.broadcast("Bus route", broadcast.Spec{
		Audience: broadcast.Audience{ContactIDs: []int64{sms1, sms2, wa}},
		Content: broadcast.Content{Mode: broadcast.ModeWhatsAppThenSMS, TemplateID: tpl, VariableValues: map[string]string{"1": "parent", "2": "the new bus route"},
			SMSBody: "The new bus route is attached.", MediaFileIDs: []int64{fid}},
	}, false)
	gone := e.broadcast("Old map", broadcast.Spec{
		Audience: broadcast.Audience{ContactIDs: []int64{sms1}},
		Content:  broadcast.Content{Mode: broadcast.ModeSMS, SMSBody: "The map is attached.", MediaFileIDs: []int64{fid + 1000}},
	}, false)

	eng, err := broadcast.New(&broadcast.Engine{DB: e.db, Gateway: e.gw, DefaultRegion: "US", Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		MediaURL: func(ctx context.Context, id int64) (string, error) {
			token, err := e.db.ExtendMediaPublic(ctx, id, time.Hour)
			return public.URL + "/public/media/" + token, err
		}}, fastConfig())
	e.must(err)
	e.must(eng.Start(e.ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Stop(ctx)
	})
	e.must(eng.Launch(e.ctx, withFile, nil, broadcast.Actor{UserID: &e.admin.ID}))
	e.must(eng.Launch(e.ctx, gone, nil, broadcast.Actor{UserID: &e.admin.ID}))
	e.waitStatus(withFile, "completed", 30*time.Second)
	e.waitStatus(gone, "completed", 30*time.Second)

	sent := map[string]int{}
	for _, m := range e.sim.Messages() {
		sent[m.To]++
		switch m.To {
		case "+14155557105", "+14155557115":
			if len(m.MediaURLs) != 1 || !strings.HasPrefix(m.MediaURLs[0], public.URL+"/public/media/") {
				t.Errorf("SMS to %s: MediaUrl %v, want the file's public URL", m.To, m.MediaURLs)
			}
			if len(m.Media) != 1 || m.Media[0].ContentType != "image/png" {
				t.Errorf("SMS to %s: the simulator fetched %+v, want the PNG", m.To, m.Media)
			}
		case "whatsapp:+14155557125":
			if len(m.MediaURLs) != 0 || m.ContentSID == "" {
				t.Errorf("template to %s carried MediaUrl %v (content %q): a template has its own header", m.To, m.MediaURLs, m.ContentSID)
			}
		default:
			t.Errorf("unexpected message to %s", m.To)
		}
	}
	if sent["+14155557105"] != 1 || sent["+14155557115"] != 1 || sent["whatsapp:+14155557125"] != 1 {
		t.Fatalf("messages at Twilio by recipient: %v; want one each, and none for the broadcast whose file is gone", sent)
	}

	// The thread shows what was sent: the stored messages list the file.
	rs := e.recipients(withFile)
	for _, p := range []string{"+14155557105", "+14155557115"} {
		mm, err := e.db.MessageMedia(e.ctx, *rs[p].MessageID)
		e.must(err)
		if len(mm.Entries) != 1 || mm.Entries[0].FileID != fid || mm.Entries[0].Filename != "route.png" || mm.Entries[0].Size != int64(len(data)) {
			t.Errorf("message to %s lists %+v, want route.png (file %d)", p, mm.Entries, fid)
		}
	}
	if mm, err := e.db.MessageMedia(e.ctx, *rs["+14155557125"].MessageID); err != nil || len(mm.Entries) != 0 {
		t.Errorf("template message lists %+v (%v), want no attachment", mm.Entries, err)
	}

	r := e.recipients(gone)["+14155557105"]
	if r.State != "failed" || !strings.Contains(r.ErrorMessage, "attachment 1") || r.MessageID != nil {
		t.Errorf("recipient of a broadcast whose file is gone: %s %q (message %v), want failed before any message, with the reason", r.State, r.ErrorMessage, r.MessageID)
	}
}
