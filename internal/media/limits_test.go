package media

import (
	"bytes"
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// Sample file heads: enough bytes for every sniffer.
var (
	jpegBytes = append([]byte("\xFF\xD8\xFF\xE0\x00\x10JFIF\x00"), bytes.Repeat([]byte{0}, 64)...)
	pngBytes  = append([]byte("\x89PNG\x0D\x0A\x1A\x0A\x00\x00\x00\x0DIHDR"), bytes.Repeat([]byte{0}, 64)...)
	gifBytes  = append([]byte("GIF89a"), bytes.Repeat([]byte{0}, 64)...)
	pdfBytes  = append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("x"), 64)...)
	zipBytes  = append([]byte("PK\x03\x04"), bytes.Repeat([]byte{0}, 64)...)
	oleBytes  = append([]byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"), bytes.Repeat([]byte{0}, 64)...)
	mp4Bytes  = append([]byte("\x00\x00\x00\x18ftypmp42"), bytes.Repeat([]byte{0}, 64)...)
	m4aBytes  = append([]byte("\x00\x00\x00\x18ftypM4A "), bytes.Repeat([]byte{0}, 64)...)
	gp3Bytes  = append([]byte("\x00\x00\x00\x18ftyp3gp4"), bytes.Repeat([]byte{0}, 64)...)
	heicBytes = append([]byte("\x00\x00\x00\x18ftypheic"), bytes.Repeat([]byte{0}, 64)...)
	amrBytes  = append([]byte("#!AMR\n"), bytes.Repeat([]byte{0}, 64)...)
	aacBytes  = append([]byte{0xFF, 0xF1, 0x50, 0x80}, bytes.Repeat([]byte{0}, 64)...)
	mp3Bytes  = append([]byte("ID3\x03\x00"), bytes.Repeat([]byte{0}, 64)...)
	mp3Raw    = append([]byte{0xFF, 0xFB, 0x90, 0x64}, bytes.Repeat([]byte{0}, 64)...)
	opusBytes = append([]byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x13OpusHead"), bytes.Repeat([]byte{0}, 32)...)
	vorbis    = append([]byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1e\x01vorbis"), bytes.Repeat([]byte{0}, 32)...)
	htmlBytes = []byte("<!DOCTYPE html><html><script>alert(1)</script></html>")
	vcard     = []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ana Ruiz\r\nEND:VCARD\r\n")
)

func TestDetectType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		data           []byte
		declared, file string
		want           string
	}{
		{"jpeg", jpegBytes, "", "", "image/jpeg"},
		{"jpeg claimed png", jpegBytes, "image/png", "x.png", "image/jpeg"},
		{"png", pngBytes, "image/png", "", "image/png"},
		{"gif", gifBytes, "", "", "image/gif"},
		{"pdf", pdfBytes, "application/octet-stream", "", "application/pdf"},
		{"html claimed image", htmlBytes, "image/png", "cat.png", "text/html"},
		{"docx by name", zipBytes, "application/octet-stream", "Report.DOCX", typeDOCX},
		{"xlsx by type", zipBytes, typeXLSX, "", typeXLSX},
		{"plain zip", zipBytes, "application/zip", "a.zip", "application/zip"},
		{"zip claimed pdf", zipBytes, "application/pdf", "a.pdf", "application/zip"},
		{"old word", oleBytes, "", "letter.doc", typeDOC},
		{"ole unknown", oleBytes, "", "thing.msi", "application/x-ole-storage"},
		{"mp4", mp4Bytes, "", "", "video/mp4"},
		{"m4a brand", m4aBytes, "", "", "audio/mp4"},
		{"mp4 audio by name", mp4Bytes, "", "voice.m4a", "audio/mp4"},
		{"3gp", gp3Bytes, "", "", "video/3gpp"},
		{"3gp audio", gp3Bytes, "audio/3gpp", "", "audio/3gpp"},
		{"heic", heicBytes, "", "", "image/heic"},
		{"amr", amrBytes, "", "", "audio/amr"},
		{"aac", aacBytes, "", "", "audio/aac"},
		{"mp3 id3", mp3Bytes, "", "", "audio/mpeg"},
		{"mp3 frame", mp3Raw, "", "", "audio/mpeg"},
		{"ogg", opusBytes, "", "", "audio/ogg"},
		{"vcard", vcard, "text/plain", "", "text/vcard"},
		{"csv by name", []byte("name,class\nAna,7B\n"), "", "list.csv", "text/csv"},
		{"text", []byte("hello"), "text/plain", "", "text/plain"},
		{"empty", nil, "image/png", "", "application/octet-stream"},
	} {
		if got := DetectType(tc.data, tc.declared, tc.file); got != tc.want {
			t.Errorf("%s: DetectType = %q, want %q", tc.name, got, tc.want)
		}
	}
	if !isOpus(opusBytes) || isOpus(vorbis) {
		t.Error("isOpus cannot tell Opus from Vorbis")
	}
}

