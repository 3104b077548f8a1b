package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// A contact's numbers: the main one in contacts.phone (unique among
// unmerged contacts, what everything else looks up), the others in
// contact_phones, where a number may appear on several contacts: those are
// the possible duplicates.

// Phone labels.
var PhoneLabels = []string{"mobile", "home", "work", "other"}

// ContactPhone is one of a contact's numbers.
type ContactPhone struct {
	Phone           string
	Label           string
	WhatsAppCapable bool
	Primary         bool
	CreatedAt       time.Time
	// SharedWith: other unmerged contacts that have this number too
	// (as their main or a secondary number).
	SharedWith []SharedPhone
}

// SharedPhone is another contact with the same number.
type SharedPhone struct {
	Contact Contact
	Primary bool // it is that contact's main number
}

// ContactPhones lists a contact's numbers, the main one first, then the
// others in the order they were added, each with the other contacts that
// share it.
func (d *DB) ContactPhones(ctx context.Context, contactID int64) ([]ContactPhone, error) {
	rows, err := d.Pool.Query(ctx, `
		WITH mine AS (
			SELECT c.phone, c.phone_label AS label, c.whatsapp_capable, true AS is_primary, c.created_at
			  FROM contacts c WHERE c.id = $1 AND c.merged_into IS NULL
			UNION ALL
			SELECT cp.phone, cp.label, cp.whatsapp_capable, false, cp.created_at
			  FROM contact_phones cp JOIN contacts c ON c.id = cp.contact_id AND c.merged_into IS NULL
			 WHERE cp.contact_id = $1
		)
		SELECT m.phone, m.label, m.whatsapp_capable, m.is_primary, m.created_at,
		       coalesce((SELECT jsonb_agg(jsonb_build_object('id', o.id, 'phone', o.phone, 'name', o.name,
		                   'profile_name', o.profile_name, 'role', o.role, 'primary', o.is_primary) ORDER BY o.id)
		                 FROM (SELECT oc.id, oc.phone, oc.name, oc.profile_name, oc.role, true AS is_primary
		                         FROM contacts oc WHERE oc.phone = m.phone AND oc.merged_into IS NULL AND oc.id <> $1
		                       UNION ALL
		                       SELECT oc.id, oc.phone, oc.name, oc.profile_name, oc.role, false
		                         FROM contact_phones op JOIN contacts oc ON oc.id = op.contact_id AND oc.merged_into IS NULL
		                        WHERE op.phone = m.phone AND op.contact_id <> $1) o), '[]'::jsonb)
		  FROM mine m
		 ORDER BY m.is_primary DESC, m.created_at, m.phone`, contactID)
	if err != nil {
		return nil, fmt.Errorf("db: contact phones: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ContactPhone, error) {
		var p ContactPhone
		var shared []struct {
			ID          int64  `json:"id"`
			Phone       string `json:"phone"`
			Name        string `json:"name"`
			ProfileName string `json:"profile_name"`
			Role        string `json:"role"`
			Primary     bool   `json:"primary"`
		}
		if err := r.Scan(&p.Phone, &p.Label, &p.WhatsAppCapable, &p.Primary, &p.CreatedAt, &shared); err != nil {
			return p, err
		}
		for _, s := range shared {
			p.SharedWith = append(p.SharedWith, SharedPhone{Contact: Contact{ID: s.ID, Phone: s.Phone, Name: s.Name, ProfileName: s.ProfileName, Role: s.Role}, Primary: s.Primary})
		}
		return p, nil
	})
	if err != nil {
		return nil, fmt.Errorf("db: contact phones: %w", err)
	}
	return out, nil
}

// LockedContact is a contact's row as locked for a change of its numbers
// or a merge.
type LockedContact struct {
	ID              int64
	Phone           string
	PhoneLabel      string
	WhatsAppCapable bool
	Merged          bool
}

