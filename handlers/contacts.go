package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/contacts"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/views/pages"
)

// Contacts: every signed-in user may look; admins edit, record consent,
// manage groups and export.

// contactRoutes registers the contacts and groups pages.
func (s *Server) contactRoutes(app *echo.Group) {
	admin := s.contactsAdminOnly
	app.GET("/contacts", s.contactsPage)
	app.POST("/contacts", s.createContact, admin)
	app.GET("/contacts/export.csv", s.exportContacts, admin)
	// Merging is a change like any other: admins only, and so is the list
	// of duplicates, which exists to be merged.
	app.GET("/contacts/duplicates", s.contactDuplicatesPage, admin)
	app.GET("/contacts/:id", s.contactPage)
	app.POST("/contacts/:id", s.updateContact, admin)
	app.POST("/contacts/:id/consent", s.recordConsent, admin)
	app.POST("/contacts/:id/links", s.linkContact, admin)
	app.POST("/contacts/:id/links/:other/delete", s.unlinkContact, admin)
	app.POST("/contacts/:id/groups", s.addContactToGroup, admin)
	app.POST("/contacts/:id/groups/:group/delete", s.removeContactFromGroup, admin)
	app.POST("/contacts/:id/phones", s.addContactPhone, admin)
	app.POST("/contacts/:id/phones/delete", s.removeContactPhone, admin)
	app.POST("/contacts/:id/phones/main", s.makeContactPhoneMain, admin)
	app.GET("/contacts/:id/merge", s.contactMergePreview, admin)
	app.POST("/contacts/:id/merge", s.mergeContact, admin)
	s.groupRoutes(app, admin)
}

func (s *Server) contactsAdminOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if u := currentUser(c); u == nil || !u.IsAdmin() {
			return echo.NewHTTPError(http.StatusForbidden, "Only admins can change contacts and groups.")
		}
		return next(c)
	}
}

func (s *Server) contactsSvc() *contacts.Service { return contacts.New(s.DB, s.Config.DefaultRegion) }

func contactsQuery(c echo.Context) contacts.Query {
	q := contacts.Query{Q: c.QueryParam("q"), Role: c.QueryParam("role"), Consent: c.QueryParam("consent"),
		Channel: c.QueryParam("channel"), Cursor: c.QueryParam("after")}
	q.GroupID, _ = strconv.ParseInt(c.QueryParam("group"), 10, 64)
	return q
}

func (s *Server) contactsView(c echo.Context, q contacts.Query, form pages.NewContactForm) (pages.ContactsView, error) {
	ctx := c.Request().Context()
	svc := s.contactsSvc()
	v := pages.ContactsView{Query: q, CanEdit: currentUser(c).IsAdmin(), Form: form}
	if v.Form.Errors == nil {
		v.Form.Errors = map[string]string{}
	}
	if v.Form.Role == "" {
		v.Form.Role = "guardian"
	}
	f, err := svc.Filter(ctx, q, contacts.PageSize)
	if err != nil {
		return v, err
	}
	if v.Page, err = svc.List(ctx, f); err != nil {
		return v, err
	}
	if f.After != nil && isHTMX(c) {
		return v, nil // htmx's "Load more" needs only the rows
	}
	if v.Count, err = s.DB.CountContacts(ctx, f); err != nil {
		return v, err
	}
	if v.Total, err = s.DB.CountContacts(ctx, db.ContactFilter{}); err != nil {
		return v, err
	}
	v.Groups, err = s.DB.GroupChoices(ctx)
	return v, err
}

// contactsPage is the list. htmx asks for parts of it: the results under
// the filters (search as you type) or the next rows ("Load more").
func (s *Server) contactsPage(c echo.Context) error {
	q := contactsQuery(c)
	v, err := s.contactsView(c, q, pages.NewContactForm{})
	if err != nil {
		return err
	}
	p := s.page(c, "Contacts", "contacts")
	partial := pages.ContactsContent(p, v)
	switch {
	case q.Cursor != "":
		partial = pages.ContactRows(p, v.Page.Rows, pages.ContactsMoreURL(q, v.Page.Next), nil)
	case c.Request().Header.Get("HX-Target") == "contact-results":
		partial = pages.ContactResults(p, v)
	}
	return render(c, http.StatusOK, pages.Contacts(p, v), partial)
}

