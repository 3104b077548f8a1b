package twiliosim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// File is an attachment a simulated parent sends.
type File struct {
	Name, ContentType string // ContentType "" is sniffed from Data
	Data              []byte
}

// MediaItem is a file the simulator holds for a message, served at URL (basic auth, as the
// REST API). Inbound: one of the InboundMessage's Files. Outbound: what the simulator fetched
// from the message's MediaUrl (SourceURL), as Twilio does before sending.
type MediaItem struct {
	SID       string // "ME…"
	URL       string // where the simulator serves it; "" when no base URL is known
	SourceURL string // outbound: the MediaUrl it came from
	File
}

// Twilio's codes for media it cannot use (sent as the failed status's ErrorCode).
const (
	// errHTTPRetrieval: the MediaUrl could not be fetched (SMS/MMS).
	errHTTPRetrieval = 11200
	// errContentType: no or an unsupported Content-Type at the MediaUrl (SMS/MMS).
	errContentType = 12300
	// errMediaTooLarge: more than 5 MB (MMS) or 16 MB (WhatsApp).
	errMediaTooLarge = 11751
	// errWAMediaFetch: "Twilio failed to download the media from the sender" (WhatsApp).
	errWAMediaFetch = 63019
	// errWAContent: a media type WhatsApp does not support.
	errWAContent = 63021
)

const (
	mmsMaxBytes      = 5_000_000
	whatsAppMaxBytes = 16_000_000
	waImageMaxBytes  = 5_000_000
	maxInboundUpload = 32 << 20
)

