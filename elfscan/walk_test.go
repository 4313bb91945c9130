package elfscan

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExpandReportsWhatItCannotScan: a directory walk keeps every entry
// named like a module that is not a directory, so that a FIFO, a link
// loop or a dangling link is reported by name, without a hang, instead
// of being left out without a word; a link to a module is scanned.
func TestExpandReportsWhatItCannotScan(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join(koDir, "6.1.0-56-amd64", "lp_param.ko"))
	if err != nil {
		t.Fatal(err)
	}
	j := func(name string) string { return filepath.Join(dir, name) }
	for _, err := range []error{
		os.WriteFile(j("a_good.ko"), good, 0o644),
		os.WriteFile(j("README"), []byte("no module"), 0o644),
		syscall.Mkfifo(j("fifo.ko"), 0o644),
		os.Symlink("loop.ko", j("loop.ko")),
		os.Symlink("nowhere.ko", j("dangling.ko")),
		os.Symlink("a_good.ko", j("weak.ko")),
		os.Mkdir(j("sub"), 0o755),
		os.Symlink("..", j("sub/up")), // a loop of directories: not walked
		os.Symlink("..", j("sub/dir.ko")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	files, err := Expand([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{j("a_good.ko"), j("dangling.ko"), j("fifo.ko"), j("loop.ko"), j("sub/dir.ko"), j("weak.ko")}
	if !slices.Equal(files, want) {
		t.Fatalf("Expand() = %q, want %q", files, want)
	}
	done := make(chan []Result, 1)
	go func() { done <- ScanFiles(context.Background(), files, nil, nil) }()
	var results []Result
	select {
	case results = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("ScanFiles hangs")
	}
	wantErr := map[string]string{
		j("dangling.ko"): "no such file or directory",
		j("fifo.ko"):     "not a regular file (a FIFO)",
		j("loop.ko"):     "too many levels of symbolic links",
		j("sub/dir.ko"):  "not a regular file (a directory)",
	}
	for _, r := range results {
		msg, bad := wantErr[r.Path]
		switch {
		case bad && r.Err == nil:
			t.Errorf("%s scanned, want an error saying %q", r.Path, msg)
		case bad && (!strings.HasPrefix(r.Err.Error(), "file "+r.Path+": ") || !strings.Contains(r.Err.Error(), msg)):
			t.Errorf("%s: error %q, want it to name the file and say %q", r.Path, r.Err, msg)
		case !bad && r.Err != nil:
			t.Errorf("%s: %v", r.Path, r.Err)
		}
	}
}

// TestScanFilesCanceled: files left unscanned by a canceled context are
// named too.
func TestScanFilesCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	files := []string{"a.ko", "b.ko", "c.ko", "d.ko", "e.ko"}
	for _, r := range ScanFiles(ctx, files, nil, nil) {
		if r.Err == nil || !strings.HasPrefix(r.Err.Error(), "file "+r.Path+": ") {
			t.Errorf("%s: error %v does not name the file", r.Path, r.Err)
		}
	}
}
