package twiliosim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// doJSON makes a REST request with a JSON body (nil: none; string: sent as is).
func doJSON(t *testing.T, method, target string, body any, auth bool) apiResult {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		req.SetBasicAuth(testAccount, testToken)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := apiResult{status: res.StatusCode}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusNoContent {
		if len(b) != 0 {
			t.Fatalf("%s %s: 204 with a body %q", method, target, b)
		}
		return out
	}
	if err := json.Unmarshal(b, &out.body); err != nil {
		t.Fatalf("%s %s: HTTP %d, body not a JSON object: %q", method, target, res.StatusCode, b)
	}
	return out
}

// get digs into a decoded JSON object.
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func sendersURL(srv *httptest.Server) string { return srv.URL + "/v2/Channels/Senders" }

func senderBody(number string, mutate func(m map[string]any)) map[string]any {
	m := map[string]any{
		"sender_id": "whatsapp:" + number,
		"configuration": map[string]any{
			"verification_method": "sms",
		},
		"webhook": map[string]any{
			"callback_url":        "https://school.example/webhooks/twilio/inbound",
			"status_callback_url": "https://school.example/webhooks/twilio/status",
		},
		"profile": map[string]any{
			"name":        "Springfield High",
			"about":       "Messages from the school office.",
			"address":     "1 School Lane, Springfield",
			"description": "Term dates, trips and news for parents.",
			"vertical":    "Education",
			"emails":      []map[string]string{{"email": "office@springfield.example", "label": "Office"}},
			"websites":    []map[string]string{{"website": "https://springfield.example", "label": "Website"}},
			"logo_url":    "https://springfield.example/logo.png",
		},
	}
	if mutate != nil {
		mutate(m)
	}
	return m
}

func mustCreateSender(t *testing.T, srv *httptest.Server, body map[string]any) apiResult {
	t.Helper()
	r := doJSON(t, http.MethodPost, sendersURL(srv), body, true)
	if r.status != http.StatusAccepted {
		t.Fatalf("create sender: HTTP %d %v", r.status, r.body)
	}
	return r
}

// waitSender polls the sender until its status is want.
func waitSender(t *testing.T, srv *httptest.Server, sid, want string) apiResult {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		r := doJSON(t, http.MethodGet, sendersURL(srv)+"/"+sid, nil, true)
		if r.status != http.StatusOK {
			t.Fatalf("fetch %s: HTTP %d %v", sid, r.status, r.body)
		}
		if r.str("status") == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for sender %s to be %s; it is %s: %v", sid, want, r.str("status"), r.body)
		}
		time.Sleep(3 * time.Millisecond)
	}
}

func reasonCodes(r apiResult) []string {
	list, _ := r.body["offline_reasons"].([]any)
	var out []string
	for _, o := range list {
		c, _ := get(o, "code").(string)
		out = append(out, c)
	}
	return out
}

func verify(t *testing.T, srv *httptest.Server, sid, code string) apiResult {
	t.Helper()
	return doJSON(t, http.MethodPost, sendersURL(srv)+"/"+sid,
		map[string]any{"configuration": map[string]any{"verification_code": code}}, true)
}

var senderSIDPattern = regexp.MustCompile(`^XE[0-9a-fA-F]{32}$`)

