package contactimport

import (
	"encoding/csv"
	"strings"
	"testing"
)

func TestImportParse(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		delim  rune
		header []string
		lines  []int
		first  []string
	}{
		{"comma", "name,phone\nAna,+15551230001\nBo,+15551230002\n", ',', []string{"name", "phone"}, []int{2, 3}, []string{"Ana", "+15551230001"}},
		{"semicolon with commas in cells", "name;phone;class\n\"Smith, Ana\";+15551230001;3,b\n", ';', []string{"name", "phone", "class"}, []int{2}, []string{"Smith, Ana", "+15551230001", "3,b"}},
		{"tab", "name\tphone\nAna\t+15551230001\n", '\t', []string{"name", "phone"}, []int{2}, []string{"Ana", "+15551230001"}},
		{"BOM and CRLF", "\xef\xbb\xbfName,Phone\r\nAna,+15551230001\r\n", ',', []string{"Name", "Phone"}, []int{2}, []string{"Ana", "+15551230001"}},
		{"quoted newline moves later lines", "name,phone,note\nAna,+15551230001,\"two\nlines\"\nBo,+15551230002,x\n", ',', []string{"name", "phone", "note"}, []int{2, 4}, []string{"Ana", "+15551230001", "two\nlines"}},
		{"multi-line record reports its first line", "name,phone\n\"Ana\nMaria\",+15551230001\nBo,+15551230002\n", ',', []string{"name", "phone"}, []int{2, 4}, []string{"Ana\nMaria", "+15551230001"}},
		{"blank lines skipped, numbers kept", "name,phone\n\nAna,+15551230001\n,\nBo,+15551230002", ',', []string{"name", "phone"}, []int{3, 5}, []string{"Ana", "+15551230001"}},
		{"semicolon in quoted header cell does not win", "\"a;b;c\",phone\nx,+15551230001\n", ',', []string{"a;b;c", "phone"}, []int{2}, []string{"x", "+15551230001"}},
		{"windows-1252", "name,phone\nJos\xe9 \x80,+15551230001\n", ',', []string{"name", "phone"}, []int{2}, []string{"José €", "+15551230001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if f.Delimiter != tt.delim {
				t.Errorf("delimiter %q, want %q", f.Delimiter, tt.delim)
			}
			if strings.Join(f.Header, "|") != strings.Join(tt.header, "|") {
				t.Errorf("header %q, want %q", f.Header, tt.header)
			}
			var lines []int
			for _, r := range f.Rows {
				lines = append(lines, r.Line)
			}
			if len(lines) != len(tt.lines) {
				t.Fatalf("lines %v, want %v", lines, tt.lines)
			}
			for i := range lines {
				if lines[i] != tt.lines[i] {
					t.Fatalf("lines %v, want %v", lines, tt.lines)
				}
			}
			if strings.Join(f.Rows[0].Cells, "|") != strings.Join(tt.first, "|") {
				t.Errorf("first row %q, want %q", f.Rows[0].Cells, tt.first)
			}
		})
	}
	for _, bad := range []string{"", "\xef\xbb\xbf", "  \n"} {
		if _, err := Parse(strings.NewReader(bad)); err == nil {
			t.Errorf("Parse(%q): no error", bad)
		}
	}
}

func TestImportGuessMapping(t *testing.T) {
	h := []string{"Full Name", "Mobile Number", "Role", "Language", "Preferred channel", "Student name", "Class", "WhatsApp consent", "Marketing consent", "Notes", "error"}
	want := Mapping{FieldName, FieldPhone, FieldRole, FieldLanguage, FieldChannel, FieldStudentName, FieldClass, FieldConsentTrans, FieldConsentMarket, "", ""}
	got := GuessMapping(h)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%q → %q, want %q", h[i], got[i], want[i])
		}
	}
	// A field goes to its first column only.
	if g := GuessMapping([]string{"phone", "mobile"}); g[0] != FieldPhone || g[1] != "" {
		t.Errorf("two phone columns: %v", g)
	}
	if errs := CheckMapping(Mapping{FieldName, FieldName}, 2); errs["1"] == "" || errs[""] == "" {
		t.Errorf("duplicate and missing phone not reported: %v", errs)
	}
	if errs := CheckMapping(Mapping{FieldName, FieldPhone}, 2); len(errs) != 0 {
		t.Errorf("good mapping: %v", errs)
	}
}

