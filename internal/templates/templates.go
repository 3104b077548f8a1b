// Package templates holds WhatsApp message templates (Twilio Content API)
// as Classline sees them: the draft an admin writes, the rules WhatsApp
// applies at review (checked before anything is submitted, so an admin
// learns in a second what Meta would take a day to reject), rendering with
// variables, and the contact fields variables can be filled from.
//
// The rules, from Twilio's "Using variables with Content Templates" and the
// content type pages:
//   - variables are {{1}}, {{2}}... numbered without gaps (order in the text
//     is free), at most 100;
//   - a variable may not start or end the body (a variable followed only by
//     punctuation counts as the end), nor stand next to another one with
//     only spaces between them;
//   - for x variables the body needs at least 2x+1 words that are not
//     variables;
//   - every variable needs a sample value for review;
//   - body length: 1,024 characters (text, media, quick-reply), 640 for
//     call-to-action; quick-reply: up to 10 buttons of at most 20
//     characters; call-to-action: up to 2 URL buttons and 1 phone button,
//     titles of at most 25 characters;
//   - the name WhatsApp reviews: lowercase letters, digits and underscores,
//     at most 512 characters.
package templates

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Content types (Twilio's names).
const (
	KindText         = "twilio/text"
	KindMedia        = "twilio/media"
	KindQuickReply   = "twilio/quick-reply"
	KindCallToAction = "twilio/call-to-action"
)

// Kinds lists the content types Classline creates, for forms.
var Kinds = []string{KindText, KindMedia, KindQuickReply, KindCallToAction}

// KindLabel is a content type in words.
func KindLabel(k string) string {
	switch k {
	case KindText:
		return "Text"
	case KindMedia:
		return "Text with image or document"
	case KindQuickReply:
		return "Quick-reply buttons"
	case KindCallToAction:
		return "Link or call buttons"
	}
	return k
}

// WhatsApp template categories.
const (
	CategoryUtility        = "UTILITY"
	CategoryMarketing      = "MARKETING"
	CategoryAuthentication = "AUTHENTICATION"
)

// Categories lists the categories, for forms.
var Categories = []string{CategoryUtility, CategoryMarketing, CategoryAuthentication}

// Approval statuses (WhatsApp's, through Twilio), plus "unsubmitted".
const (
	StatusUnsubmitted = "unsubmitted"
	StatusReceived    = "received"
	StatusPending     = "pending"
	StatusApproved    = "approved"
	StatusRejected    = "rejected"
	StatusPaused      = "paused"
	StatusDisabled    = "disabled"
)

// Button types.
const (
	ActionQuickReply = "QUICK_REPLY"
	ActionURL        = "URL"
	ActionPhone      = "PHONE_NUMBER"
)

// Limits.
const (
	MaxNameLen         = 512
	MaxBody            = 1024
	MaxBodyCTA         = 640
	MaxVariables       = 100
	MaxQuickReplies    = 10
	MaxQuickReplyTitle = 20
	MaxCTATitle        = 25
	MaxURLButtons      = 2
	MaxSampleLen       = 200
)

// Action is a button.
type Action struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	ID    string `json:"id,omitempty"`    // quick reply payload
	URL   string `json:"url,omitempty"`   // URL button
	Phone string `json:"phone,omitempty"` // phone button, E.164
}

// Draft is a template as an admin writes it.
type Draft struct {
	Name     string // the name WhatsApp reviews; language variants share it
	Language string // e.g. "en", "es", "ar"
	Category string
	Kind     string
	Body     string
	MediaURL string // KindMedia
	Actions  []Action
	// Samples are the example values WhatsApp reviews, by variable number.
	Samples map[string]string
	// Fields fill variables from the contact when sending to many: by
	// variable number, a Field key ("first_name").
	Fields map[string]string
}

// Errors are problems by form field: "name", "language", "category",
// "kind", "body", "media_url", "actions", "sample_<n>", "field_<n>".
type Errors map[string]string

func (e Errors) Error() string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+": "+e[k])
	}
	return strings.Join(parts, "; ")
}

// Field is a contact field a variable can be filled from.
type Field struct {
	Key, Label string
}

// Fields lists the contact fields, in form order. Custom fields of the
// contact (student_name, class) come from its custom_fields.
var Fields = []Field{
	{"first_name", "First name"},
	{"full_name", "Full name"},
	{"student_name", "Student name"},
	{"class", "Class"},
	{"school_name", "School name"},
}

// FieldLabel names a field key.
func FieldLabel(key string) string {
	for _, f := range Fields {
		if f.Key == key {
			return f.Label
		}
	}
	return key
}

// Languages are the languages offered for variants (WhatsApp codes).
var Languages = []Field{
	{"en", "English"}, {"es", "Spanish"}, {"fr", "French"}, {"ar", "Arabic"}, {"pt_BR", "Portuguese (Brazil)"},
	{"zh_CN", "Chinese (simplified)"}, {"vi", "Vietnamese"}, {"pl", "Polish"}, {"uk", "Ukrainian"}, {"de", "German"},
}

