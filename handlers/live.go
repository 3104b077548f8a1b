package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/live"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/views/components"
)

const (
	// maxCatchUp bounds how far back a stream replays; an older page reloads instead.
	maxCatchUp = 10 * time.Minute
	// catchUpLimit is the most changes replayed; more means "reload".
	catchUpLimit = 200
	// catchUpBroadcasts bounds the broadcasts whose progress a stream replays.
	catchUpBroadcasts = 50
	// nudgeDelay coalesces the delivery statuses of one broadcast's messages
	// into one progress event per instance (3,000 callbacks are not 3,000 renders).
	nudgeDelay = 750 * time.Millisecond
	// sessionRecheck is how often a stream confirms its session still exists,
	// so a signed-out or deactivated user's stream ends within that time.
	sessionRecheck = 30 * time.Second
)

// events streams live updates as out-of-band htmx fragments. Departments are
// checked in memory from the event itself; each event is rendered once per
// instance and shared by every stream that may see it.
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
	u := *currentUser(c)
	ctx := c.Request().Context()

	if _, err := io.WriteString(w, "retry: 2000\n: connected\n\n"); err != nil {
		return nil
	}
	since := streamSince(c, s.Now())
	if err := s.catchUp(ctx, w, u, since); err != nil {
		s.Log.Warn("live: catch up", "err", err)
	}
	w.Flush()
	lastSent := s.Now()
	checked := time.Now()
	heartbeat := time.NewTicker(20 * time.Second)
	defer heartbeat.Stop()
	for {
		if time.Since(checked) > sessionRecheck {
			var err error
			if _, u, err = s.DB.SessionWithUser(ctx, sess.ID); err != nil {
				// Signed out, deactivated, or the database is away: end the
				// stream; the browser reconnects and is turned away if need be.
				return nil
			}
			checked = time.Now()
		}
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
			if sub.Lost() {
				// Events were dropped (slow reader or the listener reconnected):
				// replay from the last one sent.
				if err := s.catchUp(ctx, w, u, lastSent.Add(-2*time.Second)); err != nil {
					s.Log.Warn("live: catch up after loss", "err", err)
				}
			}
			if !canSeeDepartment(u, ev.DepartmentID) {
				continue
			}
			html, err := s.renders.get(ev.ID, func() (string, error) { return s.renderEvent(context.WithoutCancel(ctx), ev) })
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
			lastSent = s.Now()
		}
		w.Flush()
	}
}

func canSeeDepartment(u db.User, departmentID int64) bool {
	return u.IsAdmin() || (departmentID != 0 && slices.Contains(u.DepartmentIDs, departmentID))
}

