package broadcast

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/classline/classline/db"
	"github.com/classline/classline/internal/live"
	"github.com/classline/classline/internal/twilio"
)

// Config tunes the engine. Zero values take the defaults noted.
type Config struct {
	// Concurrency is the account-wide cap on concurrent requests to Twilio
	// (Twilio's default is 100 per account), shared out among live processes.
	Concurrency int
	// MaxAttempts is how many times a recipient is tried before it fails (8).
	MaxAttempts int
	// RetryBase and RetryMax bound the exponential backoff (1 s, 2 min).
	RetryBase, RetryMax time.Duration
	// SendLease is how long a send may stay in flight before it is presumed
	// dead and Twilio is asked whether it arrived (45 s; above the HTTP timeout).
	SendLease time.Duration
	// AutoPauseWindow and AutoPauseRatio: pause by itself when at least
	// ratio of the last window finished sends failed for good (50, 0.5).
	AutoPauseWindow int
	AutoPauseRatio  float64
	// SweepEvery is how often broadcasts are checked for completion,
	// fallbacks and stale sends (2 s).
	SweepEvery time.Duration
	// RescueAfter is when River retries a job whose process died (60 s).
	RescueAfter time.Duration
	// PollInterval is River's fetch poll (200 ms); jobs inserted elsewhere
	// also wake it through LISTEN.
	PollInterval time.Duration
}

func (c Config) withDefaults() Config {
	if c.Concurrency <= 0 {
		c.Concurrency = 100
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	if c.RetryBase <= 0 {
		c.RetryBase = time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 2 * time.Minute
	}
	if c.SendLease <= 0 {
		c.SendLease = 45 * time.Second
	}
	if c.AutoPauseWindow <= 0 {
		c.AutoPauseWindow = 50
	}
	if c.AutoPauseRatio <= 0 {
		c.AutoPauseRatio = 0.5
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = 2 * time.Second
	}
	if c.RescueAfter <= 0 {
		c.RescueAfter = time.Minute
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 200 * time.Millisecond
	}
	return c
}

// Engine runs broadcasts. New, then Start; Stop on shutdown.
type Engine struct {
	DB                *db.DB
	Gateway           *twilio.Gateway
	StatusCallbackURL string
	// MediaURL gives the public, expiring URL Twilio fetches a stored file from.
	MediaURL      func(ctx context.Context, fileID int64) (string, error)
	DefaultRegion string
	Log           *slog.Logger
	// QuietUntil says until when quiet hours hold broadcasts back: a time
	// not after now means broadcasts may go.
	QuietUntil func(ctx context.Context, now time.Time) (time.Time, error)
	// SchoolName fills {{school_name}}.
	SchoolName func(ctx context.Context) (string, error)
	Now        func() time.Time
	// FollowSettings makes the stored school settings (Settings) override
	// the concurrency cap and auto-pause thresholds of Config.
	FollowSettings bool

	cfg      Config
	instance string
	river    *river.Client[pgx.Tx]
	limits   atomic.Pointer[limits]
	share    atomic.Int64 // this process's part of Concurrency
	inflight atomic.Int64
	freed    chan struct{}

	mu      sync.Mutex
	buckets map[int64]*bucket
	senders map[int64]cachedSender
	// broadcasts: running broadcasts as sends read them (broadcastForSend).
	broadcasts map[int64]*cachedBroadcast
	dirty      map[int64]bool
	// bypassed: urgent broadcasts whose quiet-hours pass is audited.
	bypassed sync.Map

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// New builds an engine (River client included) but starts nothing.
func New(e *Engine, cfg Config) (*Engine, error) {
	e.cfg = cfg.withDefaults()
	if e.Log == nil {
		e.Log = slog.Default()
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	e.instance = "cl-" + hex.EncodeToString(id[:])
	e.share.Store(int64(e.cfg.Concurrency))
	e.freed = make(chan struct{}, 1)
	e.buckets = map[int64]*bucket{}
	e.senders = map[int64]cachedSender{}
	e.broadcasts = map[int64]*cachedBroadcast{}
	e.dirty = map[int64]bool{}

	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &sendWorker{e: e}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &prepareWorker{e: e}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &sweepWorker{e: e}); err != nil {
		return nil, err
	}
	rc, err := river.NewClient(riverpgxv5.New(e.DB.Pool), &river.Config{
		ID: e.instance,
		Queues: map[string]river.QueueConfig{
			// Room above the cap lets an admin raise it in the settings; the
			// slots (not River) hold the line.
			QueueSend:    {MaxWorkers: max(e.cfg.Concurrency, 100)},
			QueueControl: {MaxWorkers: 4},
		},
		Workers: workers,
		// A send job mostly waits (a token, a slot); its call to Twilio has
		// its own time (callTimeout). A short lease must not shorten the
		// waits, or jobs churn through snoozes under load.
		JobTimeout:           min(e.cfg.RescueAfter, max(e.cfg.SendLease/2, 30*time.Second)),
		RescueStuckJobsAfter: e.cfg.RescueAfter,
		FetchCooldown:        10 * time.Millisecond,
		FetchPollInterval:    e.cfg.PollInterval,
		Logger:               slog.New(slog.DiscardHandler),
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(e.cfg.SweepEvery),
			func() (river.JobArgs, *river.InsertOpts) { return SweepArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true})},
	})
	if err != nil {
		return nil, fmt.Errorf("broadcast: river client: %w", err)
	}
	e.river = rc
	return e, nil
}

