package contacts

import (
	"context"
	"encoding/csv"
	"io"
	"strings"

	"github.com/classline/classline/db"
)

// SafeCell defuses spreadsheet formula injection: a cell starting with
// = + - @, a tab or a carriage return gets a leading apostrophe, so Excel,
// LibreOffice and Sheets show it as text instead of running it.
func SafeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// ExportHeader is the export's header row. other_phones (the secondary
// numbers, "; "-separated) is last so files and scripts reading the older
// columns by position keep working.
var ExportHeader = []string{"name", "phone", "role", "language", "whatsapp", "preferred_channel",
	"student_name", "class", "student_id", "groups", "whatsapp_profile_name", "consent_transactional", "other_phones"}

func consentWord(c string) string {
	switch c {
	case "in":
		return "opted in"
	case "out":
		return "opted out"
	}
	return "unknown"
}

// Export writes the contacts f selects as UTF-8 CSV with a header row.
func (s *Service) Export(ctx context.Context, w io.Writer, f db.ContactFilter) error {
	f.Limit, f.After = 0, nil
	cw := csv.NewWriter(w)
	if err := cw.Write(ExportHeader); err != nil {
		return err
	}
	err := s.DB.EachContact(ctx, f, func(r db.ContactRow) error {
		wa := "no"
		if r.WhatsAppCapable {
			wa = "yes"
		}
		rec := []string{r.Name, r.Phone, r.Role, r.Language, wa, r.PreferredChannel,
			r.CustomFields["student_name"], r.CustomFields["class"], r.CustomFields["student_id"],
			strings.Join(r.Groups, "; "), r.ProfileName, consentWord(r.Consent), strings.Join(r.OtherPhones, "; ")}
		for i := range rec {
			rec[i] = SafeCell(rec[i])
		}
		return cw.Write(rec)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}
