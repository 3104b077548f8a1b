package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/twiliosim"
	"github.com/classline/classline/views/pages"
)

func (s *Server) simulatorForm(c echo.Context) (pages.SimulatorForm, error) {
	if s.Sim == nil {
		return pages.SimulatorForm{}, echo.NewHTTPError(http.StatusNotFound, "The simulator runs only when no Twilio credentials are configured.")
	}
	ctx := c.Request().Context()
	senders, err := s.DB.ListSenders(ctx, nil)
	if err != nil {
		return pages.SimulatorForm{}, err
	}
	recent, err := s.DB.ListConversations(ctx, nil, db.ConversationPage{Limit: 10})
	return pages.SimulatorForm{Senders: senders, Recent: recent, Errors: map[string]string{}}, err
}

func (s *Server) simulatorPage(c echo.Context) error {
	f, err := s.simulatorForm(c)
	if err != nil {
		return err
	}
	f.From, f.To = c.QueryParam("from"), c.QueryParam("to")
	if c.QueryParam("sent") != "" {
		f.Sent = "Sent. The message is in the inbox."
	}
	return render(c, http.StatusOK, pages.Simulator(s.page(c, "Simulator", ""), f), nil)
}

// simulatorSend makes the simulator post a signed inbound webhook to us,
// exactly as Twilio would when a parent writes.
func (s *Server) simulatorSend(c echo.Context) error {
	f, err := s.simulatorForm(c)
	if err != nil {
		return err
	}
	f.From, f.To, f.Body, f.ProfileName = c.FormValue("from"), c.FormValue("to"), c.FormValue("body"), strings.TrimSpace(c.FormValue("profile_name"))
	phone, perr := policy.NormalizePhone(f.From, s.Config.DefaultRegion)
	if perr != nil {
		f.Errors["from"] = perr.Error()
	}
	if strings.TrimSpace(f.Body) == "" {
		f.Errors["body"] = "Write what the parent says."
	}
	senderID, _ := strconv.ParseInt(f.To, 10, 64)
	sender, err := s.DB.SenderByID(c.Request().Context(), senderID)
	if errors.Is(err, db.ErrNotFound) {
		f.Errors["to"] = "Choose one of the school's numbers."
	} else if err != nil {
		return err
	}
	if len(f.Errors) > 0 {
		return render(c, http.StatusUnprocessableEntity, pages.Simulator(s.page(c, "Simulator", ""), f), nil)
	}
	msg := twiliosim.InboundMessage{
		From: policy.Address(sender.Channel, phone), To: policy.Address(sender.Channel, sender.Address),
		Body: f.Body, ProfileName: f.ProfileName,
	}
	_, status, err := s.Sim.Inbound(c.Request().Context(), msg)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("simulated inbound (webhook answered %d): %w", status, err)
	}
	return c.Redirect(http.StatusSeeOther, "/simulator?sent=1&from="+url.QueryEscape(phone)+"&to="+strconv.FormatInt(sender.ID, 10))
}