func TestSenderRegistrationWithSMSCode(t *testing.T) {
	s, srv := newTestSim(t, Config{})
	r := mustCreateSender(t, srv, senderBody("+15557654321", nil))
	sid := r.str("sid")
	if !senderSIDPattern.MatchString(sid) {
		t.Fatalf("sid %q", sid)
	}
	for k, want := range map[string]any{
		"status":    "CREATING",
		"sender_id": "whatsapp:+15557654321",
		"url":       "https://messaging.twilio.com/v2/Channels/Senders/" + sid,
	} {
		if r.body[k] != want {
			t.Errorf("%s = %v, want %v", k, r.body[k], want)
		}
	}
	for path, want := range map[string]any{
		"configuration.verification_method": "sms",
		"configuration.verification_code":   nil,
		"configuration.waba_id":             senderDefaultWABA,
		"webhook.callback_url":              "https://school.example/webhooks/twilio/inbound",
		"webhook.callback_method":           "POST",
		"webhook.status_callback_method":    "POST",
		"webhook.fallback_url":              nil,
		"profile.name":                      "Springfield High",
		"profile.vertical":                  "Education",
		"profile.banner_url":                nil,
		"properties":                        nil,
		"offline_reasons":                   nil,
		"compliance":                        nil,
	} {
		if got := get(r.body, strings.Split(path, ".")...); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	if got := get(r.body, "profile", "emails"); !jsonEqual(got, `[{"email":"office@springfield.example","label":"Office"}]`) {
		t.Errorf("emails = %v", got)
	}
	if got := get(r.body, "profile", "websites"); !jsonEqual(got, `[{"website":"https://springfield.example","label":"Website"}]`) {
		t.Errorf("websites = %v", got)
	}
	for _, k := range []string{"sid", "status", "sender_id", "configuration", "webhook", "profile", "properties", "offline_reasons", "compliance", "url"} {
		if _, ok := r.body[k]; !ok {
			t.Errorf("response lacks %q", k)
		}
	}

	waitSender(t, srv, sid, "PENDING_VERIFICATION")
	if code := s.VerificationCode(sid); code != DevVerificationCode {
		t.Fatalf("VerificationCode = %q, want %q", code, DevVerificationCode)
	}

	// A wrong code: VERIFYING, then back to PENDING_VERIFICATION with 63113.
	v := verify(t, srv, sid, "000000")
	if v.status != http.StatusAccepted || v.str("status") != "VERIFYING" {
		t.Fatalf("wrong code: HTTP %d %v", v.status, v.body)
	}
	if got := get(v.body, "configuration", "verification_code"); got != nil {
		t.Errorf("the code is echoed: %v", got)
	}
	back := waitSender(t, srv, sid, "PENDING_VERIFICATION")
	if got := reasonCodes(back); len(got) != 1 || got[0] != "63113" {
		t.Fatalf("offline_reasons after a wrong code = %v", back.body["offline_reasons"])
	}
	if got := get(back.body["offline_reasons"].([]any)[0], "more_info"); got != "https://www.twilio.com/docs/api/errors/63113" {
		t.Errorf("more_info = %v", got)
	}

	// The right code.
	v = verify(t, srv, sid, s.VerificationCode(sid))
	if v.status != http.StatusAccepted || v.str("status") != "VERIFYING" {
		t.Fatalf("right code: HTTP %d %v", v.status, v.body)
	}
	on := waitSender(t, srv, sid, "ONLINE")
	if on.body["offline_reasons"] != nil {
		t.Errorf("offline_reasons = %v", on.body["offline_reasons"])
	}
	if q := get(on.body, "properties", "quality_rating"); q != "UNKNOWN" {
		t.Errorf("quality_rating = %v", q)
	}
	if l := get(on.body, "properties", "messaging_limit"); l == nil || l == "" {
		t.Errorf("messaging_limit = %v", l)
	}
	if s.VerificationCode(sid) != "" {
		t.Errorf("a code is still outstanding once ONLINE")
	}
	// Nothing to verify any more.
	if v := verify(t, srv, sid, "123456"); v.status != http.StatusBadRequest || v.code() != 63100 {
		t.Errorf("verification_code while ONLINE: HTTP %d %v", v.status, v.body)
	}
	if got := s.Senders(); len(got) != 1 || got[0].Status != SenderOnline || got[0].Profile.Name != "Springfield High" {
		t.Errorf("Senders() = %+v", got)
	}
}

func jsonEqual(got any, want string) bool {
	var w any
	if json.Unmarshal([]byte(want), &w) != nil {
		return false
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(w)
	return bytes.Equal(a, b)
}

func TestSenderTwilioNumberVerifiedAutomatically(t *testing.T) {
	s, srv := newTestSim(t, Config{})
	r := mustCreateSender(t, srv, senderBody("+15557654322", func(m map[string]any) { delete(m, "configuration") }))
	sid := r.str("sid")
	if got := get(r.body, "configuration", "verification_method"); got != nil {
		t.Errorf("verification_method = %v, want null", got)
	}
	waitSender(t, srv, sid, "ONLINE")
	if s.VerificationCode(sid) != "" {
		t.Error("a Twilio number got a code to type")
	}
}

func TestSenderMagicNumbers(t *testing.T) {
	_, srv := newTestSim(t, Config{})
	for _, tc := range []struct {
		number, status, reason string
	}{
		{"+15550063104", "OFFLINE", "63104"},
		{"+15550063110", "OFFLINE", "63110"},
		{"+15550063111", "OFFLINE", "63111"},
		{"+15550063116", "OFFLINE", "63116"},
		{"+15550063114", "PENDING_VERIFICATION", "63114"},
	} {
		sid := mustCreateSender(t, srv, senderBody(tc.number, nil)).str("sid")
		r := waitSender(t, srv, sid, tc.status)
		if got := reasonCodes(r); len(got) != 1 || got[0] != tc.reason {
			t.Errorf("%s: offline_reasons = %v, want [%s]", tc.number, r.body["offline_reasons"], tc.reason)
		}
	}

	// 63113: the number cannot be verified, even with the code it was sent.
	sid := mustCreateSender(t, srv, senderBody("+15550063113", nil)).str("sid")
	waitSender(t, srv, sid, "PENDING_VERIFICATION")
	verify(t, srv, sid, DevVerificationCode)
	r := waitSender(t, srv, sid, "PENDING_VERIFICATION")
	if got := reasonCodes(r); len(got) != 1 || got[0] != "63113" {
		t.Errorf("63113: offline_reasons = %v", r.body["offline_reasons"])
	}

	// 63100: refused at once.
	bad := doJSON(t, http.MethodPost, sendersURL(srv), senderBody("+15550063100", nil), true)
	if bad.status != http.StatusBadRequest || bad.code() != 63100 {
		t.Errorf("63100: HTTP %d %v", bad.status, bad.body)
	}
}

func TestSenderValidation(t *testing.T) {
	s, srv := newTestSim(t, Config{})
	setProfile := func(k string, v any) func(map[string]any) {
		return func(m map[string]any) { m["profile"].(map[string]any)[k] = v }
	}
	for _, tc := range []struct {
		name string
		body any
	}{
		{"empty body", ""},
		{"invalid JSON", `{"sender_id": `},
		{"wrong type", `{"sender_id": 15557654321}`},
		{"no sender_id", senderBody("+15557654323", func(m map[string]any) { delete(m, "sender_id") })},
		{"not whatsapp", senderBody("+15557654323", func(m map[string]any) { m["sender_id"] = "+15557654323" })},
		{"not E.164", senderBody("5557654323", nil)},
		{"no profile", senderBody("+15557654323", func(m map[string]any) { delete(m, "profile") })},
		{"no name", senderBody("+15557654323", func(m map[string]any) { delete(m["profile"].(map[string]any), "name") })},
		{"name too short", senderBody("+15557654323", setProfile("name", "AB"))},
		{"name too long", senderBody("+15557654323", setProfile("name", strings.Repeat("Springfield ", 22)+"High"))},
		{"leading space", senderBody("+15557654323", setProfile("name", " Springfield High"))},
		{"double space", senderBody("+15557654323", setProfile("name", "Springfield  High"))},
		{"emoji", senderBody("+15557654323", setProfile("name", "Springfield High 🎓"))},
		{"special character", senderBody("+15557654323", setProfile("name", "Springfield High!"))},
		{"web address", senderBody("+15557654323", setProfile("name", "springfield.com"))},
		{"all capitals", senderBody("+15557654323", setProfile("name", "SPRINGFIELD HIGH"))},
		{"no letters", senderBody("+15557654323", setProfile("name", "12345"))},
		{"unknown vertical", senderBody("+15557654323", setProfile("vertical", "Schools"))},
		{"about too long", senderBody("+15557654323", setProfile("about", strings.Repeat("a", 140)))},
		{"three websites", senderBody("+15557654323", setProfile("websites", []string{"https://a.example", "https://b.example", "https://c.example"}))},
		{"website not a URL", senderBody("+15557654323", setProfile("websites", []string{"springfield"}))},
		{"bad email", senderBody("+15557654323", setProfile("emails", []map[string]string{{"email": "office"}}))},
		{"bad accent color", senderBody("+15557654323", setProfile("accent_color", "blue"))},
		{"bad verification method", senderBody("+15557654323", func(m map[string]any) {
			m["configuration"] = map[string]any{"verification_method": "email"}
		})},
		{"bad account type", senderBody("+15557654323", func(m map[string]any) {
			m["configuration"] = map[string]any{"account_type": "Reseller"}
		})},
		{"bad callback method", senderBody("+15557654323", func(m map[string]any) {
			m["webhook"].(map[string]any)["callback_method"] = "GET"
		})},
		{"bad callback URL", senderBody("+15557654323", func(m map[string]any) {
			m["webhook"].(map[string]any)["callback_url"] = "school.example/inbound"
		})},
	} {
		r := doJSON(t, http.MethodPost, sendersURL(srv), tc.body, true)
		if r.status != http.StatusBadRequest || r.code() != 63100 {
			t.Errorf("%s: HTTP %d %v, want 400 with code 63100", tc.name, r.status, r.body)
			continue
		}
		if r.str("more_info") != "https://www.twilio.com/docs/errors/63100" || r.body["status"] != float64(400) || r.str("message") == "" {
			t.Errorf("%s: error body %v", tc.name, r.body)
		}
	}
	if n := len(s.Senders()); n != 0 {
		t.Errorf("%d senders created by invalid requests", n)
	}

	for i, name := range []string{"PTA", "St. Mary's School", "Springfield High (Office)", "ACME Academy", "École Sainte-Anne"} {
		number := "+1555765440" + string(rune('0'+i))
		if r := doJSON(t, http.MethodPost, sendersURL(srv), senderBody(number, setProfile("name", name)), true); r.status != http.StatusAccepted {
			t.Errorf("display name %q refused: HTTP %d %v", name, r.status, r.body)
		}
	}

	if r := doJSON(t, http.MethodPost, sendersURL(srv), senderBody("+15557654324", nil), false); r.status != http.StatusUnauthorized || r.code() != 20003 {
		t.Errorf("no auth: HTTP %d %v", r.status, r.body)
	}
}

func TestSenderDuplicateAndDelete(t *testing.T) {
	s, srv := newTestSim(t, Config{})
	sid := mustCreateSender(t, srv, senderBody("+15557654325", nil)).str("sid")
	dup := doJSON(t, http.MethodPost, sendersURL(srv), senderBody("+15557654325", nil), true)
	if dup.status != http.StatusConflict || dup.code() != 63110 {
		t.Errorf("duplicate: HTTP %d %v", dup.status, dup.body)
	}

	// Deleted while CREATING: no later step brings it back.
	if r := doJSON(t, http.MethodDelete, sendersURL(srv)+"/"+sid, nil, true); r.status != http.StatusNoContent {
		t.Fatalf("delete: HTTP %d %v", r.status, r.body)
	}
	time.Sleep(20 * time.Millisecond) // several StepDelays
	if got := s.Senders(); len(got) != 0 {
		t.Errorf("after delete: %+v", got)
	}
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		if r := doJSON(t, m, sendersURL(srv)+"/"+sid, nil, true); r.status != http.StatusNotFound || r.code() != 20404 {
			t.Errorf("%s deleted sender: HTTP %d %v", m, r.status, r.body)
		}
	}
	if r := verify(t, srv, sid, "123456"); r.status != http.StatusNotFound {
		t.Errorf("update deleted sender: HTTP %d %v", r.status, r.body)
	}
	// The number can be registered again.
	mustCreateSender(t, srv, senderBody("+15557654325", nil))
}

func TestSenderNewCodesAndTooMany(t *testing.T) {
	s, srv := newTestSim(t, Config{})
	sid := mustCreateSender(t, srv, senderBody("+15557654326", nil)).str("sid")
	waitSender(t, srv, sid, "PENDING_VERIFICATION")
	ask := func(method string) apiResult {
		return doJSON(t, http.MethodPost, sendersURL(srv)+"/"+sid,
			map[string]any{"configuration": map[string]any{"verification_method": method}}, true)
	}
	for i := 0; i < senderMaxCodes-1; i++ {
		r := ask("voice")
		if r.status != http.StatusAccepted || r.str("status") != "PENDING_VERIFICATION" ||
			get(r.body, "configuration", "verification_method") != "voice" || s.VerificationCode(sid) == "" {
			t.Fatalf("new code %d: HTTP %d %v", i, r.status, r.body)
		}
	}
	r := ask("sms")
	if got := reasonCodes(r); len(got) != 1 || got[0] != "63114" || s.VerificationCode(sid) != "" {
		t.Fatalf("one code too many: %v, code %q", r.body, s.VerificationCode(sid))
	}
	verify(t, srv, sid, DevVerificationCode)
	r = waitSender(t, srv, sid, "PENDING_VERIFICATION")
	if got := reasonCodes(r); len(got) != 1 || got[0] != "63113" {
		t.Errorf("verifying without an outstanding code: %v", r.body["offline_reasons"])
	}
}

func TestSenderUpdateProfileAndWebhook(t *testing.T) {
	s, srv := newTestSim(t, Config{})
	sid := mustCreateSender(t, srv, senderBody("+15557654327", nil)).str("sid")
	waitSender(t, srv, sid, "PENDING_VERIFICATION")
	if err := s.SetSenderStatus(sid, SenderOnline); err != nil {
		t.Fatal(err)
	}
	up := doJSON(t, http.MethodPost, sendersURL(srv)+"/"+sid, map[string]any{
		"profile": map[string]any{"about": "The office answers 8am to 4pm.", "websites": []map[string]string{{"website": "https://springfield.example/parents", "label": "Parents"}}},
		"webhook": map[string]any{"status_callback_url": "https://school.example/status2", "fallback_url": "https://school.example/fallback"},
	}, true)
	if up.status != http.StatusAccepted || up.str("status") != "ONLINE:UPDATING" {
		t.Fatalf("update: HTTP %d %v", up.status, up.body)
	}
	on := waitSender(t, srv, sid, "ONLINE")
	for path, want := range map[string]any{
		"profile.name":                   "Springfield High", // kept
		"profile.about":                  "The office answers 8am to 4pm.",
		"profile.vertical":               "Education",
		"webhook.callback_url":           "https://school.example/webhooks/twilio/inbound", // kept
		"webhook.status_callback_url":    "https://school.example/status2",
		"webhook.fallback_url":           "https://school.example/fallback",
		"webhook.fallback_method":        "POST",
		"webhook.status_callback_method": "POST",
	} {
		if got := get(on.body, strings.Split(path, ".")...); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	if got := get(on.body, "profile", "websites"); !jsonEqual(got, `[{"website":"https://springfield.example/parents","label":"Parents"}]`) {
		t.Errorf("websites = %v", got)
	}

	// An invalid update changes nothing.
	bad := doJSON(t, http.MethodPost, sendersURL(srv)+"/"+sid, map[string]any{
		"profile": map[string]any{"about": "fine", "name": "SPRINGFIELD HIGH SCHOOL"},
	}, true)
	if bad.status != http.StatusBadRequest || bad.code() != 63100 {
		t.Errorf("bad name: HTTP %d %v", bad.status, bad.body)
	}
	if got := s.Senders()[0]; got.Profile.About != "The office answers 8am to 4pm." || got.Profile.Name != "Springfield High" || got.Status != SenderOnline {
		t.Errorf("after a refused update: %+v", got)
	}
	if r := doJSON(t, http.MethodPost, sendersURL(srv)+"/"+sid, map[string]any{"sender_id": "whatsapp:+15550000000"}, true); r.status != http.StatusBadRequest {
		t.Errorf("changing sender_id: HTTP %d %v", r.status, r.body)
	}
	if r := doJSON(t, http.MethodPost, sendersURL(srv)+"/"+sid, "", true); r.status != http.StatusBadRequest || r.code() != 63100 {
		t.Errorf("empty update: HTTP %d %v", r.status, r.body)
	}
}

func TestSetSenderStatusAndQuality(t *testing.T) {
	s, srv := newTestSim(t, Config{})
	sid := mustCreateSender(t, srv, senderBody("+15557654328", func(m map[string]any) { delete(m, "configuration") })).str("sid")
	waitSender(t, srv, sid, "ONLINE")
	if err := s.SetSenderStatus(sid, SenderOffline, 30008, 63111); err != nil {
		t.Fatal(err)
	}
	r := doJSON(t, http.MethodGet, sendersURL(srv)+"/"+sid, nil, true)
	if r.str("status") != "OFFLINE" || !jsonEqual(r.body["offline_reasons"], `[
		{"code":"30008","message":"Unknown error","more_info":"https://www.twilio.com/docs/api/errors/30008"},
		{"code":"63111","message":"Sender's phone number or WABA returned \"not found\"","more_info":"https://www.twilio.com/docs/api/errors/63111"}]`) {
		t.Errorf("OFFLINE: %v", r.body)
	}
	if err := s.SetSenderQuality(sid, "LOW", "1K Customers/24hr"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSenderStatus(sid, SenderOnline); err != nil {
		t.Fatal(err)
	}
	r = doJSON(t, http.MethodGet, sendersURL(srv)+"/"+sid, nil, true)
	if r.str("status") != "ONLINE" || r.body["offline_reasons"] != nil ||
		!jsonEqual(r.body["properties"], `{"quality_rating":"LOW","messaging_limit":"1K Customers/24hr"}`) {
		t.Errorf("ONLINE again: %v", r.body)
	}
	if err := s.SetSenderStatus(sid, "BROKEN"); err == nil {
		t.Error("unknown status accepted")
	}
	if err := s.SetSenderStatus("XE00000000000000000000000000000000", SenderOnline); err == nil {
		t.Error("unknown sender accepted")
	}
}

func TestSenderListPaging(t *testing.T) {
	_, srv := newTestSim(t, Config{})
	var sids []string
	for i := 0; i < 5; i++ {
		sids = append(sids, mustCreateSender(t, srv, senderBody("+1555765450"+string(rune('0'+i)), nil)).str("sid"))
	}
	// Follow next_page_url from the first page, as twilio-go does.
	next := sendersURL(srv) + "?Channel=whatsapp&PageSize=2"
	var got []string
	for page := 0; next != ""; page++ {
		r := doJSON(t, http.MethodGet, next, nil, true)
		if r.status != http.StatusOK {
			t.Fatalf("page %d: HTTP %d %v", page, r.status, r.body)
		}
		meta := r.body["meta"]
		if get(meta, "key") != "senders" || get(meta, "page") != float64(page) || get(meta, "page_size") != float64(2) {
			t.Errorf("page %d meta = %v", page, meta)
		}
		if get(meta, "first_page_url") != "https://messaging.twilio.com/v2/Channels/Senders?Channel=whatsapp&Page=0&PageSize=2" {
			t.Errorf("first_page_url = %v", get(meta, "first_page_url"))
		}
		if (page == 0) != (get(meta, "previous_page_url") == nil) {
			t.Errorf("page %d previous_page_url = %v", page, get(meta, "previous_page_url"))
		}
		for _, s := range r.body["senders"].([]any) {
			got = append(got, get(s, "sid").(string))
		}
		next = ""
		if u, ok := get(meta, "next_page_url").(string); ok {
			pu, err := url.Parse(u)
			if err != nil || pu.Host != "messaging.twilio.com" {
				t.Fatalf("next_page_url %q", u)
			}
			next = srv.URL + pu.RequestURI()
		}
		if page > 5 {
			t.Fatal("paging does not end")
		}
	}
	if strings.Join(got, ",") != strings.Join(sids, ",") {
		t.Errorf("listed %v, want %v (creation order)", got, sids)
	}

	// Page without a token is an offset.
	r := doJSON(t, http.MethodGet, sendersURL(srv)+"?Channel=whatsapp&PageSize=2&Page=2", nil, true)
	if list := r.body["senders"].([]any); len(list) != 1 || get(list[0], "sid") != sids[4] || get(r.body, "meta", "next_page_url") != nil {
		t.Errorf("Page=2: %v", r.body)
	}
	r = doJSON(t, http.MethodGet, sendersURL(srv)+"?Channel=whatsapp", nil, true)
	if get(r.body, "meta", "page_size") != float64(20) || len(r.body["senders"].([]any)) != 5 {
		t.Errorf("default page: %v", r.body["meta"])
	}
	r = doJSON(t, http.MethodGet, sendersURL(srv)+"?Channel=rcs", nil, true)
	if r.status != http.StatusOK || len(r.body["senders"].([]any)) != 0 {
		t.Errorf("rcs: HTTP %d %v", r.status, r.body)
	}
	for _, q := range []string{"", "?Channel=sms", "?Channel=whatsapp&PageSize=0", "?Channel=whatsapp&PageSize=1001", "?Channel=whatsapp&PageToken=nope", "?Channel=whatsapp&Page=-1"} {
		if r := doJSON(t, http.MethodGet, sendersURL(srv)+q, nil, true); r.status != http.StatusBadRequest {
			t.Errorf("list%s: HTTP %d %v", q, r.status, r.body)
		}
	}
	if r := doJSON(t, http.MethodGet, sendersURL(srv)+"?Channel=whatsapp&Page=99999999999", nil, true); r.status != http.StatusOK || len(r.body["senders"].([]any)) != 0 {
		t.Errorf("far page: HTTP %d %v", r.status, r.body)
	}

	// A deletion between pages does not make the token skip anyone.
	first := doJSON(t, http.MethodGet, sendersURL(srv)+"?Channel=whatsapp&PageSize=2", nil, true)
	doJSON(t, http.MethodDelete, sendersURL(srv)+"/"+sids[0], nil, true)
	u, _ := url.Parse(get(first.body, "meta", "next_page_url").(string))
	second := doJSON(t, http.MethodGet, srv.URL+u.RequestURI(), nil, true)
	if list := second.body["senders"].([]any); len(list) != 2 || get(list[0], "sid") != sids[2] {
		t.Errorf("second page after a deletion: %v", second.body["senders"])
	}
}

func TestSimSendersDevEndpoint(t *testing.T) {
	_, srv := newTestSim(t, Config{})
	sid := mustCreateSender(t, srv, senderBody("+15557654329", nil)).str("sid")
	waitSender(t, srv, sid, "PENDING_VERIFICATION")
	res, err := http.Get(srv.URL + "/sim/senders")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var rows []map[string]any
	if err := json.NewDecoder(res.Body).Decode(&rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0]["sid"] != sid || rows[0]["sim_verification_code"] != DevVerificationCode {
		t.Errorf("GET /sim/senders = %v", rows)
	}
}
