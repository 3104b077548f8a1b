package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/broadcastdraft"
	"github.com/classline/classline/internal/contacts"
	"github.com/classline/classline/internal/templates"
	"github.com/classline/classline/views/components"
	"github.com/classline/classline/views/pages"
)

// The broadcast wizard: five steps as htmx partials on one page. Each
// step's POST saves the draft (so a closed tab loses nothing, and
// wizard_step remembers where the person was) and answers with the next
// step, or the same step with its errors beside the fields (422).

// newBroadcast starts a draft and opens its first step.
// newBroadcastPage offers to start a draft: a GET changes nothing, so a
// link from anywhere (or a reload) cannot create drafts.
func (s *Server) newBroadcastPage(c echo.Context) error {
	p := s.page(c, "New broadcast", "broadcasts")
	return render(c, http.StatusOK, pages.BroadcastStart(p), pages.BroadcastStartContent(p))
}

func (s *Server) newBroadcast(c echo.Context) error {
	id, err := s.drafts().Create(c.Request().Context(), *currentUser(c), c.RealIP())
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/broadcasts/%d/edit?step=1", id))
}

// wizardPage shows a step: ?step=N, else where the person was.
func (s *Server) wizardPage(c echo.Context) error {
	id, err := broadcastID(c)
	if err != nil {
		return err
	}
	row, spec, err := s.drafts().Get(c.Request().Context(), *currentUser(c), id)
	if err != nil {
		return broadcastErr(err)
	}
	if row.Status != "draft" {
		return c.Redirect(http.StatusSeeOther, components.BroadcastURL(id))
	}
	step, err := strconv.Atoi(c.QueryParam("step"))
	if err != nil {
		step = row.WizardStep
	}
	v, err := s.wizardView(c, row, spec, broadcastdraft.ClampStep(step))
	if err != nil {
		return err
	}
	return s.renderWizard(c, http.StatusOK, v)
}

func (s *Server) renderWizard(c echo.Context, status int, v pages.WizardView) error {
	p := s.page(c, v.Row.Name, "broadcasts")
	return render(c, status, pages.BroadcastWizard(p, v), pages.BroadcastWizardContent(p, v))
}

// wizardView builds a step from the stored draft.
func (s *Server) wizardView(c echo.Context, row db.BroadcastRow, spec broadcast.Spec, step int) (pages.WizardView, error) {
	ctx := c.Request().Context()
	u := currentUser(c)
	svc := s.drafts()
	v := pages.WizardView{Row: row, Step: step, Errors: map[string]string{}, TZ: s.tz(), Now: s.Now(),
		Audience: broadcastdraft.AudienceInputOf(row.Name, spec.Audience),
		Content:  broadcastdraft.ContentInputOf(row.Purpose, row.Urgent, spec.Content),
		Sender:   broadcastdraft.SenderInputOf(row.DepartmentID, spec.Sender),
		Send:     broadcastdraft.SendInputOf(row.ScheduledAt, s.tz()),
	}
	var err error
	switch step {
	case broadcastdraft.StepAudience:
		if v.Groups, err = s.DB.ListGroups(ctx); err != nil {
			return v, err
		}
		if err := s.fillChosen(c, &v); err != nil {
			return v, err
		}
		aud := spec.Audience
		if len(aud.GroupIDs)+len(aud.ContactIDs)+len(aud.Entries) > 0 {
			sum, err := svc.CountAudience(ctx, row.Broadcast, aud)
			v.Count = countView(sum, err)
		}
	case broadcastdraft.StepContent:
		if v.Templates, err = s.approvedTemplateOptions(c); err != nil {
			return v, err
		}
		if v.Template, err = s.wizardTemplateVars(c, v.Content, nil, false); err != nil {
			return v, err
		}
		if v.Attachments, err = svc.Attachments(ctx, row.ID, spec.Content.MediaFileIDs); err != nil {
			return v, err
		}
	case broadcastdraft.StepSender:
		if err := s.fillSenders(c, &v, spec.Content); err != nil {
			return v, err
		}
	default:
		rv, err := svc.Review(ctx, *u, row.Broadcast)
		if err != nil {
			return v, broadcastErr(err)
		}
		v.Review = &rv
	}
	return v, nil
}

func countView(sum broadcastdraft.Summary, err error) pages.AudienceCountView {
	if err != nil {
		return pages.AudienceCountView{Error: "Classline could not count this audience right now."}
	}
	return pages.AudienceCountView{Summary: sum, Ready: true}
}

