// Package broadcastdraft holds the rules of the broadcast wizard: each
// step's checks, saving the draft as it is typed (audited), the review
// summary worked out from the engine's Plan, the approval rules and queue
// decisions, and the school's broadcast settings. Handlers parse and render;
// sending is the engine's (internal/broadcast).
package broadcastdraft

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/media"
	"github.com/classline/classline/internal/policy"
)

// Errors the pages map to answers.
var (
	// ErrNotFound: no such broadcast, or one the user may not see (staff of
	// another department get the same answer as for a missing one).
	ErrNotFound = db.ErrNotFound
	// ErrNotDraft: the broadcast has left the draft state (sent, submitted,
	// canceled in another tab), so the wizard cannot change it.
	ErrNotDraft = errors.New("broadcastdraft: the broadcast is no longer a draft")
	// ErrNoEngine: the broadcast engine is not running in this process.
	ErrNoEngine = errors.New("broadcastdraft: the broadcast engine is not running")
	// ErrNoMedia: attachments cannot be stored (no media service).
	ErrNoMedia = errors.New("broadcastdraft: attachments cannot be stored here")
	// ErrAttachmentGone: a file checked a moment ago was taken by a message
	// or another draft before the draft was saved.
	ErrAttachmentGone = errors.New("broadcastdraft: an attachment was taken meanwhile")
)

// Service reads and writes drafts and their approval.
type Service struct {
	DB     *db.DB
	Engine *broadcast.Engine
	// Media stores attachments uploaded in the content step, as the
	// composer's uploads are (nil: attaching answers ErrNoMedia).
	Media    *media.Service
	Region   string         // DEFAULT_REGION, for pasted numbers
	Location *time.Location // SCHOOL_TIMEZONE
	Now      func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) loc() *time.Location {
	if s.Location == nil {
		return time.UTC
	}
	return s.Location
}

func subject(id int64) string { return "broadcast:" + strconv.FormatInt(id, 10) }

// Scope is the list scope of a user.
func Scope(u db.User) db.BroadcastScope {
	return db.BroadcastScope{Admin: u.IsAdmin(), UserID: u.ID, DepartmentIDs: u.DepartmentIDs}
}

// CanSee reports whether u may see (and so control) broadcast b: admins
// all; staff their departments' broadcasts, and drafts they made before
// choosing a department.
func CanSee(u db.User, b db.Broadcast) bool {
	if u.IsAdmin() {
		return true
	}
	if b.DepartmentID == nil {
		return b.CreatedBy != nil && *b.CreatedBy == u.ID
	}
	return slices.Contains(u.DepartmentIDs, *b.DepartmentID)
}

// Get loads a broadcast the user may see, with its decoded parts.
func (s *Service) Get(ctx context.Context, u db.User, id int64) (db.BroadcastRow, broadcast.Spec, error) {
	b, err := s.DB.BroadcastRowByID(ctx, id)
	if err != nil {
		return b, broadcast.Spec{}, err
	}
	if !CanSee(u, b.Broadcast) {
		return b, broadcast.Spec{}, ErrNotFound
	}
	spec, err := broadcast.DecodeSpec(b.Audience, b.Content, b.Sender)
	return b, spec, err
}

// Create starts an empty draft: named after today, in the user's only
// department when they have one, SMS only while no WhatsApp template is
// approved (a broadcast on WhatsApp needs one).
func (s *Service) Create(ctx context.Context, u db.User, ip string) (int64, error) {
	n := db.NewBroadcast{Name: "Broadcast of " + s.now().In(s.loc()).Format("2 Jan 2006"), CreatedBy: u.ID,
		Purpose: policy.PurposeTransactional}
	if !u.IsAdmin() && len(u.DepartmentIDs) == 1 {
		dep := u.DepartmentIDs[0]
		n.DepartmentID = &dep
	}
	tpls, err := s.DB.SendableTemplates(ctx, true)
	if err != nil {
		return 0, err
	}
	spec := broadcast.Spec{Content: broadcast.Content{Mode: broadcast.ModeWhatsAppThenSMS}, Sender: broadcast.Sender{Strategy: StrategyDepartment}}
	if len(tpls) == 0 {
		spec.Content.Mode = broadcast.ModeSMS
	}
	if n.Audience, n.Content, n.Sender, err = spec.Encode(); err != nil {
		return 0, err
	}
	uid := u.ID
	var id int64
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if id, err = db.InsertBroadcastTx(ctx, tx, n); err != nil {
			return err
		}
		return db.AuditTx(ctx, tx, &uid, "broadcast.created", subject(id), nil, map[string]any{"name": n.Name}, ip)
	})
	if err != nil {
		return 0, fmt.Errorf("create broadcast draft: %w", err)
	}
	return id, nil
}

