package media

import (
	"bytes"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Channels, as stored on senders and messages.
const (
	ChannelWhatsApp = "whatsapp"
	ChannelSMS      = "sms"
)

// Sizes are decimal (1 MB = 1,000,000 bytes), the stricter reading of
// Twilio's "5 MB": a file we accept is one Twilio accepts.
const (
	kB = 1000
	mB = 1000 * kB

	// WhatsAppMaxBytes is Twilio's limit for a WhatsApp media message.
	WhatsAppMaxBytes = 16 * mB
	// WhatsAppImageMaxBytes is WhatsApp's limit for a picture.
	WhatsAppImageMaxBytes = 5 * mB
	// MMSMaxBytes is Twilio's limit for all media of one MMS together.
	MMSMaxBytes = 5 * mB
	// InboundMaxBytes is the largest file Classline fetches from Twilio:
	// WhatsApp's 16 MB, read generously so nothing Twilio delivers is refused.
	InboundMaxBytes = 16 << 20
	// WhatsAppMaxFiles: "unlike MMS, a WhatsApp media message can only contain
	// one media attachment"; Twilio ignores the others.
	WhatsAppMaxFiles = 1
	// MMSMaxFiles is Twilio's limit of media per message.
	MMSMaxFiles = 10
)

// kind groups media types the way staff think of them.
type kind int

const (
	kindImage kind = iota + 1
	kindAudio
	kindVideo
	kindDocument
	kindContact
	kindOther
)

func (k kind) plural() string {
	switch k {
	case kindImage:
		return "images"
	case kindAudio:
		return "audio files"
	case kindVideo:
		return "videos"
	case kindDocument:
		return "documents"
	case kindContact:
		return "contact cards"
	default:
		return "files"
	}
}

// Office formats, by their registered names.
const (
	typeDOC  = "application/msword"
	typeDOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	typeXLS  = "application/vnd.ms-excel"
	typeXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	typePPT  = "application/vnd.ms-powerpoint"
	typePPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
)

// whatsAppTypes is what Twilio's API for WhatsApp sends ("Guidance on
// WhatsApp Media Messages"): images JPG/JPEG/PNG (WebP only as stickers,
// which staff do not send), audio OGG (Opus), AMR, 3GP, AAC, MPEG (and MP4
// audio, which WhatsApp lists), video MP4 (H.264 + AAC) and 3GP, documents
// PDF, DOC, DOCX, PPTX, XLSX, and contacts as vCard.
var whatsAppTypes = map[string]kind{
	"image/jpeg": kindImage,
	"image/png":  kindImage,
	"audio/ogg":  kindAudio,
	"audio/amr":  kindAudio,
	"audio/3gpp": kindAudio,
	"audio/aac":  kindAudio,
	"audio/mpeg": kindAudio,
	"audio/mp4":  kindAudio,
	"video/mp4":  kindVideo,
	"video/3gpp": kindVideo,

	"application/pdf": kindDocument,
	typeDOC:           kindDocument,
	typeDOCX:          kindDocument,
	typePPTX:          kindDocument,
	typeXLSX:          kindDocument,

	"text/vcard":   kindContact,
	"text/x-vcard": kindContact,
}

// mmsTypes is Twilio's "Accepted content types for media" for MMS: JPEG,
// GIF and PNG are resized for the handset; the rest are passed on as they are.
var mmsTypes = map[string]kind{
	"image/jpeg": kindImage,
	"image/gif":  kindImage,
	"image/png":  kindImage,
	"image/bmp":  kindImage,
	"image/tiff": kindImage,
	"image/heic": kindImage,
	"image/heif": kindImage,

	"audio/basic":    kindAudio,
	"audio/mp4":      kindAudio,
	"audio/mpeg":     kindAudio,
	"audio/ogg":      kindAudio,
	"audio/vnd.wave": kindAudio,
	"audio/3gpp":     kindAudio,
	"audio/3gpp2":    kindAudio,
	"audio/ac3":      kindAudio,
	"audio/webm":     kindAudio,
	"audio/amr-nb":   kindAudio,
	"audio/amr":      kindAudio,
	"audio/aac":      kindAudio,

	"video/mpeg":      kindVideo,
	"video/mp4":       kindVideo,
	"video/quicktime": kindVideo,
	"video/webm":      kindVideo,
	"video/3gpp":      kindVideo,
	"video/3gpp2":     kindVideo,

	"application/pdf": kindDocument,
	typeDOC:           kindDocument,
	typeDOCX:          kindDocument,
	typeXLS:           kindDocument,
	typeXLSX:          kindDocument,
	typePPT:           kindDocument,
	typePPTX:          kindDocument,
	"text/csv":        kindDocument,
	"text/rtf":        kindDocument,
	"text/calendar":   kindDocument,

	"text/vcard":        kindContact,
	"text/x-vcard":      kindContact,
	"application/vcard": kindContact,
	"text/directory":    kindContact,
}

// RefusedError is an attachment Twilio would not take; Reason says why in
// words for staff (show it next to the file field).
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return e.Reason }

