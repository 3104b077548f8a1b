package broadcast

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/twilio"
)

// Queues.
const (
	QueueSend    = "broadcast_send"
	QueueControl = "broadcast"
)

// SendArgs is the job of sending to one recipient. Running it twice is
// harmless: the recipient row decides what is left to do.
type SendArgs struct {
	RecipientID int64 `json:"recipient_id"`
}

// Kind names the job in River.
func (SendArgs) Kind() string { return "broadcast_send" }

// InsertOpts puts the job on the send queue; River's own retries only cover
// unexpected errors (a database outage): Twilio retries are snoozes.
func (SendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSend, MaxAttempts: 25}
}

type sendWorker struct {
	river.WorkerDefaults[SendArgs]
	e *Engine
}

func (w *sendWorker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	return w.e.sendOne(ctx, job.Args.RecipientID)
}

// errPaused cancels the job of a recipient whose broadcast is paused or
// not running; resuming enqueues the pending recipients again.
var errPaused = errors.New("broadcast not running")

// sendOne moves one recipient as far as it can go now.
func (e *Engine) sendOne(ctx context.Context, id int64) error {
	r, err := e.DB.RecipientByID(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	switch st := State(r.State); {
	case Final(st):
		return nil
	case st == StateSending:
		return e.recoverSending(ctx, r)
	}
	cb, err := e.broadcastForSend(ctx, r.BroadcastID)
	if err != nil {
		return err
	}
	b := cb.b
	switch b.Status {
	case "canceled":
		return e.cancelRecipient(ctx, r.ID)
	case "running":
	default:
		return river.JobCancel(fmt.Errorf("%w: %s", errPaused, b.Status))
	}
	now := e.now()
	if r.UpdatedAt.After(now) { // clock skew between processes: nothing to do
		now = r.UpdatedAt
	}
	if wait, err := e.quietWait(ctx, b, now); err != nil {
		return err
	} else if wait > 0 {
		return river.JobSnooze(wait)
	}
	if r.SenderID == nil {
		return e.finish(ctx, r, EventUnsendable, db.RecipientOutcome{ErrorMessage: "no sender could send this message"}, nil)
	}
	sender, rate, err := e.sender(ctx, *r.SenderID)
	if err != nil {
		return err
	}
	if !db.SenderSendable(sender.Status) {
		return e.finish(ctx, r, EventUnsendable, db.RecipientOutcome{
			ErrorMessage: fmt.Sprintf("the sender %s is %s at Twilio", sender.DisplayName, sender.Status)}, nil)
	}
	perSecond := DefaultRate(sender, withMedia(cb, sender, r))
	if rate != nil && *rate > 0 {
		perSecond = *rate
	}
	cost := 1
	if r.Channel == policy.ChannelSMS {
		cost = max(1, r.Segments)
	}
	if err := e.take(ctx, sender.ID, perSecond, cost); err != nil {
		return waited(err)
	}
	release, err := e.slot(ctx)
	if err != nil {
		return waited(err)
	}
	defer release()
	return e.attempt(ctx, cb, sender, r)
}

// waited turns a job that ran out of time waiting for a token or a slot
// (a slow sender, a busy account) into a snooze: nothing was tried, so it
// must not count as a failed attempt.
func waited(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return river.JobSnooze(time.Second)
	}
	return err
}

// quietWait is how long a non-urgent broadcast must wait for quiet hours to end.
func (e *Engine) quietWait(ctx context.Context, b db.Broadcast, now time.Time) (time.Duration, error) {
	if e.QuietUntil == nil {
		return 0, nil
	}
	until, err := e.QuietUntil(ctx, now)
	if err != nil {
		e.Log.Warn("broadcast quiet hours", "err", err)
	}
	if !until.After(now) {
		return 0, nil
	}
	if b.Urgent {
		return 0, e.auditQuietBypass(ctx, b, until)
	}
	if b.HeldUntil == nil || !b.HeldUntil.Equal(until) {
		_, _ = db.SetBroadcastStatusTx(ctx, e.DB.Pool, b.ID, db.BroadcastStatusChange{From: []string{"running"}, To: "running", HeldUntil: &until})
		e.markDirty(b.ID)
	}
	return until.Sub(now), nil
}

