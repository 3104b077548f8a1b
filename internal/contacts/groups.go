package contacts

import (
	"context"
	"errors"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/policy"
)

// GroupInput is the new-group form: a static group, or a smart one with its filter.
type GroupInput struct {
	Name string
	Kind string // static | smart
	// Smart filter fields, as typed.
	Role, Language, WhatsApp, Consent, Field, Value string
}

// Filter validates the smart-group fields and returns the saved filter.
func (in GroupInput) Filter(errs FieldErrors) db.SmartFilter {
	f := db.SmartFilter{Language: cleanText(in.Language), Field: in.Field, Value: cleanText(in.Value)}
	switch {
	case in.Role == "":
	case oneOf(in.Role, Roles...):
		f.Role = in.Role
	default:
		errs["filter_role"] = "Choose guardian, student or staff."
	}
	switch in.WhatsApp {
	case "":
	case "yes", "no":
		b := in.WhatsApp == "yes"
		f.WhatsApp = &b
	default:
		errs["filter_whatsapp"] = "Choose on WhatsApp, SMS only, or either."
	}
	switch {
	case in.Consent == "":
	case oneOf(in.Consent, "in", "out", "unknown"):
		f.Consent = in.Consent
	default:
		errs["filter_consent"] = "Choose opted in, opted out or unknown."
	}
	switch {
	case f.Field == "":
		f.Value = ""
	case !oneOf(f.Field, CustomKeys...):
		errs["filter_field"] = "Choose student name, class or student ID."
	case f.Value == "":
		errs["filter_value"] = "Enter the value the field must equal, e.g. 7B."
	}
	if in.Kind == "smart" && len(errs) == 0 && f.IsEmpty() {
		errs["filter_role"] = "A smart group needs at least one condition; otherwise it is everyone."
	}
	return f
}

func checkGroupName(name string, errs FieldErrors) string {
	name = cleanText(name)
	switch {
	case name == "":
		errs["name"] = "Enter the group's name, e.g. Year 7 parents."
	case utf8.RuneCountInString(name) > 80:
		errs["name"] = "Keep the name under 80 characters."
	}
	return name
}

// CreateGroup adds a group.
func (s *Service) CreateGroup(ctx context.Context, actor db.User, in GroupInput, ip string) (int64, error) {
	errs := FieldErrors{}
	name := checkGroupName(in.Name, errs)
	if !oneOf(in.Kind, "static", "smart") {
		errs["kind"] = "Choose a fixed list or a smart group."
	}
	var f db.SmartFilter
	if in.Kind == "smart" {
		f = in.Filter(errs)
	}
	if len(errs) > 0 {
		return 0, errs
	}
	var id int64
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		if id, err = db.CreateGroupTx(ctx, tx, name, in.Kind, f); err != nil {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "group.create", idSubject("group", id), nil,
			map[string]any{"name": name, "kind": in.Kind, "filter": f}, ip)
	})
	return id, err
}

// RenameGroup renames a group.
func (s *Service) RenameGroup(ctx context.Context, actor db.User, g db.Group, name, ip string) error {
	errs := FieldErrors{}
	name = checkGroupName(name, errs)
	if len(errs) > 0 {
		return errs
	}
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := db.RenameGroupTx(ctx, tx, g.ID, name); err != nil {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "group.rename", idSubject("group", g.ID), map[string]any{"name": g.Name}, map[string]any{"name": name}, ip)
	})
}

// DeleteGroup deletes a group (its contacts stay).
func (s *Service) DeleteGroup(ctx context.Context, actor db.User, g db.Group, ip string) error {
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := db.DeleteGroupTx(ctx, tx, g.ID); err != nil {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "group.delete", idSubject("group", g.ID), map[string]any{"name": g.Name, "kind": g.Kind}, nil, ip)
	})
}

// ErrSmartGroup is returned when adding or removing members by hand on a
// smart group, whose members follow its filter.
var ErrSmartGroup = errors.New("contacts: smart groups compute their members")

// AddMember adds a contact to a static group.
func (s *Service) AddMember(ctx context.Context, actor db.User, g db.Group, contactID int64, ip string) error {
	if g.Smart() {
		return FieldErrors{"group": "This smart group's members follow its filter; they cannot be added by hand."}
	}
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := db.ContactByIDTx(ctx, tx, contactID); err != nil {
			return err
		}
		added, err := db.AddGroupMemberTx(ctx, tx, g.ID, contactID)
		if err != nil || !added {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "group.member_add", idSubject("group", g.ID), nil, map[string]any{"contact_id": contactID}, ip)
	})
}

// AddMemberByPhone adds the contact with this number to a static group.
func (s *Service) AddMemberByPhone(ctx context.Context, actor db.User, g db.Group, phone, ip string) (db.ContactDetail, error) {
	e164, err := policy.NormalizePhone(phone, s.Region)
	if err != nil {
		return db.ContactDetail{}, FieldErrors{"phone": err.Error()}
	}
	c, err := s.DB.ContactByPhone(ctx, e164)
	if errors.Is(err, db.ErrNotFound) {
		return c, FieldErrors{"phone": "No contact has this number: add them on the Contacts page first."}
	}
	if err != nil {
		return c, err
	}
	return c, s.AddMember(ctx, actor, g, c.ID, ip)
}

// RemoveMember takes a contact out of a static group.
func (s *Service) RemoveMember(ctx context.Context, actor db.User, g db.Group, contactID int64, ip string) error {
	if g.Smart() {
		return ErrSmartGroup
	}
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		removed, err := db.RemoveGroupMemberTx(ctx, tx, g.ID, contactID)
		if err != nil || !removed {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "group.member_remove", idSubject("group", g.ID), map[string]any{"contact_id": contactID}, nil, ip)
	})
}
