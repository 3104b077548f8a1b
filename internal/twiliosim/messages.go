package twiliosim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

func (s *Sim) registerMessages(mux *http.ServeMux) {
	const base = "/2010-04-01/Accounts/{AccountSid}/"
	mux.HandleFunc("POST "+base+"Messages.json", s.rest(s.handleCreateMessage))
	mux.HandleFunc("GET "+base+"Messages.json", s.rest(s.handleListMessages))
	mux.HandleFunc("GET "+base+"Messages/{file}", s.rest(s.handleFetchMessage))
}

// createError is a create-time rejection with Twilio's code.
type createError struct {
	status, code int
	msg          string
}

// validateCreate applies Twilio's create-time rules in Twilio's order.
func (s *Sim) validateCreate(f url.Values) *createError {
	to, from := f.Get("To"), f.Get("From")
	mss := f.Get("MessagingServiceSid")
	switch {
	case to == "":
		return &createError{400, 21604, "A 'To' phone number is required."}
	case !validE164(bare(to)) || (strings.Contains(to, ":") && !isWhatsApp(to)) || strings.HasSuffix(to, "0001"):
		return &createError{400, 21211, fmt.Sprintf("Invalid 'To' Phone Number: %s", to)}
	case from == "" && mss == "":
		return &createError{400, 21603, "A 'From' phone number is required."}
	case f.Get("Body") == "" && len(f["MediaUrl"]) == 0 && f.Get("ContentSid") == "":
		return &createError{400, 21602, "Message body is required."}
	case utf8.RuneCountInString(f.Get("Body")) > 1600:
		return &createError{400, 21617, "The concatenated message body exceeds the 1600 character limit."}
	case from != "" && isWhatsApp(from) != isWhatsApp(to):
		return &createError{400, 21910, "Invalid From and To pair. From and To should be of the same channel"}
	}
	if cv := f.Get("ContentVariables"); cv != "" {
		var m map[string]any
		if json.Unmarshal([]byte(cv), &m) != nil {
			return &createError{400, 21656, "The ContentVariables Parameter is invalid."}
		}
	}
	s.mu.Lock()
	out := s.optedOut[to]
	s.mu.Unlock()
	if out {
		return &createError{400, 21610, "Attempt to send to unsubscribed recipient"}
	}
	return nil
}

func (s *Sim) handleCreateMessage(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, 20001, "Invalid request body")
		return
	}
	f := r.PostForm
	fault := s.createFault()
	switch fault {
	case faultRateLimit:
		writeError(w, http.StatusTooManyRequests, 20429, "Too Many Requests")
		return
	case faultServerError:
		writeError(w, http.StatusInternalServerError, 20500, "Internal Server Error")
		return
	case faultLateCreate:
		time.Sleep(s.cfg.LateCreateDelay) // deliberately deaf to the client hanging up
	case faultReset:
		if dropConnection(w) {
			return
		}
	}
	if e := s.validateCreate(f); e != nil {
		writeError(w, e.status, e.code, e.msg)
		return
	}
	content, e := s.resolveContent(f) // ContentSid and ContentVariables (content.go)
	if e != nil {
		writeError(w, e.status, e.code, e.msg)
		return
	}
	now := s.now().UTC()
	m := &Message{
		SID:                 newSID("SM"),
		AccountSID:          s.cfg.AccountSID,
		Direction:           "outbound-api",
		From:                f.Get("From"),
		To:                  f.Get("To"),
		Body:                f.Get("Body"),
		MessagingServiceSID: f.Get("MessagingServiceSid"),
		ContentSID:          f.Get("ContentSid"),
		ContentVariables:    f.Get("ContentVariables"),
		MediaURLs:           append([]string(nil), f["MediaUrl"]...),
		StatusCallback:      f.Get("StatusCallback"),
		Status:              "queued",
		NumSegments:         1,
		DateCreated:         now,
		DateUpdated:         now,
	}
	if m.From == "" {
		m.Status = "accepted"
	}
	if content != nil {
		m.Body = content.body // the template, rendered
	}
	if !isWhatsApp(m.To) {
		m.NumSegments = smsSegments(m.Body)
	}
	plan := s.templatePlan(s.planFor(m, now), m, content, now)

	s.mu.Lock()
	s.messages = append(s.messages, m)
	s.bySID[m.SID] = m
	res := m.resource()
	s.mu.Unlock()

	s.logf("twiliosim: created %s (%s), plan %s", m.SID, res.Status, plan)
	// Like Twilio, fetch the MediaUrls first: a file that cannot be fetched fails the message.
	s.goAsync(func(ctx context.Context) { s.progress(ctx, m, s.fetchMedia(ctx, m, plan)) })
	if fault == faultLostResponse && dropConnection(w) {
		return
	}
	if fault == faultSlowResponse {
		select {
		case <-time.After(s.cfg.SlowResponseDelay):
		case <-r.Context().Done(): // the client gave up; the message stays created
			return
		}
	}
	writeJSON(w, http.StatusCreated, res)
}