// The outbound rules per channel and kind of file, with the words staff see.
func TestCheckOutbound(t *testing.T) {
	t.Parallel()
	const MB = 1_000_000
	for _, tc := range []struct {
		channel, ct string
		size        int64
		want        string // "" for accepted; else a fragment of the reason
	}{
		{"whatsapp", "image/jpeg", 5 * MB, ""},
		{"whatsapp", "image/jpeg", 7_200_000, "WhatsApp accepts images up to 5 MB; this one is 7.2 MB."},
		{"whatsapp", "image/png", 5*MB + 1, "images up to 5 MB"},
		{"whatsapp", "image/jpg", 100, ""},
		{"whatsapp", "image/gif", 100, "WhatsApp does not accept GIF pictures"},
		{"whatsapp", "image/webp", 100, "WebP pictures"},
		{"whatsapp", "video/mp4", 16 * MB, ""},
		{"whatsapp", "video/mp4", 16*MB + 1, "WhatsApp accepts videos up to 16 MB; this one is 16 MB."},
		{"whatsapp", "video/quicktime", 100, "QuickTime"},
		{"whatsapp", "video/3gpp", 100, ""},
		{"whatsapp", "audio/ogg; codecs=opus", 100, ""},
		{"whatsapp", "audio/mpeg", 15 * MB, ""},
		{"whatsapp", "audio/amr", 100, ""},
		{"whatsapp", "audio/aac", 100, ""},
		{"whatsapp", "audio/mp4", 100, ""},
		{"whatsapp", "audio/vnd.wave", 100, "WAV audio"},
		{"whatsapp", "application/pdf", 12 * MB, ""},
		{"whatsapp", "application/pdf", 17 * MB, "WhatsApp accepts documents up to 16 MB; this one is 17 MB."},
		{"whatsapp", typeDOCX, 100, ""},
		{"whatsapp", typeXLSX, 100, ""},
		{"whatsapp", typePPTX, 100, ""},
		{"whatsapp", typeDOC, 100, ""},
		{"whatsapp", typeXLS, 100, "old Excel"},
		{"whatsapp", "text/vcard", 100, ""},
		{"whatsapp", "text/plain", 100, "plain text files"},
		{"whatsapp", "text/html", 100, "web pages"},
		{"whatsapp", "application/zip", 100, "ZIP archives"},
		{"whatsapp", "image/jpeg", 0, "This file is empty."},
		{"sms", "image/jpeg", 5 * MB, ""},
		{"sms", "image/gif", 100, ""},
		{"sms", "image/png", 6_100_000, "Picture messages (MMS) carry up to 5 MB; this one is 6.1 MB."},
		{"sms", "video/mp4", 5*MB + 1, "up to 5 MB"},
		{"sms", "video/quicktime", 100, ""},
		{"sms", "audio/vnd.wave", 100, ""},
		{"sms", "application/pdf", 100, ""},
		{"sms", typeXLS, 100, ""},
		{"sms", "text/csv", 100, ""},
		{"sms", "text/calendar", 100, ""},
		{"sms", "text/vcard", 100, ""},
		{"sms", "image/webp", 100, "Picture messages (MMS) do not accept WebP pictures"},
		{"sms", "text/html", 100, "web pages"},
		{"sms", "application/octet-stream", 100, "unrecognised"},
		{"fax", "image/jpeg", 100, "Choose WhatsApp or SMS"},
	} {
		err := CheckOutbound(tc.channel, tc.ct, tc.size)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s %s %d: refused: %v", tc.channel, tc.ct, tc.size, err)
			}
			continue
		}
		var re *RefusedError
		if !errors.As(err, &re) || !strings.Contains(re.Reason, tc.want) {
			t.Errorf("%s %s %d: got %v, want a refusal containing %q", tc.channel, tc.ct, tc.size, err, tc.want)
		}
	}
}

