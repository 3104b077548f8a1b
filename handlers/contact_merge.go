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

// Duplicates and merging: the "Possible duplicates" list, the preview of a
// merge (a GET: nothing changes) and the merge itself (a POST from the
// preview). Admins only, like every other change to contacts.

func (s *Server) contactDuplicatesPage(c echo.Context) error {
	after := c.QueryParam("after")
	page, err := s.contactsSvc().Duplicates(c.Request().Context(), after)
	if err != nil {
		return err
	}
	v := pages.ContactDuplicatesView{Page: page, First: after == ""}
	p := s.page(c, "Possible duplicates", "contacts")
	return render(c, http.StatusOK, pages.ContactDuplicates(p, v), pages.ContactDuplicatesContent(p, v))
}

// contactMergePreview shows what merging ?other= (or the contact the
// contact page's form names in ?with=) into this contact would do. A form
// that names nobody comes back on the contact page with the error by the
// field and what was typed.
func (s *Server) contactMergePreview(c echo.Context) error {
	ct, err := s.contactParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	svc := s.contactsSvc()
	other, perr := strconv.ParseInt(c.QueryParam("other"), 10, 64)
	if perr != nil || other <= 0 {
		with := c.QueryParam("with")
		if other, err = svc.FindMergeCandidate(ctx, ct.ID, contacts.MergePick{Query: with}); err != nil {
			return s.contactFailed(c, ct, err, func(v *pages.ContactView, fe contacts.FieldErrors) {
				v.MergeForm = pages.MergeForm{With: with, Errors: fe}
			})
		}
	}
	plan, err := svc.MergePreview(ctx, ct.ID, other)
	if err != nil {
		return mergeError(err)
	}
	v := pages.ContactMergeView{Plan: plan}
	p := s.page(c, pages.ContactMergeTitle(v), "contacts")
	return render(c, http.StatusOK, pages.ContactMerge(p, v), pages.ContactMergeContent(p, v))
}

func (s *Server) mergeContact(c echo.Context) error {
	ct, err := s.contactParam(c)
	if err != nil {
		return err
	}
	other, err := strconv.ParseInt(c.FormValue("other"), 10, 64)
	if err != nil || other <= 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "Choose the contact to merge into this one.")
	}
	if _, err := s.contactsSvc().Merge(c.Request().Context(), *currentUser(c), ct.ID, other, c.RealIP()); err != nil {
		return mergeError(err)
	}
	return s.contactDone(c, ct.ID, "merged", "")
}

// mergeError says why a merge cannot happen in words for staff.
func mergeError(err error) error {
	switch {
	case errors.Is(err, db.ErrMergeSelf):
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "A contact cannot be merged into itself.")
	case errors.Is(err, db.ErrNotFound):
		// Most often: merged a moment ago, by someone else or in another tab.
		return echo.NewHTTPError(http.StatusConflict, "One of these contacts no longer exists or was merged already. Open the contact again to see where it went.")
	}
	return err
}
