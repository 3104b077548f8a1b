package bench

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/classline/classline/internal/twilio"
)

func TestPercentile(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, c := range []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of odd", ms(1, 2, 3), 0.5, 2 * time.Millisecond},
		{"median of even is the lower middle", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p95 of 1..100 is the 95th", ms(hundred...), 0.95, 95 * time.Millisecond},
		{"p99 of 1..100 is the 99th", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p100 is the max", ms(hundred...), 1, 100 * time.Millisecond},
		{"p95 of 10 is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.95, 10 * time.Millisecond},
		{"tiny p is the min", ms(5, 6), 0.001, 5 * time.Millisecond},
		{"negative samples", ms(-3, -1, 2), 0.5, -1 * time.Millisecond},
	} {
		if got := Percentile(c.samples, c.p); got != c.want {
			t.Errorf("%s: Percentile(p=%v) = %v, want %v", c.name, c.p, got, c.want)
		}
	}
}

func TestSummarizeSortsACopy(t *testing.T) {
	in := []time.Duration{3, 1, 2}
	l := Summarize(in)
	if l.N != 3 || l.P50 != 2 || l.Max != 3 {
		t.Errorf("Summarize = %+v", l)
	}
	if in[0] != 3 {
		t.Error("Summarize sorted its argument")
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0}, {[]float64{4}, 4}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestSignatureAcceptedByTheApp checks the load generator's requests
// against the validator the app's webhook handlers use (twilio-go's
// RequestValidator, through the Gateway), for both kinds of webhook.
func TestSignatureAcceptedByTheApp(t *testing.T) {
	const token = "benchtoken0123456789abcdef"
	gw, err := twilio.New(twilio.Config{AccountSID: "AC" + strings.Repeat("0", 32), AuthToken: token})
	if err != nil {
		t.Fatal(err)
	}
	const base = "http://127.0.0.1:8080"
	forms := map[string]url.Values{
		"/webhooks/twilio/status":  StatusCallbackForm("AC1", targetSID(42), benchSMS, targetPhone(42), "delivered"),
		"/webhooks/twilio/inbound": InboundForm("AC1", "SMlive1", "+14159000001", benchSMS, "Bench live lg000001: ¿mañana? & 100% = ok"),
	}
	for path, form := range forms {
		params := map[string]string{}
		for k, v := range form {
			params[k] = v[0]
		}
		sig := Sign(token, base+path, form)
		if !gw.ValidateSignature(base+path, params, sig) {
			t.Errorf("%s: the app's validator refuses our signature", path)
		}
		if gw.ValidateSignature(base+"/other", params, sig) {
			t.Errorf("%s: a signature for one URL passed for another", path)
		}
		params["MessageSid"] += "x"
		if gw.ValidateSignature(base+path, params, sig) {
			t.Errorf("%s: a tampered form passed", path)
		}
	}
}

func TestStormWalksEachTargetForward(t *testing.T) {
	const n = 3
	var got []string
	for j := range 3*n + 1 {
		i, status := stormCallback(j, n)
		got = append(got, fmt.Sprintf("%d=%s", i, status))
	}
	want := "0=sent 1=sent 2=sent 0=delivered 1=delivered 2=delivered 0=read 1=read 2=read 0=sent"
	if strings.Join(got, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
}

func TestReadPgbenchLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tx.1")
	log := "0 1 1534 0 1732450000 123456\n1 1 2210 0 1732450000 124000\n2 2 skipped 0 1732450001 1\n"
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readPgbenchLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 1534*time.Microsecond || got[1] != 2210*time.Microsecond {
		t.Errorf("got %v", got)
	}
}

func TestLibpqURLDropsPoolParameters(t *testing.T) {
	got := libpqURL("postgres://u@/db?host=/tmp/s&pool_max_conns=40&sslmode=disable")
	if strings.Contains(got, "pool_") || !strings.Contains(got, "sslmode=disable") {
		t.Errorf("libpqURL = %s", got)
	}
}
