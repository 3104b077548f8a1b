package broadcastdraft

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"

	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/policy"
)

// MaxNumbers bounds a pasted or uploaded list, so one form cannot hold the
// server on a million lines; bigger audiences belong in a group.
const MaxNumbers = 20000

// BadLine is a pasted line that is not a phone number.
type BadLine struct {
	Line int
	Text string
	Why  string
}

// ParseNumbers reads pasted lines, "number[, name]" each (a tab or a
// semicolon also separates the name). Blank lines are skipped, and so is a
// first line without any digit (a header such as "phone,name"). Entries keep
// the number as typed: the engine parses it again at preparation, so what the
// review shows and what is sent cannot differ.
func ParseNumbers(text, region string) (entries []broadcast.Entry, bad []BadLine) {
	seenDigits := false
	for i, raw := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" {
			continue
		}
		phone, name := line, ""
		if j := strings.IndexAny(line, ",;\t"); j >= 0 {
			phone, name = strings.TrimSpace(line[:j]), strings.TrimSpace(line[j+1:])
		}
		if !seenDigits && !strings.ContainsFunc(phone, unicode.IsDigit) {
			continue // a header line
		}
		seenDigits = true
		e := broadcast.Entry{Phone: phone, Name: name, Line: i + 1}
		if _, err := policy.NormalizePhone(phone, region); err != nil {
			why := err.Error()
			var pe *policy.PhoneError
			if !errors.As(err, &pe) {
				why = "not a phone number"
			}
			bad = append(bad, BadLine{Line: i + 1, Text: phone, Why: why})
		}
		entries = append(entries, e)
	}
	return entries, bad
}

// NumbersText writes entries back as the lines they were typed as.
func NumbersText(entries []broadcast.Entry) string {
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.Phone)
		if e.Name != "" {
			b.WriteString(", ")
			b.WriteString(e.Name)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// ReadNumbersCSV reads an uploaded spreadsheet export and returns its rows
// as pasted lines ("number, name"). The number column is the one whose
// header says phone, mobile, number or tel (else the first column), the name
// column the one whose header says name (else the column after the number).
// Commas, semicolons and tabs are recognised, and a UTF-8 byte-order mark is dropped.
func ReadNumbersCSV(r io.Reader) ([]string, error) {
	data, err := io.ReadAll(io.LimitReader(r, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("read the file: %w", err)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	first, _, _ := strings.Cut(string(data[:min(len(data), 4096)]), "\n")
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = delimiter(first)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.TrimLeadingSpace = true
	rows, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("read the file as CSV: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	// A first row without a digit anywhere is a header: find the columns by
	// their titles. Otherwise the number comes first and the name second.
	phoneCol, nameCol := 0, 1
	if !slices.ContainsFunc(rows[0], func(c string) bool { return strings.ContainsFunc(c, unicode.IsDigit) }) {
		phoneCol, nameCol = -1, -1
		for i, h := range rows[0] {
			h = strings.ToLower(strings.TrimSpace(h))
			switch {
			case phoneCol < 0 && (strings.Contains(h, "phone") || strings.Contains(h, "mobile") || strings.Contains(h, "number") || strings.Contains(h, "tel")):
				phoneCol = i
			case nameCol < 0 && strings.Contains(h, "name"):
				nameCol = i
			}
		}
		if phoneCol < 0 {
			phoneCol = 0
		}
		rows = rows[1:]
	}
	var out []string
	for _, row := range rows {
		if phoneCol >= len(row) || strings.TrimSpace(row[phoneCol]) == "" {
			continue
		}
		line := strings.TrimSpace(row[phoneCol])
		if nameCol >= 0 && nameCol < len(row) {
			if n := strings.Join(strings.Fields(row[nameCol]), " "); n != "" {
				line += ", " + n
			}
		}
		out = append(out, line)
		if len(out) > MaxNumbers {
			return nil, fmt.Errorf("the file has more than %d numbers: put a list that big in a group instead", MaxNumbers)
		}
	}
	return out, nil
}

// delimiter guesses the separator from the first line: the most frequent of
// comma, semicolon and tab (spreadsheets in many locales write semicolons).
func delimiter(line string) rune {
	best, n := ',', strings.Count(line, ",")
	for _, d := range []rune{';', '\t'} {
		if c := strings.Count(line, string(d)); c > n {
			best, n = d, c
		}
	}
	return best
}
