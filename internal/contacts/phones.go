package contacts

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/policy"
)

// A contact's numbers: the main one (what a new message goes to) and
// secondary ones (a parent's work phone, a second mobile). A parent writing
// from a secondary number lands in this contact's conversations, answered
// on that number.

// PhoneInput is the "Add a number" form.
type PhoneInput struct {
	Phone, Label string
	WhatsApp     bool
}

// MainNumberTakenError: the number cannot become this contact's main
// number because it is another contact's main number. Merging the two is
// the way out, so the page offers it.
type MainNumberTakenError struct {
	Phone string
	Other db.Contact // ID 0 when who it is could not be read
}

func (e *MainNumberTakenError) Error() string {
	who := "Another contact"
	if e.Other.ID != 0 {
		who = fmt.Sprintf("%s (contact #%d)", e.Other.DisplayName(), e.Other.ID)
	}
	return who + " already has " + policy.FormatPhone(e.Phone) +
		" as their main number, and a number can be the main number of only one contact. If they are the same person, merge them."
}

// AddPhone adds a secondary number to a contact. It returns the other
// contacts that have the number too (a possible duplicate, which is
// allowed: two guardians may share a home phone).
func (s *Service) AddPhone(ctx context.Context, actor db.User, contactID int64, in PhoneInput, ip string) ([]db.SharedPhone, error) {
	errs := FieldErrors{}
	phone, err := policy.NormalizePhone(in.Phone, s.Region)
	if err != nil {
		errs["new_phone"] = err.Error()
	}
	if in.Label == "" {
		in.Label = "mobile"
	}
	if !oneOf(in.Label, db.PhoneLabels...) {
		errs["new_phone_label"] = "Choose mobile, home, work or other."
	}
	if len(errs) > 0 {
		return nil, errs
	}
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := db.AddContactPhoneTx(ctx, tx, contactID, db.NewContactPhone{Phone: phone, Label: in.Label, WhatsAppCapable: in.WhatsApp}); err != nil {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "contact.phone_add", idSubject("contact", contactID), nil,
			map[string]any{"phone": phone, "label": in.Label, "whatsapp_capable": in.WhatsApp}, ip)
	})
	switch {
	case errors.Is(err, db.ErrPhoneIsMain):
		return nil, FieldErrors{"new_phone": "That is already this contact's main number."}
	case errors.Is(err, db.ErrPhoneListed):
		return nil, FieldErrors{"new_phone": "This contact already has that number."}
	case err != nil:
		return nil, err
	}
	all, err := s.DB.ContactsWithPhone(ctx, phone)
	if err != nil {
		return nil, err
	}
	var shared []db.SharedPhone
	for _, c := range all {
		if c.Contact.ID != contactID {
			shared = append(shared, c)
		}
	}
	return shared, nil
}

// RemovePhone removes a secondary number. The main number cannot be
// removed: make another number the main one first.
func (s *Service) RemovePhone(ctx context.Context, actor db.User, contactID int64, phone string, ip string) error {
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		removed, err := db.RemoveContactPhoneTx(ctx, tx, contactID, phone)
		if err != nil {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "contact.phone_remove", idSubject("contact", contactID),
			map[string]any{"phone": removed.Phone, "label": removed.Label, "whatsapp_capable": removed.WhatsAppCapable}, nil, ip)
	})
}

// MakeMain makes a secondary number the contact's main number (the old main
// number stays as a secondary one). A *MainNumberTakenError when another
// contact has it as their main number.
func (s *Service) MakeMain(ctx context.Context, actor db.User, contactID int64, phone string, ip string) error {
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		sw, err := db.MakeMainPhoneTx(ctx, tx, contactID, phone)
		if err != nil {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "contact.phone_main", idSubject("contact", contactID),
			map[string]any{"main": sw.OldMain.Phone, "main_label": sw.OldMain.Label},
			map[string]any{"main": sw.NewMain.Phone, "main_label": sw.NewMain.Label, "secondary": sw.OldMain.Phone}, ip)
	})
	var pe *db.PrimaryElsewhereError
	if errors.As(err, &pe) {
		taken := &MainNumberTakenError{Phone: phone, Other: pe.Other}
		if taken.Other.ID == 0 {
			// The transaction could not say who (it lost a race); ask now.
			if all, lerr := s.DB.ContactsWithPhone(ctx, phone); lerr == nil {
				for _, c := range all {
					if c.Primary && c.Contact.ID != contactID {
						taken.Other = c.Contact
					}
				}
			}
		}
		return taken
	}
	return err
}
