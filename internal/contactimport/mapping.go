package contactimport

import (
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/classline/classline/internal/policy"
)

// Field is what a column of the file holds.
type Field string

// The fields a column can be mapped to; "" ignores the column.
const (
	FieldIgnore        Field = ""
	FieldName          Field = "name"
	FieldPhone         Field = "phone"
	FieldRole          Field = "role"
	FieldLanguage      Field = "language"
	FieldChannel       Field = "preferred_channel"
	FieldWhatsApp      Field = "whatsapp"
	FieldStudentName   Field = "student_name"
	FieldClass         Field = "class"
	FieldStudentID     Field = "student_id"
	FieldConsentTrans  Field = "consent_transactional"
	FieldConsentMarket Field = "consent_marketing"
)

// FieldOption is one choice of the mapping selects.
type FieldOption struct {
	Field Field
	Label string
}

// Fields lists the choices in the order the mapping selects show them.
var Fields = []FieldOption{
	{FieldIgnore, "Don't import"},
	{FieldName, "Name"},
	{FieldPhone, "Phone number"},
	{FieldRole, "Role (guardian, student, staff)"},
	{FieldLanguage, "Language"},
	{FieldChannel, "Preferred channel (WhatsApp, SMS)"},
	{FieldWhatsApp, "On WhatsApp (yes/no)"},
	{FieldStudentName, "Student name"},
	{FieldClass, "Class"},
	{FieldStudentID, "Student ID"},
	{FieldConsentTrans, "Consent: school messages (yes/no)"},
	{FieldConsentMarket, "Consent: marketing (yes/no)"},
}

// CustomFields are the fields stored in contacts.custom_fields.
var CustomFields = []Field{FieldStudentName, FieldClass, FieldStudentID}

func validField(f Field) bool {
	for _, o := range Fields {
		if o.Field == f {
			return true
		}
	}
	return false
}

// Mapping says, per column of the file, which field it holds.
type Mapping []Field

// Index returns the column holding f, or -1.
func (m Mapping) Index(f Field) int {
	for i, x := range m {
		if x == f {
			return i
		}
	}
	return -1
}

var nonAlnum = regexp.MustCompile(`[^a-z0-9]+`)

func normHeader(h string) string {
	return strings.Trim(nonAlnum.ReplaceAllString(strings.ToLower(strings.TrimSpace(h)), " "), " ")
}

// guessOne maps one header to a field, or "" when it says nothing known.
func guessOne(h string) Field {
	n := normHeader(h)
	words := " " + n + " "
	has := func(ws ...string) bool {
		for _, w := range ws {
			if strings.Contains(words, " "+w+" ") {
				return true
			}
		}
		return false
	}
	switch {
	case n == "" || n == "error" || n == "errors":
		return FieldIgnore
	case has("consent", "opt", "opted", "optin", "subscribed") || strings.Contains(n, "opt in") || strings.Contains(n, "opted"):
		if has("marketing", "newsletter", "promotions", "promo") {
			return FieldConsentMarket
		}
		return FieldConsentTrans
	case has("student", "pupil", "child") && has("id", "number", "no"):
		return FieldStudentID
	case has("student", "pupil", "child"):
		return FieldStudentName
	case has("class", "form", "grade", "year", "homeroom"):
		return FieldClass
	case has("phone", "mobile", "cell", "number", "tel", "telephone", "msisdn") || n == "whatsapp number":
		return FieldPhone
	case has("channel", "preferred", "prefers"):
		return FieldChannel
	case has("whatsapp", "wa"):
		return FieldWhatsApp
	case has("role", "type", "relationship"):
		return FieldRole
	case has("language", "lang", "locale"):
		return FieldLanguage
	case has("name", "fullname", "contact", "guardian", "parent"):
		return FieldName
	}
	return FieldIgnore
}

// GuessMapping maps each header to a field by its name; each field goes to
// its first matching column only.
func GuessMapping(header []string) Mapping {
	m := make(Mapping, len(header))
	used := map[Field]bool{}
	for i, h := range header {
		f := guessOne(h)
		if f != FieldIgnore && !used[f] {
			m[i] = f
			used[f] = true
		}
	}
	return m
}