func (s *Server) fillChosen(c echo.Context, v *pages.WizardView) error {
	if len(v.Audience.ContactIDs) == 0 {
		return nil
	}
	rows, err := s.DB.ContactRowsByID(c.Request().Context(), v.Audience.ContactIDs)
	v.Chosen = rows
	return err
}

func (s *Server) fillSenders(c echo.Context, v *pages.WizardView, content broadcast.Content) error {
	ctx := c.Request().Context()
	svc := s.drafts()
	var err error
	if v.Departments, err = svc.Departments(ctx, *currentUser(c)); err != nil {
		return err
	}
	// Only the numbers of a department the person may choose are listed.
	dep := v.Sender.DepartmentID
	if dep != 0 && !slices.ContainsFunc(v.Departments, func(d db.Department) bool { return d.ID == dep }) {
		v.Candidates = map[string][]db.PoolSender{}
	} else if v.Candidates, err = svc.Candidates(ctx, dep); err != nil {
		return err
	}
	v.UsesWA, v.UsesSMS = broadcastdraft.UsesWhatsApp(content), broadcastdraft.UsesSMS(content)
	return nil
}

// wizardTemplateVars lists the chosen template's variables with their
// mapping as typed; defaults takes the template's own field map (a template
// just chosen).
func (s *Server) wizardTemplateVars(c echo.Context, in broadcastdraft.ContentInput, errs map[string]string, defaults bool) (pages.WizardTemplate, error) {
	t, err := s.drafts().Template(c.Request().Context(), in.TemplateID)
	if err != nil || t == nil || t.ApprovalStatus != templates.StatusApproved {
		return pages.WizardTemplate{}, err
	}
	wt := pages.WizardTemplate{ID: t.ID, Content: templates.FromTypes(t.Types)}
	nums, _ := templates.Variables(wt.Content.Body)
	for _, n := range nums {
		k := strconv.Itoa(n)
		vr := pages.WizardVar{Num: k, Field: in.VarFields[k], Value: in.VarValues[k], Error: errs["var_"+k]}
		if defaults {
			vr.Field = t.VariableMap[k]
		}
		wt.Vars = append(wt.Vars, vr)
	}
	return wt, nil
}

// Reading each step's form.

func formIDs(c echo.Context, name string) []int64 {
	form, _ := c.FormParams()
	var out []int64
	for _, v := range form[name] {
		if id, err := strconv.ParseInt(v, 10, 64); err == nil && id > 0 {
			out = append(out, id)
		}
	}
	return out
}

func audienceInput(c echo.Context) broadcastdraft.AudienceInput {
	return broadcastdraft.AudienceInput{Name: c.FormValue("name"), GroupIDs: formIDs(c, "group_id"),
		ContactIDs: formIDs(c, "contact_id"), Numbers: c.FormValue("numbers")}
}

func contentInput(c echo.Context) broadcastdraft.ContentInput {
	in := broadcastdraft.ContentInput{Purpose: c.FormValue("purpose"), Mode: c.FormValue("mode"), SMSBody: c.FormValue("sms_body"),
		Urgent: c.FormValue("urgent") != "", FallbackMinutes: c.FormValue("fallback_minutes"),
		FallbackUnlessRead: c.FormValue("fallback_unless_read") != "",
		VarFields:          map[string]string{}, VarValues: map[string]string{}, MediaFileIDs: formIDs(c, "media_file_id")}
	in.TemplateID, _ = strconv.ParseInt(c.FormValue("template_id"), 10, 64)
	form, _ := c.FormParams()
	for k, v := range form {
		if n, ok := strings.CutPrefix(k, "var_field_"); ok && len(v) > 0 {
			in.VarFields[n] = v[0]
		}
		if n, ok := strings.CutPrefix(k, "var_value_"); ok && len(v) > 0 {
			in.VarValues[n] = v[0]
		}
	}
	return in
}

func senderInput(c echo.Context) broadcastdraft.SenderInput {
	in := broadcastdraft.SenderInput{Strategy: c.FormValue("strategy")}
	in.DepartmentID, _ = strconv.ParseInt(c.FormValue("department_id"), 10, 64)
	in.WhatsAppSenderID, _ = strconv.ParseInt(c.FormValue("whatsapp_sender_id"), 10, 64)
	in.SMSSenderID, _ = strconv.ParseInt(c.FormValue("sms_sender_id"), 10, 64)
	in.ServiceID, _ = strconv.ParseInt(c.FormValue("service_id"), 10, 64)
	return in
}