func refused(format string, args ...any) error {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

// channelLabel names a channel in messages to staff.
func channelLabel(channel string) string {
	if channel == ChannelWhatsApp {
		return "WhatsApp"
	}
	return "Picture messages (MMS)"
}

// CheckOutbound says whether Twilio takes one file of this type and size on
// the channel ("whatsapp" or "sms"), with a reason staff understand when not.
// contentType should be the detected type (DetectType), not the browser's.
func CheckOutbound(channel, contentType string, size int64) error {
	ct := NormalizeType(contentType)
	var table map[string]kind
	switch channel {
	case ChannelWhatsApp:
		table = whatsAppTypes
	case ChannelSMS:
		table = mmsTypes
	default:
		return refused("Choose WhatsApp or SMS before attaching a file.")
	}
	k, ok := table[ct]
	if !ok {
		if channel == ChannelWhatsApp {
			return refused("WhatsApp does not accept %s. It takes JPEG or PNG pictures, MP4 videos, audio (MP3, AAC, AMR, OGG voice notes), PDF, Word, Excel and PowerPoint documents, and contact cards.", describeType(ct))
		}
		return refused("Picture messages (MMS) do not accept %s. They take JPEG, PNG or GIF pictures, common audio and video, PDF and Office documents, and contact cards.", describeType(ct))
	}
	if size <= 0 {
		return refused("This file is empty.")
	}
	if max := maxBytes(channel, k); size > max {
		return refused("%s", tooLarge(channel, k, FormatSize(size)))
	}
	return nil
}

// CheckOutboundTotal checks the files of one message together: how many, and
// their total size.
func CheckOutboundTotal(channel string, files int, total int64) error {
	switch channel {
	case ChannelWhatsApp:
		if files > WhatsAppMaxFiles {
			return refused("WhatsApp carries one attachment per message. Send the other files in separate messages.")
		}
		if total > WhatsAppMaxBytes {
			return refused("WhatsApp accepts up to %s per message; these files come to %s.", FormatSize(WhatsAppMaxBytes), FormatSize(total))
		}
	case ChannelSMS:
		if files > MMSMaxFiles {
			return refused("A picture message (MMS) carries at most %d attachments.", MMSMaxFiles)
		}
		if total > MMSMaxBytes {
			return refused("Picture messages (MMS) carry up to %s in all; these files come to %s.", FormatSize(MMSMaxBytes), FormatSize(total))
		}
	default:
		return refused("Choose WhatsApp or SMS before attaching a file.")
	}
	return nil
}

// MaxUpload is the most bytes worth reading of an upload for the channel
// (0: unknown channel).
func MaxUpload(channel string) int64 {
	switch channel {
	case ChannelWhatsApp:
		return WhatsAppMaxBytes
	case ChannelSMS:
		return MMSMaxBytes
	}
	return 0
}

func maxBytes(channel string, k kind) int64 {
	if channel == ChannelWhatsApp {
		if k == kindImage {
			return WhatsAppImageMaxBytes
		}
		return WhatsAppMaxBytes
	}
	return MMSMaxBytes
}

// tooLarge words a size refusal: "WhatsApp accepts images up to 5 MB; this one is 7.2 MB."
func tooLarge(channel string, k kind, size string) string {
	if channel == ChannelWhatsApp {
		return fmt.Sprintf("WhatsApp accepts %s up to %s; this one is %s.", k.plural(), FormatSize(maxBytes(channel, k)), size)
	}
	return fmt.Sprintf("Picture messages (MMS) carry up to %s; this one is %s.", FormatSize(MMSMaxBytes), size)
}

// FormatSize writes a byte count for people: "812 bytes", "45 KB", "7.2 MB".
func FormatSize(n int64) string {
	switch {
	case n < kB:
		return fmt.Sprintf("%d bytes", n)
	case n < mB:
		return fmt.Sprintf("%d KB", (n+kB/2)/kB)
	default:
		s := fmt.Sprintf("%.1f", float64(n)/mB)
		return strings.TrimSuffix(s, ".0") + " MB"
	}
}

var typeNames = map[string]string{
	"image/gif":                "GIF pictures",
	"image/webp":               "WebP pictures",
	"image/heic":               "HEIC pictures",
	"image/heif":               "HEIF pictures",
	"image/bmp":                "BMP pictures",
	"image/tiff":               "TIFF pictures",
	"image/svg+xml":            "SVG drawings",
	"image/avif":               "AVIF pictures",
	"video/quicktime":          "QuickTime (.mov) videos",
	"video/webm":               "WebM videos",
	"video/avi":                "AVI videos",
	"audio/vnd.wave":           "WAV audio",
	"audio/webm":               "WebM audio",
	"audio/aiff":               "AIFF audio",
	"text/plain":               "plain text files",
	"text/csv":                 "CSV files",
	"text/html":                "web pages",
	"text/xml":                 "XML files",
	"text/calendar":            "calendar files",
	"text/rtf":                 "RTF documents",
	"application/zip":          "ZIP archives",
	"application/x-gzip":       "compressed archives",
	"application/octet-stream": "files of an unrecognised type",
	typeXLS:                    "old Excel (.xls) spreadsheets",
	typePPT:                    "old PowerPoint (.ppt) presentations",
}

func describeType(ct string) string {
	if n, ok := typeNames[ct]; ok {
		return n
	}
	if ct == "" {
		return "files of an unrecognised type"
	}
	return "files of type " + ct
}

// NormalizeType lowercases a media type, drops its parameters and maps
// common aliases to the names Twilio lists ("image/jpg" → "image/jpeg").
func NormalizeType(ct string) string {
	ct = strings.ToLower(strings.TrimSpace(ct))
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	switch ct {
	case "image/jpg", "image/pjpeg":
		return "image/jpeg"
	case "audio/mp3", "audio/x-mp3", "audio/mpeg3":
		return "audio/mpeg"
	case "audio/wav", "audio/wave", "audio/x-wav":
		return "audio/vnd.wave"
	case "audio/x-m4a", "audio/m4a":
		return "audio/mp4"
	case "audio/opus":
		return "audio/ogg"
	case "audio/x-aac":
		return "audio/aac"
	case "video/3gp":
		return "video/3gpp"
	case "audio/3gp":
		return "audio/3gpp"
	case "application/x-pdf":
		return "application/pdf"
	}
	return ct
}

// extensionTypes resolves containers shared by several formats when the
// bytes alone do not say which (Office files are ZIP or OLE2 archives).
var extensionTypes = map[string]string{
	".doc": typeDOC, ".docx": typeDOCX, ".xls": typeXLS, ".xlsx": typeXLSX, ".ppt": typePPT, ".pptx": typePPTX,
	".csv": "text/csv", ".ics": "text/calendar", ".vcf": "text/vcard", ".m4a": "audio/mp4", ".3ga": "audio/3gpp",
	".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg",
}

// DetectType returns the media type of data as Classline declares it to
// Twilio: sniffed from the bytes (http.DetectContentType plus the formats it
// does not know: AMR, AAC, 3GP, M4A, HEIC, TIFF, MP3 without ID3), so a
// browser's or sender's claim cannot make one kind of file pass for another.
// The declared type and the filename only tell apart formats sharing a
// container: Office documents (ZIP or OLE2), MP4 audio or video, CSV text.
func DetectType(data []byte, declared, filename string) string {
	decl := NormalizeType(declared)
	ext := strings.ToLower(path.Ext(strings.ReplaceAll(filename, `\`, "/")))
	hint := func(candidates ...string) string {
		for _, c := range candidates {
			if decl == c || extensionTypes[ext] == c {
				return c
			}
		}
		return ""
	}
	switch {
	case len(data) == 0:
		return "application/octet-stream"
	case bytes.HasPrefix(data, []byte("#!AMR")):
		return "audio/amr"
	case len(data) >= 12 && string(data[4:8]) == "ftyp":
		return isoMediaType(string(data[8:12]), decl, ext)
	case bytes.HasPrefix(data, []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")): // OLE2: old Office
		if t := hint(typeDOC, typeXLS, typePPT); t != "" {
			return t
		}
		return "application/x-ole-storage"
	case bytes.HasPrefix(data, []byte("II*\x00")), bytes.HasPrefix(data, []byte("MM\x00*")):
		return "image/tiff"
	case len(data) >= 2 && data[0] == 0xFF && data[1]&0xF6 == 0xF0: // ADTS: sync word, layer 0
		return "audio/aac"
	case len(data) >= 2 && data[0] == 0xFF && data[1]&0xE0 == 0xE0 && data[1]&0x06 != 0:
		return "audio/mpeg" // an MPEG audio frame without an ID3 tag
	}
	sniffed := NormalizeType(http.DetectContentType(data[:min(len(data), 512)]))
	switch sniffed {
	case "application/zip":
		if t := hint(typeDOCX, typeXLSX, typePPTX); t != "" {
			return t
		}
	case "application/ogg":
		return "audio/ogg"
	case "video/webm":
		if strings.HasPrefix(decl, "audio/") {
			return "audio/webm"
		}
	case "text/plain":
		text := bytes.TrimLeft(data[:min(len(data), 512)], "\xEF\xBB\xBF \t\r\n")
		switch {
		case hasPrefixFold(text, "BEGIN:VCARD"):
			return "text/vcard"
		case hasPrefixFold(text, "BEGIN:VCALENDAR"):
			return "text/calendar"
		case bytes.HasPrefix(text, []byte(`{\rtf`)):
			return "text/rtf"
		}
		if t := hint("text/csv"); t != "" {
			return t
		}
	}
	return sniffed
}

// isoMediaType names an ISO base media file (MP4 family) by its major brand.
func isoMediaType(brand, decl, ext string) string {
	switch {
	case strings.HasPrefix(brand, "3gp"), strings.HasPrefix(brand, "3ge"), strings.HasPrefix(brand, "3gg"):
		if strings.HasPrefix(decl, "audio/") || ext == ".3ga" {
			return "audio/3gpp"
		}
		return "video/3gpp"
	case strings.HasPrefix(brand, "3g2"):
		if strings.HasPrefix(decl, "audio/") {
			return "audio/3gpp2"
		}
		return "video/3gpp2"
	case brand == "M4A ", brand == "M4B ":
		return "audio/mp4"
	case brand == "heic", brand == "heix", brand == "heim", brand == "heis", brand == "hevc":
		return "image/heic"
	case brand == "mif1", brand == "msf1":
		return "image/heif"
	case brand == "avif", brand == "avis":
		return "image/avif"
	case brand == "qt  ":
		return "video/quicktime"
	}
	if decl == "audio/mp4" || ext == ".m4a" {
		return "audio/mp4"
	}
	return "video/mp4"
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && strings.EqualFold(string(b[:len(prefix)]), prefix)
}

// isOpus reports whether an OGG file carries Opus audio (WhatsApp plays no
// other OGG codec): the first page's packet starts "OpusHead".
func isOpus(data []byte) bool {
	return bytes.Contains(data[:min(len(data), 128)], []byte("OpusHead"))
}

// InlineSafe reports whether a browser may show a file of this type in the
// page (pictures other than SVG, audio, video, PDF). Everything else is
// served as a download.
func InlineSafe(contentType string) bool {
	ct := NormalizeType(contentType)
	switch {
	case ct == "image/svg+xml":
		return false
	case strings.HasPrefix(ct, "image/"), strings.HasPrefix(ct, "audio/"), strings.HasPrefix(ct, "video/"):
		return true
	}
	return ct == "application/pdf"
}

// fileStem is a default file name for a type: "photo", "audio"...
func fileStem(ct string) string {
	switch kindOf(ct) {
	case kindImage:
		return "photo"
	case kindAudio:
		return "audio"
	case kindVideo:
		return "video"
	case kindContact:
		return "contact"
	case kindDocument:
		return "document"
	}
	return "attachment"
}

func kindOf(ct string) kind {
	ct = NormalizeType(ct)
	if k, ok := mmsTypes[ct]; ok {
		return k
	}
	if k, ok := whatsAppTypes[ct]; ok {
		return k
	}
	switch {
	case strings.HasPrefix(ct, "image/"):
		return kindImage
	case strings.HasPrefix(ct, "audio/"):
		return kindAudio
	case strings.HasPrefix(ct, "video/"):
		return kindVideo
	}
	return kindOther
}

var preferredExt = map[string]string{
	"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp", "image/heic": ".heic",
	"audio/mpeg": ".mp3", "audio/ogg": ".ogg", "audio/amr": ".amr", "audio/aac": ".aac", "audio/mp4": ".m4a",
	"audio/3gpp": ".3gp", "audio/vnd.wave": ".wav", "video/mp4": ".mp4", "video/3gpp": ".3gp",
	"video/quicktime": ".mov", "application/pdf": ".pdf", "text/vcard": ".vcf", "text/x-vcard": ".vcf",
	"text/csv": ".csv", "text/calendar": ".ics", typeDOC: ".doc", typeDOCX: ".docx", typeXLS: ".xls",
	typeXLSX: ".xlsx", typePPT: ".ppt", typePPTX: ".pptx", "text/plain": ".txt", "text/rtf": ".rtf",
	"image/bmp": ".bmp", "image/tiff": ".tif", "image/heif": ".heif", "video/webm": ".webm", "audio/webm": ".weba",
}

// extFor is the usual file extension of a type, or "" (mime's tables vary
// by system and pick odd ones, such as ".asc" for text/plain).
func extFor(ct string) string {
	return preferredExt[NormalizeType(ct)]
}

// CleanFilename makes a name safe to store and show: the last path element,
// without control characters, at most 120 characters, with an extension
// matching the type when it had none. Empty names become "photo.jpg" and
// the like.
func CleanFilename(name, contentType string) string {
	name = strings.ReplaceAll(name, `\`, "/")
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' || r == utf8.RuneError || unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, name)
	name = strings.Trim(name, " .")
	if r := []rune(name); len(r) > 120 {
		ext := []rune(path.Ext(name))
		if len(ext) > 10 {
			ext = nil
		}
		name = string(r[:120-len(ext)]) + string(ext)
	}
	if name == "" {
		name = fileStem(contentType)
	}
	if path.Ext(name) == "" {
		name += extFor(contentType)
	}
	return name
}

// TwilioFilename is the name to offer Twilio in Content-Disposition: Twilio
// shows it to the recipient and asks for no spaces, no special characters
// and at most 20 characters.
func TwilioFilename(name, contentType string) string {
	name = CleanFilename(name, contentType)
	ext := strings.ToLower(path.Ext(name))
	stem := strings.TrimSuffix(name, path.Ext(name))
	if len(ext) > 6 || strings.ContainsFunc(ext[min(1, len(ext)):], func(r rune) bool { return !isPlain(r) }) {
		ext = extFor(contentType)
	}
	var b strings.Builder
	for _, r := range stem {
		switch {
		case isPlain(r):
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '_':
			if s := b.String(); s != "" && !strings.HasSuffix(s, "-") {
				b.WriteByte('-')
			}
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" {
		s = fileStem(contentType)
	}
	if max := 20 - len(ext); len(s) > max {
		s = strings.TrimRight(s[:max], "-")
	}
	return s + ext
}

func isPlain(r rune) bool {
	return r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// AcceptAttribute is the accept= list of a file field: every type WhatsApp
// or MMS takes, with extensions for browsers that filter by those.
func AcceptAttribute() string { return accept(whatsAppTypes, mmsTypes) }

// AcceptAttributeFor is the accept= list of a file field whose file goes on
// one channel only (a broadcast's attachment travels by MMS).
func AcceptAttributeFor(channel string) string {
	if channel == ChannelWhatsApp {
		return accept(whatsAppTypes)
	}
	return accept(mmsTypes)
}

func accept(tables ...map[string]kind) string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, table := range tables {
		for ct := range table {
			add(ct)
			add(extFor(ct))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// LimitsHint describes the limits beside a file field.
func LimitsHint() string {
	return "WhatsApp: one file per message; pictures (JPEG, PNG) up to 5 MB, other files up to 16 MB. " +
		"SMS: picture messages (MMS) up to 5 MB in all."
}