// Media types Twilio accepts ("Accepted content types for media"; WhatsApp's own list).
var (
	mmsTypes = set("image/jpeg", "image/jpg", "image/gif", "image/png", "image/bmp", "image/tiff", "image/heic", "image/heif",
		"audio/basic", "audio/l24", "audio/mp4", "audio/mpeg", "audio/ogg", "audio/vnd.wave", "audio/3gpp", "audio/3gpp2",
		"audio/ac3", "audio/webm", "audio/amr-nb", "audio/amr", "audio/aac",
		"video/mpeg", "video/mp4", "video/quicktime", "video/webm", "video/3gpp", "video/3gpp2", "video/3gpp-tt",
		"video/h261", "video/h263", "video/h263-1998", "video/h263-2000", "video/h264",
		"text/vcard", "text/x-vcard", "text/csv", "text/rtf", "text/richtext", "text/calendar", "text/directory",
		"application/pdf", "application/vcard", "application/vnd.apple.pkpass", "application/msword",
		"application/vnd.ms-excel", "application/vnd.ms-powerpoint",
		"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
		"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		"application/vnd.openxmlformats-officedocument.presentationml.presentation")
	whatsAppTypes = set("image/jpeg", "image/jpg", "image/png", "image/webp",
		"audio/ogg", "audio/amr", "audio/3gpp", "audio/aac", "audio/mpeg", "audio/mp4",
		"video/mp4", "video/3gpp", "text/vcard", "text/x-vcard",
		"application/pdf", "application/msword",
		"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
		"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		"application/vnd.openxmlformats-officedocument.presentationml.presentation")
)

func set(items ...string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, it := range items {
		m[it] = true
	}
	return m
}

func (s *Sim) registerMedia(mux *http.ServeMux) {
	mux.HandleFunc("GET /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{MediaSid}", s.rest(s.handleMedia))
}

// SetBaseURL sets the simulator's own address, the base of inbound files' media URLs.
func (s *Sim) SetBaseURL(u string) {
	s.mu.Lock()
	s.baseURL = strings.TrimRight(u, "/")
	s.mu.Unlock()
}

// BaseURL returns the simulator's own address, "" if unknown.
func (s *Sim) BaseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// requestBase is the address a request reached the simulator at.
func requestBase(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// mediaPath is a media file's path, as in Twilio's MediaUrl.
func mediaPath(acct, messageSID, mediaSID string) string {
	return messagePath(acct, messageSID) + "/Media/" + mediaSID
}

// holdFiles gives each of m.Files a media SID and URL under message sid and appends the URLs
// (and types) to m's media for the webhook.
func (s *Sim) holdFiles(sid string, m *InboundMessage) ([]MediaItem, error) {
	if len(m.Files) == 0 {
		return nil, nil
	}
	base := s.BaseURL()
	if base == "" {
		return nil, errors.New("twiliosim: inbound files need the simulator's base URL (Config.BaseURL or SetBaseURL)")
	}
	if n := len(m.MediaURLs) + len(m.Files); n > 10 {
		return nil, fmt.Errorf("twiliosim: %d media in one message; Twilio delivers at most 10", n)
	}
	urls := append([]string(nil), m.MediaURLs...)
	types := make([]string, len(urls), len(urls)+len(m.Files))
	copy(types, m.MediaTypes)
	for i := range types {
		if types[i] == "" {
			types[i] = guessType(urls[i])
		}
	}
	items := make([]MediaItem, 0, len(m.Files))
	for _, f := range m.Files {
		f.Data = append([]byte(nil), f.Data...)
		if f.ContentType == "" {
			f.ContentType = sniff(f.Data)
		}
		me := newSID("ME")
		u := base + mediaPath(s.cfg.AccountSID, sid, me)
		items = append(items, MediaItem{SID: me, URL: u, File: f})
		urls = append(urls, u)
		types = append(types, f.ContentType)
	}
	m.MediaURLs, m.MediaTypes = urls, types
	return items, nil
}

// formFiles reads the files of a multipart form, in any field.
func formFiles(r *http.Request) ([]File, error) {
	if r.MultipartForm == nil {
		return nil, nil
	}
	var out []File
	for _, headers := range r.MultipartForm.File {
		for _, h := range headers {
			if h.Size == 0 && h.Filename == "" {
				continue // an empty file input
			}
			f, err := h.Open()
			if err != nil {
				return nil, err
			}
			data, err := io.ReadAll(f)
			_ = f.Close()
			if err != nil {
				return nil, err
			}
			ct, _, _ := mime.ParseMediaType(h.Header.Get("Content-Type"))
			if ct == "" || ct == "application/octet-stream" {
				ct = sniff(data)
			}
			out = append(out, File{Name: h.Filename, ContentType: ct, Data: data})
		}
	}
	return out, nil
}

func sniff(data []byte) string {
	ct, _, _ := mime.ParseMediaType(http.DetectContentType(data))
	return ct
}

// mediaResource is the Media resource of twilio_api_v2010.json.
type mediaResource struct {
	AccountSID  string `json:"account_sid"`
	ContentType string `json:"content_type"`
	DateCreated string `json:"date_created"`
	DateUpdated string `json:"date_updated"`
	ParentSID   string `json:"parent_sid"`
	SID         string `json:"sid"`
	URI         string `json:"uri"`
}

// handleMedia serves a held file (binary; ".json" for its JSON resource). Twilio redirects to
// its CDN here; the simulator answers directly.
func (s *Sim) handleMedia(w http.ResponseWriter, r *http.Request) {
	msgSID, file := r.PathValue("MessageSid"), r.PathValue("MediaSid")
	meSID, asJSON := strings.CutSuffix(file, ".json")
	s.mu.Lock()
	var item *MediaItem
	var msg *Message
	if m := s.bySID[msgSID]; m != nil {
		for i := range m.Media {
			if m.Media[i].SID == meSID {
				it := m.Media[i]
				item, msg = &it, m
			}
		}
	}
	var created string
	if msg != nil {
		created = rfc2822(msg.DateCreated)
	}
	s.mu.Unlock()
	if item == nil {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	if asJSON {
		writeJSON(w, http.StatusOK, mediaResource{
			AccountSID: s.cfg.AccountSID, ContentType: item.ContentType, DateCreated: created, DateUpdated: created,
			ParentSID: msgSID, SID: meSID, URI: mediaPath(s.cfg.AccountSID, msgSID, meSID) + ".json",
		})
		return
	}
	w.Header().Set("Content-Type", item.ContentType)
	if item.Name != "" {
		w.Header().Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": item.Name}))
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(item.Data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(item.Data)
}

// fetchMedia does what Twilio does with an outbound message's MediaUrls before sending it:
// fetches each (WhatsApp: the first only; it carries one), checks type and size, and keeps
// the files on the message. It returns p, or when a file is unusable a plan ending failed
// with Twilio's code: 63019/11200 unreachable or empty, 63021/12300 bad type, 11751 too large.
func (s *Sim) fetchMedia(ctx context.Context, m *Message, p plan) plan {
	s.mu.Lock()
	urls := append([]string(nil), m.MediaURLs...)
	wa := isWhatsApp(m.To)
	s.mu.Unlock()
	if len(urls) == 0 {
		return p
	}
	if wa {
		urls = urls[:1]
	}
	var items []MediaItem
	var total int64
	for _, u := range urls {
		item, code := s.fetchOne(ctx, u, wa)
		if code == 0 {
			total += int64(len(item.Data))
			if (wa && total > whatsAppMaxBytes) || (!wa && total > mmsMaxBytes) {
				code = errMediaTooLarge
			}
		}
		if code != 0 {
			s.logf("twiliosim: %s media %s unusable: error %d", m.SID, u, code)
			return failedPlan(code)
		}
		items = append(items, item)
	}
	base := s.BaseURL()
	s.mu.Lock()
	for i := range items {
		if base != "" {
			items[i].URL = base + mediaPath(m.AccountSID, m.SID, items[i].SID)
		}
	}
	m.Media = items
	s.mu.Unlock()
	return p
}

func failedPlan(code int) plan {
	return plan{steps: []step{{"queued", 0}, {"failed", code}}, order: []int{0, 1}, dup: []bool{false, false}}
}

// fetchOne fetches one MediaUrl as Twilio would: a HEAD, then a GET.
func (s *Sim) fetchOne(ctx context.Context, u string, wa bool) (MediaItem, int) {
	unreachable, badType := errHTTPRetrieval, errContentType
	if wa {
		unreachable, badType = errWAMediaFetch, errWAContent
	}
	if req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil); err == nil {
		if res, err := s.client.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode >= 300 {
				s.logf("twiliosim: HEAD %s: HTTP %d", u, res.StatusCode)
			}
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return MediaItem{}, unreachable
	}
	req.Header.Set("User-Agent", callbackUA)
	res, err := s.client.Do(req)
	if err != nil {
		return MediaItem{}, unreachable
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return MediaItem{}, unreachable
	}
	ct, _, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
	ct = strings.ToLower(ct)
	if err != nil || ct == "" {
		return MediaItem{}, badType
	}
	if (wa && !whatsAppTypes[ct]) || (!wa && !mmsTypes[ct]) {
		return MediaItem{}, badType
	}
	limit := int64(mmsMaxBytes)
	if wa {
		limit = whatsAppMaxBytes
		if strings.HasPrefix(ct, "image/") {
			limit = waImageMaxBytes
		}
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	switch {
	case err != nil, len(data) == 0:
		return MediaItem{}, unreachable
	case int64(len(data)) > limit:
		return MediaItem{}, errMediaTooLarge
	}
	// The header must say what the bytes are: an image served as another image type, or a
	// page served as anything, is refused.
	if got := sniff(data); got == "text/html" || (strings.HasPrefix(got, "image/") && strings.HasPrefix(ct, "image/") &&
		got != ct && !(ct == "image/jpg" && got == "image/jpeg")) {
		return MediaItem{}, badType
	}
	item := MediaItem{SID: newSID("ME"), SourceURL: u, File: File{ContentType: ct, Data: data}}
	if _, params, err := mime.ParseMediaType(res.Header.Get("Content-Disposition")); err == nil {
		item.Name = params["filename"]
	}
	return item, 0
}
