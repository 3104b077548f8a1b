package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "mediatesttoken0123456789"
)

// fixture is a fresh database with a department, a WhatsApp sender and a
// contact's conversation to put inbound messages in.
type fixture struct {
	t      *testing.T
	db     *db.DB
	dept   int64
	sender db.Sender
	conv   int64
	n      int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t, db: dbtest.New(t)}
	var err error
	if f.dept, err = f.db.EnsureDepartment(ctx, "admissions", "Admissions"); err != nil {
		t.Fatal(err)
	}
	if f.sender, err = f.db.EnsureSender(ctx, "whatsapp", "+14155550100", "Admissions", &f.dept); err != nil {
		t.Fatal(err)
	}
	err = f.db.InTx(ctx, func(tx pgx.Tx) error {
		contact, err := db.UpsertContactTx(ctx, tx, "+15550104242", "Priya")
		if err != nil {
			return err
		}
		f.conv, err = db.UpsertConversationTx(ctx, tx, contact, f.sender)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// inbound stores an inbound message with these media URLs (declared types
// image/jpeg) and returns its id.
func (f *fixture) inbound(urls ...string) int64 {
	f.t.Helper()
	ctx := context.Background()
	f.n++
	var media []db.Media
	for _, u := range urls {
		media = append(media, db.Media{URL: u, ContentType: "image/jpeg"})
	}
	var id int64
	err := f.db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		id, _, err = db.InsertInboundTx(ctx, tx, db.NewInbound{ConversationID: f.conv, Channel: "whatsapp",
			From: "whatsapp:+15550104242", To: "whatsapp:+14155550100", Media: media, TwilioSID: fmt.Sprintf("MM%032d", f.n)})
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *fixture) entries(id int64) []db.MediaEntry {
	f.t.Helper()
	m, err := f.db.MessageMedia(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return m.Entries
}

// newService is a Service against f's database with quick retries.
func (f *fixture) newService(simBase string) *Service {
	return &Service{DB: f.db, AccountSID: testSID, AuthToken: testToken, SimulatorBase: simBase,
		PublicBaseURL: "https://classline.school.example", retryDelays: []time.Duration{}}
}

// recorder is a file server that records who asked for what.
type recorder struct {
	mu   sync.Mutex
	hits []hit
}

type hit struct {
	host, path, auth string
	method           string
}

func (r *recorder) add(req *http.Request, host string) {
	r.mu.Lock()
	r.hits = append(r.hits, hit{host: host, path: req.URL.Path, auth: req.Header.Get("Authorization"), method: req.Method})
	r.mu.Unlock()
}

func (r *recorder) all() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

func basicAuthOK(req *http.Request) bool {
	u, p, ok := req.BasicAuth()
	return ok && u == testSID && p == testToken
}

// The simulator host is fetched with the account's credentials and the file
// lands in media_files and on the message.
func TestFetchInboundFromSimulator(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r, r.Host)
		if !basicAuthOK(r) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Content-Disposition", `inline; filename="drawing by Priya.png"`)
		w.Write(pngBytes)
	}))
	defer srv.Close()
	s := f.newService(srv.URL)
	var published []int64
	s.Publish = func(_ context.Context, conv, msg, dept int64) error {
		if conv != f.conv || dept != f.dept {
			t.Errorf("publish conv %d dept %d, want %d %d", conv, dept, f.conv, f.dept)
		}
		published = append(published, msg)
		return nil
	}
	id := f.inbound(srv.URL + "/2010-04-01/Accounts/" + testSID + "/Messages/MM1/Media/ME1")
	if err := s.FetchInbound(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	e := f.entries(id)[0]
	if e.FileID == 0 || e.FetchError != "" || e.Filename != "drawing by Priya.png" || e.Size != int64(len(pngBytes)) || e.ContentType != "image/png" {
		t.Fatalf("entry after fetch: %+v", e)
	}
	file, err := f.db.MediaFileByID(context.Background(), e.FileID)
	if err != nil {
		t.Fatal(err)
	}
	if file.Direction != "inbound" || file.MessageID != id || file.ConversationID != f.conv || file.DepartmentID == nil ||
		*file.DepartmentID != f.dept || file.SourceURL == "" || file.PublicUntil != nil || file.UploadedBy != 0 {
		t.Errorf("stored file: %+v", file)
	}
	data, err := f.db.MediaFileData(context.Background(), e.FileID)
	if err != nil || !bytes.Equal(data, pngBytes) {
		t.Errorf("stored bytes differ (%v)", err)
	}
	if len(published) != 1 || published[0] != id {
		t.Errorf("published %v, want [%d]", published, id)
	}
	if hits := rec.all(); len(hits) != 1 || hits[0].auth == "" {
		t.Errorf("hits %+v, want one with credentials", hits)
	}
	// Done is done: a second run fetches nothing.
	if err := s.FetchInbound(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.all()); n != 1 {
		t.Errorf("fetched again: %d hits", n)
	}
	if ids, err := f.db.InboundMediaPending(context.Background(), 0, time.Hour, 10); err != nil || len(ids) != 0 {
		t.Errorf("still pending after fetch: %v %v", ids, err)
	}
}

