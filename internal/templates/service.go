package templates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/twilio"
)

// Service manages the template library: creation at Twilio, WhatsApp
// approval, sync, deletion, and the contact fields variables come from.
type Service struct {
	DB      *db.DB
	Gateway *twilio.Gateway
}

// ErrNotFound: no such template (or it was deleted).
var ErrNotFound = db.ErrNotFound

func subject(id int64) string { return "template:" + strconv.FormatInt(id, 10) }

// Create validates the draft, creates it at Twilio and records it. Errors
// are Errors by field; "twilio" holds what Twilio refused, in words.
func (s *Service) Create(ctx context.Context, actor db.User, ip string, d Draft) (int64, error) {
	d.Name, d.Body = strings.TrimSpace(d.Name), strings.TrimRight(d.Body, " \n\t")
	errs := Validate(d)
	if len(errs) > 0 {
		return 0, errs
	}
	variants, err := s.DB.TemplateVariants(ctx, d.Name)
	if err != nil {
		return 0, err
	}
	for _, v := range variants {
		if v.Language == d.Language && v.ApprovalStatus != StatusRejected {
			return 0, Errors{"language": fmt.Sprintf("%s already has a %s version. Open it, or choose another language.", d.Name, LanguageLabel(d.Language))}
		}
	}
	samples := map[string]string{}
	nums, _ := Variables(d.Body)
	for _, n := range nums {
		k := strconv.Itoa(n)
		samples[k] = strings.TrimSpace(d.Samples[k])
	}
	fields := map[string]string{}
	for k, f := range d.Fields {
		if _, ok := samples[k]; ok && f != "" {
			fields[k] = f
		}
	}
	t, err := s.Gateway.CreateContent(ctx, twilio.NewTemplate{
		FriendlyName: d.Name + "_" + strings.ToLower(d.Language),
		Language:     d.Language, Variables: samples, Types: toGateway(d),
	})
	if err != nil {
		return 0, twilioRefused("create the template", err)
	}
	types, err := json.Marshal(ToTypes(d))
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		id, err = db.InsertTemplateTx(ctx, tx, db.NewTemplate{ContentSID: t.SID, FriendlyName: t.FriendlyName, LogicalName: d.Name,
			Language: d.Language, Category: d.Category, Types: types, Variables: samples, VariableMap: fields, CreatedBy: actor.ID})
		if err != nil {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "template.create", subject(id), nil,
			map[string]any{"name": d.Name, "language": d.Language, "category": d.Category, "kind": d.Kind, "content_sid": t.SID}, ip)
	})
	if err != nil {
		return 0, fmt.Errorf("record template %s: %w", t.SID, err)
	}
	return id, nil
}

// twilioRefused turns a Twilio failure into an error for the form.
func twilioRefused(what string, err error) error {
	var apiErr *twilio.APIError
	if errors.As(err, &apiErr) && apiErr.HTTPStatus < 500 && apiErr.HTTPStatus != http.StatusTooManyRequests {
		return Errors{"twilio": fmt.Sprintf("Twilio would not %s: %s (error %d).", what, apiErr.Message, apiErr.Code)}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Submit asks WhatsApp to approve the template in category.
func (s *Service) Submit(ctx context.Context, actor db.User, ip string, id int64, category string) error {
	if !slices.Contains(Categories, category) {
		return Errors{"category": "Choose a category."}
	}
	t, err := s.DB.TemplateByID(ctx, id)
	if err != nil {
		return err
	}
	if t.ApprovalStatus != StatusUnsubmitted && t.ApprovalStatus != "" {
		return Errors{"twilio": "This template was already submitted; WhatsApp takes one request per template. To change it, copy it into a new draft."}
	}
	name := t.LogicalName
	a, err := s.Gateway.SubmitWhatsAppApproval(ctx, t.ContentSID, name, category)
	if err != nil {
		return twilioRefused("submit it for WhatsApp approval", err)
	}
	status := a.Status
	if status == "" {
		status = StatusReceived
	}
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := db.SetTemplateSubmittedTx(ctx, tx, id, name, category, status); err != nil {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "template.submit", subject(id),
			map[string]any{"status": t.ApprovalStatus}, map[string]any{"status": status, "name": name, "category": category}, ip)
	})
}