// Nav is where a step's form sends the person after saving.
type Nav int

const (
	// NavNext goes on when the step is valid, else stays with its errors.
	NavNext Nav = iota
	// NavBack goes to the previous step; what was typed is saved even with errors.
	NavBack
	// NavStay saves and shows the same step again (a refresh, a file added).
	NavStay
	// NavAuto saves while typing: no audit entry, the wizard step unchanged.
	NavAuto
)

// save stores a draft changed by one step and returns the step to show.
// also, when given, runs in the same transaction once the draft is saved
// (attachments claimed with the content that lists them).
func (s *Service) save(ctx context.Context, u db.User, ip string, b db.Broadcast, spec broadcast.Spec, step int, nav Nav, errs FieldErrors,
	also ...func(pgx.Tx) error) (int, error) {
	next := step
	switch {
	case nav == NavNext && len(errs) == 0:
		next = step + 1
	case nav == NavBack:
		next = step - 1
	}
	next = ClampStep(next)
	if nav != NavAuto {
		b.WizardStep = next
	}
	var err error
	if b.Audience, b.Content, b.Sender, err = spec.Encode(); err != nil {
		return step, err
	}
	uid := u.ID
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		ok, err := db.SaveDraftTx(ctx, tx, b)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotDraft
		}
		for _, f := range also {
			if err := f(tx); err != nil {
				return err
			}
		}
		if nav == NavAuto {
			return nil
		}
		after := map[string]any{"step": StepNames[step], "complete": len(errs) == 0}
		return db.AuditTx(ctx, tx, &uid, "broadcast.draft_saved", subject(b.ID), nil, after, ip)
	})
	if err != nil {
		if errors.Is(err, ErrNotDraft) {
			return step, err
		}
		return step, fmt.Errorf("save broadcast %d step %d: %w", b.ID, step, err)
	}
	return next, nil
}

// draft loads a visible broadcast that is still a draft.
func (s *Service) draft(ctx context.Context, u db.User, id int64) (db.Broadcast, broadcast.Spec, error) {
	row, spec, err := s.Get(ctx, u, id)
	if err != nil {
		return row.Broadcast, spec, err
	}
	if row.Status != "draft" {
		return row.Broadcast, spec, ErrNotDraft
	}
	return row.Broadcast, spec, nil
}

// SaveAudience saves step 1 and returns the step to show next and the
// errors to show beside the fields.
func (s *Service) SaveAudience(ctx context.Context, u db.User, ip string, id int64, in AudienceInput, nav Nav) (int, FieldErrors, error) {
	b, spec, err := s.draft(ctx, u, id)
	if err != nil {
		return StepAudience, nil, err
	}
	name, aud, errs := in.Build(s.Region)
	if name != "" {
		b.Name = name
	}
	spec.Audience = aud
	next, err := s.save(ctx, u, ip, b, spec, StepAudience, nav, errs)
	return next, errs, err
}

