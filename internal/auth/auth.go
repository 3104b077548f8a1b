// Package auth signs staff in: argon2id password hashes, server-side sessions
// and throttling of repeated failures per account and per address.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
)

// Params are the argon2id settings for new hashes: 64 MiB, 2 passes, 2 lanes.
// That is above OWASP's minimum (19 MiB, 2 passes) and costs ~60 ms on a
// 2-core machine; old hashes keep their own parameters (they are in the hash).
var Params = &argon2id.Params{Memory: 64 * 1024, Iterations: 2, Parallelism: 2, SaltLength: 16, KeyLength: 32}

// Throttling: failures counted over Window.
const (
	MaxFailuresPerAccount = 5
	MaxFailuresPerAddress = 20
	Window                = 15 * time.Minute
	SessionLifetime       = 12 * time.Hour
	MinPasswordLength     = 10
)

var (
	// ErrInvalidCredentials is deliberately vague: which part was wrong is not said.
	ErrInvalidCredentials = errors.New("email or password is incorrect")
	// ErrThrottled means too many recent failures.
	ErrThrottled = errors.New("too many failed sign-in attempts; wait 15 minutes and try again")
)

// HashPassword hashes a password with Params.
func HashPassword(password string) (string, error) {
	if len(password) < MinPasswordLength {
		return "", fmt.Errorf("password must be at least %d characters", MinPasswordLength)
	}
	h, err := argon2id.CreateHash(password, Params)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return h, nil
}

// dummyHash is compared against when the email is unknown so that the answer
// takes as long as for a real account and does not reveal who has one. It
// is a constant (argon2id of "not-a-real-password" with Params) rather than
// computed at start-up, which cost every process 64 MiB and ~0.2 s; a test
// checks it still carries Params.
const dummyHash = "$argon2id$v=19$m=65536,t=2,p=2$DwmT0Cdj3FziGlpu0Uyqkg$b71P0wTRYmHienNrVvBdNuHEWjGTlYVWXR5hao9Xm8k"

// CheckPassword reports whether password matches hash.
func CheckPassword(password, hash string) bool {
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	return err == nil && ok
}

// NewToken returns 32 random bytes, URL-safe.
func NewToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("auth: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// GeneratePassword makes a readable random password for first admins.
func GeneratePassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("auth: no randomness: " + err.Error())
	}
	var sb strings.Builder
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return sb.String()
}

// Service signs users in and out.
type Service struct {
	DB  *db.DB
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// hashSlots caps concurrent password checks: each takes 64 MiB, and a burst
// of sign-ins must not exhaust the server's memory.
var hashSlots = make(chan struct{}, max(2, runtime.NumCPU()))

// Login checks credentials, throttles repeated failures and opens a new
// session (a fresh id and CSRF token every time: session rotation).
func (s *Service) Login(ctx context.Context, email, password, ip, userAgent string) (db.Session, db.User, error) {
	email = strings.TrimSpace(email)
	var u db.User
	var ok bool
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := db.LockLoginTx(ctx, tx, email, ip); err != nil {
			return err
		}
		byEmail, byIP, err := db.FailedLoginsTx(ctx, tx, email, ip, s.now().Add(-Window))
		if err != nil {
			return err
		}
		if byEmail >= MaxFailuresPerAccount || byIP >= MaxFailuresPerAddress {
			return ErrThrottled
		}
		var uerr error
		u, uerr = db.UserByEmailTx(ctx, tx, email)
		if uerr != nil && !errors.Is(uerr, db.ErrNotFound) {
			return uerr
		}
		hash := dummyHash
		if uerr == nil {
			hash = u.PasswordHash
		}
		select {
		case hashSlots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		ok = CheckPassword(password, hash) && uerr == nil && u.DeactivatedAt == nil
		<-hashSlots
		return db.RecordLoginAttemptTx(ctx, tx, email, ip, ok)
	})
	if err != nil {
		return db.Session{}, db.User{}, err
	}
	if !ok {
		return db.Session{}, db.User{}, ErrInvalidCredentials
	}
	sess := db.Session{ID: NewToken(), UserID: u.ID, CSRFToken: NewToken(), ExpiresAt: s.now().Add(SessionLifetime)}
	if err := s.DB.CreateSession(ctx, sess, ip, userAgent); err != nil {
		return db.Session{}, db.User{}, err
	}
	if err := s.DB.MarkLogin(ctx, u.ID); err != nil {
		return db.Session{}, db.User{}, err
	}
	return sess, u, nil
}

// EnsureFirstAdmin creates an admin when no user exists yet and returns the
// generated password (empty when users already existed).
func (s *Service) EnsureFirstAdmin(ctx context.Context, email string) (string, error) {
	n, err := s.DB.CountUsers(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	pw := GeneratePassword()
	hash, err := HashPassword(pw)
	if err != nil {
		return "", err
	}
	if _, err := s.DB.CreateUser(ctx, db.NewUser{Email: email, Name: "Administrator", Role: "admin", PasswordHash: hash}); err != nil {
		if errors.Is(err, db.ErrEmailTaken) {
			return "", nil // another instance won the race
		}
		return "", err
	}
	return pw, nil
}
