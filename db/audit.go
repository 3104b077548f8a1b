package db

import (
	"context"
	"encoding/json"
	"fmt"
)

// Audit writes one entry to the audit log. before/after may be nil.
func (d *DB) Audit(ctx context.Context, userID *int64, action, subject string, before, after any, ip string) error {
	b, err := jsonOrNil(before)
	if err != nil {
		return err
	}
	a, err := jsonOrNil(after)
	if err != nil {
		return err
	}
	_, err = d.Pool.Exec(ctx, `INSERT INTO audit_log (user_id, action, subject, before, after, ip) VALUES ($1, $2, $3, $4, $5, $6)`,
		userID, action, subject, b, a, ip)
	if err != nil {
		return fmt.Errorf("db: audit %s: %w", action, err)
	}
	return nil
}

func jsonOrNil(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("db: audit payload: %w", err)
	}
	return b, nil
}
