package twiliosim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var (
	pngData  = append([]byte("\x89PNG\x0D\x0A\x1A\x0A\x00\x00\x00\x0DIHDR"), bytes.Repeat([]byte{1}, 100)...)
	pdfData  = []byte("%PDF-1.4\n% a permission slip\n")
	mediaURL = regexp.MustCompile(`^http://127\.0\.0\.1:\d+/2010-04-01/Accounts/` + testAccount + `/Messages/(MM[0-9a-f]{32})/Media/(ME[0-9a-f]{32})$`)
)

// getMedia fetches a media URL, with or without the REST credentials.
func getMedia(t *testing.T, u string, auth bool) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth {
		req.SetBasicAuth(testAccount, testToken)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// A parent's files arrive as MediaUrlN on the simulator, served with basic auth.
func TestInboundFiles(t *testing.T) {
	h := newHook(t, testToken)
	s, srv := newTestSim(t, Config{InboundURL: h.url()})
	if _, _, err := s.Inbound(context.Background(), InboundMessage{From: "whatsapp:+15553330000", To: "whatsapp:+15550009999",
		Files: []File{{Name: "slip.png", Data: pngData}}}); err == nil {
		t.Fatal("files accepted without a base URL")
	}
	s.SetBaseURL(srv.URL + "/")

	sid, status, err := s.Inbound(context.Background(), InboundMessage{
		From: "whatsapp:+15553330000", To: "whatsapp:+15550009999", Body: "Signed slip and photo",
		MediaURLs: []string{"https://media.example/x.jpg"},
		Files:     []File{{Name: "slip.pdf", ContentType: "application/pdf", Data: pdfData}, {Name: "photo.png", Data: pngData}},
	})
	if err != nil || status != http.StatusOK || !strings.HasPrefix(sid, "MM") {
		t.Fatalf("Inbound: %s %d %v", sid, status, err)
	}
	got, _ := h.snapshot()
	f := got[len(got)-1]
	if f.Get("NumMedia") != "3" || f.Get("MediaUrl0") != "https://media.example/x.jpg" || f.Get("MediaContentType0") != "image/jpeg" ||
		f.Get("MediaContentType1") != "application/pdf" || f.Get("MediaContentType2") != "image/png" {
		t.Fatalf("webhook %v", f)
	}
	for i, want := range [][]byte{pdfData, pngData} {
		u := f.Get("MediaUrl" + string(rune('1'+i)))
		m := mediaURL.FindStringSubmatch(u)
		if m == nil || m[1] != sid {
			t.Fatalf("MediaUrl%d = %q", i+1, u)
		}
		if res, _ := getMedia(t, u, false); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("without auth: HTTP %d", res.StatusCode)
		}
		res, body := getMedia(t, u, true)
		if res.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Errorf("MediaUrl%d: HTTP %d, %d bytes", i+1, res.StatusCode, len(body))
		}
		if i == 0 && (res.Header.Get("Content-Type") != "application/pdf" || !strings.Contains(res.Header.Get("Content-Disposition"), `filename=slip.pdf`)) {
			t.Errorf("headers %v", res.Header)
		}
		res, body = getMedia(t, u+".json", true)
		var r mediaResource
		if res.StatusCode != 200 || json.Unmarshal(body, &r) != nil || r.ParentSID != sid || r.SID != m[2] || r.AccountSID != testAccount {
			t.Errorf("JSON resource: HTTP %d %s", res.StatusCode, body)
		}
	}
	if res, _ := getMedia(t, srv.URL+mediaPath(testAccount, sid, "ME00000000000000000000000000000000"), true); res.StatusCode != 404 {
		t.Errorf("unknown media: HTTP %d", res.StatusCode)
	}
	var stored Message
	for _, m := range s.Messages() {
		if m.SID == sid {
			stored = m
		}
	}
	if len(stored.Media) != 2 || stored.Media[1].Name != "photo.png" || stored.Media[1].ContentType != "image/png" || len(stored.MediaURLs) != 3 {
		t.Errorf("stored %+v", stored)
	}
}

