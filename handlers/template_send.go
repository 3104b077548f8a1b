package handlers

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/templates"
	"github.com/classline/classline/views/pages"
)

// Sending a template in a conversation: the panel under the reply box.

// templateSendForm builds the panel for conversation conv with template
// templateID chosen (0: none yet) and values typed so far (nil: prefilled
// from the contact).
func (s *Server) templateSendForm(c echo.Context, conv db.Conversation, templateID int64, typed map[string]string) (pages.TemplateSendForm, error) {
	ctx := c.Request().Context()
	f := pages.TemplateSendForm{ConversationID: conv.ID, Channel: conv.Channel, TemplateID: templateID}
	list, err := s.DB.SendableTemplates(ctx, conv.Channel == policy.ChannelWhatsApp)
	if err != nil {
		return f, err
	}
	details, err := s.DB.ContactDetailsByID(ctx, conv.Contact.ID)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return f, err
	}
	schoolLanguage, err := s.Templates.SchoolLanguage(ctx)
	if err != nil {
		return f, err
	}
	var names []string
	byName := map[string][]db.Template{}
	for _, t := range list {
		if _, ok := byName[t.LogicalName]; !ok {
			names = append(names, t.LogicalName)
		}
		byName[t.LogicalName] = append(byName[t.LogicalName], t)
	}
	var chosen *db.Template
	for _, n := range names {
		v, ok := templates.Variant(byName[n], details.Language, schoolLanguage, false)
		if !ok {
			continue
		}
		f.Options = append(f.Options, pages.TemplateOption{ID: v.ID, Name: n, Language: v.Language})
		// Any variant may be asked for by id (a link, an earlier form).
		if i := slices.IndexFunc(byName[n], func(t db.Template) bool { return t.ID == templateID }); i >= 0 {
			t := byName[n][i]
			chosen = &t
			if t.ID != v.ID {
				f.Options = append(f.Options, pages.TemplateOption{ID: t.ID, Name: n, Language: t.Language})
			}
		}
	}
	if chosen == nil {
		f.TemplateID = 0
		return f, nil
	}
	f.Content = templates.FromTypes(chosen.Types)
	nums, _ := templates.Variables(f.Content.Body)
	values := typed
	if values == nil {
		school, err := s.Messaging.SchoolName(ctx)
		if err != nil {
			return f, err
		}
		contact := templates.ContactValues(conv.Contact.Name, conv.Contact.ProfileName, details.Custom, school)
		values = templates.Prefill(nums, chosen.VariableMap, contact)
	}
	for _, n := range nums {
		k := strconv.Itoa(n)
		f.Vars = append(f.Vars, pages.TemplateVar{Num: k, Value: values[k], Field: chosen.VariableMap[k]})
	}
	return f, nil
}

func typedValues(c echo.Context) map[string]string {
	form, _ := c.FormParams()
	out := map[string]string{}
	for k, v := range form {
		if n, ok := strings.CutPrefix(k, "var_"); ok && len(v) > 0 {
			out[n] = v[0]
		}
	}
	return out
}

// templatePanel answers a template choice with its variables and preview.
func (s *Server) templatePanel(c echo.Context) error {
	conv, err := s.visibleConversation(c)
	if err != nil {
		return err
	}
	id, _ := strconv.ParseInt(c.QueryParam("template_id"), 10, 64)
	f, err := s.templateSendForm(c, conv, id, nil)
	if err != nil {
		return err
	}
	f.Open = true
	return render(c, http.StatusOK, pages.TemplateComposer(s.page(c, "", "inbox"), f), nil)
}

// templateSendPreview renders the bubble with the values typed so far.
func (s *Server) templateSendPreview(c echo.Context) error {
	conv, err := s.visibleConversation(c)
	if err != nil {
		return err
	}
	id, _ := strconv.ParseInt(c.FormValue("template_id"), 10, 64)
	f, err := s.templateSendForm(c, conv, id, typedValues(c))
	if err != nil {
		return err
	}
	values := map[string]string{}
	for _, v := range f.Vars {
		if strings.TrimSpace(v.Value) != "" {
			values[v.Num] = v.Value
		}
	}
	return render(c, http.StatusOK, pages.TemplatePreview(f.Content, values), nil)
}

