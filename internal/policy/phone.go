package policy

import (
	"errors"
	"strings"
	"sync"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalidPhone is wrapped by every error NormalizePhone returns, so callers
// can test with errors.Is while showing err.Error() to the user as is.
var ErrInvalidPhone = errors.New("invalid phone number")

// PhoneError is the error NormalizePhone returns. Its message is written for
// the person typing the number (a school secretary), not for a developer, and
// it unwraps to ErrInvalidPhone.
type PhoneError struct {
	Input string // what was typed, trimmed
	msg   string
}

func (e *PhoneError) Error() string { return e.msg }

// Unwrap makes errors.Is(err, ErrInvalidPhone) true.
func (e *PhoneError) Unwrap() error { return ErrInvalidPhone }

const whatsappPrefix = ChannelWhatsApp + ":"

// fallbackExample is shown when the default region has no example number.
const fallbackExample = "+44 7700 900123"

// NormalizePhone turns a number typed in any common format into E.164
// ("+15551234567"), which is how Classline stores and compares numbers.
//
// defaultRegion ("US", "GB", ...) is the country assumed for numbers typed
// without a country code; with an empty or unknown region such numbers are
// rejected and the user is asked for the country code.
//
// Accepted extras: a "whatsapp:" or "tel:" prefix (pasted from Twilio or a
// link), and a leading "00" international prefix even where the region dials
// abroad differently (a US secretary pasting a European "00 44 ..." number).
//
// The check is deliberately "possible", not "valid": a number is accepted if
// it has a plausible length for its country, even if libphonenumber's
// metadata does not list its range. This keeps fictional numbers the demo and
// tests use ((555) 123-4567, 555-01xx, Ofcom's 07700 900xxx drama range)
// working, and does not lock out a parent whose operator opened a new range
// before the metadata caught up. It still rejects junk, letters, wrong
// lengths, unknown country codes, extensions and numbers missing their area
// code.
func NormalizePhone(input, defaultRegion string) (string, error) {
	s := strings.TrimSpace(input)
	s = trimPrefixFold(s, whatsappPrefix)
	s = trimPrefixFold(s, "tel:")
	s = strings.TrimSpace(s)
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))
	example := exampleFor(region)
	fail := func(msg string) (string, error) {
		return "", &PhoneError{Input: s, msg: msg}
	}
	if s == "" {
		return fail("Enter a phone number with its country code, e.g. " + example + ".")
	}

	num, reason, err := parsePhone(s, region)
	if err == nil && num.GetExtension() != "" {
		return fail("Remove the extension: text messages can only go to a number without one, e.g. " + example + ".")
	}
	if hasLetter(s) {
		// Vanity numbers (1-800-FLOWERS) parse, but in a parent's record a
		// letter is almost always a typo (O for 0) or a name in the wrong box.
		return fail("A phone number can only contain digits, spaces and + ( ) - . — check for letters (such as O instead of 0), e.g. " + example + ".")
	}
	if err != nil {
		switch {
		case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
			return fail("Enter the phone number with its country code, starting with +, e.g. " + example + ".")
		case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
			return fail("That phone number is too short. Check for a missing digit and include the country code, e.g. " + example + ".")
		case errors.Is(err, phonenumbers.ErrNumTooLong):
			return fail("That phone number is too long. Check for an extra digit, e.g. " + example + ".")
		default:
			return fail("That doesn't look like a phone number. Enter it with its country code, e.g. " + example + ".")
		}
	}
	switch reason {
	case phonenumbers.IS_POSSIBLE:
		out := phonenumbers.Format(num, phonenumbers.E164)
		if !stableE164(out) {
			// Found by fuzzing: a national number of only zeros ("0000000"
			// in AU) formats to "+61000000", which parses back to a
			// different number. No real number does that; storing it would
			// make the same typed number compare unequal to itself later.
			return fail("That doesn't look like a phone number. Enter it with its country code, e.g. " + example + ".")
		}
		return out, nil
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return fail("That phone number is too short: include the area code and country code, e.g. " + example + ".")
	case phonenumbers.TOO_SHORT:
		return fail("That phone number is too short. Check for a missing digit and include the country code, e.g. " + example + ".")
	case phonenumbers.TOO_LONG:
		return fail("That phone number is too long. Check for an extra digit, e.g. " + example + ".")
	case phonenumbers.INVALID_COUNTRY_CODE:
		return fail("Enter the phone number with its country code, starting with +, e.g. " + example + ".")
	default: // INVALID_LENGTH
		return fail("That phone number has the wrong number of digits for its country. Check it and include the country code, e.g. " + example + ".")
	}
}

