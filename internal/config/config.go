// Package config reads Classline's settings from the environment. Every
// setting has a working default so `go tool task dev` needs no configuration.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is the whole of Classline's runtime configuration.
type Config struct {
	DatabaseURL string // empty: project-local cluster under VarDir/pg
	Addr        string
	PublicURL   string // how Twilio reaches us; signature checks use it
	VarDir      string // project-local state: pg cluster, session key, media

	TwilioAccountSID string
	TwilioAuthToken  string
	TwilioAPIBase    string // send every *.twilio.com request here instead

	// Numbers to register as the default senders when they do not exist yet.
	WhatsAppNumber string
	SMSNumber      string

	SessionKey     []byte
	SchoolTimezone *time.Location
	DefaultRegion  string
	// TrustProxy says a reverse proxy in front overwrites the X-Forwarded-*
	// headers: the client address then comes from X-Forwarded-For, and a
	// webhook signature may also cover X-Forwarded-Proto://X-Forwarded-Host
	// + path (besides PUBLIC_URL + path). Off by default because anyone can
	// send those headers.
	TrustProxy bool
	LogLevel   string
	// BroadcastSendLease is how long a broadcast send may stay "sending"
	// before another process takes it for dead and asks Twilio what became
	// of it (0: the engine's default, 45 s). Shorter recovers faster after
	// a crash; it must outlast a Twilio request (10 s), so at least 15 s.
	BroadcastSendLease time.Duration
}

// minSendLease keeps the lease longer than a Twilio request can take, so a
// live worker's send is never reconciled (and possibly resent) under it.
const minSendLease = 15 * time.Second

// Simulated reports whether Classline talks to its built-in Twilio simulator.
func (c Config) Simulated() bool { return c.TwilioAccountSID == "" && c.TwilioAuthToken == "" }

// SecureCookies reports whether cookies must carry the Secure flag.
func (c Config) SecureCookies() bool { return strings.HasPrefix(c.PublicURL, "https://") }

// Load reads the environment. getenv is os.Getenv in production and a map in tests.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL:      getenv("DATABASE_URL"),
		Addr:             or(getenv("ADDR"), "127.0.0.1:8080"),
		VarDir:           or(getenv("CLASSLINE_VAR"), "var"),
		TwilioAccountSID: getenv("TWILIO_ACCOUNT_SID"),
		TwilioAuthToken:  getenv("TWILIO_AUTH_TOKEN"),
		TwilioAPIBase:    strings.TrimRight(getenv("TWILIO_API_BASE"), "/"),
		WhatsAppNumber:   getenv("TWILIO_WHATSAPP_NUMBER"),
		SMSNumber:        getenv("TWILIO_SMS_NUMBER"),
		DefaultRegion:    strings.ToUpper(or(getenv("DEFAULT_REGION"), "US")),
		TrustProxy:       getenv("TRUST_PROXY") == "true" || getenv("TRUST_PROXY") == "1",
		LogLevel:         or(getenv("LOG_LEVEL"), "info"),
	}
	c.PublicURL = strings.TrimRight(or(getenv("PUBLIC_URL"), "http://"+c.Addr), "/")
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("config: PUBLIC_URL %q must be an absolute http(s) URL", c.PublicURL)
	}
	if (c.TwilioAccountSID == "") != (c.TwilioAuthToken == "") {
		return c, errors.New("config: set both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or neither for the simulator")
	}
	tz, err := time.LoadLocation(or(getenv("SCHOOL_TIMEZONE"), "UTC"))
	if err != nil {
		return c, fmt.Errorf("config: SCHOOL_TIMEZONE: %w", err)
	}
	c.SchoolTimezone = tz
	if v := getenv("BROADCAST_SEND_LEASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < minSendLease {
			return c, fmt.Errorf("config: BROADCAST_SEND_LEASE %q must be a duration of at least %s (e.g. 45s)", v, minSendLease)
		}
		c.BroadcastSendLease = d
	}
	if k := getenv("SESSION_KEY"); k != "" {
		if len(k) < 32 {
			return c, errors.New("config: SESSION_KEY must be at least 32 characters")
		}
		c.SessionKey = []byte(k)
	}
	return c, nil
}

// EnsureSessionKey fills SessionKey from VarDir/session.key, creating it once,
// so dev sessions survive restarts without anyone choosing a key.
func (c *Config) EnsureSessionKey() error {
	if len(c.SessionKey) > 0 {
		return nil
	}
	path := filepath.Join(c.VarDir, "session.key")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		c.SessionKey = []byte(strings.TrimSpace(string(b)))
		return nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return fmt.Errorf("config: generate session key: %w", err)
	}
	key := hex.EncodeToString(buf)
	if err := os.MkdirAll(c.VarDir, 0o755); err != nil {
		return fmt.Errorf("config: create %s: %w", c.VarDir, err)
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return fmt.Errorf("config: write session key: %w", err)
	}
	c.SessionKey = []byte(key)
	return nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
