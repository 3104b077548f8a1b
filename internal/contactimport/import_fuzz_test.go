package contactimport

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzImport feeds the CSV import arbitrary bytes and arbitrary cells:
//   - Parse never panics; what it returns has a header, rows on strictly
//     increasing lines after the header, and no blank row;
//   - Validate puts every row either among the good ones or among the bad
//     ones, once, in file order, with the row's own line number and a reason;
//   - the bad rows' download (BadRowsCSV) reads back as the same rows, so
//     it can be fixed and imported again;
//   - a fuzzed row written between two good rows never costs them: both are
//     kept with their own line numbers (the second unless the fuzzed row
//     took its phone number first).
func FuzzImport(f *testing.F) {
	f.Add([]byte("name,phone\nAna,+15551230001\n"), "Bo", "+1 555 123 0002", "3b")
	f.Add([]byte("\xef\xbb\xbfName;Phone;Class\r\n\"Smith, Ana\";+15551230001;3,b\r\n;;\r\nBo;0;x"), "=HYPERLINK(\"x\")", "'+15551230003", "\t")
	f.Add([]byte("\"a;b;c;d\",phone\nx,y\n"), "a\nb", "+44 7700 900123", "\r\n")
	f.Add([]byte("name\tphone\n\"unterminated\t+1555\n"), "", "", "")
	f.Add([]byte("Jos\xe9,\x80\n\x81,\"\"\"\n"), "\xff", "+15551230001", "\"")
	f.Fuzz(func(t *testing.T, data []byte, name, phone, class string) {
		if file, err := Parse(bytes.NewReader(data)); err == nil {
			checkFile(t, file)
			checkValidate(t, file, GuessMapping(file.Header))
			checkValidate(t, file, Mapping{FieldName, FieldPhone, FieldClass, FieldRole, FieldWhatsApp})
		}

		// Known rows around a fuzzed one, written as a spreadsheet would.
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		lines := map[string]int{}
		write := func(rec ...string) {
			w.Flush()
			lines[rec[0]] = 1 + bytes.Count(b.Bytes(), []byte("\n"))
			_ = w.Write(rec)
		}
		write("name", "phone", "class")
		write("Ada Lovelace", "+44 7700 900123", "6A")
		write(name, phone, class)
		write("Grace Hopper", "(555) 123-4567", "6B")
		w.Flush()
		file, err := Parse(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatalf("file written by encoding/csv refused: %v\n%q", err, b.Bytes())
		}
		checkFile(t, file)
		good, bad := checkValidate(t, file, GuessMapping(file.Header))
		find := func(n string) (Valid, bool) {
			for _, g := range good {
				if g.Name == n {
					return g, true
				}
			}
			return Valid{}, false
		}
		if g, ok := find("Ada Lovelace"); !ok || g.Line != lines["Ada Lovelace"] || g.Phone != "+447700900123" || g.Custom["class"] != "6A" {
			t.Fatalf("first good row lost or changed: %+v (good %+v, bad %+v)\n%q", g, good, bad, b.Bytes())
		}
		g, ok := find("Grace Hopper")
		fuzzTook := slices.ContainsFunc(good, func(v Valid) bool { return v.Line == lines[name] && v.Phone == "+15551234567" })
		if !fuzzTook && (!ok || g.Line != lines["Grace Hopper"] || g.Phone != "+15551234567" || g.Custom["class"] != "6B") {
			t.Fatalf("last good row lost or changed: %+v (good %+v, bad %+v)\n%q", g, good, bad, b.Bytes())
		}
	})
}

func checkFile(t *testing.T, f File) {
	t.Helper()
	if len(f.Header) == 0 {
		t.Fatalf("parsed without a header")
	}
	prev := 1
	for _, r := range f.Rows {
		if r.Line <= prev {
			t.Fatalf("row on line %d after line %d", r.Line, prev)
		}
		prev = r.Line
		if blank(r.Cells) {
			t.Fatalf("blank row kept on line %d", r.Line)
		}
	}
}

// checkValidate checks that every row is accounted for once, with its line.
func checkValidate(t *testing.T, f File, m Mapping) ([]Valid, []Bad) {
	t.Helper()
	good, bad := Validate(f, m, "US")
	if len(good)+len(bad) != len(f.Rows) {
		t.Fatalf("%d rows in, %d good + %d bad out", len(f.Rows), len(good), len(bad))
	}
	gi, bi := 0, 0
	for _, r := range f.Rows {
		switch {
		case gi < len(good) && good[gi].Line == r.Line:
			gi++
		case bi < len(bad) && bad[bi].Line == r.Line:
			if bad[bi].Message == "" || !slices.Equal(bad[bi].Cells, r.Cells) {
				t.Fatalf("line %d reported as %q with cells %q, row has %q", r.Line, bad[bi].Message, bad[bi].Cells, r.Cells)
			}
			bi++
		default:
			t.Fatalf("row on line %d neither accepted nor reported", r.Line)
		}
	}
	if len(bad) == 0 {
		return good, bad
	}
	// The download of bad rows reads back as those rows plus an error column.
	out := BadRowsCSV(f.Header, bad)
	back, err := Parse(strings.NewReader(out))
	if err != nil {
		t.Fatalf("bad rows CSV does not parse: %v\n%q", err, out)
	}
	if len(back.Rows) != len(bad) {
		t.Fatalf("bad rows CSV holds %d rows, want %d\n%q", len(back.Rows), len(bad), out)
	}
	for i, r := range back.Rows {
		want := bad[i].Cells
		if len(r.Cells) < len(want)+1 {
			t.Fatalf("bad row %d reads back as %q, want %q + error\n%q", i, r.Cells, want, out)
		}
		for j, c := range want {
			if got, orig := unescapeCell(r.Cells[j]), unescapeCell(strings.ReplaceAll(c, "\r\n", "\n")); got != orig {
				t.Fatalf("bad row %d cell %d reads back as %q, was %q\n%q", i, j, got, c, out)
			}
		}
		if msg := r.Cells[len(r.Cells)-1]; !strings.Contains(msg, "Line "+strconv.Itoa(bad[i].Line)+": ") {
			t.Fatalf("bad row %d error column %q lacks its line %d", i, msg, bad[i].Line)
		}
	}
	return good, bad
}

// unescapeCell undoes SafeCell as the import does: a cell that already
// started with the apostrophe reads back the same either way.
func unescapeCell(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.ContainsRune("=+-@\t\r", rune(s[1])) {
		return s[1:]
	}
	return s
}