func TestImportValidate(t *testing.T) {
	in := "name,phone,role,language,channel,whatsapp consent,marketing consent\n" +
		"Ana,+1 555 123 0001,guardian,en,whatsapp,yes,no\n" + // 2 ok
		",+15551230002,,,,,\n" + // 3 missing name
		"Bo,12,,,,,\n" + // 4 bad phone
		"Cy,(555) 123-0001,,,,,\n" + // 5 duplicate of line 2
		"\"Di\nDo\",+15551230003,boss,,,,\n" + // 6 (two lines) bad role
		"Ed,+15551230004,,english!,,,\n" + // 8 bad language
		"Fi,+15551230005,,,fax,,\n" + // 9 bad channel
		"Gu,+15551230006,,,,maybe,\n" + // 10 bad consent
		"Ha,'+15551230007,Parent,pt_BR,SMS,,Y\n" + // 11 ok; escaped phone, parent → guardian
		"Ia,+15551230007,,,,,\n" // 12 duplicate of 11
	f, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	good, bad := Validate(f, GuessMapping(f.Header), "US")
	if len(good) != 2 || good[0].Line != 2 || good[1].Line != 11 {
		t.Fatalf("good rows %+v", good)
	}
	if g := good[0]; g.Phone != "+15551230001" || g.Role != "guardian" || g.Language != "en" || g.Channel != "whatsapp" ||
		!g.Consent["transactional"] || g.Consent["marketing"] {
		t.Errorf("line 2 read as %+v", g.Contact)
	}
	if g := good[1]; g.Phone != "+15551230007" || g.Role != "guardian" || g.Language != "pt-br" || g.Channel != "sms" || !g.Consent["marketing"] {
		t.Errorf("line 11 read as %+v", g.Contact)
	}
	want := map[int]string{
		3:  "Name is missing",
		4:  "Phone number “12”: ",
		5:  "Duplicate: +15551230001 is already on line 2",
		6:  "Role “boss” is not guardian, student or staff",
		8:  "Language “english!” is not a language code",
		9:  "Preferred channel “fax” is not WhatsApp or SMS",
		10: "Consent: school messages “maybe” is not yes or no",
		12: "Duplicate: +15551230007 is already on line 11",
	}
	if len(bad) != len(want) {
		t.Fatalf("bad rows %+v", bad)
	}
	for _, b := range bad {
		w, ok := want[b.Line]
		if !ok || !strings.HasPrefix(b.Message, w) {
			t.Errorf("line %d: %q, want prefix %q", b.Line, b.Message, w)
		}
	}
}

func TestImportSafeCellAndBadRowsCSV(t *testing.T) {
	for in, want := range map[string]string{
		"=1+1": "'=1+1", "+15551230001": "'+15551230001", "-3": "'-3", "@SUM(A1)": "'@SUM(A1)",
		"\tx": "'\tx", "\rx": "'\rx", "Ana": "Ana", "": "", "a=b": "a=b",
	} {
		if got := SafeCell(in); got != want {
			t.Errorf("SafeCell(%q) = %q, want %q", in, got, want)
		}
	}
	out := BadRowsCSV([]string{"name", "phone"}, []Bad{
		{Row: Row{Line: 3, Cells: []string{"=HYPERLINK(\"x\")", "+1555"}}, Message: "Phone number “+1555”: too short"},
		{Row: Row{Line: 7, Cells: []string{"Bo, Jr", "12", "extra"}}, Message: "Name is missing"},
	})
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"name", "phone", "", "error"},
		{"'=HYPERLINK(\"x\")", "'+1555", "", "Line 3: Phone number “+1555”: too short"},
		{"Bo, Jr", "12", "extra", "Line 7: Name is missing"},
	}
	for i := range want {
		if strings.Join(recs[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("record %d: %q, want %q", i, recs[i], want[i])
		}
	}
	// The file of rows to fix imports as is: the apostrophes come off.
	f, _ := Parse(strings.NewReader(out))
	v := NewValidator(GuessMapping(f.Header), "US")
	if c, _ := v.Check(Row{Line: 2, Cells: []string{"Ana", "'+15551230001"}}); c.Phone != "+15551230001" {
		t.Errorf("escaped phone read as %q", c.Phone)
	}
}

func TestImportMerge(t *testing.T) {
	yes, no := true, false
	old := Stored{ID: 1, Phone: "+15551230001", Name: "Ana", Role: "guardian", Language: "en", Channel: "whatsapp", WhatsAppCapable: true, Custom: map[string]string{"class": "3B", "other": "x"}}
	if _, changed := Merge(old, Contact{Name: "Ana"}); changed {
		t.Error("same name, nothing else: changed")
	}
	if _, changed := Merge(old, Contact{Name: "Ana", Language: "en", Custom: map[string]string{"class": "3B"}, WhatsApp: &yes}); changed {
		t.Error("same values: changed")
	}
	n, changed := Merge(old, Contact{Name: "Ana", Custom: map[string]string{"class": "4A"}})
	if !changed || n.Custom["class"] != "4A" || n.Custom["other"] != "x" || old.Custom["class"] != "3B" {
		t.Errorf("class change: %v %+v (old %+v)", changed, n, old)
	}
	n, changed = Merge(old, Contact{Name: "Ana", WhatsApp: &no})
	if !changed || n.WhatsAppCapable || n.Channel != "" {
		t.Errorf("not on WhatsApp: %+v", n)
	}
	s := NewStored(Contact{Phone: "+1", Name: "Bo"})
	if s.Role != "guardian" || !s.WhatsAppCapable || s.Channel != "" {
		t.Errorf("defaults: %+v", s)
	}
}
