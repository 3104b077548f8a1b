package senderadmin

import (
	"strings"
	"testing"
)

func TestSenderDisplayNameRules(t *testing.T) {
	tests := []struct {
		name string
		want string // a piece of the message; "" = accepted
	}{
		{"Hillside School", ""},
		{"PTA Office", ""},
		{"St. Mary's Primary", ""},
		{"École Jean-Moulin", ""},
		{"Year 7 Team", ""},
		{"", "Enter the name"},
		{"   ", "Enter the name"},
		{"Ab", "at least 3"},
		{"Hillside Community School Admissions", "to 25 characters; this one has 36"},
		{"Hillside  School", "single spaces"},
		{" Hillside", "single spaces"},
		{"Hillside School!", "symbols"},
		{"Hillside @ Home", "symbols"},
		{"Hillside_School", "symbols"},
		{"hillside.school", "web address"},
		{"www Hillside www.x", "web address"},
		{"Hillside WhatsApp", "WhatsApp"},
		{"Hillside 🎓", "emoji"},
		{"Hillside ☀ Day", "emoji"},
		{"12345", "letters"},
		{"HILLSIDE SCHOOL", "normal capitals"},
		{"NASA", ""},
		{"Hillside\u0007", "control"},
	}
	for _, tt := range tests {
		got := CheckDisplayName(tt.name)
		if tt.want == "" && got != "" {
			t.Errorf("CheckDisplayName(%q) = %q, want accepted", tt.name, got)
		}
		if tt.want != "" && !strings.Contains(got, tt.want) {
			t.Errorf("CheckDisplayName(%q) = %q, want it to mention %q", tt.name, got, tt.want)
		}
	}
}

func validProfile() ProfileInput {
	return ProfileInput{DisplayName: "Hillside School", WebhookURL: "https://desk.example/webhooks/twilio/inbound",
		StatusCallbackURL: "https://desk.example/webhooks/twilio/status"}
}

func TestSenderProfileChecks(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*ProfileInput)
		field string // "" = no error at all
		want  string
	}{
		{"minimal", func(*ProfileInput) {}, "", ""},
		{"full", func(p *ProfileInput) {
			p.About, p.Address, p.Description = "Open 8-4", "1 School Lane", "A school."
			p.Emails, p.Websites = "office@hillside.example\n\n  head@hillside.example ", "https://hillside.example\nhttp://pta.hillside.example/news"
			p.Vertical, p.LogoURL, p.FallbackURL = "Non-profit", "https://hillside.example/logo.png", "https://backup.example/in"
		}, "", ""},
		{"about 139 ok", func(p *ProfileInput) { p.About = strings.Repeat("a", 139) }, "", ""},
		{"about 140", func(p *ProfileInput) { p.About = strings.Repeat("a", 140) }, "about", "139"},
		{"about counts characters, not bytes", func(p *ProfileInput) { p.About = strings.Repeat("é", 139) }, "", ""},
		{"description 513", func(p *ProfileInput) { p.Description = strings.Repeat("d", 513) }, "description", "512"},
		{"address 257", func(p *ProfileInput) { p.Address = strings.Repeat("x", 257) }, "address", "256"},
		{"bad email", func(p *ProfileInput) { p.Emails = "office@hillside.example\nnot-an-email" }, "emails", "not-an-email"},
		{"email with a name", func(p *ProfileInput) { p.Emails = "Office <office@hillside.example>" }, "emails", "not an email"},
		{"email without a dot", func(p *ProfileInput) { p.Emails = "office@localhost" }, "emails", "not an email"},
		{"three websites", func(p *ProfileInput) { p.Websites = "https://a.example\nhttps://b.example\nhttps://c.example" }, "websites", "at most 2"},
		{"website without scheme", func(p *ProfileInput) { p.Websites = "hillside.example" }, "websites", "https://"},
		{"ftp website", func(p *ProfileInput) { p.Websites = "ftp://hillside.example" }, "websites", "not a web address"},
		{"unknown vertical", func(p *ProfileInput) { p.Vertical = "Schools" }, "vertical", "list"},
		{"logo not a URL", func(p *ProfileInput) { p.LogoURL = "logo.png" }, "logo_url", "https://"},
		{"no webhook", func(p *ProfileInput) { p.WebhookURL = "" }, "webhook_url", "incoming messages"},
		{"webhook not http", func(p *ProfileInput) { p.WebhookURL = "javascript:alert(1)" }, "webhook_url", "https://"},
		{"no status callback", func(p *ProfileInput) { p.StatusCallbackURL = "" }, "status_callback_url", "delivery statuses"},
		{"bad fallback", func(p *ProfileInput) { p.FallbackURL = "not a url" }, "fallback_url", "https://"},
		{"bad display name", func(p *ProfileInput) { p.DisplayName = "HILLSIDE SCHOOL" }, "display_name", "capitals"},
	}
	for _, tt := range tests {
		in := validProfile()
		tt.edit(&in)
		errs := FieldErrors{}
		out := CheckProfile(in, errs)
		if tt.field == "" {
			if len(errs) != 0 {
				t.Errorf("%s: unexpected errors %v", tt.name, errs)
			}
			continue
		}
		if len(errs) != 1 || !strings.Contains(errs[tt.field], tt.want) {
			t.Errorf("%s: errors %v, want only %s mentioning %q", tt.name, errs, tt.field, tt.want)
		}
		_ = out
	}
}

