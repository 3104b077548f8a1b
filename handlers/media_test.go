package handlers

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
	"github.com/classline/classline/internal/media"
)

// Who may download which attachment, and with which headers.
func TestMediaRoutes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.New(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	admissions, err := d.EnsureDepartment(ctx, "admissions", "Admissions")
	must(err)
	finance, err := d.EnsureDepartment(ctx, "finance", "Finance")
	must(err)
	sender, err := d.EnsureSender(ctx, "whatsapp", "+14155550100", "Admissions", &admissions)
	must(err)
	user := func(email, role string, deps ...int64) db.User {
		u, err := d.CreateUser(ctx, db.NewUser{Email: email, Name: email, Role: role, PasswordHash: "x", DepartmentIDs: deps})
		must(err)
		return u
	}
	users := map[string]db.User{
		"admissions": user("a@school.example", "staff", admissions),
		"finance":    user("f@school.example", "staff", finance),
		"admin":      user("root@school.example", "admin"),
	}

	// An inbound message in admissions with a picture and a spreadsheet.
	var msgID int64
	err = d.InTx(ctx, func(tx pgx.Tx) error {
		contact, err := db.UpsertContactTx(ctx, tx, "+15550104242", "Priya")
		if err != nil {
			return err
		}
		conv, err := db.UpsertConversationTx(ctx, tx, contact, sender)
		if err != nil {
			return err
		}
		msgID, _, err = db.InsertInboundTx(ctx, tx, db.NewInbound{ConversationID: conv, Channel: "whatsapp",
			From: "whatsapp:+15550104242", To: "whatsapp:+14155550100", TwilioSID: "MM1"})
		return err
	})
	must(err)
	png := append([]byte("\x89PNG\x0D\x0A\x1A\x0A"), bytes.Repeat([]byte{7}, 100)...)
	picture, _, err := d.InsertMediaFile(ctx, db.NewMediaFile{MessageID: msgID, Direction: "inbound", ContentType: "image/png", Filename: "drawing.png", Data: png})
	must(err)
	sheet, _, err := d.InsertMediaFile(ctx, db.NewMediaFile{MessageID: msgID, Direction: "inbound", ContentType: "text/csv", Filename: "marks <7B>.csv", Data: []byte("a,b\n")})
	must(err)
	svc := &media.Service{DB: d, PublicBaseURL: "http://classline.test"}
	upload, err := svc.Upload(ctx, users["finance"].ID, media.ChannelWhatsApp, "scan.pdf", "application/pdf", bytes.NewReader([]byte("%PDF-1.4 slip")))
	must(err)

	now := time.Now()
	s := &Server{Deps: Deps{DB: d, Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}}
	e := echo.New()
	app := e.Group("", func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			u, ok := users[c.Request().Header.Get("X-Test-User")]
			if !ok {
				return echo.NewHTTPError(http.StatusUnauthorized)
			}
			c.Set(ctxUser, &u)
			return next(c)
		}
	})
	s.mediaRoutes(e, app)
	get := func(method, path, who string, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("X-Test-User", who)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	id := func(n int64) string { return "/media/" + strconv.FormatInt(n, 10) }

	for _, tc := range []struct {
		path, who string
		status    int
	}{
		{id(picture), "admissions", 200},
		{id(picture), "admin", 200},
		{id(picture), "finance", 404}, // another department's: as if missing
		{id(picture), "", 401},
		{id(upload.FileID), "finance", 200}, // the uploader
		{id(upload.FileID), "admissions", 404},
		{id(upload.FileID), "admin", 404}, // unsent uploads are the uploader's own
		{"/media/999999", "admin", 404},
		{"/media/abc", "admin", 404},
	} {
		if rec := get(http.MethodGet, tc.path, tc.who); rec.Code != tc.status {
			t.Errorf("%s as %q: HTTP %d, want %d", tc.path, tc.who, rec.Code, tc.status)
		}
	}

	rec := get(http.MethodGet, id(picture), "admissions")
	h := rec.Header()
	if h.Get("Content-Type") != "image/png" || !strings.HasPrefix(h.Get("Content-Disposition"), "inline") ||
		h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Content-Security-Policy") != "sandbox" ||
		h.Get("Cache-Control") != "private, max-age=3600" || !bytes.Equal(rec.Body.Bytes(), png) {
		t.Errorf("picture: headers %v, %d bytes", h, rec.Body.Len())
	}
	rec = get(http.MethodGet, id(sheet), "admissions")
	if h := rec.Header(); h.Get("Content-Type") != "application/octet-stream" ||
		h.Get("Content-Disposition") != `attachment; filename="marks <7B>.csv"` || h.Get("Content-Security-Policy") != "sandbox" {
		t.Errorf("sheet: headers %v", h)
	}
	rec = get(http.MethodGet, id(picture), "admissions", "Range", "bytes=0-7")
	if rec.Code != http.StatusPartialContent || rec.Body.Len() != 8 {
		t.Errorf("range: HTTP %d, %d bytes", rec.Code, rec.Body.Len())
	}

	// The public URL, as Twilio fetches it.
	u, err := svc.PublicURL(ctx, upload.FileID)
	must(err)
	path := strings.TrimPrefix(u, "http://classline.test")
	for _, method := range []string{http.MethodHead, http.MethodGet} {
		rec := get(method, path, "")
		h := rec.Header()
		if rec.Code != 200 || h.Get("Content-Type") != "application/pdf" || h.Get("Content-Disposition") != `inline; filename=scan.pdf` ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Content-Security-Policy") != "sandbox" || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s public: HTTP %d %v", method, rec.Code, h)
		}
		if method == http.MethodGet && rec.Body.String() != "%PDF-1.4 slip" {
			t.Errorf("public body %q", rec.Body.String())
		}
		if method == http.MethodHead && (rec.Body.Len() != 0 || h.Get("Content-Length") != "13") {
			t.Errorf("HEAD: %d bytes, Content-Length %q", rec.Body.Len(), h.Get("Content-Length"))
		}
	}
	now = time.Now().Add(media.PublicFor + time.Minute) // expired
	if rec := get(http.MethodGet, path, ""); rec.Code != 404 {
		t.Errorf("expired public URL: HTTP %d", rec.Code)
	}
	now = time.Now()
	var inboundToken string
	must(d.Pool.QueryRow(ctx, `SELECT token FROM media_files WHERE id = $1`, picture).Scan(&inboundToken))
	for _, p := range []string{"/public/media/" + inboundToken, "/public/media/short", "/public/media/" + strings.Repeat("A", 43)} {
		if rec := get(http.MethodGet, p, ""); rec.Code != 404 {
			t.Errorf("%s: HTTP %d, want 404", p, rec.Code)
		}
	}
}
