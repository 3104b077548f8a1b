package people

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
)

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

// Slug makes a department's short name from its name: "Bus & Transport" →
// "bus-transport".
func Slug(name string) string {
	return strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(name), "-"), "-")
}

func checkDepartmentName(name string) (string, FieldErrors) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return name, FieldErrors{"name": "Enter the department's name."}
	case len(name) > 60:
		return name, FieldErrors{"name": "Keep the name under 60 characters."}
	case Slug(name) == "":
		return name, FieldErrors{"name": "Use at least one letter or digit."}
	}
	return name, nil
}

// CreateDepartment adds a department.
func (s *Service) CreateDepartment(ctx context.Context, actor db.User, name, ip string) (int64, error) {
	name, errs := checkDepartmentName(name)
	if errs != nil {
		return 0, errs
	}
	var id int64
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		if id, err = db.CreateDepartmentTx(ctx, tx, name, Slug(name)); err != nil {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "department.create", "department:"+strconv.FormatInt(id, 10), nil, map[string]any{"name": name, "slug": Slug(name)}, ip)
	})
	if errors.Is(err, db.ErrSlugTaken) {
		return 0, FieldErrors{"name": "A department with this name already exists (archived ones count: restore it instead)."}
	}
	return id, err
}

// RenameDepartment changes a department's name.
func (s *Service) RenameDepartment(ctx context.Context, actor db.User, id int64, name, ip string) error {
	name, errs := checkDepartmentName(name)
	if errs != nil {
		return errs
	}
	return s.changeDepartment(ctx, actor, id, "department.rename", ip, func(tx pgx.Tx) error {
		return db.RenameDepartmentTx(ctx, tx, id, name)
	})
}

// SetDepartmentArchived archives or restores a department.
func (s *Service) SetDepartmentArchived(ctx context.Context, actor db.User, id int64, archived bool, ip string) error {
	action := "department.restore"
	if archived {
		action = "department.archive"
	}
	return s.changeDepartment(ctx, actor, id, action, ip, func(tx pgx.Tx) error {
		return db.SetDepartmentArchivedTx(ctx, tx, id, archived)
	})
}

func (s *Service) changeDepartment(ctx context.Context, actor db.User, id int64, action, ip string, f func(pgx.Tx) error) error {
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		before, err := db.DepartmentRowByIDTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := f(tx); err != nil {
			return err
		}
		after, err := db.DepartmentRowByIDTx(ctx, tx, id)
		if err != nil {
			return err
		}
		actorID := actor.ID
		snap := func(d db.DepartmentRow) map[string]any {
			return map[string]any{"name": d.Name, "slug": d.Slug, "archived": d.ArchivedAt != nil}
		}
		return db.AuditTx(ctx, tx, &actorID, action, "department:"+strconv.FormatInt(id, 10), snap(before), snap(after), ip)
	})
	if err != nil {
		return fmt.Errorf("%s %d: %w", action, id, err)
	}
	return nil
}
