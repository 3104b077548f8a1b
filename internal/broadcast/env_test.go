package broadcast_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/db/dbtest"
	"github.com/classline/classline/internal/broadcast"
	"github.com/classline/classline/internal/messaging"
	"github.com/classline/classline/internal/twilio"
	"github.com/classline/classline/internal/twiliosim"
)

const (
	account = "AC00000000000000000000000000000000"
	token   = "broadcasttesttoken0123456789"
)

// env is a fresh database with a department and its senders, a simulator
// behind httptest, a real Gateway and an engine (started by start).
type env struct {
	t      testing.TB
	ctx    context.Context
	db     *db.DB
	sim    *twiliosim.Sim
	gw     *twilio.Gateway
	svc    *messaging.Service
	dep    int64
	wa     db.Sender
	sms    db.Sender
	admin  db.User
	cbURL  string
	url    string // the database, for child processes
	simURL string
	engine *broadcast.Engine
}

type envOptions struct {
	sim       twiliosim.Config
	callbacks bool
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, ctx: ctx, url: dbtest.NewURL(t)}
	var err error
	e.db, err = db.Open(ctx, e.url)
	e.must(err)
	t.Cleanup(e.db.Close)
	e.dep, err = e.db.EnsureDepartment(ctx, "office", "Front office")
	e.must(err)
	e.wa, err = e.db.EnsureSender(ctx, "whatsapp", "+14155550100", "Office WhatsApp", &e.dep)
	e.must(err)
	e.sms, err = e.db.EnsureSender(ctx, "sms", "+14155550199", "Office SMS", &e.dep)
	e.must(err)
	e.admin, err = e.db.CreateUser(ctx, db.NewUser{Email: "admin@school.example", Name: "Admin", Role: "admin", PasswordHash: "x"})
	e.must(err)

	cfg := o.sim
	cfg.AccountSID, cfg.AuthToken = account, token
	if cfg.StepDelay == 0 {
		cfg.StepDelay = time.Hour
	}
	if cfg.Seed == 0 {
		cfg.Seed = 11
	}
	e.sim = twiliosim.New(cfg)
	simSrv := httptest.NewServer(e.sim.Handler())
	t.Cleanup(simSrv.Close)
	e.simURL = simSrv.URL
	t.Cleanup(e.sim.Close)
	e.gw, err = twilio.New(twilio.Config{AccountSID: account, AuthToken: token, APIBase: simSrv.URL})
	e.must(err)
	e.svc = &messaging.Service{DB: e.db, Gateway: e.gw, DefaultRegion: "US", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if o.callbacks {
		cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := r.ParseForm(); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			p := map[string]string{}
			for k, v := range r.PostForm {
				p[k] = v[0]
			}
			if !e.gw.ValidateSignature(e.cbURL+r.URL.RequestURI(), p, r.Header.Get("X-Twilio-Signature")) {
				http.Error(w, "bad signature", http.StatusForbidden)
				return
			}
			if _, err := e.svc.ApplyStatus(r.Context(), p); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusOK)
		}))
		t.Cleanup(cb.Close)
		e.cbURL = cb.URL
	}
	return e
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// start builds and starts an engine with cfg; it stops with the test.
func (e *env) start(cfg broadcast.Config) *broadcast.Engine {
	e.t.Helper()
	eng := &broadcast.Engine{DB: e.db, Gateway: e.gw, DefaultRegion: "US", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if e.cbURL != "" {
		eng.StatusCallbackURL = e.cbURL + "/status"
	}
	eng, err := broadcast.New(eng, cfg)
	e.must(err)
	e.must(eng.Start(e.ctx))
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Stop(ctx)
	})
	e.engine = eng
	return eng
}

// contacts adds n contacts (+1 415 7xx xxxx) to a new static group and
// returns the group's id. whatsapp decides each one's WhatsApp flag.
func (e *env) contacts(n int, whatsapp func(i int) bool) int64 {
	e.t.Helper()
	var gid int64
	e.must(e.db.InTx(e.ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(e.ctx, `INSERT INTO groups (name) VALUES ($1) RETURNING id`, fmt.Sprintf("group %d", n)).Scan(&gid); err != nil {
			return err
		}
		rows := make([][]any, n)
		for i := range n {
			rows[i] = []any{phone(i), fmt.Sprintf("Parent %d", i), whatsapp(i)}
		}
		if _, err := tx.CopyFrom(e.ctx, pgx.Identifier{"contacts"}, []string{"phone", "name", "whatsapp_capable"}, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		_, err := tx.Exec(e.ctx, `INSERT INTO group_members (group_id, contact_id) SELECT $1, id FROM contacts WHERE phone LIKE '+14157%'`, gid)
		return err
	}))
	return gid
}

// phone is the i-th test number; it ends in 5, away from the simulator's
// magic endings (0001-0003 fail on purpose).
func phone(i int) string { return fmt.Sprintf("+1415%07d", 7000005+10*i) }

// broadcast saves a broadcast of spec and returns its id.
func (e *env) broadcast(name string, spec broadcast.Spec, urgent bool) int64 {
	e.t.Helper()
	a, c, s, err := spec.Encode()
	e.must(err)
	var id int64
	e.must(e.db.InTx(e.ctx, func(tx pgx.Tx) error {
		var err error
		id, err = db.InsertBroadcastTx(e.ctx, tx, db.NewBroadcast{Name: name, DepartmentID: &e.dep, CreatedBy: e.admin.ID,
			Audience: a, Content: c, Sender: s, Urgent: urgent})
		return err
	}))
	return id
}

// waitStatus waits (up to limit) for the broadcast to reach status.
func (e *env) waitStatus(id int64, status string, limit time.Duration) db.Broadcast {
	e.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		b, err := e.db.BroadcastByID(e.ctx, id)
		e.must(err)
		if b.Status == status {
			return b
		}
		if time.Now().After(deadline) {
			counts, _ := e.db.BroadcastCounts(e.ctx, id)
			e.t.Fatalf("broadcast %d is %s after %s, want %s; counts %+v", id, b.Status, limit, status, counts)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// counts sums the broadcast's derived counters by status.
func (e *env) counts(id int64) map[string]int {
	e.t.Helper()
	cs, err := e.db.BroadcastCounts(e.ctx, id)
	e.must(err)
	out := map[string]int{}
	for _, c := range cs {
		out[c.Status] += c.N
	}
	return out
}
