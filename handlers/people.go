package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/people"
	"github.com/classline/classline/views/pages"
)

// People administration and the audit log (admins only).

func (s *Server) peopleView(c echo.Context, f pages.PersonForm) (pages.PeopleView, error) {
	ctx := c.Request().Context()
	list, err := s.DB.ListPeople(ctx)
	if err != nil {
		return pages.PeopleView{}, err
	}
	deps, err := s.DB.DepartmentsByID(ctx, nil)
	if f.Errors == nil {
		f.Errors = map[string]string{}
	}
	return pages.PeopleView{People: list, Departments: deps, Form: f, Now: s.Now()}, err
}

func (s *Server) renderPeople(c echo.Context, status int, v pages.PeopleView) error {
	p := s.page(c, "People", "users")
	return render(c, status, pages.People(p, v), pages.PeopleContent(p, v))
}

func (s *Server) peoplePage(c echo.Context) error {
	v, err := s.peopleView(c, pages.PersonForm{Role: "staff", Active: true})
	if err != nil {
		return err
	}
	switch c.QueryParam("done") {
	case "saved":
		v.Notice = "Changes saved."
	case "deactivated":
		v.Notice = "Deactivated: they were signed out everywhere."
	case "reactivated":
		v.Notice = "Reactivated: they can sign in again."
	}
	return s.renderPeople(c, http.StatusOK, v)
}

func (s *Server) personPage(c echo.Context) error {
	u, err := s.personParam(c)
	if err != nil {
		return err
	}
	v, err := s.peopleView(c, pages.PersonForm{ID: u.ID, Name: u.Name, Email: u.Email, Role: u.Role, DepartmentIDs: u.DepartmentIDs, Active: u.DeactivatedAt == nil})
	if err != nil {
		return err
	}
	return s.renderPeople(c, http.StatusOK, v)
}

func (s *Server) personParam(c echo.Context) (db.User, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return db.User{}, echo.NewHTTPError(http.StatusNotFound, "There is no such person.")
	}
	u, err := s.DB.UserByID(c.Request().Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		return u, echo.NewHTTPError(http.StatusNotFound, "There is no such person.")
	}
	return u, err
}

func personInput(c echo.Context) people.Input {
	in := people.Input{Name: c.FormValue("name"), Email: c.FormValue("email"), Role: c.FormValue("role")}
	form, _ := c.FormParams()
	for _, v := range form["departments"] {
		if id, err := strconv.ParseInt(v, 10, 64); err == nil {
			in.DepartmentIDs = append(in.DepartmentIDs, id)
		}
	}
	return in
}

// personFailed re-renders the form with its errors, keeping what was typed.
func (s *Server) personFailed(c echo.Context, f pages.PersonForm, err error) error {
	var fe people.FieldErrors
	switch {
	case errors.As(err, &fe):
		f.Errors = fe
	case errors.Is(err, people.ErrLastAdmin):
		f.Errors = map[string]string{"role": "This is the last active admin: make someone else an admin first."}
	default:
		return err
	}
	v, verr := s.peopleView(c, f)
	if verr != nil {
		return verr
	}
	return s.renderPeople(c, http.StatusUnprocessableEntity, v)
}

func (s *Server) createPerson(c echo.Context) error {
	in := personInput(c)
	u, password, err := s.People.Create(c.Request().Context(), *currentUser(c), in, c.RealIP())
	if err != nil {
		return s.personFailed(c, pages.PersonForm{Name: in.Name, Email: in.Email, Role: in.Role, DepartmentIDs: in.DepartmentIDs, Active: true}, err)
	}
	v, err := s.peopleView(c, pages.PersonForm{Role: "staff", Active: true})
	if err != nil {
		return err
	}
	// The password is shown in this answer only, never stored or put in a URL.
	c.Response().Header().Set("Cache-Control", "no-store")
	v.Notice, v.Password, v.PasswordFor = u.Name+" can now sign in with "+u.Email+".", password, u.Name
	return s.renderPeople(c, http.StatusOK, v)
}

