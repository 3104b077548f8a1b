package broadcastdraft

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
)

// Settings keys of the broadcast settings (the settings table, JSON values).
const (
	KeyApprovalThreshold = "broadcast_approval_threshold" // a number of recipients
	KeyPriceSMS          = "broadcast_price_sms_segment"  // decimal text, per SMS segment
	KeyPriceWhatsApp     = "broadcast_price_whatsapp"     // decimal text, per WhatsApp message
	KeyPriceMMS          = "broadcast_price_mms"          // decimal text, per picture message (MMS)
	KeyCurrency          = "broadcast_currency"           // ISO 4217 code
)

// ErrForbidden means the user may not do that (only admins change settings,
// approve or reject).
var ErrForbidden = errors.New("broadcastdraft: not allowed")

// Settings are the school's broadcast settings.
type Settings struct {
	// ApprovalThreshold: a broadcast reaching more recipients than this goes
	// to an admin for approval first; 0 means size never needs approval.
	ApprovalThreshold int
	// Prices are decimal text as typed ("0.0083"), so they print back as
	// entered; they only estimate the cost shown on the review.
	PriceSMS, PriceWhatsApp string
	// PriceMMS is per picture message: an SMS carrying the broadcast's
	// attachments is billed as one MMS, whatever the length of its text.
	PriceMMS string
	Currency string
}

// DefaultSettings are Twilio's list prices in the US at the time of writing
// (an SMS segment; a WhatsApp utility template with Twilio's fee; an MMS,
// rounded up): an estimate until an admin enters the school's own.
func DefaultSettings() Settings {
	return Settings{ApprovalThreshold: 500, PriceSMS: "0.0083", PriceWhatsApp: "0.0130", PriceMMS: "0.0200", Currency: "USD"}
}

// SMSPrice, WhatsAppPrice and MMSPrice are the prices as numbers (0 when unreadable).
func (s Settings) SMSPrice() float64      { return price(s.PriceSMS) }
func (s Settings) WhatsAppPrice() float64 { return price(s.PriceWhatsApp) }
func (s Settings) MMSPrice() float64      { return price(s.PriceMMS) }

func price(text string) float64 {
	v, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// LoadSettings reads the broadcast settings; keys never saved (or saved
// unreadable by hand) keep their defaults.
func LoadSettings(ctx context.Context, d *db.DB) (Settings, error) {
	s := DefaultSettings()
	var n int
	if found, err := d.GetSetting(ctx, KeyApprovalThreshold, &n); err != nil && !found {
		return s, err
	} else if found && err == nil && n >= 0 {
		s.ApprovalThreshold = n
	}
	for key, dst := range map[string]*string{KeyPriceSMS: &s.PriceSMS, KeyPriceWhatsApp: &s.PriceWhatsApp, KeyPriceMMS: &s.PriceMMS,
		KeyCurrency: &s.Currency} {
		var v string
		found, err := d.GetSetting(ctx, key, &v)
		if err != nil && !found {
			return s, err
		}
		if found && err == nil && strings.TrimSpace(v) != "" {
			*dst = v
		}
	}
	return s, nil
}

// SettingsInput is the settings fieldset as typed.
type SettingsInput struct {
	ApprovalThreshold, PriceSMS, PriceWhatsApp, PriceMMS, Currency string
}

// InputOf is stored settings as the form shows them.
func (s Settings) InputOf() SettingsInput {
	return SettingsInput{ApprovalThreshold: strconv.Itoa(s.ApprovalThreshold), PriceSMS: s.PriceSMS, PriceWhatsApp: s.PriceWhatsApp,
		PriceMMS: s.PriceMMS, Currency: s.Currency}
}

// Validate checks the fieldset; errors are keyed by form field.
func (in SettingsInput) Validate() (Settings, FieldErrors) {
	errs := FieldErrors{}
	var s Settings
	n, err := strconv.Atoi(strings.TrimSpace(in.ApprovalThreshold))
	if err != nil || n < 0 || n > 1_000_000 {
		errs["approval_threshold"] = "Enter a whole number of recipients (0 means size never needs approval)."
	}
	s.ApprovalThreshold = n
	checkPrice := func(field, text string) string {
		text = strings.TrimSpace(text)
		v, err := strconv.ParseFloat(text, 64)
		if err != nil || v < 0 || v > 100 || math.IsNaN(v) || strings.ContainsAny(text, "eE") {
			errs[field] = "Enter a price such as 0.0083 (a dot for decimals, no currency sign)."
			return text
		}
		if i := strings.IndexByte(text, '.'); i >= 0 && len(text)-i-1 > 6 {
			errs[field] = "Use at most 6 decimals."
		}
		return text
	}
	s.PriceSMS = checkPrice("price_sms", in.PriceSMS)
	s.PriceWhatsApp = checkPrice("price_whatsapp", in.PriceWhatsApp)
	// Left empty (or a form from before the field existed): the default,
	// rather than refusing the other settings over a price rarely used.
	if strings.TrimSpace(in.PriceMMS) == "" {
		s.PriceMMS = DefaultSettings().PriceMMS
	} else {
		s.PriceMMS = checkPrice("price_mms", in.PriceMMS)
	}
	s.Currency = strings.ToUpper(strings.TrimSpace(in.Currency))
	if len(s.Currency) != 3 || strings.Trim(s.Currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		errs["currency"] = "Enter the three-letter currency code of your Twilio account, e.g. USD, GBP, EUR."
	}
	return s, nilIfEmpty(errs)
}

// SaveSettings stores the settings and audits the change (before and after)
// in one transaction. Only admins may.
func SaveSettings(ctx context.Context, d *db.DB, u db.User, ip string, s Settings) error {
	if !u.IsAdmin() {
		return ErrForbidden
	}
	before, err := LoadSettings(ctx, d)
	if err != nil {
		return err
	}
	if before == s {
		return nil
	}
	uid := u.ID
	err = d.InTx(ctx, func(tx pgx.Tx) error {
		for key, v := range map[string]any{KeyApprovalThreshold: s.ApprovalThreshold, KeyPriceSMS: s.PriceSMS,
			KeyPriceWhatsApp: s.PriceWhatsApp, KeyPriceMMS: s.PriceMMS, KeyCurrency: s.Currency} {
			if err := db.SetSettingTx(ctx, tx, key, v); err != nil {
				return err
			}
		}
		return db.AuditTx(ctx, tx, &uid, "settings.update", "settings:broadcasts", before, s, ip)
	})
	if err != nil {
		return fmt.Errorf("save broadcast settings: %w", err)
	}
	return nil
}

// CostText is an estimate in the settings' currency ("USD 12.40"); small
// amounts keep enough decimals not to read as zero.
func (s Settings) CostText(amount float64) string {
	decimals := 2
	if amount > 0 && amount < 1 {
		decimals = 4
	}
	return s.Currency + " " + strconv.FormatFloat(amount, 'f', decimals, 64)
}
