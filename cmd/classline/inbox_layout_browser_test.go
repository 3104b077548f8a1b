package main

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// On a common laptop screen (1366×768, about 650 px of it for the page) the
// conversation header and the composer left the thread a strip of about
// 120 px: two lines of the conversation staff are answering. The thread
// must keep a useful height; on short screens the column scrolls instead.
func TestConversationThreadKeepsItsHeightOnLaptopScreens(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	conv := inboundConversation(t, ta, "whatsapp:+15553330050", "whatsapp:+14155550100", "Maria Lopez")
	b := newBrowser(t)
	signIn(b, ta)
	for _, size := range []struct{ w, h int64 }{{1366, 650}, {1280, 600}, {1920, 960}} {
		b.do(fmt.Sprintf("resize to %d×%d", size.w, size.h), chromedp.EmulateViewport(size.w, size.h))
		b.do("open the conversation", chromedp.Navigate(fmt.Sprintf("%s/conversations/%d", ta.URL, conv)),
			chromedp.WaitVisible(chromedp.CSS(".thread .msg-in")))
		thread := evalJS[float64](b, `document.querySelector('.thread').getBoundingClientRect().height`)
		// 15 rem: about six short messages.
		if thread < 240 {
			t.Errorf("at %d×%d the thread is %.0f px tall; want at least 240 px", size.w, size.h, thread)
		}
		// The composer stays reachable: its Send button is on screen or
		// the column scrolls to it.
		reachable := evalJS[bool](b, `(() => {
			const send = [...document.querySelectorAll('.composer button')].find((x) => x.textContent.trim() === 'Send');
			if (!send) return false;
			send.scrollIntoView({block: 'nearest'});
			const r = send.getBoundingClientRect();
			return r.top >= 0 && r.bottom <= window.innerHeight;
		})()`)
		if !reachable {
			t.Errorf("at %d×%d the reply box's Send button cannot be brought on screen", size.w, size.h)
		}
	}
}
