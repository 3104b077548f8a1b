package broadcastdraft

import (
	"strings"
	"testing"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/broadcast"
)

// With attachments every SMS recipient gets one MMS (priced per message,
// not per segment), and those outside the US and Canada are counted.
func TestSummarizeWithAttachments(t *testing.T) {
	p := broadcast.Plan{Recipients: []db.NewRecipient{
		{Phone: "+15550100100", Channel: "whatsapp", State: "pending", Segments: 1},
		{Phone: "+15550100101", Channel: "sms", State: "pending", Segments: 3},
		{Phone: "+16135550123", Channel: "sms", State: "pending", Segments: 1}, // Canada
		{Phone: "+447911123456", Channel: "sms", State: "pending", Segments: 2},
		{Phone: "+447911123457", Channel: "sms", State: "skipped", SkipReason: "opted_out"},
	}}
	st := Settings{PriceSMS: "0.01", PriceWhatsApp: "0.02", PriceMMS: "0.05", Currency: "USD"}
	for _, tc := range []struct {
		name                       string
		content                    broadcast.Content
		sms, segments, mms, abroad int
		cost                       float64
	}{
		{"plain SMS", broadcast.Content{}, 3, 6, 0, 0, 6*0.01 + 0.02},
		{"with a picture", broadcast.Content{MediaFileIDs: []int64{7}}, 3, 0, 3, 1, 3*0.05 + 0.02},
	} {
		s := SummarizeContent(p, st, tc.content)
		if s.SMS != tc.sms || s.SMSSegments != tc.segments || s.MMS != tc.mms || s.MMSAbroad != tc.abroad || s.WhatsApp != 1 {
			t.Errorf("%s: %+v", tc.name, s)
		}
		if s.Cost < tc.cost-1e-9 || s.Cost > tc.cost+1e-9 {
			t.Errorf("%s: cost %v, want %v", tc.name, s.Cost, tc.cost)
		}
	}
	if s := Summarize(p, st); s.MMS != 0 || s.SMSSegments != 6 {
		t.Errorf("Summarize without content counts MMS: %+v", s)
	}
}

// Attachments go with the SMS text: a broadcast that sends no SMS keeps
// them with an error; one with SMS (including an urgent fallback) is fine.
func TestContentAttachmentsNeedSMS(t *testing.T) {
	tpl := &db.Template{ID: 3, ContentSID: "HX1", ApprovalStatus: "approved", Types: []byte(`{"twilio/text": {"body": "Hi"}}`)}
	for _, tc := range []struct {
		name string
		in   ContentInput
		err  bool
	}{
		{"SMS", ContentInput{Purpose: "transactional", Mode: broadcast.ModeSMS, SMSBody: "Hi", MediaFileIDs: []int64{1, 1, 2}}, false},
		{"WhatsApp then SMS", ContentInput{Purpose: "transactional", Mode: broadcast.ModeWhatsAppThenSMS, TemplateID: 3, SMSBody: "Hi", MediaFileIDs: []int64{1}}, false},
		{"WhatsApp only", ContentInput{Purpose: "transactional", Mode: broadcast.ModeWhatsApp, TemplateID: 3, MediaFileIDs: []int64{1}}, true},
		{"WhatsApp only with an SMS fallback", ContentInput{Purpose: "transactional", Mode: broadcast.ModeWhatsApp, TemplateID: 3, SMSBody: "Hi",
			Urgent: true, FallbackMinutes: "10", MediaFileIDs: []int64{1}}, false},
		{"WhatsApp only without files", ContentInput{Purpose: "transactional", Mode: broadcast.ModeWhatsApp, TemplateID: 3}, false},
	} {
		c, _, _, errs := tc.in.Build(tpl)
		if got := errs["media"] != ""; got != tc.err {
			t.Errorf("%s: media error %q, want one: %v", tc.name, errs["media"], tc.err)
		}
		if len(tc.in.MediaFileIDs) > 0 && len(c.MediaFileIDs) == 0 {
			t.Errorf("%s: the files were dropped", tc.name)
		}
	}
	c, _, _, _ := ContentInput{Purpose: "transactional", Mode: broadcast.ModeSMS, SMSBody: "Hi", MediaFileIDs: []int64{2, 1, 2, 0}}.Build(nil)
	if len(c.MediaFileIDs) != 2 || c.MediaFileIDs[0] != 2 || c.MediaFileIDs[1] != 1 {
		t.Errorf("files %v, want [2 1] (order kept, duplicates and zero dropped)", c.MediaFileIDs)
	}
}

// The MMS price is checked like the others; left empty it is the default.
func TestSettingsMMSPrice(t *testing.T) {
	in := SettingsInput{ApprovalThreshold: "10", PriceSMS: "0.01", PriceWhatsApp: "0.02", Currency: "usd"}
	s, errs := in.Validate()
	if errs != nil || s.PriceMMS != DefaultSettings().PriceMMS || s.MMSPrice() != 0.02 {
		t.Fatalf("empty MMS price: %+v %v", s, errs)
	}
	in.PriceMMS = "0.0315"
	if s, errs = in.Validate(); errs != nil || s.PriceMMS != "0.0315" {
		t.Fatalf("MMS price: %+v %v", s, errs)
	}
	in.PriceMMS = "$0.03"
	if _, errs = in.Validate(); !strings.Contains(errs["price_mms"], "0.0083") {
		t.Fatalf("bad MMS price: %v", errs)
	}
	if got := s.InputOf().PriceMMS; got != "0.0315" {
		t.Errorf("InputOf shows %q", got)
	}
}
