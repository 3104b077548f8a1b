package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/views/pages"
)

// cannedRoutes registers canned replies and the settings pages.
func (s *Server) cannedRoutes(app, admin *echo.Group) {
	// Staff manage their departments' replies; admins every department's.
	app.GET("/replies", s.cannedPage)
	app.POST("/replies", s.cannedCreate)
	app.GET("/replies/suggest", s.cannedSuggest)
	app.GET("/replies/:id/edit", s.cannedEditPage)
	app.POST("/replies/:id", s.cannedUpdate)
	app.POST("/replies/:id/delete", s.cannedDelete)

	admin.GET("/settings", s.settingsPage)
	admin.POST("/settings", s.settingsSave)
	admin.POST("/settings/goals", s.goalsSave)
}

var cannedNotices = map[string]string{
	"added":   "Reply added. Type / and its name in any reply of the department to insert it.",
	"saved":   "Reply saved.",
	"deleted": "Reply deleted.",
}

// cannedView loads the replies page for the current user with form f.
func (s *Server) cannedView(c echo.Context, f pages.CannedForm) (pages.CannedView, error) {
	ctx := c.Request().Context()
	u := *currentUser(c)
	deps, err := s.Messaging.CannedDepartments(ctx, u)
	if err != nil {
		return pages.CannedView{}, err
	}
	var replies []db.CannedReply
	if len(deps) > 0 {
		if replies, err = s.DB.ListCannedReplies(ctx, messaging.DepartmentScope(u)); err != nil {
			return pages.CannedView{}, err
		}
	}
	if f.Errors == nil {
		f.Errors = map[string]string{}
	}
	if f.DepartmentID == 0 && len(deps) > 0 {
		f.DepartmentID = deps[0].ID
	}
	return pages.CannedView{Groups: pages.GroupCanned(replies), Departments: deps, Form: f}, nil
}

func (s *Server) renderCanned(c echo.Context, status int, v pages.CannedView) error {
	p := s.page(c, "Saved replies", "replies")
	return render(c, status, pages.Canned(p, v), pages.CannedContent(p, v))
}

func (s *Server) cannedPage(c echo.Context) error {
	v, err := s.cannedView(c, pages.CannedForm{})
	if err != nil {
		return err
	}
	v.Notice = cannedNotices[c.QueryParam("done")]
	return s.renderCanned(c, http.StatusOK, v)
}

// cannedDone answers a successful change: htmx gets the fresh list with a
// toast (and the address of the list), a plain form a redirect to it.
func (s *Server) cannedDone(c echo.Context, done string) error {
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/replies?done="+done)
	}
	v, err := s.cannedView(c, pages.CannedForm{})
	if err != nil {
		return err
	}
	triggerToast(c, cannedNotices[done], "success")
	c.Response().Header().Set("HX-Push-Url", "/replies")
	return s.renderCanned(c, http.StatusOK, v)
}

func (s *Server) cannedCreate(c echo.Context) error {
	f := pages.CannedForm{Name: c.FormValue("name"), Body: c.FormValue("body")}
	f.DepartmentID, _ = strconv.ParseInt(c.FormValue("department_id"), 10, 64)
	_, err := s.Messaging.CreateCanned(c.Request().Context(), *currentUser(c), c.RealIP(), messaging.CannedInput{
		DepartmentID: f.DepartmentID, Name: f.Name, Body: f.Body,
	})
	var fe messaging.FieldErrors
	if errors.As(err, &fe) {
		f.Errors = fe
		v, verr := s.cannedView(c, f)
		if verr != nil {
			return verr
		}
		return s.renderCanned(c, http.StatusUnprocessableEntity, v)
	}
	if err != nil {
		return err
	}
	return s.cannedDone(c, "added")
}

// visibleCanned loads the :id reply if the user may see it. Another
// department's reads as not found, like a conversation.
func (s *Server) visibleCanned(c echo.Context) (db.CannedReply, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return db.CannedReply{}, cannedNotFound()
	}
	r, err := s.Messaging.CannedReply(c.Request().Context(), *currentUser(c), id)
	if errors.Is(err, db.ErrNotFound) {
		return r, cannedNotFound()
	}
	return r, err
}

func cannedNotFound() error {
	return echo.NewHTTPError(http.StatusNotFound, "There is no such reply, or it belongs to a department you are not in.")
}

func (s *Server) renderCannedEdit(c echo.Context, status int, f pages.CannedForm) error {
	if f.Errors == nil {
		f.Errors = map[string]string{}
	}
	p := s.page(c, "Edit /"+f.Name, "replies")
	return render(c, status, pages.CannedEdit(p, f), pages.CannedEditContent(p, f))
}

func (s *Server) cannedEditPage(c echo.Context) error {
	r, err := s.visibleCanned(c)
	if err != nil {
		return err
	}
	return s.renderCannedEdit(c, http.StatusOK, pages.CannedForm{
		ID: r.ID, DepartmentID: r.DepartmentID, DepartmentName: r.DepartmentName, Name: r.Name, Body: r.Body,
	})
}

func (s *Server) cannedUpdate(c echo.Context) error {
	r, err := s.visibleCanned(c)
	if err != nil {
		return err
	}
	f := pages.CannedForm{ID: r.ID, DepartmentID: r.DepartmentID, DepartmentName: r.DepartmentName, Name: c.FormValue("name"), Body: c.FormValue("body")}
	err = s.Messaging.UpdateCanned(c.Request().Context(), *currentUser(c), c.RealIP(), r.ID, messaging.CannedInput{Name: f.Name, Body: f.Body})
	var fe messaging.FieldErrors
	switch {
	case errors.As(err, &fe):
		f.Errors = fe
		return s.renderCannedEdit(c, http.StatusUnprocessableEntity, f)
	case errors.Is(err, db.ErrNotFound):
		return cannedNotFound()
	case err != nil:
		return err
	}
	return s.cannedDone(c, "saved")
}

func (s *Server) cannedDelete(c echo.Context) error {
	r, err := s.visibleCanned(c)
	if err != nil {
		return err
	}
	err = s.Messaging.DeleteCanned(c.Request().Context(), *currentUser(c), c.RealIP(), r.ID)
	if errors.Is(err, db.ErrNotFound) {
		return cannedNotFound()
	}
	if err != nil {
		return err
	}
	return s.cannedDone(c, "deleted")
}

// cannedSuggest answers canned.js: the replies of the conversation's
// department whose name starts with q, as a listbox fragment.
func (s *Server) cannedSuggest(c echo.Context) error {
	convID, err := strconv.ParseInt(c.QueryParam("conversation"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "There is no such conversation.")
	}
	replies, err := s.Messaging.SuggestCanned(c.Request().Context(), *currentUser(c), convID, c.QueryParam("q"))
	if errors.Is(err, db.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "There is no such conversation, or it belongs to a department you are not in.")
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c, http.StatusOK, pages.CannedSuggestions(replies), nil)
}

// triggerToast asks app.js for a toast once htmx has swapped the answer.
func triggerToast(c echo.Context, message, kind string) {
	b, err := json.Marshal(map[string]any{"toast": map[string]string{"message": message, "kind": kind}})
	if err == nil {
		c.Response().Header().Set("HX-Trigger", string(b))
	}
}
