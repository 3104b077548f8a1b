package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/classline/classline/internal/twiliosim"
)

// signInAs signs in through the login page with the given account.
func signInAs(b *browserTab, ta *testApp, email, password string) {
	b.t.Helper()
	b.do("open /login", chromedp.Navigate(ta.URL+"/login"), chromedp.WaitVisible(xpathText("button", "Sign in")))
	b.fill("Email", email)
	b.fill("Password", password)
	b.do("click Sign in", chromedp.Click(xpathText("button", "Sign in")))
	b.waitFor("the inbox after signing in", `location.pathname === '/inbox' && document.readyState === 'complete' && !!document.getElementById('conv-list')`)
}

// parentWrites delivers a correctly signed inbound webhook and returns the
// conversation it landed in.
func parentWrites(t *testing.T, ta *testApp, from, to, body string) int64 {
	t.Helper()
	sid := newSID()
	if status, out := ta.webhook("/webhooks/twilio/inbound", inboundForm(sid, from, to, body, "Parent "+from[len(from)-4:]), ta.token); status != http.StatusOK {
		t.Fatalf("inbound webhook: %d %s", status, out)
	}
	var conv int64
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT conversation_id FROM messages WHERE twilio_sid = $1`, sid).Scan(&conv); err != nil {
		t.Fatal(err)
	}
	return conv
}

// pressKey sends one key to the page as a person typing it would.
func (b *browserTab) pressKey(key string) {
	b.t.Helper()
	b.do("press "+key, chromedp.KeyEvent(key))
}

// TestBrowserTwoStaffSeeInboundLive: two staff members of the department,
// each in their own browser, see a parent's message arrive without reloading;
// a member of another department does not; when one opens the conversation,
// the other sees who is viewing it.
func TestBrowserTwoStaffSeeInboundLive(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	pwA := ta.addUser("ana@school.example", "staff", "admissions")
	pwB := ta.addUser("ben@school.example", "staff", "admissions")
	pwC := ta.addUser("cy@school.example", "staff", "finance")
	ana, ben, cy := newBrowser(t), newBrowser(t), newBrowser(t)
	signInAs(ana, ta, "ana@school.example", pwA)
	signInAs(ben, ta, "ben@school.example", pwB)
	signInAs(cy, ta, "cy@school.example", pwC)
	for _, b := range []*browserTab{ana, ben, cy} {
		b.waitLive()
		b.setMarker()
	}
	// Ana is halfway through typing a search when the message comes.
	ana.fill("Search conversations", "half-typed")

	conv := parentWrites(t, ta, "whatsapp:+15550007001", "whatsapp:+14155550100", "Is there school tomorrow?")
	row := fmt.Sprintf(`document.getElementById('conv-item-%d')`, conv)
	for name, b := range map[string]*browserTab{"Ana": ana, "Ben": ben} {
		b.waitFor(name+" sees the new conversation live", row+` && `+row+`.textContent.includes('Is there school tomorrow?') && !!`+row+`.querySelector('.conv-item.unread')`)
		b.assertNoReload(name + "'s inbox")
	}
	if v := evalJS[string](ana, `document.getElementById('conv-search').value`); v != "half-typed" {
		t.Fatalf("Ana's half-typed search became %q after the live update", v)
	}
	// Cy (finance) waits long enough to have received it if it were sent.
	ben.waitFor("the row in Ben's list", row)
	time.Sleep(300 * time.Millisecond)
	if evalJS[bool](cy, row+` !== null`) {
		t.Fatal("a finance staff member saw an admissions conversation")
	}

	// Ben opens it from the list (htmx swaps only the conversation pane).
	ben.do("open the conversation", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#conv-item-%d a`, conv))))
	ben.waitFor("the conversation pane", fmt.Sprintf(`!!document.querySelector('#conv-pane[data-conversation="%d"] .thread .msg-in')`, conv))
	ben.assertNoReload("opening a conversation from the list")
	if p := ben.path(); p != fmt.Sprintf("/conversations/%d", conv) {
		t.Fatalf("address bar shows %s after opening", p)
	}
	// Ana opens it too: she is told Ben is viewing it.
	ana.do("open the conversation", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#conv-item-%d a`, conv))))
	ana.waitFor("Ben shown as viewing", `[...document.querySelectorAll('.presence .viewer')].some((v) => !v.hidden && v.textContent.includes('ben@school.example is viewing'))`)
	// Ben starts typing: Ana sees he is replying.
	ben.fill("Reply", "We are open as usual")
	ana.waitFor("Ben shown as replying", `[...document.querySelectorAll('.presence .viewer')].some((v) => !v.hidden && v.textContent.includes('is replying'))`)
	if evalJS[bool](ana, `[...document.querySelectorAll('.presence .viewer')].some((v) => !v.hidden && v.textContent.includes('ana@'))`) {
		t.Fatal("Ana is warned about herself")
	}
}

