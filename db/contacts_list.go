package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The contacts list, a contact's page and the edits made there. The list is
// a dynamic filter, so it is hand-written pgx over the where builder in
// groups.go: every value is a parameter.

// ContactFilter narrows the contacts list. Zero values do not filter.
type ContactFilter struct {
	// Query matches name or WhatsApp profile name (substring, any case), or
	// a number, main or secondary: Digits as a substring of the stored
	// E.164, or Phone exactly (the query parsed as a number in the school's
	// region).
	Query  string
	Digits string
	Phone  string
	Role   string
	// Consent is the transactional consent state: in | out | unknown.
	Consent string
	// Channel: "whatsapp" (WhatsApp-capable) or "sms" (SMS only).
	Channel string
	// Group restricts to a group's members (computed for smart groups).
	Group *Group
	// After is the keyset cursor: rows strictly after (SortKey, ID).
	After *ContactCursor
	Limit int // 0: no limit (exports)
}

// ContactCursor is a position in the list order.
type ContactCursor struct {
	SortKey string
	ID      int64
}

// sortKey is the list order: what staff see as the name, lower-cased.
const sortKey = `lower(coalesce(nullif(c.name, ''), nullif(c.profile_name, ''), c.phone))`

// ContactRow is one line of the contacts list or an export.
type ContactRow struct {
	ID               int64
	Phone            string
	Name             string
	ProfileName      string
	Role             string
	Language         string
	WhatsAppCapable  bool
	PreferredChannel string
	CustomFields     map[string]string
	Groups           []string // static groups, by name
	OtherPhones      []string // secondary numbers, in the order they were added
	// Consent is the transactional state: "in", "out" or "" (nothing recorded).
	Consent string
	SortKey string
}

// Contact returns the row as the small Contact used across the app.
func (r ContactRow) Contact() Contact {
	return Contact{ID: r.ID, Phone: r.Phone, Name: r.Name, ProfileName: r.ProfileName, Role: r.Role}
}

func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

func (f ContactFilter) where() (*where, error) {
	w := &where{}
	w.add("c.merged_into IS NULL")
	if q := strings.TrimSpace(f.Query); q != "" {
		p := w.arg(likePattern(q))
		conds := []string{"c.name ILIKE " + p, "c.profile_name ILIKE " + p}
		var phoneConds []string
		if f.Digits != "" {
			d := w.arg(likePattern(f.Digits))
			conds = append(conds, "c.phone LIKE "+d)
			phoneConds = append(phoneConds, "cp.phone LIKE "+d)
		}
		if f.Phone != "" {
			e := w.arg(f.Phone)
			conds = append(conds, "c.phone = "+e)
			phoneConds = append(phoneConds, "cp.phone = "+e)
		}
		// Secondary numbers: the matching contact ids are computed once (an
		// InitPlan over contact_phones, which has its own indexes) and
		// compared by primary key, so the OR stays one that PostgreSQL can
		// answer with a BitmapOr of indexes, as it could before; a
		// correlated EXISTS here would be evaluated for every contact.
		if len(phoneConds) > 0 {
			conds = append(conds, "c.id = ANY(ARRAY(SELECT cp.contact_id FROM contact_phones cp WHERE "+strings.Join(phoneConds, " OR ")+"))")
		}
		w.add(strings.Join(conds, " OR "))
	}
	if f.Role != "" {
		w.add("c.role = " + w.arg(f.Role))
	}
	if f.Consent != "" {
		cond, err := consentCond(f.Consent)
		if err != nil {
			return nil, err
		}
		w.add(cond)
	}
	switch f.Channel {
	case "":
	case "whatsapp":
		w.add("c.whatsapp_capable")
	case "sms":
		w.add("NOT c.whatsapp_capable")
	default:
		return nil, fmt.Errorf("db: unknown channel filter %q", f.Channel)
	}
	if g := f.Group; g != nil {
		if g.Smart() {
			if err := g.Filter.apply(w); err != nil {
				return nil, err
			}
		} else {
			w.add("EXISTS (SELECT 1 FROM group_members gm WHERE gm.contact_id = c.id AND gm.group_id = " + w.arg(g.ID) + ")")
		}
	}
	return w, nil
}

