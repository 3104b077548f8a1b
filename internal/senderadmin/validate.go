package senderadmin

import (
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/twilio"
)

// FieldErrors maps a form field to what is wrong with it, in words for the
// admin filling the form.
type FieldErrors = messaging.FieldErrors

// Limits of a WhatsApp sender's profile, as Twilio's Senders API documents
// them. Checked here so the admin hears about a mistake next to the field,
// before Twilio is asked.
const (
	DisplayNameMin    = 3
	DisplayNameMax    = 25
	AboutMax          = 139
	AddressMax        = 256
	DescriptionMax    = 512
	EmailMax          = 128
	WebsiteMax        = 256
	WebsitesMax       = 2
	DefaultVertical   = "Education"
	nameSpecialChars  = "~!@#$%^*_+={}[]|\\:;\"<>?/`"
	allCapsLetterFrom = 6 // more capital letters than an acronym has
)

// Verticals are Meta's business categories, as the Senders API accepts them.
var Verticals = []string{
	"Alcohol", "Automotive", "Beauty, Spa and Salon", "Clothing and Apparel", "Education",
	"Entertainment", "Event Planning and Service", "Finance and Banking", "Food and Grocery",
	"Hotel and Lodging", "Matrimony Service", "Medical and Health", "Non-profit", "Online Gambling",
	"OTC Drugs", "Other", "Physical Gambling", "Professional Services", "Public Service",
	"Restaurant", "Shopping and Retail", "Travel and Transportation",
}

// webAddress matches what Meta counts as a web address in a display name.
var webAddress = regexp.MustCompile(`(?i)(https?://|www\.|\b[a-z0-9-]+\.(com|org|net|edu|gov|io|co|info|biz|app|school|uk|us|ac)\b)`)

// CheckDisplayName says why name cannot be a WhatsApp display name under
// Meta's rules, or "" when it can. name is expected trimmed (the form trims
// it); one message per rule, so the admin knows exactly what to change.
func CheckDisplayName(name string) string {
	n := utf8.RuneCountInString(name)
	switch {
	case strings.TrimSpace(name) == "":
		return "Enter the name parents will see in WhatsApp, e.g. the school's name."
	case n < DisplayNameMin:
		return fmt.Sprintf("Use at least %d characters.", DisplayNameMin)
	case n > DisplayNameMax:
		return fmt.Sprintf("Keep it to %d characters; this one has %d.", DisplayNameMax, n)
	case name != strings.TrimSpace(name) || strings.Contains(name, "  ") || strings.ContainsAny(name, "\t\r\n"):
		return "Use single spaces between words, none at the start or end."
	case strings.ContainsAny(name, nameSpecialChars):
		return "Leave out symbols such as " + strings.Join(strings.Split(nameSpecialChars, ""), " ") + ": WhatsApp does not allow them in a name."
	case webAddress.MatchString(name):
		return "Leave out the web address: WhatsApp does not allow one in a name (put it under Websites)."
	case strings.Contains(strings.ToLower(strings.ReplaceAll(name, " ", "")), "whatsapp"):
		return "Leave out “WhatsApp”: Meta does not allow its name in a business's display name."
	}
	letters, upper := 0, 0
	for _, r := range name {
		if isEmoji(r) {
			return "Leave out emoji: WhatsApp does not allow them in a name."
		}
		if unicode.IsControl(r) {
			return "Remove the invisible control character."
		}
		if unicode.IsLetter(r) {
			letters++
			if unicode.IsUpper(r) {
				upper++
			}
		}
	}
	if letters == 0 {
		return "Use letters: a name cannot be only digits and punctuation."
	}
	if letters >= allCapsLetterFrom && upper == letters {
		return "Write it in normal capitals (“Hillside School”, not “HILLSIDE SCHOOL”); only an acronym such as PTA may be all capitals."
	}
	return ""
}

// isEmoji is Meta's "no emoji": pictographs, dingbats and the joiners and
// selectors that build emoji sequences.
func isEmoji(r rune) bool {
	return r >= 0x1F000 || (r >= 0x2600 && r <= 0x27BF) || (r >= 0x2B00 && r <= 0x2BFF) ||
		r == 0xFE0F || r == 0x200D || unicode.Is(unicode.So, r)
}

// ProfileInput is a WhatsApp profile as typed in the form: emails and
// websites one per line.
type ProfileInput struct {
	DisplayName string
	About       string
	Address     string
	Description string
	Emails      string
	Websites    string
	Vertical    string
	LogoURL     string
	// Webhook addresses: incoming messages, the fallback when that fails,
	// and delivery statuses.
	WebhookURL, FallbackURL, StatusCallbackURL string
}

// checkedProfile is a ProfileInput that passed the checks.
type checkedProfile struct {
	DisplayName string
	Profile     twilio.SenderProfile
	Webhook     struct{ Callback, Fallback, Status string }
}

// Trim removes surrounding spaces from every field, as the form keeps them.
func (in *ProfileInput) Trim() {
	for _, f := range []*string{&in.DisplayName, &in.About, &in.Address, &in.Description, &in.Emails, &in.Websites,
		&in.Vertical, &in.LogoURL, &in.WebhookURL, &in.FallbackURL, &in.StatusCallbackURL} {
		*f = strings.TrimSpace(*f)
	}
}

// lines splits a one-per-line field, dropping empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// HTTPURL reports whether s is an absolute http or https address.
func HTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && !strings.ContainsAny(s, " \t")
}

