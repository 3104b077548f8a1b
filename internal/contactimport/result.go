package contactimport

import (
	"bytes"
	"maps"
	"strings"
)

// BadRowsCSV writes the rows that could not be imported: the file's header
// and cells as they were plus an "error" column, every cell defused against
// formula injection (SafeCell; a later import undoes it).
//
// Every cell is quoted. encoding/csv quotes only cells holding a comma, so a
// header cell with semicolons or tabs ("a;b;c") was written bare, and Parse's
// DetectDelimiter then read the file of rows to fix as semicolon-separated:
// re-importing it split every row wrongly (found by FuzzImport).
func BadRowsCSV(header []string, bad []Bad) string {
	if len(bad) == 0 {
		return ""
	}
	var b bytes.Buffer
	w := quotedWriter{&b}
	width := len(header)
	for _, r := range bad {
		width = max(width, len(r.Cells))
	}
	rec := make([]string, width+1)
	for i := range width {
		rec[i] = ""
		if i < len(header) {
			rec[i] = SafeCell(header[i])
		}
	}
	rec[width] = "error"
	_ = w.Write(rec)
	for _, r := range bad {
		for i := range width {
			rec[i] = ""
			if i < len(r.Cells) {
				rec[i] = SafeCell(r.Cells[i])
			}
		}
		rec[width] = SafeCell("Line " + itoa(r.Line) + ": " + r.Message)
		_ = w.Write(rec)
	}
	return b.String()
}

// quotedWriter writes CSV records with every field in double quotes (RFC
// 4180; a quote inside is doubled), lines ending in \n as encoding/csv's.
type quotedWriter struct{ b *bytes.Buffer }

func (w quotedWriter) Write(rec []string) error {
	for i, f := range rec {
		if i > 0 {
			w.b.WriteByte(',')
		}
		w.b.WriteByte('"')
		w.b.WriteString(strings.ReplaceAll(f, `"`, `""`))
		w.b.WriteByte('"')
	}
	w.b.WriteByte('\n')
	return nil
}

func itoa(n int) string {
	var buf [20]byte
	i := len(buf)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}

// Stored is a contact as the database holds it (the fields an import may set).
type Stored struct {
	ID              int64
	Phone           string
	Name, Role      string
	Language        string
	Channel         string // "" = no preference
	WhatsAppCapable bool
	Custom          map[string]string
}

// NewStored is what a new contact gets from c: defaults where c says nothing.
func NewStored(c Contact) Stored {
	s := Stored{Phone: c.Phone, Name: c.Name, Role: "guardian", Language: c.Language, Channel: c.Channel, WhatsAppCapable: true, Custom: map[string]string{}}
	if c.Role != "" {
		s.Role = c.Role
	}
	if c.WhatsApp != nil {
		s.WhatsAppCapable = *c.WhatsApp
	}
	if c.Channel == "sms" && c.WhatsApp == nil {
		s.WhatsAppCapable = true
	}
	maps.Copy(s.Custom, c.Custom)
	return s
}

// Merge applies c to an existing contact: what the file says replaces what
// was stored, what it leaves empty is kept (custom fields other than the
// file's are never touched). changed is false when nothing
// differs, so a second import of the same file writes nothing.
func Merge(old Stored, c Contact) (Stored, bool) {
	n := old
	n.Custom = maps.Clone(old.Custom)
	if n.Custom == nil {
		n.Custom = map[string]string{}
	}
	n.Name = c.Name
	if c.Role != "" {
		n.Role = c.Role
	}
	if c.Language != "" {
		n.Language = c.Language
	}
	if c.Channel != "" {
		n.Channel = c.Channel
	}
	if c.WhatsApp != nil {
		n.WhatsAppCapable = *c.WhatsApp
	}
	if n.Channel == "whatsapp" && !n.WhatsAppCapable {
		// The file says "not on WhatsApp": an old WhatsApp preference cannot stand.
		n.Channel = ""
	}
	changed := n.Name != old.Name || n.Role != old.Role || n.Language != old.Language ||
		n.Channel != old.Channel || n.WhatsAppCapable != old.WhatsAppCapable
	for k, v := range c.Custom {
		if old, ok := n.Custom[k]; !ok || old != v {
			changed = true
		}
		n.Custom[k] = v
	}
	return n, changed
}
