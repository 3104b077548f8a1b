package broadcastdraft

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // zone data in the binary: these tests never depend on the machine's

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/broadcast"
)

func TestParseNumbers(t *testing.T) {
	for _, c := range []struct {
		name, text string
		entries    int
		badLines   []int
		firstName  string
	}{
		{"blank lines skipped", "\n+1 555 010 4242\n\n(555) 010-4243, Ann Lee\r\n", 2, nil, ""},
		{"header skipped", "phone,name\n+1 555 010 4242,Maria", 1, nil, "Maria"},
		{"bad line kept and reported", "+1 555 010 4242\n12ab34, Bob\n555", 3, []int{2, 3}, ""},
		{"tab and semicolon", "+1 555 010 4242\tKim\n+1 555 010 4243; Jo", 2, nil, "Kim"},
	} {
		t.Run(c.name, func(t *testing.T) {
			entries, bad := ParseNumbers(c.text, "US")
			if len(entries) != c.entries {
				t.Errorf("%d entries, want %d", len(entries), c.entries)
			}
			var lines []int
			for _, b := range bad {
				lines = append(lines, b.Line)
			}
			if len(lines) != len(c.badLines) || (len(lines) > 0 && lines[0] != c.badLines[0]) {
				t.Errorf("bad lines %v, want %v", lines, c.badLines)
			}
			if c.firstName != "" && entries[0].Name != c.firstName {
				t.Errorf("first name %q, want %q", entries[0].Name, c.firstName)
			}
		})
	}
}

func TestReadNumbersCSV(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"header by name, semicolons, BOM", "\ufeffName;Mobile\nAnn Lee;+1 555 010 4242\n", "+1 555 010 4242, Ann Lee"},
		{"no header: number then name", "+1 555 010 4242,Ann\n+1 555 010 4243,\n", "+1 555 010 4242, Ann|+1 555 010 4243"},
		{"a name containing tel is not a header", "+1 555 010 4242,Mary Telford\n", "+1 555 010 4242, Mary Telford"},
		{"quoted name with comma", "phone,name\n+1 555 010 4242,\"Lee, Ann\"\n", "+1 555 010 4242, Lee, Ann"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ReadNumbersCSV(strings.NewReader(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "|") != c.want {
				t.Errorf("got %q, want %q", strings.Join(got, "|"), c.want)
			}
		})
	}
}

func TestContentBuild(t *testing.T) {
	approved := &db.Template{ID: 7, ApprovalStatus: "approved", ContentSID: "HX1",
		Types: []byte(`{"twilio/text": {"body": "Dear {{1}}, closed on {{2}}."}}`)}
	for _, c := range []struct {
		name  string
		in    ContentInput
		tpl   *db.Template
		field string // the field with an error ("" = valid)
	}{
		{"sms needs text", ContentInput{Purpose: "transactional", Mode: broadcast.ModeSMS}, nil, "sms_body"},
		{"sms ok", ContentInput{Purpose: "transactional", Mode: broadcast.ModeSMS, SMSBody: "Hi {{first_name}}"}, nil, ""},
		{"unknown merge field", ContentInput{Purpose: "transactional", Mode: broadcast.ModeSMS, SMSBody: "Hi {{nick}}"}, nil, "sms_body"},
		{"too long", ContentInput{Purpose: "transactional", Mode: broadcast.ModeSMS, SMSBody: strings.Repeat("a", 1601)}, nil, "sms_body"},
		{"bad purpose", ContentInput{Purpose: "gossip", Mode: broadcast.ModeSMS, SMSBody: "x"}, nil, "purpose"},
		{"whatsapp needs a template", ContentInput{Purpose: "transactional", Mode: broadcast.ModeWhatsApp}, nil, "template"},
		{"template not approved", ContentInput{Purpose: "transactional", Mode: broadcast.ModeWhatsApp, TemplateID: 7},
			&db.Template{ID: 7, ApprovalStatus: "pending"}, "template"},
		{"variable unmapped", ContentInput{Purpose: "transactional", Mode: broadcast.ModeWhatsApp, TemplateID: 7,
			VarFields: map[string]string{"1": "first_name"}}, approved, "var_2"},
		{"variables mapped", ContentInput{Purpose: "transactional", Mode: broadcast.ModeWhatsApp, TemplateID: 7,
			VarFields: map[string]string{"1": "first_name"}, VarValues: map[string]string{"2": "Monday"}}, approved, ""},
		{"fallback needs urgent whatsapp and sms text", ContentInput{Purpose: "transactional", Mode: broadcast.ModeWhatsApp, TemplateID: 7,
			VarValues: map[string]string{"1": "x", "2": "y"}, Urgent: true, FallbackMinutes: "10"}, approved, "sms_body"},
		{"fallback minutes out of range", ContentInput{Purpose: "transactional", Mode: broadcast.ModeSMS, SMSBody: "x", Urgent: true, FallbackMinutes: "0x"}, nil, "fallback_minutes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, _, errs := c.in.Build(c.tpl)
			if c.field == "" && len(errs) > 0 {
				t.Fatalf("errors %v, want none", errs)
			}
			if c.field != "" && errs[c.field] == "" {
				t.Fatalf("errors %v, want one on %s", errs, c.field)
			}
		})
	}
}

