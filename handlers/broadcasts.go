package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/broadcastdraft"
	"github.com/classline/classline/views/components"
	"github.com/classline/classline/views/pages"
)

// Broadcasts: the list, a broadcast's page with its live progress and
// controls (this file), the wizard (broadcast_wizard.go) and the approval
// queue with the broadcast settings (broadcast_approvals.go). The rules
// live in internal/broadcastdraft, sending in internal/broadcast.

// broadcastRoutes: the broadcast list, the wizard, a broadcast's page and
// its controls, and the approval queue. Staff reach their departments'
// broadcasts (another department's reads as 404); deciding on approvals and
// the settings are for admins.
func (s *Server) broadcastRoutes(app *echo.Group) {
	app.GET("/broadcasts", s.broadcastsPage)
	app.GET("/broadcasts/new", s.newBroadcastPage)
	app.POST("/broadcasts/new", s.newBroadcast)
	app.GET("/broadcasts/approvals", s.approvalsPage, s.requireAdmin)
	app.GET("/broadcasts/:id", s.broadcastPage)
	app.GET("/broadcasts/:id/edit", s.wizardPage)
	app.POST("/broadcasts/:id/steps/:step", s.wizardStep)
	app.POST("/broadcasts/:id/audience/count", s.wizardAudienceCount)
	app.GET("/broadcasts/:id/contacts", s.wizardContacts)
	app.GET("/broadcasts/:id/template", s.wizardTemplate)
	app.POST("/broadcasts/:id/sms-count", s.wizardSMSCount)
	app.POST("/broadcasts/:id/attachments/remove", s.wizardRemoveAttachment)
	app.POST("/broadcasts/:id/pause", s.broadcastControl("pause"))
	app.POST("/broadcasts/:id/resume", s.broadcastControl("resume"))
	app.POST("/broadcasts/:id/cancel", s.broadcastControl("cancel"))
	app.POST("/broadcasts/:id/reopen", s.reopenBroadcast)
	app.POST("/broadcasts/:id/approve", s.approveBroadcast, s.requireAdmin)
	app.POST("/broadcasts/:id/reject", s.rejectBroadcast, s.requireAdmin)
	app.POST("/settings/broadcasts", s.saveBroadcastSettings, s.requireAdmin)
}

// broadcastPageSize is how many broadcasts a list page shows.
const broadcastPageSize = 25

func (s *Server) drafts() *broadcastdraft.Service {
	return &broadcastdraft.Service{DB: s.DB, Engine: s.Broadcasts, Media: s.Media, Region: s.Config.DefaultRegion, Location: s.tz(), Now: s.Now}
}

func (s *Server) tz() *time.Location {
	if s.Config.SchoolTimezone == nil {
		return time.UTC
	}
	return s.Config.SchoolTimezone
}

func broadcastID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.NewHTTPError(http.StatusNotFound, "There is no such broadcast.")
	}
	return id, nil
}

// broadcastErr turns the services' errors into answers a person understands.
func broadcastErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, broadcastdraft.ErrAttachmentGone):
		// Before ErrNotFound: the claim's error wraps db.ErrNotFound too.
		return echo.NewHTTPError(http.StatusConflict, "An attachment was sent or attached elsewhere just now: go back to the content step and attach the file again.")
	case errors.Is(err, broadcastdraft.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "There is no such broadcast, or it belongs to a department you are not in.")
	case errors.Is(err, broadcastdraft.ErrNotDraft):
		return echo.NewHTTPError(http.StatusConflict, "This broadcast was already sent or submitted, so it can no longer be edited.")
	case errors.Is(err, broadcast.ErrWrongState):
		return echo.NewHTTPError(http.StatusConflict, "The broadcast cannot do that in its current state: reload the page to see where it is.")
	case errors.Is(err, broadcastdraft.ErrForbidden):
		return echo.NewHTTPError(http.StatusForbidden, "Only admins can do that.")
	case errors.Is(err, broadcastdraft.ErrNoEngine):
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Broadcasts are not running on this server.")
	case errors.Is(err, broadcastdraft.ErrNoMedia):
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Attachments cannot be stored on this server.")
	}
	return err
}