// CheckMapping says what is wrong with a mapping, keyed by column index
// ("" for the whole mapping).
func CheckMapping(m Mapping, columns int) map[string]string {
	errs := map[string]string{}
	seen := map[Field]int{}
	for i, f := range m {
		if i >= columns {
			break
		}
		if !validField(f) {
			errs[fmt.Sprint(i)] = "Choose one of the listed fields."
			continue
		}
		if f == FieldIgnore {
			continue
		}
		if j, dup := seen[f]; dup {
			errs[fmt.Sprint(i)] = fmt.Sprintf("Column %d already holds this field: choose it for one column only.", j+1)
			continue
		}
		seen[f] = i
	}
	var missing []string
	if _, ok := seen[FieldName]; !ok {
		missing = append(missing, "Name")
	}
	if _, ok := seen[FieldPhone]; !ok {
		missing = append(missing, "Phone number")
	}
	if len(missing) > 0 {
		errs[""] = "Choose the column holding " + strings.Join(missing, " and the column holding ") + "."
	}
	return errs
}

// Contact is a row turned into what is stored. Empty strings and nil mean
// "the file says nothing": an existing contact keeps its value.
type Contact struct {
	Phone, Name, Role, Language, Channel string
	WhatsApp                             *bool
	Custom                               map[string]string
	Consent                              map[string]bool // purpose → opted in
}

// LineError is a row that cannot be imported, with its line in the file.
type LineError struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// Valid is a good row.
type Valid struct {
	Line int
	Contact
}

// Bad is a row that cannot be imported, with the reasons.
type Bad struct {
	Row
	Message string
}

// Validator checks rows one after another; it remembers phones seen, so a
// later row with the same number is reported as a duplicate.
type Validator struct {
	Mapping Mapping
	Region  string
	seen    map[string]int
}

// NewValidator returns a validator for m, parsing local numbers in region.
func NewValidator(m Mapping, region string) *Validator {
	return &Validator{Mapping: m, Region: region, seen: map[string]int{}}
}

var langCode = regexp.MustCompile(`^[a-z]{2,3}(-[a-z0-9]{2,8})?$`)

// unescape undoes SafeCell, so a downloaded file of rows to fix imports as is.
func unescape(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.ContainsRune("=+-@\t\r", rune(s[1])) {
		return s[1:]
	}
	return s
}

func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, unescape(strings.TrimSpace(s)))
	return strings.Join(strings.Fields(s), " ")
}

// yesNo reads a yes/no cell: ok false when it is neither.
func yesNo(s string) (v, ok bool) {
	switch strings.ToLower(strings.Trim(s, " .")) {
	case "yes", "y", "true", "1", "x", "in", "opted in", "opt in", "opt-in", "subscribed", "si", "sí", "oui", "ja":
		return true, true
	case "no", "n", "false", "0", "out", "opted out", "opt out", "opt-out", "unsubscribed", "non", "nein":
		return false, true
	}
	return false, false
}

// Check validates one row; it returns the contact or the reasons it
// cannot be imported, joined with "; ".
func (v *Validator) Check(r Row) (Contact, string) {
	c, errs := v.check(r)
	return v.dedupe(r, c, errs)
}

// dedupe reports a row whose phone an earlier good row already has.
func (v *Validator) dedupe(r Row, c Contact, errs []string) (Contact, string) {
	if c.Phone != "" && len(errs) == 0 {
		if first, dup := v.seen[c.Phone]; dup {
			errs = append(errs, fmt.Sprintf("Duplicate: %s is already on line %d", c.Phone, first))
		} else {
			v.seen[c.Phone] = r.Line
		}
	}
	if len(errs) > 0 {
		return Contact{}, strings.Join(errs, "; ")
	}
	return c, ""
}