func navOf(v string) broadcastdraft.Nav {
	switch v {
	case "back":
		return broadcastdraft.NavBack
	case "refresh", "csv", "attach":
		return broadcastdraft.NavStay
	}
	return broadcastdraft.NavNext
}

// addCSV appends the numbers of an uploaded CSV to the pasted ones.
func addCSV(c echo.Context, in *broadcastdraft.AudienceInput) (notice, problem string) {
	fh, err := c.FormFile("csv")
	if err != nil || fh.Size == 0 {
		return "", "Choose a CSV file to add its numbers."
	}
	f, err := fh.Open()
	if err != nil {
		return "", "Classline could not read that file. Try again."
	}
	defer f.Close()
	lines, err := broadcastdraft.ReadNumbersCSV(f)
	if err != nil {
		return "", "That file could not be read as CSV: save it from your spreadsheet as CSV and try again."
	}
	if len(lines) == 0 {
		return "", "The file has no numbers in it."
	}
	if strings.TrimSpace(in.Numbers) != "" && !strings.HasSuffix(in.Numbers, "\n") {
		in.Numbers += "\n"
	}
	in.Numbers += strings.Join(lines, "\n") + "\n"
	return fmt.Sprintf("Added %d numbers from %s to the list.", len(lines), filepath.Base(fh.Filename)), ""
}

// wizardStep saves a step and shows the next (or the same with its errors).
func (s *Server) wizardStep(c echo.Context) error {
	id, err := broadcastID(c)
	if err != nil {
		return err
	}
	step, err := strconv.Atoi(c.Param("step"))
	if err != nil || step != broadcastdraft.ClampStep(step) {
		return echo.NewHTTPError(http.StatusNotFound, "There is no such step.")
	}
	ctx := c.Request().Context()
	u, ip, svc := currentUser(c), c.RealIP(), s.drafts()
	navText := c.FormValue("nav")
	nav := navOf(navText)
	if step == broadcastdraft.StepSend && nav != broadcastdraft.NavBack {
		return s.wizardSend(c, id)
	}
	var (
		next     int
		errs     broadcastdraft.FieldErrors
		notice   string
		attached bool                    // a file was just attached (step 2)
		keep     func(*pages.WizardView) // puts back what was typed
	)
	switch step {
	case broadcastdraft.StepAudience:
		in := audienceInput(c)
		problem := ""
		if navText == "csv" {
			notice, problem = addCSV(c, &in)
		}
		next, errs, err = svc.SaveAudience(ctx, *u, ip, id, in, nav)
		if problem != "" {
			errs = broadcastdraft.FieldErrors{"csv": problem}
		} else if nav == broadcastdraft.NavStay {
			errs = nil
		}
		keep = func(v *pages.WizardView) { v.Audience = in }
	case broadcastdraft.StepContent:
		in := contentInput(c)
		// The file field: chosen (htmx posts it on change, with nav=attach),
		// or sent with Continue or Back by a browser without JavaScript.
		fh, ferr := c.FormFile("attachment")
		if ferr == nil && fh.Size > 0 {
			f, err := fh.Open()
			if err != nil {
				return fmt.Errorf("open the uploaded attachment: %w", err)
			}
			defer f.Close()
			in.Upload = &broadcastdraft.Upload{Filename: fh.Filename, DeclaredType: fh.Header.Get("Content-Type"), Body: f}
		}
		next, errs, err = svc.SaveContent(ctx, *u, ip, id, in, nav)
		if navText == "attach" {
			// Only the file's own problem: the rest is checked on Continue.
			switch {
			case in.Upload == nil:
				errs = broadcastdraft.FieldErrors{"media": "Choose a file to attach."}
			case errs["media"] != "":
				errs = broadcastdraft.FieldErrors{"media": errs["media"]}
			default:
				errs, attached = nil, true
			}
		}
		keep = func(v *pages.WizardView) {
			// As typed, but the attachments as stored: only those kept.
			ids := v.Content.MediaFileIDs
			v.Content = in
			v.Content.MediaFileIDs, v.Content.Upload = ids, nil
		}
	case broadcastdraft.StepSender:
		in := senderInput(c)
		next, errs, err = svc.SaveSender(ctx, *u, ip, id, in, nav)
		if nav == broadcastdraft.NavStay {
			errs = nil // a new department: its numbers are shown, nothing is wrong yet
		}
		keep = func(v *pages.WizardView) { v.Sender = in }
	default:
		next, err = svc.SaveStep(ctx, *u, ip, id, step, nav)
	}
	if errors.Is(err, broadcastdraft.ErrNotDraft) {
		return redirect(c, components.BroadcastURL(id))
	}
	if err != nil {
		return broadcastErr(err)
	}
	if !isHTMX(c) && next != step {
		return c.Redirect(http.StatusSeeOther, fmt.Sprintf("%s/edit?step=%d", components.BroadcastURL(id), next))
	}
	row, spec, err := svc.Get(ctx, *u, id)
	if err != nil {
		return broadcastErr(err)
	}
	v, err := s.wizardView(c, row, spec, next)
	if err != nil {
		return err
	}
	v.Notice = notice
	if attached && len(v.Attachments) > 0 {
		v.Notice = "Attached " + v.Attachments[len(v.Attachments)-1].Filename + "."
	}
	status := http.StatusOK
	if next == step && keep != nil {
		keep(&v)
		if len(errs) > 0 {
			v.Errors = errs
			status = http.StatusUnprocessableEntity
		}
		if err := s.refreshTyped(c, &v, spec); err != nil {
			return err
		}
	}
	if isHTMX(c) {
		c.Response().Header().Set("HX-Push-Url", fmt.Sprintf("%s/edit?step=%d", components.BroadcastURL(id), next))
	}
	return s.renderWizard(c, status, v)
}