// TestBrowserAssignAndCloseWithKeys: j opens the first conversation, a
// assigns it to me, e closes it; the list and header follow, and another
// viewer sees the assignment live.
func TestBrowserAssignAndCloseWithKeys(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	older := parentWrites(t, ta, "+15550008002", "+14155550199", "Older question")
	conv := parentWrites(t, ta, "+15550008001", "+14155550199", "Can I pay the trip by card?")
	b := newBrowser(t)
	signIn(b, ta)
	other := newBrowser(t)
	pw := ta.addUser("watcher@school.example", "staff", "admissions")
	signInAs(other, ta, "watcher@school.example", pw)
	other.do("open the conversation", chromedp.Navigate(fmt.Sprintf("%s/conversations/%d", ta.URL, conv)))
	other.waitLive()

	b.waitLive()
	b.setMarker()
	b.do("focus the page", chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`))
	b.pressKey("j")
	b.waitFor("the first conversation opened by j", fmt.Sprintf(`!!document.querySelector('#conv-pane[data-conversation="%d"]')`, conv))
	if !evalJS[bool](b, `!!document.activeElement.closest('#conv-list')`) {
		t.Fatalf("after j, focus left the list: %s", evalJS[string](b, `document.activeElement.outerHTML.slice(0, 120)`))
	}
	b.pressKey("j")
	b.waitFor("the second conversation opened by j", fmt.Sprintf(`!!document.querySelector('#conv-pane[data-conversation="%d"]')`, older))
	b.pressKey("k")
	b.waitFor("back to the first with k", fmt.Sprintf(`!!document.querySelector('#conv-pane[data-conversation="%d"]')`, conv))

	stale := evalJS[string](b, `document.querySelector('.conversation-header').outerHTML`)
	b.pressKey("a")
	b.waitFor("assigned to me in the header", `document.querySelector('.conversation-header').textContent.includes('Assigned to')`)
	var assignee *int64
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT assignee_id FROM conversations WHERE id = $1`, conv).Scan(&assignee); err != nil || assignee == nil {
		t.Fatalf("assignee in the database: %v, %v", assignee, err)
	}
	other.waitFor("the other viewer sees the assignment live", `document.querySelector('.conversation-header').textContent.includes('Assigned to')`)
	b.waitFor("Assign to me hidden once mine", `document.getElementById('action-assign-me').hidden`)

	b.pressKey("e")
	defer func() {
		if t.Failed() {
			t.Logf("keys: %s; fetches: %s", evalJS[string](b, `JSON.stringify(window.__keys)`), evalJS[string](b, `JSON.stringify(window.__fetches)`))
		}
	}()
	b.waitFor("closed in the header", `document.querySelector('.conversation-header .conv-state').textContent.includes('Closed')`)
	// An answer rendered before the close (an action's answer overtaken by
	// the live update of the next action) must not put the old state back.
	b.do("deliver a stale header", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`htmx.swap('#toasts', %s.replace('<header ', '<header hx-swap-oob="true" '), {swapStyle: 'beforeend'})`, strconv.Quote(stale))))
	// htmx.swap replaces out-of-band elements before it returns.
	if !evalJS[bool](b, `document.querySelector('.conversation-header .conv-state').textContent.includes('Closed')`) {
		t.Fatal("a stale header replaced the newer one: the conversation shows as open again")
	}
	b.waitFor("the closed conversation leaves the Open list", fmt.Sprintf(`!document.getElementById('conv-item-%d')`, conv))
	var status string
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT status FROM conversations WHERE id = $1`, conv).Scan(&status); err != nil || status != "closed" {
		t.Fatalf("status in the database: %q, %v", status, err)
	}
	b.assertNoReload("assigning and closing")

	// a and e pressed back to back on the other conversation: neither is lost
	// (the second must not be dropped while the first is in flight).
	b.do("open the other conversation", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#conv-item-%d a`, older))))
	b.waitFor("the other conversation open", fmt.Sprintf(`!!document.querySelector('#conv-pane[data-conversation="%d"]')`, older))
	b.pressKey("a")
	b.pressKey("e")
	eventually(t, "both the assignment and the close stored", func() bool {
		var st string
		var who *int64
		err := ta.db.Pool.QueryRow(context.Background(), `SELECT status, assignee_id FROM conversations WHERE id = $1`, older).Scan(&st, &who)
		return err == nil && st == "closed" && who != nil
	})
	// r puts the cursor in the reply box.
	b.pressKey("r")
	b.waitFor("r focuses the reply box", `document.activeElement && document.activeElement.id === 'reply-body'`)
}

