package twiliosim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// InboundMessage is a message a parent sends to one of our numbers.
type InboundMessage struct {
	From, To              string // "whatsapp:+E164" or "+E164"
	Body, ProfileName     string
	MediaURLs, MediaTypes []string // MediaTypes default from the URL's extension
	// Files are attachments the simulator holds and serves itself: each becomes a MediaUrlN
	// on the simulator's base URL (Config.BaseURL, SetBaseURL), after the MediaURLs.
	Files []File
	Extra map[string]string
}

// SMS consent keywords Twilio's opt-out management acts on for SMS.
var (
	optOutWords = []string{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
	optInWords  = []string{"START", "UNSTOP", "YES"}
)

// Inbound makes m arrive: it records the message (and, for the 24-hour WhatsApp window, the time
// the sender wrote), then POSTs Twilio's signed form webhook to the inbound URL and returns the
// message SID and the webhook's HTTP status. Parameters: MessageSid, SmsMessageSid, SmsSid,
// AccountSid, From, To, Body, NumMedia, NumSegments, SmsStatus=received, ApiVersion, MediaUrlN
// and MediaContentTypeN; for WhatsApp also ProfileName, WaId, MessageType and ReferralNumMedia.
// Extra adds or overrides parameters (e.g. MessagingServiceSid, ButtonPayload).
//
// Like Twilio's opt-out handling, an SMS whose body is exactly a STOP keyword (STOP, STOPALL,
// UNSUBSCRIBE, CANCEL, END, QUIT) opts the sender's address out, one of START, UNSTOP, YES opts it
// back in; such webhooks carry OptOutType (STOP, START). HELP carries OptOutType=HELP.
func (s *Sim) Inbound(ctx context.Context, m InboundMessage) (sid string, status int, err error) {
	if m.From == "" || m.To == "" {
		return "", 0, errors.New("twiliosim: inbound message needs From and To")
	}
	if isWhatsApp(m.From) != isWhatsApp(m.To) {
		return "", 0, errors.New("twiliosim: inbound From and To must be on the same channel")
	}
	s.mu.Lock()
	target := s.inboundURL
	s.mu.Unlock()
	if target == "" {
		return "", 0, errors.New("twiliosim: no inbound URL set")
	}

	wa := isWhatsApp(m.From)
	sid = newSID("SM")
	if len(m.MediaURLs) > 0 || len(m.Files) > 0 {
		sid = newSID("MM")
	}
	held, err := s.holdFiles(sid, &m)
	if err != nil {
		return "", 0, err
	}
	types := make([]string, len(m.MediaURLs))
	for i, u := range m.MediaURLs {
		if i < len(m.MediaTypes) && m.MediaTypes[i] != "" {
			types[i] = m.MediaTypes[i]
		} else {
			types[i] = guessType(u)
		}
	}
	segments := 1
	if !wa {
		segments = smsSegments(m.Body)
	}

	f := url.Values{}
	f.Set("MessageSid", sid)
	f.Set("SmsMessageSid", sid)
	f.Set("SmsSid", sid)
	f.Set("AccountSid", s.cfg.AccountSID)
	f.Set("From", m.From)
	f.Set("To", m.To)
	f.Set("Body", m.Body)
	f.Set("NumMedia", strconv.Itoa(len(m.MediaURLs)))
	f.Set("NumSegments", strconv.Itoa(segments))
	f.Set("SmsStatus", "received")
	f.Set("ApiVersion", apiVersion)
	for i, u := range m.MediaURLs {
		f.Set("MediaUrl"+strconv.Itoa(i), u)
		f.Set("MediaContentType"+strconv.Itoa(i), types[i])
	}
	if wa {
		f.Set("ProfileName", m.ProfileName)
		f.Set("WaId", strings.TrimPrefix(bare(m.From), "+"))
		f.Set("MessageType", messageType(types))
		f.Set("ReferralNumMedia", "0")
	}

	now := s.now().UTC()
	s.mu.Lock()
	if !wa {
		switch word := strings.ToUpper(strings.TrimSpace(m.Body)); {
		case contains(optOutWords, word):
			s.optedOut[m.From] = true
			f.Set("OptOutType", "STOP")
		case contains(optInWords, word):
			delete(s.optedOut, m.From)
			f.Set("OptOutType", "START")
		case word == "HELP" || word == "INFO":
			f.Set("OptOutType", "HELP")
		}
	}
	for k, v := range m.Extra {
		f.Set(k, v)
	}
	s.lastInbound[m.From] = now
	msg := &Message{
		SID:                 sid,
		AccountSID:          s.cfg.AccountSID,
		Direction:           "inbound",
		From:                m.From,
		To:                  m.To,
		Body:                m.Body,
		MessagingServiceSID: f.Get("MessagingServiceSid"),
		MediaURLs:           append([]string(nil), m.MediaURLs...),
		Media:               held,
		Status:              "received",
		NumSegments:         segments,
		DateCreated:         now,
		DateSent:            now,
		DateUpdated:         now,
	}
	s.messages = append(s.messages, msg)
	s.bySID[sid] = msg
	s.mu.Unlock()

	status, err = s.post(ctx, target, f)
	if err != nil {
		return sid, 0, fmt.Errorf("twiliosim: inbound webhook: %w", err)
	}
	return sid, status, nil
}

func contains(list []string, w string) bool {
	for _, x := range list {
		if x == w {
			return true
		}
	}
	return false
}

// guessType returns the media type for a URL's file extension.
func guessType(u string) string {
	p := u
	if pu, err := url.Parse(u); err == nil {
		p = pu.Path
	}
	if t := mime.TypeByExtension(strings.ToLower(path.Ext(p))); t != "" {
		if i := strings.IndexByte(t, ';'); i >= 0 {
			t = t[:i]
		}
		return t
	}
	return "application/octet-stream"
}

// messageType is WhatsApp's MessageType for a message with these media types.
func messageType(types []string) string {
	if len(types) == 0 {
		return "text"
	}
	switch major, _, _ := strings.Cut(types[0], "/"); major {
	case "image", "video", "audio":
		return major
	default:
		return "document"
	}
}

func (s *Sim) registerDev(mux *http.ServeMux) {
	mux.HandleFunc("POST /sim/inbound", s.handleSimInbound)
	mux.HandleFunc("GET /sim/messages", s.handleSimMessages)
}

// stringList decodes a JSON string or array of strings.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		if one != "" {
			*l = []string{one}
		}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*l = many
	return nil
}

