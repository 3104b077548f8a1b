package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// appProc is `classline serve` running as a child process, so its memory
// (VmHWM) and start-up are its own and not the load generator's.
type appProc struct {
	cmd     *exec.Cmd
	URL     string        // its listener, which is also PUBLIC_URL
	Startup time.Duration // exec to the first page served (GET /login 200)
	Idle    int64         // resident set size once serving, before any load
	work    string        // temporary folder: the app's CLASSLINE_VAR and its log
	logPath string
	exited  chan struct{}
	waitErr error
}

// appConfig is what a scenario's app needs besides the binary.
type appConfig struct {
	DatabaseURL string
	Sim         *simServer
	Profile     string // non-empty: CPU and heap profiles written to Profile.{cpu,heap}.pprof
}

// startApp starts the app and waits until it serves its sign-in page.
func startApp(ctx context.Context, o Options, c appConfig) (*appProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "classline-loadgen-")
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	env := map[string]string{
		"DATABASE_URL":       c.DatabaseURL,
		"ADDR":               addr,
		"PUBLIC_URL":         "http://" + addr,
		"TWILIO_ACCOUNT_SID": c.Sim.AccountSID,
		"TWILIO_AUTH_TOKEN":  c.Sim.Token,
		"TWILIO_API_BASE":    c.Sim.URL,
		"SESSION_KEY":        hex.EncodeToString(key),
		"CLASSLINE_VAR":      filepath.Join(work, "var"),
		"LOG_LEVEL":          o.LogLevel,
	}
	args := []string{"serve"}
	if c.Profile != "" {
		// A hidden subcommand of the same binary: serve, with CPU and heap
		// profiles of the whole run (cmd/classline/loadgen.go).
		args = []string{"loadgen", "serve-profiled", "-cpuprofile", c.Profile + ".cpu.pprof", "-memprofile", c.Profile + ".heap.pprof"}
	}
	cmd := exec.Command(o.Binary, args...)
	cmd.Env = childEnv(env)
	logPath := filepath.Join(work, "app.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The app must not outlive the load generator (Ctrl-C, a crash).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	a := &appProc{cmd: cmd, URL: "http://" + addr, work: work, logPath: logPath, exited: make(chan struct{})}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("bench: start %s: %w", o.Binary, err)
	}
	go func() {
		a.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(a.exited)
	}()
	if err := a.waitServing(ctx, 2*time.Minute); err != nil {
		a.kill()
		return nil, fmt.Errorf("%w%s", err, a.logTail())
	}
	a.Startup = time.Since(started)
	a.Idle, _ = a.RSS()
	return a, nil
}

// waitServing polls GET /login until it answers 200: the first page served.
func (a *appProc) waitServing(ctx context.Context, limit time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	for {
		resp, err := client.Get(a.URL + "/login")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-a.exited:
			return fmt.Errorf("bench: the app exited while starting: %v", a.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("bench: the app did not serve /login in time")
		}
	}
}

// PeakRSS is the app's peak resident set size so far (VmHWM), in bytes.
func (a *appProc) PeakRSS() (int64, error) { return a.status("VmHWM") }

// RSS is the app's resident set size now (VmRSS), in bytes.
func (a *appProc) RSS() (int64, error) { return a.status("VmRSS") }

// status reads a "kB" field of /proc/<pid>/status.
func (a *appProc) status(field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("bench: no %s in /proc status", field)
}

// Stop asks the app to drain (SIGTERM) and waits; it is killed after 30 s.
func (a *appProc) Stop() error {
	select {
	case <-a.exited:
		return fmt.Errorf("bench: the app had exited: %v%s", a.waitErr, a.logTail())
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
		if a.waitErr != nil {
			return fmt.Errorf("bench: the app ended with %v%s", a.waitErr, a.logTail())
		}
		_ = os.RemoveAll(a.work) // kept, with the log, when something went wrong
		return nil
	case <-time.After(30 * time.Second):
		a.kill()
		return errors.New("bench: the app did not stop within 30 s of SIGTERM; killed")
	}
}

func (a *appProc) kill() {
	_ = a.cmd.Process.Kill()
	<-a.exited
}

// logTail is the end of the app's output, for errors.
func (a *appProc) logTail() string {
	b, err := os.ReadFile(a.logPath)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "\napp output (" + a.logPath + "):\n" + strings.Join(lines, "\n")
}

// childEnv is this process's environment with the app's settings on top;
// Classline settings of the caller's shell are dropped so they cannot leak in.
func childEnv(set map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ours := set[k]; ours || strings.HasPrefix(k, "TWILIO_") || strings.HasPrefix(k, "CLASSLINE_") {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range set {
		out = append(out, k+"="+v)
	}
	return out
}

// freeAddr returns a loopback address nobody listens on (a small race with
// other programs picking ports, acceptable for a benchmark).
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}
