package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Template is a message template (a Twilio Content resource) with its
// WhatsApp approval.
type Template struct {
	ID              int64
	ContentSID      string
	FriendlyName    string
	LogicalName     string
	Language        string
	ApprovalName    string
	Category        string
	ApprovalStatus  string
	RejectionReason string
	// Types is Twilio's types object, kept as Twilio has it.
	Types json.RawMessage
	// Variables are the sample values, VariableMap the contact field each
	// variable is filled from ("1" → "first_name").
	Variables   map[string]string
	VariableMap map[string]string
	CreatedBy   *int64
	SubmittedAt *time.Time
	SyncedAt    *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const templateColumns = `id, coalesce(content_sid, ''), friendly_name, logical_name, language, approval_name, category,
	approval_status, rejection_reason, types, variables, variable_map, created_by, submitted_at, synced_at, created_at, updated_at`

func scanTemplate(row pgx.Row) (Template, error) {
	var t Template
	var vars, vmap []byte
	err := row.Scan(&t.ID, &t.ContentSID, &t.FriendlyName, &t.LogicalName, &t.Language, &t.ApprovalName, &t.Category,
		&t.ApprovalStatus, &t.RejectionReason, &t.Types, &vars, &vmap, &t.CreatedBy, &t.SubmittedAt, &t.SyncedAt, &t.CreatedAt, &t.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	if err != nil {
		return t, err
	}
	if err := json.Unmarshal(vars, &t.Variables); err != nil {
		return t, fmt.Errorf("template %d variables: %w", t.ID, err)
	}
	if err := json.Unmarshal(vmap, &t.VariableMap); err != nil {
		return t, fmt.Errorf("template %d variable map: %w", t.ID, err)
	}
	return t, nil
}

// TemplateFilter narrows ListTemplates.
type TemplateFilter struct {
	Status string // an approval status, "" = any
	Search string // part of the name, "" = any
}

// ListTemplates lists undeleted templates by name and language.
func (d *DB) ListTemplates(ctx context.Context, f TemplateFilter) ([]Template, error) {
	rows, err := d.Pool.Query(ctx, `SELECT `+templateColumns+` FROM templates
		WHERE deleted_at IS NULL AND ($1 = '' OR approval_status = $1)
		  AND ($2 = '' OR logical_name ILIKE '%' || $2 || '%' OR friendly_name ILIKE '%' || $2 || '%')
		ORDER BY logical_name, language, id`, f.Status, f.Search)
	if err != nil {
		return nil, fmt.Errorf("db: list templates: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Template, error) { return scanTemplate(r) })
	if err != nil {
		return nil, fmt.Errorf("db: list templates: %w", err)
	}
	return out, nil
}

// TemplateByID loads an undeleted template.
func (d *DB) TemplateByID(ctx context.Context, id int64) (Template, error) {
	t, err := scanTemplate(d.Pool.QueryRow(ctx, `SELECT `+templateColumns+` FROM templates WHERE id = $1 AND deleted_at IS NULL`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return t, fmt.Errorf("db: template %d: %w", id, err)
	}
	return t, err
}

// TemplateByIDTx locks and loads an undeleted template.
func TemplateByIDTx(ctx context.Context, q Querier, id int64) (Template, error) {
	t, err := scanTemplate(q.QueryRow(ctx, `SELECT `+templateColumns+` FROM templates WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return t, fmt.Errorf("db: template %d: %w", id, err)
	}
	return t, err
}

// TemplateVariants lists the undeleted language variants of a logical template.
func (d *DB) TemplateVariants(ctx context.Context, logicalName string) ([]Template, error) {
	rows, err := d.Pool.Query(ctx, `SELECT `+templateColumns+` FROM templates
		WHERE deleted_at IS NULL AND logical_name = $1 ORDER BY language, id`, logicalName)
	if err != nil {
		return nil, fmt.Errorf("db: variants of %s: %w", logicalName, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Template, error) { return scanTemplate(r) })
}

// NewTemplate is a template created at Twilio, to record.
type NewTemplate struct {
	ContentSID, FriendlyName, LogicalName, Language, Category string
	Types                                                     json.RawMessage
	Variables, VariableMap                                    map[string]string
	CreatedBy                                                 int64
}

// InsertTemplateTx records a template created at Twilio.
func InsertTemplateTx(ctx context.Context, q Querier, t NewTemplate) (int64, error) {
	vars, err := json.Marshal(nonNil(t.Variables))
	if err != nil {
		return 0, err
	}
	vmap, err := json.Marshal(nonNil(t.VariableMap))
	if err != nil {
		return 0, err
	}
	var id int64
	err = q.QueryRow(ctx, `INSERT INTO templates (content_sid, friendly_name, logical_name, language, category, types, variables, variable_map, created_by, synced_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now()) RETURNING id`,
		t.ContentSID, t.FriendlyName, t.LogicalName, t.Language, t.Category, t.Types, vars, vmap, t.CreatedBy).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("db: insert template %s: %w", t.ContentSID, err)
	}
	return id, nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// SetTemplateSubmittedTx records the approval request sent to WhatsApp.
func SetTemplateSubmittedTx(ctx context.Context, q Querier, id int64, approvalName, category, status string) error {
	_, err := q.Exec(ctx, `UPDATE templates SET approval_name = $2, category = $3, approval_status = $4, rejection_reason = '',
		submitted_at = now(), updated_at = now() WHERE id = $1`, id, approvalName, category, status)
	if err != nil {
		return fmt.Errorf("db: template %d submitted: %w", id, err)
	}
	return nil
}

// SetTemplateVariableMapTx saves which contact field fills each variable.
func SetTemplateVariableMapTx(ctx context.Context, q Querier, id int64, vmap map[string]string) error {
	raw, err := json.Marshal(nonNil(vmap))
	if err != nil {
		return err
	}
	if _, err := q.Exec(ctx, `UPDATE templates SET variable_map = $2, updated_at = now() WHERE id = $1`, id, raw); err != nil {
		return fmt.Errorf("db: template %d variable map: %w", id, err)
	}
	return nil
}

// MarkTemplateDeletedTx hides a template deleted at Twilio; messages sent
// with it keep pointing at the row.
func MarkTemplateDeletedTx(ctx context.Context, q Querier, id int64) error {
	if _, err := q.Exec(ctx, `UPDATE templates SET deleted_at = now(), updated_at = now() WHERE id = $1`, id); err != nil {
		return fmt.Errorf("db: delete template %d: %w", id, err)
	}
	return nil
}

// SyncedTemplate is a Content resource and its WhatsApp approval as Twilio
// lists them.
type SyncedTemplate struct {
	ContentSID, FriendlyName, Language string
	Types                              json.RawMessage
	Variables                          map[string]string
	ApprovalName, Category, Status     string
	RejectionReason                    string
}

// ApplyTemplateSync records what Twilio says of a template: its approval
// for one we have, or a new row for one made in Twilio's Console (its
// logical name is the approval name, else the friendly name). It reports
// whether the template was new and its status before.
func (d *DB) ApplyTemplateSync(ctx context.Context, s SyncedTemplate) (isNew bool, before string, err error) {
	vars, err := json.Marshal(nonNil(s.Variables))
	if err != nil {
		return false, "", err
	}
	logical := s.ApprovalName
	if logical == "" {
		logical = s.FriendlyName
	}
	types := s.Types
	if len(types) == 0 {
		types = json.RawMessage(`{}`)
	}
	err = d.InTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT approval_status FROM templates WHERE content_sid = $1 FOR UPDATE`, s.ContentSID).Scan(&before)
		if errors.Is(err, pgx.ErrNoRows) {
			isNew = true
			_, err = tx.Exec(ctx, `INSERT INTO templates (content_sid, friendly_name, logical_name, language, types, variables,
				approval_name, category, approval_status, rejection_reason, synced_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())`,
				s.ContentSID, s.FriendlyName, logical, s.Language, types, vars, s.ApprovalName, s.Category, s.Status, s.RejectionReason)
			return err
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE templates SET approval_status = $2, rejection_reason = $3,
			category = CASE WHEN $4 = '' THEN category ELSE $4 END,
			approval_name = CASE WHEN $5 = '' THEN approval_name ELSE $5 END,
			synced_at = now(), updated_at = CASE WHEN approval_status = $2 THEN updated_at ELSE now() END
			WHERE content_sid = $1`, s.ContentSID, s.Status, s.RejectionReason, s.Category, s.ApprovalName)
		return err
	})
	if err != nil {
		return false, "", fmt.Errorf("db: sync template %s: %w", s.ContentSID, err)
	}
	return isNew, before, nil
}

// MarkTemplatesGone hides templates Twilio no longer lists (deleted in the
// Console), keeping every one in keep.
func (d *DB) MarkTemplatesGone(ctx context.Context, keep []string) (int64, error) {
	tag, err := d.Pool.Exec(ctx, `UPDATE templates SET deleted_at = now(), updated_at = now()
		WHERE deleted_at IS NULL AND content_sid IS NOT NULL AND NOT (content_sid = ANY($1))`, keep)
	if err != nil {
		return 0, fmt.Errorf("db: templates gone: %w", err)
	}
	return tag.RowsAffected(), nil
}

// ContactDetails are what templates fill variables from: the contact's
// preferred language and custom fields (student_name, class...).
type ContactDetails struct {
	Language string
	Custom   map[string]string
}

// ContactDetailsByID loads a contact's language and custom fields; custom
// values that are not text are left out.
func (d *DB) ContactDetailsByID(ctx context.Context, id int64) (ContactDetails, error) {
	var out ContactDetails
	var raw []byte
	err := d.Pool.QueryRow(ctx, `SELECT language, custom_fields FROM contacts WHERE id = $1`, id).Scan(&out.Language, &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, ErrNotFound
	}
	if err != nil {
		return out, fmt.Errorf("db: contact %d details: %w", id, err)
	}
	var m map[string]any
	out.Custom = map[string]string{}
	if json.Unmarshal(raw, &m) == nil {
		for k, v := range m {
			if s, ok := v.(string); ok {
				out.Custom[k] = s
			}
		}
	}
	return out, nil
}

// SendableTemplates lists undeleted templates WhatsApp approved, or every
// undeleted one when approvedOnly is false (SMS needs no approval).
func (d *DB) SendableTemplates(ctx context.Context, approvedOnly bool) ([]Template, error) {
	rows, err := d.Pool.Query(ctx, `SELECT `+templateColumns+` FROM templates
		WHERE deleted_at IS NULL AND content_sid IS NOT NULL AND (NOT $1 OR approval_status = 'approved')
		ORDER BY logical_name, language, id`, approvedOnly)
	if err != nil {
		return nil, fmt.Errorf("db: sendable templates: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Template, error) { return scanTemplate(r) })
}
