package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/senderadmin"
	"github.com/classline/classline/views/pages"
)

// Sender administration (admins only): register a WhatsApp sender and follow
// it to ONLINE, edit its profile, give any sender a department, add SMS
// numbers and Messaging Services, delete.

// senderAdminRoutes registers the admin pages that register, verify, edit
// and delete senders.
func (s *Server) senderAdminRoutes(admin *echo.Group) {
	admin.GET("/senders/new", s.senderRegisterPage)
	admin.POST("/senders/new", s.senderRegister)
	admin.GET("/senders/sms", s.senderSMSPage)
	admin.POST("/senders/sms", s.senderAddSMS)
	admin.GET("/senders/service", s.senderServicePage)
	admin.POST("/senders/service", s.senderAddService)
	admin.GET("/senders/:id", s.senderPage)
	admin.GET("/senders/:id/status", s.senderStatus)
	admin.POST("/senders/:id/verify", s.senderVerify)
	admin.POST("/senders/:id/resend", s.senderResend)
	admin.POST("/senders/:id/profile", s.senderProfile)
	admin.POST("/senders/:id/department", s.senderDepartment)
	admin.POST("/senders/:id/rate", s.senderRate)
	admin.GET("/senders/:id/delete", s.senderDeletePage)
	admin.POST("/senders/:id/delete", s.senderDelete)
}

// senderAdmin is the service behind these pages; it holds nothing of its own.
func (s *Server) senderAdmin() *senderadmin.Service {
	return &senderadmin.Service{DB: s.DB, Gateway: s.Gateway, Region: s.Config.DefaultRegion}
}

func (s *Server) senderID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.NewHTTPError(http.StatusNotFound, "There is no such sender.")
	}
	return id, nil
}

// notFoundSender maps a missing or archived sender to a 404 page.
func notFoundSender(err error) error {
	if errors.Is(err, senderadmin.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "There is no such sender; it may have been deleted.")
	}
	return err
}

func formDepartment(c echo.Context) int64 {
	id, _ := strconv.ParseInt(c.FormValue("department"), 10, 64)
	return id
}

// problemOf turns a service error into what the form shows: field errors,
// Twilio's refusal explained, or an unreachable Twilio. ok is false for any
// other error, which the caller returns as is.
func problemOf(err error) (errs map[string]string, pr *pages.SenderProblem, unreachable, ok bool) {
	var fe senderadmin.FieldErrors
	var ref *senderadmin.Refusal
	switch {
	case errors.As(err, &fe):
		return fe, nil, false, true
	case errors.As(err, &ref):
		pr = &pages.SenderProblem{Title: ref.Help.Title, Meaning: ref.Help.Meaning, Action: ref.Help.Action,
			Detail: fmt.Sprintf("%s (error %d, HTTP %d)", ref.Message, ref.Code, ref.HTTPStatus)}
		errs = map[string]string{}
		if ref.Field != "" {
			errs[ref.Field] = "Twilio refused this: " + ref.Message
		}
		return errs, pr, false, true
	case errors.Is(err, senderadmin.ErrUnreachable):
		return map[string]string{}, nil, true, true
	}
	return nil, nil, false, false
}

const unreachableText = "Twilio could not be reached, so nothing was changed there. Check the connection and try again in a minute."

func (s *Server) departments(c echo.Context) ([]db.Department, error) {
	return s.DB.DepartmentsByID(c.Request().Context(), nil)
}

// --- register a WhatsApp sender ---

func (s *Server) renderSenderRegister(c echo.Context, status int, v pages.SenderRegisterView) error {
	var err error
	if v.Departments, err = s.departments(c); err != nil {
		return err
	}
	if v.Errors == nil {
		v.Errors = map[string]string{}
	}
	p := s.page(c, "Register a WhatsApp sender", "senders")
	return render(c, status, pages.SenderRegister(p, v), pages.SenderRegisterContent(p, v))
}

func (s *Server) senderRegisterPage(c echo.Context) error {
	base := s.Config.PublicURL
	return s.renderSenderRegister(c, http.StatusOK, pages.SenderRegisterView{In: senderadmin.RegisterInput{
		Verification: senderadmin.VerifySMS,
		Profile: senderadmin.ProfileInput{Vertical: senderadmin.DefaultVertical,
			WebhookURL: base + "/webhooks/twilio/inbound", StatusCallbackURL: base + "/webhooks/twilio/status"},
	}})
}

