package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ContactImport is one CSV import.
type ContactImport struct {
	ID                          int64
	CreatedBy                   *int64
	Filename, Status            string
	Header                      []string
	Mapping                     []string // field per column, "" ignored
	GroupID                     *int64
	GroupName                   string
	Total, Processed            int
	Created, Updated, Unchanged int
	Failed, Consents            int
	Errors                      []ImportLineError
	HasBadRows                  bool
	Error                       string
	HeartbeatAt                 *time.Time
	CreatedAt                   time.Time
	FinishedAt                  *time.Time
}

// ImportLineError is a row that was not imported.
type ImportLineError struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// ImportRow is one stored record of an uploaded file.
type ImportRow struct {
	Line  int
	Cells []string
}

// CreateContactImport stores a parsed upload (status "mapping") and its
// records, in one transaction: nothing is visible until all of it is.
func (d *DB) CreateContactImport(ctx context.Context, createdBy *int64, filename string, header []string, rows []ImportRow) (int64, error) {
	var id int64
	err := d.InTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO contact_imports (created_by, filename, header, total)
			VALUES ($1, $2, $3, $4) RETURNING id`, createdBy, filename, header, len(rows)).Scan(&id); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"contact_import_rows"}, []string{"import_id", "line", "cells"},
			pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
				return []any{id, rows[i].Line, rows[i].Cells}, nil
			}))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("db: create contact import: %w", err)
	}
	return id, nil
}

const contactImportColumns = `i.id, i.created_by, i.filename, i.status, i.header, i.mapping, i.group_id, coalesce(g.name, ''),
	i.total, i.processed, i.created, i.updated, i.unchanged, i.failed, i.consents, i.errors, i.bad_rows_csv <> '',
	i.error, i.heartbeat_at, i.created_at, i.finished_at`

// ContactImportByID returns one import (without its bad rows CSV).
func (d *DB) ContactImportByID(ctx context.Context, id int64) (ContactImport, error) {
	var ci ContactImport
	var mapping, errs []byte
	err := d.Pool.QueryRow(ctx, `SELECT `+contactImportColumns+` FROM contact_imports i
		LEFT JOIN groups g ON g.id = i.group_id WHERE i.id = $1`, id).Scan(
		&ci.ID, &ci.CreatedBy, &ci.Filename, &ci.Status, &ci.Header, &mapping, &ci.GroupID, &ci.GroupName,
		&ci.Total, &ci.Processed, &ci.Created, &ci.Updated, &ci.Unchanged, &ci.Failed, &ci.Consents, &errs, &ci.HasBadRows,
		&ci.Error, &ci.HeartbeatAt, &ci.CreatedAt, &ci.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return ci, ErrNotFound
	}
	if err != nil {
		return ci, fmt.Errorf("db: contact import %d: %w", id, err)
	}
	if err := json.Unmarshal(mapping, &ci.Mapping); err != nil {
		return ci, fmt.Errorf("db: contact import %d mapping: %w", id, err)
	}
	if err := json.Unmarshal(errs, &ci.Errors); err != nil {
		return ci, fmt.Errorf("db: contact import %d errors: %w", id, err)
	}
	return ci, nil
}

// ContactImportBadRows returns the rows to fix as CSV ("" when none).
func (d *DB) ContactImportBadRows(ctx context.Context, id int64) (filename, csv string, err error) {
	err = d.Pool.QueryRow(ctx, `SELECT filename, bad_rows_csv FROM contact_imports WHERE id = $1`, id).Scan(&filename, &csv)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", ErrNotFound
	}
	if err != nil {
		return "", "", fmt.Errorf("db: contact import %d bad rows: %w", id, err)
	}
	return filename, csv, nil
}

// ContactImportRows returns the stored records in file order; limit 0 = all.
func (d *DB) ContactImportRows(ctx context.Context, id int64, limit int) ([]ImportRow, error) {
	q := `SELECT line, cells FROM contact_import_rows WHERE import_id = $1 ORDER BY line`
	args := []any{id}
	if limit > 0 {
		q += ` LIMIT $2`
		args = append(args, limit)
	}
	rows, err := d.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("db: contact import %d rows: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ImportRow, error) {
		var ir ImportRow
		err := r.Scan(&ir.Line, &ir.Cells)
		return ir, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: contact import %d rows: %w", id, err)
	}
	return out, nil
}

// StartContactImportTx moves an import from "mapping" to "running" with its
// mapping and group. false: it was not waiting for a mapping (already started).
func StartContactImportTx(ctx context.Context, q Querier, id int64, mapping []string, groupID *int64) (bool, error) {
	m, err := json.Marshal(mapping)
	if err != nil {
		return false, err
	}
	tag, err := q.Exec(ctx, `UPDATE contact_imports SET status = 'running', mapping = $2, group_id = $3, heartbeat_at = now()
		WHERE id = $1 AND status = 'mapping'`, id, m, groupID)
	if err != nil {
		return false, fmt.Errorf("db: start contact import %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ClaimStaleContactImport takes over a running import whose worker has
// not been heard of for staleAfter (an instance stopped mid-import).
func (d *DB) ClaimStaleContactImport(ctx context.Context, id int64, staleAfter time.Duration) (bool, error) {
	tag, err := d.Pool.Exec(ctx, `UPDATE contact_imports SET heartbeat_at = now()
		WHERE id = $1 AND status = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => $2))`,
		id, staleAfter.Seconds())
	if err != nil {
		return false, fmt.Errorf("db: claim contact import %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// StaleContactImports lists running imports nobody has worked on for staleAfter.
func (d *DB) StaleContactImports(ctx context.Context, staleAfter time.Duration) ([]int64, error) {
	rows, err := d.Pool.Query(ctx, `SELECT id FROM contact_imports WHERE status = 'running'
		AND (heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => $1)) ORDER BY id`, staleAfter.Seconds())
	if err != nil {
		return nil, fmt.Errorf("db: stale contact imports: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("db: stale contact imports: %w", err)
	}
	return ids, nil
}

// SetContactImportPlan records the validation outcome before any contact is
// written: the bad rows (processed at once) and their CSV. Called again on
// a resumed import, it writes the same values.
func (d *DB) SetContactImportPlan(ctx context.Context, id int64, failed int, errs []ImportLineError, badCSV string) error {
	if errs == nil {
		errs = []ImportLineError{}
	}
	e, err := json.Marshal(errs)
	if err != nil {
		return err
	}
	_, err = d.Pool.Exec(ctx, `UPDATE contact_imports SET failed = $2, errors = $3, bad_rows_csv = $4,
		processed = greatest(processed, $2), heartbeat_at = now() WHERE id = $1`, id, failed, e, badCSV)
	if err != nil {
		return fmt.Errorf("db: contact import %d plan: %w", id, err)
	}
	return nil
}

// ImportContact is a contact as an import reads and writes it.
type ImportContact struct {
	ID              int64
	Phone           string
	Name, Role      string
	Language        string
	Channel         string // "" = no preference
	WhatsAppCapable bool
	Custom          map[string]string // only the keys to set (writes) / string values (reads)
}

// ContactsByPhoneTx returns the current (unmerged) contacts with these
// phones, locked for the rest of the transaction.
func ContactsByPhoneTx(ctx context.Context, q Querier, phones []string) (map[string]ImportContact, error) {
	// A join with unnest, not phone = ANY($1): ANY over a 1,000-element
	// parameter is a linear scan of the array per row and tempts the planner
	// into a sequential scan; the join probes the unique index per phone.
	rows, err := q.Query(ctx, `SELECT c.id, c.phone, c.name, c.role, c.language, coalesce(c.preferred_channel, ''), c.whatsapp_capable, c.custom_fields
		FROM unnest($1::text[]) AS p(phone) JOIN contacts c ON c.phone = p.phone AND c.merged_into IS NULL
		ORDER BY c.id FOR UPDATE OF c`, phones)
	if err != nil {
		return nil, fmt.Errorf("db: contacts by phone: %w", err)
	}
	defer rows.Close()
	out := make(map[string]ImportContact, len(phones))
	for rows.Next() {
		var c ImportContact
		var custom map[string]any
		if err := rows.Scan(&c.ID, &c.Phone, &c.Name, &c.Role, &c.Language, &c.Channel, &c.WhatsAppCapable, &custom); err != nil {
			return nil, fmt.Errorf("db: contacts by phone: %w", err)
		}
		c.Custom = map[string]string{}
		for k, v := range custom {
			if s, ok := v.(string); ok {
				c.Custom[k] = s
			}
		}
		out[c.Phone] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: contacts by phone: %w", err)
	}
	return out, nil
}

type contactArrays struct {
	phone, name, role, language, custom []string
	channel                             []*string
	wa                                  []bool
}

func toArrays(cs []ImportContact) (contactArrays, error) {
	a := contactArrays{}
	for _, c := range cs {
		a.phone = append(a.phone, c.Phone)
		a.name = append(a.name, c.Name)
		a.role = append(a.role, c.Role)
		a.language = append(a.language, c.Language)
		var ch *string
		if c.Channel != "" {
			ch = &c.Channel
		}
		a.channel = append(a.channel, ch)
		a.wa = append(a.wa, c.WhatsAppCapable)
		custom := c.Custom
		if custom == nil {
			custom = map[string]string{}
		}
		b, err := json.Marshal(custom)
		if err != nil {
			return a, err
		}
		a.custom = append(a.custom, string(b))
	}
	return a, nil
}

// InsertImportedContactsTx inserts new contacts in one statement. A number
// another transaction inserted meanwhile is left alone; the count says how
// many rows this one created.
func InsertImportedContactsTx(ctx context.Context, q Querier, cs []ImportContact) (int, error) {
	if len(cs) == 0 {
		return 0, nil
	}
	a, err := toArrays(cs)
	if err != nil {
		return 0, err
	}
	tag, err := q.Exec(ctx, `INSERT INTO contacts (phone, name, role, language, preferred_channel, whatsapp_capable, custom_fields)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::jsonb[])
		ON CONFLICT (phone) WHERE merged_into IS NULL DO NOTHING`,
		a.phone, a.name, a.role, a.language, a.channel, a.wa, a.custom)
	if err != nil {
		return 0, fmt.Errorf("db: insert imported contacts: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// UpdateImportedContactsTx writes changed contacts in one statement; custom
// fields are merged key by key (keys the import does not name are kept).
func UpdateImportedContactsTx(ctx context.Context, q Querier, cs []ImportContact) (int, error) {
	if len(cs) == 0 {
		return 0, nil
	}
	a, err := toArrays(cs)
	if err != nil {
		return 0, err
	}
	ids := make([]int64, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	tag, err := q.Exec(ctx, `UPDATE contacts c SET name = u.name, role = u.role, language = u.language,
			preferred_channel = u.channel, whatsapp_capable = u.wa, custom_fields = c.custom_fields || u.custom, updated_at = now()
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::jsonb[])
			AS u(id, name, role, language, channel, wa, custom)
		WHERE c.id = u.id`,
		ids, a.name, a.role, a.language, a.channel, a.wa, a.custom)
	if err != nil {
		return 0, fmt.Errorf("db: update imported contacts: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// AddPhonesToGroupTx adds the current contacts with these phones to a group.
func AddPhonesToGroupTx(ctx context.Context, q Querier, groupID int64, phones []string) error {
	_, err := q.Exec(ctx, `INSERT INTO group_members (group_id, contact_id)
		SELECT $1, c.id FROM unnest($2::text[]) AS p(phone) JOIN contacts c ON c.phone = p.phone AND c.merged_into IS NULL
		ON CONFLICT DO NOTHING`, groupID, phones)
	if err != nil {
		return fmt.Errorf("db: add imported contacts to group %d: %w", groupID, err)
	}
	return nil
}

// ImportConsent is one consent cell of an import.
type ImportConsent struct {
	Phone, Purpose string
	OptedIn        bool
}

// InsertImportConsentsTx appends consent events (method "import") for the
// entries whose phone and purpose do not already have that answer as their
// latest one, so importing the same file twice adds nothing. It returns how
// many events were written.
func InsertImportConsentsTx(ctx context.Context, q Querier, cs []ImportConsent, source string, recordedBy *int64) (int, error) {
	if len(cs) == 0 {
		return 0, nil
	}
	phones, purposes, in := make([]string, len(cs)), make([]string, len(cs)), make([]bool, len(cs))
	for i, c := range cs {
		phones[i], purposes[i], in[i] = c.Phone, c.Purpose, c.OptedIn
	}
	tag, err := q.Exec(ctx, `INSERT INTO consent_events (phone, channel, purpose, opted_in, method, source, recorded_by)
		SELECT i.phone, NULL, i.purpose, i.opted_in, 'import', $4, $5
		FROM unnest($1::text[], $2::text[], $3::bool[]) AS i(phone, purpose, opted_in)
		WHERE (SELECT e.opted_in FROM consent_events e WHERE e.phone = i.phone AND e.purpose = i.purpose
			ORDER BY e.created_at DESC, e.id DESC LIMIT 1) IS DISTINCT FROM i.opted_in`,
		phones, purposes, in, source, recordedBy)
	if err != nil {
		return 0, fmt.Errorf("db: import consent: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// ImportProgress is what one batch adds to an import's counts.
type ImportProgress struct {
	Processed, Created, Updated, Unchanged, Consents int
}

// ErrImportTakenOver means another worker moved the import on since this
// one last wrote: this worker was taken for stopped and must not go on.
var ErrImportTakenOver = errors.New("contact import taken over by another worker")

// AddContactImportProgressTx adds a batch's counts, in the batch's
// transaction, provided the import still stands where this worker left it
// (processed rows = before); otherwise ErrImportTakenOver, and the caller
// rolls the batch back. The row lock makes a concurrent writer wait and
// then see the other's count.
func AddContactImportProgressTx(ctx context.Context, q Querier, id int64, before int, p ImportProgress) error {
	tag, err := q.Exec(ctx, `UPDATE contact_imports SET processed = processed + $2, created = created + $3,
		updated = updated + $4, unchanged = unchanged + $5, consents = consents + $6, heartbeat_at = now()
		WHERE id = $1 AND status = 'running' AND processed = $7`,
		id, p.Processed, p.Created, p.Updated, p.Unchanged, p.Consents, before)
	if err != nil {
		return fmt.Errorf("db: contact import %d progress: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("db: contact import %d progress at %d rows: %w", id, before, ErrImportTakenOver)
	}
	return nil
}

// FinishContactImportTx ends an import ("done" or "failed" with a reason)
// and drops its stored records.
func FinishContactImportTx(ctx context.Context, q Querier, id int64, status, errText string) error {
	if _, err := q.Exec(ctx, `UPDATE contact_imports SET status = $2, error = $3, finished_at = now()
		WHERE id = $1 AND status = 'running'`, id, status, errText); err != nil {
		return fmt.Errorf("db: finish contact import %d: %w", id, err)
	}
	if _, err := q.Exec(ctx, `DELETE FROM contact_import_rows WHERE import_id = $1`, id); err != nil {
		return fmt.Errorf("db: drop contact import %d rows: %w", id, err)
	}
	return nil
}

// ImportGroup is a static group an import can add contacts to.
type ImportGroup struct {
	ID   int64
	Name string
}

// StaticGroups lists static groups by name.
func (d *DB) StaticGroups(ctx context.Context) ([]ImportGroup, error) {
	rows, err := d.Pool.Query(ctx, `SELECT id, name FROM groups WHERE kind = 'static' ORDER BY lower(name), id`)
	if err != nil {
		return nil, fmt.Errorf("db: static groups: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ImportGroup])
	if err != nil {
		return nil, fmt.Errorf("db: static groups: %w", err)
	}
	return out, nil
}

// StaticGroupExistsTx reports whether id is a static group.
func StaticGroupExistsTx(ctx context.Context, q Querier, id int64) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM groups WHERE id = $1 AND kind = 'static')`, id).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("db: group %d: %w", id, err)
	}
	return ok, nil
}

// CreateStaticGroupTx creates a static group and returns its id.
func CreateStaticGroupTx(ctx context.Context, q Querier, name string) (int64, error) {
	var id int64
	if err := q.QueryRow(ctx, `INSERT INTO groups (name, kind) VALUES ($1, 'static') RETURNING id`, name).Scan(&id); err != nil {
		return 0, fmt.Errorf("db: create group: %w", err)
	}
	return id, nil
}

// RecentContactImports lists the latest imports, newest first.
func (d *DB) RecentContactImports(ctx context.Context, limit int) ([]ContactImport, error) {
	rows, err := d.Pool.Query(ctx, `SELECT id, filename, status, total, created, updated, unchanged, failed, created_at
		FROM contact_imports ORDER BY created_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("db: recent contact imports: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ContactImport, error) {
		var ci ContactImport
		err := r.Scan(&ci.ID, &ci.Filename, &ci.Status, &ci.Total, &ci.Created, &ci.Updated, &ci.Unchanged, &ci.Failed, &ci.CreatedAt)
		return ci, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: recent contact imports: %w", err)
	}
	return out, nil
}
