package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/classline/classline/internal/twilio"
)

// Sign is Twilio's X-Twilio-Signature for a form POST to fullURL: the
// project's own implementation (internal/twilio), which its tests check
// against twilio-go's validator, so the load is signed exactly as Twilio
// signs it.
func Sign(token, fullURL string, form url.Values) string {
	return twilio.ComputeSignature(token, fullURL, form)
}

// benchSMS is the sender every scenario's outbound messages come from; it is
// not one of the numbers `classline seed` or the simulator mode creates.
const benchSMS = "+14155550198"

// targetSID is the Twilio SID of the i-th message status callbacks are
// posted for (seeded by fixture.callbackTargets).
func targetSID(i int) string { return fmt.Sprintf("SMbench%027d", i) }

// targetPhone is the parent the i-th target conversation belongs to.
func targetPhone(k int) string { return fmt.Sprintf("+14158%06d", k) }

// StatusCallbackForm is the form Twilio posts when an SMS reaches status, as
// the simulator (internal/twiliosim, callbackForm) posts it.
func StatusCallbackForm(accountSID, sid, from, to, status string) url.Values {
	f := url.Values{}
	f.Set("MessageSid", sid)
	f.Set("SmsSid", sid)
	f.Set("SmsMessageSid", sid)
	f.Set("AccountSid", accountSID)
	f.Set("From", from)
	f.Set("To", to)
	f.Set("MessageStatus", status)
	f.Set("SmsStatus", status)
	f.Set("ApiVersion", "2010-04-01")
	if status == "delivered" {
		f.Set("RawDlrDoneDate", "2611241200")
	}
	return f
}

// InboundForm is the form Twilio posts when a parent texts one of our numbers.
func InboundForm(accountSID, sid, from, to, body string) url.Values {
	f := url.Values{}
	for _, k := range []string{"MessageSid", "SmsMessageSid", "SmsSid"} {
		f.Set(k, sid)
	}
	f.Set("AccountSid", accountSID)
	f.Set("From", from)
	f.Set("To", to)
	f.Set("Body", body)
	f.Set("NumMedia", "0")
	f.Set("NumSegments", "1")
	f.Set("SmsStatus", "received")
	f.Set("ApiVersion", "2010-04-01")
	return f
}

// webhooks posts signed forms to the app as Twilio would.
type webhooks struct {
	client    *http.Client
	addr      string // where the requests go (the app's listener)
	publicURL string // what the signature covers (PUBLIC_URL)
	token     string
}

// post sends form to path and returns the HTTP status.
func (w webhooks) post(ctx context.Context, path string, form url.Values) (int, error) {
	body := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.addr+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set("X-Twilio-Signature", Sign(w.token, w.publicURL+path, form))
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
