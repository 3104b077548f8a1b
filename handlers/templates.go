package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/templates"
	"github.com/classline/classline/views/pages"
)

// The template library (admins): Twilio Content templates and their
// WhatsApp approval.

func (s *Server) templateRoutes(admin *echo.Group) {
	admin.GET("/templates", s.templatesPage)
	admin.POST("/templates/sync", s.syncTemplates)
	admin.GET("/templates/new", s.newTemplatePage)
	admin.POST("/templates", s.createTemplate)
	admin.POST("/templates/preview", s.previewTemplate)
	admin.GET("/templates/:id", s.templatePage)
	admin.GET("/templates/:id/status", s.templateStatus)
	admin.POST("/templates/:id/submit", s.submitTemplate)
	admin.POST("/templates/:id/fields", s.templateFields)
	admin.POST("/templates/:id/delete", s.deleteTemplate)
}

func (s *Server) renderTemplates(c echo.Context, status int, v pages.TemplatesView) error {
	list, err := s.DB.ListTemplates(c.Request().Context(), db.TemplateFilter{Status: v.Status, Search: v.Search})
	if err != nil {
		return err
	}
	for _, t := range list {
		if n := len(v.Groups); n > 0 && v.Groups[n-1].Name == t.LogicalName {
			v.Groups[n-1].Variants = append(v.Groups[n-1].Variants, t)
			continue
		}
		v.Groups = append(v.Groups, pages.TemplateGroup{Name: t.LogicalName, Variants: []db.Template{t}})
	}
	v.Now = s.Now()
	p := s.page(c, "Templates", "templates")
	return render(c, status, pages.Templates(p, v), pages.TemplatesContent(p, v))
}

func (s *Server) templatesPage(c echo.Context) error {
	v := pages.TemplatesView{Status: c.QueryParam("status"), Search: strings.TrimSpace(c.QueryParam("q"))}
	switch c.QueryParam("done") {
	case "deleted":
		v.Notice = "Template deleted. WhatsApp keeps its name locked for about 30 days."
	}
	return s.renderTemplates(c, http.StatusOK, v)
}

func (s *Server) syncTemplates(c echo.Context) error {
	res, err := s.Templates.Sync(c.Request().Context())
	if err != nil {
		s.Log.Warn("template sync", "err", err)
		return s.renderTemplates(c, http.StatusBadGateway, pages.TemplatesView{
			Error: "Twilio could not be asked just now; the list shows what was last known. Try again in a minute."})
	}
	uid := currentUser(c).ID
	if err := s.DB.Audit(c.Request().Context(), &uid, "templates.sync", "", nil, res, c.RealIP()); err != nil {
		return err
	}
	return s.renderTemplates(c, http.StatusOK, pages.TemplatesView{Notice: fmt.Sprintf(
		"Checked with Twilio: %d templates, %d new, %d with a new approval status, %d deleted in Twilio.", res.Seen, res.New, res.Changed, res.Gone)})
}

func (s *Server) renderTemplateForm(c echo.Context, status int, f pages.TemplateForm) error {
	if f.Errors == nil {
		f.Errors = map[string]string{}
	}
	if f.Draft.Samples == nil {
		f.Draft.Samples = map[string]string{}
	}
	if f.Draft.Fields == nil {
		f.Draft.Fields = map[string]string{}
	}
	f.Variables, _ = templates.Variables(f.Draft.Body)
	p := s.page(c, "New template", "templates")
	return render(c, status, pages.TemplateNew(p, f), pages.TemplateNewContent(p, f))
}

