package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/contacts"
	"github.com/classline/classline/views/pages"
)

// Groups of contacts: anyone signed in may look; admins manage them.

func (s *Server) groupRoutes(app *echo.Group, admin echo.MiddlewareFunc) {
	app.GET("/groups", s.groupsPage)
	app.POST("/groups", s.createGroup, admin)
	app.GET("/groups/:id", s.groupPage)
	app.POST("/groups/:id", s.renameGroup, admin)
	app.POST("/groups/:id/delete", s.deleteGroup, admin)
	app.POST("/groups/:id/members", s.addGroupMember, admin)
	app.POST("/groups/:id/members/:contact/delete", s.removeGroupMember, admin)
	app.GET("/groups/:id/export.csv", s.exportGroup, admin)
}

func (s *Server) groupByID(c echo.Context, idText string) (db.Group, error) {
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil {
		return db.Group{}, echo.NewHTTPError(http.StatusNotFound, "There is no such group.")
	}
	g, err := s.DB.GroupByID(c.Request().Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		return g, echo.NewHTTPError(http.StatusNotFound, "There is no such group (it may have been deleted).")
	}
	return g, err
}

func (s *Server) renderGroups(c echo.Context, status int, form pages.GroupForm, notice string) error {
	groups, err := s.DB.ListGroups(c.Request().Context())
	if err != nil {
		return err
	}
	if form.Errors == nil {
		form.Errors = map[string]string{}
	}
	v := pages.GroupsView{Groups: groups, Form: form, CanEdit: currentUser(c).IsAdmin(), Notice: notice}
	p := s.page(c, "Groups", "contacts")
	return render(c, status, pages.Groups(p, v), pages.GroupsContent(p, v))
}

func (s *Server) groupsPage(c echo.Context) error {
	notice := ""
	if c.QueryParam("done") == "deleted" {
		notice = "Group deleted; its contacts are still in Contacts."
	}
	return s.renderGroups(c, http.StatusOK, pages.GroupForm{GroupInput: contacts.GroupInput{Kind: "static"}}, notice)
}

