package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/views/pages"
)

// School settings (admins only, registered in cannedRoutes): the school's
// name and the automatic WhatsApp answers to STOP, START and HELP.

const settingsSaved = "Settings saved. New keyword messages get the new answers."

func (s *Server) renderSettings(c echo.Context, status int, f pages.SettingsForm) error {
	if f.Errors == nil {
		f.Errors = map[string]string{}
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
	return pages.SettingsForm{SchoolName: name, Stop: texts.Stop, Start: texts.Start, Help: texts.Help}, nil
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
		SchoolName: c.FormValue("school_name"),
		Stop:       c.FormValue("stop"), Start: c.FormValue("start"), Help: c.FormValue("help"),
	}
	err := s.Messaging.SaveAutoReplyTexts(c.Request().Context(), *currentUser(c), c.RealIP(), f.SchoolName,
		messaging.AutoReplies{Stop: f.Stop, Start: f.Start, Help: f.Help})
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
