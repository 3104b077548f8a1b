package db

import (
	"context"
	"fmt"

	"github.com/classline/classline/internal/policy"
)

// SettingQuietHours is the settings key of the school's quiet hours.
const SettingQuietHours = "quiet_hours"

// QuietHours returns the school's quiet hours, the default (on, 21:00 to
// 07:00) while none were saved. A stored value that does not validate
// (edited by hand) is an error; the default comes back with it, so a
// caller that carries on still keeps families' nights quiet.
func (d *DB) QuietHours(ctx context.Context) (policy.QuietHours, error) {
	var q policy.QuietHours
	found, err := d.GetSetting(ctx, SettingQuietHours, &q)
	if err != nil {
		return policy.DefaultQuietHours(), err
	}
	if !found {
		return policy.DefaultQuietHours(), nil
	}
	if errs := q.Validate(); len(errs) > 0 {
		return policy.DefaultQuietHours(), fmt.Errorf("db: setting %s: stored value %+v does not validate", SettingQuietHours, q)
	}
	return q.Normalize(), nil
}

// SetQuietHoursTx stores the school's quiet hours (normalised to HH:MM).
// Values that do not validate are refused: readers must never find them.
// Callers acting for a person audit the change in the same transaction.
func SetQuietHoursTx(ctx context.Context, q Querier, v policy.QuietHours) error {
	if errs := v.Validate(); len(errs) > 0 {
		return fmt.Errorf("db: set %s: invalid quiet hours %+v", SettingQuietHours, v)
	}
	return SetSettingTx(ctx, q, SettingQuietHours, v.Normalize())
}
