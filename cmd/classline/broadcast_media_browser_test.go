package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestBrowserBroadcastAttachment: in the content step a person types the
// SMS text, picks a file with the Attachment field (found by its label): it
// uploads at once, the thumbnail loads through the staff media route and the
// text stays. A file MMS refuses is explained beside the field. The Remove
// button is reached and pressed from the keyboard, and Enter in a field
// still continues rather than removing anything.
func TestBrowserBroadcastAttachment(t *testing.T) {
	ta := startTestApp(t, testOptions{})
	dir := t.TempDir()
	picture := filepath.Join(dir, "class photo.png")
	img := image.NewRGBA(image.Rect(0, 0, 24, 16))
	for x := range 24 {
		for y := range 16 {
			img.Set(x, y, color.RGBA{R: uint8(x * 10), G: 120, B: 200, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	notes := filepath.Join(dir, "notes.txt")
	for path, data := range map[string][]byte{picture: buf.Bytes(), notes: []byte("just some notes\n")} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	b := newBrowser(t)
	signIn(b, ta)
	b.do("start a broadcast", chromedp.Navigate(ta.URL+"/broadcasts/new"), chromedp.Click(xpathText("button", "Start a new broadcast")))
	b.waitFor("step 1", `document.querySelector('#wizard[data-step="1"]') !== null`)
	b.do("open step 2", chromedp.Navigate(b.evalURL(`location.pathname + '?step=2'`)))
	b.waitFor("step 2", `document.querySelector('#wizard[data-step="2"]') !== null && document.readyState === 'complete'`)
	if got := evalJS[string](b, `(document.querySelector('input[name=mode]:checked') || {}).value || ''`); got != "sms" {
		b.do("choose SMS only", chromedp.Click(`//label[contains(normalize-space(), "SMS only")]`))
	}
	b.fill("SMS text", "Class photos are in, {{first_name}}.")

	field := b.byLabel("Attachment")
	b.do("choose a file that is not for MMS", chromedp.SetUploadFiles(field, []string{notes}))
	b.waitFor("the refusal beside the field", `(document.getElementById('bc-attachment-error') || {}).textContent?.includes('do not accept plain text files')`)
	if got := evalJS[string](b, `document.getElementById('bc-attachment').getAttribute('aria-describedby')`); got != "bc-attachment-hint bc-attachment-error" {
		t.Errorf("the field is described by %q", got)
	}

	field = b.byLabel("Attachment")
	b.do("choose the picture", chromedp.SetUploadFiles(field, []string{picture}))
	b.waitFor("the attached picture", `[...document.querySelectorAll('.bc-attachment-name')].some((a) => a.textContent === 'class photo.png')`)
	b.waitFor("its thumbnail loaded", `(() => { const i = document.querySelector('.bc-attachment-thumb'); return i && i.complete && i.naturalWidth === 24 })()`)
	if got := evalJS[string](b, `document.getElementById('bc-sms').value`); got != "Class photos are in, {{first_name}}." {
		t.Errorf("the SMS text after attaching reads %q", got)
	}
	if evalJS[bool](b, `!!document.getElementById('bc-attachment-error')`) {
		t.Errorf("the earlier error is still shown")
	}

	// Enter in the step's text field continues (Remove is not the form's
	// default button): step 3 comes, the file still attached.
	b.do("type in the fallback field and press Enter",
		chromedp.Evaluate[chromedp.Void](`document.getElementById('bc-urgent').click()`),
		chromedp.Focus(chromedp.ID("bc-fallback")),
		chromedp.KeyEvent(kb.Enter))
	b.waitFor("step 3", `document.querySelector('#wizard[data-step="3"]') !== null`)
	b.do("back to step 2", chromedp.Navigate(b.evalURL(`location.pathname + '?step=2'`)))
	b.waitFor("step 2 again", `document.querySelector('#wizard[data-step="2"]') !== null && document.readyState === 'complete'`)
	if n := evalJS[int](b, `document.querySelectorAll('.bc-attachment').length`); n != 1 {
		t.Fatalf("%d attachments after Enter in a field, want 1", n)
	}

	// Remove, from the keyboard.
	b.do("focus Remove and press Enter", chromedp.Focus(chromedp.CSS(`[aria-label="Remove class photo.png"]`)), chromedp.KeyEvent(kb.Enter))
	b.waitFor("the attachment gone", `document.querySelectorAll('.bc-attachment').length === 0 && document.body.textContent.includes('Attachment removed.')`)
}

// evalURL evaluates a JavaScript expression giving a path and returns the
// absolute URL of it on the page's origin.
func (b *browserTab) evalURL(expr string) string {
	b.t.Helper()
	return evalJS[string](b, fmt.Sprintf(`location.origin + (%s)`, expr))
}