// Anything but the simulator or api.twilio.com is refused before any
// request, and so is a redirect to anywhere else.
func TestFetchInboundRefusesOtherHosts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	evil := &recorder{}
	evilSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		evil.add(r, r.Host)
		w.Header().Set("Content-Type", "image/png")
		w.Write(pngBytes)
	}))
	defer evilSrv.Close()
	sim := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, evilSrv.URL+"/steal", http.StatusFound)
	}))
	defer sim.Close()
	s := f.newService(sim.URL)

	for _, u := range []string{
		evilSrv.URL + "/2010-04-01/Accounts/AC/Messages/MM/Media/ME", // another loopback port
		"http://169.254.169.254/latest/meta-data/",
		"https://example.com/cat.png",
		"http://api.twilio.com/2010-04-01/x", // not https
		sim.URL + "/redirects-to-evil",
	} {
		id := f.inbound(u)
		if err := s.FetchInbound(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		e := f.entries(id)[0]
		if e.FileID != 0 || !strings.Contains(e.FetchError, "not a Twilio media address") {
			t.Errorf("%s: entry %+v, want refused", u, e)
		}
	}
	if hits := evil.all(); len(hits) != 0 {
		t.Errorf("the other host was contacted: %+v", hits)
	}
}

// hostRewriter stands in for the internet: every request goes to srv, with
// the host it was meant for in X-Test-Host.
type hostRewriter struct{ srv *httptest.Server }

func (h hostRewriter) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.Header.Set("X-Test-Host", r.URL.Host)
	r2.URL.Scheme = "http"
	r2.URL.Host = strings.TrimPrefix(h.srv.URL, "http://")
	r2.Host = ""
	return http.DefaultTransport.RoundTrip(r2)
}

