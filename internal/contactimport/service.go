package contactimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
)

// DefaultBatchSize is how many rows one statement (and one transaction) writes.
const DefaultBatchSize = 1000

// StaleAfter is how long a running import may go without progress before
// another worker (after a restart) takes it over. Short, so an import a
// crash interrupted goes on within seconds; a worker that was only slow
// and is taken over stops at its next batch (the progress fence), so a
// takeover too early costs nothing but the batch in hand.
const StaleAfter = 30 * time.Second

// RunTimeout bounds one background run (200,000 rows take well under a
// minute); a run stopped by it stays "running" and is taken over later.
const RunTimeout = 30 * time.Minute

// Service stores uploads and runs imports.
type Service struct {
	DB        *db.DB
	Region    string // DEFAULT_REGION, for numbers without a country code
	Log       *slog.Logger
	BatchSize int
	// AfterBatch, when set, is called after each batch commits with the
	// import's processed count. Tests stop a run there, as a process that
	// dies between batches would.
	AfterBatch func(id int64, processed int)
}

// UserError is a problem with what the user sent, worded for them.
type UserError string

func (e UserError) Error() string { return string(e) }

// FieldErrors are mapping form errors by field name.
type FieldErrors map[string]string

func (e FieldErrors) Error() string { return "the mapping has errors" }