// parsePhone parses s with region and, if that does not give a possible
// number, retries a leading "00" as "+". Regions whose own international
// prefix is 00 (GB, DE...) already succeed on the first try; regions that
// dial abroad with another prefix (US 011, AU 0011) keep their own prefix
// working because the first try is made with it.
func parsePhone(s, region string) (*phonenumbers.PhoneNumber, phonenumbers.ValidationResult, error) {
	num, err := phonenumbers.Parse(s, region)
	var reason phonenumbers.ValidationResult
	if err == nil {
		reason = phonenumbers.IsPossibleNumberWithReason(num)
		if reason == phonenumbers.IS_POSSIBLE {
			return num, reason, nil
		}
	}
	if !strings.HasPrefix(s, "+") {
		if rest, ok := strings.CutPrefix(stripFormatting(s), "00"); ok && rest != "" {
			if n2, err2 := phonenumbers.Parse("+"+rest, region); err2 == nil {
				if r2 := phonenumbers.IsPossibleNumberWithReason(n2); r2 == phonenumbers.IS_POSSIBLE {
					return n2, r2, nil
				}
			}
		}
	}
	return num, reason, err
}

// stableE164 reports whether e164 is a fixed point: parsed again it is a
// possible number that formats to itself, so whatever is stored normalises
// to the same value when typed, pasted or imported again.
func stableE164(e164 string) bool {
	n, err := phonenumbers.Parse(e164, "")
	return err == nil && n.GetExtension() == "" &&
		phonenumbers.IsPossibleNumberWithReason(n) == phonenumbers.IS_POSSIBLE &&
		phonenumbers.Format(n, phonenumbers.E164) == e164
}

// stripFormatting drops the separators people type between digits.
func stripFormatting(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '(', ')', '/', '\u00a0':
			return -1
		}
		return r
	}, s)
}

func hasLetter(s string) bool {
	return strings.IndexFunc(s, unicode.IsLetter) >= 0
}

func trimPrefixFold(s, prefix string) string {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):]
	}
	return s
}

// exampleFor returns a mobile number for the region in international format,
// so error messages show the secretary a number that looks like theirs.
// Examples are cached per region: building one costs more than parsing the
// number itself, and imports check tens of thousands of numbers.
func exampleFor(region string) string {
	if region == "" {
		return fallbackExample
	}
	if ex, ok := examples.Load(region); ok {
		return ex.(string)
	}
	ex := fallbackExample
	if n := phonenumbers.GetExampleNumberForType(region, phonenumbers.MOBILE); n != nil {
		ex = phonenumbers.Format(n, phonenumbers.INTERNATIONAL)
	}
	examples.Store(region, ex)
	return ex
}

var examples sync.Map // region → example number

// Address builds the Twilio "To"/"From" value for a channel: WhatsApp
// addresses are "whatsapp:+E164", SMS addresses are the bare E.164 number.
// An e164 that already carries the "whatsapp:" prefix is not prefixed twice,
// so Address is safe to call on a stored address. Any channel other than
// WhatsApp gets the bare number.
func Address(channel, e164 string) string {
	n := trimPrefixFold(strings.TrimSpace(e164), whatsappPrefix)
	if channel == ChannelWhatsApp {
		return whatsappPrefix + n
	}
	return n
}

// ParseAddress is the inverse of Address, for the From/To fields of Twilio
// webhooks: a "whatsapp:" prefix (any case) means the WhatsApp channel and is
// removed; anything else is taken as SMS and returned unchanged apart from
// surrounding whitespace. It does not validate the number.
func ParseAddress(addr string) (channel, e164 string) {
	a := strings.TrimSpace(addr)
	if n := trimPrefixFold(a, whatsappPrefix); len(n) != len(a) {
		return ChannelWhatsApp, strings.TrimSpace(n)
	}
	return ChannelSMS, a
}

// FormatPhone renders a stored E.164 number for people, in international
// format with the country's usual grouping ("+44 7700 900123",
// "+1 555-123-4567"). A "whatsapp:" address is formatted as its number.
// Anything that is not a parseable international number is returned
// unchanged, so a display never loses what was stored.
func FormatPhone(e164 string) string {
	s := trimPrefixFold(strings.TrimSpace(e164), whatsappPrefix)
	if !strings.HasPrefix(s, "+") {
		return e164
	}
	num, err := phonenumbers.Parse(s, "")
	if err != nil || num.GetExtension() != "" {
		return e164
	}
	return phonenumbers.Format(num, phonenumbers.INTERNATIONAL)
}