// newTemplatePage is a blank form, a copy of a rejected template
// (?from=id) or a new language of one (?variant_of=id).
func (s *Server) newTemplatePage(c echo.Context) error {
	f := pages.TemplateForm{Draft: templates.Draft{Language: "en", Kind: templates.KindText, Category: templates.CategoryUtility}}
	from, variantOf := c.QueryParam("from"), c.QueryParam("variant_of")
	if id, err := strconv.ParseInt(from+variantOf, 10, 64); err == nil && (from == "" || variantOf == "") {
		t, err := s.DB.TemplateByID(c.Request().Context(), id)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
		if err == nil {
			f.Draft = templates.DraftOf(templates.FromTypes(t.Types), t.LogicalName, t.Language, t.Category, t.Variables, t.VariableMap)
			if from != "" {
				f.Draft.Name = t.LogicalName + "_v2"
				f.From = "A copy of " + t.LogicalName + ". Correct what WhatsApp refused"
				if t.RejectionReason != "" {
					f.From += " (" + t.RejectionReason + ")"
				}
				f.From += ", then create it and submit it again."
			} else {
				f.Draft.Language = ""
				f.From = "A new language for " + t.LogicalName + ": choose the language and translate the message and buttons."
			}
			fillFormButtons(&f)
		}
	}
	return s.renderTemplateForm(c, http.StatusOK, f)
}

// fillFormButtons puts the draft's buttons into the form's inputs.
func fillFormButtons(f *pages.TemplateForm) {
	var lines []string
	links := 0
	for _, a := range f.Draft.Actions {
		switch a.Type {
		case templates.ActionURL:
			if links < len(f.Links) {
				f.Links[links] = a
				links++
			}
		case templates.ActionPhone:
			f.Phone = a
		default:
			lines = append(lines, a.Title)
		}
	}
	f.QuickReplies = strings.Join(lines, "\n")
}

func templateForm(c echo.Context) pages.TemplateForm {
	f := pages.TemplateForm{Draft: templates.Draft{
		Name: strings.TrimSpace(c.FormValue("name")), Language: c.FormValue("language"), Category: c.FormValue("category"),
		Kind: c.FormValue("kind"), Body: c.FormValue("body"), MediaURL: strings.TrimSpace(c.FormValue("media_url")),
		Samples: map[string]string{}, Fields: map[string]string{},
	}}
	form, _ := c.FormParams()
	for k, v := range form {
		if n, ok := strings.CutPrefix(k, "sample_"); ok && len(v) > 0 {
			f.Draft.Samples[n] = v[0]
		}
		if n, ok := strings.CutPrefix(k, "field_"); ok && len(v) > 0 {
			f.Draft.Fields[n] = v[0]
		}
	}
	f.QuickReplies = c.FormValue("quick_replies")
	for i := range f.Links {
		n := strconv.Itoa(i + 1)
		f.Links[i] = templates.Action{Type: templates.ActionURL, Title: c.FormValue("link_title_" + n), URL: c.FormValue("link_url_" + n)}
	}
	f.Phone = templates.Action{Type: templates.ActionPhone, Title: c.FormValue("phone_title"), Phone: c.FormValue("phone_number")}
	f.FormActions()
	return f
}

func (s *Server) createTemplate(c echo.Context) error {
	f := templateForm(c)
	id, err := s.Templates.Create(c.Request().Context(), *currentUser(c), c.RealIP(), f.Draft)
	var errs templates.Errors
	if errors.As(err, &errs) {
		f.Errors = errs
		return s.renderTemplateForm(c, http.StatusUnprocessableEntity, f)
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/templates/%d?done=created", id))
}

// previewTemplate answers the editor as it is typed in: the bubble, or the
// variables' inputs (when the body's variables changed).
func (s *Server) previewTemplate(c echo.Context) error {
	f := templateForm(c)
	f.Errors = map[string]string{}
	f.Variables, _ = templates.Variables(f.Draft.Body)
	if c.QueryParam("part") == "variables" {
		return render(c, http.StatusOK, pages.TemplateVariables(f), nil)
	}
	return render(c, http.StatusOK, pages.TemplatePreview(templates.Content{Kind: f.Draft.Kind, Body: f.Draft.Body,
		MediaURL: f.Draft.MediaURL, Actions: f.Draft.Actions}, f.Draft.Samples), nil)
}

func (s *Server) templateParam(c echo.Context) (db.Template, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return db.Template{}, echo.NewHTTPError(http.StatusNotFound, "There is no such template.")
	}
	t, err := s.DB.TemplateByID(c.Request().Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		return t, echo.NewHTTPError(http.StatusNotFound, "There is no such template; it may have been deleted.")
	}
	return t, err
}

