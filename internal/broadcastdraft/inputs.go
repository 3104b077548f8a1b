package broadcastdraft

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/templates"
)

// FieldErrors maps a form field to what is wrong with it, in words for staff.
type FieldErrors = messaging.FieldErrors

// The wizard's steps, in order; a broadcast's wizard_step is one of them.
const (
	StepAudience = 1
	StepContent  = 2
	StepSender   = 3
	StepReview   = 4
	StepSend     = 5
)

// StepNames are the steps as the wizard's step list shows them.
var StepNames = []string{"", "Audience", "Content", "Sender", "Review", "Send"}

// ClampStep keeps n within the wizard's steps.
func ClampStep(n int) int { return min(max(n, StepAudience), StepSend) }

// Strategies a broadcast's senders are chosen by (broadcast.Sender.Strategy).
// "messaging_service" is the department's default for WhatsApp and a
// Messaging Service (a sender without an address) for SMS; the engine treats
// it like "department" with a specific SMS sender.
const (
	StrategyDepartment       = "department"
	StrategyPool             = "pool"
	StrategySpecific         = "specific"
	StrategyMessagingService = "messaging_service"
)

// maxSMS is Twilio's limit on one message body.
const maxSMS = 1600

// ---------------------------------------------------------------- audience

// AudienceInput is step 1 as typed.
type AudienceInput struct {
	Name       string
	GroupIDs   []int64
	ContactIDs []int64
	Numbers    string // pasted lines, "number[, name]"
}

// AudienceInputOf is a stored audience as the form shows it.
func AudienceInputOf(name string, a broadcast.Audience) AudienceInput {
	return AudienceInput{Name: name, GroupIDs: a.GroupIDs, ContactIDs: a.ContactIDs, Numbers: NumbersText(a.Entries)}
}

// Build checks step 1 and returns the audience to store. The audience comes
// back even with errors (a draft keeps what was typed).
func (in AudienceInput) Build(region string) (string, broadcast.Audience, FieldErrors) {
	errs := FieldErrors{}
	name := strings.Join(strings.Fields(in.Name), " ")
	switch {
	case name == "":
		errs["name"] = "Give the broadcast a name staff will recognise, e.g. “Snow day closure”."
	case utf8.RuneCountInString(name) > 200:
		errs["name"] = "Keep the name under 200 characters."
	}
	a := broadcast.Audience{GroupIDs: uniqueIDs(in.GroupIDs), ContactIDs: uniqueIDs(in.ContactIDs)}
	entries, bad := ParseNumbers(in.Numbers, region)
	a.Entries = entries
	switch {
	case len(entries) > MaxNumbers:
		errs["numbers"] = fmt.Sprintf("That is %d numbers; at most %d can be pasted. Put a list that big in a group instead.", len(entries), MaxNumbers)
	case len(bad) > 0:
		errs["numbers"] = badLinesText(bad)
	}
	if len(a.GroupIDs) == 0 && len(a.ContactIDs) == 0 && len(entries) == 0 {
		errs["audience"] = "Choose at least one group or contact, or add phone numbers."
	}
	return name, a, nilIfEmpty(errs)
}

func badLinesText(bad []BadLine) string {
	var parts []string
	for i, b := range bad {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(bad)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("line %d (“%s”): %s", b.Line, b.Text, strings.TrimSuffix(b.Why, ".")))
	}
	return "Some lines are not phone numbers: " + strings.Join(parts, "; ") + ". Correct or remove them."
}

