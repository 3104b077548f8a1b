package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/dashboard"
	"github.com/classline/classline/views/pages"
)

// A broadcast's delivery report (registered in dashboardRoutes).

// reportBroadcast loads the broadcast of :id when the user may see it:
// admins, and staff of its department. Anyone else gets the same 404 as
// for a broadcast that does not exist, so ids reveal nothing.
func (s *Server) reportBroadcast(c echo.Context) (db.Broadcast, error) {
	notFound := echo.NewHTTPError(http.StatusNotFound, "There is no such broadcast.")
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return db.Broadcast{}, notFound
	}
	b, err := s.DB.BroadcastByID(c.Request().Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		return b, notFound
	}
	if err != nil {
		return b, err
	}
	var dep int64
	if b.DepartmentID != nil {
		dep = *b.DepartmentID
	}
	if !canSeeDepartment(*currentUser(c), dep) {
		return db.Broadcast{}, notFound
	}
	return b, nil
}

// broadcastReport is the report: the broadcast page loads it into its
// #broadcast-report section; ?part=summary (htmx) is the part that
// refreshes itself; a plain request gets a page of its own.
func (s *Server) broadcastReport(c echo.Context) error {
	b, err := s.reportBroadcast(c)
	if err != nil {
		return err
	}
	v, err := s.reportView(c, b, c.QueryParam("part") != "summary" || !isHTMX(c))
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(c.QueryParam("retried")); err == nil {
		v.Notice = retriedNotice(n)
	}
	p := s.page(c, "Delivery report · "+b.Name, "broadcasts")
	partial := pages.BroadcastReport(p, v)
	if c.QueryParam("part") == "summary" {
		partial = pages.BroadcastReportSummary(p, v)
	}
	return render(c, http.StatusOK, pages.BroadcastReportPage(p, v), partial)
}

func (s *Server) reportView(c echo.Context, b db.Broadcast, withRecipients bool) (pages.BroadcastReportView, error) {
	ctx := c.Request().Context()
	svc := s.dashboardSvc()
	var v pages.BroadcastReportView
	var err error
	if v.Report, err = svc.BroadcastReport(ctx, b); err != nil {
		return v, err
	}
	if withRecipients {
		v.Recipients, err = svc.BroadcastRecipients(ctx, b, "", 0)
	}
	return v, err
}

// broadcastRecipients is one page of the recipients table, filtered by
// stage (?status=) and paged by the last id shown (?after=).
func (s *Server) broadcastRecipients(c echo.Context) error {
	b, err := s.reportBroadcast(c)
	if err != nil {
		return err
	}
	stage := c.QueryParam("status")
	if !dashboard.ValidStage(stage) {
		return echo.NewHTTPError(http.StatusBadRequest, "There is no such status to filter by.")
	}
	var after int64
	if a := c.QueryParam("after"); a != "" {
		if after, err = strconv.ParseInt(a, 10, 64); err != nil || after < 0 {
			return echo.NewHTTPError(http.StatusBadRequest, "That page address is not valid; start from the first page.")
		}
	}
	rs, err := s.dashboardSvc().BroadcastRecipients(c.Request().Context(), b, stage, after)
	if err != nil {
		return err
	}
	p := s.page(c, "Recipients · "+b.Name, "broadcasts")
	return render(c, http.StatusOK, pages.BroadcastRecipientsPage(p, b, rs), pages.BroadcastRecipients(p, b.ID, rs))
}

// broadcastFailuresCSV downloads the failed and undelivered recipients.
func (s *Server) broadcastFailuresCSV(c echo.Context) error {
	b, err := s.reportBroadcast(c)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("broadcast-%d-failures.csv", b.ID)
	return s.sendCSV(c, name, func(w *echo.Response) error { return s.dashboardSvc().WriteFailures(c.Request().Context(), w, b) })
}

// retryBroadcast sends again to the recipients whose failure may have
// passed (broadcast.TransientCode) and says how many.
func (s *Server) retryBroadcast(c echo.Context) error {
	b, err := s.reportBroadcast(c)
	if err != nil {
		return err
	}
	if s.Broadcasts == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Broadcasts are not running on this server.")
	}
	u := currentUser(c)
	n, err := s.Broadcasts.RetryTransient(c.Request().Context(), b.ID, broadcast.Actor{UserID: &u.ID, IP: c.RealIP()})
	if errors.Is(err, broadcast.ErrWrongState) {
		return echo.NewHTTPError(http.StatusConflict,
			fmt.Sprintf("This broadcast is %s: failures can be retried while it runs, is paused or has completed.", b.Status))
	}
	if err != nil {
		return err
	}
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/broadcasts/%d/report?retried=%d", b.ID, n))
	}
	if b, err = s.reportBroadcast(c); err != nil { // its status may have moved to running
		return err
	}
	v, err := s.reportView(c, b, false)
	if err != nil {
		return err
	}
	v.Notice = retriedNotice(n)
	p := s.page(c, "Delivery report · "+b.Name, "broadcasts")
	return render(c, http.StatusOK, pages.BroadcastReportSummary(p, v), nil)
}

func retriedNotice(n int) string {
	switch {
	case n <= 0:
		return "Nothing to retry: none of the failures is of a kind that may pass by itself."
	case n == 1:
		return "Sending again to 1 recipient whose failure may have passed. The first message stays in the history."
	}
	return fmt.Sprintf("Sending again to %d recipients whose failure may have passed. Their first messages stay in the history.", n)
}
