package main

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// An admin sets a sender's sending speed for broadcasts: a bad value is
// refused next to the field with what was typed kept, a good one is stored
// and audited, and emptying it returns to Twilio's guidance.
func TestSenderRateSetting(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admin := ta.loginAdmin()
	var id int64
	if err := ta.db.Pool.QueryRow(t.Context(), `SELECT id FROM senders WHERE channel = 'sms' AND address <> '' ORDER BY id LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	path := "/senders/" + strconv.FormatInt(id, 10)
	page, status := ta.get(admin, path)
	if status != http.StatusOK || !strings.Contains(page, "Sending speed") || !strings.Contains(page, `placeholder="1 per second"`) {
		t.Fatalf("sender page %d: no sending speed form with the long-code default of 1 per second", status)
	}
	post := func(v string) (int, string) {
		t.Helper()
		res := ta.postForm(admin, path+"/rate", url.Values{"_csrf": {ta.csrfOf(admin, path)}, "rate": {v}})
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := post("fast please")
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "Enter a number of messages per second") || !strings.Contains(body, `value="fast please"`) {
		t.Fatalf("bad rate: %d, want 422 with the error and the typed text kept", code)
	}
	if code, _ = post("5000"); code != http.StatusUnprocessableEntity {
		t.Fatalf("rate above the maximum: %d, want 422", code)
	}
	if code, _ = post("2,5"); code != http.StatusSeeOther {
		t.Fatalf("good rate: %d", code)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM senders WHERE id = $1 AND rate_per_second = 2.5`, id); n != 1 {
		t.Fatal("rate 2,5 not stored as 2.5")
	}
	if code, _ = post(""); code != http.StatusSeeOther {
		t.Fatalf("clearing the rate: %d", code)
	}
	if n := countRows(t, ta, `SELECT count(*) FROM senders WHERE id = $1 AND rate_per_second IS NULL`, id); n != 1 {
		t.Fatal("an empty rate did not return to the default")
	}
	if n := countRows(t, ta, `SELECT count(*) FROM audit_log WHERE action = 'senders.rate' AND subject = $1`, "sender:"+strconv.FormatInt(id, 10)); n != 2 {
		t.Fatalf("%d senders.rate audit rows, want 2 (set, cleared)", n)
	}
}
