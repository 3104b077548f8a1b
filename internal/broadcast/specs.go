// Package broadcast is the broadcast engine: it turns an audience into one
// row per recipient, sends each exactly once through River jobs in
// PostgreSQL, retries what may be retried, reconciles sends a crash left in
// doubt by asking Twilio, and derives every counter from the recipient rows.
//
// A recipient's state machine (db.Recipient.State):
//
//	pending ──claim──▶ sending ──Twilio answered──▶ submitted ─▶ (delivery status on the message,
//	   ▲                 │                                        from status callbacks)
//	   └──429/5xx/net────┤ (5xx and network errors: only after Twilio's list shows no such message)
//	                     └──permanent error / attempts exhausted──▶ failed
//	pending ──broadcast canceled──▶ canceled
//	(prepared) ──no consent, invalid or duplicate number...──▶ skipped (with its reason)
package broadcast

import (
	"encoding/json"
	"fmt"
)

// Channel modes: which channel each recipient gets.
const (
	// ModeWhatsAppThenSMS: WhatsApp where the contact can and may get it, SMS otherwise.
	ModeWhatsAppThenSMS = "whatsapp_then_sms"
	ModeWhatsApp        = "whatsapp"
	ModeSMS             = "sms"
)

// Audience is who a broadcast goes to.
type Audience struct {
	GroupIDs   []int64 `json:"group_ids,omitempty"`
	ContactIDs []int64 `json:"contact_ids,omitempty"`
	// Entries are pasted or uploaded numbers, as typed (parsed at preparation,
	// so a bad one is reported as skipped with its text).
	Entries []Entry `json:"entries,omitempty"`
}

// Entry is one pasted line: a number and maybe a name.
type Entry struct {
	Phone string `json:"phone"`
	Name  string `json:"name,omitempty"`
	Line  int    `json:"line,omitempty"`
}

// Content is what a broadcast says.
type Content struct {
	Mode string `json:"mode"`
	// TemplateID: the approved WhatsApp template; VariableFields maps its
	// variables to contact fields ("1" → "first_name"), VariableValues to fixed text.
	TemplateID     int64             `json:"template_id,omitempty"`
	VariableFields map[string]string `json:"variable_fields,omitempty"`
	VariableValues map[string]string `json:"variable_values,omitempty"`
	// SMSBody is the SMS text with merge fields ({{first_name}}).
	SMSBody      string  `json:"sms_body,omitempty"`
	MediaFileIDs []int64 `json:"media_file_ids,omitempty"`
	// FallbackMinutes > 0 (urgent WhatsApp broadcasts): SMS to those whose
	// WhatsApp message is not delivered (or read, FallbackUnlessRead) by then.
	// A WhatsApp failure falls back at once when FallbackMinutes > 0.
	FallbackMinutes    int  `json:"fallback_minutes,omitempty"`
	FallbackUnlessRead bool `json:"fallback_unless_read,omitempty"`
}

// Sender is which senders a broadcast goes out from.
type Sender struct {
	// Strategy: "department" (the department's default per channel), "pool"
	// (every sendable sender of the department, spread evenly), "specific".
	Strategy         string `json:"strategy"`
	WhatsAppSenderID int64  `json:"whatsapp_sender_id,omitempty"`
	SMSSenderID      int64  `json:"sms_sender_id,omitempty"`
}

// Spec is a broadcast's three parts, decoded.
type Spec struct {
	Audience Audience
	Content  Content
	Sender   Sender
}

func decode(raw []byte, dst any, what string) error {
	if len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("broadcast %s: %w", what, err)
	}
	return nil
}

// DecodeSpec reads a stored broadcast's JSON parts.
func DecodeSpec(audience, content, sender []byte) (Spec, error) {
	var s Spec
	if err := decode(audience, &s.Audience, "audience"); err != nil {
		return s, err
	}
	if err := decode(content, &s.Content, "content"); err != nil {
		return s, err
	}
	if err := decode(sender, &s.Sender, "sender"); err != nil {
		return s, err
	}
	if s.Content.Mode == "" {
		s.Content.Mode = ModeWhatsAppThenSMS
	}
	if s.Sender.Strategy == "" {
		s.Sender.Strategy = "department"
	}
	return s, nil
}

// Encode is the JSON of each part, for storing.
func (s Spec) Encode() (audience, content, sender []byte, err error) {
	if audience, err = json.Marshal(s.Audience); err != nil {
		return
	}
	if content, err = json.Marshal(s.Content); err != nil {
		return
	}
	sender, err = json.Marshal(s.Sender)
	return
}