func uniqueIDs(ids []int64) []int64 {
	var out []int64
	for _, id := range ids {
		if id > 0 && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func nilIfEmpty(errs FieldErrors) FieldErrors {
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// ---------------------------------------------------------------- content

// ContentInput is step 2 as typed.
type ContentInput struct {
	Purpose    string
	Mode       string
	TemplateID int64
	// VarFields maps a template variable ("1") to a contact field, VarValues
	// to fixed text (used too when the contact's field is empty).
	VarFields, VarValues map[string]string
	SMSBody              string
	Urgent               bool
	FallbackMinutes      string
	FallbackUnlessRead   bool
	// MediaFileIDs are the files attached (the form lists them); SaveContent
	// keeps only those the person may attach. Upload is a file just chosen,
	// to store and add to them.
	MediaFileIDs []int64
	Upload       *Upload
}

// Upload is a file chosen in the content step's Attachment field.
type Upload struct {
	Filename, DeclaredType string
	Body                   io.Reader
}

// ContentInputOf is stored content as the form shows it.
func ContentInputOf(purpose string, urgent bool, c broadcast.Content) ContentInput {
	in := ContentInput{Purpose: purpose, Mode: c.Mode, TemplateID: c.TemplateID, VarFields: c.VariableFields,
		VarValues: c.VariableValues, SMSBody: c.SMSBody, Urgent: urgent, FallbackUnlessRead: c.FallbackUnlessRead,
		MediaFileIDs: c.MediaFileIDs}
	if c.FallbackMinutes > 0 {
		in.FallbackMinutes = strconv.Itoa(c.FallbackMinutes)
	}
	return in
}

// Modes lists the channel modes with their words, in form order.
var Modes = []struct{ Key, Label, Hint string }{
	{broadcast.ModeWhatsAppThenSMS, "WhatsApp where possible, else SMS", "Families with WhatsApp get the template; the others get the SMS text."},
	{broadcast.ModeWhatsApp, "WhatsApp only", "Families without WhatsApp are skipped."},
	{broadcast.ModeSMS, "SMS only", "Everyone gets the SMS text."},
}

// UsesWhatsApp reports whether content sends anything on WhatsApp.
func UsesWhatsApp(c broadcast.Content) bool { return c.Mode != broadcast.ModeSMS && c.TemplateID != 0 }

// UsesSMS reports whether content sends anything by SMS (including urgent fallbacks).
func UsesSMS(c broadcast.Content) bool {
	return c.Mode != broadcast.ModeWhatsApp || c.FallbackMinutes > 0
}

// Build checks step 2 against the chosen template (nil: none chosen, or no
// longer sendable) and returns the content, purpose and urgency to store.
func (in ContentInput) Build(tpl *db.Template) (broadcast.Content, string, bool, FieldErrors) {
	errs := FieldErrors{}
	c := broadcast.Content{Mode: in.Mode, SMSBody: strings.TrimSpace(strings.ReplaceAll(in.SMSBody, "\r\n", "\n")),
		FallbackUnlessRead: in.FallbackUnlessRead, MediaFileIDs: uniqueIDs(in.MediaFileIDs)}
	purpose := in.Purpose
	if !policy.ValidPurpose(purpose) {
		errs["purpose"] = "Choose what the broadcast is for: school business or promotional."
		purpose = policy.PurposeTransactional
	}
	if !slices.ContainsFunc(Modes, func(m struct{ Key, Label, Hint string }) bool { return m.Key == in.Mode }) {
		errs["mode"] = "Choose how the broadcast reaches families."
		c.Mode = broadcast.ModeWhatsAppThenSMS
	}
	// The template: only where WhatsApp may be used.
	if c.Mode != broadcast.ModeSMS && in.TemplateID != 0 {
		if tpl == nil || tpl.ID != in.TemplateID || tpl.ApprovalStatus != templates.StatusApproved || tpl.ContentSID == "" {
			errs["template"] = "That template is not approved by WhatsApp (any more): choose another."
		} else {
			c.TemplateID = tpl.ID
			nums, _ := templates.Variables(templates.FromTypes(tpl.Types).Body)
			for _, n := range nums {
				k := strconv.Itoa(n)
				field := strings.TrimSpace(in.VarFields[k])
				if field != "" && !slices.ContainsFunc(templates.Fields, func(f templates.Field) bool { return f.Key == field }) {
					field = ""
				}
				value := strings.TrimSpace(in.VarValues[k])
				if field != "" {
					mapOf(&c.VariableFields)[k] = field
				}
				if value != "" {
					mapOf(&c.VariableValues)[k] = value
				}
				if field == "" && value == "" {
					errs["var_"+k] = fmt.Sprintf("Choose a contact field for {{%s}} or type the text everyone gets.", k)
				}
			}
		}
	}
	if c.Mode == broadcast.ModeWhatsApp && c.TemplateID == 0 && errs["template"] == "" {
		errs["template"] = "WhatsApp broadcasts go out as an approved template: choose one, or send by SMS."
	}
	// The SMS text.
	if c.SMSBody != "" {
		if unknown := broadcast.UnknownMergeFields(c.SMSBody); len(unknown) > 0 {
			errs["sms_body"] = fmt.Sprintf("Classline cannot fill {{%s}}. Merge fields are %s.", unknown[0], mergeFieldList())
		} else if n := utf8.RuneCountInString(c.SMSBody); n > maxSMS {
			errs["sms_body"] = fmt.Sprintf("The SMS text is %d characters: %d over the limit of %d.", n, n-maxSMS, maxSMS)
		}
	}
	if c.SMSBody == "" && c.Mode != broadcast.ModeWhatsApp && errs["sms_body"] == "" {
		if c.Mode == broadcast.ModeSMS {
			errs["sms_body"] = "Write the SMS text."
		} else {
			errs["sms_body"] = "Write the SMS text for families without WhatsApp."
		}
	}
	// Urgent fallback: only for urgent broadcasts that use WhatsApp.
	urgent := in.Urgent
	if urgent && strings.TrimSpace(in.FallbackMinutes) != "" {
		n, err := strconv.Atoi(strings.TrimSpace(in.FallbackMinutes))
		switch {
		case err != nil || n < 0 || n > 1440:
			errs["fallback_minutes"] = "Enter whole minutes from 1 to 1440 (a day), or leave it empty for no fallback."
		case n > 0 && c.Mode == broadcast.ModeSMS:
			errs["fallback_minutes"] = "An SMS fallback is for WhatsApp messages: choose a WhatsApp channel, or leave this empty."
		case n > 0 && c.TemplateID == 0 && errs["template"] == "":
			errs["fallback_minutes"] = "An SMS fallback is for WhatsApp messages: choose a template first."
		case n > 0 && c.SMSBody == "" && errs["sms_body"] == "":
			errs["sms_body"] = "The SMS fallback needs SMS text."
			c.FallbackMinutes = n
		default:
			c.FallbackMinutes = n
		}
	}
	if !urgent || c.FallbackMinutes == 0 {
		c.FallbackUnlessRead = false
	}
	// Attachments travel with the SMS text only: WhatsApp broadcasts are
	// approved templates, which carry their own media (a template's header
	// picture) and take no other. Kept with the error, so choosing a
	// channel with SMS again brings them back.
	if len(c.MediaFileIDs) > 0 && !UsesSMS(c) && errs["media"] == "" {
		errs["media"] = "Attachments go with the SMS text, and a WhatsApp-only broadcast sends none: WhatsApp templates carry their own picture. Remove the attachment, or choose a channel with SMS."
	}
	return c, purpose, urgent, nilIfEmpty(errs)
}

func mapOf(m *map[string]string) map[string]string {
	if *m == nil {
		*m = map[string]string{}
	}
	return *m
}

func mergeFieldList() string {
	parts := make([]string, len(broadcast.MergeFields))
	for i, f := range broadcast.MergeFields {
		parts[i] = "{{" + f + "}}"
	}
	return strings.Join(parts, ", ")
}

// MergeFieldList names the merge fields an SMS text may use, for hints.
func MergeFieldList() string { return mergeFieldList() }

// ---------------------------------------------------------------- sender

// SenderInput is step 3 as typed.
type SenderInput struct {
	DepartmentID     int64 // 0: none (admins only: every sender may be used)
	Strategy         string
	WhatsAppSenderID int64
	SMSSenderID      int64
	ServiceID        int64 // the Messaging Service (an SMS sender without an address)
}

// SenderInputOf is a stored sender choice as the form shows it.
func SenderInputOf(departmentID *int64, s broadcast.Sender) SenderInput {
	in := SenderInput{Strategy: s.Strategy, WhatsAppSenderID: s.WhatsAppSenderID, SMSSenderID: s.SMSSenderID}
	if departmentID != nil {
		in.DepartmentID = *departmentID
	}
	if s.Strategy == StrategyMessagingService {
		in.ServiceID, in.SMSSenderID = s.SMSSenderID, 0
	}
	if in.Strategy == "" {
		in.Strategy = StrategyDepartment
	}
	return in
}

// Usable reports whether a candidate sender can send now.
func Usable(p db.PoolSender) bool { return db.SenderSendable(p.Status) && !p.Archived }

// IsService reports whether a sender is a Messaging Service (no address of its own).
func IsService(p db.PoolSender) bool { return p.Address == "" && p.MessagingServiceSID != "" }

// Build checks step 3. departments are those the user may choose;
// candidates the senders of the chosen department per channel (as
// db.PickCandidates lists them). The department comes back nil when none is
// chosen (admins) or the one chosen is not allowed (then with an error).
func (in SenderInput) Build(u db.User, departments []db.Department, candidates map[string][]db.PoolSender, c broadcast.Content) (*int64, broadcast.Sender, FieldErrors) {
	errs := FieldErrors{}
	var dep *int64
	switch {
	case in.DepartmentID == 0 && u.IsAdmin():
	case in.DepartmentID == 0:
		errs["department"] = "Choose the department the broadcast is from."
	case !slices.ContainsFunc(departments, func(d db.Department) bool { return d.ID == in.DepartmentID }):
		errs["department"] = "Choose one of your departments."
	default:
		id := in.DepartmentID
		dep = &id
	}
	s := broadcast.Sender{Strategy: in.Strategy}
	find := func(ch string, id int64, service bool) bool {
		return slices.ContainsFunc(candidates[ch], func(p db.PoolSender) bool { return p.ID == id && Usable(p) && IsService(p) == service })
	}
	usable := func(ch string) bool {
		return slices.ContainsFunc(candidates[ch], func(p db.PoolSender) bool { return Usable(p) && !IsService(p) })
	}
	wa, sms := UsesWhatsApp(c), UsesSMS(c)
	noneLeft := func(ch string) string {
		return fmt.Sprintf("The department has no %s number that can send now: choose another department or way, or ask an admin under Senders.",
			map[string]string{policy.ChannelWhatsApp: "WhatsApp", policy.ChannelSMS: "SMS"}[ch])
	}
	switch in.Strategy {
	case StrategyDepartment, StrategyPool:
		if wa && !usable(policy.ChannelWhatsApp) {
			errs["strategy"] = noneLeft(policy.ChannelWhatsApp)
		} else if sms && !usable(policy.ChannelSMS) {
			errs["strategy"] = noneLeft(policy.ChannelSMS)
		}
	case StrategySpecific:
		s.WhatsAppSenderID, s.SMSSenderID = in.WhatsAppSenderID, in.SMSSenderID
		if wa && !find(policy.ChannelWhatsApp, in.WhatsAppSenderID, false) {
			errs["whatsapp_sender"] = "Choose the WhatsApp number to send from."
		}
		if sms && !find(policy.ChannelSMS, in.SMSSenderID, false) {
			errs["sms_sender"] = "Choose the SMS number to send from."
		}
	case StrategyMessagingService:
		s.SMSSenderID = in.ServiceID
		if !find(policy.ChannelSMS, in.ServiceID, true) {
			errs["service"] = "Choose the Messaging Service to send the SMS through."
		}
		if wa && !usable(policy.ChannelWhatsApp) {
			errs["strategy"] = noneLeft(policy.ChannelWhatsApp)
		}
	default:
		errs["strategy"] = "Choose which numbers the broadcast goes out from."
		s.Strategy = StrategyDepartment
	}
	return dep, s, nilIfEmpty(errs)
}

// ---------------------------------------------------------------- send

// SendInput is step 5 as typed: now, or later at a date and time in the
// school's zone.
type SendInput struct {
	When       string // "now" | "later"
	Date, Time string // "2006-01-02", "15:04"
}

// SendInputOf is a stored schedule as the form shows it.
func SendInputOf(at *time.Time, loc *time.Location) SendInput {
	if at == nil {
		return SendInput{When: "now"}
	}
	t := at.In(loc)
	return SendInput{When: "later", Date: t.Format("2006-01-02"), Time: t.Format("15:04")}
}

// At is when to send: nil for now, else the schedule read in loc, which
// must lie ahead (at least a minute) and within a year.
func (in SendInput) At(loc *time.Location, now time.Time) (*time.Time, FieldErrors) {
	if in.When != "later" {
		return nil, nil
	}
	errs := FieldErrors{}
	d, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(in.Date), loc)
	if err != nil {
		errs["schedule_date"] = "Enter the date to send, e.g. 2026-03-04."
	}
	clock, err := time.Parse("15:04", strings.TrimSpace(in.Time))
	if err != nil {
		errs["schedule_time"] = "Enter the time to send as HH:MM, 24-hour (for example 07:30)."
	}
	if len(errs) > 0 {
		return nil, errs
	}
	at := time.Date(d.Year(), d.Month(), d.Day(), clock.Hour(), clock.Minute(), 0, 0, loc)
	switch {
	case !at.After(now.Add(time.Minute)):
		errs["schedule_time"] = "That time has passed: choose a later one, or send now."
	case at.After(now.AddDate(1, 0, 0)):
		errs["schedule_date"] = "Schedule at most a year ahead."
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &at, nil
}
