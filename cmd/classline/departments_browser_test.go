package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// chooseByKeyboard focuses the select labelled label and presses keys, as a
// keyboard user picks an option without opening the list (Home: the first
// option, End: the last, arrows: the next one).
func (b *browserTab) chooseByKeyboard(label, keys string) {
	b.t.Helper()
	id := b.byLabel(label)
	b.do("focus "+strconv.Quote(label), chromedp.Focus(id))
	b.do("type "+strconv.Quote(keys)+" into "+strconv.Quote(label), chromedp.KeyEvent(keys))
}

// retype replaces the value of the field labelled label with text, typed.
func (b *browserTab) retype(label, text string) {
	b.t.Helper()
	id := b.byLabel(label)
	b.do("empty "+strconv.Quote(label), chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById(%q).value = ''`, string(id))))
	b.fill(label, text)
}

func (b *browserTab) valueOf(label string) string {
	b.t.Helper()
	return evalJS[string](b, fmt.Sprintf(`document.getElementById(%q).value`, string(b.byLabel(label))))
}

var opensExample = regexp.MustCompile(`^(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)( \d{1,2} [A-Z][a-z]+)? at 08:00$`)

// TestBrowserDepartmentSettings: an admin opens a department from the list,
// sets Monday closed and Tuesday 08:00-16:30, writes an out-of-hours reply
// and watches its preview fill in as they type, saves, reloads and finds
// everything kept; then chooses a default WhatsApp sender, by keyboard.
func TestBrowserDepartmentSettings(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	admissions := ta.departmentID("admissions")
	b := newBrowser(t)
	signIn(b, ta)

	b.do("open /departments", chromedp.Navigate(ta.URL+"/departments"), chromedp.WaitVisible(xpathText("a", "Admissions")))
	b.do("click Admissions", chromedp.Click(xpathText("a", "Admissions")))
	b.waitFor("the department's page", fmt.Sprintf(`location.pathname === '/departments/%d' && document.readyState === 'complete' && !!document.getElementById('hours')`, admissions))
	if got := evalJS[string](b, `document.querySelector('h1').textContent.trim()`); got != "Admissions" {
		t.Fatalf("the department's page is headed %q", got)
	}

	// Monday closed, by keyboard; its times step aside.
	b.chooseByKeyboard("Monday", kb.Home)
	b.waitFor("Monday closed", `document.getElementById('hours-mon-mode').value === 'closed'`)
	b.waitFor("Monday's times hidden", `getComputedStyle(document.querySelector('#hours-mon-open').closest('[data-hours-times]')).visibility === 'hidden'`)
	// Tuesday open 08:00-16:30, typed (the 8:00 becomes 08:00 when saved).
	b.chooseByKeyboard("Tuesday", kb.End)
	b.waitFor("Tuesday open all day", `document.getElementById('hours-tue-mode').value === 'allday'`)
	b.chooseByKeyboard("Tuesday", kb.ArrowUp)
	b.waitFor("Tuesday open", `document.getElementById('hours-tue-mode').value === 'open'`)
	b.retype("Tuesday opens", "8:00")
	b.retype("Tuesday closes", "16:30")
	b.do("click Save hours", chromedp.Click(xpathText("button", "Save hours")))
	b.waitFor("hours saved", `location.search.includes('done=hours') && !!document.querySelector('.alert-success')`)
	if got := evalJS[string](b, `document.querySelector('.hours-status').textContent`); !strings.Contains(got, "Monday closed, Tuesday 08:00–16:30") {
		t.Errorf("the hours summary after saving reads %q", got)
	}

	// The reply's preview fills {school} and {opens} while typing.
	const reply = "Thank you for writing to {school}. We are closed; we answer from {opens}."
	b.fill("Out-of-hours reply", reply)
	opens := evalJS[string](b, `document.getElementById('ooh-preview').dataset.opens`)
	if !opensExample.MatchString(opens) {
		t.Errorf("{opens} for the preview is %q, want a weekday at 08:00 (every open day opens at 08:00)", opens)
	}
	want := strings.NewReplacer("{school}", "the school", "{opens}", opens).Replace(reply)
	b.waitFor("the live preview", fmt.Sprintf(`document.getElementById('ooh-preview').textContent.trim() === %s`, strconv.Quote(want)))
	if got := evalJS[string](b, `document.getElementById('ooh-count').textContent`); !strings.HasPrefix(got, strconv.Itoa(len(reply))+" of 1000") {
		t.Errorf("the counter reads %q", got)
	}
	b.do("click Save reply", chromedp.Click(xpathText("button", "Save reply")))
	b.waitFor("reply saved", `location.search.includes('done=reply') && !!document.querySelector('.alert-success')`)

	// A reload shows everything as saved.
	b.do("reload", chromedp.Reload())
	b.waitFor("the page again", `document.readyState === 'complete' && !!document.getElementById('ooh-reply')`)
	for label, want := range map[string]string{
		"Monday": "closed", "Tuesday": "open", "Tuesday opens": "08:00", "Tuesday closes": "16:30", "Out-of-hours reply": reply,
	} {
		if got := b.valueOf(label); got != want {
			t.Errorf("after reloading, %s holds %q, want %q", label, got, want)
		}
	}
	if got := evalJS[string](b, `document.getElementById('ooh-preview').textContent.trim()`); got != want {
		t.Errorf("after reloading, the preview reads %q, want %q", got, want)
	}
	var stored string
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT business_hours->'days'->>'tue' || ' ' || (business_hours->'days'->>'mon') FROM departments WHERE id = $1`, admissions).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != `[{"open": "08:00", "close": "16:30"}] []` {
		t.Errorf("stored Tuesday and Monday: %s", stored)
	}

	// A default WhatsApp sender: the department's number, chosen with the arrow key.
	var waID int64
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT id FROM senders WHERE address = '+14155550100' AND channel = 'whatsapp'`).Scan(&waID); err != nil {
		t.Fatal(err)
	}
	if got := b.valueOf("Default WhatsApp sender"); got != "0" {
		t.Fatalf("Default WhatsApp sender starts as %q, want First one set up (0)", got)
	}
	b.do("focus the default WhatsApp sender", chromedp.Focus(b.byLabel("Default WhatsApp sender")))
	b.pressKey(kb.ArrowDown)
	b.waitFor("the department's number chosen", fmt.Sprintf(`document.getElementById('default-whatsapp').value === %q`, strconv.FormatInt(waID, 10)))
	b.do("click Save default senders", chromedp.Click(xpathText("button", "Save default senders")))
	b.waitFor("defaults saved", `location.search.includes('done=defaults') && !!document.querySelector('.alert-success')`)
	if got := b.valueOf("Default WhatsApp sender"); got != strconv.FormatInt(waID, 10) {
		t.Errorf("after saving, Default WhatsApp sender is %q, want %d", got, waID)
	}
	if !evalJS[bool](b, fmt.Sprintf(`!!document.querySelector('#dep-sender-%d .pill-info')`, waID)) {
		t.Error("the sender list does not mark the default sender")
	}
	defaults, err := ta.db.DefaultSenders(context.Background(), admissions)
	if err != nil || defaults["whatsapp"] != waID {
		t.Errorf("stored defaults %v (%v), want WhatsApp %d", defaults, err, waID)
	}
}
