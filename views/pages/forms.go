// Package pages holds one templ component per page, rendered whole for a
// plain request and as its content fragment for htmx.
package pages

import (
	"net/url"
	"strconv"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/templates"
)

// LoginForm is the sign-in form with what was typed and what went wrong.
type LoginForm struct {
	Email string
	Error string
	Next  string
}

// ComposeForm is the new-message form.
type ComposeForm struct {
	To, Channel, Body string
	SenderID          int64
	Strategy          string // "" (automatic), "lru", "department"
	Purpose           string // policy.PurposeTransactional (school business) or PurposeMarketing
	Choice            string // which sender will send, and why
	Senders           []db.Sender
	Errors            map[string]string
	// Templates offered (approved), the chosen one and its variables.
	Templates       []TemplateOption
	TemplateID      int64
	TemplateVars    []TemplateVar
	TemplateContent templates.Content
}

func composeValues(f ComposeForm) map[string]string {
	out := map[string]string{}
	for _, v := range f.TemplateVars {
		if v.Value != "" {
			out[v.Num] = v.Value
		}
	}
	return out
}

// ReplyForm is the composer under a conversation.
type ReplyForm struct {
	ConversationID int64
	Channel        string
	Body           string
	Error          string
	SenderID       int64
	Senders        []db.Sender
	SenderError    string
	MediaError     string
	// Blocked says why nothing can be typed (window closed, opted out,
	// sender offline); BlockedKind is "window", "optout" or "sender".
	Blocked     string
	BlockedKind string
}

// NoteForm adds an internal note.
type NoteForm struct {
	ConversationID int64
	Body, Error    string
}

// SimulatorForm is the "reply as a parent" form.
type SimulatorForm struct {
	From, To, Body, ProfileName string
	Errors                      map[string]string
	Sent                        string
	Senders                     []db.Sender
	Recent                      []db.Conversation
}

func idString(id int64) string { return strconv.FormatInt(id, 10) }

func describedBy(id string, errs map[string]string, key string, hint bool) string {
	out := ""
	if hint {
		out = id + "-hint"
	}
	if errs[key] != "" {
		if out != "" {
			out += " "
		}
		out += id + "-error"
	}
	return out
}

func windowLeft(w policy.Window) string {
	h := int(w.Remaining.Hours())
	m := int(w.Remaining.Minutes()) % 60
	if h > 0 {
		return strconv.Itoa(h) + " h " + strconv.Itoa(m) + " min"
	}
	return strconv.Itoa(m) + " min"
}

func simulatorLink(c db.Conversation) string {
	return "/simulator?from=" + url.QueryEscape(c.Contact.Phone) + "&to=" + strconv.FormatInt(c.Sender.ID, 10)
}

// boolText renders a boolean ARIA state; a bare attribute would read as false.
func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// hasMessagingService reports whether any of the senders is a Twilio
// Messaging Service, which makes "Messaging Service" worth offering.
func hasMessagingService(senders []db.Sender) bool {
	for _, s := range senders {
		if s.MessagingServiceSID != "" {
			return true
		}
	}
	return false
}
