package messaging

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/classline/classline/db"
)

// Canned replies: a department's snippets, inserted in a reply by typing "/"
// and the name. Staff of a department manage its replies (a front office
// shares them); admins manage every department's. A reply of a department
// the user is not in does not exist for them (db.ErrNotFound), so guessing
// ids reveals nothing.

// CannedNameMax is the longest name (the database CHECK allows 40).
const CannedNameMax = 40

var cannedName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// CannedInput is a canned reply typed in the form.
type CannedInput struct {
	DepartmentID int64 // ignored by UpdateCanned: a reply stays in its department
	Name, Body   string
}

// NormalizeCannedName trims a typed name and drops a leading "/": people
// type the shortcut the way they will use it. Case is folded; anything else
// is left for validation to explain.
func NormalizeCannedName(name string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(name), "/"))
}

// ValidCannedPrefix reports whether q can start a canned reply name (empty counts).
func ValidCannedPrefix(q string) bool {
	return q == "" || (len(q) <= CannedNameMax && cannedName.MatchString(q))
}

func checkCanned(in CannedInput, errs FieldErrors) (name string) {
	name = NormalizeCannedName(in.Name)
	switch {
	case name == "":
		errs["name"] = "Give the reply a short name; you will type / and the name to insert it."
	case utf8.RuneCountInString(name) > CannedNameMax:
		errs["name"] = fmt.Sprintf("The name is %d characters; keep it to %d.", utf8.RuneCountInString(name), CannedNameMax)
	case !cannedName.MatchString(name):
		errs["name"] = "Use lowercase letters, digits and dashes only, starting with a letter or digit, e.g. term-dates."
	}
	switch n := utf8.RuneCountInString(in.Body); {
	case strings.TrimSpace(in.Body) == "":
		errs["body"] = "Write the text to insert."
	case n > MaxBodyLength:
		errs["body"] = fmt.Sprintf("The text is %d characters; a message holds at most %d.", n, MaxBodyLength)
	}
	return name
}

// CannedReply loads a reply the user may see; db.ErrNotFound otherwise.
func (s *Service) CannedReply(ctx context.Context, u db.User, id int64) (db.CannedReply, error) {
	r, err := s.DB.CannedReplyByID(ctx, id)
	if err != nil {
		return r, err
	}
	if !CanSee(u, &r.DepartmentID) {
		return db.CannedReply{}, db.ErrNotFound
	}
	return r, nil
}

// CannedDepartments are the departments whose replies the user manages.
func (s *Service) CannedDepartments(ctx context.Context, u db.User) ([]db.Department, error) {
	scope := DepartmentScope(u)
	if scope != nil && len(scope) == 0 {
		return nil, nil
	}
	return s.DB.DepartmentsByID(ctx, scope)
}

// CreateCanned validates and stores a new reply in one of the user's
// departments. Problems come back as FieldErrors keyed department, name, body.
func (s *Service) CreateCanned(ctx context.Context, u db.User, ip string, in CannedInput) (int64, error) {
	errs := FieldErrors{}
	name := checkCanned(in, errs)
	deps, err := s.CannedDepartments(ctx, u)
	if err != nil {
		return 0, err
	}
	i := slices.IndexFunc(deps, func(d db.Department) bool { return d.ID == in.DepartmentID })
	if i < 0 {
		errs["department"] = "Choose one of your departments."
	}
	if len(errs) > 0 {
		return 0, errs
	}
	id, err := s.DB.InsertCannedReply(ctx, db.NewCannedReply{DepartmentID: in.DepartmentID, Name: name, Body: in.Body, CreatedBy: u.ID})
	if errors.Is(err, db.ErrCannedNameTaken) {
		return 0, FieldErrors{"name": fmt.Sprintf("%s already has a reply called /%s. Choose another name or edit that one.", deps[i].Name, name)}
	}
	if err != nil {
		return 0, err
	}
	s.recordAudit(ctx, u, ip, "canned_reply.create", cannedSubject(id), nil, map[string]any{"department_id": in.DepartmentID, "name": name, "body": in.Body})
	return id, nil
}

// UpdateCanned renames and rewrites a reply the user may see.
func (s *Service) UpdateCanned(ctx context.Context, u db.User, ip string, id int64, in CannedInput) error {
	old, err := s.CannedReply(ctx, u, id)
	if err != nil {
		return err
	}
	errs := FieldErrors{}
	name := checkCanned(in, errs)
	if len(errs) > 0 {
		return errs
	}
	err = s.DB.UpdateCannedReply(ctx, id, name, in.Body)
	if errors.Is(err, db.ErrCannedNameTaken) {
		return FieldErrors{"name": fmt.Sprintf("%s already has a reply called /%s. Choose another name.", old.DepartmentName, name)}
	}
	if err != nil {
		return err
	}
	s.recordAudit(ctx, u, ip, "canned_reply.update", cannedSubject(id),
		map[string]any{"name": old.Name, "body": old.Body}, map[string]any{"name": name, "body": in.Body})
	return nil
}

// DeleteCanned removes a reply the user may see.
func (s *Service) DeleteCanned(ctx context.Context, u db.User, ip string, id int64) error {
	old, err := s.CannedReply(ctx, u, id)
	if err != nil {
		return err
	}
	if err := s.DB.DeleteCannedReply(ctx, id); err != nil {
		return err
	}
	s.recordAudit(ctx, u, ip, "canned_reply.delete", cannedSubject(id), map[string]any{"department_id": old.DepartmentID, "name": old.Name, "body": old.Body}, nil)
	return nil
}

// SuggestCanned lists the replies of a conversation's department whose name
// starts with prefix, for the "/" menu of its composer. A conversation the
// user may not see is db.ErrNotFound; one without a department has none.
func (s *Service) SuggestCanned(ctx context.Context, u db.User, conversationID int64, prefix string) ([]db.CannedReply, error) {
	conv, err := s.DB.ConversationByID(ctx, conversationID)
	if err != nil {
		return nil, err
	}
	if !CanSee(u, conv.DepartmentID) {
		return nil, db.ErrNotFound
	}
	prefix = NormalizeCannedName(prefix)
	if conv.DepartmentID == nil || !ValidCannedPrefix(prefix) {
		return nil, nil
	}
	return s.DB.SearchCannedReplies(ctx, []int64{*conv.DepartmentID}, prefix, 8)
}

func cannedSubject(id int64) string { return "canned_reply:" + strconv.FormatInt(id, 10) }

// recordAudit records a change made by a person. The change itself is done,
// so a failure to audit is logged, not returned: the form must not say
// "failed" for something that happened.
func (s *Service) recordAudit(ctx context.Context, u db.User, ip, action, subject string, before, after any) {
	var by *int64
	if u.ID != 0 {
		by = &u.ID
	}
	if err := s.DB.Audit(ctx, by, action, subject, before, after, ip); err != nil && s.Log != nil {
		s.Log.Error("audit", "action", action, "subject", subject, "err", err)
	}
}
