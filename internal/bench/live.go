package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/classline/classline/internal/twiliosim"
)

// liveToken marks each inbound message so the streams can tell which
// event a fragment belongs to; it appears in the rendered message bubble.
var liveToken = regexp.MustCompile(`lg(\d{6})`)

// live: Clients signed-in streams on GET /events (the page's sse-connect),
// then Events signed inbound webhooks, one every EventInterval; each
// stream notes when each message's fragment arrives. Latency is measured
// from the webhook's 200 (the message is committed, the NOTIFY sent) and,
// beside it, from the moment the webhook was posted.
func (r *runner) live(ctx context.Context, res *Result, run int) error {
	o := r.o
	dbURL, err := r.dbs.get(ctx, "classline_bench_live", true)
	if err != nil {
		return err
	}
	f, err := prepare(ctx, dbURL)
	if err != nil {
		return err
	}
	defer f.close()
	sim, err := startSim(twiliosim.Config{StepDelay: time.Hour})
	if err != nil {
		return err
	}
	defer sim.Close()
	return r.withApp(ctx, res, run, dbURL, sim, func(app *appProc) error {
		// One session for every stream, one connection per stream.
		c, err := signIn(ctx, app.URL, f.email, f.password, &http.Transport{MaxIdleConnsPerHost: o.Clients + 4})
		if err != nil {
			return err
		}
		streamCtx, stopStreams := context.WithCancel(ctx)
		defer stopStreams()
		arrivals := make([][]time.Time, o.Clients) // [client][event]
		var wg sync.WaitGroup
		var received atomic.Int64
		connected := make(chan error, o.Clients)
		for i := range arrivals {
			arrivals[i] = make([]time.Time, o.Events)
			wg.Add(1)
			go func() {
				defer wg.Done()
				stream(streamCtx, c, app.URL+"/events", arrivals[i], &received, connected)
			}()
		}
		for range o.Clients {
			select {
			case err := <-connected:
				if err != nil {
					return err
				}
			case <-time.After(30 * time.Second):
				return fmt.Errorf("bench: the streams did not all connect")
			}
		}
		hooks := webhooks{client: &http.Client{Timeout: 30 * time.Second}, addr: app.URL, publicURL: app.URL, token: sim.Token}
		sent := make([]time.Time, o.Events)
		acked := make([]time.Time, o.Events)
		var webhookLat []time.Duration
		for e := range o.Events {
			body := fmt.Sprintf("Bench live lg%06d: is the school bus running today?", e)
			form := InboundForm(sim.AccountSID, fmt.Sprintf("SMlive%028d", e), fmt.Sprintf("+14159%06d", e%50), benchSMS, body)
			sent[e] = time.Now()
			code, err := hooks.post(ctx, "/webhooks/twilio/inbound", form)
			acked[e] = time.Now()
			if err != nil || code != http.StatusOK {
				return fmt.Errorf("bench: inbound webhook %d: %d %v", e, code, err)
			}
			webhookLat = append(webhookLat, acked[e].Sub(sent[e]))
			time.Sleep(o.EventInterval)
		}
		// Stragglers: up to 5 s for the last events to reach every stream.
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && received.Load() < int64(o.Clients*o.Events) {
			time.Sleep(20 * time.Millisecond)
		}
		stopStreams()
		wg.Wait()
		var from200, fromPost []time.Duration
		for _, row := range arrivals {
			for e, at := range row {
				if !at.IsZero() {
					from200 = append(from200, at.Sub(acked[e]))
					fromPost = append(fromPost, at.Sub(sent[e]))
				}
			}
		}
		a, p, w := Summarize(from200), Summarize(fromPost), Summarize(webhookLat)
		res.add("webhook 200 → event at every stream, p50", ms(a.P50), "ms")
		res.add("webhook 200 → event at every stream, p95", ms(a.P95), "ms")
		res.add("webhook 200 → event at every stream, p99", ms(a.P99), "ms")
		res.add("webhook posted → event, p50", ms(p.P50), "ms")
		res.add("webhook posted → event, p95", ms(p.P95), "ms")
		res.add("inbound webhook answer p50", ms(w.P50), "ms")
		res.add("events not received", float64(missing(arrivals)), "")
		res.note("%d SSE streams of one signed-in admin, %d inbound messages %s apart; a stream can get an event before its webhook's 200 reaches the sender (NOTIFY goes out at commit), so the first figure may be negative",
			o.Clients, o.Events, o.EventInterval)
		return nil
	})
}

// stream reads the SSE stream at u until ctx ends, noting in seen when each
// event's token first arrives. It reports on connected once the server's
// ": connected" comment has come (or the error that prevented it).
func stream(ctx context.Context, c *http.Client, u string, seen []time.Time, received *atomic.Int64, connected chan<- error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.Do(req)
	if err != nil {
		connected <- err
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		connected <- fmt.Errorf("bench: GET /events: %d", resp.StatusCode)
		return
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	reported := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if !reported {
				connected <- fmt.Errorf("bench: stream ended before connecting: %w", err)
			}
			return
		}
		now := time.Now()
		if !reported && strings.HasPrefix(line, ": connected") {
			reported = true
			connected <- nil
			continue
		}
		if !strings.HasPrefix(line, "data:") {
			continue
		}
		for _, m := range liveToken.FindAllStringSubmatch(line, -1) {
			if e, _ := strconv.Atoi(m[1]); e < len(seen) && seen[e].IsZero() {
				seen[e] = now
				received.Add(1)
			}
		}
	}
}

// missing counts (stream, event) pairs never received; call it once the
// streams have ended.
func missing(arrivals [][]time.Time) int {
	n := 0
	for _, row := range arrivals {
		for _, at := range row {
			if at.IsZero() {
				n++
			}
		}
	}
	return n
}
