package templates

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestVariablesAndRender(t *testing.T) {
	nums, bad := Variables("Dear {{2}}, {{1}} and {{ 2 }} again, {{name}}")
	if len(nums) != 2 || nums[0] != 1 || nums[1] != 2 || bad != "{{name}}" {
		t.Fatalf("Variables = %v, %q", nums, bad)
	}
	got := Render("Hi {{1}}, {{2}} is closed; {{3}} stays.", map[string]string{"1": "Ana", "2": "Oak School"})
	if got != "Hi Ana, Oak School is closed; {{3}} stays." {
		t.Fatalf("Render = %q", got)
	}
	// A value holding braces is not rendered again.
	if got := Render("A {{1}} B {{2}}", map[string]string{"1": "{{2}}", "2": "x"}); got != "A {{2}} B x" {
		t.Fatalf("Render recursed: %q", got)
	}
}

func TestValidate(t *testing.T) {
	good := Draft{Name: "snow_day", Language: "en", Category: CategoryUtility, Kind: KindText,
		Body:    "Dear {{1}}, the school is closed tomorrow because of snow. Stay safe and warm.",
		Samples: map[string]string{"1": "Ana"}}
	for _, tc := range []struct {
		name  string
		edit  func(*Draft)
		field string // "" = valid
		msg   string
	}{
		{name: "valid text", edit: func(*Draft) {}},
		{name: "no variables", edit: func(d *Draft) { d.Body = "School is closed tomorrow."; d.Samples = nil }},
		{name: "variables out of order are fine", edit: func(d *Draft) {
			d.Body = "Hello {{2}}, this is about {{1}} and the trip on Friday morning, thanks."
			d.Samples = map[string]string{"1": "Ana", "2": "Mr Lee"}
		}},
		{name: "name empty", edit: func(d *Draft) { d.Name = "" }, field: "name", msg: "Give the template a name"},
		{name: "name capitals", edit: func(d *Draft) { d.Name = "Snow_Day" }, field: "name", msg: "lowercase"},
		{name: "name spaces", edit: func(d *Draft) { d.Name = "snow day" }, field: "name"},
		{name: "name hyphen", edit: func(d *Draft) { d.Name = "snow-day" }, field: "name"},
		{name: "name too long", edit: func(d *Draft) { d.Name = strings.Repeat("a", 513) }, field: "name", msg: "512"},
		{name: "language missing", edit: func(d *Draft) { d.Language = "" }, field: "language"},
		{name: "language with region", edit: func(d *Draft) { d.Language = "pt_BR" }},
		{name: "category unknown", edit: func(d *Draft) { d.Category = "NEWS" }, field: "category"},
		{name: "kind unknown", edit: func(d *Draft) { d.Kind = "twilio/card" }, field: "kind"},
		{name: "body empty", edit: func(d *Draft) { d.Body = "  " }, field: "body", msg: "Write the message"},
		{name: "body too long", edit: func(d *Draft) { d.Body = strings.Repeat("word ", 205) }, field: "body", msg: "1024"},
		{name: "gap in numbering", edit: func(d *Draft) {
			d.Body = "Hi {{1}}, your flight will depart from gate {{3}}. Please reply Stop to unsubscribe."
			d.Samples = map[string]string{"1": "a", "3": "b"}
		}, field: "body", msg: "{{2}} is missing"},
		{name: "numbering from 2", edit: func(d *Draft) {
			d.Body = "Hi there {{2}}, welcome to the school year and see you soon."
		}, field: "body", msg: "{{1}} is missing"},
		{name: "named variable", edit: func(d *Draft) { d.Body = "Hi {{name}}, welcome to the new school year." }, field: "body", msg: "not a variable"},
		{name: "starts with a variable", edit: func(d *Draft) {
			d.Body = "{{1}}, the school is closed tomorrow because of snow. Stay safe."
		}, field: "body", msg: "cannot start"},
		{name: "starts with a variable after spaces", edit: func(d *Draft) {
			d.Body = "  {{1}} the school is closed tomorrow because of snow. Stay safe."
		}, field: "body", msg: "cannot start"},
		{name: "ends with a variable", edit: func(d *Draft) {
			d.Body = "The school is closed tomorrow because of snow, dear {{1}}"
		}, field: "body", msg: "cannot end"},
		{name: "ends with a variable and punctuation", edit: func(d *Draft) {
			d.Body = "The school is closed tomorrow because of snow, dear {{1}}."
		}, field: "body", msg: "cannot end"},
		{name: "adjacent variables", edit: func(d *Draft) {
			d.Body = "Hi {{1}} {{2}}, your flight will depart from gate soon. Please reply Stop to unsubscribe."
			d.Samples = map[string]string{"1": "a", "2": "b"}
		}, field: "body", msg: "side by side"},
		{name: "adjacent variables across a newline", edit: func(d *Draft) {
			d.Body = "Hi {{1}}\n{{2}}, your flight will depart from gate soon. Please reply Stop to unsubscribe."
			d.Samples = map[string]string{"1": "a", "2": "b"}
		}, field: "body", msg: "side by side"},
		{name: "separated by a word is fine", edit: func(d *Draft) {
			d.Body = "Hi {{1}} and {{2}}, flight will depart from gate soon. Please reply Stop to unsubscribe."
			d.Samples = map[string]string{"1": "a", "2": "b"}
		}},
		{name: "too many variables for the words", edit: func(d *Draft) {
			d.Body = "Hi {{1}}, gate {{2}}. Thank you."
			d.Samples = map[string]string{"1": "a", "2": "b"}
		}, field: "body", msg: "at least 5 other words (it has 4)"},
		{name: "exactly 2x+1 words", edit: func(d *Draft) {
			d.Body = "Hi {{1}}, gate {{2}} today. Thank you."
			d.Samples = map[string]string{"1": "a", "2": "b"}
		}},
		{name: "sample missing", edit: func(d *Draft) { d.Samples = map[string]string{} }, field: "sample_1", msg: "example for {{1}}"},
		{name: "sample blank", edit: func(d *Draft) { d.Samples = map[string]string{"1": "  "} }, field: "sample_1"},
		{name: "unknown contact field", edit: func(d *Draft) { d.Fields = map[string]string{"1": "password"} }, field: "field_1"},
		{name: "known contact field", edit: func(d *Draft) { d.Fields = map[string]string{"1": "first_name"} }},
		{name: "media without URL", edit: func(d *Draft) { d.Kind = KindMedia }, field: "media_url"},
		{name: "media over http", edit: func(d *Draft) { d.Kind = KindMedia; d.MediaURL = "http://school.example/a.pdf" }, field: "media_url"},
		{name: "media ok", edit: func(d *Draft) { d.Kind = KindMedia; d.MediaURL = "https://school.example/a.pdf" }},
		{name: "quick reply without buttons", edit: func(d *Draft) { d.Kind = KindQuickReply }, field: "actions", msg: "at least one"},
		{name: "quick reply ok", edit: func(d *Draft) {
			d.Kind = KindQuickReply
			d.Actions = []Action{{Type: ActionQuickReply, Title: "Yes, coming"}, {Type: ActionQuickReply, Title: "No"}}
		}},
		{name: "quick reply title too long", edit: func(d *Draft) {
			d.Kind = KindQuickReply
			d.Actions = []Action{{Type: ActionQuickReply, Title: strings.Repeat("x", 21)}}
		}, field: "actions", msg: "at most 20"},
		{name: "quick reply repeated", edit: func(d *Draft) {
			d.Kind = KindQuickReply
			d.Actions = []Action{{Title: "Yes"}, {Title: "yes"}}
		}, field: "actions", msg: "repeats"},
		{name: "quick reply title with a placeholder", edit: func(d *Draft) {
			d.Kind = KindQuickReply
			d.Actions = []Action{{Type: ActionQuickReply, Title: "Yes {{7*7}}"}}
		}, field: "actions", msg: "cannot hold"},
		{name: "call to action title with a placeholder", edit: func(d *Draft) {
			d.Kind = KindCallToAction
			d.Actions = []Action{{Type: ActionURL, Title: "Dates {{1}}", URL: "https://school.example/terms"}}
		}, field: "actions", msg: "cannot hold"},
		{name: "quick reply 11 buttons", edit: func(d *Draft) {
			d.Kind = KindQuickReply
			for i := range 11 {
				d.Actions = append(d.Actions, Action{Title: string(rune('a' + i))})
			}
		}, field: "actions", msg: "At most 10"},
		{name: "call to action ok", edit: func(d *Draft) {
			d.Kind = KindCallToAction
			d.Actions = []Action{{Type: ActionURL, Title: "Term dates", URL: "https://school.example/terms"}, {Type: ActionPhone, Title: "Call the office", Phone: "+441632960000"}}
		}},
		{name: "call to action body over 640", edit: func(d *Draft) {
			d.Kind = KindCallToAction
			d.Body = strings.Repeat("word ", 130)
			d.Actions = []Action{{Type: ActionURL, Title: "Term dates", URL: "https://school.example/terms"}}
		}, field: "body", msg: "640"},
		{name: "call to action two phones", edit: func(d *Draft) {
			d.Kind = KindCallToAction
			d.Actions = []Action{{Type: ActionPhone, Title: "Office", Phone: "+441632960000"}, {Type: ActionPhone, Title: "Nurse", Phone: "+441632960001"}}
		}, field: "actions", msg: "one phone"},
		{name: "call to action three links", edit: func(d *Draft) {
			d.Kind = KindCallToAction
			for range 3 {
				d.Actions = append(d.Actions, Action{Type: ActionURL, Title: "Link", URL: "https://school.example/"})
			}
		}, field: "actions", msg: "At most 2 link"},
		{name: "call to action bad phone", edit: func(d *Draft) {
			d.Kind = KindCallToAction
			d.Actions = []Action{{Type: ActionPhone, Title: "Office", Phone: "01632 960000"}}
		}, field: "actions", msg: "international"},
		{name: "call to action title too long", edit: func(d *Draft) {
			d.Kind = KindCallToAction
			d.Actions = []Action{{Type: ActionURL, Title: strings.Repeat("x", 26), URL: "https://school.example/"}}
		}, field: "actions", msg: "at most 25"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := good
			d.Samples = map[string]string{"1": "Ana"}
			tc.edit(&d)
			errs := Validate(d)
			if tc.field == "" {
				if len(errs) != 0 {
					t.Fatalf("want valid, got %v", errs)
				}
				return
			}
			msg, ok := errs[tc.field]
			if !ok {
				t.Fatalf("want an error on %q, got %v", tc.field, errs)
			}
			if !strings.Contains(msg, tc.msg) {
				t.Fatalf("%s: %q does not say %q", tc.field, msg, tc.msg)
			}
		})
	}
}

