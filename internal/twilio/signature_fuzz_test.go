package twilio

import (
	"net/url"
	"testing"
)

// FuzzSignature checks ComputeSignature (ours, used by the simulator's
// callbacks and the load generator) against ValidateSignature (twilio-go's
// RequestValidator, which guards the webhooks) on arbitrary URLs and
// parameters:
//   - a signature computed for (url, params) validates;
//   - changing one value, renaming one name, adding or removing a
//     parameter, changing the URL or the token makes it fail;
//   - neither panics, whatever the input.
func FuzzSignature(f *testing.F) {
	f.Add("https://school.example/webhooks/twilio/inbound", "Body", "Hello", "From", "whatsapp:+14155550123", "x")
	f.Add("http://127.0.0.1:8080/webhooks/twilio/status?x=1", "MessageStatus", "delivered", "MessageSid", "SM123", "")
	f.Add("https://school.example:443/a b", "", "", "ProfileName", "José ✓", "\x00")
	f.Add("", "k", "", "k2", "v", "")
	f.Add("http://[::1]:80/p%zz", "a", "bc", "ab", "c", "ü")
	g, err := New(Config{AccountSID: "AC123", AuthToken: "secrettoken1"})
	if err != nil {
		f.Fatal(err)
	}
	other, err := New(Config{AccountSID: "AC123", AuthToken: "secrettoken2"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, u, k1, v1, k2, v2, extra string) {
		params := map[string]string{k1: v1, k2: v2}
		form := url.Values{}
		for k, v := range params {
			form.Set(k, v)
		}
		sig := ComputeSignature("secrettoken1", u, form)
		if !g.ValidateSignature(u, params, sig) {
			t.Fatalf("signature for %q %q does not validate", u, params)
		}
		if other.ValidateSignature(u, params, sig) {
			t.Fatalf("signature validates with another auth token")
		}
		if g.ValidateSignature(u, params, "") {
			t.Fatalf("empty signature validates")
		}

		// A different value for one name: the signed string changes.
		changed := clone(params)
		changed[k1] = params[k1] + extra + "!"
		if g.ValidateSignature(u, changed, sig) {
			t.Fatalf("changed value %q→%q still validates", params[k1], changed[k1])
		}

		// An added parameter, and a removed one.
		added := clone(params)
		if _, ok := added[k1+"x"]; !ok {
			added[k1+"x"] = extra
			if g.ValidateSignature(u, added, sig) {
				t.Fatalf("added parameter %q still validates", k1+"x")
			}
		}
		removed := clone(params)
		delete(removed, k2)
		if k2+v2 != "" && g.ValidateSignature(u, removed, sig) {
			t.Fatalf("removed parameter %q=%q still validates", k2, v2)
		}

		// A renamed parameter. Twilio's scheme concatenates name+value with
		// no separator, so a rename that moves characters between a name and
		// its value ({"a":"bc"} vs {"ab":"c"}) signs the same string by
		// design; only a rename that changes the signed string must fail.
		if k1 != k2 {
			renamed := clone(params)
			delete(renamed, k1)
			nk := k1 + "_" + extra
			if _, clash := renamed[nk]; !clash {
				renamed[nk] = v1
				if signedString(u, renamed) != signedString(u, params) && g.ValidateSignature(u, renamed, sig) {
					t.Fatalf("renamed %q→%q still validates", k1, nk)
				}
			}
		}

		// A different URL (path appended): Twilio signs the exact URL. The
		// validator deliberately accepts the URL with or without the
		// default port, which appending to the end never produces.
		if g.ValidateSignature(u+"/x"+extra, params, sig) {
			t.Fatalf("URL %q→%q still validates", u, u+"/x"+extra)
		}
	})
}

func clone(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// signedString is what Twilio feeds HMAC-SHA1, written out independently of
// ComputeSignature so the fuzzer can tell a real collision from a bug.
func signedString(u string, params map[string]string) string {
	form := url.Values{}
	for k, v := range params {
		form.Set(k, v)
	}
	s := u
	for _, k := range sortedKeys(form) {
		s += k + form.Get(k)
	}
	return s
}

func sortedKeys(form url.Values) []string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