func (s *Server) createContact(c echo.Context) error {
	in := contacts.Input{Name: c.FormValue("name"), Phone: c.FormValue("phone"), Role: c.FormValue("role"), WhatsAppCapable: true}
	id, err := s.contactsSvc().Create(c.Request().Context(), *currentUser(c), in, c.RealIP())
	var fe contacts.FieldErrors
	if errors.As(err, &fe) {
		v, verr := s.contactsView(c, contacts.Query{}, pages.NewContactForm{Name: in.Name, Phone: in.Phone, Role: in.Role, Errors: fe})
		if verr != nil {
			return verr
		}
		p := s.page(c, "Contacts", "contacts")
		return render(c, http.StatusUnprocessableEntity, pages.Contacts(p, v), pages.ContactsContent(p, v))
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/contacts/"+strconv.FormatInt(id, 10)+"?done=created")
}

func (s *Server) exportContacts(c echo.Context) error {
	q := contactsQuery(c)
	q.Cursor = ""
	svc := s.contactsSvc()
	f, err := svc.Filter(c.Request().Context(), q, 0)
	if err != nil {
		return err
	}
	return s.sendCSV(c, "contacts.csv", func(w *echo.Response) error { return svc.Export(c.Request().Context(), w, f) })
}

// sendCSV streams a CSV download.
func (s *Server) sendCSV(c echo.Context, name string, write func(*echo.Response) error) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	c.Response().WriteHeader(http.StatusOK)
	return write(c.Response())
}

func (s *Server) contactParam(c echo.Context) (db.ContactDetail, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return db.ContactDetail{}, echo.NewHTTPError(http.StatusNotFound, "There is no such contact.")
	}
	ct, err := s.DB.ContactByID(c.Request().Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		return ct, echo.NewHTTPError(http.StatusNotFound, "There is no such contact.")
	}
	return ct, err
}

func (s *Server) contactPage(c echo.Context) error {
	ct, err := s.contactParam(c)
	if err != nil {
		// An old link to a merged contact leads to the one it became.
		if id, perr := strconv.ParseInt(c.Param("id"), 10, 64); perr == nil {
			if into, merr := s.DB.MergedInto(c.Request().Context(), id); merr == nil {
				return c.Redirect(http.StatusSeeOther, "/contacts/"+strconv.FormatInt(into, 10))
			}
		}
		return err
	}
	v, err := s.contactView(c, ct)
	if err != nil {
		return err
	}
	v.Notice = contactNotices[c.QueryParam("done")]
	return s.renderContact(c, http.StatusOK, v)
}

func contactFormOf(ct db.ContactDetail) pages.ContactForm {
	return pages.ContactForm{Name: ct.Name, Role: ct.Role, Language: ct.Language, PreferredChannel: ct.PreferredChannel,
		WhatsAppCapable: ct.WhatsAppCapable, CustomFields: ct.CustomFields, Errors: map[string]string{}}
}

// contactView gathers the contact page; the forms come from the caller
// when one is re-shown with its errors.
func (s *Server) contactView(c echo.Context, ct db.ContactDetail) (pages.ContactView, error) {
	ctx := c.Request().Context()
	u := currentUser(c)
	v := pages.ContactView{Contact: ct, Form: contactFormOf(ct), CanEdit: u.IsAdmin(), Now: s.Now(),
		LinkForm: pages.ContactLinkForm{Errors: map[string]string{}}, ConsentForm: pages.ConsentForm{Errors: map[string]string{}},
		PhoneForm: pages.ContactPhoneForm{Label: "mobile", WhatsApp: true, Errors: map[string]string{}},
		MergeForm: pages.MergeForm{Errors: map[string]string{}}}
	var err error
	if v.Phones, err = s.DB.ContactPhones(ctx, ct.ID); err != nil {
		return v, err
	}
	if v.Links, err = s.DB.ContactLinks(ctx, ct.ID); err != nil {
		return v, err
	}
	// Staff see only their departments' conversations; the rest are counted.
	all, err := s.DB.ContactConversations(ctx, ct.ID, nil)
	if err != nil {
		return v, err
	}
	if v.Conversations, err = s.DB.ContactConversations(ctx, ct.ID, messaging.DepartmentScope(*u)); err != nil {
		return v, err
	}
	v.HiddenConversations = len(all) - len(v.Conversations)
	if v.Groups, err = s.DB.ContactGroups(ctx, ct.ID); err != nil {
		return v, err
	}
	if v.CanEdit {
		groups, err := s.DB.GroupChoices(ctx)
		if err != nil {
			return v, err
		}
		for _, g := range groups {
			if !g.Smart() {
				v.StaticGroups = append(v.StaticGroups, g)
			}
		}
	}
	// The ledger is per number: the history covers every number the
	// contact has (a merged duplicate's numbers included).
	numbers := []string{ct.Phone}
	for _, n := range v.Phones {
		if !n.Primary {
			numbers = append(numbers, n.Phone)
		}
	}
	v.Consent, err = s.DB.ConsentHistory(ctx, numbers...)
	return v, err
}

