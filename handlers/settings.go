package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/templates"
	"github.com/classline/classline/views/pages"
)

// School settings (admins only, registered in cannedRoutes): the school's
// name, the automatic WhatsApp answers to STOP, START and HELP, and quiet
// hours (no broadcasts at night).

const settingsSaved = "Settings saved. New keyword messages get the new answers."

func (s *Server) renderSettings(c echo.Context, status int, f pages.SettingsForm) error {
	if f.Errors == nil {
		f.Errors = map[string]string{}
	}
	f.TimeZone = "UTC"
	if s.Config.SchoolTimezone != nil {
		f.TimeZone = s.Config.SchoolTimezone.String()
	}
	p := s.page(c, "Settings", "settings")
	return render(c, status, pages.Settings(p, f), pages.SettingsContent(p, f))
}

// settingsForm reads the stored settings into the form.
func (s *Server) settingsForm(c echo.Context) (pages.SettingsForm, error) {
	ctx := c.Request().Context()
	name, err := s.Messaging.SchoolName(ctx)
	if err != nil {
		return pages.SettingsForm{}, err
	}
	texts, err := s.Messaging.AutoReplyTexts(ctx)
	if err != nil {
		return pages.SettingsForm{}, err
	}
	deps, err := s.DB.DepartmentsByID(ctx, nil)
	if err != nil {
		return pages.SettingsForm{}, err
	}
	lang, err := s.Templates.SchoolLanguage(ctx)
	if err != nil {
		return pages.SettingsForm{}, err
	}
	quiet, err := s.Messaging.QuietHours(ctx)
	if err != nil {
		// Unreadable (edited by hand): show the default to save over it.
		s.Log.Warn("quiet hours setting", "err", err)
	}
	bc, err := s.broadcastSettingsForm(c)
	if err != nil {
		return pages.SettingsForm{}, err
	}
	return pages.SettingsForm{SchoolName: name, SchoolLanguage: lang, Stop: texts.Stop, Start: texts.Start, Help: texts.Help,
		QuietEnabled: quiet.Enabled, QuietStart: quiet.Start, QuietEnd: quiet.End,
		Goals: pages.GoalsForm{Departments: deps}, Broadcasts: bc}, nil
}

// goalsSave sets each department's response-time goal, in minutes.
func (s *Server) goalsSave(c echo.Context) error {
	ctx := c.Request().Context()
	deps, err := s.DB.DepartmentsByID(ctx, nil)
	if err != nil {
		return err
	}
	f := pages.GoalsForm{Departments: deps, Values: map[int64]string{}, Errors: map[int64]string{}}
	goals := map[int64]time.Duration{}
	for _, d := range deps {
		raw := strings.TrimSpace(c.FormValue("goal-" + strconv.FormatInt(d.ID, 10)))
		f.Values[d.ID] = raw
		if raw == "" {
			continue
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 7*24*60 {
			f.Errors[d.ID] = "Enter a whole number of minutes from 1 to 10080 (a week), or leave it empty."
			continue
		}
		goals[d.ID] = time.Duration(n) * time.Minute
	}
	p := s.page(c, "Settings", "settings")
	if len(f.Errors) > 0 {
		return render(c, http.StatusUnprocessableEntity, pages.ResponseGoals(p, f), nil)
	}
	uid := currentUser(c).ID
	for _, d := range deps {
		if goals[d.ID] == d.ResponseGoal {
			continue
		}
		if err := s.DB.SetResponseGoal(ctx, d.ID, goals[d.ID]); err != nil {
			return err
		}
		if err := s.DB.Audit(ctx, &uid, "department.response_goal", "department:"+strconv.FormatInt(d.ID, 10),
			map[string]int{"minutes": int(d.ResponseGoal.Minutes())}, map[string]int{"minutes": int(goals[d.ID].Minutes())}, c.RealIP()); err != nil {
			return err
		}
	}
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/settings?saved=1")
	}
	if f.Departments, err = s.DB.DepartmentsByID(ctx, nil); err != nil {
		return err
	}
	f.Values, f.Notice = nil, "Goals saved. The inbox flags waiting parents against them from now on."
	return render(c, http.StatusOK, pages.ResponseGoals(p, f), nil)
}

func (s *Server) settingsPage(c echo.Context) error {
	f, err := s.settingsForm(c)
	if err != nil {
		return err
	}
	if c.QueryParam("saved") != "" {
		f.Notice = settingsSaved
	}
	return s.renderSettings(c, http.StatusOK, f)
}

func (s *Server) settingsSave(c echo.Context) error {
	f := pages.SettingsForm{
		SchoolName: c.FormValue("school_name"), SchoolLanguage: c.FormValue("school_language"),
		Stop: c.FormValue("stop"), Start: c.FormValue("start"), Help: c.FormValue("help"),
		QuietEnabled: c.FormValue("quiet_enabled") != "", QuietStart: strings.TrimSpace(c.FormValue("quiet_start")),
		QuietEnd: strings.TrimSpace(c.FormValue("quiet_end")),
	}
	quiet := policy.QuietHours{Enabled: f.QuietEnabled, Start: f.QuietStart, End: f.QuietEnd}
	// A post without the quiet hours fields (an older page still open, a
	// script) leaves them as they are; an unticked box alone cannot say so.
	form, err := c.FormParams()
	if err != nil {
		return err
	}
	_, hasStart := form["quiet_start"]
	_, hasEnd := form["quiet_end"]
	withQuiet := hasStart || hasEnd
	if !withQuiet {
		stored, _ := s.Messaging.QuietHours(c.Request().Context()) // the default if unreadable
		f.QuietEnabled, f.QuietStart, f.QuietEnd = stored.Enabled, stored.Start, stored.End
	}
	deps, err := s.DB.DepartmentsByID(c.Request().Context(), nil)
	if err != nil {
		return err
	}
	f.Goals.Departments = deps
	if f.Broadcasts, err = s.broadcastSettingsForm(c); err != nil {
		return err
	}
	// Quiet hours are checked before anything is saved, so a mistyped time
	// does not leave the page half saved.
	if errs := quiet.Validate(); withQuiet && len(errs) > 0 {
		f.Errors = errs
		return s.renderSettings(c, http.StatusUnprocessableEntity, f)
	}
	err = s.Messaging.SaveAutoReplyTexts(c.Request().Context(), *currentUser(c), c.RealIP(), f.SchoolName,
		messaging.AutoReplies{Stop: f.Stop, Start: f.Start, Help: f.Help})
	if err == nil && f.SchoolLanguage != "" {
		if lerr := s.Templates.SetSchoolLanguage(c.Request().Context(), *currentUser(c), c.RealIP(), f.SchoolLanguage); lerr != nil {
			var te templates.Errors
			if !errors.As(lerr, &te) {
				return lerr
			}
			err = messaging.FieldErrors(te)
		}
	}
	if err == nil && withQuiet {
		err = s.Messaging.SaveQuietHours(c.Request().Context(), *currentUser(c), c.RealIP(), quiet)
	}
	var fe messaging.FieldErrors
	switch {
	case errors.As(err, &fe):
		f.Errors = fe
		return s.renderSettings(c, http.StatusUnprocessableEntity, f)
	case errors.Is(err, messaging.ErrForbidden):
		return echo.NewHTTPError(http.StatusForbidden, "Only admins can change the settings.")
	case err != nil:
		return err
	}
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/settings?saved=1")
	}
	saved, err := s.settingsForm(c)
	if err != nil {
		return err
	}
	triggerToast(c, settingsSaved, "success")
	return s.renderSettings(c, http.StatusOK, saved)
}
