// Package contactimport imports contacts from a CSV file: parsing (delimiter,
// BOM, quoted fields), column mapping guessed from the header, per-row
// validation with the file's line numbers, and a service that upserts the
// good rows in batches, records consent columns in the ledger and keeps the
// bad rows as a CSV to fix and import again.
package contactimport

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// MaxFileBytes is the largest file accepted (20 MB).
const MaxFileBytes = 20 << 20

// MaxRows bounds the data rows of one file.
const MaxRows = 200_000

// Row is one record of the file with the line it starts on (the header is
// line 1; a quoted field spanning lines moves the next records down).
type Row struct {
	Line  int
	Cells []string
}

// File is a parsed CSV file.
type File struct {
	Header    []string
	Rows      []Row
	Delimiter rune
}

// ErrEmpty is returned for a file without a header row.
var ErrEmpty = errors.New("the file is empty: it needs a header row and at least one contact")

// Parse reads a CSV file: UTF-8 (a BOM is dropped; text that is not UTF-8
// is read as Windows-1252, which is what older Excel saves), delimiter
// comma, semicolon or tab (whichever the header line uses most), the first
// record being the header.
func Parse(r io.Reader) (File, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return File{}, fmt.Errorf("read the file: %w", err)
	}
	if len(data) > MaxFileBytes {
		return File{}, fmt.Errorf("the file is larger than %d MB: split it into smaller files", MaxFileBytes>>20)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		data = decodeWindows1252(data)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return File{}, ErrEmpty
	}
	f := File{Delimiter: DetectDelimiter(data)}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = f.Delimiter
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	first := true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return File{}, fmt.Errorf("line %d of the file cannot be read as CSV: %v", pe.StartLine, pe.Err)
			}
			return File{}, fmt.Errorf("read the CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if first {
			first = false
			for i := range rec {
				rec[i] = strings.TrimSpace(rec[i])
			}
			f.Header = rec
			continue
		}
		if blank(rec) {
			continue
		}
		if len(f.Rows) >= MaxRows {
			return File{}, fmt.Errorf("the file has more than %d contacts: split it into smaller files", MaxRows)
		}
		f.Rows = append(f.Rows, Row{Line: line, Cells: rec})
	}
	if len(f.Header) == 0 {
		return File{}, ErrEmpty
	}
	return f, nil
}

func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// DetectDelimiter picks comma, semicolon or tab: the one the first line
// (outside quotes) holds most of; comma when none.
func DetectDelimiter(data []byte) rune {
	counts := map[rune]int{}
	inQuote := false
	for _, b := range data {
		if b == '"' {
			inQuote = !inQuote
			continue
		}
		if inQuote {
			continue
		}
		if b == '\n' || b == '\r' {
			break
		}
		switch b {
		case ',', ';', '\t':
			counts[rune(b)]++
		}
	}
	best := ','
	for _, d := range []rune{';', '\t'} {
		if counts[d] > counts[best] {
			best = d
		}
	}
	return best
}

// cp1252 maps bytes 0x80–0x9F of Windows-1252; the rest equal Latin-1.
var cp1252 = [32]rune{
	'€', 0x81, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0x8D, 'Ž', 0x8F,
	0x90, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0x9D, 'ž', 'Ÿ',
}

func decodeWindows1252(data []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(data) + len(data)/8)
	for _, c := range data {
		switch {
		case c < 0x80:
			b.WriteByte(c)
		case c < 0xA0:
			b.WriteRune(cp1252[c-0x80])
		default:
			b.WriteRune(rune(c))
		}
	}
	return b.Bytes()
}

// SafeCell defuses spreadsheet formula injection: a cell starting with
// = + - @, a tab or a carriage return gets a leading apostrophe.
func SafeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
