package handlers

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/media"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/senderpick"
	"github.com/classline/classline/views/components"
	"github.com/classline/classline/views/pages"
)

const listSize = 50

// inboxState reads the list the request asks for and loads it with the counts.
func (s *Server) inboxState(c echo.Context) (pages.InboxState, error) {
	ctx := c.Request().Context()
	u := currentUser(c)
	scope := messaging.DepartmentScope(*u)
	st := pages.InboxState{View: c.QueryParam("view"), Status: c.QueryParam("status"), Sort: c.QueryParam("sort"),
		Query: strings.TrimSpace(c.QueryParam("q")), Admin: u.IsAdmin(), UserID: u.ID}
	switch st.Status {
	case "open", "snoozed", "closed":
	default:
		st.Status = "open"
	}
	if st.Sort != db.SortWaiting {
		st.Sort = db.SortRecent
	}
	// "Load more" shows rows only: no views menu to count.
	more := c.QueryParam("more") != "" && isHTMX(c)
	if !more {
		deps, err := s.DB.DepartmentsByID(ctx, scope)
		if err != nil {
			return st, err
		}
		st.Departments = deps
	}
	switch st.View {
	case db.ViewMine, db.ViewUnassigned:
	case db.ViewDepartment:
		st.DepartmentID, _ = strconv.ParseInt(c.QueryParam("department"), 10, 64)
		if !messaging.CanSee(*u, &st.DepartmentID) {
			st.View, st.DepartmentID = db.ViewAll, 0
		}
	default:
		st.View = db.ViewAll
	}
	// The counts and the list are independent: ask for both at once.
	counted := make(chan error, 1)
	if more {
		counted <- nil
	} else {
		go func() {
			var err error
			st.Counts, err = s.DB.CountInbox(ctx, u.ID, scope, st.Status)
			counted <- err
		}()
	}
	var err error
	if st.Query != "" {
		st.Page.Conversations, err = s.DB.SearchConversations(ctx, scope, st.Query, listSize)
	} else {
		st.Page, err = s.DB.ListInbox(ctx, db.InboxQuery{UserID: u.ID, Scope: scope, View: st.View, DepartmentID: st.DepartmentID,
			Status: st.Status, Sort: st.Sort, After: db.ParseCursor(c.QueryParam("after")), Limit: listSize})
	}
	cerr := <-counted // before st is read: the counts are written by the goroutine
	return st, errors.Join(err, cerr)
}

func (s *Server) inbox(c echo.Context) error {
	st, err := s.inboxState(c)
	if err != nil {
		return err
	}
	now := s.Now()
	p := s.page(c, "Inbox", "inbox")
	if c.QueryParam("more") != "" && isHTMX(c) {
		return render(c, http.StatusOK, pages.ConversationItems(st, 0, p.TZ, now), nil)
	}
	return render(c, http.StatusOK, pages.Inbox(p, st, now), pages.InboxContent(p, st, now))
}

func (s *Server) composeForm(c echo.Context) (pages.ComposeForm, error) {
	u := currentUser(c)
	senders, err := s.DB.ListSenders(c.Request().Context(), messaging.DepartmentScope(*u))
	if err != nil {
		return pages.ComposeForm{}, err
	}
	f := pages.ComposeForm{Senders: senders, Channel: policy.ChannelWhatsApp, Purpose: policy.PurposeTransactional, Errors: map[string]string{}}
	f.Templates, err = s.approvedTemplateOptions(c)
	return f, err
}

func (s *Server) composePage(c echo.Context) error {
	f, err := s.composeForm(c)
	if err != nil {
		return err
	}
	f.To = c.QueryParam("to")
	if ch, err := s.Messaging.PreviewSender(c.Request().Context(), *currentUser(c), messaging.ComposeInput{To: f.To, Channel: f.Channel}); err == nil {
		f.Choice = "Will send from " + components.SenderLabel(ch.Sender) + " (" + ch.Reason + ")."
	}
	p := s.page(c, "New message", "inbox")
	return render(c, http.StatusOK, pages.Compose(p, f), pages.ComposeContent(p, f))
}