func (s *Server) renderContact(c echo.Context, status int, v pages.ContactView) error {
	p := s.page(c, pages.ContactTitle(v.Contact), "contacts")
	return render(c, status, pages.ContactPage(p, v), pages.ContactPageContent(p, v))
}

var contactNotices = map[string]string{
	"created":   "Contact added.",
	"saved":     "Changes saved.",
	"consent":   "Consent recorded.",
	"linked":    "Linked.",
	"unlinked":  "Link removed.",
	"grouped":   "Added to the group.",
	"ungrouped": "Removed from the group.",
	"phone":     "Number added.",
	"unphoned":  "Number removed.",
	"main":      "Main number changed.",
	"merged":    "Contacts merged.",
}

// contactFailed re-renders the contact page with a form's errors (422), or
// passes other errors on.
func (s *Server) contactFailed(c echo.Context, ct db.ContactDetail, err error, set func(*pages.ContactView, contacts.FieldErrors)) error {
	var fe contacts.FieldErrors
	if !errors.As(err, &fe) {
		if errors.Is(err, db.ErrNotFound) {
			return echo.NewHTTPError(http.StatusNotFound, "There is no such contact.")
		}
		return err
	}
	v, verr := s.contactView(c, ct)
	if verr != nil {
		return verr
	}
	set(&v, fe)
	return s.renderContact(c, http.StatusUnprocessableEntity, v)
}

func (s *Server) contactDone(c echo.Context, id int64, done, anchor string) error {
	return c.Redirect(http.StatusSeeOther, "/contacts/"+strconv.FormatInt(id, 10)+"?done="+done+anchor)
}

func (s *Server) updateContact(c echo.Context) error {
	ct, err := s.contactParam(c)
	if err != nil {
		return err
	}
	in := contacts.Input{Name: c.FormValue("name"), Role: c.FormValue("role"), Language: c.FormValue("language"),
		PreferredChannel: c.FormValue("preferred_channel"), WhatsAppCapable: c.FormValue("whatsapp_capable") != "",
		CustomFields: map[string]string{}}
	for _, k := range contacts.CustomKeys {
		in.CustomFields[k] = c.FormValue(k)
	}
	if err := s.contactsSvc().Update(c.Request().Context(), *currentUser(c), ct.ID, in, c.RealIP()); err != nil {
		return s.contactFailed(c, ct, err, func(v *pages.ContactView, fe contacts.FieldErrors) {
			v.Form = pages.ContactForm{Name: in.Name, Role: in.Role, Language: in.Language, PreferredChannel: in.PreferredChannel,
				WhatsAppCapable: in.WhatsAppCapable, CustomFields: in.CustomFields, Errors: fe}
		})
	}
	return s.contactDone(c, ct.ID, "saved", "")
}

func (s *Server) recordConsent(c echo.Context) error {
	ct, err := s.contactParam(c)
	if err != nil {
		return err
	}
	in := contacts.ConsentInput{Phone: c.FormValue("phone"), Purpose: c.FormValue("purpose"), OptedIn: c.FormValue("opted_in"), Reason: c.FormValue("reason")}
	if err := s.contactsSvc().RecordConsent(c.Request().Context(), *currentUser(c), ct.ID, in, c.RealIP()); err != nil {
		return s.contactFailed(c, ct, err, func(v *pages.ContactView, fe contacts.FieldErrors) {
			v.ConsentForm = pages.ConsentForm{Phone: in.Phone, Purpose: in.Purpose, OptedIn: in.OptedIn, Reason: in.Reason, Errors: fe}
		})
	}
	return s.contactDone(c, ct.ID, "consent", "#consent")
}

func (s *Server) linkContact(c echo.Context) error {
	ct, err := s.contactParam(c)
	if err != nil {
		return err
	}
	in := contacts.LinkInput{Phone: c.FormValue("phone"), Relation: c.FormValue("relation")}
	in.OtherID, _ = strconv.ParseInt(c.FormValue("contact_id"), 10, 64)
	if err := s.contactsSvc().Link(c.Request().Context(), *currentUser(c), ct.ID, in, c.RealIP()); err != nil {
		return s.contactFailed(c, ct, err, func(v *pages.ContactView, fe contacts.FieldErrors) {
			v.LinkForm = pages.ContactLinkForm{Phone: in.Phone, Relation: in.Relation, Errors: fe}
		})
	}
	return s.contactDone(c, ct.ID, "linked", "#links")
}

