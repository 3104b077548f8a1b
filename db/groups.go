package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Groups of contacts: static ones list their members in group_members; smart
// ones keep a filter and their members are whoever matches it right now.

// SmartFilter is a smart group's saved filter (groups.filter). Every set
// field narrows the group; an empty filter matches every contact.
type SmartFilter struct {
	Role     string `json:"role,omitempty"`     // guardian | student | staff
	Language string `json:"language,omitempty"` // compared case-insensitively
	WhatsApp *bool  `json:"whatsapp,omitempty"` // whatsapp_capable
	// Consent is the transactional consent state: in | out | unknown.
	Consent string `json:"consent,omitempty"`
	// Field and Value: a custom field equal to a value ("class" = "7B"),
	// compared case-insensitively.
	Field string `json:"field,omitempty"`
	Value string `json:"value,omitempty"`
}

// IsEmpty reports whether the filter narrows nothing.
func (f SmartFilter) IsEmpty() bool {
	return f.Role == "" && f.Language == "" && f.WhatsApp == nil && f.Consent == "" && f.Field == ""
}

// where collects SQL conditions whose values all travel as parameters: a
// condition only ever contains placeholders made by arg, never a value.
type where struct {
	conds []string
	args  []any
}

// arg adds a parameter and returns its placeholder ("$3").
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *where) add(cond string) { w.conds = append(w.conds, cond) }

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return "true"
	}
	s := ""
	for i, c := range w.conds {
		if i > 0 {
			s += " AND "
		}
		s += "(" + c + ")"
	}
	return s
}

// consentCond is the condition on the latest transactional consent event of
// contact c (the ledger's newest row per phone and purpose wins).
func consentCond(state string) (string, error) {
	const latest = `(SELECT ce.opted_in FROM consent_events ce WHERE ce.phone = c.phone AND ce.purpose = 'transactional'
		ORDER BY ce.created_at DESC, ce.id DESC LIMIT 1)`
	switch state {
	case "in":
		return latest + " IS TRUE", nil
	case "out":
		return latest + " IS FALSE", nil
	case "unknown":
		return latest + " IS NULL", nil
	}
	return "", fmt.Errorf("db: unknown consent state %q", state)
}

// apply adds the filter's conditions on contacts aliased c.
func (f SmartFilter) apply(w *where) error {
	if f.Role != "" {
		w.add("c.role = " + w.arg(f.Role))
	}
	if f.Language != "" {
		w.add("lower(c.language) = lower(" + w.arg(f.Language) + ")")
	}
	if f.WhatsApp != nil {
		w.add("c.whatsapp_capable = " + w.arg(*f.WhatsApp))
	}
	if f.Consent != "" {
		cond, err := consentCond(f.Consent)
		if err != nil {
			return err
		}
		w.add(cond)
	}
	if f.Field != "" {
		w.add("lower(c.custom_fields ->> " + w.arg(f.Field) + ") = lower(" + w.arg(f.Value) + ")")
	}
	return nil
}

// SmartFilterSQL translates f into a condition on contacts aliased c, with
// its parameters numbered from $1. Exported for tests and for callers that
// build their own audience queries.
func SmartFilterSQL(f SmartFilter) (string, []any, error) {
	var w where
	if err := f.apply(&w); err != nil {
		return "", nil, err
	}
	return w.sql(), w.args, nil
}

// Group is a named set of contacts.
type Group struct {
	ID           int64
	Name         string
	Kind         string // static | smart
	Filter       SmartFilter
	DepartmentID *int64
	CreatedAt    time.Time
	Members      int
}

// Smart reports whether the members are computed by the filter.
func (g Group) Smart() bool { return g.Kind == "smart" }

func scanGroup(row pgx.Row) (Group, error) {
	var g Group
	var filter []byte
	if err := row.Scan(&g.ID, &g.Name, &g.Kind, &filter, &g.DepartmentID, &g.CreatedAt); err != nil {
		return g, err
	}
	if len(filter) > 0 {
		if err := json.Unmarshal(filter, &g.Filter); err != nil {
			return g, fmt.Errorf("db: group %d filter: %w", g.ID, err)
		}
	}
	return g, nil
}

const groupColumns = `g.id, g.name, g.kind, g.filter, g.department_id, g.created_at`

