package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/people"
	"github.com/classline/classline/views/pages"
)

// Departments administration (admins only).

func (s *Server) renderDepartments(c echo.Context, status int, v pages.DepartmentsView) error {
	var err error
	if v.Departments, err = s.DB.ListDepartmentRows(c.Request().Context()); err != nil {
		return err
	}
	if v.Errors == nil {
		v.Errors = map[string]string{}
	}
	p := s.page(c, "Departments", "departments")
	return render(c, status, pages.Departments(p, v), pages.DepartmentsContent(p, v))
}

func (s *Server) departmentsPage(c echo.Context) error {
	v := pages.DepartmentsView{}
	switch c.QueryParam("done") {
	case "added":
		v.Notice = "Department added. Give it a sender under Senders and people under People."
	case "saved":
		v.Notice = "Saved."
	}
	return s.renderDepartments(c, http.StatusOK, v)
}

func (s *Server) createDepartment(c echo.Context) error {
	name := c.FormValue("name")
	_, err := s.People.CreateDepartment(c.Request().Context(), *currentUser(c), name, c.RealIP())
	var fe people.FieldErrors
	if errors.As(err, &fe) {
		return s.renderDepartments(c, http.StatusUnprocessableEntity, pages.DepartmentsView{NewName: name, Errors: fe})
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/departments?done=added")
}

func (s *Server) departmentID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return 0, echo.NewHTTPError(http.StatusNotFound, "There is no such department.")
	}
	return id, nil
}

func (s *Server) renameDepartment(c echo.Context) error {
	id, err := s.departmentID(c)
	if err != nil {
		return err
	}
	name := c.FormValue("name")
	err = s.People.RenameDepartment(c.Request().Context(), *currentUser(c), id, name, c.RealIP())
	var fe people.FieldErrors
	switch {
	case errors.As(err, &fe):
		key := "name-" + strconv.FormatInt(id, 10)
		return s.renderDepartments(c, http.StatusUnprocessableEntity, pages.DepartmentsView{
			Errors: map[string]string{key: fe["name"]}, Renames: map[int64]string{id: name}})
	case errors.Is(err, db.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "There is no such department.")
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/departments?done=saved")
}

func (s *Server) archiveDepartment(archived bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := s.departmentID(c)
		if err != nil {
			return err
		}
		err = s.People.SetDepartmentArchived(c.Request().Context(), *currentUser(c), id, archived, c.RealIP())
		if errors.Is(err, db.ErrNotFound) {
			return echo.NewHTTPError(http.StatusNotFound, "There is no such department.")
		}
		if err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, "/departments?done=saved")
	}
}
