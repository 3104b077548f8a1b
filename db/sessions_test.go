package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
)

// Pruning removes expired sessions and old sign-in attempts only.
func TestPruneAuth(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	u, err := d.CreateUser(ctx, db.NewUser{Email: "a@school.example", Name: "A", Role: "staff", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	for id, exp := range map[string]time.Time{"live": time.Now().Add(time.Hour), "expired": time.Now().Add(-time.Minute)} {
		if err := d.CreateSession(ctx, db.Session{ID: id, UserID: u.ID, CSRFToken: "t", ExpiresAt: exp}, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Pool.Exec(ctx, `INSERT INTO login_attempts (email, ip, succeeded, created_at) VALUES
		('a@school.example', '1.2.3.4', false, now() - interval '40 days'),
		('a@school.example', '1.2.3.4', false, now() - interval '1 day')`); err != nil {
		t.Fatal(err)
	}
	n, err := d.PruneAuth(ctx, 30*24*time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("pruned %d rows (%v), want 2", n, err)
	}
	if _, _, err := d.SessionWithUser(ctx, "live"); err != nil {
		t.Fatalf("live session pruned: %v", err)
	}
	var attempts int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM login_attempts`).Scan(&attempts); err != nil || attempts != 1 {
		t.Fatalf("%d attempts left (%v), want 1", attempts, err)
	}
}
