package handlers

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/internal/senderadmin"
	"github.com/classline/classline/views/pages"
)

func (s *Server) renderSenders(c echo.Context, status int, v pages.SendersView) error {
	var err error
	if v.Senders, err = s.DB.ListSenderRows(c.Request().Context()); err != nil {
		return err
	}
	v.Now = s.Now()
	p := s.page(c, "Senders", "senders")
	return render(c, status, pages.Senders(p, v), pages.SendersContent(p, v))
}

func (s *Server) sendersPage(c echo.Context) error {
	v := pages.SendersView{}
	if c.QueryParam("done") == "deleted" {
		v.Notice = "Sender deleted. Its conversations and their history stay."
	}
	return s.renderSenders(c, http.StatusOK, v)
}

// syncSenders asks Twilio's Senders API for every WhatsApp sender's health now.
func (s *Server) syncSenders(c echo.Context) error {
	res, err := senderadmin.Sync(c.Request().Context(), s.Gateway, s.DB)
	if err != nil {
		s.Log.Warn("sender sync", "err", err)
		return s.renderSenders(c, http.StatusBadGateway, pages.SendersView{
			Error: "Twilio could not be asked just now; the list shows what was last known. Try again in a minute."})
	}
	uid := currentUser(c).ID
	if err := s.DB.Audit(c.Request().Context(), &uid, "senders.sync", "", nil, res, c.RealIP()); err != nil {
		return err
	}
	return s.renderSenders(c, http.StatusOK, pages.SendersView{Notice: fmt.Sprintf("Checked with Twilio: %d WhatsApp senders, %d new.", res.Seen, res.New)})
}