func (s *Sim) handleFetchMessage(w http.ResponseWriter, r *http.Request) {
	sid, ok := strings.CutSuffix(r.PathValue("file"), ".json")
	s.mu.Lock()
	m := s.bySID[sid]
	var res messageResource
	if m != nil {
		res = m.resource()
	}
	s.mu.Unlock()
	if !ok || m == nil {
		writeError(w, http.StatusNotFound, 20404,
			"The requested resource "+r.URL.Path+" was not found")
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// messagePage is Twilio's list page for Messages.
type messagePage struct {
	Messages        []messageResource `json:"messages"`
	End             int               `json:"end"`
	FirstPageURI    string            `json:"first_page_uri"`
	NextPageURI     *string           `json:"next_page_uri"`
	Page            int               `json:"page"`
	PageSize        int               `json:"page_size"`
	PreviousPageURI *string           `json:"previous_page_uri"`
	Start           int               `json:"start"`
	URI             string            `json:"uri"`
}

func (s *Sim) handleListMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pageSize := 50
	if n, err := strconv.Atoi(q.Get("PageSize")); err == nil && n > 0 {
		pageSize = min(n, 1000)
	}
	page := 0
	if n, err := strconv.Atoi(q.Get("Page")); err == nil && n > 0 {
		page = n
	}
	to, from := q.Get("To"), q.Get("From")

	var all []messageResource
	s.mu.Lock()
	for i := len(s.messages) - 1; i >= 0; i-- { // newest first, as Twilio lists
		m := s.messages[i]
		if (to == "" || m.To == to) && (from == "" || m.From == from) {
			all = append(all, m.resource())
		}
	}
	s.mu.Unlock()

	pageURI := func(p int) string {
		v := url.Values{}
		if to != "" {
			v.Set("To", to)
		}
		if from != "" {
			v.Set("From", from)
		}
		v.Set("PageSize", strconv.Itoa(pageSize))
		v.Set("Page", strconv.Itoa(p))
		return "/2010-04-01/Accounts/" + s.cfg.AccountSID + "/Messages.json?" + v.Encode()
	}
	start := min(page*pageSize, len(all))
	end := min(start+pageSize, len(all))
	res := messagePage{
		Messages:     all[start:end],
		Start:        start,
		End:          max(end-1, start),
		FirstPageURI: pageURI(0),
		Page:         page,
		PageSize:     pageSize,
		URI:          pageURI(page),
	}
	if res.Messages == nil {
		res.Messages = []messageResource{}
	}
	if end < len(all) {
		u := pageURI(page + 1)
		res.NextPageURI = &u
	}
	if page > 0 {
		u := pageURI(page - 1)
		res.PreviousPageURI = &u
	}
	writeJSON(w, http.StatusOK, res)
}