// refreshTyped re-reads what depends on the typed (not the stored) values
// of the step shown again: chosen contacts, template variables, senders.
func (s *Server) refreshTyped(c echo.Context, v *pages.WizardView, spec broadcast.Spec) error {
	var err error
	switch v.Step {
	case broadcastdraft.StepAudience:
		v.Chosen = nil
		return s.fillChosen(c, v)
	case broadcastdraft.StepContent:
		v.Template, err = s.wizardTemplateVars(c, v.Content, v.Errors, false)
		return err
	case broadcastdraft.StepSender:
		return s.fillSenders(c, v, spec.Content)
	}
	return nil
}

// wizardSend is step 5: send now, schedule, or ask for approval.
func (s *Server) wizardSend(c echo.Context, id int64) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	in := broadcastdraft.SendInput{When: c.FormValue("when"), Date: c.FormValue("schedule_date"), Time: c.FormValue("schedule_time")}
	out, errs, err := s.drafts().Submit(ctx, *u, c.RealIP(), id, in)
	if errors.Is(err, broadcastdraft.ErrNotDraft) {
		return redirect(c, components.BroadcastURL(id))
	}
	if err != nil {
		return broadcastErr(err)
	}
	if len(errs) > 0 {
		row, spec, err := s.drafts().Get(ctx, *u, id)
		if err != nil {
			return broadcastErr(err)
		}
		v, err := s.wizardView(c, row, spec, broadcastdraft.StepSend)
		if err != nil {
			return err
		}
		v.Send, v.Errors = in, errs
		return s.renderWizard(c, http.StatusUnprocessableEntity, v)
	}
	done := map[broadcastdraft.Outcome]string{broadcastdraft.OutcomeStarted: "sent", broadcastdraft.OutcomeScheduled: "scheduled",
		broadcastdraft.OutcomeApproval: "approval"}[out]
	return redirect(c, components.BroadcastURL(id)+"?done="+done)
}

// wizardAudienceCount counts step 1 as typed (and saves it, unaudited).
func (s *Server) wizardAudienceCount(c echo.Context) error {
	id, err := broadcastID(c)
	if err != nil {
		return err
	}
	in := audienceInput(c)
	sum, err := s.drafts().AudienceCount(c.Request().Context(), *currentUser(c), c.RealIP(), id, in)
	switch {
	case errors.Is(err, broadcastdraft.ErrNotDraft):
		return c.NoContent(http.StatusNoContent)
	case errors.Is(err, broadcastdraft.ErrNotFound):
		return broadcastErr(err)
	}
	cv := countView(sum, err)
	if err != nil {
		s.Log.Warn("broadcast audience count", "broadcast_id", id, "err", err)
	}
	if len(in.GroupIDs)+len(in.ContactIDs) == 0 && strings.TrimSpace(in.Numbers) == "" {
		cv = pages.AudienceCountView{}
	}
	return render(c, http.StatusOK, pages.BroadcastAudienceCount(cv), nil)
}