// check validates a row on its own (no duplicates); safe to call from
// several goroutines.
func (v *Validator) check(r Row) (Contact, []string) {
	var c Contact
	var errs []string
	cell := func(f Field) string {
		i := v.Mapping.Index(f)
		if i < 0 || i >= len(r.Cells) {
			return ""
		}
		return clean(r.Cells[i])
	}
	c.Name = cell(FieldName)
	switch {
	case c.Name == "":
		errs = append(errs, "Name is missing")
	case utf8.RuneCountInString(c.Name) > 100:
		errs = append(errs, "Name is longer than 100 characters")
	}
	rawPhone := cell(FieldPhone)
	phoneOK := false
	if rawPhone == "" {
		errs = append(errs, "Phone number is missing")
	} else if p, err := policy.NormalizePhone(rawPhone, v.Region); err != nil {
		errs = append(errs, "Phone number "+quote(rawPhone)+": "+err.Error())
	} else {
		c.Phone, phoneOK = p, true
	}
	if s := cell(FieldRole); s != "" {
		switch strings.ToLower(s) {
		case "guardian", "parent", "carer", "mother", "father":
			c.Role = "guardian"
		case "student", "pupil":
			c.Role = "student"
		case "staff", "teacher":
			c.Role = "staff"
		default:
			errs = append(errs, "Role "+quote(s)+" is not guardian, student or staff")
		}
	}
	if s := cell(FieldLanguage); s != "" {
		l := strings.ToLower(strings.ReplaceAll(s, "_", "-"))
		if !langCode.MatchString(l) {
			errs = append(errs, "Language "+quote(s)+" is not a language code such as en or es")
		} else {
			c.Language = l
		}
	}
	if s := cell(FieldChannel); s != "" {
		switch strings.ToLower(strings.ReplaceAll(s, " ", "")) {
		case "whatsapp", "wa":
			c.Channel = policy.ChannelWhatsApp
		case "sms", "text":
			c.Channel = policy.ChannelSMS
		default:
			errs = append(errs, "Preferred channel "+quote(s)+" is not WhatsApp or SMS")
		}
	}
	if s := cell(FieldWhatsApp); s != "" {
		b, ok := yesNo(s)
		if !ok {
			errs = append(errs, "On WhatsApp "+quote(s)+" is not yes or no")
		} else {
			c.WhatsApp = &b
		}
	}
	if c.Channel == policy.ChannelWhatsApp && c.WhatsApp != nil && !*c.WhatsApp {
		errs = append(errs, "Prefers WhatsApp but is marked as not on WhatsApp")
	}
	for _, f := range CustomFields {
		if s := cell(f); s != "" {
			if utf8.RuneCountInString(s) > 100 {
				errs = append(errs, fieldLabel(f)+" is longer than 100 characters")
				continue
			}
			if c.Custom == nil {
				c.Custom = map[string]string{}
			}
			c.Custom[string(f)] = s
		}
	}
	for _, p := range []struct {
		f       Field
		purpose string
	}{{FieldConsentTrans, "transactional"}, {FieldConsentMarket, "marketing"}} {
		if s := cell(p.f); s != "" {
			b, ok := yesNo(s)
			if !ok {
				errs = append(errs, fieldLabel(p.f)+" "+quote(s)+" is not yes or no")
				continue
			}
			if c.Consent == nil {
				c.Consent = map[string]bool{}
			}
			c.Consent[p.purpose] = b
		}
	}
	if !phoneOK {
		c.Phone = ""
	}
	return c, errs
}

func fieldLabel(f Field) string {
	for _, o := range Fields {
		if o.Field == f {
			if i := strings.Index(o.Label, " ("); i > 0 {
				return o.Label[:i]
			}
			return o.Label
		}
	}
	return string(f)
}

func quote(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		s = string([]rune(s)[:39]) + "…"
	}
	return "“" + s + "”"
}

// Validate checks every row of f. Phone parsing dominates, so rows are
// checked on every CPU; duplicates are then found in file order.
func Validate(f File, m Mapping, region string) (good []Valid, bad []Bad) {
	v := NewValidator(m, region)
	type checked struct {
		c    Contact
		errs []string
	}
	out := make([]checked, len(f.Rows))
	workers := min(runtime.GOMAXPROCS(0), max(len(f.Rows)/500, 1))
	var wg sync.WaitGroup
	chunk := (len(f.Rows) + workers - 1) / workers
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, len(f.Rows))
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				out[i].c, out[i].errs = v.check(f.Rows[i])
			}
		})
	}
	wg.Wait()
	for i, r := range f.Rows {
		c, msg := v.dedupe(r, out[i].c, out[i].errs)
		if msg != "" {
			bad = append(bad, Bad{Row: r, Message: msg})
			continue
		}
		good = append(good, Valid{Line: r.Line, Contact: c})
	}
	return good, bad
}
