package db

import (
	"context"
	"fmt"
)

// ContactRowsByID loads unmerged contacts by id, in the order of ids.
func (d *DB) ContactRowsByID(ctx context.Context, ids []int64) ([]ContactRow, error) {
	rows, err := d.Pool.Query(ctx, `SELECT `+contactRowColumns+` FROM contacts c
		JOIN unnest($1::bigint[]) WITH ORDINALITY AS want(id, n) ON want.id = c.id
		WHERE c.merged_into IS NULL ORDER BY want.n`, ids)
	if err != nil {
		return nil, fmt.Errorf("db: contacts by id: %w", err)
	}
	defer rows.Close()
	var out []ContactRow
	for rows.Next() {
		r, err := scanContactRow(rows)
		if err != nil {
			return nil, fmt.Errorf("db: contacts by id: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