const contactRowColumns = `c.id, c.phone, c.name, c.profile_name, c.role, c.language, c.whatsapp_capable,
	coalesce(c.preferred_channel, ''), c.custom_fields,
	coalesce((SELECT array_agg(g.name ORDER BY lower(g.name)) FROM group_members gm JOIN groups g ON g.id = gm.group_id
	  WHERE gm.contact_id = c.id), '{}'),
	coalesce((SELECT array_agg(cp.phone ORDER BY cp.created_at, cp.phone) FROM contact_phones cp WHERE cp.contact_id = c.id), '{}'),
	coalesce((SELECT CASE WHEN ce.opted_in THEN 'in' ELSE 'out' END FROM consent_events ce
	  WHERE ce.phone = c.phone AND ce.purpose = 'transactional' ORDER BY ce.created_at DESC, ce.id DESC LIMIT 1), ''), ` + sortKey

func scanContactRow(rows pgx.Rows) (ContactRow, error) {
	var r ContactRow
	var custom []byte
	if err := rows.Scan(&r.ID, &r.Phone, &r.Name, &r.ProfileName, &r.Role, &r.Language, &r.WhatsAppCapable,
		&r.PreferredChannel, &custom, &r.Groups, &r.OtherPhones, &r.Consent, &r.SortKey); err != nil {
		return r, err
	}
	r.CustomFields = customFields(custom)
	return r, nil
}

// customFields flattens custom_fields to strings (numbers and booleans
// imported from a spreadsheet are shown as written).
func customFields(b []byte) map[string]string {
	out := map[string]string{}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return out
	}
	for k, v := range m {
		switch x := v.(type) {
		case string:
			out[k] = x
		case nil:
		default:
			out[k] = fmt.Sprint(x)
		}
	}
	return out
}

