package handlers

import "testing"

func TestSafeNext(t *testing.T) {
	cases := map[string]string{
		"/inbox":                      "/inbox",
		"/conversations/4?x=1":        "/conversations/4?x=1",
		"":                            "",
		"inbox":                       "",
		"//evil.example":              "",
		"/\\evil.example":             "",
		"/\t/evil.example":            "",
		"/\r\n/evil.example":          "",
		"/\x7f/evil.example":          "",
		"https://evil.example/":       "",
		"/%09/evil.example":           "/%09/evil.example", // stays percent-encoded: a path, not a host
		"/\\/evil.example":            "",
		"/inbox\nSet-Cookie: x=1":     "",
		"/ok/../../evil.example":      "/ok/../../evil.example",
		"/user@evil.example":          "/user@evil.example",
		"/search?q=//evil.example":    "/search?q=//evil.example",
		"\\\\evil.example":            "",
		" /inbox":                     "",
		"/\x00/evil.example":          "",
		"/\u2028/x":                   "/\u2028/x",
		"/javascript:alert(1)":        "/javascript:alert(1)",
		"javascript:alert(1)":         "",
		"/%2F%2Fevil.example":         "/%2F%2Fevil.example",
		"///evil.example":             "",
		"/\t":                         "",
		"/inbox#frag":                 "/inbox#frag",
		"/" + string(rune(0x1f)) + "": "",
	}
	for in, want := range cases {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
