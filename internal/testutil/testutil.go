// Package testutil holds what klpack's tests share: golden files with an
// -update flag that CI may not use, and the only ways a test may skip: a
// missing tool (Missing, NeedTool), which fails instead under
// KLPACK_REQUIRE_TOOLS=1, and a slow test under -short (Slow).
package testutil

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// Update rewrites golden files instead of comparing with them. Read it
// through Updating, which refuses it under CI.
var Update = flag.Bool("update", false, "rewrite golden files")

// Updating reports whether the test is to rewrite its expected output
// (-update). With CI set it fails the test instead: a CI run that rewrites
// the goldens it compares with would pass whatever the code does.
func Updating(t testing.TB) bool {
	t.Helper()
	if !*Update {
		return false
	}
	if ci := os.Getenv("CI"); ci != "" {
		t.Fatalf("-update refused: CI=%q is set, and CI must compare with the committed goldens, not rewrite them", ci)
	}
	return true
}

// Golden compares got with testdata/golden/<test name>.golden of the
// calling package, or rewrites the file under -update.
func Golden(t testing.TB, got []byte) {
	t.Helper()
	GoldenFile(t, filepath.Join("testdata", "golden", filepath.FromSlash(t.Name())+".golden"), got)
}

// GoldenFile is Golden for a golden file at path, for goldens that live
// beside the inputs they describe (testdata/gen/<tool>/golden).
func GoldenFile(t testing.TB, path string, got []byte) {
	t.Helper()
	if Updating(t) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", path, lineDiff(want, got))
	}
}

// lineDiff shows the first lines that differ.
func lineDiff(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 20; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want: %s\n  got:  %s\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}

// RequireTools reports whether missing tools must fail tests.
func RequireTools() bool { return os.Getenv("KLPACK_REQUIRE_TOOLS") == "1" }

// Missing skips the test for a missing prerequisite, or fails it under
// KLPACK_REQUIRE_TOOLS=1: CI must not pass by skipping real checks.
func Missing(t testing.TB, why string) {
	t.Helper()
	if RequireTools() {
		t.Fatalf("required for this test: %s (KLPACK_REQUIRE_TOOLS=1)", why)
	}
	t.Skip(why)
}

// Slow skips a slow test (why says what makes it slow) under go test
// -short, the one opt-out of a tier. Under KLPACK_REQUIRE_TOOLS=1 it fails
// instead: -short there would let CI pass without the test.
func Slow(t testing.TB, why string) {
	t.Helper()
	if !testing.Short() {
		return
	}
	if RequireTools() {
		t.Fatalf("-short with KLPACK_REQUIRE_TOOLS=1 would skip a slow test: %s", why)
	}
	t.Skip("-short: " + why)
}

// NeedTool returns the path of a program on $PATH, or skips/fails.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name+" not installed")
	}
	return p
}

// Root is the repository root, found from this file's location.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// TreesDir is where scripts/fetch-trees.sh unpacked the real Debian module
// trees: $KLPACK_TREES (the Makefile's $(CACHE)/trees), else trees under
// CacheDir.
func TreesDir() string {
	if d := os.Getenv("KLPACK_TREES"); d != "" {
		return d
	}
	return filepath.Join(CacheDir(), "trees")
}

// CacheDir is where downloads and builds live, outside the repository.
func CacheDir() string {
	if d := os.Getenv("KLPACK_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "klpack")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "klpack")
}

// HostileFiles makes, in a fresh temporary directory, a FIFO (whose open
// or read would block a careless reader) and a sparse file of size bytes
// (one past a reader's limit, costing no disk), and returns their paths.
func HostileFiles(t testing.TB, size int64) (fifo, huge string) {
	t.Helper()
	dir := t.TempDir()
	fifo, huge = filepath.Join(dir, "fifo"), filepath.Join(dir, "huge")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(huge, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, size); err != nil {
		t.Fatal(err)
	}
	return fifo, huge
}
