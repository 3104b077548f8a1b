package messaging

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/policy"
)

// Automatic answers to WhatsApp STOP/START/HELP. Twilio answers these
// keywords itself on SMS, but not on WhatsApp, where a parent who writes
// STOP would otherwise hear nothing back.

// Settings keys.
const (
	SettingAutoReplies = "auto_replies"
	SettingSchoolName  = "school_name"
)

// SchoolPlaceholder in an automatic reply is replaced by the school's name when sent.
const SchoolPlaceholder = "{school}"

// DefaultSchoolName stands in until an admin sets the school's name.
const DefaultSchoolName = "the school"

// SchoolNameMax is the longest school name accepted.
const SchoolNameMax = 100

// AutoReplies are the texts sent back on WhatsApp for each keyword; an empty
// text means no answer. They may contain SchoolPlaceholder.
type AutoReplies struct {
	Stop  string `json:"stop"`
	Start string `json:"start"`
	Help  string `json:"help"`
}

// DefaultAutoReplies apply until an admin saves their own.
var DefaultAutoReplies = AutoReplies{
	Stop:  "You will no longer receive messages from {school} on this number. Reply START to subscribe again.",
	Start: "You are subscribed again to messages from {school} on this number. Reply STOP to unsubscribe.",
	Help:  "This is {school}. Write your message here and a member of staff will answer during school hours; in an emergency, please call the school office. Reply STOP to unsubscribe, START to subscribe again.",
}

// For returns the text for a keyword, "" for an ordinary message.
func (a AutoReplies) For(k policy.Keyword) string {
	switch k {
	case policy.KeywordOptOut:
		return a.Stop
	case policy.KeywordOptIn:
		return a.Start
	case policy.KeywordHelp:
		return a.Help
	}
	return ""
}

// ExpandAutoReply fills SchoolPlaceholder in text with the school's name.
func ExpandAutoReply(text, schoolName string) string {
	return strings.ReplaceAll(text, SchoolPlaceholder, schoolName)
}

// storedAutoReplies tells a text saved empty (no answer) from one never saved.
type storedAutoReplies struct {
	Stop  *string `json:"stop"`
	Start *string `json:"start"`
	Help  *string `json:"help"`
}

// AutoReplyTexts returns the configured texts, defaults for those never saved.
func (s *Service) AutoReplyTexts(ctx context.Context) (AutoReplies, error) {
	out := DefaultAutoReplies
	var st storedAutoReplies
	if _, err := s.DB.GetSetting(ctx, SettingAutoReplies, &st); err != nil {
		return out, err
	}
	for _, f := range []struct {
		stored *string
		dst    *string
	}{{st.Stop, &out.Stop}, {st.Start, &out.Start}, {st.Help, &out.Help}} {
		if f.stored != nil {
			*f.dst = *f.stored
		}
	}
	return out, nil
}

// SchoolName returns the school's name as parents know it, DefaultSchoolName until set.
func (s *Service) SchoolName(ctx context.Context) (string, error) {
	var name string
	if _, err := s.DB.GetSetting(ctx, SettingSchoolName, &name); err != nil {
		return DefaultSchoolName, err
	}
	if strings.TrimSpace(name) == "" {
		return DefaultSchoolName, nil
	}
	return name, nil
}

// SaveAutoReplyTexts validates and stores the school's name and the texts,
// both at once, and audits the change. Only admins may; problems come back
// as FieldErrors keyed school_name, stop, start, help.
func (s *Service) SaveAutoReplyTexts(ctx context.Context, u db.User, ip, schoolName string, texts AutoReplies) error {
	if !u.IsAdmin() {
		return ErrForbidden
	}
	schoolName = strings.TrimSpace(schoolName)
	errs := FieldErrors{}
	switch n := utf8.RuneCountInString(schoolName); {
	case n == 0:
		errs["school_name"] = "Enter the school's name as parents know it."
	case n > SchoolNameMax:
		errs["school_name"] = fmt.Sprintf("The name is %d characters; keep it to %d.", n, SchoolNameMax)
	}
	for key, text := range map[string]string{"stop": texts.Stop, "start": texts.Start, "help": texts.Help} {
		if strings.TrimSpace(text) == "" {
			continue // no answer to that keyword
		}
		if n := utf8.RuneCountInString(ExpandAutoReply(text, schoolName)); n > MaxBodyLength {
			errs[key] = fmt.Sprintf("With the school's name filled in the text is %d characters; a message holds at most %d.", n, MaxBodyLength)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	// Only whitespace: no answer, stored as such.
	for _, t := range []*string{&texts.Stop, &texts.Start, &texts.Help} {
		if strings.TrimSpace(*t) == "" {
			*t = ""
		}
	}
	oldName, err := s.SchoolName(ctx)
	if err != nil {
		return err
	}
	oldTexts, err := s.AutoReplyTexts(ctx)
	if err != nil {
		return err
	}
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := db.SetSettingTx(ctx, tx, SettingSchoolName, schoolName); err != nil {
			return err
		}
		return db.SetSettingTx(ctx, tx, SettingAutoReplies, texts)
	})
	if err != nil {
		return fmt.Errorf("save automatic replies: %w", err)
	}
	s.recordAudit(ctx, u, ip, "settings.update", "settings:"+SettingAutoReplies,
		map[string]any{SettingSchoolName: oldName, SettingAutoReplies: oldTexts},
		map[string]any{SettingSchoolName: schoolName, SettingAutoReplies: texts})
	return nil
}

// AnswerKeyword answers a WhatsApp STOP, START or HELP with the configured
// text, from the same sender in the same conversation, as an automatic
// message (sent_by NULL). It returns the new message's id, or 0 when nothing
// was sent: a redelivered webhook (answered the first time), an ordinary
// message, SMS (Twilio answers those itself), an empty configured text, or a
// sender that is offline at Twilio. Call it after ReceiveInbound stored the
// message. The STOP answer is sent even though the number has just opted
// out: it is the confirmation the parent is owed.
func (s *Service) AnswerKeyword(ctx context.Context, in Inbound) (messageID int64, err error) {
	if in.Duplicate || in.ConversationID == 0 || in.Keyword == policy.KeywordNone {
		return 0, nil
	}
	conv, err := s.DB.ConversationByID(ctx, in.ConversationID)
	if err != nil {
		return 0, fmt.Errorf("answer keyword: %w", err)
	}
	if conv.Channel != policy.ChannelWhatsApp || conv.Sender.Channel != policy.ChannelWhatsApp {
		return 0, nil
	}
	texts, err := s.AutoReplyTexts(ctx)
	if err != nil {
		return 0, fmt.Errorf("answer keyword: %w", err)
	}
	text := texts.For(in.Keyword)
	if strings.TrimSpace(text) == "" {
		return 0, nil
	}
	school, err := s.SchoolName(ctx)
	if err != nil {
		return 0, fmt.Errorf("answer keyword: %w", err)
	}
	if conv.Sender.Status == "OFFLINE" {
		if s.Log != nil {
			s.Log.Warn("keyword not answered: sender offline", "conversation_id", conv.ID, "sender_id", conv.Sender.ID, "keyword", in.Keyword.String())
		}
		return 0, nil
	}
	// A zero user makes the message automatic.
	return s.send(ctx, db.User{}, conv.ID, conv.Sender, conv.Contact.Phone, ExpandAutoReply(text, school), nil, false, "automatic answer, from the number the contact wrote to")
}