func (s *Server) compose(c echo.Context) error {
	f, err := s.composeForm(c)
	if err != nil {
		return err
	}
	f.To, f.Channel, f.Body = c.FormValue("to"), c.FormValue("channel"), c.FormValue("body")
	f.SenderID, f.Strategy = parseSenderChoice(c.FormValue("sender_id"))
	if v := c.FormValue("purpose"); v != "" {
		f.Purpose = v // an unknown value is refused by Compose, next to the choice
	}
	p := s.page(c, "New message", "inbox")
	in := messaging.ComposeInput{To: f.To, Channel: f.Channel, Body: f.Body, SenderID: f.SenderID, Strategy: f.Strategy,
		Purpose: f.Purpose, IP: c.RealIP()}
	f.TemplateID, _ = strconv.ParseInt(c.FormValue("template_id"), 10, 64)
	if f.TemplateID != 0 {
		values := typedValues(c)
		in.Template = messaging.TemplateInput{TemplateID: f.TemplateID, Values: values}
		if err := s.fillComposeTemplate(c, &f, values); err != nil {
			return err
		}
	}
	if fh, err := c.FormFile("media"); err == nil && fh.Size > 0 && (f.Channel == policy.ChannelWhatsApp || f.Channel == policy.ChannelSMS) {
		md, err := s.upload(c, f.Channel, fh)
		var refused *media.RefusedError
		if errors.As(err, &refused) {
			f.Errors["media"] = refused.Reason
			return render(c, http.StatusUnprocessableEntity, pages.Compose(p, f), pages.ComposeContent(p, f))
		}
		if err != nil {
			return err
		}
		in.Media = []db.Media{md}
	}
	convID, _, err := s.Messaging.Compose(c.Request().Context(), *currentUser(c), in)
	var fe messaging.FieldErrors
	if errors.As(err, &fe) {
		f.Errors = fe
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
	u := currentUser(c)
	if err := s.Messaging.MarkRead(c.Request().Context(), *u, conv.ID); err != nil {
		return err
	}
	f, err := s.replyForm(c, conv, 0, "")
	if err != nil {
		return err
	}
	return s.renderConversation(c, http.StatusOK, conv, f, pages.NoteForm{ConversationID: conv.ID})
}

// replyForm builds the composer of a conversation for sending from senderID
// (0: the conversation's sender), saying why sending is blocked if it is.
func (s *Server) replyForm(c echo.Context, conv db.Conversation, senderID int64, body string) (pages.ReplyForm, error) {
	ctx := c.Request().Context()
	u := currentUser(c)
	f := pages.ReplyForm{ConversationID: conv.ID, Channel: conv.Channel, Body: body, SenderID: conv.Sender.ID}
	senders, err := s.DB.ListSenders(ctx, messaging.DepartmentScope(*u))
	if err != nil {
		return f, err
	}
	sender := conv.Sender
	f.Senders = senders
	if !slices.ContainsFunc(senders, func(x db.Sender) bool { return x.ID == conv.Sender.ID }) {
		f.Senders = append([]db.Sender{conv.Sender}, senders...)
	}
	if senderID != 0 && senderID != conv.Sender.ID {
		i := slices.IndexFunc(senders, func(x db.Sender) bool { return x.ID == senderID })
		if i < 0 {
			f.SenderError = "Choose one of your departments' senders."
		} else {
			sender = senders[i]
			f.SenderID, f.Channel = sender.ID, sender.Channel
		}
	}
	target := conv
	if sender.ID != conv.Sender.ID {
		if target, err = s.DB.ConversationFor(ctx, conv.Contact.Phone, sender.ID); err != nil && !errors.Is(err, db.ErrNotFound) {
			return f, err
		}
	}
	// Replies are school business: the same rule Reply applies, said before typing.
	consent, err := s.DB.ConsentStateOf(ctx, conv.Contact.Phone)
	if err != nil {
		return f, err
	}
	allowed, reason := policy.ConsentAllows(policy.PurposeTransactional, consent)
	switch {
	case sender.Status == "OFFLINE":
		f.Blocked, f.BlockedKind = "This number is offline at Twilio, so nothing can be sent from it now. Choose another sender or ask an admin to check it.", "sender"
	case !allowed:
		f.Blocked, f.BlockedKind = policy.ConsentRefusalText(reason, consent, s.Config.SchoolTimezone), "optout"
	case sender.Channel == policy.ChannelWhatsApp:
		if msg := messaging.WindowClosedText(target.LastInboundAt, s.Now()); msg != "" {
			f.Blocked, f.BlockedKind = msg, "window"
		}
	}
	return f, nil
}

// composer re-renders the composer for another sender, keeping the text.
func (s *Server) composer(c echo.Context) error {
	conv, err := s.visibleConversation(c)
	if err != nil {
		return err
	}
	senderID, _ := strconv.ParseInt(c.QueryParam("sender_id"), 10, 64)
	f, err := s.replyForm(c, conv, senderID, c.QueryParam("body"))
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, pages.ReplyComposer(s.page(c, "", "inbox"), f), nil)
}