// Template loads a template by id for the content step (nil when absent).
func (s *Service) Template(ctx context.Context, id int64) (*db.Template, error) {
	if id == 0 {
		return nil, nil
	}
	t, err := s.DB.TemplateByID(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// SaveContent saves step 2. A file in in.Upload is stored as the composer
// stores its uploads (checked against Twilio's MMS rules: attachments go
// with the SMS text) and added to the attachments; a file refused comes back
// as the "media" error, with everything else typed saved.
func (s *Service) SaveContent(ctx context.Context, u db.User, ip string, id int64, in ContentInput, nav Nav) (int, FieldErrors, error) {
	b, spec, err := s.draft(ctx, u, id)
	if err != nil {
		return StepContent, nil, err
	}
	tpl, err := s.Template(ctx, in.TemplateID)
	if err != nil {
		return StepContent, nil, err
	}
	var uploaded *db.Media
	uploadErr := ""
	if in.Upload != nil {
		if s.Media == nil {
			return StepContent, nil, ErrNoMedia
		}
		md, err := s.Media.Upload(ctx, u.ID, media.ChannelSMS, in.Upload.Filename, in.Upload.DeclaredType, in.Upload.Body)
		var refused *media.RefusedError
		switch {
		case errors.As(err, &refused):
			uploadErr = refused.Reason
		case err != nil:
			return StepContent, nil, fmt.Errorf("attach a file to broadcast %d: %w", id, err)
		default:
			uploaded = &md
			in.MediaFileIDs = append(slices.Clone(in.MediaFileIDs), md.FileID)
		}
	}
	content, purpose, urgent, errs := in.Build(tpl)
	files, mediaErr, err := s.attachable(ctx, u, b.ID, content.MediaFileIDs)
	if err != nil {
		return StepContent, nil, err
	}
	content.MediaFileIDs = fileIDs(files)
	switch {
	case uploadErr != "":
		errs = withError(errs, "media", uploadErr)
	case mediaErr != "":
		errs = withError(errs, "media", mediaErr)
	}
	spec.Content, b.Purpose, b.Urgent = content, purpose, urgent
	claim := func(tx pgx.Tx) error {
		if err := db.SetBroadcastMediaTx(ctx, tx, b.ID, content.MediaFileIDs); errors.Is(err, db.ErrNotFound) {
			return fmt.Errorf("%w: %w", ErrAttachmentGone, err)
		} else if err != nil {
			return err
		}
		if uploaded == nil || !slices.Contains(content.MediaFileIDs, uploaded.FileID) {
			return nil
		}
		uid := u.ID
		return db.AuditTx(ctx, tx, &uid, "broadcast.attachment_added", subject(b.ID), nil,
			map[string]any{"file_id": uploaded.FileID, "filename": uploaded.Filename, "content_type": uploaded.ContentType, "size": uploaded.Size}, ip)
	}
	next, err := s.save(ctx, u, ip, b, spec, StepContent, nav, errs, claim)
	return next, errs, err
}

func withError(errs FieldErrors, field, text string) FieldErrors {
	if errs == nil {
		errs = FieldErrors{}
	}
	errs[field] = text
	return errs
}

func fileIDs(files []db.MediaFile) []int64 {
	var ids []int64
	for _, f := range files {
		ids = append(ids, f.ID)
	}
	return ids
}

// attachable keeps, of ids in order, the files u may attach to draft
// broadcastID (those it holds already, and u's own uploads no message or
// broadcast holds) while they fit one MMS: Twilio's types, at most
// MMSMaxFiles and MMSMaxBytes together. The files left out are said in
// words ("" when none).
func (s *Service) attachable(ctx context.Context, u db.User, broadcastID int64, ids []int64) ([]db.MediaFile, string, error) {
	if len(ids) == 0 {
		return nil, "", nil
	}
	found, err := s.DB.BroadcastMediaCandidates(ctx, broadcastID, u.ID, ids)
	if err != nil {
		return nil, "", err
	}
	var kept []db.MediaFile
	var total int64
	problem := ""
	if len(found) < len(ids) {
		// Not told apart on purpose: whose a file is, or whether it exists,
		// is nothing to reveal.
		problem = "An attachment is no longer available, or is not one you uploaded: attach the file again."
	}
	for _, f := range found {
		if err := media.CheckOutbound(media.ChannelSMS, f.ContentType, f.Size); err != nil {
			problem = err.Error()
			continue
		}
		if err := media.CheckOutboundTotal(media.ChannelSMS, len(kept)+1, total+f.Size); err != nil {
			problem = err.Error() + " " + f.Filename + " was not attached."
			continue
		}
		kept, total = append(kept, f), total+f.Size
	}
	return kept, problem, nil
}

// Attachments are the files broadcast b holds among ids, in order, for
// showing them.
func (s *Service) Attachments(ctx context.Context, broadcastID int64, ids []int64) ([]db.MediaFile, error) {
	return s.DB.BroadcastMediaFiles(ctx, broadcastID, ids)
}

// RemoveAttachment takes a file off a draft (audited); nothing else of the
// draft changes. The file is let go and pruned like any abandoned upload.
// Removing a file the draft does not have does nothing.
func (s *Service) RemoveAttachment(ctx context.Context, u db.User, ip string, id, fileID int64) error {
	b, spec, err := s.draft(ctx, u, id)
	if err != nil {
		return err
	}
	if !slices.Contains(spec.Content.MediaFileIDs, fileID) {
		return nil
	}
	spec.Content.MediaFileIDs = slices.DeleteFunc(slices.Clone(spec.Content.MediaFileIDs), func(x int64) bool { return x == fileID })
	release := func(tx pgx.Tx) error {
		if err := db.SetBroadcastMediaTx(ctx, tx, b.ID, spec.Content.MediaFileIDs); err != nil {
			return err
		}
		uid := u.ID
		return db.AuditTx(ctx, tx, &uid, "broadcast.attachment_removed", subject(b.ID), map[string]any{"file_id": fileID}, nil, ip)
	}
	_, err = s.save(ctx, u, ip, b, spec, StepContent, NavAuto, nil, release)
	return err
}

// CanSeeAttachment reports whether u may download a file broadcast
// broadcastID holds: whoever may see the broadcast (CanSee), and staff who
// see a conversation one of its messages went to (the message shows it).
func (s *Service) CanSeeAttachment(ctx context.Context, u db.User, broadcastID int64) (bool, error) {
	b, err := s.DB.BroadcastByID(ctx, broadcastID)
	if errors.Is(err, db.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if CanSee(u, b) {
		return true, nil
	}
	return s.DB.BroadcastReachedDepartments(ctx, broadcastID, u.DepartmentIDs)
}

// Departments are those u may send a broadcast from.
func (s *Service) Departments(ctx context.Context, u db.User) ([]db.Department, error) {
	if u.IsAdmin() {
		return s.DB.DepartmentsByID(ctx, nil)
	}
	ids := u.DepartmentIDs
	if ids == nil {
		ids = []int64{}
	}
	return s.DB.DepartmentsByID(ctx, ids)
}

// Candidates are the senders of a department (0: every sender) per channel.
func (s *Service) Candidates(ctx context.Context, departmentID int64) (map[string][]db.PoolSender, error) {
	var deps []int64
	if departmentID != 0 {
		deps = []int64{departmentID}
	}
	out := map[string][]db.PoolSender{}
	for _, ch := range []string{policy.ChannelWhatsApp, policy.ChannelSMS} {
		cands, err := s.DB.PickCandidates(ctx, ch, deps)
		if err != nil {
			return nil, err
		}
		out[ch] = cands
	}
	return out, nil
}

// SaveSender saves step 3. A department the user may not choose is never
// stored (the broadcast would vanish from their list).
func (s *Service) SaveSender(ctx context.Context, u db.User, ip string, id int64, in SenderInput, nav Nav) (int, FieldErrors, error) {
	b, spec, err := s.draft(ctx, u, id)
	if err != nil {
		return StepSender, nil, err
	}
	deps, err := s.Departments(ctx, u)
	if err != nil {
		return StepSender, nil, err
	}
	cands, err := s.Candidates(ctx, in.DepartmentID)
	if err != nil {
		return StepSender, nil, err
	}
	dep, sender, errs := in.Build(u, deps, cands, spec.Content)
	if errs["department"] == "" {
		b.DepartmentID = dep
	}
	spec.Sender = sender
	next, err := s.save(ctx, u, ip, b, spec, StepSender, nav, errs)
	return next, errs, err
}

// SaveStep records that the person moved on from a step without inputs (the review).
func (s *Service) SaveStep(ctx context.Context, u db.User, ip string, id int64, step int, nav Nav) (int, error) {
	b, spec, err := s.draft(ctx, u, id)
	if err != nil {
		return step, err
	}
	return s.save(ctx, u, ip, b, spec, step, nav, nil)
}

// AudienceCount saves step 1 as typed (no audit: it runs while typing) and
// counts the people and numbers it reaches. The content is left out of the
// count, so an unfinished template does not stop it.
func (s *Service) AudienceCount(ctx context.Context, u db.User, ip string, id int64, in AudienceInput) (Summary, error) {
	b, spec, err := s.draft(ctx, u, id)
	if err != nil {
		return Summary{}, err
	}
	name, aud, errs := in.Build(s.Region)
	if name != "" {
		b.Name = name
	}
	spec.Audience = aud
	if _, err := s.save(ctx, u, ip, b, spec, StepAudience, NavAuto, errs); err != nil {
		return Summary{}, err
	}
	return s.CountAudience(ctx, b, aud)
}

// CountAudience counts the people and numbers an audience reaches, as the
// engine would list them for broadcast b (its department and sender).
func (s *Service) CountAudience(ctx context.Context, b db.Broadcast, aud broadcast.Audience) (Summary, error) {
	if s.Engine == nil {
		return Summary{}, ErrNoEngine
	}
	spec, err := broadcast.DecodeSpec(nil, nil, b.Sender)
	if err != nil {
		return Summary{}, err
	}
	count := broadcast.Spec{Audience: aud, Content: broadcast.Content{Mode: broadcast.ModeSMS, SMSBody: "-"}, Sender: spec.Sender}
	if b.Audience, b.Content, b.Sender, err = count.Encode(); err != nil {
		return Summary{}, err
	}
	b.Purpose = policy.PurposeTransactional
	plan, err := s.Engine.Plan(ctx, b)
	if err != nil {
		return Summary{}, fmt.Errorf("count audience of broadcast %d: %w", b.ID, err)
	}
	return Summarize(plan, Settings{}), nil
}

// AutosaveSMS saves the SMS text while it is typed (no audit), so a closed
// tab keeps it. Other content fields are left as stored.
func (s *Service) AutosaveSMS(ctx context.Context, u db.User, ip string, id int64, body string) error {
	b, spec, err := s.draft(ctx, u, id)
	if err != nil {
		return err
	}
	if len(body) > 4*maxSMS {
		return nil // far past the limit: the step's check says so on Continue
	}
	spec.Content.SMSBody = body
	_, err = s.save(ctx, u, ip, b, spec, StepContent, NavAuto, nil)
	return err
}
