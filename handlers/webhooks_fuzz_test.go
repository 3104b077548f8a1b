package handlers

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/internal/config"
	"github.com/classline/classline/internal/twilio"
)

// FuzzTwilioParams drives the webhook front door (form parsing + signature
// check, twilioParams) with arbitrary bodies, queries, signatures and
// X-Forwarded-* headers:
//   - a body Twilio signed (no repeated names, as Twilio sends) is accepted
//     and yields exactly its parameters;
//   - whatever is accepted yields the body's first values and carries a
//     signature that is valid for them at PUBLIC_URL (or, with TRUST_PROXY,
//     at the forwarded origin): nothing unsigned gets through;
//   - a signature made for the forwarded URL is refused without TRUST_PROXY;
//   - a byte of the signed body changed is refused unless the parameters
//     it yields are the same;
//   - no input panics.
func FuzzTwilioParams(f *testing.F) {
	f.Add([]byte("MessageSid=SM1&From=whatsapp%3A%2B14155550123&Body=Hello+there&NumMedia=0"), "", "sig", "https", "proxy.example", false, uint16(3))
	f.Add([]byte("MessageSid=SM2&MessageStatus=delivered&MessageStatus=read"), "a=1&b=2", "", "http", "school.example", true, uint16(0))
	f.Add([]byte("Body=%zz&x"), "%", "AAAA", "HTTPS", "school.example:443", true, uint16(7))
	f.Add([]byte(";&=&==&%00=%FF"), "bodySHA256=abc", "=", "ftp", "a, b", false, uint16(1))
	f.Add([]byte{}, "", "", "", "", false, uint16(0))

	const token = "fuzztoken1"
	g, err := twilio.New(twilio.Config{AccountSID: "AC123", AuthToken: token})
	if err != nil {
		f.Fatal(err)
	}
	const public = "https://school.example"
	e := echo.New()
	f.Fuzz(func(t *testing.T, body []byte, rawQuery, forgedSig, fwdProto, fwdHost string, trust bool, flip uint16) {
		s := &Server{Deps: Deps{Config: config.Config{PublicURL: public, TrustProxy: trust}, Gateway: g}}
		call := func(body []byte, sig string, fwd bool) map[string]string {
			req := httptest.NewRequest(http.MethodPost, "/webhooks/twilio/inbound", strings.NewReader(string(body)))
			req.URL.RawQuery = rawQuery
			req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationForm)
			if sig != "" {
				req.Header.Set("X-Twilio-Signature", sig)
			}
			if fwd {
				req.Header.Set("X-Forwarded-Proto", fwdProto)
				req.Header.Set("X-Forwarded-Host", fwdHost)
			}
			return s.twilioParams(e.NewContext(req, httptest.NewRecorder()))
		}
		uri := "/webhooks/twilio/inbound"
		if rawQuery != "" {
			uri += "?" + rawQuery
		}
		form, parseErr := url.ParseQuery(string(body))
		// A query string that does not parse makes the whole request
		// unreadable (ParseForm fails), so nothing is accepted; Twilio
		// never sends one.
		_, queryErr := url.ParseQuery(rawQuery)
		first := map[string]string{}
		repeated := false
		for k, v := range form {
			first[k] = v[0]
			repeated = repeated || len(v) > 1
		}
		fwdOrigin := forwardedOrigin(http.Header{"X-Forwarded-Proto": {fwdProto}, "X-Forwarded-Host": {fwdHost}})
		// accepted checks what came through: the body's own first values,
		// under a signature valid for a URL this server answers for.
		accepted := func(got map[string]string, sig string, fwd bool) {
			t.Helper()
			if got == nil {
				return
			}
			if parseErr != nil {
				t.Fatalf("accepted a body that does not parse (%v): %q", parseErr, body)
			}
			if !maps.Equal(got, first) {
				t.Fatalf("accepted params %q, body says %q", got, first)
			}
			ok := g.ValidateSignature(public+uri, got, sig)
			if !ok && fwd && trust && fwdOrigin != "" {
				ok = g.ValidateSignature(fwdOrigin+uri, got, sig)
			}
			if !ok {
				t.Fatalf("accepted %q with a signature valid for no URL of ours (trust=%v, forwarded %q %q)", got, trust, fwdProto, fwdHost)
			}
		}

		// Arbitrary signature, with and without forwarded headers.
		accepted(call(body, forgedSig, false), forgedSig, false)
		accepted(call(body, forgedSig, true), forgedSig, true)

		if parseErr != nil || queryErr != nil {
			return
		}
		// Twilio's own signature over the body at PUBLIC_URL.
		sig := twilio.ComputeSignature(token, public+uri, form)
		got := call(body, sig, false)
		accepted(got, sig, false)
		if !repeated && got == nil {
			t.Fatalf("signed body %q refused", body)
		}
		// The same signature on a body with one byte changed.
		if len(body) > 0 {
			tampered := []byte(string(body))
			i := int(flip) % len(tampered)
			tampered[i] ^= 0x01
			if got := call(tampered, sig, false); got != nil && !maps.Equal(got, first) {
				t.Fatalf("tampered body %q accepted as %q; signed was %q", tampered, got, first)
			}
		}
		// A signature for the URL the forwarded headers name: only with
		// TRUST_PROXY (or when that URL is PUBLIC_URL itself).
		fwdURL := fwdProto + "://" + fwdHost + uri
		if fwdOrigin != "" {
			fwdURL = fwdOrigin + uri // the normalised origin twilioParams checks
		}
		fsig := twilio.ComputeSignature(token, fwdURL, form)
		got = call(body, fsig, true)
		accepted(got, fsig, true)
		if trust && fwdOrigin != "" && !repeated && got == nil {
			t.Fatalf("TRUST_PROXY on: signature for forwarded %q refused", fwdURL)
		}
	})
}