// LanguageLabel names a language code.
func LanguageLabel(code string) string {
	for _, l := range Languages {
		if l.Key == code {
			return l.Label
		}
	}
	return code
}

var (
	nameRe     = regexp.MustCompile(`^[a-z0-9_]+$`)
	variableRe = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)
	languageRe = regexp.MustCompile(`^[a-z]{2,3}(_[A-Z]{2})?$`)
	phoneRe    = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

// Variables returns the variable numbers the text uses, sorted and
// without repeats, and the first placeholder that is not a number.
//
// A number must be written plainly: {{01}} or {{+1}} is not variable 1
// (Atoi would say it is, but Render, which fills "1", would leave it
// unfilled in the message; found by FuzzRender).
func Variables(text string) (nums []int, bad string) {
	for _, m := range variableRe.FindAllStringSubmatch(text, -1) {
		n, err := strconv.Atoi(m[1])
		if err != nil || n < 1 || strconv.Itoa(n) != m[1] {
			if bad == "" {
				bad = m[0]
			}
			continue
		}
		if !slices.Contains(nums, n) {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	return nums, bad
}

// Render fills {{n}} in text with vars[n]; a variable without a value stays
// as written, so a missing value is visible rather than silently blank.
func Render(text string, vars map[string]string) string {
	return variableRe.ReplaceAllStringFunc(text, func(m string) string {
		// The key is the pattern's own capture, as in Variables: trimming
		// here with strings.TrimSpace also dropped \v, which the pattern's
		// \s keeps, so {{1\v}} was filled but never counted (FuzzRender).
		k := variableRe.FindStringSubmatch(m)[1]
		if v, ok := vars[k]; ok {
			return v
		}
		return m
	})
}

// Validate checks a draft against WhatsApp's review rules.
func Validate(d Draft) Errors {
	errs := Errors{}
	switch {
	case d.Name == "":
		errs["name"] = "Give the template a name, e.g. snow_day_closure."
	case !nameRe.MatchString(d.Name):
		errs["name"] = "Use lowercase letters, digits and underscores only (WhatsApp's rule), e.g. snow_day_closure."
	case len(d.Name) > MaxNameLen:
		errs["name"] = fmt.Sprintf("At most %d characters.", MaxNameLen)
	}
	if !languageRe.MatchString(d.Language) {
		errs["language"] = "Choose the template's language."
	}
	if !slices.Contains(Categories, d.Category) {
		errs["category"] = "Choose a category: Utility for school notices, Marketing for fundraising and events."
	}
	if !slices.Contains(Kinds, d.Kind) {
		errs["kind"] = "Choose a type."
		return errs
	}
	checkBody(d, errs)
	switch d.Kind {
	case KindMedia:
		if !publicURL(d.MediaURL) {
			errs["media_url"] = "Give the public https address of the image or PDF."
		}
	case KindQuickReply:
		checkQuickReplies(d.Actions, errs)
	case KindCallToAction:
		checkCallToAction(d.Actions, errs)
	}
	return errs
}

func checkBody(d Draft, errs Errors) {
	body := d.Body
	limit := MaxBody
	if d.Kind == KindCallToAction {
		limit = MaxBodyCTA
	}
	if strings.TrimSpace(body) == "" {
		errs["body"] = "Write the message."
		return
	}
	if n := utf8.RuneCountInString(body); n > limit {
		errs["body"] = fmt.Sprintf("%d characters: WhatsApp allows at most %d for this type.", n, limit)
		return
	}
	nums, bad := Variables(body)
	if bad != "" {
		errs["body"] = fmt.Sprintf("%s is not a variable: variables are numbers, {{1}}, {{2}}...", bad)
		return
	}
	if len(nums) > MaxVariables {
		errs["body"] = fmt.Sprintf("%d variables: at most %d.", len(nums), MaxVariables)
		return
	}
	for i, n := range nums {
		if n != i+1 {
			errs["body"] = fmt.Sprintf("Variables must be numbered without gaps: {{%d}} is missing.", i+1)
			return
		}
	}
	if len(nums) == 0 {
		return
	}
	trimmed := strings.TrimSpace(body)
	if loc := variableRe.FindStringIndex(trimmed); loc != nil && loc[0] == 0 {
		errs["body"] = "The message cannot start with a variable: WhatsApp rejects it. Put some words first."
		return
	}
	last := variableRe.FindAllStringIndex(trimmed, -1)
	if tail := trimmed[last[len(last)-1][1]:]; strings.IndexFunc(tail, func(r rune) bool { return !unicode.IsPunct(r) && !unicode.IsSpace(r) }) < 0 {
		errs["body"] = "The message cannot end with a variable (punctuation after it still counts): WhatsApp rejects it. Add some words after it."
		return
	}
	locs := variableRe.FindAllStringIndex(body, -1)
	for i := 1; i < len(locs); i++ {
		if strings.TrimSpace(body[locs[i-1][1]:locs[i][0]]) == "" {
			errs["body"] = "Two variables stand side by side: WhatsApp rejects that. Put a word between them."
			return
		}
	}
	words := 0
	for _, w := range strings.Fields(variableRe.ReplaceAllString(body, " ")) {
		if strings.IndexFunc(w, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0 {
			words++
		}
	}
	if need := 2*len(nums) + 1; words < need {
		errs["body"] = fmt.Sprintf("Too many variables for so short a message: with %d variables WhatsApp wants at least %d other words (it has %d).", len(nums), need, words)
		return
	}
	for _, n := range nums {
		k := strconv.Itoa(n)
		v := strings.TrimSpace(d.Samples[k])
		switch {
		case v == "":
			errs["sample_"+k] = fmt.Sprintf("Give an example for {{%d}}: WhatsApp reviews the template with it.", n)
		case utf8.RuneCountInString(v) > MaxSampleLen:
			errs["sample_"+k] = fmt.Sprintf("At most %d characters.", MaxSampleLen)
		}
		if f := d.Fields[k]; f != "" && !slices.ContainsFunc(Fields, func(x Field) bool { return x.Key == f }) {
			errs["field_"+k] = "Choose a contact field, or leave it to be typed when sending."
		}
	}
}

func checkQuickReplies(actions []Action, errs Errors) {
	if len(actions) == 0 {
		errs["actions"] = "Add at least one button."
		return
	}
	if len(actions) > MaxQuickReplies {
		errs["actions"] = fmt.Sprintf("At most %d buttons.", MaxQuickReplies)
		return
	}
	seen := map[string]bool{}
	for i, a := range actions {
		t := strings.TrimSpace(a.Title)
		switch {
		case t == "":
			errs["actions"] = fmt.Sprintf("Button %d has no text.", i+1)
		case utf8.RuneCountInString(t) > MaxQuickReplyTitle:
			errs["actions"] = fmt.Sprintf("Button %d: at most %d characters.", i+1, MaxQuickReplyTitle)
		case variableRe.MatchString(t):
			errs["actions"] = buttonPlaceholderError(i)
		case seen[strings.ToLower(t)]:
			errs["actions"] = fmt.Sprintf("Button %d repeats %q.", i+1, t)
		}
		if errs["actions"] != "" {
			return
		}
		seen[strings.ToLower(t)] = true
	}
}

func checkCallToAction(actions []Action, errs Errors) {
	if len(actions) == 0 {
		errs["actions"] = "Add a link or a phone button."
		return
	}
	urls, phones := 0, 0
	for i, a := range actions {
		t := strings.TrimSpace(a.Title)
		switch {
		case t == "":
			errs["actions"] = fmt.Sprintf("Button %d has no text.", i+1)
		case utf8.RuneCountInString(t) > MaxCTATitle:
			errs["actions"] = fmt.Sprintf("Button %d: at most %d characters.", i+1, MaxCTATitle)
		case variableRe.MatchString(t):
			errs["actions"] = buttonPlaceholderError(i)
		}
		switch a.Type {
		case ActionURL:
			urls++
			if !publicURL(a.URL) {
				errs["actions"] = fmt.Sprintf("Button %d: give a public https address.", i+1)
			}
		case ActionPhone:
			phones++
			if !phoneRe.MatchString(a.Phone) {
				errs["actions"] = fmt.Sprintf("Button %d: give the phone number in international form, e.g. +441632960000.", i+1)
			}
		default:
			errs["actions"] = fmt.Sprintf("Button %d: choose link or phone.", i+1)
		}
		if errs["actions"] != "" {
			return
		}
	}
	switch {
	case urls > MaxURLButtons:
		errs["actions"] = fmt.Sprintf("At most %d link buttons.", MaxURLButtons)
	case phones > 1:
		errs["actions"] = "At most one phone button."
	}
}

// buttonPlaceholderError refuses {{...}} in a button's text: WhatsApp
// reviews button texts as written (no variables), and Twilio refuses the
// content with error 20001 after the admin has filled in the whole form.
func buttonPlaceholderError(i int) string {
	return fmt.Sprintf("Button %d: button text cannot hold variables such as {{1}}; write it as people should see it.", i+1)
}

func publicURL(s string) bool {
	u, err := url.Parse(strings.TrimSpace(s))
	return err == nil && u.Scheme == "https" && u.Host != "" && !strings.ContainsAny(s, " \t\n")
}

// ContactValues are the values of Fields for a contact.
func ContactValues(name, profileName string, custom map[string]string, schoolName string) map[string]string {
	full := strings.TrimSpace(name)
	if full == "" {
		full = strings.TrimSpace(profileName)
	}
	first := full
	if f := strings.Fields(full); len(f) > 0 {
		first = f[0]
	}
	out := map[string]string{"first_name": first, "full_name": full, "school_name": schoolName}
	for _, k := range []string{"student_name", "class"} {
		out[k] = strings.TrimSpace(custom[k])
	}
	return out
}

// Prefill is the values a template's variables start with for a contact:
// the mapped contact field when it has a value, else nothing to type over.
func Prefill(nums []int, fieldMap, contact map[string]string) map[string]string {
	out := map[string]string{}
	for _, n := range nums {
		k := strconv.Itoa(n)
		if f := fieldMap[k]; f != "" && contact[f] != "" {
			out[k] = contact[f]
		}
	}
	return out
}