func TestTypesRoundTrip(t *testing.T) {
	for _, d := range []Draft{
		{Kind: KindText, Body: "Hello {{1}} there"},
		{Kind: KindMedia, Body: "Term letter", MediaURL: "https://school.example/l.pdf"},
		{Kind: KindQuickReply, Body: "Coming?", Actions: []Action{{Type: ActionQuickReply, Title: "Yes", ID: "btn_1"}, {Type: ActionQuickReply, Title: "No", ID: "btn_2"}}},
		{Kind: KindCallToAction, Body: "See dates", Actions: []Action{{Type: ActionURL, Title: "Dates", URL: "https://school.example/d"}}},
	} {
		raw, err := json.Marshal(ToTypes(d))
		if err != nil {
			t.Fatal(err)
		}
		c := FromTypes(raw)
		if c.Kind != d.Kind || c.Body != d.Body || c.MediaURL != d.MediaURL || !slices.Equal(c.Actions, d.Actions) {
			t.Errorf("%s: round trip gave %+v from %s", d.Kind, c, raw)
		}
	}
	// A template made in the Console with a type Classline does not create
	// still shows its text.
	if c := FromTypes([]byte(`{"twilio/card":{"title":"x","body":"Card text"}}`)); c.Body != "Card text" {
		t.Errorf("unknown type: %+v", c)
	}
	if c := FromTypes([]byte(`not json`)); c.Kind != "" {
		t.Errorf("bad JSON: %+v", c)
	}
}
