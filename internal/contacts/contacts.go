// Package contacts holds the rules for the contacts and groups pages:
// parsing the list's filters and cursor, validating edits, and writing
// changes together with their audit entries.
package contacts

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/policy"
)

// FieldErrors maps a form field to what is wrong with it, in words for staff.
type FieldErrors = messaging.FieldErrors

// PageSize is how many contacts a list page shows.
const PageSize = 50

// CustomKeys are the custom fields the contact form edits.
var CustomKeys = []string{"student_name", "class", "student_id"}

// Roles a contact may have.
var Roles = []string{"guardian", "student", "staff"}

// Service writes contact and group changes with their audit entries.
type Service struct {
	DB     *db.DB
	Region string // DEFAULT_REGION, for numbers typed without a country code
}

// New returns a Service.
func New(d *db.DB, region string) *Service { return &Service{DB: d, Region: region} }

// Query is the list's filters as they come from the URL.
type Query struct {
	Q, Role, Consent, Channel string
	GroupID                   int64
	Cursor                    string
}

// Filter turns q into a database filter, resolving the group. Unknown
// values are ignored rather than rejected: a hand-edited URL shows more,
// never an error.
func (s *Service) Filter(ctx context.Context, q Query, limit int) (db.ContactFilter, error) {
	f := db.ContactFilter{Query: strings.TrimSpace(q.Q), Limit: limit}
	if f.Query != "" {
		f.Digits = digits(f.Query)
		if len(f.Digits) < 3 {
			f.Digits = ""
		}
		if p, err := policy.NormalizePhone(f.Query, s.Region); err == nil {
			f.Phone = p
		}
	}
	if oneOf(q.Role, Roles...) {
		f.Role = q.Role
	}
	if oneOf(q.Consent, "in", "out", "unknown") {
		f.Consent = q.Consent
	}
	if oneOf(q.Channel, "whatsapp", "sms") {
		f.Channel = q.Channel
	}
	if q.GroupID != 0 {
		g, err := s.DB.GroupByID(ctx, q.GroupID)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return f, err
		}
		if err == nil {
			f.Group = &g
		}
	}
	f.After = DecodeCursor(q.Cursor)
	return f, nil
}

// digits keeps the digits of s: "(555) 010-4242" matches "+15550104242".
func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

// EncodeCursor makes the opaque "after" value of a "Load more" link.
func EncodeCursor(c db.ContactCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.ID, 10) + ":" + c.SortKey))
}

