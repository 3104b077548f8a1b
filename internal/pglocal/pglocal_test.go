package pglocal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// testDir returns a fresh, short folder under /tmp that the postgres system
// user can reach when the tests run as root (t.TempDir's per-test parent is
// 0700, and a long $TMPDIR could push the socket path past its limit).
func testDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("/tmp", "pglocal-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func skipWithoutBinaries(t *testing.T) {
	t.Helper()
	if _, err := findBinaries(); err != nil {
		// CI installs PostgreSQL (.ci/run), so there a missing server is a failure.
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

func ping(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer conn.Close(ctx)
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}

func TestStartTwiceThenStop(t *testing.T) {
	skipWithoutBinaries(t)
	dir := filepath.Join(testDir(t), "var", "pg")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Two callers at once: the lock file makes one initialise, the other reuse.
	var (
		wg       sync.WaitGroup
		clusters [2]*Cluster
		errs     [2]error
		logs     [2]bytes.Buffer
	)
	for i := range clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clusters[i], errs[i] = Start(ctx, Options{Dir: dir, DBName: "classline", Fast: true, Log: &logs[i]})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Start #%d: %v", i, err)
		}
	}
	c := clusters[0]
	t.Cleanup(func() { _ = c.Stop() })
	t.Logf("log:\n%s%s", logs[0].String(), logs[1].String())

	if c.Dir != dir {
		t.Errorf("Dir = %s, want %s (no fallback expected)", c.Dir, dir)
	}
	url := c.URL("classline")
	want := "postgres://postgres@/classline?host=" + dir + "/socket&port=5432&sslmode=disable"
	if url != want {
		t.Errorf("URL = %s, want %s", url, want)
	}
	if clusters[1].URL("classline") != url {
		t.Errorf("second Start URL = %s, want %s", clusters[1].URL("classline"), url)
	}
	ping(t, url)

	if fi, err := os.Stat(c.SocketDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket folder mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	if _, err := os.Stat(c.LogFile); err != nil {
		t.Errorf("server log: %v", err)
	}

	// Again, on a running cluster: same URL, nothing initialised or started.
	var again bytes.Buffer
	c2, err := Start(ctx, Options{Dir: dir, DBName: "classline", Fast: true, Log: &again})
	if err != nil {
		t.Fatalf("Start again: %v", err)
	}
	if c2.URL("classline") != url {
		t.Errorf("URL after restart = %s, want %s", c2.URL("classline"), url)
	}
	if strings.Contains(again.String(), "starting") || strings.Contains(again.String(), "creating") {
		t.Errorf("Start on a running cluster did work:\n%s", again.String())
	}
	ping(t, url)

	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if running, err := c.running(ctx); err != nil || running {
		t.Fatalf("running after Stop = %v, %v", running, err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("Stop on a stopped cluster: %v", err)
	}

	// Start brings a stopped cluster back; StopDir stops it by folder.
	c3, err := Start(ctx, Options{Dir: dir, DBName: "classline", Fast: true})
	if err != nil {
		t.Fatalf("Start after Stop: %v", err)
	}
	ping(t, c3.URL("classline"))
	if err := StopDir(dir); err != nil {
		t.Fatalf("StopDir: %v", err)
	}
	if running, err := c3.running(ctx); err != nil || running {
		t.Fatalf("running after StopDir = %v, %v", running, err)
	}
}

// As root, a folder the postgres user cannot enter sends the cluster to the
// fallback root, and StopDir finds it there.
func TestFallbackWhenPostgresCannotEnter(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: only then does the server run as another user")
	}
	skipWithoutBinaries(t)
	closed := filepath.Join(t.TempDir(), "closed")
	if err := os.Mkdir(closed, 0o700); err != nil { // like /root
		t.Fatal(err)
	}
	oldRoot := fallbackRoot
	fallbackRoot = testDir(t)
	t.Cleanup(func() { fallbackRoot = oldRoot })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := filepath.Join(closed, "pg")
	var log bytes.Buffer
	c, err := Start(ctx, Options{Dir: dir, Fast: true, Log: &log})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	if want := fallbackDir(dir); c.Dir != want {
		t.Fatalf("Dir = %s, want fallback %s", c.Dir, want)
	}
	if !strings.Contains(log.String(), "instead of "+dir) {
		t.Errorf("no log line about the fallback:\n%s", log.String())
	}
	ping(t, c.URL("postgres"))
	if err := StopDir(dir); err != nil {
		t.Fatalf("StopDir: %v", err)
	}
	if running, err := c.running(ctx); err != nil || running {
		t.Fatalf("running after StopDir = %v, %v", running, err)
	}
}

func TestChooseDir(t *testing.T) {
	long := "/tmp/" + strings.Repeat("x", 100) + "/pg"
	if d, why := chooseDir(long, nil); d != fallbackDir(long) || !strings.Contains(why, "socket path") {
		t.Errorf("long path: %s, %q", d, why)
	}
	if d, why := chooseDir("/tmp/short/pg", nil); d != "/tmp/short/pg" || why != "" {
		t.Errorf("short path: %s, %q", d, why)
	}
	if n := len(socketPath(fallbackDir(long))); n > maxSocketPath {
		t.Errorf("fallback socket path is %d bytes", n)
	}

	closed := t.TempDir()
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	stranger := &account{name: "stranger", uid: 54321, gid: 54321, groups: []uint32{54321}}
	d, why := chooseDir(filepath.Join(closed, "sub", "pg"), stranger)
	if d == filepath.Join(closed, "sub", "pg") || !strings.Contains(why, "cannot enter /") {
		t.Errorf("closed folder: %s, %q", d, why)
	}
	if d, why := chooseDir("/tmp/pg", stranger); d != "/tmp/pg" || why != "" {
		t.Errorf("/tmp: %s, %q", d, why)
	}
}

func TestMissingBinaries(t *testing.T) {
	oldLook, oldGlob := lookPath, binDirGlob
	t.Cleanup(func() { lookPath, binDirGlob = oldLook, oldGlob })
	lookPath = func(string) (string, error) { return "", exec.ErrNotFound }
	binDirGlob = filepath.Join(t.TempDir(), "*", "bin")

	_, err := Start(context.Background(), Options{Dir: filepath.Join(t.TempDir(), "pg")})
	if !errors.Is(err, ErrNoBinaries) {
		t.Fatalf("err = %v, want ErrNoBinaries", err)
	}
	const want = "PostgreSQL server binaries not found; install Debian's `postgresql` package (apt-get install -y postgresql) or set DATABASE_URL"
	if err.Error() != want {
		t.Fatalf("message = %q\nwant      %q", err.Error(), want)
	}
}

func TestFindBinariesPicksHighestVersion(t *testing.T) {
	oldLook, oldGlob := lookPath, binDirGlob
	t.Cleanup(func() { lookPath, binDirGlob = oldLook, oldGlob })
	lookPath = func(string) (string, error) { return "", exec.ErrNotFound }
	root := t.TempDir()
	binDirGlob = filepath.Join(root, "*", "bin")
	for _, v := range []string{"9.6", "15", "16", "17"} {
		bin := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		progs := []string{"pg_ctl", "initdb", "postgres"}
		if v == "17" {
			progs = progs[:1] // incomplete install: skipped
		}
		for _, p := range progs {
			if err := os.WriteFile(filepath.Join(bin, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := findBinaries()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "16", "bin", "pg_ctl"); b.pgCtl != want {
		t.Errorf("pg_ctl = %s, want %s", b.pgCtl, want)
	}
}