// claim is a recipient locked and marked sending, with its message stored.
type claim struct {
	r         db.Recipient
	messageID int64
	convID    int64
	templ     *db.Template
	since     time.Time
}

// attempt claims the recipient, calls Twilio once and records the answer.
func (e *Engine) attempt(ctx context.Context, cb *cachedBroadcast, sender db.Sender, pre db.Recipient) error {
	b := cb.b
	media := withMedia(cb, sender, pre)
	if media && cb.mediaErr != nil {
		return e.finish(ctx, pre, EventUnsendable, db.RecipientOutcome{ErrorMessage: cb.mediaErr.Error()}, nil)
	}
	var c claim
	var tpl *db.Template
	if pre.TemplateID != nil && senderIsWhatsApp(sender) {
		t, err := e.DB.TemplateByID(ctx, *pre.TemplateID)
		if err != nil {
			return err
		}
		tpl = &t
	}
	id := pre.ID
	claimed := false
	err := e.DB.InTx(ctx, func(tx pgx.Tx) error {
		r, status, err := db.LockRecipientTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.State != "pending" || status != "running" {
			return nil // someone else moved it; the next run of the job sees why
		}
		if r.ContactID == nil {
			cid, err := db.UpsertContactTx(ctx, tx, r.Phone, "")
			if err != nil {
				return err
			}
			r.ContactID = &cid
			if _, err := tx.Exec(ctx, `UPDATE broadcast_recipients SET contact_id = $2 WHERE id = $1`, r.ID, cid); err != nil {
				return fmt.Errorf("set contact of recipient %d: %w", r.ID, err)
			}
		}
		convID, err := db.BroadcastConversationTx(ctx, tx, *r.ContactID, sender, b.ID)
		if err != nil {
			return err
		}
		msgID := int64(0)
		if r.MessageID != nil {
			msgID = *r.MessageID // a retry: the message already stands in the conversation
		} else {
			n := db.NewOutbound{
				ConversationID: convID, Channel: sender.Channel,
				From: policy.Address(sender.Channel, sender.Address), To: policy.Address(r.Channel, r.Phone),
				Body: r.Body, Segments: r.Segments, BroadcastID: b.ID,
				SenderReason: "broadcast “" + b.Name + "”",
			}
			if tpl != nil {
				n.TemplateID, n.ContentVariables = tpl.ID, r.Variables
			}
			if media {
				n.Media = cb.media // listed on the message, so the thread shows what was sent
			}
			if msgID, err = db.InsertOutboundTx(ctx, tx, n); err != nil {
				return err
			}
		}
		if err := db.MarkSendingTx(ctx, tx, r.ID, msgID); err != nil {
			return err
		}
		r.State = string(StateSending)
		r.Attempts++
		c = claim{r: r, messageID: msgID, convID: convID, templ: tpl, since: time.Now()}
		claimed = true
		return nil
	})
	if err != nil || !claimed {
		return err
	}
	req, err := e.request(cb, sender, c, media)
	if err != nil {
		return e.finish(ctx, c.r, EventPermanentError, db.RecipientOutcome{ErrorMessage: err.Error()}, &attemptInfo{started: c.since, outcome: OutcomePermanent, msgID: c.messageID})
	}
	// The call gets its own time, whatever the job has left after waiting
	// for a token and a slot: a call cut short by the job's deadline is an
	// unanswered call, and Twilio may still create the message after it.
	// Bounded well inside the lease, so no rescuer looks at Twilio while
	// the call can still be under way.
	callCtx, cancelCall := context.WithTimeout(context.WithoutCancel(ctx), e.callTimeout())
	msg, sendErr := e.Gateway.SendMessageOnce(callCtx, req)
	cancelCall()
	// Whatever happened at Twilio must be written down even if the job's
	// time ran out meanwhile: an unrecorded SID is what makes duplicates.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	cl := Classify(sendErr)
	info := &attemptInfo{started: c.since, outcome: cl.Outcome, http: cl.HTTPStatus, code: cl.Code, text: cl.Message, msgID: c.messageID}
	switch {
	case cl.Outcome == OutcomeSubmitted:
		return e.submitted(ctx, c.r, msg, info)
	case cl.Outcome == OutcomePermanent:
		return e.finish(ctx, c.r, EventPermanentError, db.RecipientOutcome{ErrorCode: cl.Code, ErrorMessage: cl.Message}, info)
	case cl.Outcome.Ambiguous():
		return e.unanswered(ctx, c.r, info)
	default: // rate limited: nothing was created
		return e.retryLater(ctx, c.r, info)
	}
}