// POST /sim/inbound takes files as multipart or base64 JSON and learns the
// simulator's address from the request.
func TestSimInboundFiles(t *testing.T) {
	h := newHook(t, testToken)
	s, srv := newTestSim(t, Config{InboundURL: h.url()})

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range map[string]string{"From": "+15553330000", "To": "+15550009999", "Body": "see attached"} {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("File", "slip.pdf")
	fw.Write(pdfData)
	mw.Close()
	res, err := http.Post(srv.URL+"/sim/inbound", mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("multipart: HTTP %d", res.StatusCode)
	}
	if s.BaseURL() != srv.URL {
		t.Errorf("base URL %q, want %q", s.BaseURL(), srv.URL)
	}

	body, _ := json.Marshal(map[string]any{"From": "+15553330000", "To": "+15550009999",
		"Files": []map[string]any{{"Name": "p.png", "Data": pngData}}})
	res, err = http.Post(srv.URL+"/sim/inbound", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("json: HTTP %d", res.StatusCode)
	}
	got, _ := h.snapshot()
	if len(got) != 2 || got[0].Get("MediaContentType0") != "application/pdf" || got[1].Get("MediaContentType0") != "image/png" {
		t.Fatalf("webhooks %v", got)
	}
	for i, want := range [][]byte{pdfData, pngData} {
		if res, b := getMedia(t, got[i].Get("MediaUrl0"), true); res.StatusCode != 200 || !bytes.Equal(b, want) {
			t.Errorf("file %d: HTTP %d", i, res.StatusCode)
		}
	}
}

// fileServer serves test files by path and counts requests by method.
type fileServer struct {
	*httptest.Server
	mu    sync.Mutex
	count map[string]int
}

func newFileServer(t *testing.T) *fileServer {
	fs := &fileServer{count: map[string]int{}}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		fs.count[r.Method]++
		fs.mu.Unlock()
		switch r.URL.Path {
		case "/slip.png":
			w.Header().Set("Content-Type", "image/png")
			w.Header().Set("Content-Disposition", `inline; filename="slip.png"`)
			w.Write(pngData)
		case "/slip.pdf":
			w.Header().Set("Content-Type", "application/pdf")
			w.Write(pdfData)
		case "/page":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html>login</html>"))
		case "/lying.png":
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte("<!DOCTYPE html><html></html>"))
		case "/no-type":
			w.Header()["Content-Type"] = nil
			w.Write(pdfData)
		case "/huge.jpg":
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write(append([]byte("\xFF\xD8\xFF"), make([]byte, waImageMaxBytes)...))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(fs.Close)
	return fs
}

// An outbound message's MediaUrls are fetched before it is sent; the files
// are kept on the message, and unusable ones fail it with Twilio's codes.
func TestOutboundMediaFetched(t *testing.T) {
	h := newHook(t, testToken)
	s, srv := newTestSim(t, Config{})
	s.SetBaseURL(srv.URL)
	files := newFileServer(t)

	sid := mustCreate(t, srv, form("To", "whatsapp:+15553331111", "From", "whatsapp:+15550009999",
		"MediaUrl", files.URL+"/slip.png", "StatusCallback", h.url()))
	m := waitStored(t, s, sid, "read")
	if len(m.Media) != 1 || !bytes.Equal(m.Media[0].Data, pngData) || m.Media[0].ContentType != "image/png" ||
		m.Media[0].Name != "slip.png" || m.Media[0].SourceURL != files.URL+"/slip.png" {
		t.Fatalf("kept media %+v", m.Media)
	}
	if res, b := getMedia(t, m.Media[0].URL, true); res.StatusCode != 200 || !bytes.Equal(b, pngData) {
		t.Errorf("served again: HTTP %d", res.StatusCode)
	}
	files.mu.Lock()
	heads, gets := files.count[http.MethodHead], files.count[http.MethodGet]
	files.mu.Unlock()
	if heads != 1 || gets != 1 {
		t.Errorf("fetched with %d HEAD and %d GET, want 1 and 1", heads, gets)
	}

	// MMS carries several files.
	sid = mustCreate(t, srv, form("To", "+15553331111", "From", "+15550009999", "Body", "two",
		"MediaUrl", files.URL+"/slip.png", "MediaUrl", files.URL+"/slip.pdf"))
	if m := waitStored(t, s, sid, "delivered"); len(m.Media) != 2 || m.Media[1].ContentType != "application/pdf" {
		t.Errorf("MMS media %+v", m.Media)
	}

	for _, tc := range []struct {
		to, path string
		code     int
	}{
		{"whatsapp:+15553331111", "/missing.png", errWAMediaFetch},
		{"+15553331111", "/missing.png", errHTTPRetrieval},
		{"+15553331111", "/page", errContentType},
		{"whatsapp:+15553331111", "/page", errWAContent},
		{"+15553331111", "/lying.png", errContentType},
		{"+15553331111", "/no-type", errContentType},
		{"whatsapp:+15553331111", "/huge.jpg", errMediaTooLarge},
		{"+15553331111", "/huge.jpg", errMediaTooLarge},
		{"whatsapp:+15553331111", "http://127.0.0.1:1/unreachable", errWAMediaFetch},
	} {
		u := tc.path
		if strings.HasPrefix(u, "/") {
			u = files.URL + u
		}
		from := "+15550009999"
		if isWhatsApp(tc.to) {
			from = "whatsapp:" + from
		}
		sid := mustCreate(t, srv, form("To", tc.to, "From", from, "MediaUrl", u, "StatusCallback", h.url()))
		m := waitStored(t, s, sid, "failed")
		if m.ErrorCode != tc.code || m.ErrorMessage == "" || len(m.Media) != 0 {
			t.Errorf("%s %s: failed with %d %q, want %d", tc.to, tc.path, m.ErrorCode, m.ErrorMessage, tc.code)
		}
		statuses, forms := h.waitStatuses(t, sid, 2)
		if statuses[len(statuses)-1] != "failed" || forms[len(forms)-1].Get("ErrorCode") != itoa(tc.code) {
			t.Errorf("%s %s: callbacks %v", tc.to, tc.path, statuses)
		}
	}
}
