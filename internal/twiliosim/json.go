package twiliosim

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

const apiVersion = "2010-04-01"

// twilioError is Twilio's REST error body.
type twilioError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, twilioError{
		Code:     code,
		Message:  msg,
		MoreInfo: fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
		Status:   status,
	})
}

func constantEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// rfc2822 formats t as Twilio does: "Thu, 24 Aug 2023 05:01:45 +0000".
func rfc2822(t time.Time) string { return t.UTC().Format(time.RFC1123Z) }

// messageResource is the Message resource of twilio_api_v2010.json (api.v2010.account.message).
type messageResource struct {
	AccountSID          string            `json:"account_sid"`
	APIVersion          string            `json:"api_version"`
	Body                string            `json:"body"`
	DateCreated         string            `json:"date_created"`
	DateSent            *string           `json:"date_sent"`
	DateUpdated         string            `json:"date_updated"`
	Direction           string            `json:"direction"`
	ErrorCode           *int              `json:"error_code"`
	ErrorMessage        *string           `json:"error_message"`
	From                *string           `json:"from"`
	MessagingServiceSID *string           `json:"messaging_service_sid"`
	NumMedia            string            `json:"num_media"`
	NumSegments         string            `json:"num_segments"`
	Price               *string           `json:"price"`
	PriceUnit           string            `json:"price_unit"`
	SID                 string            `json:"sid"`
	Status              string            `json:"status"`
	SubresourceURIs     map[string]string `json:"subresource_uris"`
	To                  string            `json:"to"`
	URI                 string            `json:"uri"`
}

func messagePath(acct, sid string) string {
	return "/2010-04-01/Accounts/" + acct + "/Messages/" + sid
}

func (m *Message) resource() messageResource {
	r := messageResource{
		AccountSID:  m.AccountSID,
		APIVersion:  apiVersion,
		Body:        m.Body,
		DateCreated: rfc2822(m.DateCreated),
		DateUpdated: rfc2822(m.DateUpdated),
		Direction:   m.Direction,
		NumMedia:    strconv.Itoa(len(m.MediaURLs)),
		NumSegments: strconv.Itoa(m.NumSegments),
		PriceUnit:   "USD",
		SID:         m.SID,
		Status:      m.Status,
		SubresourceURIs: map[string]string{
			"media": messagePath(m.AccountSID, m.SID) + "/Media.json",
		},
		To:  m.To,
		URI: messagePath(m.AccountSID, m.SID) + ".json",
	}
	if !m.DateSent.IsZero() {
		d := rfc2822(m.DateSent)
		r.DateSent = &d
	}
	if m.ErrorCode != 0 {
		c, msg := m.ErrorCode, m.ErrorMessage
		r.ErrorCode, r.ErrorMessage = &c, &msg
	}
	if m.From != "" {
		f := m.From
		r.From = &f
	}
	if m.MessagingServiceSID != "" {
		sid := m.MessagingServiceSID
		r.MessagingServiceSID = &sid
	}
	return r
}
