package people

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/policy"
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

// A department's own settings: default senders, business hours and the
// out-of-hours reply. Each change is audited with before and after in the
// transaction that makes it.

// DefaultSenders are a department's chosen default sender per channel; 0
// leaves the choice to the picker (the first one set up).
type DefaultSenders struct {
	WhatsApp, SMS int64
}

// SetDefaultSenders saves both defaults of a department. A sender not of
// the department and channel comes back as a FieldErrors keyed
// default_whatsapp or default_sms.
func (s *Service) SetDefaultSenders(ctx context.Context, actor db.User, id int64, in DefaultSenders, ip string) error {
	var errs FieldErrors
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := db.DepartmentRowByIDTx(ctx, tx, id); err != nil {
			return err
		}
		before, err := db.DefaultSendersTx(ctx, tx, id)
		if err != nil {
			return err
		}
		for _, c := range []struct {
			channel, field, name string
			sender               int64
		}{
			{policy.ChannelWhatsApp, "default_whatsapp", "WhatsApp", in.WhatsApp},
			{policy.ChannelSMS, "default_sms", "SMS", in.SMS},
		} {
			err := db.SetDefaultSenderTx(ctx, tx, id, c.channel, c.sender)
			if errors.Is(err, db.ErrNotFound) {
				if errs == nil {
					errs = FieldErrors{}
				}
				errs[c.field] = "Choose one of this department's " + c.name + " senders, or “First one set up”."
				continue
			}
			if err != nil {
				return err
			}
		}
		if errs != nil {
			return errs // rolls back whichever default did save
		}
		after, err := db.DefaultSendersTx(ctx, tx, id)
		if err != nil {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "department.default_senders", "department:"+strconv.FormatInt(id, 10), before, after, ip)
	})
	if errs != nil {
		return errs
	}
	if err != nil {
		return fmt.Errorf("department.default_senders %d: %w", id, err)
	}
	return nil
}

// SaveBusinessHours validates the hours form and stores it; problems come
// back as FieldErrors keyed by day ("mon".."sun") and "closed_dates".
func (s *Service) SaveBusinessHours(ctx context.Context, actor db.User, id int64, in policy.HoursInput, ip string) error {
	hours, problems := policy.BuildHours(in)
	if len(problems) > 0 {
		return FieldErrors(problems)
	}
	return s.storeHours(ctx, actor, id, hours, ip)
}

// ClearBusinessHours removes a department's hours: it is never out of hours again.
func (s *Service) ClearBusinessHours(ctx context.Context, actor db.User, id int64, ip string) error {
	return s.storeHours(ctx, actor, id, policy.BusinessHours{}, ip)
}

func (s *Service) storeHours(ctx context.Context, actor db.User, id int64, hours policy.BusinessHours, ip string) error {
	raw, err := json.Marshal(hours)
	if err != nil {
		return err
	}
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		before, err := db.DepartmentSettingsTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := db.SetBusinessHoursTx(ctx, tx, id, raw); err != nil {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "department.hours", "department:"+strconv.FormatInt(id, 10),
			map[string]any{"business_hours": json.RawMessage(jsonOrEmpty(before.BusinessHours))},
			map[string]any{"business_hours": json.RawMessage(raw)}, ip)
	})
	if err != nil {
		return fmt.Errorf("department.hours %d: %w", id, err)
	}
	return nil
}

func jsonOrEmpty(b []byte) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}

// OutOfHoursReplyMax is the longest out-of-hours reply accepted, before
// {school} and {opens} are filled in.
const OutOfHoursReplyMax = 1000

// SaveOutOfHoursReply stores the text sent when someone writes outside the
// department's hours ("" or only spaces: no reply). schoolName is the
// school's name as the reply will carry it, to check the filled-in length.
func (s *Service) SaveOutOfHoursReply(ctx context.Context, actor db.User, id int64, text, schoolName, ip string) error {
	if strings.TrimSpace(text) == "" {
		text = ""
	}
	// Browsers send CRLF from a textarea; a message has plain newlines.
	text = strings.ReplaceAll(text, "\r\n", "\n")
	switch n := utf8.RuneCountInString(text); {
	case n > OutOfHoursReplyMax:
		return FieldErrors{"reply": fmt.Sprintf("The reply is %d characters; keep it to %d.", n, OutOfHoursReplyMax)}
	case utf8.RuneCountInString(messaging.ExpandOutOfHours(text, schoolName, messaging.LongestOpensText)) > messaging.MaxBodyLength:
		return FieldErrors{"reply": fmt.Sprintf("With the school's name and the opening time filled in, the reply is longer than a message can be (%d characters).", messaging.MaxBodyLength)}
	}
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		before, err := db.DepartmentSettingsTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := db.SetOutOfHoursReplyTx(ctx, tx, id, text); err != nil {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "department.out_of_hours_reply", "department:"+strconv.FormatInt(id, 10),
			map[string]any{"out_of_hours_reply": before.OutOfHoursReply}, map[string]any{"out_of_hours_reply": text}, ip)
	})
	if err != nil {
		return fmt.Errorf("department.out_of_hours_reply %d: %w", id, err)
	}
	return nil
}
