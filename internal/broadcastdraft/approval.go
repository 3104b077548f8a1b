package broadcastdraft

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/policy"
	"github.com/classline/classline/internal/templates"
)

// NeedsApproval says whether a broadcast must go to an approver before it
// is sent, and why in words: it reaches more recipients than the threshold,
// or a non-admin marked it urgent (urgent broadcasts go through quiet hours).
func NeedsApproval(st Settings, recipients int, urgent bool, u db.User) (bool, string) {
	switch {
	case urgent && !u.IsAdmin():
		return true, "It is marked urgent, and only an admin may send an urgent broadcast without approval."
	case st.ApprovalThreshold > 0 && recipients > st.ApprovalThreshold:
		return true, fmt.Sprintf("It reaches %d recipients, more than the %d a broadcast may reach without approval.", recipients, st.ApprovalThreshold)
	}
	return false, ""
}

// Issue is something an earlier step still needs, for the review.
type Issue struct {
	Step int
	Text string
}

// Sample is one recipient's message as it will be sent.
type Sample struct {
	Name, Phone, Channel string
	Body                 string
	Segments             int
	// Template is the WhatsApp template's content (buttons, media) for the bubble.
	Template templates.Content
}

// Review is everything the review, send and approval pages show.
type Review struct {
	Summary        Summary
	PlanError      string
	Issues         []Issue
	Samples        []Sample
	Settings       Settings
	NeedsApproval  bool
	ApprovalReason string
	Quiet          policy.QuietHours
	QuietNow       bool      // quiet hours hold non-urgent broadcasts right now
	QuietEnds      time.Time // when they end, if QuietNow
	// Attachments are the files sent with the SMS text (as MMS).
	Attachments []db.MediaFile
}

// Cost is the summary's estimate in the settings' currency.
func (r Review) Cost() string { return r.Settings.CostText(r.Summary.Cost) }

// Check runs each step's checks on the stored draft, as the review lists them.
func (s *Service) Check(ctx context.Context, u db.User, b db.Broadcast, spec broadcast.Spec) ([]Issue, error) {
	var out []Issue
	add := func(step int, errs FieldErrors) {
		for _, k := range sortedKeys(errs) {
			out = append(out, Issue{Step: step, Text: errs[k]})
		}
	}
	_, _, errs := AudienceInputOf(b.Name, spec.Audience).Build(s.Region)
	add(StepAudience, errs)
	tpl, err := s.Template(ctx, spec.Content.TemplateID)
	if err != nil {
		return nil, err
	}
	_, _, _, errs = ContentInputOf(b.Purpose, b.Urgent, spec.Content).Build(tpl)
	add(StepContent, errs)
	deps, err := s.Departments(ctx, u)
	if err != nil {
		return nil, err
	}
	in := SenderInputOf(b.DepartmentID, spec.Sender)
	cands, err := s.Candidates(ctx, in.DepartmentID)
	if err != nil {
		return nil, err
	}
	_, _, errs = in.Build(u, deps, cands, spec.Content)
	add(StepSender, errs)
	return out, nil
}

func sortedKeys(m FieldErrors) []string { return slices.Sorted(maps.Keys(m)) }

// Review works out what the broadcast would do now, for the person u.
func (s *Service) Review(ctx context.Context, u db.User, b db.Broadcast) (Review, error) {
	var r Review
	spec, err := broadcast.DecodeSpec(b.Audience, b.Content, b.Sender)
	if err != nil {
		return r, err
	}
	if r.Issues, err = s.Check(ctx, u, b, spec); err != nil {
		return r, err
	}
	if r.Settings, err = LoadSettings(ctx, s.DB); err != nil {
		return r, err
	}
	if r.Attachments, err = s.Attachments(ctx, b.ID, spec.Content.MediaFileIDs); err != nil {
		return r, err
	}
	q, err := s.DB.QuietHours(ctx)
	if err != nil {
		// Unreadable: the default keeps nights quiet, as the engine does.
		q = policy.DefaultQuietHours()
	}
	now := s.now()
	r.Quiet, r.QuietNow = q, q.Active(now, s.loc())
	if r.QuietNow {
		r.QuietEnds = q.NextAllowed(now, s.loc())
	}
	if s.Engine == nil {
		return r, ErrNoEngine
	}
	plan, err := s.Engine.Plan(ctx, b)
	if err != nil {
		// A template that lost its approval, say: the review says so.
		r.PlanError = "Classline cannot work out the recipients: " + err.Error()
		return r, nil
	}
	r.Summary = SummarizeContent(plan, r.Settings, spec.Content)
	r.NeedsApproval, r.ApprovalReason = NeedsApproval(r.Settings, r.Summary.WillSend(), b.Urgent, u)
	r.Samples, err = s.samples(ctx, r.Summary.Samples)
	return r, err
}