func (s *Server) unlinkContact(c echo.Context) error {
	ct, err := s.contactParam(c)
	if err != nil {
		return err
	}
	other, _ := strconv.ParseInt(c.Param("other"), 10, 64)
	if err := s.contactsSvc().Unlink(c.Request().Context(), *currentUser(c), ct.ID, other, c.RealIP()); err != nil {
		return err
	}
	return s.contactDone(c, ct.ID, "unlinked", "#links")
}

func (s *Server) addContactToGroup(c echo.Context) error {
	ct, err := s.contactParam(c)
	if err != nil {
		return err
	}
	g, err := s.groupByID(c, c.FormValue("group"))
	if err != nil {
		return s.contactFailed(c, ct, contacts.FieldErrors{"group": "Choose a group."}, func(v *pages.ContactView, fe contacts.FieldErrors) {
			v.GroupError = fe["group"]
		})
	}
	if err := s.contactsSvc().AddMember(c.Request().Context(), *currentUser(c), g, ct.ID, c.RealIP()); err != nil {
		return s.contactFailed(c, ct, err, func(v *pages.ContactView, fe contacts.FieldErrors) { v.GroupError = fe["group"] })
	}
	return s.contactDone(c, ct.ID, "grouped", "#groups")
}

func (s *Server) removeContactFromGroup(c echo.Context) error {
	ct, err := s.contactParam(c)
	if err != nil {
		return err
	}
	g, err := s.groupByID(c, c.Param("group"))
	if err != nil {
		return err
	}
	if err := s.contactsSvc().RemoveMember(c.Request().Context(), *currentUser(c), g, ct.ID, c.RealIP()); err != nil {
		if errors.Is(err, contacts.ErrSmartGroup) {
			return echo.NewHTTPError(http.StatusConflict, "This is a smart group: change the contact or the group's conditions instead.")
		}
		return err
	}
	return s.contactDone(c, ct.ID, "ungrouped", "#groups")
}

// csvName makes a download name from a group's name.
func csvName(name string) string {
	b := strings.Builder{}
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" {
		out = "group"
	}
	return out + ".csv"
}

func (s *Server) addContactPhone(c echo.Context) error {
	ct, err := s.contactParam(c)
	if err != nil {
		return err
	}
	in := contacts.PhoneInput{Phone: c.FormValue("phone"), Label: c.FormValue("label"), WhatsApp: c.FormValue("whatsapp") != ""}
	if _, err := s.contactsSvc().AddPhone(c.Request().Context(), *currentUser(c), ct.ID, in, c.RealIP()); err != nil {
		return s.contactFailed(c, ct, err, func(v *pages.ContactView, fe contacts.FieldErrors) {
			v.PhoneForm = pages.ContactPhoneForm{Phone: in.Phone, Label: in.Label, WhatsApp: in.WhatsApp, Errors: fe}
		})
	}
	return s.contactDone(c, ct.ID, "phone", "#numbers")
}

func (s *Server) removeContactPhone(c echo.Context) error {
	ct, err := s.contactParam(c)
	if err != nil {
		return err
	}
	err = s.contactsSvc().RemovePhone(c.Request().Context(), *currentUser(c), ct.ID, c.FormValue("phone"), c.RealIP())
	switch {
	case errors.Is(err, db.ErrPhoneNotListed):
		return s.phoneFailed(c, ct, "This contact has no such secondary number (it may have been removed already). The main number cannot be removed: make another number the main one first.", nil)
	case err != nil:
		return err
	}
	return s.contactDone(c, ct.ID, "unphoned", "#numbers")
}

func (s *Server) makeContactPhoneMain(c echo.Context) error {
	ct, err := s.contactParam(c)
	if err != nil {
		return err
	}
	err = s.contactsSvc().MakeMain(c.Request().Context(), *currentUser(c), ct.ID, c.FormValue("phone"), c.RealIP())
	var taken *contacts.MainNumberTakenError
	switch {
	case errors.As(err, &taken):
		return s.phoneFailed(c, ct, "", &pages.MainTaken{Message: taken.Error(), Other: taken.Other})
	case errors.Is(err, db.ErrPhoneNotListed), errors.Is(err, db.ErrPhoneIsMain):
		return s.phoneFailed(c, ct, "That is not one of this contact's secondary numbers.", nil)
	case err != nil:
		return err
	}
	return s.contactDone(c, ct.ID, "main", "#numbers")
}

// phoneFailed re-renders the contact page with a refused number change
// (409: the request was understood but conflicts with the data).
func (s *Server) phoneFailed(c echo.Context, ct db.ContactDetail, msg string, taken *pages.MainTaken) error {
	v, err := s.contactView(c, ct)
	if err != nil {
		return err
	}
	v.PhoneError, v.MainTaken = msg, taken
	return s.renderContact(c, http.StatusConflict, v)
}