// CheckProfile validates a WhatsApp profile and its webhooks, adding one
// message per field to errs. Field keys: display_name, about, address,
// description, emails, websites, vertical, logo_url, webhook_url,
// fallback_url, status_callback_url.
func CheckProfile(in ProfileInput, errs FieldErrors) checkedProfile {
	in.Trim()
	var out checkedProfile
	if msg := CheckDisplayName(in.DisplayName); msg != "" {
		errs["display_name"] = msg
	}
	out.DisplayName = in.DisplayName
	texts := []struct {
		key, label, value string
		max               int
	}{
		{"about", "About", in.About, AboutMax},
		{"address", "Address", in.Address, AddressMax},
		{"description", "Description", in.Description, DescriptionMax},
	}
	for _, t := range texts {
		if n := utf8.RuneCountInString(t.value); n > t.max {
			errs[t.key] = fmt.Sprintf("Keep %s to %d characters; it has %d.", strings.ToLower(t.label), t.max, n)
		}
	}
	out.Profile = twilio.SenderProfile{Name: in.DisplayName, About: in.About, Address: in.Address, Description: in.Description, LogoURL: in.LogoURL}

	out.Profile.Emails = []string{}
	for _, e := range lines(in.Emails) {
		a, err := mail.ParseAddress(e)
		switch {
		case err != nil || a.Address != e || !strings.Contains(e[strings.LastIndex(e, "@")+1:], "."):
			errs["emails"] = fmt.Sprintf("“%s” is not an email address (one per line, like office@school.example).", e)
		case len(e) > EmailMax:
			errs["emails"] = fmt.Sprintf("“%s” is longer than %d characters.", e, EmailMax)
		}
		out.Profile.Emails = append(out.Profile.Emails, e)
	}
	out.Profile.Websites = []string{}
	sites := lines(in.Websites)
	for _, w := range sites {
		switch {
		case !HTTPURL(w):
			errs["websites"] = fmt.Sprintf("“%s” is not a web address: write it in full, starting with https://.", w)
		case len(w) > WebsiteMax:
			errs["websites"] = fmt.Sprintf("“%s” is longer than %d characters.", w, WebsiteMax)
		}
		out.Profile.Websites = append(out.Profile.Websites, w)
	}
	if len(sites) > WebsitesMax {
		errs["websites"] = fmt.Sprintf("WhatsApp shows at most %d websites; this has %d.", WebsitesMax, len(sites))
	}

	out.Profile.Vertical = in.Vertical
	if out.Profile.Vertical == "" {
		out.Profile.Vertical = DefaultVertical
	}
	if !slices.Contains(Verticals, out.Profile.Vertical) {
		errs["vertical"] = "Choose a category from the list."
	}
	if in.LogoURL != "" && !HTTPURL(in.LogoURL) {
		errs["logo_url"] = "Enter the logo's full web address, starting with https://, or leave it empty."
	}

	if in.WebhookURL == "" {
		errs["webhook_url"] = "Enter the address Twilio sends incoming messages to; without it parents' replies never reach Classline."
	} else if !HTTPURL(in.WebhookURL) {
		errs["webhook_url"] = "Enter a full web address starting with https://."
	}
	if in.FallbackURL != "" && !HTTPURL(in.FallbackURL) {
		errs["fallback_url"] = "Enter a full web address starting with https://, or leave it empty."
	}
	if in.StatusCallbackURL == "" {
		errs["status_callback_url"] = "Enter the address Twilio sends delivery statuses to; without it messages never show as delivered or read."
	} else if !HTTPURL(in.StatusCallbackURL) {
		errs["status_callback_url"] = "Enter a full web address starting with https://."
	}
	out.Webhook.Callback, out.Webhook.Fallback, out.Webhook.Status = in.WebhookURL, in.FallbackURL, in.StatusCallbackURL
	return out
}

// storedProfile is what the senders.profile column keeps of a Twilio sender.
func storedProfile(s twilio.Sender) db.SenderProfile {
	return db.SenderProfile{
		About: s.Profile.About, Address: s.Profile.Address, Description: s.Profile.Description,
		Vertical: s.Profile.Vertical, LogoURL: s.Profile.LogoURL,
		Emails: s.Profile.Emails, Websites: s.Profile.Websites,
		WebhookURL: s.WebhookURL, FallbackURL: s.FallbackURL, StatusCallbackURL: s.StatusCallbackURL,
		VerificationMethod: s.VerificationMethod,
	}
}

// ProfileInputOf fills the edit form from what is stored.
func ProfileInputOf(d db.SenderDetail) ProfileInput {
	p := d.Profile
	return ProfileInput{
		DisplayName: d.DisplayName, About: p.About, Address: p.Address, Description: p.Description,
		Emails: strings.Join(p.Emails, "\n"), Websites: strings.Join(p.Websites, "\n"),
		Vertical: p.Vertical, LogoURL: p.LogoURL,
		WebhookURL: p.WebhookURL, FallbackURL: p.FallbackURL, StatusCallbackURL: p.StatusCallbackURL,
	}
}

// messagingServiceSID is a Twilio Messaging Service SID.
var messagingServiceSID = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)

// CheckServiceSID says what is wrong with a Messaging Service SID, or "".
func CheckServiceSID(sid string) string {
	switch {
	case sid == "":
		return "Enter the Messaging Service SID from the Twilio Console (Messaging > Services): MG followed by 32 characters."
	case !strings.HasPrefix(sid, "MG"):
		return "A Messaging Service SID starts with MG (one starting with PN is a phone number, AC the account)."
	case !messagingServiceSID.MatchString(sid):
		return fmt.Sprintf("A Messaging Service SID is MG followed by 32 digits and letters a–f; this one has %d characters after MG.", len(sid)-2)
	}
	return ""
}
