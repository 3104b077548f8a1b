// Package people is staff administration: accounts, roles, departments,
// deactivation and password resets, each written to the audit log in the
// same transaction as the change.
package people

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/auth"
	"github.com/classline/classline/internal/messaging"
)

// FieldErrors maps a form field to what is wrong with it, in words for
// admins: the same type the rest of the app's forms use.
type FieldErrors = messaging.FieldErrors

// ErrLastAdmin refuses a change that would leave no active admin.
var ErrLastAdmin = errors.New("this would leave the school without an active admin")

// Service changes user accounts. Callers check the actor is an admin.
type Service struct {
	DB *db.DB
}

// Input is the user form.
type Input struct {
	Name, Email, Role string
	DepartmentIDs     []int64
}

func (s *Service) validate(ctx context.Context, in *Input) (FieldErrors, error) {
	errs := FieldErrors{}
	in.Name, in.Email = strings.TrimSpace(in.Name), strings.TrimSpace(in.Email)
	if in.Name == "" {
		errs["name"] = "Enter the person's name."
	} else if len(in.Name) > 100 {
		errs["name"] = "Keep the name under 100 characters."
	}
	if a, err := mail.ParseAddress(in.Email); in.Email == "" || err != nil || a.Address != in.Email {
		errs["email"] = "Enter an email address like ana@school.org."
	}
	if in.Role != "admin" && in.Role != "staff" {
		errs["role"] = "Choose Staff or Admin."
	}
	deps, err := s.DB.DepartmentsByID(ctx, nil)
	if err != nil {
		return nil, err
	}
	for _, id := range in.DepartmentIDs {
		if !slices.ContainsFunc(deps, func(d db.Department) bool { return d.ID == id }) {
			errs["departments"] = "Choose departments from the list."
		}
	}
	if in.Role == "staff" && len(in.DepartmentIDs) == 0 {
		errs["departments"] = "Staff see only their departments' conversations: choose at least one."
	}
	return errs, nil
}

// Create adds a person and returns their first password, shown once.
func (s *Service) Create(ctx context.Context, actor db.User, in Input, ip string) (db.User, string, error) {
	errs, err := s.validate(ctx, &in)
	if err != nil {
		return db.User{}, "", err
	}
	if len(errs) > 0 {
		return db.User{}, "", errs
	}
	password := auth.GeneratePassword()
	hash, err := auth.HashPassword(password)
	if err != nil {
		return db.User{}, "", err
	}
	u, err := s.DB.CreateUser(ctx, db.NewUser{Email: in.Email, Name: in.Name, Role: in.Role, PasswordHash: hash, DepartmentIDs: in.DepartmentIDs})
	if errors.Is(err, db.ErrEmailTaken) {
		return db.User{}, "", FieldErrors{"email": "Someone already signs in with this email."}
	}
	if err != nil {
		return db.User{}, "", err
	}
	actorID := actor.ID
	err = s.DB.Audit(ctx, &actorID, "user.create", subject(u.ID), nil, snapshot(u), ip)
	return u, password, err
}

// Update changes name, email, role and departments. An admin cannot take
// away the last active admin's role.
func (s *Service) Update(ctx context.Context, actor db.User, id int64, in Input, ip string) error {
	errs, err := s.validate(ctx, &in)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return errs
	}
	return s.change(ctx, actor, id, "user.update", ip, func(tx pgx.Tx, before db.User) error {
		if before.IsAdmin() && in.Role != "admin" && before.DeactivatedAt == nil {
			if err := needAnotherAdmin(ctx, tx); err != nil {
				return err
			}
		}
		err := db.UpdateUserTx(ctx, tx, id, db.UserChange{Name: in.Name, Email: in.Email, Role: in.Role, DepartmentIDs: in.DepartmentIDs})
		if errors.Is(err, db.ErrEmailTaken) {
			return FieldErrors{"email": "Someone already signs in with this email."}
		}
		return err
	})
}

// SetActive deactivates (ending their sessions at once) or reactivates a person.
func (s *Service) SetActive(ctx context.Context, actor db.User, id int64, active bool, ip string) error {
	if !active && id == actor.ID {
		return FieldErrors{"active": "You cannot deactivate yourself; ask another admin."}
	}
	action := "user.reactivate"
	if !active {
		action = "user.deactivate"
	}
	return s.change(ctx, actor, id, action, ip, func(tx pgx.Tx, before db.User) error {
		if !active && before.IsAdmin() && before.DeactivatedAt == nil {
			if err := needAnotherAdmin(ctx, tx); err != nil {
				return err
			}
		}
		return db.SetDeactivatedTx(ctx, tx, id, !active)
	})
}

// ResetPassword gives a person a new password (shown once to the admin) and
// signs them out everywhere.
func (s *Service) ResetPassword(ctx context.Context, actor db.User, id int64, ip string) (string, error) {
	password := auth.GeneratePassword()
	hash, err := auth.HashPassword(password)
	if err != nil {
		return "", err
	}
	err = s.change(ctx, actor, id, "user.reset_password", ip, func(tx pgx.Tx, _ db.User) error {
		return db.SetPasswordTx(ctx, tx, id, hash)
	})
	return password, err
}

// change runs f on a locked user and audits before and after together.
func (s *Service) change(ctx context.Context, actor db.User, id int64, action, ip string, f func(pgx.Tx, db.User) error) error {
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, id); err != nil {
			return err
		}
		before, err := db.UserByIDTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := f(tx, before); err != nil {
			return err
		}
		after, err := db.UserByIDTx(ctx, tx, id)
		if err != nil {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, action, subject(id), snapshot(before), snapshot(after), ip)
	})
	if err != nil {
		return fmt.Errorf("%s %d: %w", action, id, err)
	}
	return nil
}

func needAnotherAdmin(ctx context.Context, tx pgx.Tx) error {
	n, err := db.CountActiveAdminsTx(ctx, tx)
	if err != nil {
		return err
	}
	if n <= 1 {
		return ErrLastAdmin
	}
	return nil
}

func subject(id int64) string { return "user:" + strconv.FormatInt(id, 10) }

// snapshot is what the audit log keeps of a user: never the password hash.
func snapshot(u db.User) map[string]any {
	return map[string]any{"name": u.Name, "email": u.Email, "role": u.Role, "departments": u.DepartmentIDs,
		"active": u.DeactivatedAt == nil, "session_epoch": u.SessionEpoch}
}