// Upload parses a file and stores it, waiting for its mapping.
func (s *Service) Upload(ctx context.Context, actor db.User, filename string, r io.Reader) (int64, error) {
	f, err := Parse(r)
	if err != nil {
		return 0, UserError(upperFirst(err.Error()) + ".")
	}
	if len(f.Rows) == 0 {
		return 0, UserError("The file has a header row but no contacts under it.")
	}
	rows := make([]db.ImportRow, len(f.Rows))
	for i, r := range f.Rows {
		rows[i] = db.ImportRow{Line: r.Line, Cells: r.Cells}
	}
	return s.DB.CreateContactImport(ctx, &actor.ID, cleanFilename(filename), f.Header, rows)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func cleanFilename(name string) string {
	name = name[strings.LastIndexAny(name, `/\`)+1:]
	name = clean(name)
	if utf8.RuneCountInString(name) > 200 {
		name = string([]rune(name)[:200])
	}
	return name
}

// PreviewRow is a row of the mapping page's preview.
type PreviewRow struct {
	Line  int
	Cells []string
	Phone string // normalised, when valid
	Error string
}

// Preview validates the first n rows under m.
func (s *Service) Preview(ctx context.Context, id int64, m Mapping, n int) ([]PreviewRow, error) {
	rows, err := s.DB.ContactImportRows(ctx, id, n)
	if err != nil {
		return nil, err
	}
	v := NewValidator(m, s.Region)
	out := make([]PreviewRow, len(rows))
	for i, r := range rows {
		c, msg := v.Check(Row{Line: r.Line, Cells: r.Cells})
		out[i] = PreviewRow{Line: r.Line, Cells: r.Cells, Phone: c.Phone, Error: msg}
	}
	return out, nil
}

// StartInput is the mapping form.
type StartInput struct {
	Mapping  Mapping
	GroupID  int64  // add every imported contact to this static group (0: none)
	NewGroup string // or to a new static group of this name
}

// Start saves the mapping and marks the import running; the caller then
// runs it in the background (Run). Audited.
func (s *Service) Start(ctx context.Context, actor db.User, id int64, in StartInput, ip string) error {
	ci, err := s.DB.ContactImportByID(ctx, id)
	if err != nil {
		return err
	}
	if ci.Status != "mapping" {
		return UserError("This import has already started.")
	}
	errs := FieldErrors{}
	for k, v := range CheckMapping(in.Mapping, len(ci.Header)) {
		errs["col"+k] = v
	}
	in.NewGroup = clean(in.NewGroup)
	if utf8.RuneCountInString(in.NewGroup) > 100 {
		errs["new_group"] = "Keep the group name under 100 characters."
	}
	if in.NewGroup != "" && in.GroupID != 0 {
		errs["new_group"] = "Choose an existing group or name a new one, not both."
	}
	if len(errs) > 0 {
		return errs
	}
	mapping := make([]string, len(ci.Header))
	for i := range mapping {
		if i < len(in.Mapping) {
			mapping[i] = string(in.Mapping[i])
		}
	}
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var group *int64
		switch {
		case in.NewGroup != "":
			g, err := db.CreateStaticGroupTx(ctx, tx, in.NewGroup)
			if err != nil {
				return err
			}
			if err := db.AuditTx(ctx, tx, &actor.ID, "group.create", "group:"+strconv.FormatInt(g, 10), nil,
				map[string]any{"name": in.NewGroup, "kind": "static", "via": "contact import"}, ip); err != nil {
				return err
			}
			group = &g
		case in.GroupID != 0:
			ok, err := db.StaticGroupExistsTx(ctx, tx, in.GroupID)
			if err != nil {
				return err
			}
			if !ok {
				return FieldErrors{"group_id": "That group no longer exists or is not a static group."}
			}
			group = &in.GroupID
		}
		started, err := db.StartContactImportTx(ctx, tx, id, mapping, group)
		if err != nil {
			return err
		}
		if !started {
			return UserError("This import has already started.")
		}
		return db.AuditTx(ctx, tx, &actor.ID, "contact_import.start", subject(id), nil,
			map[string]any{"filename": ci.Filename, "rows": ci.Total, "mapping": mapping, "group_id": group}, ip)
	})
}

func subject(id int64) string { return "contact_import:" + strconv.FormatInt(id, 10) }

var (
	activeMu sync.Mutex
	active   = map[int64]bool{}
)

// ClaimStale takes over a running import whose worker stopped (a restart):
// true means the caller should Run it. The claim moves the import's
// heartbeat forward in one UPDATE that succeeds only while the import is
// still stale, so of several processes claiming at once exactly one wins.
func (s *Service) ClaimStale(ctx context.Context, id int64) (bool, error) {
	activeMu.Lock()
	busy := active[id]
	activeMu.Unlock()
	if busy {
		return false, nil
	}
	return s.DB.ClaimStaleContactImport(ctx, id, StaleAfter)
}

// ClaimStaleImports takes over every running import whose worker has not
// been heard of for StaleAfter: one left by a process that stopped
// mid-import. It returns the imports this caller won (see ClaimStale); the
// caller runs them. Several processes may do this at once (all starting
// together after an outage): each import is claimed by exactly one.
func (s *Service) ClaimStaleImports(ctx context.Context) ([]int64, error) {
	ids, err := s.DB.StaleContactImports(ctx, StaleAfter)
	if err != nil {
		return nil, err
	}
	var won []int64
	for _, id := range ids {
		ok, err := s.ClaimStale(ctx, id)
		if err != nil {
			return won, fmt.Errorf("resume contact import %d: %w", id, err)
		}
		if ok {
			won = append(won, id)
		}
	}
	return won, nil
}

// RunInBackground runs the import after the caller returns, through goAsync
// (a tracker that shutdown waits for, such as messaging.Service.Go). When
// done closes (shutdown) it stops between batches and stays "running", to
// be taken over later.
func (s *Service) RunInBackground(id int64, goAsync func(time.Duration, func(context.Context)), done <-chan struct{}) {
	goAsync(RunTimeout, func(ctx context.Context) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-done:
				cancel()
			case <-ctx.Done():
			}
		}()
		if err := s.Run(ctx, id); err != nil && ctx.Err() == nil {
			s.log().Error("contact import", "import_id", id, "err", err)
		}
	})
}

// Run imports a started import's good rows in batches, each batch one
// transaction that also records its counts, so the page shows progress
// and a stop halfway leaves whole batches only. A resumed import skips the
// batches already written. When ctx ends (shutdown) the import stays
// "running" and is taken over later; any other error marks it failed.
func (s *Service) Run(ctx context.Context, id int64) error {
	activeMu.Lock()
	if active[id] {
		activeMu.Unlock()
		return nil
	}
	active[id] = true
	activeMu.Unlock()
	defer func() {
		activeMu.Lock()
		delete(active, id)
		activeMu.Unlock()
	}()
	err := s.run(ctx, id)
	if err == nil || ctx.Err() != nil {
		return err
	}
	s.log().Error("contact import failed", "import_id", id, "err", err)
	ferr := s.DB.InTx(context.WithoutCancel(ctx), func(tx pgx.Tx) error {
		return db.FinishContactImportTx(ctx, tx, id, "failed", "The import stopped because of an error on our side. The contacts written before it are kept; upload the file again to finish.")
	})
	return errors.Join(err, ferr)
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Service) run(ctx context.Context, id int64) error {
	ci, err := s.DB.ContactImportByID(ctx, id)
	if err != nil {
		return err
	}
	if ci.Status != "running" {
		return nil
	}
	stored, err := s.DB.ContactImportRows(ctx, id, 0)
	if err != nil {
		return err
	}
	f := File{Header: ci.Header, Rows: make([]Row, len(stored))}
	for i, r := range stored {
		f.Rows[i] = Row{Line: r.Line, Cells: r.Cells}
	}
	m := make(Mapping, len(ci.Mapping))
	for i, x := range ci.Mapping {
		m[i] = Field(x)
	}
	good, bad := Validate(f, m, s.Region)
	lineErrs := make([]db.ImportLineError, len(bad))
	for i, b := range bad {
		lineErrs[i] = db.ImportLineError{Line: b.Line, Message: b.Message}
	}
	if err := s.DB.SetContactImportPlan(ctx, id, len(bad), lineErrs, BadRowsCSV(f.Header, bad)); err != nil {
		return err
	}
	done := max(ci.Processed-len(bad), 0) // good rows a previous worker wrote
	if done > len(good) {
		done = len(good)
	}
	size := s.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	source := "import:" + strconv.FormatInt(id, 10)
	if ci.Filename != "" {
		source += " " + ci.Filename
	}
	for start := done; start < len(good); start += size {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := good[start:min(start+size, len(good))]
		if err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
			return writeBatch(ctx, tx, id, len(bad)+start, batch, ci.GroupID, source, ci.CreatedBy)
		}); errors.Is(err, db.ErrImportTakenOver) {
			// This worker was quiet long enough to be taken for stopped;
			// the one that took over finishes the import.
			s.log().Warn("contact import taken over by another worker; stopping this one", "import_id", id, "at_row", len(bad)+start)
			return nil
		} else if err != nil {
			return fmt.Errorf("contact import %d, rows from line %d: %w", id, batch[0].Line, err)
		}
		if s.AfterBatch != nil {
			s.AfterBatch(id, len(bad)+start+len(batch))
		}
	}
	return s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := db.FinishContactImportTx(ctx, tx, id, "done", ""); err != nil {
			return err
		}
		after, err := countsOf(ctx, tx, id)
		if err != nil {
			return err
		}
		return db.AuditTx(ctx, tx, ci.CreatedBy, "contact_import.done", subject(id), nil, after, "")
	})
}

func countsOf(ctx context.Context, q db.Querier, id int64) (map[string]any, error) {
	var total, created, updated, unchanged, failed, consents int
	var filename string
	err := q.QueryRow(ctx, `SELECT filename, total, created, updated, unchanged, failed, consents FROM contact_imports WHERE id = $1`, id).
		Scan(&filename, &total, &created, &updated, &unchanged, &failed, &consents)
	if err != nil {
		return nil, fmt.Errorf("contact import %d counts: %w", id, err)
	}
	return map[string]any{"filename": filename, "total": total, "created": created, "updated": updated,
		"unchanged": unchanged, "failed": failed, "consent_events": consents}, nil
}

func toStored(c db.ImportContact) Stored {
	return Stored{ID: c.ID, Phone: c.Phone, Name: c.Name, Role: c.Role, Language: c.Language, Channel: c.Channel,
		WhatsAppCapable: c.WhatsAppCapable, Custom: c.Custom}
}

func fromStored(s Stored, onlyKeys map[string]string) db.ImportContact {
	custom := s.Custom
	if onlyKeys != nil {
		// Updates send only the file's keys; the database merges them.
		custom = map[string]string{}
		for k := range onlyKeys {
			custom[k] = s.Custom[k]
		}
	}
	return db.ImportContact{ID: s.ID, Phone: s.Phone, Name: s.Name, Role: s.Role, Language: s.Language,
		Channel: s.Channel, WhatsAppCapable: s.WhatsAppCapable, Custom: custom}
}

// writeBatch writes one batch; before is the import's processed count it
// expects to find (rows already written or refused).
func writeBatch(ctx context.Context, tx pgx.Tx, id int64, before int, batch []Valid, groupID *int64, source string, by *int64) error {
	phones := make([]string, len(batch))
	for i, v := range batch {
		phones[i] = v.Phone
	}
	existing, err := db.ContactsByPhoneTx(ctx, tx, phones)
	if err != nil {
		return err
	}
	var ins, upd []db.ImportContact
	var consents []ImportConsentRow
	for _, v := range batch {
		if old, ok := existing[v.Phone]; ok {
			if n, changed := Merge(toStored(old), v.Contact); changed {
				upd = append(upd, fromStored(n, v.Custom))
			}
		} else {
			ins = append(ins, fromStored(NewStored(v.Contact), nil))
		}
		for _, p := range []string{"transactional", "marketing"} {
			if in, ok := v.Consent[p]; ok {
				consents = append(consents, ImportConsentRow{Phone: v.Phone, Purpose: p, OptedIn: in})
			}
		}
	}
	created, err := db.InsertImportedContactsTx(ctx, tx, ins)
	if err != nil {
		return err
	}
	updated, err := db.UpdateImportedContactsTx(ctx, tx, upd)
	if err != nil {
		return err
	}
	if groupID != nil {
		if err := db.AddPhonesToGroupTx(ctx, tx, *groupID, phones); err != nil {
			return err
		}
	}
	nc, err := db.InsertImportConsentsTx(ctx, tx, consents, source, by)
	if err != nil {
		return err
	}
	return db.AddContactImportProgressTx(ctx, tx, id, before, db.ImportProgress{
		Processed: len(batch), Created: created, Updated: updated, Unchanged: len(batch) - created - updated, Consents: nc,
	})
}

// ImportConsentRow is one consent cell to record.
type ImportConsentRow = db.ImportConsent
