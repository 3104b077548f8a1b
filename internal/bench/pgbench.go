package bench

import (
	"bufio"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	//go:embed pgbench_upsert.sql
	pgbenchUpsert string
	//go:embed pgbench_callback.sql
	pgbenchCallback string
)

// pgbenchResult is what pgbench sustained: transactions per second and the
// latency of each transaction (from its per-transaction log).
type pgbenchResult struct {
	TPS     float64
	Latency Latency
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// runPgbench runs script with clients connections for d against dbURL, the
// same database the app used, and reads every transaction's latency from
// pgbench's log so the percentiles are computed as the app's are.
func runPgbench(ctx context.Context, bin, dbURL, script string, clients int, d time.Duration, vars map[string]string) (pgbenchResult, error) {
	var res pgbenchResult
	dir, err := os.MkdirTemp("", "classline-pgbench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "script.sql")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		return res, err
	}
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(clients), "-j", "2",
		"-T", strconv.Itoa(max(1, int(d.Seconds()))), "-f", path, "-l", "--log-prefix", filepath.Join(dir, "tx")}
	for k, v := range vars {
		args = append(args, "-D", k+"="+v)
	}
	cmd := exec.CommandContext(ctx, bin, append(args, libpqURL(dbURL))...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return res, fmt.Errorf("bench: pgbench: %w\n%s", err, out)
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		return res, fmt.Errorf("bench: no tps in pgbench's output:\n%s", out)
	}
	res.TPS, _ = strconv.ParseFloat(string(m[1]), 64)
	logs, _ := filepath.Glob(filepath.Join(dir, "tx.*"))
	var samples []time.Duration
	for _, l := range logs {
		s, err := readPgbenchLog(l)
		if err != nil {
			return res, err
		}
		samples = append(samples, s...)
	}
	res.Latency = Summarize(samples)
	return res, nil
}

// readPgbenchLog reads a per-transaction log: "client tx latency_us script
// epoch us" per line.
func readPgbenchLog(path string) ([]time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []time.Duration
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 3 {
			continue
		}
		us, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			continue // "skipped" transactions of a rate-limited run
		}
		out = append(out, time.Duration(us)*time.Microsecond)
	}
	return out, s.Err()
}