// LockContactsTx locks the contacts' rows FOR UPDATE in id order (so two
// transactions locking the same pair cannot deadlock) and returns them by
// id. Missing ids are absent from the map.
func LockContactsTx(ctx context.Context, q Querier, ids ...int64) (map[int64]LockedContact, error) {
	rows, err := q.Query(ctx, `SELECT id, phone, phone_label, whatsapp_capable, merged_into IS NOT NULL
		FROM contacts WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, fmt.Errorf("db: lock contacts: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LockedContact, error) {
		var c LockedContact
		err := r.Scan(&c.ID, &c.Phone, &c.PhoneLabel, &c.WhatsAppCapable, &c.Merged)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: lock contacts: %w", err)
	}
	out := make(map[int64]LockedContact, len(list))
	for _, c := range list {
		out[c.ID] = c
	}
	return out, nil
}

// lockContactTx locks one unmerged contact; ErrNotFound if it is gone or merged.
func lockContactTx(ctx context.Context, q Querier, id int64) (LockedContact, error) {
	m, err := LockContactsTx(ctx, q, id)
	if err != nil {
		return LockedContact{}, err
	}
	c, ok := m[id]
	if !ok || c.Merged {
		return c, ErrNotFound
	}
	return c, nil
}

// Errors of the number changes.
var (
	// ErrPhoneIsMain: the number is already the contact's main number.
	ErrPhoneIsMain = errors.New("db: this is the contact's main number")
	// ErrPhoneListed: the contact already has the number.
	ErrPhoneListed = errors.New("db: the contact already has this number")
	// ErrPhoneNotListed: the contact has no such secondary number.
	ErrPhoneNotListed = errors.New("db: the contact has no such secondary number")
)

// PrimaryElsewhereError: another unmerged contact has the number as its
// main number, so it cannot become this contact's main number (numbers are
// unique among main numbers); merging the two is the way out.
type PrimaryElsewhereError struct {
	Other Contact
}

func (e *PrimaryElsewhereError) Error() string {
	return fmt.Sprintf("db: %s is the main number of contact %d", e.Other.Phone, e.Other.ID)
}

// NewContactPhone is a secondary number to add.
type NewContactPhone struct {
	Phone, Label    string
	WhatsAppCapable bool
}

// AddContactPhoneTx adds a secondary number to an unmerged contact, locking
// the contact so a concurrent "make main number" cannot make the number
// both main and secondary.
func AddContactPhoneTx(ctx context.Context, q Querier, contactID int64, p NewContactPhone) error {
	c, err := lockContactTx(ctx, q, contactID)
	if err != nil {
		return err
	}
	if c.Phone == p.Phone {
		return ErrPhoneIsMain
	}
	tag, err := q.Exec(ctx, `INSERT INTO contact_phones (contact_id, phone, label, whatsapp_capable) VALUES ($1, $2, $3, $4)
		ON CONFLICT (contact_id, phone) DO NOTHING`, contactID, p.Phone, p.Label, p.WhatsAppCapable)
	if err != nil {
		return fmt.Errorf("db: add contact phone: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrPhoneListed
	}
	return nil
}

// RemoveContactPhoneTx removes a secondary number and returns it as it was.
// Conversations that used it keep it: their history and replies stay with
// the number they were with.
func RemoveContactPhoneTx(ctx context.Context, q Querier, contactID int64, phone string) (ContactPhone, error) {
	if _, err := lockContactTx(ctx, q, contactID); err != nil {
		return ContactPhone{}, err
	}
	var p ContactPhone
	err := q.QueryRow(ctx, `DELETE FROM contact_phones WHERE contact_id = $1 AND phone = $2
		RETURNING phone, label, whatsapp_capable, created_at`, contactID, phone).Scan(&p.Phone, &p.Label, &p.WhatsAppCapable, &p.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, ErrPhoneNotListed
	}
	if err != nil {
		return p, fmt.Errorf("db: remove contact phone: %w", err)
	}
	return p, nil
}

// PhoneSwap is what "make main number" changed.
type PhoneSwap struct {
	OldMain, NewMain ContactPhone
}

// MakeMainPhoneTx makes a secondary number the contact's main number and
// the old main number a secondary one (labels and WhatsApp flags travel
// with their numbers). Conversations keep talking to the number they did:
// those on the old main number (phone NULL) get it written out, those on
// the new one get NULL. A *PrimaryElsewhereError when another contact has
// the number as its main number.
func MakeMainPhoneTx(ctx context.Context, q Querier, contactID int64, phone string) (PhoneSwap, error) {
	var sw PhoneSwap
	c, err := lockContactTx(ctx, q, contactID)
	if err != nil {
		return sw, err
	}
	if c.Phone == phone {
		return sw, ErrPhoneIsMain
	}
	sw.OldMain = ContactPhone{Phone: c.Phone, Label: c.PhoneLabel, WhatsAppCapable: c.WhatsAppCapable, Primary: true}
	err = q.QueryRow(ctx, `DELETE FROM contact_phones WHERE contact_id = $1 AND phone = $2
		RETURNING phone, label, whatsapp_capable, created_at`, contactID, phone).
		Scan(&sw.NewMain.Phone, &sw.NewMain.Label, &sw.NewMain.WhatsAppCapable, &sw.NewMain.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return sw, ErrPhoneNotListed
	}
	if err != nil {
		return sw, fmt.Errorf("db: make main phone: %w", err)
	}
	if other, err := primaryHolder(ctx, q, phone, contactID); err == nil {
		return sw, &PrimaryElsewhereError{Other: other}
	} else if !errors.Is(err, ErrNotFound) {
		return sw, err
	}
	// Two statements, in this order: with the unique key (contact, sender,
	// number) checked row by row, one UPDATE swapping NULL and the new
	// number could collide with itself halfway.
	if _, err := q.Exec(ctx, `UPDATE conversations SET phone = $2 WHERE contact_id = $1 AND phone IS NULL`, contactID, c.Phone); err != nil {
		return sw, fmt.Errorf("db: make main phone: conversations on the old number: %w", err)
	}
	if _, err := q.Exec(ctx, `UPDATE conversations SET phone = NULL WHERE contact_id = $1 AND phone = $2`, contactID, phone); err != nil {
		return sw, fmt.Errorf("db: make main phone: conversations on the new number: %w", err)
	}
	_, err = q.Exec(ctx, `UPDATE contacts SET phone = $2, phone_label = $3, whatsapp_capable = $4, updated_at = now() WHERE id = $1`,
		contactID, phone, sw.NewMain.Label, sw.NewMain.WhatsAppCapable)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		// Someone took it as a main number after our check. The transaction
		// is aborted now, so who it is is for the caller to look up.
		return sw, &PrimaryElsewhereError{Other: Contact{Phone: phone}}
	}
	if err != nil {
		return sw, fmt.Errorf("db: make main phone: %w", err)
	}
	if _, err := q.Exec(ctx, `INSERT INTO contact_phones (contact_id, phone, label, whatsapp_capable) VALUES ($1, $2, $3, $4)`,
		contactID, c.Phone, c.PhoneLabel, c.WhatsAppCapable); err != nil {
		return sw, fmt.Errorf("db: make main phone: keep the old number: %w", err)
	}
	sw.NewMain.Primary, sw.OldMain.Primary = true, false
	return sw, nil
}

// primaryHolder returns the unmerged contact other than exceptID whose main
// number is phone.
func primaryHolder(ctx context.Context, q Querier, phone string, exceptID int64) (Contact, error) {
	var c Contact
	err := q.QueryRow(ctx, `SELECT id, phone, name, profile_name, role FROM contacts
		WHERE phone = $1 AND merged_into IS NULL AND id <> $2`, phone, exceptID).Scan(&c.ID, &c.Phone, &c.Name, &c.ProfileName, &c.Role)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("db: main number holder: %w", err)
	}
	return c, nil
}

// ContactsWithPhone lists the unmerged contacts that have phone, as their
// main number (first) or a secondary one, oldest first.
func (d *DB) ContactsWithPhone(ctx context.Context, phone string) ([]SharedPhone, error) {
	rows, err := d.Pool.Query(ctx, `
		SELECT id, phone, name, profile_name, role, is_primary FROM (
			SELECT c.id, c.phone, c.name, c.profile_name, c.role, true AS is_primary, c.created_at AS at
			  FROM contacts c WHERE c.phone = $1 AND c.merged_into IS NULL
			UNION ALL
			SELECT c.id, c.phone, c.name, c.profile_name, c.role, false, cp.created_at
			  FROM contact_phones cp JOIN contacts c ON c.id = cp.contact_id AND c.merged_into IS NULL
			 WHERE cp.phone = $1
		) s ORDER BY is_primary DESC, at, id`, phone)
	if err != nil {
		return nil, fmt.Errorf("db: contacts with phone: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SharedPhone, error) {
		var s SharedPhone
		err := r.Scan(&s.Contact.ID, &s.Contact.Phone, &s.Contact.Name, &s.Contact.ProfileName, &s.Contact.Role, &s.Primary)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: contacts with phone: %w", err)
	}
	return out, nil
}

// DuplicateGroup is a number that several unmerged contacts have.
type DuplicateGroup struct {
	Phone   string
	Members []DuplicateMember // the main-number holder first, then by id
}

// DuplicateMember is one contact of a duplicate group.
type DuplicateMember struct {
	Contact       Contact
	Primary       bool // the number is this contact's main number
	CreatedAt     time.Time
	Conversations int
}

// DuplicateGroups lists numbers shared by several unmerged contacts, in
// number order after after ("" for the first page), at most limit groups.
// A duplicate always involves a secondary number (main numbers are unique),
// so the search starts from contact_phones and only looks main numbers up
// by index: the cost follows how many secondary numbers there are, not how
// many contacts.
func (d *DB) DuplicateGroups(ctx context.Context, after string, limit int) ([]DuplicateGroup, error) {
	rows, err := d.Pool.Query(ctx, `
		WITH sec AS (
			SELECT cp.phone, cp.contact_id FROM contact_phones cp
			  JOIN contacts c ON c.id = cp.contact_id AND c.merged_into IS NULL
			 WHERE cp.phone > $1
		), members AS (
			SELECT phone, contact_id, false AS is_primary FROM sec
			UNION ALL
			SELECT c.phone, c.id, true FROM contacts c
			 WHERE c.merged_into IS NULL AND c.phone IN (SELECT phone FROM sec)
		), dup AS (
			SELECT phone FROM members GROUP BY phone HAVING count(DISTINCT contact_id) > 1
			 ORDER BY phone LIMIT $2
		)
		SELECT m.phone, c.id, c.phone, c.name, c.profile_name, c.role, bool_or(m.is_primary), c.created_at,
		       (SELECT count(*) FROM conversations v WHERE v.contact_id = c.id)
		  FROM dup JOIN members m ON m.phone = dup.phone JOIN contacts c ON c.id = m.contact_id
		 GROUP BY m.phone, c.id
		 ORDER BY m.phone, bool_or(m.is_primary) DESC, c.id`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("db: duplicate groups: %w", err)
	}
	defer rows.Close()
	var out []DuplicateGroup
	for rows.Next() {
		var phone string
		var m DuplicateMember
		if err := rows.Scan(&phone, &m.Contact.ID, &m.Contact.Phone, &m.Contact.Name, &m.Contact.ProfileName, &m.Contact.Role,
			&m.Primary, &m.CreatedAt, &m.Conversations); err != nil {
			return nil, fmt.Errorf("db: duplicate groups: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].Phone != phone {
			out = append(out, DuplicateGroup{Phone: phone})
		}
		g := &out[len(out)-1]
		g.Members = append(g.Members, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: duplicate groups: %w", err)
	}
	return out, nil
}

// ContactNumbersTx returns every number of a contact, main first.
func ContactNumbersTx(ctx context.Context, q Querier, contactID int64) ([]string, error) {
	rows, err := q.Query(ctx, `
		SELECT phone FROM (
			SELECT c.phone, 0 AS o, c.created_at AS at FROM contacts c WHERE c.id = $1
			UNION ALL
			SELECT cp.phone, 1, cp.created_at FROM contact_phones cp WHERE cp.contact_id = $1
		) n ORDER BY o, at, phone`, contactID)
	if err != nil {
		return nil, fmt.Errorf("db: contact numbers: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("db: contact numbers: %w", err)
	}
	return out, nil
}