// wizardContacts searches contacts to add in step 1; the contacts already
// ticked come back as the chosen list (out of band), so a new search keeps them.
func (s *Server) wizardContacts(c echo.Context) error {
	id, err := broadcastID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, _, err := s.drafts().Get(ctx, *currentUser(c), id); err != nil {
		return broadcastErr(err)
	}
	q := strings.TrimSpace(c.QueryParam("contact_q"))
	chosenIDs := formIDs(c, "contact_id")
	var chosen, found []db.ContactRow
	if len(chosenIDs) > 0 {
		if chosen, err = s.DB.ContactRowsByID(ctx, chosenIDs); err != nil {
			return err
		}
	}
	if q != "" {
		svc := s.contactsSvc()
		f, err := svc.Filter(ctx, contacts.Query{Q: q}, 10+len(chosenIDs))
		if err != nil {
			return err
		}
		rows, err := s.DB.ListContacts(ctx, f)
		if err != nil {
			return err
		}
		for _, r := range rows {
			taken := false
			for _, id := range chosenIDs {
				taken = taken || id == r.ID
			}
			if !taken && len(found) < 10 {
				found = append(found, r)
			}
		}
	}
	return render(c, http.StatusOK, pages.BroadcastContactResults(q, found, chosen), nil)
}

// wizardTemplate answers a template choice with its variables, mapped as
// the template's own field map says.
func (s *Server) wizardTemplate(c echo.Context) error {
	id, err := broadcastID(c)
	if err != nil {
		return err
	}
	if _, _, err := s.drafts().Get(c.Request().Context(), *currentUser(c), id); err != nil {
		return broadcastErr(err)
	}
	in := broadcastdraft.ContentInput{}
	in.TemplateID, _ = strconv.ParseInt(c.QueryParam("template_id"), 10, 64)
	wt, err := s.wizardTemplateVars(c, in, nil, true)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, pages.BroadcastTemplateVars(wt, nil), nil)
}

// wizardSMSCount re-renders the SMS counter and keeps the text typed.
func (s *Server) wizardSMSCount(c echo.Context) error {
	id, err := broadcastID(c)
	if err != nil {
		return err
	}
	body := c.FormValue("sms_body")
	err = s.drafts().AutosaveSMS(c.Request().Context(), *currentUser(c), c.RealIP(), id, body)
	switch {
	case errors.Is(err, broadcastdraft.ErrNotFound):
		return broadcastErr(err)
	case err != nil && !errors.Is(err, broadcastdraft.ErrNotDraft):
		s.Log.Warn("broadcast autosave", "broadcast_id", id, "err", err)
	}
	return render(c, http.StatusOK, pages.BroadcastSMSCount(body), nil)
}

// wizardRemoveAttachment takes a file off a draft. htmx posts the content
// step's fields along: the step comes back with them as typed (unsaved, as
// before the click) and the attachments as stored; a plain form (its own
// small form, without JavaScript) goes back to the step as saved.
func (s *Server) wizardRemoveAttachment(c echo.Context) error {
	id, err := broadcastID(c)
	if err != nil {
		return err
	}
	fileID, _ := strconv.ParseInt(c.FormValue("file_id"), 10, 64)
	ctx := c.Request().Context()
	u, svc := currentUser(c), s.drafts()
	err = svc.RemoveAttachment(ctx, *u, c.RealIP(), id, fileID)
	if errors.Is(err, broadcastdraft.ErrNotDraft) {
		return redirect(c, components.BroadcastURL(id))
	}
	if err != nil {
		return broadcastErr(err)
	}
	stepURL := fmt.Sprintf("%s/edit?step=%d", components.BroadcastURL(id), broadcastdraft.StepContent)
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, stepURL)
	}
	row, spec, err := svc.Get(ctx, *u, id)
	if err != nil {
		return broadcastErr(err)
	}
	v, err := s.wizardView(c, row, spec, broadcastdraft.StepContent)
	if err != nil {
		return err
	}
	if c.FormValue("mode") != "" {
		ids := v.Content.MediaFileIDs
		v.Content = contentInput(c)
		v.Content.MediaFileIDs = ids
		if err := s.refreshTyped(c, &v, spec); err != nil {
			return err
		}
	}
	v.Notice = "Attachment removed."
	c.Response().Header().Set("HX-Push-Url", stepURL)
	return s.renderWizard(c, http.StatusOK, v)
}
