package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Contact is a parent, student or staff member Classline talks to.
type Contact struct {
	ID          int64
	Phone       string
	Name        string
	ProfileName string
	Role        string
}

// DisplayName is what staff see: the name, else WhatsApp's profile name, else the number.
func (c Contact) DisplayName() string {
	switch {
	case c.Name != "":
		return c.Name
	case c.ProfileName != "":
		return c.ProfileName
	default:
		return c.Phone
	}
}

// resolveContact is the one rule for "whose number is this" ($1, E.164),
// shared by inbound messages, the composer and ConversationFor so they
// always agree: the unmerged contact whose main number it is (rank 0), else
// the unmerged contact that was given it as a secondary number first
// (rank 1). Both arms are index lookups (contacts_phone_key,
// contact_phones_phone_idx).
const resolveContact = `
	SELECT id, rank FROM (
		SELECT ct.id, 0 AS rank, ct.created_at AS at FROM contacts ct
		 WHERE ct.phone = $1 AND ct.merged_into IS NULL
		UNION ALL
		SELECT cp.contact_id, 1, cp.created_at FROM contact_phones cp
		  JOIN contacts ct ON ct.id = cp.contact_id AND ct.merged_into IS NULL
		 WHERE cp.phone = $1
	) r ORDER BY rank, at, id LIMIT 1`

// UpsertContactTx finds the contact a number belongs to or creates it: the
// unmerged contact whose main number it is (a non-empty profileName then
// refreshes the WhatsApp profile name we show), else the contact that has
// it as a secondary number (its profile name is left alone: the second
// phone may be someone else's, a partner's), else a new contact.
//
// One statement in the usual case, safe under concurrent inbound storms: a
// new number is created by INSERT ... ON CONFLICT on contacts_phone_key, so
// simultaneous webhooks from one number end on one contact.
func UpsertContactTx(ctx context.Context, q Querier, phone, profileName string) (int64, error) {
	var id int64
	var inserted bool
	err := q.QueryRow(ctx, `
		WITH found AS (`+resolveContact+`), ins AS (
			INSERT INTO contacts (phone, profile_name)
			SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM found WHERE rank = 1)
			ON CONFLICT (phone) WHERE merged_into IS NULL DO UPDATE
			  SET profile_name = CASE WHEN EXCLUDED.profile_name <> '' THEN EXCLUDED.profile_name ELSE contacts.profile_name END,
			      updated_at = CASE WHEN EXCLUDED.profile_name <> '' AND EXCLUDED.profile_name <> contacts.profile_name THEN now() ELSE contacts.updated_at END
			RETURNING id, xmax = 0 AS inserted
		)
		SELECT id, inserted FROM ins
		UNION ALL
		SELECT id, false FROM found WHERE rank = 1`, phone, profileName).Scan(&id, &inserted)
	if err != nil {
		return 0, fmt.Errorf("db: upsert contact: %w", err)
	}
	if !inserted {
		return id, nil
	}
	// A merge or a "make main number" committing while this statement ran
	// can turn the number into someone's secondary number after our snapshot
	// (the old main-number row stops conflicting, so the insert goes ahead).
	// This statement sees that commit; the contact we just made is still
	// ours alone, so it is dropped rather than left as a duplicate.
	var owner int64
	err = q.QueryRow(ctx, `
		SELECT cp.contact_id FROM contact_phones cp
		  JOIN contacts ct ON ct.id = cp.contact_id AND ct.merged_into IS NULL
		 WHERE cp.phone = $1 AND cp.contact_id <> $2
		 ORDER BY cp.created_at, cp.contact_id LIMIT 1`, phone, id).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return id, nil
	}
	if err != nil {
		return 0, fmt.Errorf("db: upsert contact: recheck secondary numbers: %w", err)
	}
	if _, err := q.Exec(ctx, `DELETE FROM contacts WHERE id = $1`, id); err != nil {
		return 0, fmt.Errorf("db: upsert contact: drop the duplicate: %w", err)
	}
	return owner, nil
}
