package templates

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzRender checks Variables and Render together on any template text:
//   - neither panics;
//   - every placeholder Variables reports is filled by Render when its
//     value is given: no {{n}} for a provided n is left in the output, and
//     each value appears once per placeholder;
//   - values go in verbatim, once: "$1", "\", "{{2}}" inside a value are
//     not expanded or escaped;
//   - with no values (or only values for numbers the text does not use),
//     the text comes back byte for byte, braces and all.
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		"Hi {{1}}, {{2}} is closed; {{3}} stays.", "Dear {{2}}, {{1}} and {{ 2 }} again, {{name}}",
		"{{{{1}}}}", "{{01}} {{+1}} {{1.0}} {{ 1}}", "{{}} {{ }} }}{{ {{1", "{{1}}{{1}}", "\xff{{\xfe}}",
		"{{99999999999999999999}}", "{{-1}} {{0}}", "{{1\n}}",
	} {
		f.Add(s, "Ana")
		f.Add(s, "{{2}} $1 \\")
	}
	f.Fuzz(func(t *testing.T, text, value string) {
		if got := Render(text, nil); got != text {
			t.Fatalf("Render(%q, nil) = %q", text, got)
		}
		nums, _ := Variables(text)
		unused := 1
		if len(nums) > 0 {
			unused = nums[len(nums)-1] + 1
		}
		if got := Render(text, map[string]string{strconv.Itoa(unused): value}); got != text {
			t.Fatalf("Render(%q) with values for unused numbers = %q", text, got)
		}
		// Provide every variable: n gets a marker that is not a number and
		// carries what a regexp replacement would expand, plus the fuzzed value.
		vars := map[string]string{}
		marker := func(k string) string { return "«$" + k + "\\»" }
		for _, n := range nums {
			k := strconv.Itoa(n)
			vars[k] = marker(k) + value
		}
		out := Render(text, vars)
		left, _ := Variables(strings.NewReplacer(func() []string {
			var r []string
			for _, v := range vars {
				// Not "": removing a value would join the braces around
				// it into a placeholder the text never had ("{{{1}}{1}}").
				r = append(r, v, "\x1f")
			}
			return r
		}()...).Replace(out))
		for _, n := range left {
			if _, ok := vars[strconv.Itoa(n)]; ok {
				t.Fatalf("Render(%q) = %q: {{%d}} left although given", text, out, n)
			}
		}
		for _, n := range nums {
			k := strconv.Itoa(n)
			want := 0
			for _, m := range variableRe.FindAllStringSubmatch(text, -1) {
				if m[1] == k {
					want++
				}
			}
			if want == 0 {
				t.Fatalf("Variables(%q) reports %d, which no placeholder spells as %q", text, n, k)
			}
			if got := strings.Count(out, marker(k)); got < want {
				t.Fatalf("Render(%q) = %q: value of {{%d}} appears %d times, want %d", text, out, n, got, want)
			}
		}
	})
}

// A zero-padded or signed number is not a variable: Render would leave it
// unfilled, so Validate must refuse it before it reaches WhatsApp.
func TestValidateRefusesNonCanonicalVariable(t *testing.T) {
	for _, body := range []string{"Dear {{01}}, school is closed today.", "Dear {{+1}}, school is closed today."} {
		d := Draft{Name: "x", Language: "en", Category: CategoryUtility, Kind: KindText, Body: body, Samples: map[string]string{"1": "Ana"}}
		if e := Validate(d)["body"]; !strings.Contains(e, "is not a variable") {
			t.Errorf("Validate(%q) body error %q, want “is not a variable”", body, e)
		}
	}
}