// GroupByID returns one group (without its member count).
func (d *DB) GroupByID(ctx context.Context, id int64) (Group, error) {
	g, err := scanGroup(d.Pool.QueryRow(ctx, `SELECT `+groupColumns+` FROM groups g WHERE g.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return g, ErrNotFound
	}
	if err != nil {
		return g, fmt.Errorf("db: group %d: %w", id, err)
	}
	return g, nil
}

// ListGroups returns every group by name with its current member count.
// Smart groups are counted one query each: schools have tens of groups.
func (d *DB) ListGroups(ctx context.Context) ([]Group, error) {
	return d.listGroups(ctx, true)
}

// GroupChoices returns every group by name without member counts, for
// menus and membership checks.
func (d *DB) GroupChoices(ctx context.Context) ([]Group, error) {
	return d.listGroups(ctx, false)
}

func (d *DB) listGroups(ctx context.Context, counts bool) ([]Group, error) {
	count := `0`
	if counts {
		count = `(SELECT count(*) FROM group_members gm JOIN contacts c ON c.id = gm.contact_id
		  WHERE gm.group_id = g.id AND c.merged_into IS NULL)`
	}
	rows, err := d.Pool.Query(ctx, `SELECT `+groupColumns+`, `+count+`
		FROM groups g ORDER BY lower(g.name), g.id`)
	if err != nil {
		return nil, fmt.Errorf("db: list groups: %w", err)
	}
	var out []Group
	for rows.Next() {
		var g Group
		var filter []byte
		if err := rows.Scan(&g.ID, &g.Name, &g.Kind, &filter, &g.DepartmentID, &g.CreatedAt, &g.Members); err != nil {
			rows.Close()
			return nil, fmt.Errorf("db: list groups: %w", err)
		}
		if len(filter) > 0 {
			if err := json.Unmarshal(filter, &g.Filter); err != nil {
				rows.Close()
				return nil, fmt.Errorf("db: group %d filter: %w", g.ID, err)
			}
		}
		out = append(out, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: list groups: %w", err)
	}
	for i := range out {
		if counts && out[i].Smart() {
			n, err := d.CountContacts(ctx, ContactFilter{Group: &out[i]})
			if err != nil {
				return nil, err
			}
			out[i].Members = n
		}
	}
	return out, nil
}

// CreateGroupTx inserts a group; filter is ignored for static groups.
func CreateGroupTx(ctx context.Context, q Querier, name, kind string, filter SmartFilter) (int64, error) {
	if kind != "smart" {
		filter = SmartFilter{}
	}
	b, err := json.Marshal(filter)
	if err != nil {
		return 0, fmt.Errorf("db: group filter: %w", err)
	}
	var id int64
	if err := q.QueryRow(ctx, `INSERT INTO groups (name, kind, filter) VALUES ($1, $2, $3) RETURNING id`, name, kind, b).Scan(&id); err != nil {
		return 0, fmt.Errorf("db: create group: %w", err)
	}
	return id, nil
}

// RenameGroupTx renames a group.
func RenameGroupTx(ctx context.Context, q Querier, id int64, name string) error {
	tag, err := q.Exec(ctx, `UPDATE groups SET name = $2 WHERE id = $1`, id, name)
	if err != nil {
		return fmt.Errorf("db: rename group: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteGroupTx deletes a group; its member rows go with it (cascade).
func DeleteGroupTx(ctx context.Context, q Querier, id int64) error {
	tag, err := q.Exec(ctx, `DELETE FROM groups WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("db: delete group: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// AddGroupMemberTx adds a contact to a static group; false if already in it.
func AddGroupMemberTx(ctx context.Context, q Querier, groupID, contactID int64) (bool, error) {
	tag, err := q.Exec(ctx, `INSERT INTO group_members (group_id, contact_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, groupID, contactID)
	if err != nil {
		return false, fmt.Errorf("db: add group member: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// RemoveGroupMemberTx removes a contact from a static group; false if not in it.
func RemoveGroupMemberTx(ctx context.Context, q Querier, groupID, contactID int64) (bool, error) {
	tag, err := q.Exec(ctx, `DELETE FROM group_members WHERE group_id = $1 AND contact_id = $2`, groupID, contactID)
	if err != nil {
		return false, fmt.Errorf("db: remove group member: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ContactGroups returns the groups a contact belongs to: the static groups
// it was added to and the smart groups whose filter it matches today.
func (d *DB) ContactGroups(ctx context.Context, contactID int64) ([]Group, error) {
	all, err := d.GroupChoices(ctx)
	if err != nil {
		return nil, err
	}
	var static []int64
	rows, err := d.Pool.Query(ctx, `SELECT group_id FROM group_members WHERE contact_id = $1`, contactID)
	if err != nil {
		return nil, fmt.Errorf("db: contact groups: %w", err)
	}
	static, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("db: contact groups: %w", err)
	}
	in := map[int64]bool{}
	for _, id := range static {
		in[id] = true
	}
	var out []Group
	for _, g := range all {
		if g.Smart() {
			var w where
			w.add("c.id = " + w.arg(contactID))
			if err := g.Filter.apply(&w); err != nil {
				return nil, err
			}
			var ok bool
			if err := d.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM contacts c WHERE c.merged_into IS NULL AND `+w.sql()+`)`, w.args...).Scan(&ok); err != nil {
				return nil, fmt.Errorf("db: smart group %d membership: %w", g.ID, err)
			}
			if ok {
				out = append(out, g)
			}
		} else if in[g.ID] {
			out = append(out, g)
		}
	}
	return out, nil
}