// Refresh reads the template's approval from Twilio and records it.
func (s *Service) Refresh(ctx context.Context, id int64) (db.Template, error) {
	t, err := s.DB.TemplateByID(ctx, id)
	if err != nil {
		return t, err
	}
	a, err := s.Gateway.FetchApprovalStatus(ctx, t.ContentSID)
	if err != nil {
		return t, fmt.Errorf("refresh template %d: %w", id, err)
	}
	if _, _, err := s.DB.ApplyTemplateSync(ctx, db.SyncedTemplate{ContentSID: t.ContentSID, ApprovalName: a.Name,
		Category: a.Category, Status: orUnsubmitted(a.Status), RejectionReason: a.RejectionReason}); err != nil {
		return t, err
	}
	return s.DB.TemplateByID(ctx, id)
}

func orUnsubmitted(s string) string {
	if s == "" {
		return StatusUnsubmitted
	}
	return s
}

// SyncResult says what a sync found.
type SyncResult struct {
	Seen, New, Changed int
	Gone               int64
}

// Sync reads every template and approval from Twilio. Templates made in
// Twilio's Console are added; ones deleted there are hidden.
func (s *Service) Sync(ctx context.Context) (SyncResult, error) {
	list, err := s.Gateway.ListContentAndApprovals(ctx)
	if err != nil {
		return SyncResult{}, fmt.Errorf("sync templates: %w", err)
	}
	var res SyncResult
	var errs []error
	keep := make([]string, 0, len(list))
	for _, t := range list {
		keep = append(keep, t.SID)
		types, err := json.Marshal(ToTypes(fromGateway(t.Template)))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		isNew, before, err := s.DB.ApplyTemplateSync(ctx, db.SyncedTemplate{ContentSID: t.SID, FriendlyName: t.FriendlyName,
			Language: t.Language, Types: types, Variables: t.Variables, ApprovalName: t.Approval.Name,
			Category: t.Approval.Category, Status: orUnsubmitted(t.Approval.Status), RejectionReason: t.Approval.RejectionReason})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		res.Seen++
		switch {
		case isNew:
			res.New++
		case before != orUnsubmitted(t.Approval.Status):
			res.Changed++
		}
	}
	if len(errs) == 0 {
		// Only a complete listing may hide what it did not list.
		if res.Gone, err = s.DB.MarkTemplatesGone(ctx, keep); err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

// Delete deletes the template at Twilio and hides it here; messages sent
// with it keep their text.
func (s *Service) Delete(ctx context.Context, actor db.User, ip string, id int64) error {
	t, err := s.DB.TemplateByID(ctx, id)
	if err != nil {
		return err
	}
	if err := s.Gateway.DeleteContent(ctx, t.ContentSID); err != nil {
		var apiErr *twilio.APIError
		if !errors.As(err, &apiErr) || apiErr.HTTPStatus != http.StatusNotFound {
			return twilioRefused("delete the template", err)
		}
	}
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := db.MarkTemplateDeletedTx(ctx, tx, id); err != nil {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "template.delete", subject(id),
			map[string]any{"name": t.LogicalName, "language": t.Language, "status": t.ApprovalStatus, "content_sid": t.ContentSID}, nil, ip)
	})
}

// SetFields saves which contact field fills each variable.
func (s *Service) SetFields(ctx context.Context, actor db.User, ip string, id int64, fields map[string]string) error {
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		t, err := db.TemplateByIDTx(ctx, tx, id)
		if err != nil {
			return err
		}
		nums, _ := Variables(FromTypes(t.Types).Body)
		clean := map[string]string{}
		errs := Errors{}
		for _, n := range nums {
			k := strconv.Itoa(n)
			f := fields[k]
			if f == "" {
				continue
			}
			if !slices.ContainsFunc(Fields, func(x Field) bool { return x.Key == f }) {
				errs["field_"+k] = "Choose a contact field."
				continue
			}
			clean[k] = f
		}
		if len(errs) > 0 {
			return errs
		}
		if err := db.SetTemplateVariableMapTx(ctx, tx, id, clean); err != nil {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "template.fields", subject(id), t.VariableMap, clean, ip)
	})
}

