package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/live"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/views/components"
)

// events streams live updates as out-of-band htmx fragments. Each event is
// re-checked against the user's session and departments before anything is
// rendered, so a stream ends with its session and never leaks another
// department's messages.
func (s *Server) events(c echo.Context) error {
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sub := s.Hub.Subscribe()
	defer sub.Close()
	s.Metrics.SSEClients.Inc()
	defer s.Metrics.SSEClients.Dec()
	sess, _ := c.Get(ctxSession).(db.Session)

	if _, err := io.WriteString(w, "retry: 2000\n: connected\n\n"); err != nil {
		return nil
	}
	ctx := c.Request().Context()
	if u := currentUser(c); u != nil {
		if err := s.catchUp(ctx, w, *u, streamSince(c, s.Now())); err != nil {
			s.Log.Warn("live: catch up", "err", err)
		}
	}
	w.Flush()
	heartbeat := time.NewTicker(20 * time.Second)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.Done:
			return nil
		case <-heartbeat.C:
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil {
				return nil
			}
		case ev := <-sub.C:
			_, u, err := s.DB.SessionWithUser(ctx, sess.ID)
			if err != nil {
				// Signed out, deactivated, or the database is away: end the
				// stream; the browser reconnects and is turned away if need be.
				return nil
			}
			html, err := s.renderEvent(ctx, u, ev)
			if err != nil {
				s.Log.Warn("live: render event", "err", err, "type", ev.Type)
				continue
			}
			if html == "" {
				continue
			}
			if err := writeSSE(w, s.eventID(), "update", html); err != nil {
				return nil
			}
		}
		w.Flush()
	}
}

func (s *Server) renderEvent(ctx context.Context, u db.User, ev live.Event) (string, error) {
	if ev.ConversationID == 0 {
		return "", nil
	}
	conv, err := s.DB.ConversationByID(ctx, ev.ConversationID)
	if errors.Is(err, db.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if !messaging.CanSee(u, conv.DepartmentID) {
		return "", nil
	}
	var buf bytes.Buffer
	now := s.Now()
	tz := s.Config.SchoolTimezone
	if ev.MessageID != 0 {
		m, err := s.DB.MessageByID(ctx, ev.MessageID)
		if err != nil {
			return "", err
		}
		if err := components.LiveMessage(m, tz, now).Render(ctx, &buf); err != nil {
			return "", err
		}
	}
	if ev.Type == live.MessageCreated || ev.Type == live.ConversationUpdated {
		if err := components.LiveConversationItem(conv, tz, now).Render(ctx, &buf); err != nil {
			return "", err
		}
	}
	return buf.String(), nil
}

// maxCatchUp bounds how far back a stream replays; an older page reloads instead.
const maxCatchUp = 10 * time.Minute

// streamSince is the moment to replay from: the browser's Last-Event-ID on a
// reconnect, else the page's render time, never older than maxCatchUp.
func streamSince(c echo.Context, now time.Time) time.Time {
	raw := c.Request().Header.Get("Last-Event-ID")
	if raw == "" {
		raw = c.QueryParam("since")
	}
	us, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || us <= 0 {
		return now
	}
	since := time.UnixMicro(us)
	if floor := now.Add(-maxCatchUp); since.Before(floor) {
		return floor
	}
	return since
}

// catchUp sends what changed after since, so a page misses nothing between
// its render and the stream's start (or during a reconnect).
func (s *Server) catchUp(ctx context.Context, w io.Writer, u db.User, since time.Time) error {
	changes, err := s.DB.ChangesSince(ctx, messaging.DepartmentScope(u), since, 200)
	if err != nil {
		return err
	}
	for _, ch := range changes {
		typ := live.MessageStatus
		if ch.Created {
			typ = live.MessageCreated
		}
		html, err := s.renderEvent(ctx, u, live.Event{Type: typ, ConversationID: ch.ConversationID, MessageID: ch.MessageID})
		if err != nil {
			return err
		}
		if html == "" {
			continue
		}
		if err := writeSSE(w, s.eventID(), "update", html); err != nil {
			return err
		}
	}
	return nil
}

// eventID is the stream position the browser echoes as Last-Event-ID on
// reconnect: a time slightly in the past, so nothing is missed across instances.
func (s *Server) eventID() string {
	return strconv.FormatInt(s.Now().Add(-2*time.Second).UnixMicro(), 10)
}

// writeSSE writes one event; every line of data gets its own "data:" prefix.
func writeSSE(w io.Writer, id, event, data string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "id: %s\nevent: %s\n", id, event)
	for _, line := range strings.Split(data, "\n") {
		b.WriteString("data: ")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}