func (s *Server) sendTemplate(c echo.Context) error {
	conv, err := s.visibleConversation(c)
	if err != nil {
		return err
	}
	id, _ := strconv.ParseInt(c.FormValue("template_id"), 10, 64)
	typed := typedValues(c)
	_, err = s.Messaging.SendTemplate(c.Request().Context(), *currentUser(c), conv.ID, messaging.TemplateInput{TemplateID: id, Values: typed, IP: c.RealIP()})
	var fe messaging.FieldErrors
	if errors.As(err, &fe) {
		f, ferr := s.templateSendForm(c, conv, id, typed)
		if ferr != nil {
			return ferr
		}
		f.Open = true
		f.Error = fe["template"]
		if f.Error == "" {
			f.Error = fe["body"]
		}
		for i := range f.Vars {
			f.Vars[i].Error = fe["var_"+f.Vars[i].Num]
		}
		return render(c, http.StatusUnprocessableEntity, pages.TemplateComposer(s.page(c, "", "inbox"), f), nil)
	}
	if err != nil {
		return err
	}
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/conversations/"+strconv.FormatInt(conv.ID, 10))
	}
	f, err := s.templateSendForm(c, conv, 0, nil)
	if err != nil {
		return err
	}
	f.Sent = true
	return render(c, http.StatusOK, pages.TemplateComposer(s.page(c, "", "inbox"), f), nil)
}

// approvedTemplateOptions lists every approved template variant, for New
// message (no contact yet to choose a language for).
func (s *Server) approvedTemplateOptions(c echo.Context) ([]pages.TemplateOption, error) {
	list, err := s.DB.SendableTemplates(c.Request().Context(), true)
	if err != nil {
		return nil, err
	}
	out := make([]pages.TemplateOption, 0, len(list))
	for _, t := range list {
		out = append(out, pages.TemplateOption{ID: t.ID, Name: t.LogicalName, Language: t.Language})
	}
	return out, nil
}

// fillComposeTemplate puts the chosen template's variables (with the values
// typed) and content into the New message form.
func (s *Server) fillComposeTemplate(c echo.Context, f *pages.ComposeForm, values map[string]string) error {
	t, err := s.DB.TemplateByID(c.Request().Context(), f.TemplateID)
	if errors.Is(err, db.ErrNotFound) {
		f.TemplateID = 0
		return nil
	}
	if err != nil {
		return err
	}
	f.TemplateContent = templates.FromTypes(t.Types)
	nums, _ := templates.Variables(f.TemplateContent.Body)
	f.TemplateVars = nil
	for _, n := range nums {
		k := strconv.Itoa(n)
		f.TemplateVars = append(f.TemplateVars, pages.TemplateVar{Num: k, Value: values[k], Field: t.VariableMap[k]})
	}
	return nil
}

// composeTemplate answers a template choice on New message.
func (s *Server) composeTemplate(c echo.Context) error {
	f := pages.ComposeForm{Errors: map[string]string{}}
	f.TemplateID, _ = strconv.ParseInt(c.QueryParam("template_id"), 10, 64)
	if f.TemplateID != 0 {
		// Values typed for another template mean nothing for this one.
		if err := s.fillComposeTemplate(c, &f, map[string]string{}); err != nil {
			return err
		}
	}
	return render(c, http.StatusOK, pages.ComposeTemplateFields(f), nil)
}

// composeTemplatePreview renders the New message template bubble as typed.
func (s *Server) composeTemplatePreview(c echo.Context) error {
	f := pages.ComposeForm{Errors: map[string]string{}}
	f.TemplateID, _ = strconv.ParseInt(c.FormValue("template_id"), 10, 64)
	values := typedValues(c)
	if err := s.fillComposeTemplate(c, &f, values); err != nil {
		return err
	}
	return render(c, http.StatusOK, pages.TemplatePreview(f.TemplateContent, values), nil)
}