func (s *Sim) handleSimInbound(w http.ResponseWriter, r *http.Request) {
	var m InboundMessage
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var in struct {
			From, To, Body, ProfileName string
			MediaURL                    stringList `json:"MediaUrl"`
			MediaContentType            stringList `json:"MediaContentType"`
			Files                       []File     // Data is base64 in JSON
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxInboundUpload)).Decode(&in); err != nil {
			writeError(w, http.StatusBadRequest, 20001, "Invalid JSON: "+err.Error())
			return
		}
		m = InboundMessage{From: in.From, To: in.To, Body: in.Body, ProfileName: in.ProfileName,
			MediaURLs: in.MediaURL, MediaTypes: in.MediaContentType, Files: in.Files}
	} else {
		if ct == "multipart/form-data" {
			r.Body = http.MaxBytesReader(w, r.Body, maxInboundUpload)
			if err := r.ParseMultipartForm(maxInboundUpload); err != nil {
				writeError(w, http.StatusBadRequest, 20001, "Invalid form: "+err.Error())
				return
			}
		} else if err := r.ParseForm(); err != nil {
			writeError(w, http.StatusBadRequest, 20001, "Invalid form: "+err.Error())
			return
		}
		f := r.PostForm
		m = InboundMessage{From: f.Get("From"), To: f.Get("To"), Body: f.Get("Body"),
			ProfileName: f.Get("ProfileName"), MediaURLs: f["MediaUrl"], MediaTypes: f["MediaContentType"]}
		files, err := formFiles(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, 20001, "Invalid file: "+err.Error())
			return
		}
		m.Files = files
	}
	if m.From == "" || m.To == "" {
		writeError(w, http.StatusBadRequest, 21604, "From and To are required.")
		return
	}
	if len(m.Files) > 0 && s.BaseURL() == "" {
		s.SetBaseURL(requestBase(r)) // run alone, the simulator learns its address from its callers
	}
	sid, status, err := s.Inbound(r.Context(), m)
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]any{"sid": sid, "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sid": sid, "webhook_status": status})
}

func (s *Sim) handleSimMessages(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	out := make([]messageResource, 0, len(s.messages))
	for _, m := range s.messages {
		out = append(out, m.resource())
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"messages": out})
}
