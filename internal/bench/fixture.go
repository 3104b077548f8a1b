package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/auth"
	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/policy"
)

// fixture is what every scenario's database holds before the app starts:
// a department with an SMS sender whose rate limit is out of the way, a
// signed-in-able admin, and quiet hours off so a run at 22:00 measures the
// same thing as one at noon.
type fixture struct {
	db       *db.DB
	dep      int64
	sender   db.Sender
	admin    db.User
	email    string
	password string
}

func prepare(ctx context.Context, dbURL string) (*fixture, error) {
	if err := db.MigrateURL(ctx, dbURL); err != nil {
		return nil, err
	}
	d, err := db.Open(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	f := &fixture{db: d, email: "bench-admin@school.example", password: auth.GeneratePassword()}
	err = f.setUp(ctx)
	if err != nil {
		d.Close()
		return nil, err
	}
	return f, nil
}

func (f *fixture) close() { f.db.Close() }

func (f *fixture) setUp(ctx context.Context) error {
	var err error
	if f.dep, err = f.db.EnsureDepartment(ctx, "bench", "Bench"); err != nil {
		return err
	}
	if f.sender, err = f.db.EnsureSender(ctx, policy.ChannelSMS, benchSMS, "Bench SMS", &f.dep); err != nil {
		return err
	}
	// The benchmark measures the engine against Twilio's concurrency cap,
	// not a long code's 1 message/s (broadcast.DefaultRate).
	rate := 100000.0
	hash, err := auth.HashPassword(f.password)
	if err != nil {
		return err
	}
	return f.db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := db.SetSenderRateTx(ctx, tx, f.sender.ID, &rate); err != nil {
			return err
		}
		if err := db.SetQuietHoursTx(ctx, tx, policy.QuietHours{Enabled: false, Start: "21:00", End: "07:00"}); err != nil {
			return err
		}
		// A known password on every run: reset it if the user is there.
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, deactivated_at = NULL WHERE lower(email) = lower($1)`, f.email, hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO users (email, name, role, password_hash) VALUES ($1, 'Bench Admin', 'admin', $2)`, f.email, hash); err != nil {
				return err
			}
		}
		return tx.QueryRow(ctx, `SELECT id FROM users WHERE lower(email) = lower($1)`, f.email).Scan(&f.admin.ID)
	})
}

// targetConversations is how many (closed) conversations the callback
// targets are spread over: a broadcast's messages, as the inbox sees them.
const targetConversations = 1000

// callbackTargets makes n outbound messages with known SIDs (targetSID) for
// status callbacks to move, all back at "queued" so every run's callbacks
// take the same path (event kept, status moved, NOTIFY).
func (f *fixture) callbackTargets(ctx context.Context, n int) error {
	k := min(n, targetConversations)
	return f.db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO contacts (phone, name, whatsapp_capable)
			SELECT '+14158' || lpad(g::text, 6, '0'), 'Bench parent ' || g, false FROM generate_series(0, $1 - 1) g
			ON CONFLICT (phone) WHERE merged_into IS NULL DO NOTHING`, k); err != nil {
			return fmt.Errorf("bench: target contacts: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO conversations (contact_id, sender_id, department_id, channel, status)
			SELECT id, $1, $2, 'sms', 'closed' FROM contacts WHERE phone LIKE '+14158%' AND merged_into IS NULL
			ON CONFLICT (contact_id, sender_id, (coalesce(phone, ''))) DO NOTHING`, f.sender.ID, f.dep); err != nil {
			return fmt.Errorf("bench: target conversations: %w", err)
		}
		_, err := tx.Exec(ctx, `WITH convs AS (
				SELECT c.id, ct.phone FROM conversations c JOIN contacts ct ON ct.id = c.contact_id
				WHERE c.sender_id = $3 AND ct.phone LIKE '+14158%'
			)
			INSERT INTO messages (conversation_id, direction, channel, from_address, to_address, body, twilio_sid, status, segments)
			SELECT convs.id, 'outbound', 'sms', $4, convs.phone, 'Reminder: school closes early on Friday for staff training.',
				'SMbench' || lpad(g::text, 27, '0'), 'queued', 1
			FROM generate_series(0, $1 - 1) g JOIN convs ON convs.phone = '+14158' || lpad((g % $2)::text, 6, '0')
			ON CONFLICT (twilio_sid) DO UPDATE SET status = 'queued', error_code = NULL, error_message = '', status_updated_at = now()`,
			n, k, f.sender.ID, benchSMS)
		if err != nil {
			return fmt.Errorf("bench: target messages: %w", err)
		}
		return nil
	})
}

// broadcastPhone is the i-th broadcast recipient: ends in 5, away from the
// simulator's magic endings (0001-0003 fail on purpose).
func broadcastPhone(i int) string { return fmt.Sprintf("+1415%07d", 7000005+10*i) }

// smsBroadcast saves a draft SMS broadcast to n new contacts (a static
// group) from the bench sender and returns its id.
func (f *fixture) smsBroadcast(ctx context.Context, n int) (int64, error) {
	spec := broadcast.Spec{
		Content: broadcast.Content{Mode: broadcast.ModeSMS, SMSBody: "School is closed tomorrow because of snow."},
		Sender:  broadcast.Sender{Strategy: "specific", SMSSenderID: f.sender.ID},
	}
	var id int64
	err := f.db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO contacts (phone, name, whatsapp_capable)
			SELECT '+1415' || (7000005 + 10 * g)::text, 'Parent ' || g, false FROM generate_series(0, $1 - 1) g
			ON CONFLICT (phone) WHERE merged_into IS NULL DO NOTHING`, n); err != nil {
			return err
		}
		var gid int64
		if err := tx.QueryRow(ctx, `INSERT INTO groups (name) VALUES ($1) RETURNING id`, fmt.Sprintf("Bench %d families", n)).Scan(&gid); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO group_members (group_id, contact_id)
			SELECT $1, c.id FROM generate_series(0, $2 - 1) g JOIN contacts c ON c.phone = '+1415' || (7000005 + 10 * g)::text AND c.merged_into IS NULL`,
			gid, n); err != nil {
			return err
		}
		spec.Audience = broadcast.Audience{GroupIDs: []int64{gid}}
		a, c, s, err := spec.Encode()
		if err != nil {
			return err
		}
		id, err = db.InsertBroadcastTx(ctx, tx, db.NewBroadcast{Name: "Snow day (bench)", DepartmentID: &f.dep, CreatedBy: f.admin.ID, Audience: a, Content: c, Sender: s})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("bench: broadcast: %w", err)
	}
	return id, nil
}

// messageCount is how many messages the database holds (to decide whether
// the inbox database must be seeded).
func messageCount(ctx context.Context, d *db.DB) (int, error) {
	var n int
	err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE twilio_sid IS NULL OR twilio_sid NOT LIKE 'SMbench%'`).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return n, err
}
