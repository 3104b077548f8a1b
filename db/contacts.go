package db

import (
	"context"
	"fmt"
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

// UpsertContactTx finds the (unmerged) contact with phone or creates it. A
// non-empty profileName refreshes the WhatsApp profile name we show.
func UpsertContactTx(ctx context.Context, q Querier, phone, profileName string) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `
		INSERT INTO contacts (phone, profile_name) VALUES ($1, $2)
		ON CONFLICT (phone) WHERE merged_into IS NULL DO UPDATE
		  SET profile_name = CASE WHEN EXCLUDED.profile_name <> '' THEN EXCLUDED.profile_name ELSE contacts.profile_name END,
		      updated_at = CASE WHEN EXCLUDED.profile_name <> '' AND EXCLUDED.profile_name <> contacts.profile_name THEN now() ELSE contacts.updated_at END
		RETURNING id`, phone, profileName).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("db: upsert contact: %w", err)
	}
	return id, nil
}
