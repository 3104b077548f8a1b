package db

import (
	"context"
	"encoding/json"
	"fmt"
)

// Audit writes one entry to the audit log. before/after may be nil.
func (d *DB) Audit(ctx context.Context, userID *int64, action, subject string, before, after any, ip string) error {
	return AuditTx(ctx, d.Pool, userID, action, subject, before, after, ip)
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