func (s *Server) createGroup(c echo.Context) error {
	in := contacts.GroupInput{Name: c.FormValue("name"), Kind: c.FormValue("kind"), Role: c.FormValue("filter_role"),
		Language: c.FormValue("filter_language"), WhatsApp: c.FormValue("filter_whatsapp"), Consent: c.FormValue("filter_consent"),
		Field: c.FormValue("filter_field"), Value: c.FormValue("filter_value")}
	id, err := s.contactsSvc().CreateGroup(c.Request().Context(), *currentUser(c), in, c.RealIP())
	var fe contacts.FieldErrors
	if errors.As(err, &fe) {
		return s.renderGroups(c, http.StatusUnprocessableEntity, pages.GroupForm{GroupInput: in, Errors: fe}, "")
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/groups/"+strconv.FormatInt(id, 10)+"?done=created")
}

var groupNotices = map[string]string{
	"created": "Group created.",
	"renamed": "Group renamed.",
	"added":   "Added to the group.",
	"removed": "Removed from the group.",
}

func (s *Server) groupView(c echo.Context, g db.Group) (pages.GroupView, error) {
	ctx := c.Request().Context()
	v := pages.GroupView{Group: g, CanEdit: currentUser(c).IsAdmin(), RenameName: g.Name, Errors: map[string]string{}, Now: s.Now()}
	f := db.ContactFilter{Group: &g, Limit: contacts.PageSize, After: contacts.DecodeCursor(c.QueryParam("after"))}
	var err error
	if v.Page, err = s.contactsSvc().List(ctx, f); err != nil {
		return v, err
	}
	v.Count, err = s.DB.CountContacts(ctx, f)
	return v, err
}

func (s *Server) renderGroup(c echo.Context, status int, v pages.GroupView) error {
	p := s.page(c, v.Group.Name, "contacts")
	partial := pages.GroupPageContent(p, v)
	if c.QueryParam("after") != "" {
		var remove *db.Group
		if v.CanEdit && !v.Group.Smart() {
			remove = &v.Group
		}
		partial = pages.ContactRows(p, v.Page.Rows, pages.GroupMoreURL(v.Group.ID, v.Page.Next), remove)
	}
	return render(c, status, pages.GroupPage(p, v), partial)
}

func (s *Server) groupPage(c echo.Context) error {
	g, err := s.groupByID(c, c.Param("id"))
	if err != nil {
		return err
	}
	v, err := s.groupView(c, g)
	if err != nil {
		return err
	}
	v.Notice = groupNotices[c.QueryParam("done")]
	return s.renderGroup(c, http.StatusOK, v)
}

// groupFailed re-renders the group page with field errors (422).
func (s *Server) groupFailed(c echo.Context, g db.Group, err error, set func(*pages.GroupView, contacts.FieldErrors)) error {
	var fe contacts.FieldErrors
	if !errors.As(err, &fe) {
		return err
	}
	v, verr := s.groupView(c, g)
	if verr != nil {
		return verr
	}
	set(&v, fe)
	return s.renderGroup(c, http.StatusUnprocessableEntity, v)
}

func groupDone(c echo.Context, id int64, done string) error {
	return c.Redirect(http.StatusSeeOther, "/groups/"+strconv.FormatInt(id, 10)+"?done="+done)
}

func (s *Server) renameGroup(c echo.Context) error {
	g, err := s.groupByID(c, c.Param("id"))
	if err != nil {
		return err
	}
	name := c.FormValue("name")
	if err := s.contactsSvc().RenameGroup(c.Request().Context(), *currentUser(c), g, name, c.RealIP()); err != nil {
		return s.groupFailed(c, g, err, func(v *pages.GroupView, fe contacts.FieldErrors) { v.RenameName, v.Errors = name, fe })
	}
	return groupDone(c, g.ID, "renamed")
}

func (s *Server) deleteGroup(c echo.Context) error {
	g, err := s.groupByID(c, c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.contactsSvc().DeleteGroup(c.Request().Context(), *currentUser(c), g, c.RealIP()); err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/groups?done=deleted")
}

func (s *Server) addGroupMember(c echo.Context) error {
	g, err := s.groupByID(c, c.Param("id"))
	if err != nil {
		return err
	}
	phone := c.FormValue("phone")
	if _, err := s.contactsSvc().AddMemberByPhone(c.Request().Context(), *currentUser(c), g, phone, c.RealIP()); err != nil {
		return s.groupFailed(c, g, err, func(v *pages.GroupView, fe contacts.FieldErrors) {
			v.AddPhone, v.Errors = phone, fe
			if fe["group"] != "" {
				v.Errors["phone"] = fe["group"]
			}
		})
	}
	return groupDone(c, g.ID, "added")
}

func (s *Server) removeGroupMember(c echo.Context) error {
	g, err := s.groupByID(c, c.Param("id"))
	if err != nil {
		return err
	}
	id, _ := strconv.ParseInt(c.Param("contact"), 10, 64)
	if err := s.contactsSvc().RemoveMember(c.Request().Context(), *currentUser(c), g, id, c.RealIP()); err != nil {
		if errors.Is(err, contacts.ErrSmartGroup) {
			return echo.NewHTTPError(http.StatusConflict, "This is a smart group: its members follow its conditions.")
		}
		return err
	}
	return groupDone(c, g.ID, "removed")
}

func (s *Server) exportGroup(c echo.Context) error {
	g, err := s.groupByID(c, c.Param("id"))
	if err != nil {
		return err
	}
	svc := s.contactsSvc()
	return s.sendCSV(c, csvName(g.Name), func(w *echo.Response) error {
		return svc.Export(c.Request().Context(), w, db.ContactFilter{Group: &g})
	})
}