// Twilio's real shape: api.twilio.com answers with a redirect to its media
// CDN. Credentials go to api.twilio.com only; redirects are followed only to
// Twilio's media hosts.
func TestFetchInboundTwilioRedirects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rec := &recorder{}
	internet := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Header.Get("X-Test-Host")
		rec.add(r, host)
		switch {
		case host == "api.twilio.com" && strings.HasSuffix(r.URL.Path, "/ME-cdn"):
			if !basicAuthOK(r) {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "https://mms.twiliocdn.com/"+testSID+"/abc123?Expires=1&Signature=x", http.StatusTemporaryRedirect)
		case host == "api.twilio.com" && strings.HasSuffix(r.URL.Path, "/ME-s3"):
			http.Redirect(w, r, "https://s3-external-1.amazonaws.com/media.twiliocdn.com/"+testSID+"/def456", http.StatusFound)
		case host == "api.twilio.com" && strings.HasSuffix(r.URL.Path, "/ME-evil"):
			http.Redirect(w, r, "https://attacker.example/collect", http.StatusFound)
		case host == "api.twilio.com" && strings.HasSuffix(r.URL.Path, "/ME-relative"):
			http.Redirect(w, r, "/2010-04-01/Accounts/"+testSID+"/Messages/MM1/Media/ME-cdn", http.StatusFound)
		case host == "api.twilio.com" && strings.HasSuffix(r.URL.Path, "/ME-plain"):
			http.Redirect(w, r, "http://media.twiliocdn.com/"+testSID+"/x", http.StatusFound)
		case host == "api.twilio.com" && strings.HasSuffix(r.URL.Path, "/ME-loop"):
			http.Redirect(w, r, r.URL.Path, http.StatusFound)
		case host == "mms.twiliocdn.com" || host == "s3-external-1.amazonaws.com":
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write(jpegBytes)
		default:
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer internet.Close()
	s := f.newService("")
	s.HTTPClient = &http.Client{Transport: hostRewriter{internet}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	base := "https://api.twilio.com/2010-04-01/Accounts/" + testSID + "/Messages/MM1/Media/"
	for _, tc := range []struct {
		me      string
		stored  bool
		errPart string
	}{
		{"ME-cdn", true, ""},
		{"ME-s3", true, ""},
		{"ME-relative", true, ""},
		{"ME-evil", false, "not a Twilio media address"},
		{"ME-plain", false, "not a Twilio media address"},
		{"ME-loop", false, "too many times"},
	} {
		id := f.inbound(base + tc.me)
		if err := s.FetchInbound(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		e := f.entries(id)[0]
		if (e.FileID != 0) != tc.stored || (tc.errPart != "" && !strings.Contains(e.FetchError, tc.errPart)) {
			t.Errorf("%s: entry %+v", tc.me, e)
		}
	}
	for _, h := range rec.all() {
		switch {
		case h.host == "api.twilio.com" && h.auth == "":
			t.Errorf("api.twilio.com asked without credentials: %+v", h)
		case h.host != "api.twilio.com" && h.auth != "":
			t.Errorf("credentials sent to %s", h.host)
		case h.host == "attacker.example" || h.host == "media.twiliocdn.com":
			t.Errorf("refused host contacted: %+v", h)
		}
	}
}

// fakeResolver answers every name with the same addresses.
type fakeResolver []netip.Addr

func (r fakeResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return r, nil
}

// A Twilio host name resolving to a private address (DNS rebinding, a
// poisoned resolver) is refused at dial time; the simulator's loopback
// address is not.
func TestDialGuardRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.newService("")
	s.resolver = fakeResolver{netip.MustParseAddr("127.0.0.1")}
	id := f.inbound("https://api.twilio.com/2010-04-01/Accounts/" + testSID + "/Messages/MM1/Media/ME1")
	if err := s.FetchInbound(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if e := f.entries(id)[0]; e.FileID != 0 || !strings.Contains(e.FetchError, "private network") {
		t.Errorf("entry %+v, want refused as private", e)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ctx := context.Background()
	g := &dialGuard{allow: ln.Addr().String(), resolver: fakeResolver{netip.MustParseAddr("10.0.0.7"), netip.MustParseAddr("54.172.60.1")},
		dialer: &net.Dialer{Timeout: time.Second, Control: controlPublicOnly}}
	if c, err := g.DialContext(ctx, "tcp", ln.Addr().String()); err != nil {
		t.Errorf("simulator address refused: %v", err)
	} else {
		c.Close()
	}
	for _, addr := range []string{"api.twilio.com:443", "127.0.0.1:443", "[::1]:443", "169.254.169.254:80"} {
		if _, err := g.DialContext(ctx, "tcp", addr); !errors.Is(err, errPrivateAddress) {
			t.Errorf("dial %s: %v, want refused", addr, err)
		}
	}
}

// Files beyond 16 MB are refused while reading, announced or not.
func TestFetchInboundSizeLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		if strings.HasSuffix(r.URL.Path, "/announced") {
			w.Header().Set("Content-Length", fmt.Sprint(InboundMaxBytes+1))
		}
		// Streamed without a length: the reader must stop on its own.
		chunk := bytes.Repeat([]byte{0}, 1<<20)
		copy(chunk, mp4Bytes)
		for range 20 {
			n, err := w.Write(chunk)
			served.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	s := f.newService(srv.URL)
	for _, p := range []string{"/streamed", "/announced"} {
		id := f.inbound(srv.URL + p)
		if err := s.FetchInbound(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		if e := f.entries(id)[0]; e.FileID != 0 || !strings.Contains(e.FetchError, "larger than 16 MB") {
			t.Errorf("%s: entry %+v", p, e)
		}
	}
}

// A page instead of a file is not kept; a generic type is settled by the
// bytes, then by the webhook's declared type.
func TestFetchInboundContentTypes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/html":
			w.Header().Set("Content-Type", "image/jpeg") // lies
			w.Write(htmlBytes)
		case "/octet":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(pdfBytes)
		case "/vcard":
			w.Header().Set("Content-Type", "text/x-vcard")
			w.Write(vcard)
		}
	}))
	defer srv.Close()
	s := f.newService(srv.URL)
	for _, tc := range []struct{ path, ct, errPart string }{
		{"/html", "", "web pages"},
		{"/octet", "application/pdf", ""},
		{"/vcard", "text/vcard", ""},
	} {
		id := f.inbound(srv.URL + tc.path)
		if err := s.FetchInbound(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		e := f.entries(id)[0]
		if tc.errPart != "" {
			if e.FileID != 0 || !strings.Contains(e.FetchError, tc.errPart) {
				t.Errorf("%s: entry %+v", tc.path, e)
			}
			continue
		}
		if e.FileID == 0 || e.ContentType != tc.ct {
			t.Errorf("%s: entry %+v, want stored as %s", tc.path, e, tc.ct)
		}
	}
}