// DecodeCursor reads EncodeCursor's output; nil for anything else.
func DecodeCursor(s string) *db.ContactCursor {
	if s == "" {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil
	}
	idText, key, ok := strings.Cut(string(b), ":")
	if !ok {
		return nil
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || !utf8.ValidString(key) {
		return nil
	}
	return &db.ContactCursor{SortKey: key, ID: id}
}

// Page is one page of the list.
type Page struct {
	Rows []db.ContactRow
	// Next is the cursor of the following page, "" on the last one.
	Next string
}

// List returns the page f selects (f.Limit rows at most).
func (s *Service) List(ctx context.Context, f db.ContactFilter) (Page, error) {
	want := f.Limit
	f.Limit = want + 1 // one more tells whether there is a next page
	rows, err := s.DB.ListContacts(ctx, f)
	if err != nil {
		return Page{}, err
	}
	p := Page{Rows: rows}
	if want > 0 && len(rows) > want {
		p.Rows = rows[:want]
		last := p.Rows[want-1]
		p.Next = EncodeCursor(db.ContactCursor{SortKey: last.SortKey, ID: last.ID})
	}
	return p, nil
}

// Input is the contact form.
type Input struct {
	Name, Phone, Role, Language, PreferredChannel string
	WhatsAppCapable                               bool
	CustomFields                                  map[string]string
}

func cleanText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

func (in *Input) validate(errs FieldErrors) {
	in.Name = cleanText(in.Name)
	if utf8.RuneCountInString(in.Name) > 100 {
		errs["name"] = "Keep the name under 100 characters."
	}
	if !oneOf(in.Role, Roles...) {
		errs["role"] = "Choose guardian, student or staff."
	}
	in.Language = cleanText(in.Language)
	if utf8.RuneCountInString(in.Language) > 20 {
		errs["language"] = "Use a short language code such as en or es."
	}
	if !oneOf(in.PreferredChannel, "", "whatsapp", "sms") {
		errs["preferred_channel"] = "Choose WhatsApp, SMS or no preference."
	}
	if in.PreferredChannel == "whatsapp" && !in.WhatsAppCapable {
		errs["preferred_channel"] = "They are not marked as on WhatsApp: tick “On WhatsApp” or prefer SMS."
	}
	clean := map[string]string{}
	for _, k := range CustomKeys {
		v := cleanText(in.CustomFields[k])
		if utf8.RuneCountInString(v) > 100 {
			errs[k] = "Keep it under 100 characters."
		}
		if v != "" {
			clean[k] = v
		}
	}
	in.CustomFields = clean
}

func idSubject(kind string, id int64) string { return kind + ":" + strconv.FormatInt(id, 10) }

// Update saves the contact form.
func (s *Service) Update(ctx context.Context, actor db.User, id int64, in Input, ip string) error {
	errs := FieldErrors{}
	in.validate(errs)
	if len(errs) > 0 {
		return errs
	}
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		before, err := db.ContactByIDTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := db.UpdateContactTx(ctx, tx, id, db.ContactEdit{Name: in.Name, Role: in.Role, Language: in.Language,
			PreferredChannel: in.PreferredChannel, WhatsAppCapable: in.WhatsAppCapable,
			CustomFields: in.CustomFields, CustomKeys: CustomKeys}); err != nil {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "contact.update", idSubject("contact", id), snapshot(before.ContactRow), in, ip)
	})
}

func snapshot(r db.ContactRow) map[string]any {
	return map[string]any{"name": r.Name, "role": r.Role, "language": r.Language, "preferred_channel": r.PreferredChannel,
		"whatsapp_capable": r.WhatsAppCapable, "custom_fields": r.CustomFields}
}

// Create adds a contact typed in by hand. A number already in use comes
// back as a field error naming who has it.
func (s *Service) Create(ctx context.Context, actor db.User, in Input, ip string) (int64, error) {
	errs := FieldErrors{}
	in.validate(errs)
	phone, err := policy.NormalizePhone(in.Phone, s.Region)
	if err != nil {
		errs["phone"] = err.Error()
	}
	if len(errs) > 0 {
		return 0, errs
	}
	var id int64
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		if id, err = db.InsertContactTx(ctx, tx, phone, in.Name, in.Role); err != nil {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "contact.create", idSubject("contact", id), nil,
			map[string]any{"name": in.Name, "phone": phone, "role": in.Role}, ip)
	})
	if errors.Is(err, db.ErrDuplicatePhone) {
		msg := "A contact with this number already exists."
		if other, oerr := s.DB.ContactByPhone(ctx, phone); oerr == nil {
			msg = fmt.Sprintf("%s already has this number (contact #%d).", other.Contact().DisplayName(), other.ID)
		}
		return 0, FieldErrors{"phone": msg}
	}
	return id, err
}

// ConsentInput is the "Record consent" form.
type ConsentInput struct {
	// Phone is which of the contact's numbers (E.164); "" is the main one.
	Phone   string
	Purpose string // transactional | marketing
	OptedIn string // "in" | "out"
	Reason  string
}