func (s *Service) samples(ctx context.Context, rs []db.NewRecipient) ([]Sample, error) {
	var ids []int64
	for _, r := range rs {
		if r.ContactID != nil {
			ids = append(ids, *r.ContactID)
		}
	}
	names := map[int64]string{}
	if len(ids) > 0 {
		rows, err := s.DB.ContactRowsByID(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, c := range rows {
			names[c.ID] = c.Contact().DisplayName()
		}
	}
	tpls := map[int64]templates.Content{}
	out := make([]Sample, 0, len(rs))
	for _, r := range rs {
		sm := Sample{Phone: r.Phone, Channel: r.Channel, Body: r.Body, Segments: r.Segments}
		if r.ContactID != nil {
			sm.Name = names[*r.ContactID]
		}
		if r.TemplateID != 0 {
			c, ok := tpls[r.TemplateID]
			if !ok {
				t, err := s.DB.TemplateByID(ctx, r.TemplateID)
				if err != nil && !errors.Is(err, db.ErrNotFound) {
					return nil, err
				}
				c = templates.FromTypes(t.Types)
				tpls[r.TemplateID] = c
			}
			sm.Template = c
		}
		out = append(out, sm)
	}
	return out, nil
}

// Outcome is what sending (step 5) did.
type Outcome string

const (
	OutcomeStarted   Outcome = "started"
	OutcomeScheduled Outcome = "scheduled"
	OutcomeApproval  Outcome = "pending_approval"
)

// Submit is step 5: it checks every step again, then starts the broadcast,
// schedules it, or sends it to the approval queue when the rules say so.
func (s *Service) Submit(ctx context.Context, u db.User, ip string, id int64, in SendInput) (Outcome, FieldErrors, error) {
	b, _, err := s.draft(ctx, u, id)
	if err != nil {
		return "", nil, err
	}
	at, errs := in.At(s.loc(), s.now())
	if errs == nil {
		errs = FieldErrors{}
	}
	rv, err := s.Review(ctx, u, b)
	if err != nil {
		return "", nil, err
	}
	switch {
	case rv.PlanError != "":
		errs["steps"] = rv.PlanError
	case len(rv.Issues) > 0:
		errs["steps"] = fmt.Sprintf("Step %d (%s) needs attention first: %s", rv.Issues[0].Step, StepNames[rv.Issues[0].Step], rv.Issues[0].Text)
	case rv.Summary.WillSend() == 0:
		errs["steps"] = "Nobody would receive this broadcast: the review says why."
	}
	if len(errs) > 0 {
		return "", errs, nil
	}
	uid := u.ID
	out := OutcomeStarted
	if at != nil {
		out = OutcomeScheduled
	}
	if rv.NeedsApproval {
		out = OutcomeApproval
	}
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		b.ScheduledAt, b.WizardStep = at, StepSend
		ok, err := db.SaveDraftTx(ctx, tx, b)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotDraft
		}
		if out != OutcomeApproval {
			return s.Engine.LaunchTx(ctx, tx, id, at, broadcast.Actor{UserID: &uid, IP: ip})
		}
		empty := ""
		if ok, err = db.SetBroadcastStatusTx(ctx, tx, id, db.BroadcastStatusChange{From: []string{"draft"}, To: "pending_approval", Feedback: &empty}); err != nil {
			return err
		} else if !ok {
			return ErrNotDraft
		}
		return db.AuditTx(ctx, tx, &uid, "broadcast.submitted_for_approval", subject(id), nil,
			map[string]any{"reason": rv.ApprovalReason, "recipients": rv.Summary.WillSend(), "urgent": b.Urgent, "scheduled_at": at}, ip)
	})
	if err != nil {
		if errors.Is(err, ErrNotDraft) {
			return "", nil, err
		}
		return "", nil, fmt.Errorf("send broadcast %d: %w", id, err)
	}
	return out, nil, nil
}