// Instance names this process in attempts and River.
func (e *Engine) Instance() string { return e.instance }

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Start starts working jobs, including those a previous process left.
func (e *Engine) Start(ctx context.Context) error {
	ctx, e.stop = context.WithCancel(ctx)
	if err := e.river.Start(ctx); err != nil {
		return fmt.Errorf("broadcast: start river: %w", err)
	}
	e.wg.Add(2)
	go func() {
		defer e.wg.Done()
		e.publishLoop(ctx)
	}()
	go func() {
		defer e.wg.Done()
		e.heartbeat(ctx)
	}()
	return nil
}

// Stop finishes the jobs in hand (up to timeout) and stops.
func (e *Engine) Stop(ctx context.Context) error {
	err := e.river.Stop(ctx)
	if e.stop != nil {
		e.stop()
	}
	e.wg.Wait()
	if lerr := e.DB.LeaveInstance(ctx, e.instance); lerr != nil && err == nil {
		err = lerr
	}
	return err
}

// backoff is the wait before attempt n+1 (n ≥ 1): exponential with full
// jitter in [d/2, d], so a burst of 429s does not come back as one burst.
func (e *Engine) backoff(n int) time.Duration {
	d := float64(e.cfg.RetryBase) * math.Pow(2, float64(max(n-1, 0)))
	if d > float64(e.cfg.RetryMax) || d <= 0 {
		d = float64(e.cfg.RetryMax)
	}
	half := time.Duration(d / 2)
	return half + time.Duration(mrand.Int64N(int64(half)+1))
}

// markDirty asks for a progress event for the broadcast soon; events are
// coalesced so 500 sends a second make two events a second, not 500.
func (e *Engine) markDirty(broadcastID int64) {
	e.mu.Lock()
	e.dirty[broadcastID] = true
	e.mu.Unlock()
}

func (e *Engine) publishLoop(ctx context.Context) {
	t := time.NewTicker(400 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e.mu.Lock()
		ids := make([]int64, 0, len(e.dirty))
		for id := range e.dirty {
			ids = append(ids, id)
		}
		clear(e.dirty)
		e.mu.Unlock()
		for _, id := range ids {
			e.publish(ctx, id)
		}
	}
}

func (e *Engine) publish(ctx context.Context, broadcastID int64) {
	b, err := e.DB.BroadcastByID(ctx, broadcastID)
	if err != nil {
		return
	}
	var dep int64
	if b.DepartmentID != nil {
		dep = *b.DepartmentID
	}
	if err := live.Publish(ctx, e.DB.Pool, live.Event{Type: live.BroadcastProgress, BroadcastID: broadcastID, DepartmentID: dep}); err != nil && !errors.Is(err, context.Canceled) {
		e.Log.Warn("broadcast progress event", "broadcast_id", broadcastID, "err", err)
	}
}