// RecordConsent appends a staff-recorded event to the consent ledger for
// one of the contact's numbers (the ledger is per number), and audits it.
func (s *Service) RecordConsent(ctx context.Context, actor db.User, contactID int64, in ConsentInput, ip string) error {
	errs := FieldErrors{}
	if !oneOf(in.Purpose, "transactional", "marketing") {
		errs["purpose"] = "Choose what the consent is for."
	}
	if !oneOf(in.OptedIn, "in", "out") {
		errs["opted_in"] = "Choose opted in or opted out."
	}
	in.Reason = cleanText(in.Reason)
	switch {
	case in.Reason == "":
		errs["reason"] = "Say how you know, e.g. “Asked at parents' evening, signed form”."
	case utf8.RuneCountInString(in.Reason) > 200:
		errs["reason"] = "Keep the reason under 200 characters."
	}
	if len(errs) > 0 {
		return errs
	}
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		c, err := db.ContactByIDTx(ctx, tx, contactID)
		if err != nil {
			return err
		}
		phone := c.Phone
		if in.Phone != "" && in.Phone != c.Phone {
			numbers, err := db.ContactNumbersTx(ctx, tx, contactID)
			if err != nil {
				return err
			}
			if !oneOf(in.Phone, numbers...) {
				return FieldErrors{"consent_phone": "Choose one of this contact's numbers."}
			}
			phone = in.Phone
		}
		actorID := actor.ID
		e := db.ConsentEvent{Phone: phone, Purpose: in.Purpose, OptedIn: in.OptedIn == "in", Method: "staff", Source: in.Reason, RecordedBy: &actorID}
		if err := db.InsertConsentTx(ctx, tx, e); err != nil {
			return err
		}
		return db.AuditTx(ctx, tx, &actorID, "contact.consent", idSubject("contact", contactID), nil,
			map[string]any{"phone": phone, "purpose": in.Purpose, "opted_in": e.OptedIn, "reason": in.Reason}, ip)
	})
}

// LinkInput is the "Link a guardian/student" form.
type LinkInput struct {
	Phone    string // the other contact's number, in any format
	OtherID  int64  // or the other contact picked by id
	Relation string
}

// Link links the contact to another by number (or id). Who is the guardian
// follows the roles: a student's link is to a guardian, anyone else's to a
// student.
func (s *Service) Link(ctx context.Context, actor db.User, contactID int64, in LinkInput, ip string) error {
	errs := FieldErrors{}
	in.Relation = cleanText(in.Relation)
	if utf8.RuneCountInString(in.Relation) > 40 {
		errs["relation"] = "Keep the relation short, e.g. mother, father, carer."
	}
	self, err := s.DB.ContactByID(ctx, contactID)
	if err != nil {
		return err
	}
	var other db.ContactDetail
	if in.OtherID != 0 {
		other, err = s.DB.ContactByID(ctx, in.OtherID)
		if errors.Is(err, db.ErrNotFound) {
			errs["link_phone"] = "That contact no longer exists."
		} else if err != nil {
			return err
		}
	} else {
		phone, perr := policy.NormalizePhone(in.Phone, s.Region)
		if perr != nil {
			errs["link_phone"] = perr.Error()
		} else {
			other, err = s.DB.ContactByPhone(ctx, phone)
			if errors.Is(err, db.ErrNotFound) {
				errs["link_phone"] = "No contact has this number: add them first, then link them."
			} else if err != nil {
				return err
			}
		}
	}
	if errs["link_phone"] == "" && other.ID == self.ID {
		errs["link_phone"] = "That is this contact's own number."
	}
	if len(errs) > 0 {
		return errs
	}
	guardian, student := self.ID, other.ID
	if self.Role == "student" {
		guardian, student = other.ID, self.ID
	}
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := db.LinkContactsTx(ctx, tx, guardian, student, in.Relation); err != nil {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "contact.link", idSubject("contact", contactID), nil,
			map[string]any{"guardian_id": guardian, "student_id": student, "relation": in.Relation}, ip)
	})
}

// Unlink removes the link between two contacts.
func (s *Service) Unlink(ctx context.Context, actor db.User, contactID, otherID int64, ip string) error {
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		ok, err := db.UnlinkContactsTx(ctx, tx, contactID, otherID)
		if err != nil || !ok {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "contact.unlink", idSubject("contact", contactID), map[string]any{"other_id": otherID}, nil, ip)
	})
}
