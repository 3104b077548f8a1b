package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// GetSetting decodes the JSON value stored under key into dst. found is
// false (and dst untouched) when the key was never set.
func (d *DB) GetSetting(ctx context.Context, key string, dst any) (found bool, err error) {
	var raw []byte
	err = d.Pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("db: setting %s: %w", key, err)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return true, fmt.Errorf("db: setting %s: decode: %w", key, err)
	}
	return true, nil
}

// SetSetting stores value (as JSON) under key, replacing what was there.
// Callers acting for a person audit the change (see DB.Audit).
func (d *DB) SetSetting(ctx context.Context, key string, value any) error {
	return SetSettingTx(ctx, d.Pool, key, value)
}

// SetSettingTx is SetSetting inside a transaction, so several keys change together.
func SetSettingTx(ctx context.Context, q Querier, key string, value any) error {
	raw, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("db: setting %s: encode: %w", key, err)
	}
	_, err = q.Exec(ctx, `
		INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, now())
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`, key, raw)
	if err != nil {
		return fmt.Errorf("db: set setting %s: %w", key, err)
	}
	return nil
}