func senderIsWhatsApp(s db.Sender) bool { return s.Channel == policy.ChannelWhatsApp }

// request is the Twilio request for a claimed recipient.
func (e *Engine) request(cb *cachedBroadcast, sender db.Sender, c claim, media bool) (twilio.SendRequest, error) {
	req := twilio.SendRequest{To: policy.Address(c.r.Channel, c.r.Phone), StatusCallback: e.StatusCallbackURL}
	if sender.Address != "" {
		req.From = policy.Address(sender.Channel, sender.Address)
	} else {
		req.MessagingServiceSID = sender.MessagingServiceSID
	}
	if c.templ != nil {
		req.ContentSID, req.ContentVariables = c.templ.ContentSID, c.r.Variables
		return req, nil
	}
	req.Body = c.r.Body
	if media {
		if cb.mediaErr != nil {
			return req, cb.mediaErr
		}
		req.MediaURLs = cb.mediaURLs
	}
	return req, nil
}

// withMedia reports whether the broadcast's attachments go with this
// recipient's message: every free-form one (SMS/MMS, WhatsApp text); an
// approved template carries its own media header.
func withMedia(cb *cachedBroadcast, sender db.Sender, r db.Recipient) bool {
	return len(cb.spec.Content.MediaFileIDs) > 0 && !(r.TemplateID != nil && senderIsWhatsApp(sender))
}

type attemptInfo struct {
	started time.Time
	outcome Outcome
	http    int
	code    int
	text    string
	msgID   int64
}

func (e *Engine) record(ctx context.Context, tx pgx.Tx, r db.Recipient, a *attemptInfo, outcome string) error {
	if a == nil {
		return nil
	}
	return db.InsertAttemptTx(ctx, tx, db.Attempt{BroadcastID: r.BroadcastID, RecipientID: r.ID, Attempt: r.Attempts,
		Outcome: outcome, HTTPStatus: a.http, ErrorCode: a.code, ErrorMessage: a.text, StartedAt: a.started, Instance: e.instance})
}

// submitted records Twilio's SID on the recipient and its message.
func (e *Engine) submitted(ctx context.Context, r db.Recipient, m twilio.Message, a *attemptInfo, extra ...string) error {
	outcome := string(OutcomeSubmitted)
	if len(extra) > 0 {
		outcome = extra[0]
	}
	if _, err := Next(State(r.State), EventAccepted); err != nil {
		return err
	}
	err := e.DB.InTx(ctx, func(tx pgx.Tx) error {
		moved, err := db.RecordSubmittedTx(ctx, tx, db.Submitted{RecipientID: r.ID, MessageID: a.msgID, SID: m.SID, Segments: m.NumSegments,
			Attempt: db.Attempt{BroadcastID: r.BroadcastID, RecipientID: r.ID, Attempt: r.Attempts, Outcome: outcome,
				HTTPStatus: a.http, ErrorCode: a.code, ErrorMessage: a.text, StartedAt: a.started, Instance: e.instance}},
			fromStates(EventAccepted))
		if err != nil {
			return err
		}
		if !moved {
			return errMoved
		}
		// Status callbacks that came before the SID was stored.
		_, err = messaging.ApplyPendingTx(ctx, tx, m.SID)
		return err
	})
	if errors.Is(err, errMoved) {
		// Already submitted: a second SID for one recipient is a duplicate
		// at Twilio that nothing here can undo; say so loudly.
		e.Log.Error("broadcast: Twilio accepted a send for a recipient already submitted", "recipient_id", r.ID, "sid", m.SID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("record sid %s of recipient %d: %w", m.SID, r.ID, err)
	}
	e.markDirty(r.BroadcastID)
	return nil
}

// errMoved rolls back a state change whose recipient another worker moved first.
var errMoved = errors.New("recipient moved by another worker")

// finish ends a recipient without a SID: failed.
func (e *Engine) finish(ctx context.Context, r db.Recipient, ev Event, o db.RecipientOutcome, a *attemptInfo) error {
	to, err := Next(State(r.State), ev)
	if err != nil {
		return err
	}
	o.State = string(to)
	err = e.DB.InTx(ctx, func(tx pgx.Tx) error {
		if a != nil {
			if err := e.record(ctx, tx, r, a, string(a.outcome)); err != nil {
				return err
			}
		}
		if o.State == "failed" && r.MessageID == nil && a != nil && a.msgID != 0 {
			r.MessageID = &a.msgID
		}
		if o.State == "failed" && r.MessageID != nil {
			if _, err := tx.Exec(ctx, `UPDATE messages SET status = 'failed', error_code = nullif($2, 0), error_message = $3,
				status_updated_at = now() WHERE id = $1 AND twilio_sid IS NULL`, *r.MessageID, o.ErrorCode, o.ErrorMessage); err != nil {
				return fmt.Errorf("fail message %d: %w", *r.MessageID, err)
			}
		}
		return finishTx(ctx, tx, r.ID, ev, o)
	})
	if errors.Is(err, errMoved) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("finish recipient %d: %w", r.ID, err)
	}
	e.markDirty(r.BroadcastID)
	if o.State == "failed" {
		return e.maybeAutoPause(ctx, r.BroadcastID)
	}
	return nil
}