// TestBrowserWindowDisablesFreeText: a WhatsApp conversation whose contact
// last wrote 25 hours ago has its reply box disabled with the reason; when
// the contact writes again the box comes back without a reload.
func TestBrowserWindowDisablesFreeText(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	conv := parentWrites(t, ta, "whatsapp:+15550009001", "whatsapp:+14155550100", "Hello")
	if _, err := ta.db.Pool.Exec(context.Background(), `UPDATE conversations SET last_inbound_at = now() - interval '25 hours' WHERE id = $1`, conv); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	signIn(b, ta)
	b.do("open the conversation", chromedp.Navigate(fmt.Sprintf("%s/conversations/%d", ta.URL, conv)))
	b.waitFor("the disabled reply box", `document.getElementById('reply-body') && document.getElementById('reply-body').disabled`)
	if txt := evalJS[string](b, `document.getElementById('reply-blocked').textContent`); !containsAll(txt, "24 hours", "template") {
		t.Fatalf("the reason shown is %q", txt)
	}
	if !evalJS[bool](b, `document.querySelector('#reply-form button[type=submit]').disabled`) {
		t.Fatal("Send is enabled with the window closed")
	}
	if txt := evalJS[string](b, `document.querySelector('.window-pill').textContent`); txt != "Window closed" {
		t.Fatalf("window pill reads %q", txt)
	}
	// The server refuses too, whatever the page shows.
	admin := ta.loginAdmin()
	tok := ta.csrfOf(admin, fmt.Sprintf("/conversations/%d", conv))
	resp := ta.postForm(admin, fmt.Sprintf("/conversations/%d/messages", conv), map[string][]string{"_csrf": {tok}, "body": {"Sneaky"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("posting free text outside the window: %d, want 422", resp.StatusCode)
	}
	b.waitLive()
	b.setMarker()
	parentWrites(t, ta, "whatsapp:+15550009001", "whatsapp:+14155550100", "Are you there?")
	b.waitFor("the reply box enabled after the contact wrote", `document.getElementById('reply-body') && !document.getElementById('reply-body').disabled && !document.getElementById('reply-blocked')`)
	b.waitFor("the window pill open", `document.querySelector('.window-pill').textContent.includes('Window open')`)
	b.assertNoReload("the window reopening")
	var n int
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM messages WHERE body = 'Sneaky'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("refused message stored %d times (%v)", n, err)
	}
}

// TestBrowserStopBlocksComposer: a parent replies STOP on WhatsApp: the app
// answers with the configured text, and the open composer says the contact
// opted out and since when.
func TestBrowserStopBlocksComposer(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	conv := parentWrites(t, ta, "whatsapp:+15550010001", "whatsapp:+14155550100", "Hi")
	b := newBrowser(t)
	signIn(b, ta)
	b.do("open the conversation", chromedp.Navigate(fmt.Sprintf("%s/conversations/%d", ta.URL, conv)))
	b.waitFor("an enabled reply box", `document.getElementById('reply-body') && !document.getElementById('reply-body').disabled`)
	b.waitLive()
	// The parent sends STOP through the simulator, as a phone would.
	if _, status, err := ta.sim.Inbound(context.Background(), twiliosim.InboundMessage{From: "whatsapp:+15550010001", To: "whatsapp:+14155550100", Body: "STOP", ProfileName: "Parent"}); err != nil || status != http.StatusOK {
		t.Fatalf("simulated STOP: %d, %v", status, err)
	}
	b.waitFor("the composer blocked by the opt-out", `document.getElementById('reply-blocked') && document.getElementById('reply-blocked').textContent.includes('opted out')`)
	b.waitFor("the automatic STOP answer in the thread", `[...document.querySelectorAll('.thread .msg-auto')].some((m) => m.textContent.includes('START'))`)
	if !evalJS[bool](b, `document.getElementById('reply-body').disabled`) {
		t.Fatal("the reply box is still enabled after STOP")
	}
	var auto int
	if err := ta.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM messages WHERE conversation_id = $1 AND automatic AND sent_by IS NULL`, conv).Scan(&auto); err != nil || auto != 1 {
		t.Fatalf("%d automatic answers stored (%v), want 1", auto, err)
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// testPNG is a small real PNG (a 24×16 gradient), so type sniffing, the
// simulator's checks and the browser's decoder all see a genuine image.
func testPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 24, 16))
	for x := range 24 {
		for y := range 16 {
			img.Set(x, y, color.RGBA{uint8(x * 10), uint8(y * 15), 120, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestBrowserMediaRoundTrip: a parent sends a photo through the simulator;
// Classline fetches it from the simulator's authenticated media URL and shows
// it inline to staff. Staff answer with a picture attached in the composer;
// the simulator fetches it from Classline's expiring public URL and gets the
// very same bytes.
func TestBrowserMediaRoundTrip(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	photo := testPNG(t)
	b := newBrowser(t)
	signIn(b, ta)
	b.waitLive()

	if _, status, err := ta.sim.Inbound(context.Background(), twiliosim.InboundMessage{
		From: "whatsapp:+15550011001", To: "whatsapp:+14155550100", Body: "Here is the permission slip", ProfileName: "Rosa",
		Files: []twiliosim.File{{Name: "slip.png", ContentType: "image/png", Data: photo}},
	}); err != nil || status != http.StatusOK {
		t.Fatalf("simulated inbound with a photo: %d, %v", status, err)
	}
	b.waitFor("the new conversation in the list", `[...document.querySelectorAll('#conv-list .conv-item')].some((a) => a.textContent.includes('Rosa'))`)
	b.do("open it", chromedp.Click(xpathText("span", "Rosa")))
	b.waitFor("the photo shown inline and decoded", `(() => { const i = document.querySelector('.thread .msg-in .msg-media-image img'); return i && i.complete && i.naturalWidth === 24 && i.naturalHeight === 16; })()`)
	src := evalJS[string](b, `document.querySelector('.thread .msg-in .msg-media-image img').getAttribute('src')`)
	// Staff only: the same address without a session is refused.
	resp, err := ta.client().Get(ta.URL + src)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("GET %s without a session: %d to %q, want 303 to the login page", src, resp.StatusCode, resp.Header.Get("Location"))
	}

	// Staff reply with a picture attached.
	dir := t.TempDir()
	file := filepath.Join(dir, "timetable.png")
	reply := testPNG(t)
	reply = append([]byte(nil), reply...)
	if err := os.WriteFile(file, reply, 0o600); err != nil {
		t.Fatal(err)
	}
	b.fill("Reply", "Thanks! Here is the new timetable.")
	b.do("attach the picture", chromedp.SetUploadFiles(chromedp.CSS("#reply-media"), []string{file}))
	b.do("click Send", chromedp.Click(xpathText("button", "Send")))
	b.waitFor("the sent picture in the thread", `!!document.querySelector('.thread .msg-out .msg-media-image img')`)
	var got []byte
	eventually(t, "the simulator to fetch the attachment from Classline", func() bool {
		for _, m := range ta.sim.Messages() {
			if m.Body == "Thanks! Here is the new timetable." && len(m.Media) == 1 && len(m.Media[0].Data) > 0 {
				got = m.Media[0].Data
				return true
			}
		}
		return false
	})
	if !bytes.Equal(got, reply) {
		t.Fatalf("the simulator received %d bytes, want the %d uploaded", len(got), len(reply))
	}
	// The server first (a failure here is the callbacks' path), then the page
	// (a failure there is the live update's).
	eventually(t, "the reply delivered in the database", func() bool {
		return countRows(t, ta, `SELECT count(*) FROM messages WHERE body = 'Thanks! Here is the new timetable.' AND status IN ('delivered', 'read')`) == 1
	})
	b.waitFor("the message delivered", `[...document.querySelectorAll('.thread .msg-out [data-status]')].some((p) => ['delivered', 'read'].includes(p.dataset.status))`)

	// The send's own answer can reach the page after the live update of a
	// later status: an older copy of the message never replaces a newer one.
	b.do("deliver a stale copy of the message", chromedp.Evaluate[chromedp.Void](`(() => {
		const cur = document.querySelector('.thread .msg-out');
		const stale = cur.cloneNode(true);
		stale.setAttribute('data-rev', String(Number(cur.getAttribute('data-rev')) - 1000));
		stale.querySelector('[data-status]').dataset.status = 'queued';
		const thread = cur.closest('.thread').id;
		document.addEventListener('htmx:oobAfterSwap', () => { window.__staleDone = true; }, {once: true});
		htmx.swap('#' + thread, '<div hx-swap-oob="beforeend:#' + thread + '">' + stale.outerHTML + '</div>', {swapStyle: 'none'});
	})()`))
	b.waitFor("the stale copy processed", `window.__staleDone === true`)
	if st := evalJS[string](b, `[...document.querySelectorAll('.thread .msg-out [data-status]')].map(p => p.dataset.status).join(',')`); st != "delivered" && st != "read" {
		t.Fatalf("after a stale copy arrived the message reads %q", st)
	}
}