// Failures that may pass are retried at once, then later with backoff, and
// given up on after maxAttempts with the reason in words.
func TestFetchInboundTransientFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch r.URL.Path {
		case "/propagating": // Twilio's first seconds: 404, then the file
			if n == 1 {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write(jpegBytes)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	s := f.newService(srv.URL)
	s.retryDelays = []time.Duration{time.Millisecond}
	ctx := context.Background()

	id := f.inbound(srv.URL + "/propagating")
	if err := s.FetchInbound(ctx, id); err != nil {
		t.Fatal(err)
	}
	if e := f.entries(id)[0]; e.FileID == 0 {
		t.Fatalf("not stored after a quick retry: %+v", e)
	}

	calls.Store(0)
	id = f.inbound(srv.URL + "/down")
	if err := s.FetchInbound(ctx, id); err != nil {
		t.Fatal(err)
	}
	e := f.entries(id)[0]
	if e.FileID != 0 || e.FetchError != "" || e.FetchAttempts != 1 || e.FetchAfter == nil || time.Until(*e.FetchAfter) < 30*time.Second {
		t.Fatalf("after one failed round: %+v", e)
	}
	if calls.Load() != 2 {
		t.Errorf("%d requests in the first round, want 2 (one quick retry)", calls.Load())
	}
	// Not due yet: neither fetched nor swept.
	if err := s.FetchInbound(ctx, id); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 {
		t.Error("fetched again before its backoff ended")
	}
	if ids, _ := f.db.InboundMediaPending(ctx, 0, time.Hour, 10); len(ids) != 0 {
		t.Errorf("swept before its backoff ended: %v", ids)
	}
	past := time.Now().Add(-time.Second)
	for round := 2; round <= maxAttempts; round++ {
		if err := f.db.InTx(ctx, func(tx pgx.Tx) error {
			return db.UpdateMediaEntryTx(ctx, tx, id, 0, db.MediaEntryUpdate{FetchAfter: &past})
		}); err != nil {
			t.Fatal(err)
		}
		if ids, _ := f.db.InboundMediaPending(ctx, 0, time.Hour, 10); len(ids) != 1 || ids[0] != id {
			t.Fatalf("round %d: due message not swept: %v", round, ids)
		}
		if err := s.FetchInbound(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	e = f.entries(id)[0]
	if e.FileID != 0 || !strings.Contains(e.FetchError, fmt.Sprintf("tried %d times", maxAttempts)) || !strings.Contains(e.FetchError, "busy or unavailable") {
		t.Errorf("after %d rounds: %+v", maxAttempts, e)
	}
	if ids, _ := f.db.InboundMediaPending(ctx, 0, time.Hour, 10); len(ids) != 0 {
		t.Errorf("given-up message still swept: %v", ids)
	}
}

// Run fetches what Enqueue asks for and, by its sweep, what nobody asked
// for (a crash between storing the message and queueing it).
func TestRunQueueAndSweep(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(jpegBytes)
	}))
	defer srv.Close()
	s := f.newService(srv.URL)
	s.sweepEvery, s.settle = 50*time.Millisecond, time.Nanosecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	queued := f.inbound(srv.URL + "/a")
	s.Enqueue(queued)
	s.Enqueue(queued) // twice: fetched once
	forgotten := f.inbound(srv.URL+"/b", srv.URL+"/c")
	go s.Run(ctx)

	deadline := time.Now().Add(20 * time.Second)
	for {
		a, b := f.entries(queued), f.entries(forgotten)
		if a[0].FileID != 0 && b[0].FileID != 0 && b[1].FileID != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not fetched: %+v %+v", a, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An upload abandoned for a day is removed by the sweep; attached ones stay.
func TestDeleteUnattachedUploads(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	s := f.newService("")
	md, err := s.Upload(ctx, 0, ChannelWhatsApp, "a.jpg", "image/jpeg", bytes.NewReader(jpegBytes))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.db.DeleteUnattachedUploads(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("deleted a fresh upload: %d %v", n, err)
	}
	if _, err := f.db.Pool.Exec(ctx, `UPDATE media_files SET created_at = now() - interval '2 days'`); err != nil {
		t.Fatal(err)
	}
	if n, err := f.db.DeleteUnattachedUploads(ctx, 24*time.Hour); err != nil || n != 1 {
		t.Fatalf("deleted %d (%v), want 1", n, err)
	}
	if _, err := f.db.MediaFileByID(ctx, md.FileID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("file still there: %v", err)
	}
}