func (e *Engine) cancelRecipient(ctx context.Context, id int64) error {
	if _, err := db.FinishRecipientTx(ctx, e.DB.Pool, id, db.RecipientOutcome{State: string(StateCanceled)}, fromStates(EventCancel)); err != nil {
		return fmt.Errorf("cancel recipient %d: %w", id, err)
	}
	return nil
}

// retryLater puts the recipient back to pending after a backoff, or fails
// it when its attempts are spent.
func (e *Engine) retryLater(ctx context.Context, r db.Recipient, a *attemptInfo) error {
	if r.Attempts >= e.cfg.MaxAttempts {
		text := fmt.Sprintf("gave up after %d attempts; last: %s", r.Attempts, describe(a))
		return e.finish(ctx, r, EventGiveUp, db.RecipientOutcome{ErrorCode: a.code, ErrorMessage: text}, a)
	}
	wait := e.backoff(r.Attempts)
	next := time.Now().Add(wait)
	err := e.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := e.record(ctx, tx, r, a, string(a.outcome)); err != nil {
			return err
		}
		return finishTx(ctx, tx, r.ID, EventRetry, db.RecipientOutcome{State: string(StatePending), NextAttempt: &next, ErrorCode: a.code, ErrorMessage: describe(a)})
	})
	if errors.Is(err, errMoved) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("retry recipient %d: %w", r.ID, err)
	}
	e.markDirty(r.BroadcastID)
	return river.JobSnooze(wait)
}

func describe(a *attemptInfo) string {
	parts := []string{string(a.outcome)}
	if a.http != 0 {
		parts = append(parts, fmt.Sprintf("HTTP %d", a.http))
	}
	if a.code != 0 {
		parts = append(parts, fmt.Sprintf("error %d", a.code))
	}
	if a.text != "" {
		parts = append(parts, a.text)
	}
	return strings.Join(parts, ", ")
}

// callTimeout bounds one call to Twilio: the gateway's own 10 s, or less
// with a short lease (tests), always leaving half the lease as margin.
func (e *Engine) callTimeout() time.Duration {
	return min(10*time.Second, e.cfg.SendLease/2)
}