// ListContacts returns contacts in name order after f.After, at most f.Limit.
// Keyset pagination: the cursor is the last row's (sort key, id), so pages
// never overlap or skip even while contacts are added.
func (d *DB) ListContacts(ctx context.Context, f ContactFilter) ([]ContactRow, error) {
	var out []ContactRow
	err := d.EachContact(ctx, f, func(r ContactRow) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// EachContact calls fn for every contact the filter selects, in list order.
func (d *DB) EachContact(ctx context.Context, f ContactFilter, fn func(ContactRow) error) error {
	w, err := f.where()
	if err != nil {
		return err
	}
	if f.After != nil {
		w.add("(" + sortKey + ", c.id) > (" + w.arg(f.After.SortKey) + ", " + w.arg(f.After.ID) + ")")
	}
	q := `SELECT ` + contactRowColumns + ` FROM contacts c WHERE ` + w.sql() + ` ORDER BY ` + sortKey + `, c.id`
	if f.Limit > 0 {
		q += " LIMIT " + w.arg(f.Limit)
	}
	rows, err := d.Pool.Query(ctx, q, w.args...)
	if err != nil {
		return fmt.Errorf("db: list contacts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanContactRow(rows)
		if err != nil {
			return fmt.Errorf("db: list contacts: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("db: list contacts: %w", err)
	}
	return nil
}

// CountContacts counts the contacts the filter selects (ignoring After and Limit).
func (d *DB) CountContacts(ctx context.Context, f ContactFilter) (int, error) {
	w, err := f.where()
	if err != nil {
		return 0, err
	}
	var n int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM contacts c WHERE `+w.sql(), w.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: count contacts: %w", err)
	}
	return n, nil
}

// ContactDetail is everything the contact page shows about the contact itself.
type ContactDetail struct {
	ContactRow
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ContactByID returns an unmerged contact.
func (d *DB) ContactByID(ctx context.Context, id int64) (ContactDetail, error) {
	return ContactByIDTx(ctx, d.Pool, id)
}

// ContactByIDTx is ContactByID inside a transaction.
func ContactByIDTx(ctx context.Context, q Querier, id int64) (ContactDetail, error) {
	rows, err := q.Query(ctx, `SELECT `+contactRowColumns+`, c.created_at, c.updated_at FROM contacts c
		WHERE c.id = $1 AND c.merged_into IS NULL`, id)
	if err != nil {
		return ContactDetail{}, fmt.Errorf("db: contact %d: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return ContactDetail{}, fmt.Errorf("db: contact %d: %w", id, err)
		}
		return ContactDetail{}, ErrNotFound
	}
	var r ContactDetail
	var custom []byte
	if err := rows.Scan(&r.ID, &r.Phone, &r.Name, &r.ProfileName, &r.Role, &r.Language, &r.WhatsAppCapable,
		&r.PreferredChannel, &custom, &r.Groups, &r.OtherPhones, &r.Consent, &r.SortKey, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return r, fmt.Errorf("db: contact %d: %w", id, err)
	}
	r.CustomFields = customFields(custom)
	return r, nil
}

// MergedInto returns the contact a merged contact was merged into, or
// ErrNotFound if id is not a merged contact.
func (d *DB) MergedInto(ctx context.Context, id int64) (int64, error) {
	var into *int64
	err := d.Pool.QueryRow(ctx, `SELECT merged_into FROM contacts WHERE id = $1`, id).Scan(&into)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && into == nil) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("db: merged into: %w", err)
	}
	return *into, nil
}

// ContactByPhone returns the unmerged contact with this E.164 number.
func (d *DB) ContactByPhone(ctx context.Context, phone string) (ContactDetail, error) {
	var id int64
	err := d.Pool.QueryRow(ctx, `SELECT id FROM contacts WHERE phone = $1 AND merged_into IS NULL`, phone).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return ContactDetail{}, ErrNotFound
	}
	if err != nil {
		return ContactDetail{}, fmt.Errorf("db: contact by phone: %w", err)
	}
	return d.ContactByID(ctx, id)
}

// ContactEdit is what the contact form changes.
type ContactEdit struct {
	Name, Role, Language string
	PreferredChannel     string // "" for no preference
	WhatsAppCapable      bool
	// CustomFields replaces the keys in CustomKeys: present ones are set,
	// absent ones removed. Other keys (from an import) are kept.
	CustomFields map[string]string
	CustomKeys   []string
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// UpdateContactTx saves an edit.
func UpdateContactTx(ctx context.Context, q Querier, id int64, e ContactEdit) error {
	custom, err := json.Marshal(e.CustomFields)
	if err != nil {
		return fmt.Errorf("db: custom fields: %w", err)
	}
	tag, err := q.Exec(ctx, `UPDATE contacts SET name = $2, role = $3, language = $4, preferred_channel = $5,
		whatsapp_capable = $6, custom_fields = (custom_fields - $7::text[]) || $8::jsonb, updated_at = now()
		WHERE id = $1 AND merged_into IS NULL`,
		id, e.Name, e.Role, e.Language, nullIfEmpty(e.PreferredChannel), e.WhatsAppCapable, e.CustomKeys, custom)
	if err != nil {
		return fmt.Errorf("db: update contact: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// ErrDuplicatePhone means another (unmerged) contact has the number.
var ErrDuplicatePhone = errors.New("db: a contact with this number exists")

// InsertContactTx creates a contact by hand; ErrDuplicatePhone if the number is taken.
func InsertContactTx(ctx context.Context, q Querier, phone, name, role string) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `INSERT INTO contacts (phone, name, role) VALUES ($1, $2, $3)
		ON CONFLICT (phone) WHERE merged_into IS NULL DO NOTHING RETURNING id`, phone, name, role).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrDuplicatePhone
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return 0, ErrDuplicatePhone
	}
	if err != nil {
		return 0, fmt.Errorf("db: insert contact: %w", err)
	}
	return id, nil
}

// ContactLink is a guardian↔student link seen from one side.
type ContactLink struct {
	Other    Contact
	Relation string
	// OtherIsStudent: the other contact is the student (this one the guardian).
	OtherIsStudent bool
}

// ContactLinks returns both directions of a contact's links.
func (d *DB) ContactLinks(ctx context.Context, id int64) ([]ContactLink, error) {
	rows, err := d.Pool.Query(ctx, `
		SELECT c.id, c.phone, c.name, c.profile_name, c.role, l.relation, true
		  FROM contact_links l JOIN contacts c ON c.id = l.student_id WHERE l.guardian_id = $1
		UNION ALL
		SELECT c.id, c.phone, c.name, c.profile_name, c.role, l.relation, false
		  FROM contact_links l JOIN contacts c ON c.id = l.guardian_id WHERE l.student_id = $1
		ORDER BY 3, 1`, id)
	if err != nil {
		return nil, fmt.Errorf("db: contact links: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ContactLink, error) {
		var l ContactLink
		err := r.Scan(&l.Other.ID, &l.Other.Phone, &l.Other.Name, &l.Other.ProfileName, &l.Other.Role, &l.Relation, &l.OtherIsStudent)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: contact links: %w", err)
	}
	return out, nil
}

// LinkContactsTx links a guardian to a student (or updates the relation).
func LinkContactsTx(ctx context.Context, q Querier, guardianID, studentID int64, relation string) error {
	_, err := q.Exec(ctx, `INSERT INTO contact_links (guardian_id, student_id, relation) VALUES ($1, $2, $3)
		ON CONFLICT (guardian_id, student_id) DO UPDATE SET relation = EXCLUDED.relation`, guardianID, studentID, relation)
	if err != nil {
		return fmt.Errorf("db: link contacts: %w", err)
	}
	return nil
}

// UnlinkContactsTx removes the link between two contacts, in either direction.
func UnlinkContactsTx(ctx context.Context, q Querier, a, b int64) (bool, error) {
	tag, err := q.Exec(ctx, `DELETE FROM contact_links WHERE (guardian_id = $1 AND student_id = $2) OR (guardian_id = $2 AND student_id = $1)`, a, b)
	if err != nil {
		return false, fmt.Errorf("db: unlink contacts: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// ContactConversation is a line in the contact page's conversation list.
type ContactConversation struct {
	ID             int64
	Channel        string
	Status         string
	DepartmentName string
	SenderName     string
	Phone          string // the contact's number it talks to
	LastMessageAt  time.Time
}

// ContactConversations lists a contact's conversations, newest first, in
// the given departments only (nil: all, for admins; empty: none).
func (d *DB) ContactConversations(ctx context.Context, contactID int64, departments []int64) ([]ContactConversation, error) {
	if departments != nil && len(departments) == 0 {
		return nil, nil
	}
	rows, err := d.Pool.Query(ctx, `
		SELECT v.id, v.channel, v.status, coalesce(dp.name, ''), coalesce(nullif(s.display_name, ''), s.address, ''),
		       coalesce(v.phone, ct.phone), v.last_message_at
		  FROM conversations v
		  JOIN contacts ct ON ct.id = v.contact_id
		  JOIN senders s ON s.id = v.sender_id
		  LEFT JOIN departments dp ON dp.id = v.department_id
		 WHERE v.contact_id = $1 AND ($2::bigint[] IS NULL OR v.department_id = ANY($2))
		 ORDER BY v.last_message_at DESC, v.id DESC`, contactID, departments)
	if err != nil {
		return nil, fmt.Errorf("db: contact conversations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ContactConversation, error) {
		var c ContactConversation
		err := r.Scan(&c.ID, &c.Channel, &c.Status, &c.DepartmentName, &c.SenderName, &c.Phone, &c.LastMessageAt)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: contact conversations: %w", err)
	}
	return out, nil
}

// ConsentRecord is one ledger row as the contact page shows it.
type ConsentRecord struct {
	ID         int64
	Phone      string
	Channel    string
	Purpose    string
	OptedIn    bool
	Method     string
	Source     string
	RecordedBy string // the user's name, "" when not a person (keyword, import)
	CreatedAt  time.Time
}

// ConsentHistory returns the ledger rows for numbers (a contact's main and
// secondary numbers: the ledger is per number), newest first.
func (d *DB) ConsentHistory(ctx context.Context, phones ...string) ([]ConsentRecord, error) {
	rows, err := d.Pool.Query(ctx, `
		SELECT ce.id, ce.phone, coalesce(ce.channel, ''), ce.purpose, ce.opted_in, ce.method, ce.source, coalesce(u.name, ''), ce.created_at
		  FROM consent_events ce LEFT JOIN users u ON u.id = ce.recorded_by
		 WHERE ce.phone = ANY($1) ORDER BY ce.created_at DESC, ce.id DESC`, phones)
	if err != nil {
		return nil, fmt.Errorf("db: consent history: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ConsentRecord, error) {
		var c ConsentRecord
		err := r.Scan(&c.ID, &c.Phone, &c.Channel, &c.Purpose, &c.OptedIn, &c.Method, &c.Source, &c.RecordedBy, &c.CreatedAt)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: consent history: %w", err)
	}
	return out, nil
}