func (s *Server) updatePerson(c echo.Context) error {
	u, err := s.personParam(c)
	if err != nil {
		return err
	}
	in := personInput(c)
	if err := s.People.Update(c.Request().Context(), *currentUser(c), u.ID, in, c.RealIP()); err != nil {
		return s.personFailed(c, pages.PersonForm{ID: u.ID, Name: in.Name, Email: in.Email, Role: in.Role, DepartmentIDs: in.DepartmentIDs, Active: u.DeactivatedAt == nil}, err)
	}
	return c.Redirect(http.StatusSeeOther, "/users?done=saved")
}

func (s *Server) setPersonActive(active bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		u, err := s.personParam(c)
		if err != nil {
			return err
		}
		if err := s.People.SetActive(c.Request().Context(), *currentUser(c), u.ID, active, c.RealIP()); err != nil {
			return s.personFailed(c, pages.PersonForm{ID: u.ID, Name: u.Name, Email: u.Email, Role: u.Role, DepartmentIDs: u.DepartmentIDs, Active: u.DeactivatedAt == nil}, err)
		}
		done := "reactivated"
		if !active {
			done = "deactivated"
		}
		return c.Redirect(http.StatusSeeOther, "/users?done="+done)
	}
}

func (s *Server) resetPassword(c echo.Context) error {
	u, err := s.personParam(c)
	if err != nil {
		return err
	}
	password, err := s.People.ResetPassword(c.Request().Context(), *currentUser(c), u.ID, c.RealIP())
	if err != nil {
		return err
	}
	v, err := s.peopleView(c, pages.PersonForm{ID: u.ID, Name: u.Name, Email: u.Email, Role: u.Role, DepartmentIDs: u.DepartmentIDs, Active: u.DeactivatedAt == nil})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	v.Notice, v.Password, v.PasswordFor = "New password set; "+u.Name+" was signed out everywhere.", password, u.Name
	return s.renderPeople(c, http.StatusOK, v)
}

// auditPage lists the audit log, filtered by person, action and dates (school time zone).
func (s *Server) auditPage(c echo.Context) error {
	ctx := c.Request().Context()
	tz := s.Config.SchoolTimezone
	if tz == nil {
		tz = time.UTC
	}
	v := pages.AuditView{Action: c.QueryParam("action"), From: c.QueryParam("from"), To: c.QueryParam("to"), Now: s.Now()}
	v.UserID, _ = strconv.ParseInt(c.QueryParam("user"), 10, 64)
	f := db.AuditFilter{UserID: v.UserID, Action: v.Action, Limit: 100}
	f.BeforeID, _ = strconv.ParseInt(c.QueryParam("before"), 10, 64)
	if t, err := time.ParseInLocation("2006-01-02", v.From, tz); err == nil {
		f.From = &t
	}
	if t, err := time.ParseInLocation("2006-01-02", v.To, tz); err == nil {
		end := t.AddDate(0, 0, 1)
		f.To = &end
	}
	var err error
	if v.Entries, err = s.DB.ListAudit(ctx, f); err != nil {
		return err
	}
	if v.People, err = s.DB.ListPeople(ctx); err != nil {
		return err
	}
	if v.Actions, err = s.DB.AuditActions(ctx); err != nil {
		return err
	}
	if len(v.Entries) == f.Limit {
		q := url.Values{}
		for k, val := range map[string]string{"action": v.Action, "from": v.From, "to": v.To} {
			if val != "" {
				q.Set(k, val)
			}
		}
		if v.UserID != 0 {
			q.Set("user", strconv.FormatInt(v.UserID, 10))
		}
		q.Set("before", strconv.FormatInt(v.Entries[len(v.Entries)-1].ID, 10))
		v.OlderURL = "/audit?" + q.Encode()
	}
	p := s.page(c, "Audit log", "users")
	return render(c, http.StatusOK, pages.Audit(p, v), pages.AuditContent(p, v))
}