// unanswered records a call whose outcome is unknown (a 5xx, a timeout, a
// reset) and leaves the recipient "sending" until its lease runs out. Only
// then is Twilio asked (recoverSending, reconcile): asked at once, it may
// not show a message it is still creating for the call we gave up on, and
// a resend would be a duplicate.
func (e *Engine) unanswered(ctx context.Context, r db.Recipient, a *attemptInfo) error {
	err := e.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := e.record(ctx, tx, r, a, string(a.outcome)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE broadcast_recipients SET error_code = nullif($2, 0), error_message = $3, updated_at = now()
			WHERE id = $1 AND state = 'sending'`, r.ID, a.code, describe(a)+" (Twilio will be asked before any resend)")
		return err
	})
	if err != nil {
		return fmt.Errorf("record unanswered send of recipient %d: %w", r.ID, err)
	}
	e.markDirty(r.BroadcastID)
	return river.JobSnooze(time.Until(a.started.Add(e.cfg.SendLease)) + time.Second)
}

// reconcile settles a send whose outcome is unknown (no answer, a 5xx, a
// crash mid-call), once its lease has run out, by asking Twilio for
// messages to the recipient since the send began. Found: it was sent,
// record its SID. Not found: it was not, so it may be retried. Twilio
// unreachable: leave it "sending" and ask later.
func (e *Engine) reconcile(ctx context.Context, r db.Recipient, since time.Time, a *attemptInfo) error {
	sender, _, err := e.sender(ctx, *r.SenderID)
	if err != nil {
		return err
	}
	found, err := e.findAtTwilio(ctx, r, sender, since)
	if err != nil {
		e.Log.Warn("broadcast reconcile: Twilio unreachable", "recipient_id", r.ID, "err", err)
		return river.JobSnooze(e.backoff(max(r.Attempts, 1)))
	}
	if found != nil {
		return e.submitted(ctx, r, *found, a, "found_at_twilio")
	}
	a.outcome, a.text = OutcomeNotAtTwilio, "Twilio has no such message: safe to resend"
	return e.retryLater(ctx, r, a)
}

// findAtTwilio returns the message Twilio holds for this recipient's send
// since the given time, if any: same To, same From (or Messaging Service),
// same text when both are known, and a SID no other message of ours has.
func (e *Engine) findAtTwilio(ctx context.Context, r db.Recipient, sender db.Sender, since time.Time) (*twilio.Message, error) {
	to := policy.Address(r.Channel, r.Phone)
	msgs, err := e.Gateway.RecentMessagesTo(ctx, to, since.Add(-10*time.Second), 50)
	if err != nil {
		return nil, err
	}
	from := policy.Address(sender.Channel, sender.Address)
	for i := len(msgs) - 1; i >= 0; i-- { // oldest first: the first attempt's message
		m := msgs[i]
		if sender.Address != "" && m.From != from {
			continue
		}
		if sender.Address == "" && m.MessagingServiceSID != sender.MessagingServiceSID {
			continue
		}
		if r.Body != "" && m.Body != "" && strings.TrimSpace(m.Body) != strings.TrimSpace(r.Body) {
			continue
		}
		if _, _, err := e.DB.MessageBySID(ctx, m.SID); err == nil {
			continue // already ours, for another message
		} else if !errors.Is(err, db.ErrNotFound) {
			return nil, err
		}
		return &m, nil
	}
	return nil, nil
}

// recoverSending handles a recipient found "sending" by a job: its worker
// may still be mid-call (wait for the lease), or it died (reconcile).
func (e *Engine) recoverSending(ctx context.Context, r db.Recipient) error {
	if r.SendingSince == nil {
		return nil
	}
	age := time.Since(*r.SendingSince)
	if age < e.cfg.SendLease {
		return river.JobSnooze(e.cfg.SendLease - age + time.Second)
	}
	// Lock it so two rescuers do not reconcile it at once.
	var locked db.Recipient
	ok := false
	err := e.DB.InTx(ctx, func(tx pgx.Tx) error {
		rr, _, err := db.LockRecipientTx(ctx, tx, r.ID)
		if err != nil {
			return err
		}
		if rr.State != "sending" || rr.SendingSince == nil || time.Since(*rr.SendingSince) < e.cfg.SendLease {
			return nil
		}
		// Renew the lease while Twilio is asked, so another worker waits (up
		// to 15 s) rather than ask too. claimed_at keeps the original start.
		if _, err := tx.Exec(ctx, `UPDATE broadcast_recipients SET sending_since = now() - $2::interval WHERE id = $1`,
			rr.ID, (e.cfg.SendLease - min(15*time.Second, e.cfg.SendLease)).String()); err != nil {
			return err
		}
		locked, ok = rr, true
		return nil
	})
	if err != nil || !ok {
		return err
	}
	var msgID int64
	if locked.MessageID != nil {
		msgID = *locked.MessageID
	}
	// The send began at claimed_at (rows claimed before that column
	// existed: the lease start, which no one had renewed yet).
	since := *locked.SendingSince
	if locked.ClaimedAt != nil {
		since = *locked.ClaimedAt
	}
	a := &attemptInfo{started: since, outcome: OutcomeNetwork, msgID: msgID}
	return e.reconcile(ctx, locked, since, a)
}

// finishTx applies ev to a recipient under the state machine's guard; a
// recipient another worker moved first rolls the transaction back (errMoved).
func finishTx(ctx context.Context, tx pgx.Tx, id int64, ev Event, o db.RecipientOutcome) error {
	moved, err := db.FinishRecipientTx(ctx, tx, id, o, fromStates(ev))
	if err != nil {
		return err
	}
	if !moved {
		return errMoved
	}
	return nil
}

// cachedBroadcast is a running broadcast as sends read it, with its
// attachments: described for the stored messages, and the public URLs
// Twilio fetches them from. Never changed once built.
type cachedBroadcast struct {
	b         db.Broadcast
	spec      Spec
	media     []db.Media
	mediaURLs []string
	// mediaErr: an attachment is gone or cannot be published; recipients
	// that would carry it fail with this reason rather than go without it.
	mediaErr error
	fetched  time.Time
}

// broadcastForSend reads the broadcast a send belongs to. A running one is
// kept for a second: at hundreds of sends a second its row (and its JSON)
// would otherwise be read and decoded for every one. Any other status is
// read fresh, and the claim rechecks the status under the recipient's lock,
// so a pause or cancel still stops sends at once.
func (e *Engine) broadcastForSend(ctx context.Context, id int64) (*cachedBroadcast, error) {
	e.mu.Lock()
	c, ok := e.broadcasts[id]
	e.mu.Unlock()
	if ok && time.Since(c.fetched) < time.Second {
		return c, nil
	}
	b, err := e.DB.BroadcastByID(ctx, id)
	if err != nil {
		return nil, err
	}
	spec, err := DecodeSpec(b.Audience, b.Content, b.Sender)
	if err != nil {
		return nil, err
	}
	c = &cachedBroadcast{b: b, spec: spec, fetched: time.Now()}
	if b.Status == "running" {
		if err := e.loadMedia(ctx, c); err != nil {
			return nil, err
		}
	}
	e.mu.Lock()
	if b.Status == "running" {
		e.broadcasts[id] = c
	} else {
		delete(e.broadcasts, id)
	}
	e.mu.Unlock()
	return c, nil
}

// loadMedia describes the broadcast's attachments and publishes them for
// Twilio (each URL's lifetime is extended on every load, so a broadcast
// that runs for hours keeps them fetchable).
func (e *Engine) loadMedia(ctx context.Context, c *cachedBroadcast) error {
	for i, id := range c.spec.Content.MediaFileIDs {
		f, err := e.DB.MediaFileByID(ctx, id)
		if errors.Is(err, db.ErrNotFound) {
			c.mediaErr = fmt.Errorf("attachment %d of the broadcast no longer exists", i+1)
			return nil
		}
		if err != nil {
			return err
		}
		c.media = append(c.media, db.Media{ContentType: f.ContentType, FileID: f.ID, Filename: f.Filename, Size: f.Size})
		if e.MediaURL == nil {
			c.mediaErr = errors.New("attachments cannot be sent: no public URL is configured for Twilio to fetch them")
			continue
		}
		u, err := e.MediaURL(ctx, id)
		if errors.Is(err, db.ErrNotFound) {
			c.mediaErr = fmt.Errorf("attachment %d of the broadcast cannot be published for Twilio", i+1)
			continue
		}
		if err != nil {
			return err // a database hiccup: the job runs again
		}
		c.mediaURLs = append(c.mediaURLs, u)
	}
	return nil
}