func TestSenderBuild(t *testing.T) {
	staff := db.User{ID: 2, Role: "staff", DepartmentIDs: []int64{1}}
	deps := []db.Department{{ID: 1, Name: "Office"}}
	online := func(id int64, ch, addr string) db.PoolSender {
		return db.PoolSender{Sender: db.Sender{ID: id, Channel: ch, Address: addr, Status: "ONLINE"}}
	}
	cands := map[string][]db.PoolSender{"whatsapp": {online(10, "whatsapp", "+14155550100")}, "sms": {online(11, "sms", "+14155550199")}}
	sms := broadcast.Content{Mode: broadcast.ModeSMS, SMSBody: "x"}
	for _, c := range []struct {
		name  string
		in    SenderInput
		cands map[string][]db.PoolSender
		field string
	}{
		{"staff must choose", SenderInput{Strategy: StrategyDepartment}, cands, "department"},
		{"not theirs", SenderInput{DepartmentID: 9, Strategy: StrategyDepartment}, cands, "department"},
		{"department ok", SenderInput{DepartmentID: 1, Strategy: StrategyDepartment}, cands, ""},
		{"no sms number", SenderInput{DepartmentID: 1, Strategy: StrategyPool}, map[string][]db.PoolSender{"whatsapp": cands["whatsapp"]}, "strategy"},
		{"specific needs the number", SenderInput{DepartmentID: 1, Strategy: StrategySpecific}, cands, "sms_sender"},
		{"specific ok", SenderInput{DepartmentID: 1, Strategy: StrategySpecific, SMSSenderID: 11}, cands, ""},
		{"service must be a service", SenderInput{DepartmentID: 1, Strategy: StrategyMessagingService, ServiceID: 11}, cands, "service"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, errs := c.in.Build(staff, deps, c.cands, sms)
			if c.field == "" && len(errs) > 0 {
				t.Fatalf("errors %v, want none", errs)
			}
			if c.field != "" && errs[c.field] == "" {
				t.Fatalf("errors %v, want one on %s", errs, c.field)
			}
		})
	}
}

func TestNeedsApproval(t *testing.T) {
	admin, staff := db.User{Role: "admin"}, db.User{Role: "staff"}
	st := Settings{ApprovalThreshold: 100}
	for _, c := range []struct {
		name   string
		st     Settings
		n      int
		urgent bool
		u      db.User
		want   bool
	}{
		{"small by staff", st, 100, false, staff, false},
		{"over the threshold", st, 101, false, staff, true},
		{"over the threshold by an admin", st, 101, false, admin, true},
		{"urgent by staff", st, 1, true, staff, true},
		{"urgent by an admin", st, 1, true, admin, false},
		{"threshold off", Settings{}, 100000, false, staff, false},
	} {
		if got, why := NeedsApproval(c.st, c.n, c.urgent, c.u); got != c.want || (got && why == "") {
			t.Errorf("%s: %v (%q), want %v", c.name, got, why, c.want)
		}
	}
}