// Variant picks the language variant of a logical template for a contact:
// their language, else the school's, else English, else the first approved.
// Only approved variants count when approvedOnly.
func Variant(variants []db.Template, contactLanguage, schoolLanguage string, approvedOnly bool) (db.Template, bool) {
	ok := make([]db.Template, 0, len(variants))
	for _, v := range variants {
		if !approvedOnly || v.ApprovalStatus == StatusApproved {
			ok = append(ok, v)
		}
	}
	for _, want := range []string{contactLanguage, baseLanguage(contactLanguage), schoolLanguage, baseLanguage(schoolLanguage), "en"} {
		if want == "" {
			continue
		}
		for _, v := range ok {
			if v.Language == want || baseLanguage(v.Language) == want {
				return v, true
			}
		}
	}
	if len(ok) > 0 {
		return ok[0], true
	}
	return db.Template{}, false
}

// baseLanguage is "pt" for "pt_BR".
func baseLanguage(code string) string {
	base, _, _ := strings.Cut(strings.ReplaceAll(code, "-", "_"), "_")
	return strings.ToLower(base)
}

func toGateway(d Draft) twilio.TemplateTypes {
	var t twilio.TemplateTypes
	switch d.Kind {
	case KindText:
		t.Text = &twilio.TextType{Body: d.Body}
	case KindMedia:
		t.Media = &twilio.MediaType{Body: d.Body, URLs: []string{d.MediaURL}}
	case KindQuickReply:
		q := &twilio.QuickReplyType{Body: d.Body}
		for i, a := range d.Actions {
			q.Actions = append(q.Actions, twilio.QuickReplyAction{Title: a.Title, ID: "btn_" + strconv.Itoa(i+1)})
		}
		t.QuickReply = q
	case KindCallToAction:
		c := &twilio.CallToActionType{Body: d.Body}
		for _, a := range d.Actions {
			c.Actions = append(c.Actions, twilio.CallToActionAction{Type: a.Type, Title: a.Title, URL: a.URL, Phone: a.Phone})
		}
		t.CallToAction = c
	}
	// Plain text too, so SMS (which has no buttons) can carry it.
	if t.Text == nil {
		t.Text = &twilio.TextType{Body: d.Body}
	}
	return t
}

// fromGateway is a Twilio template as a draft, its richest type first.
func fromGateway(t twilio.Template) Draft {
	ty := t.Types
	switch {
	case ty.CallToAction != nil:
		d := Draft{Kind: KindCallToAction, Body: ty.CallToAction.Body}
		for _, a := range ty.CallToAction.Actions {
			d.Actions = append(d.Actions, Action{Type: a.Type, Title: a.Title, URL: a.URL, Phone: a.Phone})
		}
		return d
	case ty.QuickReply != nil:
		d := Draft{Kind: KindQuickReply, Body: ty.QuickReply.Body}
		for _, a := range ty.QuickReply.Actions {
			d.Actions = append(d.Actions, Action{Type: ActionQuickReply, Title: a.Title, ID: a.ID})
		}
		return d
	case ty.Media != nil:
		d := Draft{Kind: KindMedia, Body: ty.Media.Body}
		if len(ty.Media.URLs) > 0 {
			d.MediaURL = ty.Media.URLs[0]
		}
		return d
	case ty.Text != nil:
		return Draft{Kind: KindText, Body: ty.Text.Body}
	}
	return Draft{Kind: KindText, Body: t.Body()}
}

// SettingSchoolLanguage is the language a template is sent in when a
// family's own has no version.
const SettingSchoolLanguage = "school_language"

// DefaultSchoolLanguage applies until an admin chooses one.
const DefaultSchoolLanguage = "en"

// SchoolLanguage is the school's template language.
func (s *Service) SchoolLanguage(ctx context.Context) (string, error) {
	var code string
	if _, err := s.DB.GetSetting(ctx, SettingSchoolLanguage, &code); err != nil {
		return DefaultSchoolLanguage, err
	}
	if code == "" {
		return DefaultSchoolLanguage, nil
	}
	return code, nil
}

// SetSchoolLanguage stores the school's template language; an unknown code
// is an Errors keyed school_language.
func (s *Service) SetSchoolLanguage(ctx context.Context, actor db.User, ip, code string) error {
	if !slices.ContainsFunc(Languages, func(l Field) bool { return l.Key == code }) {
		return Errors{"school_language": "Choose a language."}
	}
	before, err := s.SchoolLanguage(ctx)
	if err != nil {
		return err
	}
	if before == code {
		return nil
	}
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := db.SetSettingTx(ctx, tx, SettingSchoolLanguage, code); err != nil {
			return err
		}
		actorID := actor.ID
		return db.AuditTx(ctx, tx, &actorID, "settings.update", "settings:"+SettingSchoolLanguage, before, code, ip)
	})
}
