package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/internal/broadcastdraft"
	"github.com/classline/classline/views/components"
	"github.com/classline/classline/views/pages"
)

// The approval queue (admins): broadcasts over the size set in Settings, and
// urgent ones made by staff, wait here to be approved (sent now or at their
// time) or sent back with feedback. Also the Broadcasts fieldset of Settings.

// approvalQueueSize bounds the queue page: each item is reviewed (planned)
// on every view.
const approvalQueueSize = 30

var approvalNotices = map[string]string{
	"approved": "Approved: the broadcast is on its way (or waits for its time).",
	"rejected": "Sent back with your feedback.",
}

func (s *Server) approvalsPage(c echo.Context) error {
	v, err := s.approvalsView(c, 0, "", "")
	if err != nil {
		return err
	}
	v.Notice = approvalNotices[c.QueryParam("done")]
	return s.renderApprovals(c, http.StatusOK, v)
}

// approvalsView lists the queue; failedID's item shows the feedback typed
// and what is wrong with it.
func (s *Server) approvalsView(c echo.Context, failedID int64, feedback, errText string) (pages.ApprovalsView, error) {
	ctx := c.Request().Context()
	u := currentUser(c)
	rows, err := s.DB.ApprovalQueue(ctx, approvalQueueSize)
	if err != nil {
		return pages.ApprovalsView{}, err
	}
	v := pages.ApprovalsView{TZ: s.tz(), Now: s.Now()}
	svc := s.drafts()
	for _, r := range rows {
		rv, err := svc.Review(ctx, *u, r.Broadcast)
		if err != nil {
			return v, broadcastErr(err)
		}
		it := pages.ApprovalItem{Row: r, Review: rv}
		if r.ID == failedID {
			it.Feedback, it.Error = feedback, errText
		}
		v.Items = append(v.Items, it)
	}
	return v, nil
}

func (s *Server) renderApprovals(c echo.Context, status int, v pages.ApprovalsView) error {
	p := s.page(c, "Approvals", "broadcasts")
	return render(c, status, pages.BroadcastApprovals(p, v), pages.BroadcastApprovalsContent(p, v))
}

// decided goes back to where the decision was made: the queue or the page.
func decided(c echo.Context, id int64, done string) error {
	if c.FormValue("from") == "queue" {
		return redirect(c, "/broadcasts/approvals?done="+done)
	}
	return redirect(c, components.BroadcastURL(id)+"?done="+done)
}

func (s *Server) approveBroadcast(c echo.Context) error {
	id, err := broadcastID(c)
	if err != nil {
		return err
	}
	if err := s.drafts().Approve(c.Request().Context(), *currentUser(c), c.RealIP(), id); err != nil {
		return broadcastErr(err)
	}
	return decided(c, id, "approved")
}

func (s *Server) rejectBroadcast(c echo.Context) error {
	id, err := broadcastID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	feedback := c.FormValue("feedback")
	fe, err := s.drafts().Reject(ctx, *currentUser(c), c.RealIP(), id, feedback)
	if err != nil {
		return broadcastErr(err)
	}
	if len(fe) == 0 {
		return decided(c, id, "rejected")
	}
	// The feedback is missing or too long: show it again beside its field.
	if c.FormValue("from") == "queue" {
		v, err := s.approvalsView(c, id, feedback, fe["feedback"])
		if err != nil {
			return err
		}
		return s.renderApprovals(c, http.StatusUnprocessableEntity, v)
	}
	row, spec, err := s.drafts().Get(ctx, *currentUser(c), id)
	if err != nil {
		return broadcastErr(err)
	}
	v, err := s.broadcastPageView(c, row, spec)
	if err != nil {
		return err
	}
	v.Feedback, v.Errors = feedback, fe
	return s.renderBroadcastPage(c, http.StatusUnprocessableEntity, v)
}

// broadcastSettingsForm is the stored broadcast settings for the settings page.
func (s *Server) broadcastSettingsForm(c echo.Context) (pages.BroadcastSettingsForm, error) {
	st, err := broadcastdraft.LoadSettings(c.Request().Context(), s.DB)
	if err != nil {
		return pages.BroadcastSettingsForm{}, err
	}
	return pages.BroadcastSettingsForm{Input: st.InputOf(), Errors: map[string]string{}}, nil
}

// saveBroadcastSettings saves the Broadcasts fieldset of the settings page.
func (s *Server) saveBroadcastSettings(c echo.Context) error {
	in := broadcastdraft.SettingsInput{ApprovalThreshold: c.FormValue("approval_threshold"), PriceSMS: c.FormValue("price_sms"),
		PriceWhatsApp: c.FormValue("price_whatsapp"), PriceMMS: c.FormValue("price_mms"), Currency: c.FormValue("currency")}
	f := pages.BroadcastSettingsForm{Input: in, Errors: map[string]string{}}
	p := s.page(c, "Settings", "settings")
	st, errs := in.Validate()
	if len(errs) > 0 {
		f.Errors = errs
		if !isHTMX(c) {
			sf, err := s.settingsForm(c)
			if err != nil {
				return err
			}
			sf.Broadcasts = f
			return s.renderSettings(c, http.StatusUnprocessableEntity, sf)
		}
		return render(c, http.StatusUnprocessableEntity, pages.BroadcastSettings(p, f), nil)
	}
	err := broadcastdraft.SaveSettings(c.Request().Context(), s.DB, *currentUser(c), c.RealIP(), st)
	if errors.Is(err, broadcastdraft.ErrForbidden) {
		return echo.NewHTTPError(http.StatusForbidden, "Only admins can change the settings.")
	}
	if err != nil {
		return err
	}
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/settings?saved=1#broadcast-settings")
	}
	f = pages.BroadcastSettingsForm{Input: st.InputOf(), Errors: map[string]string{}, Notice: "Broadcast settings saved."}
	triggerToast(c, "Broadcast settings saved.", "success")
	return render(c, http.StatusOK, pages.BroadcastSettings(p, f), nil)
}
