package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/views/components"
	"github.com/classline/classline/views/pages"
)

const listSize = 50

func (s *Server) inbox(c echo.Context) error {
	u := currentUser(c)
	convs, err := s.DB.ListConversations(c.Request().Context(), messaging.DepartmentScope(*u), db.ConversationPage{Limit: listSize})
	if err != nil {
		return err
	}
	p := s.page(c, "Inbox", "inbox")
	return render(c, http.StatusOK, pages.Inbox(p, convs, s.Now()), pages.InboxContent(p, convs, s.Now()))
}

func (s *Server) composeForm(c echo.Context) (pages.ComposeForm, error) {
	u := currentUser(c)
	senders, err := s.DB.ListSenders(c.Request().Context(), messaging.DepartmentScope(*u))
	return pages.ComposeForm{Senders: senders, Channel: policy.ChannelWhatsApp, Errors: map[string]string{}}, err
}

func (s *Server) composePage(c echo.Context) error {
	f, err := s.composeForm(c)
	if err != nil {
		return err
	}
	f.To = c.QueryParam("to")
	p := s.page(c, "New message", "inbox")
	return render(c, http.StatusOK, pages.Compose(p, f), pages.ComposeContent(p, f))
}

func (s *Server) compose(c echo.Context) error {
	f, err := s.composeForm(c)
	if err != nil {
		return err
	}
	f.To, f.Channel, f.Body = c.FormValue("to"), c.FormValue("channel"), c.FormValue("body")
	f.SenderID, _ = strconv.ParseInt(c.FormValue("sender_id"), 10, 64)
	convID, _, err := s.Messaging.Compose(c.Request().Context(), *currentUser(c), messaging.ComposeInput{
		To: f.To, Channel: f.Channel, Body: f.Body, SenderID: f.SenderID,
	})
	var fe messaging.FieldErrors
	if errors.As(err, &fe) {
		f.Errors = fe
		p := s.page(c, "New message", "inbox")
		return render(c, http.StatusUnprocessableEntity, pages.Compose(p, f), pages.ComposeContent(p, f))
	}
	if err != nil {
		return err
	}
	return redirect(c, components.ConversationURL(convID))
}

func (s *Server) conversation(c echo.Context) error {
	conv, err := s.visibleConversation(c)
	if err != nil {
		return err
	}
	return s.renderConversation(c, http.StatusOK, conv, pages.ReplyForm{ConversationID: conv.ID, Channel: conv.Channel})
}

// renderConversation renders the conversation page with the reply form f.
func (s *Server) renderConversation(c echo.Context, status int, conv db.Conversation, f pages.ReplyForm) error {
	ctx := c.Request().Context()
	msgs, err := s.DB.ConversationMessages(ctx, conv.ID, 200)
	if err != nil {
		return err
	}
	list, err := s.DB.ListConversations(ctx, messaging.DepartmentScope(*currentUser(c)), db.ConversationPage{Limit: listSize})
	if err != nil {
		return err
	}
	now := s.Now()
	v := pages.ConversationView{
		Conversation: conv, Messages: msgs, List: list, Now: now, Reply: f,
		Window: policy.WhatsAppWindow(conv.LastInboundAt, now),
	}
	p := s.page(c, components.ContactName(conv.Contact), "inbox")
	return render(c, status, pages.Conversation(p, v), pages.ConversationContent(p, v))
}

func (s *Server) reply(c echo.Context) error {
	ctx := c.Request().Context()
	conv, err := s.visibleConversation(c)
	if err != nil {
		return err
	}
	body := c.FormValue("body")
	p := s.page(c, components.ContactName(conv.Contact), "inbox")
	msgID, err := s.Messaging.Reply(ctx, *currentUser(c), conv.ID, body)
	var fe messaging.FieldErrors
	if errors.As(err, &fe) {
		f := pages.ReplyForm{ConversationID: conv.ID, Channel: conv.Channel, Body: body, Error: fe["body"]}
		if !isHTMX(c) {
			return s.renderConversation(c, http.StatusUnprocessableEntity, conv, f)
		}
		return render(c, http.StatusUnprocessableEntity, pages.ReplyComposer(p, f), nil)
	}
	if err != nil {
		return err
	}
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, components.ConversationURL(conv.ID))
	}
	m, err := s.DB.MessageByID(ctx, msgID)
	if err != nil {
		return err
	}
	// A fresh composer, plus the message itself out of band: the live stream
	// sends it too, and the client keeps one copy.
	return render(c, http.StatusOK, pages.ReplySent(p, pages.ReplyForm{ConversationID: conv.ID, Channel: conv.Channel}, m, s.Now()), nil)
}

// visibleConversation loads the :id conversation if the user may see it. A
// conversation of another department reads as not found, not forbidden, so
// guessing ids reveals nothing.
func (s *Server) visibleConversation(c echo.Context) (db.Conversation, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return db.Conversation{}, echo.NewHTTPError(http.StatusNotFound, "There is no such conversation.")
	}
	conv, err := s.DB.ConversationByID(c.Request().Context(), id)
	if errors.Is(err, db.ErrNotFound) || (err == nil && !messaging.CanSee(*currentUser(c), conv.DepartmentID)) {
		return conv, echo.NewHTTPError(http.StatusNotFound, "There is no such conversation, or it belongs to a department you are not in.")
	}
	return conv, err
}

// redirect sends htmx to a new page with a full load and others with a 303.
func redirect(c echo.Context, to string) error {
	if isHTMX(c) {
		c.Response().Header().Set("HX-Redirect", to)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// composeCount re-renders a composer's character and segment counter.
func (s *Server) composeCount(c echo.Context) error {
	id := c.FormValue("counter")
	if id != "body-count" && id != "reply-count" {
		id = "body-count"
	}
	return render(c, http.StatusOK, components.SegmentCount(id, c.FormValue("body"), c.FormValue("channel")), nil)
}

// retry sends a failed message again.
func (s *Server) retry(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "There is no such message.")
	}
	u := currentUser(c)
	newID, err := s.Messaging.Retry(c.Request().Context(), *u, id)
	switch {
	case errors.Is(err, db.ErrNotFound), errors.Is(err, messaging.ErrForbidden):
		return echo.NewHTTPError(http.StatusNotFound, "There is no such message, or it belongs to a department you are not in.")
	case errors.Is(err, messaging.ErrNotRetryable):
		return echo.NewHTTPError(http.StatusConflict, "Sending this message again would fail the same way, so it cannot be retried.")
	case err != nil:
		var fe messaging.FieldErrors
		if errors.As(err, &fe) {
			return echo.NewHTTPError(http.StatusUnprocessableEntity, fe["body"])
		}
		return err
	}
	m, err := s.DB.MessageByID(c.Request().Context(), newID)
	if err != nil {
		return err
	}
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, components.ConversationURL(m.ConversationID))
	}
	return render(c, http.StatusOK, components.LiveMessage(m, s.Config.SchoolTimezone, s.Now()), nil)
}