func TestSenderProfileNormalises(t *testing.T) {
	in := validProfile()
	in.DisplayName = "  Hillside School "
	in.Emails = " office@hillside.example \n\n"
	in.Websites = "https://hillside.example\n"
	errs := FieldErrors{}
	out := CheckProfile(in, errs)
	if len(errs) != 0 {
		t.Fatalf("errors %v", errs)
	}
	if out.DisplayName != "Hillside School" || out.Profile.Name != "Hillside School" {
		t.Errorf("display name %q / %q, want trimmed", out.DisplayName, out.Profile.Name)
	}
	if len(out.Profile.Emails) != 1 || out.Profile.Emails[0] != "office@hillside.example" {
		t.Errorf("emails %q", out.Profile.Emails)
	}
	if len(out.Profile.Websites) != 1 || out.Profile.Vertical != DefaultVertical {
		t.Errorf("websites %q vertical %q", out.Profile.Websites, out.Profile.Vertical)
	}
	// Cleared lists are sent as empty lists, so an edit can remove them.
	in.Emails, in.Websites = "", ""
	out = CheckProfile(in, errs)
	if out.Profile.Emails == nil || out.Profile.Websites == nil || len(out.Profile.Emails)+len(out.Profile.Websites) != 0 {
		t.Errorf("cleared lists: %#v %#v", out.Profile.Emails, out.Profile.Websites)
	}
}

func TestSenderServiceSID(t *testing.T) {
	tests := []struct {
		sid, want string
	}{
		{"MG" + strings.Repeat("a1", 16), ""},
		{"MG" + strings.Repeat("AF", 16), ""},
		{"", "Enter"},
		{"PN" + strings.Repeat("a", 32), "starts with MG"},
		{"MG" + strings.Repeat("a", 31), "31 characters"},
		{"MG" + strings.Repeat("g", 32), "a–f"},
		{"MG" + strings.Repeat("a", 33), "33 characters"},
	}
	for _, tt := range tests {
		got := CheckServiceSID(tt.sid)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("CheckServiceSID(%q) = %q, want %q", tt.sid, got, tt.want)
		}
	}
}

func TestSenderCodeDigits(t *testing.T) {
	for in, want := range map[string]string{"123456": "123456", "123 456": "123456", "123-456": "123456", "12a456": "", "": ""} {
		if got := onlyDigits(in); got != want {
			t.Errorf("onlyDigits(%q) = %q, want %q", in, got, want)
		}
	}
}
