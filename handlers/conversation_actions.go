package handlers

import (
	"errors"
	"mime/multipart"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/views/components"
	"github.com/classline/classline/views/pages"
)

// act applies an assignment, close, reopen or snooze and answers with the
// conversation's new header (the live stream tells everyone else).
func (s *Server) act(kind string) echo.HandlerFunc {
	return func(c echo.Context) error {
		conv, err := s.visibleConversation(c)
		if err != nil {
			return err
		}
		u := currentUser(c)
		now := s.Now()
		a := messaging.Action{Kind: kind}
		switch kind {
		case "assign":
			if v := c.FormValue("assignee"); v == "me" {
				a.AssigneeID = u.ID
			} else {
				a.AssigneeID, _ = strconv.ParseInt(v, 10, 64)
			}
		case "snooze":
			a.Until = snoozeUntil(c.FormValue("for"), c.FormValue("until"), now, s.Config.SchoolTimezone)
		}
		err = s.Messaging.Act(c.Request().Context(), *u, conv.ID, a, now)
		var fe messaging.FieldErrors
		switch {
		case errors.As(err, &fe):
			for _, msg := range fe {
				return echo.NewHTTPError(http.StatusUnprocessableEntity, msg)
			}
		case errors.Is(err, messaging.ErrForbidden), errors.Is(err, db.ErrNotFound):
			return echo.NewHTTPError(http.StatusNotFound, "There is no such conversation, or it belongs to a department you are not in.")
		case err != nil:
			return err
		}
		if !isHTMX(c) {
			return c.Redirect(http.StatusSeeOther, components.ConversationURL(conv.ID))
		}
		ctx := c.Request().Context()
		conv, err = s.DB.ConversationByID(ctx, conv.ID)
		if err != nil {
			return err
		}
		staff, err := s.DB.StaffOfDepartment(ctx, conv.DepartmentID)
		if err != nil {
			return err
		}
		// Rendered with the time after the read: the page keeps the newest of
		// this answer and a live update that may overtake it.
		return render(c, http.StatusOK, components.ActionResult(conv, staff, s.Config.SchoolTimezone, s.Now()), nil)
	}
}

// snoozeUntil turns the snooze form's choice into a moment, in the school's
// zone for "tomorrow" and "Monday". Zero when nothing usable was chosen.
func snoozeUntil(choice, custom string, now time.Time, tz *time.Location) time.Time {
	if tz == nil {
		tz = time.UTC
	}
	local := now.In(tz)
	morning := func(days int) time.Time {
		d := local.AddDate(0, 0, days)
		return time.Date(d.Year(), d.Month(), d.Day(), 8, 0, 0, 0, tz)
	}
	switch choice {
	case "1h":
		return now.Add(time.Hour)
	case "3h":
		return now.Add(3 * time.Hour)
	case "tomorrow":
		return morning(1)
	case "monday":
		days := (int(time.Monday) - int(local.Weekday()) + 7) % 7
		if days == 0 {
			days = 7
		}
		return morning(days)
	default:
		t, err := time.ParseInLocation("2006-01-02T15:04", custom, tz)
		if err != nil {
			return time.Time{}
		}
		return t
	}
}

// addNote stores an internal note.
func (s *Server) addNote(c echo.Context) error {
	conv, err := s.visibleConversation(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	body := c.FormValue("note")
	id, err := s.Messaging.AddNote(ctx, *currentUser(c), conv.ID, body)
	var fe messaging.FieldErrors
	p := s.page(c, components.ContactName(conv.Contact), "inbox")
	if errors.As(err, &fe) {
		f := pages.NoteForm{ConversationID: conv.ID, Body: body, Error: fe["note"]}
		if !isHTMX(c) {
			rf, err := s.replyForm(c, conv, 0, "")
			if err != nil {
				return err
			}
			return s.renderConversation(c, http.StatusUnprocessableEntity, conv, rf, f)
		}
		return render(c, http.StatusUnprocessableEntity, pages.NoteComposer(p, f), nil)
	}
	if err != nil {
		return err
	}
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, components.ConversationURL(conv.ID))
	}
	m, err := s.DB.MessageByID(ctx, id)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, pages.NoteSaved(p, pages.NoteForm{ConversationID: conv.ID}, m, s.Now()), nil)
}

// markRead records that the user has read the conversation (the page calls
// it when live messages arrive while the conversation is open).
func (s *Server) markRead(c echo.Context) error {
	conv, err := s.visibleConversation(c)
	if err != nil {
		return err
	}
	if err := s.Messaging.MarkRead(c.Request().Context(), *currentUser(c), conv.ID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// presence records that the user has the conversation open, is typing, or left.
func (s *Server) presence(c echo.Context) error {
	conv, err := s.visibleConversation(c)
	if err != nil {
		return err
	}
	typing, leave := c.FormValue("typing") == "1", c.FormValue("leave") == "1"
	if err := s.Messaging.Presence(c.Request().Context(), *currentUser(c), conv.ID, typing, leave); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// upload stores an attachment for a message about to be sent on channel.
func (s *Server) upload(c echo.Context, channel string, fh *multipart.FileHeader) (db.Media, error) {
	f, err := fh.Open()
	if err != nil {
		return db.Media{}, err
	}
	defer f.Close()
	return s.Media.Upload(c.Request().Context(), currentUser(c).ID, channel, fh.Filename, fh.Header.Get("Content-Type"), f)
}
