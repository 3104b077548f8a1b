package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/views/layout"
	"github.com/classline/classline/views/pages"
)

// page describes the current request for the shell.
func (s *Server) page(c echo.Context, title, active string) layout.Page {
	return layout.Page{
		Title: title, User: currentUser(c), CSRF: csrfToken(c), Active: active,
		Simulated: s.Config.Simulated(), TZ: s.Config.SchoolTimezone,
		// A little before now: clocks of app and database may differ slightly,
		// and replaying a message twice is harmless (it replaces itself).
		Rendered: s.Now().Add(-2 * time.Second),
	}
}

// render sends partial to htmx requests and full to everything else; both
// come from the same components, so a swap equals a reload.
func render(c echo.Context, status int, full, partial templ.Component) error {
	c.Response().Header().Add("Vary", "HX-Request")
	comp := full
	if partial != nil && isHTMX(c) {
		comp = partial
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return comp.Render(c.Request().Context(), c.Response())
}

func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg := http.StatusInternalServerError, "Something went wrong on our side. It has been logged; try again in a moment."
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status = he.Code
		if m, ok := he.Message.(string); ok && status < 500 {
			msg = m
		} else if status == http.StatusNotFound {
			msg = "There is nothing at this address."
		}
	}
	switch {
	case db.WriteRefused(err):
		// Read-only database or a full disk: say that nothing was kept, so
		// the person knows to retry rather than wonder whether it was sent.
		status = http.StatusServiceUnavailable
		msg = "The database is refusing changes right now (it is read-only or out of space), so this was not saved. Nothing was sent. Please try again later; the administrator has been alerted in the log."
		s.Log.Error("request failed: database refuses writes (read-only or disk full)", "request_id", c.Get(ctxReqID), "path", c.Request().URL.Path, "err", err)
	case db.Unavailable(err):
		status = http.StatusServiceUnavailable
		msg = "The database cannot be reached right now, so this was not saved. Please try again in a moment."
		s.Log.Error("request failed: database unavailable", "request_id", c.Get(ctxReqID), "path", c.Request().URL.Path, "err", err)
	case status >= 500:
		s.Log.Error("request failed", "request_id", c.Get(ctxReqID), "path", c.Request().URL.Path, "err", err)
	}
	title := http.StatusText(status)
	if isHTMX(c) {
		// htmx shows nothing for a failed request by itself; send a toast.
		c.Response().Header().Set("HX-Retarget", "#toasts")
		c.Response().Header().Set("HX-Reswap", "beforeend")
		_ = render(c, status, pages.Toast(msg), nil)
		return
	}
	_ = render(c, status, pages.Error(s.page(c, title, ""), status, title, msg), nil)
}

func (s *Server) placeholder(active, title, text string) echo.HandlerFunc {
	return func(c echo.Context) error {
		return render(c, http.StatusOK, pages.Placeholder(s.page(c, title, active), title, text), nil)
	}
}