// Approve lets a broadcast waiting for approval go: now, or at its schedule
// if that is still ahead. Only admins may.
func (s *Service) Approve(ctx context.Context, u db.User, ip string, id int64) error {
	if !u.IsAdmin() {
		return ErrForbidden
	}
	if s.Engine == nil {
		return ErrNoEngine
	}
	uid := u.ID
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		b, err := db.LockBroadcastTx(ctx, tx, id)
		if err != nil {
			return err
		}
		// Through draft, the state the engine launches from, in the same
		// transaction: nobody sees it as a draft.
		ok, err := db.SetBroadcastStatusTx(ctx, tx, id, db.BroadcastStatusChange{From: []string{"pending_approval"}, To: "draft", ApprovedBy: uid})
		if err != nil {
			return err
		}
		if !ok {
			return broadcast.ErrWrongState
		}
		if err := db.AuditTx(ctx, tx, &uid, "broadcast.approved", subject(id), map[string]any{"status": b.Status},
			map[string]any{"scheduled_at": b.ScheduledAt}, ip); err != nil {
			return err
		}
		return s.Engine.LaunchTx(ctx, tx, id, b.ScheduledAt, broadcast.Actor{UserID: &uid, IP: ip})
	})
	if err != nil && !errors.Is(err, db.ErrNotFound) && !errors.Is(err, broadcast.ErrWrongState) {
		return fmt.Errorf("approve broadcast %d: %w", id, err)
	}
	return err
}

// Reject sends a broadcast back to its creator with the approver's words.
func (s *Service) Reject(ctx context.Context, u db.User, ip string, id int64, feedback string) (FieldErrors, error) {
	if !u.IsAdmin() {
		return nil, ErrForbidden
	}
	feedback = strings.TrimSpace(strings.ReplaceAll(feedback, "\r\n", "\n"))
	switch {
	case feedback == "":
		return FieldErrors{"feedback": "Say what should change, so the sender can fix it."}, nil
	case utf8.RuneCountInString(feedback) > 2000:
		return FieldErrors{"feedback": "Keep the feedback under 2000 characters."}, nil
	}
	uid := u.ID
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		ok, err := db.SetBroadcastStatusTx(ctx, tx, id, db.BroadcastStatusChange{From: []string{"pending_approval"}, To: "rejected", Feedback: &feedback})
		if err != nil {
			return err
		}
		if !ok {
			if _, err := db.BroadcastByIDTx(ctx, tx, id); err != nil {
				return err
			}
			return broadcast.ErrWrongState
		}
		return db.AuditTx(ctx, tx, &uid, "broadcast.rejected", subject(id), nil, map[string]any{"feedback": feedback}, ip)
	})
	if err != nil && !errors.Is(err, db.ErrNotFound) && !errors.Is(err, broadcast.ErrWrongState) {
		return nil, fmt.Errorf("reject broadcast %d: %w", id, err)
	}
	return nil, err
}

// Reopen puts a rejected broadcast (or one still waiting for approval) back
// into the wizard as a draft; the approver's feedback stays to be read.
func (s *Service) Reopen(ctx context.Context, u db.User, ip string, id int64) error {
	if _, _, err := s.Get(ctx, u, id); err != nil {
		return err
	}
	uid := u.ID
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		ok, err := db.SetBroadcastStatusTx(ctx, tx, id, db.BroadcastStatusChange{From: []string{"rejected", "pending_approval"}, To: "draft"})
		if err != nil {
			return err
		}
		if !ok {
			return broadcast.ErrWrongState
		}
		return db.AuditTx(ctx, tx, &uid, "broadcast.reopened", subject(id), nil, map[string]any{"status": "draft"}, ip)
	})
}

// Control pauses, resumes or cancels a broadcast the user may see.
func (s *Service) Control(ctx context.Context, u db.User, ip string, id int64, action string) error {
	if _, _, err := s.Get(ctx, u, id); err != nil {
		return err
	}
	if s.Engine == nil {
		return ErrNoEngine
	}
	uid := u.ID
	who := broadcast.Actor{UserID: &uid, IP: ip}
	switch action {
	case "pause":
		return s.Engine.Pause(ctx, id, who)
	case "resume":
		return s.Engine.Resume(ctx, id, who)
	case "cancel":
		return s.Engine.Cancel(ctx, id, who)
	}
	return fmt.Errorf("broadcastdraft: unknown action %q", action)
}