// encodeBroadcastCursor writes a list position as "microseconds-id".
func encodeBroadcastCursor(r db.BroadcastRow) string {
	return strconv.FormatInt(r.CreatedAt.UnixMicro(), 10) + "-" + strconv.FormatInt(r.ID, 10)
}

func decodeBroadcastCursor(s string) *db.BroadcastCursor {
	at, id, ok := strings.Cut(s, "-")
	if !ok {
		return nil
	}
	us, err1 := strconv.ParseInt(at, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if err1 != nil || err2 != nil {
		return nil
	}
	return &db.BroadcastCursor{CreatedAt: time.UnixMicro(us), ID: n}
}

// broadcastLive reads a broadcast's counters for its live parts.
func (s *Server) broadcastLive(ctx context.Context, row db.BroadcastRow) (components.BroadcastLive, error) {
	now := s.Now()
	counts, err := s.DB.BroadcastCounts(ctx, row.ID)
	if err != nil {
		return components.BroadcastLive{}, err
	}
	return components.BroadcastLive{Row: row, Progress: broadcastdraft.ProgressOf(counts), TZ: s.tz(), Now: now}, nil
}

// broadcastsPage is the list, newest first. htmx asks for parts of it: the
// results under the status filter, or the next rows ("Load more").
func (s *Server) broadcastsPage(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	status := c.QueryParam("status")
	if !slices.Contains(broadcastdraft.Statuses, status) {
		status = ""
	}
	after := decodeBroadcastCursor(c.QueryParam("after"))
	rows, err := s.DB.ListBroadcasts(ctx, db.BroadcastListFilter{Scope: broadcastdraft.Scope(*u), Status: status, After: after, Limit: broadcastPageSize + 1})
	if err != nil {
		return err
	}
	now := s.Now()
	v := pages.BroadcastsView{Status: status, TZ: s.tz(), Now: now}
	if len(rows) > broadcastPageSize {
		rows = rows[:broadcastPageSize]
		v.Next = encodeBroadcastCursor(rows[len(rows)-1])
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	counts, err := s.DB.BroadcastCountsOf(ctx, ids)
	if err != nil {
		return err
	}
	for _, r := range rows {
		v.Rows = append(v.Rows, components.BroadcastLive{Row: r, Progress: broadcastdraft.ProgressOf(counts[r.ID]), TZ: v.TZ, Now: now})
	}
	p := s.page(c, "Broadcasts", "broadcasts")
	if after != nil && isHTMX(c) {
		more := pages.BroadcastRows(v.Rows, pages.BroadcastsMoreURL(status, v.Next), v.TZ, now)
		return render(c, http.StatusOK, more, more)
	}
	if u.IsAdmin() {
		if v.Approvals, err = s.DB.CountPendingApprovals(ctx); err != nil {
			return err
		}
	}
	partial := pages.BroadcastsContent(p, v)
	if c.Request().Header.Get("HX-Target") == "bc-results" {
		partial = pages.BroadcastResults(p, v)
	}
	return render(c, http.StatusOK, pages.Broadcasts(p, v), partial)
}

var broadcastNotices = map[string]string{
	"sent":      "The broadcast is on its way.",
	"scheduled": "The broadcast is scheduled.",
	"approval":  "Sent for approval: an admin looks at it before it goes out.",
	"approved":  "Approved.",
	"rejected":  "Sent back with your feedback.",
}

// broadcastPage is a broadcast's page; a draft opens in the wizard instead.
func (s *Server) broadcastPage(c echo.Context) error {
	id, err := broadcastID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	row, spec, err := s.drafts().Get(ctx, *u, id)
	if err != nil {
		return broadcastErr(err)
	}
	if row.Status == "draft" {
		return c.Redirect(http.StatusSeeOther, components.BroadcastURL(id)+"/edit")
	}
	v, err := s.broadcastPageView(c, row, spec)
	if err != nil {
		return err
	}
	v.Notice = broadcastNotices[c.QueryParam("done")]
	return s.renderBroadcastPage(c, http.StatusOK, v)
}

func (s *Server) broadcastPageView(c echo.Context, row db.BroadcastRow, spec broadcast.Spec) (pages.BroadcastPageView, error) {
	ctx := c.Request().Context()
	u := currentUser(c)
	live, err := s.broadcastLive(ctx, row)
	if err != nil {
		return pages.BroadcastPageView{}, err
	}
	v := pages.BroadcastPageView{Live: live, Spec: spec, Errors: map[string]string{}}
	if v.Attachments, err = s.drafts().Attachments(ctx, row.ID, spec.Content.MediaFileIDs); err != nil {
		return v, err
	}
	if spec.Content.TemplateID != 0 && spec.Content.Mode != broadcast.ModeSMS {
		if t, err := s.DB.TemplateByID(ctx, spec.Content.TemplateID); err == nil {
			v.TemplateName = t.LogicalName
		} else if !errors.Is(err, db.ErrNotFound) {
			return v, err
		}
	}
	if row.Status == "pending_approval" {
		rv, err := s.drafts().Review(ctx, *u, row.Broadcast)
		if err != nil {
			return v, broadcastErr(err)
		}
		v.Review, v.CanApprove = &rv, u.IsAdmin()
	}
	return v, nil
}

func (s *Server) renderBroadcastPage(c echo.Context, status int, v pages.BroadcastPageView) error {
	p := s.page(c, v.Live.Row.Name, "broadcasts")
	return render(c, status, pages.BroadcastPage(p, v), pages.BroadcastPageContent(p, v))
}

var controlDone = map[string]string{"pause": "Paused.", "resume": "Resumed.", "cancel": "Canceled."}

// broadcastControl pauses, resumes or cancels. htmx gets the new live parts
// (swapped out of band) and a toast; a plain form goes back to the page.
func (s *Server) broadcastControl(action string) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := broadcastID(c)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		if err := s.drafts().Control(ctx, *currentUser(c), c.RealIP(), id, action); err != nil {
			return broadcastErr(err)
		}
		if !isHTMX(c) {
			return c.Redirect(http.StatusSeeOther, components.BroadcastURL(id))
		}
		row, err := s.DB.BroadcastRowByID(ctx, id)
		if err != nil {
			return err
		}
		live, err := s.broadcastLive(ctx, row)
		if err != nil {
			return err
		}
		triggerToast(c, controlDone[action], "success")
		return render(c, http.StatusOK, components.BroadcastLiveUpdate(live), nil) // htmx only: plain forms were redirected
	}
}

// reopenBroadcast takes a broadcast sent back (or waiting) into the wizard.
func (s *Server) reopenBroadcast(c echo.Context) error {
	id, err := broadcastID(c)
	if err != nil {
		return err
	}
	if err := s.drafts().Reopen(c.Request().Context(), *currentUser(c), c.RealIP(), id); err != nil {
		return broadcastErr(err)
	}
	return redirect(c, components.BroadcastURL(id)+"/edit")
}

// renderBroadcastEvent renders a broadcast's live parts for the stream:
// the list row's cell and the page's section, each swapped by its id.
func (s *Server) renderBroadcastEvent(ctx context.Context, id int64) (string, error) {
	row, err := s.DB.BroadcastRowByID(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if row.Status == "draft" {
		return "", nil
	}
	live, err := s.broadcastLive(ctx, row)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := components.BroadcastLiveUpdate(live).Render(ctx, &buf); err != nil {
		return "", fmt.Errorf("render broadcast %d progress: %w", id, err)
	}
	return buf.String(), nil
}