func TestCheckOutboundTotal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		channel string
		files   int
		total   int64
		want    string
	}{
		{"whatsapp", 1, 16_000_000, ""},
		{"whatsapp", 2, 100, "one attachment per message"},
		{"sms", 10, 5_000_000, ""},
		{"sms", 11, 100, "at most 10"},
		{"sms", 3, 5_500_000, "up to 5 MB in all; these files come to 5.5 MB"},
	} {
		err := CheckOutboundTotal(tc.channel, tc.files, tc.total)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s %d files %d bytes: %v, want %q", tc.channel, tc.files, tc.total, err, tc.want)
		}
	}
}

func TestFormatSize(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0 bytes", 999: "999 bytes", 1000: "1 KB", 45_400: "45 KB",
		999_400: "999 KB", 1_000_000: "1 MB", 7_200_000: "7.2 MB", 16_000_001: "16 MB", 16_777_216: "16.8 MB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestFilenames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, ct, clean, twilio string }{
		{"C:\\Users\\ana\\Trip form.pdf", "application/pdf", "Trip form.pdf", "Trip-form.pdf"},
		{"../../etc/passwd", "text/plain", "passwd.txt", "passwd.txt"},
		{"", "image/jpeg", "photo.jpg", "photo.jpg"},
		{"scan", "application/pdf", "scan.pdf", "scan.pdf"},
		{"évaluation trimestrielle de 7B.docx", typeDOCX, "évaluation trimestrielle de 7B.docx", "valuation-trime.docx"},
		{"a\x00b\r\n\"c\u202e.png", "image/png", "abc.png", "abc.png"},
		{"   .  ", "audio/ogg", "audio.ogg", "audio.ogg"},
		{"日本語.pdf", "application/pdf", "日本語.pdf", "document.pdf"},
	} {
		if got := CleanFilename(tc.in, tc.ct); got != tc.clean {
			t.Errorf("CleanFilename(%q) = %q, want %q", tc.in, got, tc.clean)
		}
		if got := TwilioFilename(tc.in, tc.ct); got != tc.twilio || len(got) > 20 {
			t.Errorf("TwilioFilename(%q) = %q, want %q (≤ 20)", tc.in, got, tc.twilio)
		}
	}
	long := strings.Repeat("x", 300) + ".pdf"
	if got := CleanFilename(long, "application/pdf"); len([]rune(got)) != 120 || !strings.HasSuffix(got, ".pdf") {
		t.Errorf("long name cut to %d runes: %q", len([]rune(got)), got)
	}
}

func TestInlineSafe(t *testing.T) {
	t.Parallel()
	for ct, want := range map[string]bool{"image/png": true, "image/svg+xml": false, "audio/ogg": true, "video/mp4": true,
		"application/pdf": true, "text/html": false, "text/plain": false, "application/octet-stream": false, typeDOCX: false} {
		if InlineSafe(ct) != want {
			t.Errorf("InlineSafe(%s) = %v", ct, !want)
		}
	}
}

