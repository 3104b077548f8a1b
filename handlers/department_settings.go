package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/people"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/views/pages"
)

// departmentSettingsRoutes registers a department's own page: default
// senders, business hours and the out-of-hours reply.
func (s *Server) departmentSettingsRoutes(admin *echo.Group) {
	admin.GET("/departments/:id", s.departmentPage)
	admin.POST("/departments/:id/defaults", s.saveDepartmentDefaults)
	admin.POST("/departments/:id/hours", s.saveDepartmentHours)
	admin.POST("/departments/:id/out-of-hours", s.saveOutOfHoursReply)
}

func (s *Server) schoolZone() *time.Location {
	if s.Config.SchoolTimezone == nil {
		return time.UTC
	}
	return s.Config.SchoolTimezone
}

// departmentView loads the page as saved; form handlers then put back what
// was typed into the part that failed.
func (s *Server) departmentView(c echo.Context, id int64) (pages.DepartmentSettingsView, error) {
	ctx := c.Request().Context()
	dep, err := s.DB.DepartmentSettings(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return pages.DepartmentSettingsView{}, echo.NewHTTPError(http.StatusNotFound, "There is no such department.")
	}
	if err != nil {
		return pages.DepartmentSettingsView{}, err
	}
	v := pages.DepartmentSettingsView{Department: dep, Reply: dep.OutOfHoursReply, ReplyMax: people.OutOfHoursReplyMax,
		Zone: s.schoolZone().String(), Errors: map[string]string{}}
	if v.Senders, err = s.DB.DepartmentSenders(ctx, id); err != nil {
		return v, err
	}
	for _, sd := range v.Senders {
		switch {
		case sd.Default && sd.Channel == policy.ChannelWhatsApp:
			v.DefaultWhatsApp = sd.ID
		case sd.Default && sd.Channel == policy.ChannelSMS:
			v.DefaultSMS = sd.ID
		}
	}
	hours, err := policy.ParseHours(dep.BusinessHours)
	if err != nil {
		// Stored hours this version cannot read: show the form empty rather
		// than fail the page, so an admin can save valid ones over them.
		s.Log.Warn("department hours unreadable", "department_id", id, "err", err)
		hours = policy.BusinessHours{}
	}
	v.Hours, v.HoursSet, v.HoursSummary = hours.Input(), hours.IsSet(), hours.Summary()
	v.Opens = previewOpens(hours, s.Now(), s.schoolZone())
	if v.School, err = s.Messaging.SchoolName(ctx); err != nil {
		return v, err
	}
	return v, nil
}

func (s *Server) renderDepartmentPage(c echo.Context, status int, v pages.DepartmentSettingsView) error {
	p := s.page(c, v.Department.Name, "departments")
	return render(c, status, pages.DepartmentSettings(p, v), pages.DepartmentSettingsContent(p, v))
}

func (s *Server) departmentPage(c echo.Context) error {
	id, err := s.departmentID(c)
	if err != nil {
		return err
	}
	v, err := s.departmentView(c, id)
	if err != nil {
		return err
	}
	switch c.QueryParam("done") {
	case "defaults":
		v.Notice = "Default senders saved."
	case "hours":
		v.Notice = "Business hours saved."
	case "hours-cleared":
		v.Notice = "Business hours removed: this department is never out of hours."
	case "reply":
		v.Notice = "Out-of-hours reply saved."
	}
	return s.renderDepartmentPage(c, http.StatusOK, v)
}

// departmentFailed maps a service error: field errors re-render the page
// (with what edit put back) as 422, a missing department is 404.
func (s *Server) departmentFailed(c echo.Context, id int64, err error, edit func(*pages.DepartmentSettingsView)) error {
	var fe people.FieldErrors
	switch {
	case errors.As(err, &fe):
		v, verr := s.departmentView(c, id)
		if verr != nil {
			return verr
		}
		edit(&v)
		v.Errors = fe
		return s.renderDepartmentPage(c, http.StatusUnprocessableEntity, v)
	case errors.Is(err, db.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "There is no such department.")
	}
	return err
}

func (s *Server) saveDepartmentDefaults(c echo.Context) error {
	id, err := s.departmentID(c)
	if err != nil {
		return err
	}
	// An unreadable choice is -1, which matches no sender: the service says so.
	parse := func(name string) int64 {
		v, err := strconv.ParseInt(c.FormValue(name), 10, 64)
		if err != nil || v < 0 {
			return -1
		}
		return v
	}
	in := people.DefaultSenders{WhatsApp: parse("default_whatsapp"), SMS: parse("default_sms")}
	err = s.People.SetDefaultSenders(c.Request().Context(), *currentUser(c), id, in, c.RealIP())
	if err != nil {
		return s.departmentFailed(c, id, err, func(v *pages.DepartmentSettingsView) {
			v.DefaultWhatsApp, v.DefaultSMS = in.WhatsApp, in.SMS
		})
	}
	return c.Redirect(http.StatusSeeOther, "/departments/"+strconv.FormatInt(id, 10)+"?done=defaults#senders")
}

func hoursInput(c echo.Context) policy.HoursInput {
	var in policy.HoursInput
	for i, key := range policy.DayKeys {
		in.Days[i] = policy.DayInput{Mode: c.FormValue(key + "_mode"), Open: c.FormValue(key + "_open"), Close: c.FormValue(key + "_close")}
	}
	in.ClosedDates = c.FormValue("closed_dates")
	return in
}

func (s *Server) saveDepartmentHours(c echo.Context) error {
	id, err := s.departmentID(c)
	if err != nil {
		return err
	}
	ctx, actor := c.Request().Context(), *currentUser(c)
	if c.FormValue("clear") == "1" {
		if err := s.People.ClearBusinessHours(ctx, actor, id, c.RealIP()); err != nil {
			return s.departmentFailed(c, id, err, func(*pages.DepartmentSettingsView) {})
		}
		return c.Redirect(http.StatusSeeOther, "/departments/"+strconv.FormatInt(id, 10)+"?done=hours-cleared#hours")
	}
	in := hoursInput(c)
	if err := s.People.SaveBusinessHours(ctx, actor, id, in, c.RealIP()); err != nil {
		return s.departmentFailed(c, id, err, func(v *pages.DepartmentSettingsView) { v.Hours = in })
	}
	return c.Redirect(http.StatusSeeOther, "/departments/"+strconv.FormatInt(id, 10)+"?done=hours#hours")
}

func (s *Server) saveOutOfHoursReply(c echo.Context) error {
	id, err := s.departmentID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	school, err := s.Messaging.SchoolName(ctx)
	if err != nil {
		return err
	}
	text := c.FormValue("reply")
	if err := s.People.SaveOutOfHoursReply(ctx, *currentUser(c), id, text, school, c.RealIP()); err != nil {
		return s.departmentFailed(c, id, err, func(v *pages.DepartmentSettingsView) { v.Reply = text })
	}
	return c.Redirect(http.StatusSeeOther, "/departments/"+strconv.FormatInt(id, 10)+"?done=reply#out-of-hours")
}

// previewOpens is {opens} as the next reply would carry it: the opening
// after the department next closes. Without hours no reply goes out, so the
// preview shows an example.
func previewOpens(hours policy.BusinessHours, now time.Time, loc *time.Location) string {
	closes, ok := policy.NextClosing(hours, now, loc)
	if !ok {
		return "Monday at 08:00"
	}
	next, ok := policy.NextOpening(hours, closes, loc)
	return policy.OpensText(next, ok, closes, loc)
}
