package broadcast

import (
	"context"
	"fmt"

	"github.com/classline/classline/db"
)

// SettingEngine is the settings key of the engine's school-wide limits.
const SettingEngine = "broadcast_engine"

// Settings are the engine's limits an admin may change while it runs; zero
// fields keep the engine's configured defaults.
type Settings struct {
	// Concurrency: concurrent requests to Twilio for the whole account
	// (Twilio's default allowance is 100), shared by all Classline processes.
	Concurrency int `json:"concurrency"`
	// AutoPauseWindow and AutoPausePercent: pause a broadcast when that
	// percentage of its last AutoPauseWindow finished sends failed for good.
	AutoPauseWindow  int `json:"auto_pause_window"`
	AutoPausePercent int `json:"auto_pause_percent"`
}

// Validate says what is wrong per form field, in words for an admin.
func (s Settings) Validate() map[string]string {
	errs := map[string]string{}
	if s.Concurrency < 1 || s.Concurrency > 1000 {
		errs["concurrency"] = "Use between 1 and 1000 concurrent requests (Twilio's default allowance is 100)."
	}
	if s.AutoPauseWindow < 5 || s.AutoPauseWindow > 10000 {
		errs["auto_pause_window"] = "Look at between 5 and 10,000 recent sends."
	}
	if s.AutoPausePercent < 1 || s.AutoPausePercent > 100 {
		errs["auto_pause_percent"] = "Use a percentage between 1 and 100."
	}
	return errs
}

// LoadSettings reads the engine's settings, the defaults where unset.
func LoadSettings(ctx context.Context, d *db.DB) (Settings, error) {
	def := Config{}.withDefaults()
	s := Settings{Concurrency: def.Concurrency, AutoPauseWindow: def.AutoPauseWindow, AutoPausePercent: int(def.AutoPauseRatio * 100)}
	var stored Settings
	found, err := d.GetSetting(ctx, SettingEngine, &stored)
	if err != nil || !found {
		return s, err
	}
	if stored.Concurrency > 0 {
		s.Concurrency = stored.Concurrency
	}
	if stored.AutoPauseWindow > 0 {
		s.AutoPauseWindow = stored.AutoPauseWindow
	}
	if stored.AutoPausePercent > 0 {
		s.AutoPausePercent = stored.AutoPausePercent
	}
	return s, nil
}

// SaveSettings stores the engine's settings (audited by the caller's
// transaction, like the other settings); running engines pick them up
// within a few seconds.
func SaveSettings(ctx context.Context, q db.Querier, s Settings) error {
	if errs := s.Validate(); len(errs) > 0 {
		return fmt.Errorf("broadcast settings: invalid %+v", s)
	}
	return db.SetSettingTx(ctx, q, SettingEngine, s)
}

// applySettings takes the stored limits, when the engine follows them.
func (e *Engine) applySettings(ctx context.Context) {
	if !e.FollowSettings {
		return
	}
	s, err := LoadSettings(ctx, e.DB)
	if err != nil {
		e.Log.Warn("broadcast settings", "err", err)
		return
	}
	e.limits.Store(&limits{concurrency: s.Concurrency, pauseWindow: s.AutoPauseWindow, pauseRatio: float64(s.AutoPausePercent) / 100})
}

// limits are the engine's live limits (settings may change them).
type limits struct {
	concurrency int
	pauseWindow int
	pauseRatio  float64
}

func (e *Engine) lim() limits {
	if l := e.limits.Load(); l != nil {
		return *l
	}
	return limits{concurrency: e.cfg.Concurrency, pauseWindow: e.cfg.AutoPauseWindow, pauseRatio: e.cfg.AutoPauseRatio}
}