func TestAcceptAttribute(t *testing.T) {
	t.Parallel()
	a := AcceptAttribute()
	for _, want := range []string{"image/jpeg", "image/gif", "application/pdf", ".docx", "video/mp4", "text/vcard"} {
		if !strings.Contains(a, want) {
			t.Errorf("accept list lacks %s: %s", want, a)
		}
	}
	if strings.Contains(a, "text/html") || strings.Contains(a, "image/svg") {
		t.Errorf("accept list offers unsafe types: %s", a)
	}
}

func TestPublicAddr(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"54.172.60.0": true, "2600:1f18::1": true, // Twilio-ish public addresses
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.0.0.0": false, "255.255.255.255": false, "224.0.0.1": false, "198.18.0.1": false,
		"::1": false, "::": false, "fe80::1": false, "fc00::1": false, "fd12::1": false, "::ffff:127.0.0.1": false,
		"::ffff:10.0.0.1": false, "64:ff9b::a00:1": false, "2001:db8::1": false, "2002:a00:1::": false,
	} {
		if got := publicAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("publicAddr(%s) = %v, want %v", s, got, want)
		}
	}
	if err := controlPublicOnly("tcp4", "127.0.0.1:443", nil); !errors.Is(err, errPrivateAddress) {
		t.Errorf("control let loopback through: %v", err)
	}
	if err := controlPublicOnly("tcp6", "[fd00::1]:443", nil); !errors.Is(err, errPrivateAddress) {
		t.Errorf("control let a ULA through: %v", err)
	}
	if err := controlPublicOnly("tcp4", "54.172.60.0:443", nil); err != nil {
		t.Errorf("control refused a public address: %v", err)
	}
}

// Which URLs may be fetched, and which carry the account's credentials.
func TestHopPolicy(t *testing.T) {
	t.Parallel()
	s := &Service{SimulatorBase: "http://127.0.0.1:8099"}
	for _, tc := range []struct {
		raw           string
		first         bool
		allowed, auth bool
	}{
		{"https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", true, true, true},
		{"https://API.twilio.com./2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", true, true, true},
		{"https://api.twilio.com:443/x", true, true, true},
		{"https://api.twilio.com:8443/x", true, false, false},
		{"http://api.twilio.com/x", true, false, false},
		{"https://user:pw@api.twilio.com/x", true, false, false},
		{"https://evil.example/x", true, false, false},
		{"https://api.twilio.com.evil.example/x", true, false, false},
		{"https://mms.twiliocdn.com/AC1/abc", true, false, false}, // a CDN URL only by redirect
		{"https://mms.twiliocdn.com/AC1/abc", false, true, false},
		{"https://media.twiliocdn.com/AC1/abc", false, true, false},
		{"http://media.twiliocdn.com/AC1/abc", false, false, false},
		{"https://s3-external-1.amazonaws.com/media.twiliocdn.com/AC1/abc", false, true, false},
		{"https://s3-external-1.amazonaws.com/other-bucket/abc", false, false, false},
		{"https://evil.twiliocdn.com/x", false, false, false},
		{"https://api.twilio.com/elsewhere", false, true, true},
		{"http://127.0.0.1:8099/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", true, true, true},
		{"http://localhost:8099/x", true, false, false},
		{"http://127.0.0.1:8098/x", true, false, false},
		{"https://127.0.0.1:8099/x", true, false, false},
		{"http://169.254.169.254/latest/meta-data/", true, false, false},
		{"file:///etc/passwd", true, false, false},
	} {
		u, err := url.Parse(tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		h := s.hopPolicy(u, tc.first)
		if h.allowed != tc.allowed || h.withAuth != tc.auth {
			t.Errorf("%s (first %v): allowed %v auth %v (%s), want %v %v", tc.raw, tc.first, h.allowed, h.withAuth, h.reason, tc.allowed, tc.auth)
		}
	}
	if h := (&Service{}).hopPolicy(&url.URL{Scheme: "http", Host: "127.0.0.1:8099"}, true); h.allowed {
		t.Error("loopback allowed without a simulator configured")
	}
}
