package broadcast_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/twiliosim"
)

// exactlyOnce checks that the simulator holds exactly one message per
// expected number and that every recipient's SID is one of them.
func (e *env) exactlyOnce(id int64, numbers []string, channelPrefix string) {
	e.t.Helper()
	perTo := map[string]int{}
	sids := map[string]string{}
	for _, m := range e.sim.Messages() {
		if m.Direction == "outbound-api" {
			perTo[m.To]++
			sids[m.SID] = m.To
		}
	}
	dups, lost := 0, 0
	for _, n := range numbers {
		switch perTo[channelPrefix+n] {
		case 0:
			lost++
		case 1:
		default:
			dups++
		}
	}
	if dups != 0 || lost != 0 || len(perTo) != len(numbers) {
		for _, n := range numbers {
			if perTo[channelPrefix+n] != 1 {
				var state, msg string
				var attempts int
				_ = e.db.Pool.QueryRow(e.ctx, `SELECT state, attempts, error_message FROM broadcast_recipients WHERE broadcast_id = $1 AND phone = $2`, id, n).Scan(&state, &attempts, &msg)
				rows, _ := e.db.Pool.Query(e.ctx, `SELECT a.outcome, coalesce(a.error_code, 0), a.error_message FROM broadcast_attempts a JOIN broadcast_recipients r ON r.id = a.recipient_id WHERE r.phone = $1 ORDER BY a.id`, n)
				var hist []string
				for rows.Next() {
					var o, m string
					var c int
					_ = rows.Scan(&o, &c, &m)
					hist = append(hist, fmt.Sprintf("%s/%d/%s", o, c, m))
				}
				rows.Close()
				e.t.Logf("%s: %d messages at Twilio; recipient %s after %d attempts (%s); attempts %v", n, perTo[channelPrefix+n], state, attempts, msg, hist)
			}
		}
		e.t.Fatalf("%d numbers got two messages or more, %d got none; %d numbers reached, want %d", dups, lost, len(perTo), len(numbers))
	}
	rows, err := e.db.Pool.Query(e.ctx, `SELECT r.phone, r.message_sid, m.twilio_sid FROM broadcast_recipients r
		LEFT JOIN messages m ON m.id = r.message_id WHERE r.broadcast_id = $1`, id)
	e.must(err)
	defer rows.Close()
	n := 0
	for rows.Next() {
		var phone string
		var rsid, msid *string
		e.must(rows.Scan(&phone, &rsid, &msid))
		if rsid == nil || msid == nil || *rsid != *msid || sids[*rsid] != channelPrefix+phone {
			e.t.Fatalf("recipient %s: recipient SID %v, message SID %v, simulator has it for %q", phone, rsid, msid, sids[deref(rsid)])
		}
		n++
	}
	e.must(rows.Err())
	if n != len(numbers) {
		e.t.Fatalf("%d recipient rows, want %d", n, len(numbers))
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// The engine test: 10,000 recipients, 20% of creates answered 429,
// 5% answered 500 (nothing created) and 2% created with the answer lost:
// everyone gets exactly one message, and every lost answer is found again
// by asking Twilio instead of sending twice. BROADCAST_TEST_N shrinks it.
func TestEngineExactlyOnceUnderFaults(t *testing.T) {
	n := 10000
	if s := os.Getenv("BROADCAST_TEST_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	e := newEnv(t, envOptions{sim: twiliosim.Config{RateLimitRate: 0.20, ServerErrorRate: 0.05, LostResponseRate: 0.02, MaxConcurrent: 100}})
	_, err := e.db.Pool.Exec(e.ctx, `UPDATE senders SET rate_per_second = 100000`)
	e.must(err)
	gid := e.contacts(n, func(int) bool { return false })
	id := e.broadcast("Snow day", broadcast.Spec{
		Audience: broadcast.Audience{GroupIDs: []int64{gid}},
		Content:  broadcast.Content{Mode: broadcast.ModeSMS, SMSBody: "School is closed tomorrow, {{first_name}}."},
	}, false)
	// Unanswered sends wait out their lease before Twilio is asked: a short
	// one keeps the test quick.
	eng := e.start(broadcast.Config{RetryBase: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, MaxAttempts: 30,
		SweepEvery: 200 * time.Millisecond, PollInterval: 50 * time.Millisecond, AutoPauseRatio: 0.99, SendLease: 3 * time.Second})
	e.must(eng.Launch(e.ctx, id, nil, broadcast.Actor{UserID: &e.admin.ID}))
	e.waitStatus(id, "completed", 5*time.Minute)

	numbers := make([]string, n)
	for i := range numbers {
		numbers[i] = phone(i)
	}
	e.exactlyOnce(id, numbers, "")
	c := e.counts(id)
	if c["queued"] != n {
		t.Errorf("counts %v, want all %d queued at Twilio (no callbacks in this test)", c, n)
	}
	var found, rateLimited, serverErrors int
	e.must(e.db.Pool.QueryRow(e.ctx, `SELECT count(*) FILTER (WHERE outcome = 'found_at_twilio'),
		count(*) FILTER (WHERE outcome = 'rate_limited'), count(*) FILTER (WHERE outcome = 'server_error')
		FROM broadcast_attempts WHERE broadcast_id = $1`, id).Scan(&found, &rateLimited, &serverErrors))
	if found == 0 || rateLimited == 0 || serverErrors == 0 {
		t.Errorf("attempts: %d found at Twilio after a lost answer, %d rate limited, %d server errors; want each > 0", found, rateLimited, serverErrors)
	}
	var body string
	e.must(e.db.Pool.QueryRow(e.ctx, `SELECT body FROM messages WHERE to_address = $1`, phone(7)).Scan(&body))
	if body != "School is closed tomorrow, Parent." {
		t.Errorf("message body %q: merge field not filled", body)
	}
	t.Logf("%d recipients: %d found at Twilio after a lost answer, %d rate-limited attempts, %d server errors", n, found, rateLimited, serverErrors)
}

// Found by the scale-out test: a call cut off by our timeout may still
// create the message at Twilio a moment later. Asked at once, Twilio had no
// such message, and the resend was a duplicate. Unanswered sends now wait
// out their lease before Twilio is asked. Here a third of the creates
// finish 2 s after they began, well after the client (1.5 s, half the
// 3 s lease) gave up.
func TestLateCreatedMessageIsNotSentAgain(t *testing.T) {
	n := 150
	e := newEnv(t, envOptions{sim: twiliosim.Config{LateCreateRate: 0.33, LateCreateDelay: 2 * time.Second}})
	_, err := e.db.Pool.Exec(e.ctx, `UPDATE senders SET rate_per_second = 100000`)
	e.must(err)
	gid := e.contacts(n, func(int) bool { return false })
	id := e.broadcast("Late bus", broadcast.Spec{
		Audience: broadcast.Audience{GroupIDs: []int64{gid}},
		Content:  broadcast.Content{Mode: broadcast.ModeSMS, SMSBody: "The bus is running late."},
	}, false)
	cfg := fastConfig()
	cfg.SendLease = 3 * time.Second
	eng := e.start(cfg)
	e.must(eng.Launch(e.ctx, id, nil, broadcast.Actor{UserID: &e.admin.ID}))
	e.waitStatus(id, "completed", 2*time.Minute)
	numbers := make([]string, n)
	for i := range numbers {
		numbers[i] = phone(i)
	}
	e.exactlyOnce(id, numbers, "")
	var found int
	e.must(e.db.Pool.QueryRow(e.ctx, `SELECT count(*) FROM broadcast_attempts WHERE broadcast_id = $1 AND outcome = 'found_at_twilio'`, id).Scan(&found))
	if found == 0 {
		t.Fatal("no send was found at Twilio after its call went unanswered: the late creates did not happen")
	}
	t.Logf("%d unanswered sends found at Twilio once their lease ran out", found)
}