// renderConversation renders the conversation page with the reply form f.
// A request from the list (HX-Target conv-pane) gets only the pane.
func (s *Server) renderConversation(c echo.Context, status int, conv db.Conversation, f pages.ReplyForm, note pages.NoteForm) error {
	ctx := c.Request().Context()
	msgs, err := s.DB.ConversationMessages(ctx, conv.ID, 200)
	if err != nil {
		return err
	}
	staff, err := s.DB.StaffOfDepartment(ctx, conv.DepartmentID)
	if err != nil {
		return err
	}
	viewers, err := s.DB.Viewers(ctx, conv.ID, s.Now().Add(-messaging.PresenceTTL))
	if err != nil {
		return err
	}
	tpl, err := s.templateSendForm(c, conv, 0, nil)
	if err != nil {
		return err
	}
	tpl.Open = f.BlockedKind == "window"
	now := s.Now()
	v := pages.ConversationView{
		Conversation: conv, Messages: msgs, Now: now, Reply: f, Note: note, Staff: staff, Viewers: viewers, Template: tpl,
	}
	p := s.page(c, components.ContactName(conv.Contact), "inbox")
	if c.Request().Header.Get("HX-Target") == "conv-pane" {
		return render(c, status, pages.ConversationPane(p, v), nil)
	}
	if v.List, err = s.inboxState(c); err != nil {
		return err
	}
	return render(c, status, pages.Conversation(p, v), pages.ConversationContent(p, v))
}

func (s *Server) reply(c echo.Context) error {
	ctx := c.Request().Context()
	conv, err := s.visibleConversation(c)
	if err != nil {
		return err
	}
	u := currentUser(c)
	body := c.FormValue("body")
	senderID, _ := strconv.ParseInt(c.FormValue("sender_id"), 10, 64)
	p := s.page(c, components.ContactName(conv.Contact), "inbox")
	f, err := s.replyForm(c, conv, senderID, body)
	if err != nil {
		return err
	}
	in := messaging.ReplyInput{Body: body, SenderID: senderID, IP: c.RealIP()}
	fail := func(f pages.ReplyForm) error {
		if !isHTMX(c) {
			return s.renderConversation(c, http.StatusUnprocessableEntity, conv, f, pages.NoteForm{ConversationID: conv.ID})
		}
		return render(c, http.StatusUnprocessableEntity, pages.ReplyComposer(p, f), nil)
	}
	if fh, err := c.FormFile("media"); err == nil && fh.Size > 0 {
		md, err := s.upload(c, f.Channel, fh)
		var refused *media.RefusedError
		if errors.As(err, &refused) {
			f.MediaError = refused.Reason
			return fail(f)
		}
		if err != nil {
			return err
		}
		in.Media = []db.Media{md}
	}
	convID, msgID, err := s.Messaging.Reply(ctx, *u, conv.ID, in)
	var fe messaging.FieldErrors
	if errors.As(err, &fe) {
		f.Error, f.SenderError = fe["body"], fe["sender"]
		return fail(f)
	}
	if err != nil {
		return err
	}
	if convID != conv.ID || !isHTMX(c) {
		// Sent from another sender: the message lives in that conversation.
		return redirect(c, components.ConversationURL(convID))
	}
	m, err := s.DB.MessageByID(ctx, msgID)
	if err != nil {
		return err
	}
	fresh, err := s.replyForm(c, conv, senderID, "")
	if err != nil {
		return err
	}
	// A fresh composer, plus the message itself out of band: the live stream
	// sends it too, and the client keeps one copy.
	return render(c, http.StatusOK, pages.ReplySent(p, fresh, m, s.Now()), nil)
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

// parseSenderChoice reads the composer's From: a sender id, or a strategy.
func parseSenderChoice(v string) (int64, string) {
	if st, ok := strings.CutPrefix(v, "strategy:"); ok {
		switch st {
		case senderpick.StrategyLRU, senderpick.StrategyDepartment, senderpick.StrategyMessagingService:
			return 0, st
		}
		return 0, ""
	}
	id, _ := strconv.ParseInt(v, 10, 64)
	return id, ""
}

// senderChoice previews which sender a new message will go from, and why.
func (s *Server) senderChoice(c echo.Context) error {
	id, strategy := parseSenderChoice(c.QueryParam("sender_id"))
	channel := c.QueryParam("channel")
	text := ""
	if channel == policy.ChannelWhatsApp || channel == policy.ChannelSMS {
		ch, err := s.Messaging.PreviewSender(c.Request().Context(), *currentUser(c), messaging.ComposeInput{
			To: c.QueryParam("to"), Channel: channel, SenderID: id, Strategy: strategy})
		var ns *senderpick.NoSenderError
		switch {
		case errors.As(err, &ns):
			text = ns.Message
		case err != nil:
			return err
		default:
			text = "Will send from " + components.SenderLabel(ch.Sender) + " (" + ch.Reason + ")."
		}
	}
	return render(c, http.StatusOK, pages.SenderChoice(text), nil)
}