func (s *Server) templateView(c echo.Context, t db.Template) (pages.TemplateView, error) {
	v := pages.TemplateView{T: t, Content: templates.FromTypes(t.Types), Errors: map[string]string{}, Now: s.Now()}
	v.Nums, _ = templates.Variables(v.Content.Body)
	var err error
	v.Variants, err = s.DB.TemplateVariants(c.Request().Context(), t.LogicalName)
	return v, err
}

func (s *Server) renderTemplate(c echo.Context, status int, v pages.TemplateView) error {
	p := s.page(c, v.T.LogicalName, "templates")
	return render(c, status, pages.TemplatePage(p, v), pages.TemplatePageContent(p, v))
}

func (s *Server) templatePage(c echo.Context) error {
	t, err := s.templateParam(c)
	if err != nil {
		return err
	}
	v, err := s.templateView(c, t)
	if err != nil {
		return err
	}
	switch c.QueryParam("done") {
	case "created":
		v.Notice = "Template created at Twilio. Check the preview, then submit it for WhatsApp's approval."
	case "submitted":
		v.Notice = "Submitted to WhatsApp."
	case "fields":
		v.Notice = "Saved."
	}
	return s.renderTemplate(c, http.StatusOK, v)
}

// templateStatus is polled while WhatsApp reviews: it asks Twilio and
// answers the approval card.
func (s *Server) templateStatus(c echo.Context) error {
	t, err := s.templateParam(c)
	if err != nil {
		return err
	}
	if fresh, err := s.Templates.Refresh(c.Request().Context(), t.ID); err != nil {
		// The card keeps polling; the last known status stays on screen.
		s.Log.Warn("template refresh", "template_id", t.ID, "err", err)
	} else {
		t = fresh
	}
	v, err := s.templateView(c, t)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, pages.TemplateApproval(s.page(c, "", "templates"), v), nil)
}

func (s *Server) templateAction(c echo.Context, do func(db.Template) error, done string) error {
	t, err := s.templateParam(c)
	if err != nil {
		return err
	}
	err = do(t)
	var errs templates.Errors
	if errors.As(err, &errs) {
		v, verr := s.templateView(c, t)
		if verr != nil {
			return verr
		}
		v.Errors, v.Error = errs, errs["twilio"]
		return s.renderTemplate(c, http.StatusUnprocessableEntity, v)
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, done)
}

func (s *Server) submitTemplate(c echo.Context) error {
	return s.templateAction(c, func(t db.Template) error {
		return s.Templates.Submit(c.Request().Context(), *currentUser(c), c.RealIP(), t.ID, c.FormValue("category"))
	}, fmt.Sprintf("/templates/%s?done=submitted", c.Param("id")))
}

func (s *Server) templateFields(c echo.Context) error {
	return s.templateAction(c, func(t db.Template) error {
		fields := map[string]string{}
		form, _ := c.FormParams()
		for k, v := range form {
			if n, ok := strings.CutPrefix(k, "field_"); ok && len(v) > 0 {
				fields[n] = v[0]
			}
		}
		return s.Templates.SetFields(c.Request().Context(), *currentUser(c), c.RealIP(), t.ID, fields)
	}, fmt.Sprintf("/templates/%s?done=fields", c.Param("id")))
}

func (s *Server) deleteTemplate(c echo.Context) error {
	return s.templateAction(c, func(t db.Template) error {
		return s.Templates.Delete(c.Request().Context(), *currentUser(c), c.RealIP(), t.ID)
	}, "/templates?done=deleted")
}