func profileInput(c echo.Context) senderadmin.ProfileInput {
	return senderadmin.ProfileInput{
		DisplayName: c.FormValue("display_name"), About: c.FormValue("about"), Address: c.FormValue("address"),
		Description: c.FormValue("description"), Emails: c.FormValue("emails"), Websites: c.FormValue("websites"),
		Vertical: c.FormValue("vertical"), LogoURL: c.FormValue("logo_url"),
		WebhookURL: c.FormValue("webhook_url"), FallbackURL: c.FormValue("fallback_url"), StatusCallbackURL: c.FormValue("status_callback_url"),
	}
}

func (s *Server) senderRegister(c echo.Context) error {
	in := senderadmin.RegisterInput{Number: c.FormValue("number"), DepartmentID: formDepartment(c),
		Profile: profileInput(c), Verification: c.FormValue("verification")}
	id, err := s.senderAdmin().Register(c.Request().Context(), *currentUser(c), in, c.RealIP())
	if err != nil {
		errs, pr, unreachable, ok := problemOf(err)
		if !ok {
			return err
		}
		v := pages.SenderRegisterView{In: in, Errors: errs, Problem: pr}
		status := http.StatusUnprocessableEntity
		if unreachable {
			s.Log.Warn("register sender", "err", err)
			v.Error, status = unreachableText, http.StatusBadGateway
		}
		return s.renderSenderRegister(c, status, v)
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/senders/%d?done=registered", id))
}

// --- SMS numbers and Messaging Services ---

func (s *Server) renderSenderSMS(c echo.Context, status int, v pages.SenderSMSView) error {
	var err error
	if v.Departments, err = s.departments(c); err != nil {
		return err
	}
	if v.Errors == nil {
		v.Errors = map[string]string{}
	}
	p := s.page(c, "Add an SMS number", "senders")
	return render(c, status, pages.SenderSMS(p, v), pages.SenderSMSContent(p, v))
}

func (s *Server) senderSMSPage(c echo.Context) error {
	return s.renderSenderSMS(c, http.StatusOK, pages.SenderSMSView{})
}

func (s *Server) senderAddSMS(c echo.Context) error {
	in := senderadmin.SMSInput{Number: c.FormValue("number"), Label: c.FormValue("label"), DepartmentID: formDepartment(c)}
	id, err := s.senderAdmin().AddSMS(c.Request().Context(), *currentUser(c), in, c.RealIP())
	if err != nil {
		var fe senderadmin.FieldErrors
		if !errors.As(err, &fe) {
			return err
		}
		return s.renderSenderSMS(c, http.StatusUnprocessableEntity, pages.SenderSMSView{In: in, Errors: fe})
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/senders/%d?done=added", id))
}

func (s *Server) renderSenderService(c echo.Context, status int, v pages.SenderServiceView) error {
	var err error
	if v.Departments, err = s.departments(c); err != nil {
		return err
	}
	if v.Errors == nil {
		v.Errors = map[string]string{}
	}
	p := s.page(c, "Add a Messaging Service", "senders")
	return render(c, status, pages.SenderService(p, v), pages.SenderServiceContent(p, v))
}

func (s *Server) senderServicePage(c echo.Context) error {
	return s.renderSenderService(c, http.StatusOK, pages.SenderServiceView{In: senderadmin.ServiceInput{Channel: "sms"}})
}

func (s *Server) senderAddService(c echo.Context) error {
	in := senderadmin.ServiceInput{SID: c.FormValue("sid"), Channel: c.FormValue("channel"), Label: c.FormValue("label"), DepartmentID: formDepartment(c)}
	id, err := s.senderAdmin().AddService(c.Request().Context(), *currentUser(c), in, c.RealIP())
	if err != nil {
		var fe senderadmin.FieldErrors
		if !errors.As(err, &fe) {
			return err
		}
		return s.renderSenderService(c, http.StatusUnprocessableEntity, pages.SenderServiceView{In: in, Errors: fe})
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/senders/%d?done=added", id))
}

// --- a sender's page and its status area ---

var senderNotices = map[string]string{
	"registered": "Registration started. Twilio is registering the number with WhatsApp; this page follows it.",
	"added":      "Sender added. Classline can write from it now.",
	"profile":    "Profile sent to Twilio.",
	"department": "Department saved.",
	"rate":       "Sending speed saved.",
}

// refreshedSender loads a sender fresh from Twilio; when Twilio cannot be
// asked, the stored state is shown and marked as such.
func (s *Server) refreshedSender(c echo.Context, id int64) (pages.SenderLive, error) {
	d, err := s.senderAdmin().Refresh(c.Request().Context(), id)
	var stale *senderadmin.StaleError
	if errors.As(err, &stale) {
		s.Log.Warn("refresh sender", "sender", id, "err", err)
		return pages.SenderLive{Sender: d, CSRF: csrfToken(c), Stale: true}, nil
	}
	if err != nil {
		return pages.SenderLive{}, notFoundSender(err)
	}
	return pages.SenderLive{Sender: d, CSRF: csrfToken(c)}, nil
}

func (s *Server) renderSenderDetail(c echo.Context, status int, v pages.SenderDetailView) error {
	var err error
	if v.Departments, err = s.departments(c); err != nil {
		return err
	}
	if v.ProfileErrors == nil {
		v.ProfileErrors = map[string]string{}
	}
	v.Now = s.Now()
	p := s.page(c, senderTitle(v.Live.Sender), "senders")
	return render(c, status, pages.SenderDetail(p, v), pages.SenderDetailContent(p, v))
}

func senderTitle(d db.SenderDetail) string {
	if d.DisplayName != "" {
		return d.DisplayName
	}
	if d.Address != "" {
		return d.Address
	}
	return "Messaging Service"
}

// senderDetailView is the page for a sender as it now is, with its stored
// profile in the edit form.
func (s *Server) senderDetailView(c echo.Context, id int64) (pages.SenderDetailView, error) {
	live, err := s.refreshedSender(c, id)
	if err != nil {
		return pages.SenderDetailView{}, err
	}
	v := pages.SenderDetailView{Live: live, Profile: s.profileForm(live.Sender)}
	sender, rate, err := s.DB.SenderForSend(c.Request().Context(), id)
	if err != nil {
		return v, err
	}
	v.DefaultRate = broadcast.DefaultRate(sender, false)
	v.DefaultMediaRate = broadcast.DefaultRate(sender, true)
	if rate != nil {
		v.Rate = strconv.FormatFloat(*rate, 'f', -1, 64)
	}
	return v, nil
}

// senderRate sets how fast broadcasts may send from the sender.
func (s *Server) senderRate(c echo.Context) error {
	id, err := s.senderID(c)
	if err != nil {
		return err
	}
	err = s.senderAdmin().SetRate(c.Request().Context(), *currentUser(c), id, c.FormValue("rate"), c.RealIP())
	if err == nil {
		return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/senders/%d?done=rate", id))
	}
	var fe senderadmin.FieldErrors
	if !errors.As(err, &fe) {
		return notFoundSender(err)
	}
	v, verr := s.senderDetailView(c, id)
	if verr != nil {
		return verr
	}
	v.Rate, v.RateError = c.FormValue("rate"), fe["rate"]
	return s.renderSenderDetail(c, http.StatusUnprocessableEntity, v)
}

// profileForm fills the profile form from what is stored; a sender found by
// the sync may have no webhooks at Twilio, so Classline's own are offered.
func (s *Server) profileForm(d db.SenderDetail) senderadmin.ProfileInput {
	in := senderadmin.ProfileInputOf(d)
	if in.WebhookURL == "" {
		in.WebhookURL = s.Config.PublicURL + "/webhooks/twilio/inbound"
	}
	if in.StatusCallbackURL == "" {
		in.StatusCallbackURL = s.Config.PublicURL + "/webhooks/twilio/status"
	}
	return in
}

func (s *Server) senderPage(c echo.Context) error {
	id, err := s.senderID(c)
	if err != nil {
		return err
	}
	v, err := s.senderDetailView(c, id)
	if err != nil {
		return err
	}
	v.Notice = senderNotices[c.QueryParam("done")]
	return s.renderSenderDetail(c, http.StatusOK, v)
}

// senderStatus is polled by the status area while registration is under
// way: it asks Twilio, stores the answer, and sends the area back only when
// something changed (204 otherwise, so a half-typed code is kept).
func (s *Server) senderStatus(c echo.Context) error {
	id, err := s.senderID(c)
	if err != nil {
		return err
	}
	live, err := s.refreshedSender(c, id)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if shown := c.QueryParam("shown"); shown != "" && (live.Stale || shown == pages.SenderLiveKey(live.Sender)) {
		return c.NoContent(http.StatusNoContent)
	}
	return render(c, http.StatusOK, pages.SenderLiveArea(live), nil)
}

// liveAction answers a verify or resend: htmx gets the status area, a plain
// form the page (after a redirect on success).
func (s *Server) liveAction(c echo.Context, id int64, d db.SenderDetail, err error, code, notice string) error {
	if err != nil {
		errs, pr, unreachable, ok := problemOf(err)
		if !ok {
			return notFoundSender(err)
		}
		status := http.StatusUnprocessableEntity
		if unreachable {
			s.Log.Warn("sender action", "sender", id, "err", err)
			pr = &pages.SenderProblem{Title: "Twilio could not be reached", Meaning: unreachableText, Action: "Try again in a minute."}
			status = http.StatusBadGateway
		}
		live := pages.SenderLive{Sender: d, CSRF: csrfToken(c), Code: code, Errors: errs, Problem: pr}
		if isHTMX(c) {
			return render(c, status, pages.SenderLiveArea(live), nil)
		}
		return s.renderSenderDetail(c, status, pages.SenderDetailView{Live: live, Profile: s.profileForm(d)})
	}
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/senders/%d", id))
	}
	return render(c, http.StatusOK, pages.SenderLiveArea(pages.SenderLive{Sender: d, CSRF: csrfToken(c), Notice: notice}), nil)
}

func (s *Server) senderVerify(c echo.Context) error {
	id, err := s.senderID(c)
	if err != nil {
		return err
	}
	code := c.FormValue("code")
	d, err := s.senderAdmin().Verify(c.Request().Context(), *currentUser(c), id, code, c.RealIP())
	return s.liveAction(c, id, d, err, code, "Code sent to WhatsApp for checking.")
}

func (s *Server) senderResend(c echo.Context) error {
	id, err := s.senderID(c)
	if err != nil {
		return err
	}
	method := c.FormValue("method")
	d, err := s.senderAdmin().Resend(c.Request().Context(), *currentUser(c), id, method, c.RealIP())
	notice := "A new code is on its way by SMS."
	if method == senderadmin.VerifyVoice {
		notice = "A new code is on its way by voice call."
	}
	return s.liveAction(c, id, d, err, "", notice)
}

// --- edits ---

func (s *Server) senderProfile(c echo.Context) error {
	id, err := s.senderID(c)
	if err != nil {
		return err
	}
	in := profileInput(c)
	err = s.senderAdmin().UpdateProfile(c.Request().Context(), *currentUser(c), id, in, c.RealIP())
	if err == nil {
		return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/senders/%d?done=profile", id))
	}
	errs, pr, unreachable, ok := problemOf(err)
	if !ok {
		return notFoundSender(err)
	}
	v, verr := s.senderDetailView(c, id)
	if verr != nil {
		return verr
	}
	status := http.StatusUnprocessableEntity
	if unreachable {
		s.Log.Warn("update sender profile", "sender", id, "err", err)
		pr = &pages.SenderProblem{Title: "Twilio could not be reached", Meaning: unreachableText, Action: "Try again in a minute."}
		status = http.StatusBadGateway
	}
	v.Profile, v.ProfileErrors, v.ProfileProblem = in, errs, pr
	return s.renderSenderDetail(c, status, v)
}

func (s *Server) senderDepartment(c echo.Context) error {
	id, err := s.senderID(c)
	if err != nil {
		return err
	}
	err = s.senderAdmin().SetDepartment(c.Request().Context(), *currentUser(c), id, formDepartment(c), c.RealIP())
	if err == nil {
		return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/senders/%d?done=department", id))
	}
	var fe senderadmin.FieldErrors
	if !errors.As(err, &fe) {
		return notFoundSender(err)
	}
	v, verr := s.senderDetailView(c, id)
	if verr != nil {
		return verr
	}
	v.DepartmentError = fe["department"]
	return s.renderSenderDetail(c, http.StatusUnprocessableEntity, v)
}

// --- delete ---

func (s *Server) renderSenderDelete(c echo.Context, status int, v pages.SenderDeleteView) error {
	p := s.page(c, "Delete "+senderTitle(v.Sender), "senders")
	return render(c, status, pages.SenderDelete(p, v), pages.SenderDeleteContent(p, v))
}

func (s *Server) senderDeletePage(c echo.Context) error {
	id, err := s.senderID(c)
	if err != nil {
		return err
	}
	d, err := s.senderAdmin().Get(c.Request().Context(), id)
	if err != nil {
		return notFoundSender(err)
	}
	return s.renderSenderDelete(c, http.StatusOK, pages.SenderDeleteView{Sender: d})
}

func (s *Server) senderDelete(c echo.Context) error {
	id, err := s.senderID(c)
	if err != nil {
		return err
	}
	svc := s.senderAdmin()
	err = svc.Delete(c.Request().Context(), *currentUser(c), id, c.RealIP())
	if err == nil {
		return c.Redirect(http.StatusSeeOther, "/senders?done=deleted")
	}
	_, pr, unreachable, ok := problemOf(err)
	if !ok {
		return notFoundSender(err)
	}
	d, gerr := svc.Get(c.Request().Context(), id)
	if gerr != nil {
		return notFoundSender(gerr)
	}
	v := pages.SenderDeleteView{Sender: d, Problem: pr}
	status := http.StatusUnprocessableEntity
	if unreachable {
		s.Log.Warn("delete sender", "sender", id, "err", err)
		v.Error, status = unreachableText, http.StatusBadGateway
	}
	return s.renderSenderDelete(c, status, v)
}