// renderEvent renders the fragments an event changes; the caller has
// checked the user may see the event's department. The fragments are the
// same for every viewer: nothing in them depends on who reads.
func (s *Server) renderEvent(ctx context.Context, ev live.Event) (string, error) {
	if ev.Type == live.BroadcastProgress {
		return s.renderBroadcastEvent(ctx, ev.BroadcastID)
	}
	if ev.ConversationID == 0 {
		return "", nil
	}
	var buf bytes.Buffer
	tz := s.Config.SchoolTimezone
	if ev.Type == live.PresenceChanged {
		now := s.Now()
		viewers, err := s.DB.Viewers(ctx, ev.ConversationID, now.Add(-messaging.PresenceTTL))
		if err != nil {
			return "", err
		}
		err = components.LivePresence(ev.ConversationID, viewers).Render(ctx, &buf)
		return buf.String(), err
	}
	conv, err := s.DB.ConversationByID(ctx, ev.ConversationID)
	if errors.Is(err, db.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	// After the read: fragments carry it (data-rev) so the page keeps the newest.
	now := s.Now()
	// Unread is per reader, but this rendering is shared: news from the
	// contact reads as unread; the page of whoever has it open marks it read.
	conv.Unread = conv.LastDirection == "inbound"
	if ev.Type == live.MessageStatus && ev.MessageID != 0 && conv.LastBroadcastID != 0 {
		// A delivery status of a broadcast's message moves its counters,
		// which the engine does not announce: ask for a progress event.
		// (Only conversations a broadcast wrote in can hold such messages.)
		s.nudgeBroadcastOf(ctx, ev.MessageID)
	}
	if ev.MessageID != 0 {
		m, err := s.DB.MessageByID(ctx, ev.MessageID)
		if err != nil {
			return "", err
		}
		if err := components.LiveMessage(m, tz, now).Render(ctx, &buf); err != nil {
			return "", err
		}
	}
	switch ev.Type {
	case live.MessageCreated:
		if err := components.LiveConversationItem(conv, tz, now).Render(ctx, &buf); err != nil {
			return "", err
		}
	case live.ConversationUpdated:
		if err := components.LiveConversationItemUpdate(conv, tz, now).Render(ctx, &buf); err != nil {
			return "", err
		}
	}
	if ev.Type == live.MessageCreated || ev.Type == live.ConversationUpdated {
		// The header carries status, assignee and the WhatsApp window, which
		// an inbound message reopens.
		staff, err := s.DB.StaffOfDepartment(ctx, conv.DepartmentID)
		if err != nil {
			return "", err
		}
		if err := components.LiveConversationHeader(conv, staff, tz, now).Render(ctx, &buf); err != nil {
			return "", err
		}
	}
	return buf.String(), nil
}

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
// its render and the stream's start, or while events were dropped. When too
// much changed it tells the page to reload instead of sending part of it.
func (s *Server) catchUp(ctx context.Context, w io.Writer, u db.User, since time.Time) error {
	changes, err := s.DB.ChangesSince(ctx, messaging.DepartmentScope(u), since, catchUpLimit+1)
	if err != nil {
		return err
	}
	if len(changes) > catchUpLimit {
		return writeSSE(w, s.eventID(), "refresh", "reload")
	}
	// Broadcasts whose status changed since, or still running: their
	// progress as it is now (the page may have been rendered just before
	// the last send or the completion).
	bcs, err := s.DB.BroadcastsChangedSince(ctx, db.BroadcastScope{Admin: u.IsAdmin(), UserID: u.ID, DepartmentIDs: u.DepartmentIDs}, since, catchUpBroadcasts)
	if err != nil {
		return err
	}
	for _, b := range bcs {
		html, err := s.renderBroadcastEvent(ctx, b.ID)
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
	for _, ch := range changes {
		typ := live.MessageStatus
		if ch.Created {
			typ = live.MessageCreated
		}
		html, err := s.renderEvent(ctx, live.Event{Type: typ, ConversationID: ch.ConversationID, MessageID: ch.MessageID})
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

// renderCache shares one rendering of an event among all streams of this
// instance: without it, N open inboxes cost N rounds of queries per event.
type renderCache struct {
	mu      sync.Mutex
	entries map[string]*renderEntry
}

type renderEntry struct {
	once sync.Once
	html string
	err  error
	at   time.Time
}

func (rc *renderCache) get(key string, render func() (string, error)) (string, error) {
	if key == "" {
		return render()
	}
	rc.mu.Lock()
	if rc.entries == nil {
		rc.entries = map[string]*renderEntry{}
	}
	e, ok := rc.entries[key]
	if !ok {
		now := time.Now()
		for k, old := range rc.entries {
			if now.Sub(old.at) > time.Minute {
				delete(rc.entries, k)
			}
		}
		e = &renderEntry{at: now}
		rc.entries[key] = e
	}
	rc.mu.Unlock()
	e.once.Do(func() { e.html, e.err = render() })
	return e.html, e.err
}

// broadcastNudges holds the broadcasts (per database) with a progress event
// already due from this instance.
var broadcastNudges = struct {
	sync.Mutex
	due map[nudgeKey]bool
}{due: map[nudgeKey]bool{}}

type nudgeKey struct {
	db *db.DB
	id int64
}

// nudgeBroadcastOf asks, shortly, for a progress event of the broadcast that
// sent a message, once per nudgeDelay however many statuses arrive. The event
// goes through NOTIFY, so every instance renders it once for its streams.
func (s *Server) nudgeBroadcastOf(ctx context.Context, messageID int64) {
	bid, dep, err := s.DB.BroadcastOfMessage(ctx, messageID)
	if err != nil || bid == 0 {
		return
	}
	key := nudgeKey{s.DB, bid}
	broadcastNudges.Lock()
	due := broadcastNudges.due[key]
	broadcastNudges.due[key] = true
	broadcastNudges.Unlock()
	if due {
		return
	}
	time.AfterFunc(nudgeDelay, func() {
		broadcastNudges.Lock()
		delete(broadcastNudges.due, key)
		broadcastNudges.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// After shutdown the pool is closed and this fails: nothing to tell.
		_ = live.Publish(ctx, s.DB.Pool, live.Event{Type: live.BroadcastProgress, BroadcastID: bid, DepartmentID: dep})
	})
}