func TestProgressOf(t *testing.T) {
	p := ProgressOf([]db.BroadcastCount{
		{Status: "pending", Channel: "sms", N: 2},
		{Status: "delivered", Channel: "whatsapp", N: 5},
		{Status: "delivered", Channel: "sms", N: 1, Fallback: true},
		{Status: "failed", Channel: "sms", N: 1},
		{Status: "skipped", Channel: "sms", N: 1},
	})
	if p.Total != 10 || p.Done != 8 || p.Percent != 80 || p.Fallbacks != 1 || p.Failed != 1 || p.Skipped != 1 || p.Delivered != 6 {
		t.Fatalf("progress %+v", p)
	}
	if p.Rows[0].Status != "pending" || p.Rows[1].Status != "delivered" || p.Rows[1].WhatsApp != 5 || p.Rows[1].SMS != 1 {
		t.Fatalf("rows %+v", p.Rows)
	}
	if z := ProgressOf(nil); z.Percent != 0 || z.Total != 0 {
		t.Fatalf("empty progress %+v", z)
	}
}

func TestSettingsValidate(t *testing.T) {
	s, errs := SettingsInput{ApprovalThreshold: "250", PriceSMS: "0.0083", PriceWhatsApp: "0.013", Currency: "gbp"}.Validate()
	if len(errs) > 0 || s.Currency != "GBP" || s.ApprovalThreshold != 250 {
		t.Fatalf("valid settings: %+v %v", s, errs)
	}
	_, errs = SettingsInput{ApprovalThreshold: "-1", PriceSMS: "1e3", PriceWhatsApp: "0.1234567", Currency: "£"}.Validate()
	for _, k := range []string{"approval_threshold", "price_sms", "price_whatsapp", "currency"} {
		if errs[k] == "" {
			t.Errorf("no error on %s", k)
		}
	}
	if got := (Settings{Currency: "USD"}).CostText(0.0415); got != "USD 0.0415" {
		t.Errorf("cost text %q", got)
	}
}

func TestSendAt(t *testing.T) {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC)
	at, errs := SendInput{When: "later", Date: "2026-03-30", Time: "07:30"}.At(loc, now)
	if errs != nil || at == nil || !at.Equal(time.Date(2026, 3, 30, 6, 30, 0, 0, time.UTC)) {
		t.Fatalf("at %v, %v (British summer time starts on the 29th)", at, errs)
	}
	if _, errs := (SendInput{When: "later", Date: "2026-03-27", Time: "11:00"}).At(loc, now); errs["schedule_time"] == "" {
		t.Errorf("a past time is accepted")
	}
	if _, errs := (SendInput{When: "later", Date: "next week", Time: "7"}).At(loc, now); errs["schedule_date"] == "" || errs["schedule_time"] == "" {
		t.Errorf("unreadable date and time accepted: %v", errs)
	}
	if at, errs := (SendInput{When: "now"}).At(loc, now); at != nil || errs != nil {
		t.Errorf("now: %v %v", at, errs)
	}
}

func TestSummarize(t *testing.T) {
	c1, c2 := int64(1), int64(2)
	p := broadcast.Plan{Recipients: []db.NewRecipient{
		{ContactID: &c1, Phone: "+15550100100", Channel: "whatsapp", State: "pending", Segments: 1, Body: "wa"},
		{ContactID: &c2, Phone: "+15550100101", Channel: "sms", State: "pending", Segments: 2, Body: "sms"},
		{ContactID: &c2, Phone: "+15550100101", Channel: "sms", State: "skipped", SkipReason: broadcast.SkipDuplicateNumber},
		{Phone: "abc", Channel: "sms", State: "skipped", SkipReason: broadcast.SkipInvalidNumber},
		{Phone: "+15550100102", Channel: "sms", State: "skipped", SkipReason: "opted_out"},
	}}
	s := Summarize(p, Settings{PriceSMS: "0.01", PriceWhatsApp: "0.02", Currency: "USD"})
	if s.WillSend() != 2 || s.WhatsApp != 1 || s.SMS != 1 || s.SMSSegments != 2 || s.SkippedTotal != 3 {
		t.Fatalf("summary %+v", s)
	}
	if s.People != 3 || s.Numbers != 3 || s.Invalid != 1 || s.Duplicates != 1 {
		t.Fatalf("people %d numbers %d invalid %d duplicates %d", s.People, s.Numbers, s.Invalid, s.Duplicates)
	}
	if s.Cost < 0.0399 || s.Cost > 0.0401 {
		t.Errorf("cost %v, want 0.04", s.Cost)
	}
	if len(s.Samples) != 2 || s.Samples[0].Channel != "whatsapp" || s.Samples[1].Channel != "sms" {
		t.Errorf("samples %+v", s.Samples)
	}
}
