package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

// mustFile checks that path is a regular file holding want with mode.
func mustFile(t *testing.T, path, want string, mode fs.FileMode) {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !st.Mode().IsRegular() || string(b) != want || st.Mode().Perm() != mode {
		t.Errorf("%s: %v holding %q, want a regular file %v holding %q", path, st.Mode(), b, mode, want)
	}
}

// names lists dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// lockFile holds a lock on path as a live run would, until the test ends.
func lockFile(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.json")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A failed write leaves the old file and no temporary file.
	boom := errors.New("boom")
	err := Write(path, func(w io.Writer) error {
		io.WriteString(w, "half")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want %v", err, boom)
	}
	mustFile(t, path, "old", 0o600)
	if got := names(t, dir); !slices.Equal(got, []string{"out.json"}) {
		t.Errorf("after a failed write the directory holds %q", got)
	}
	// A good write replaces it and keeps its mode.
	if err := Write(path, writeString("new")); err != nil {
		t.Fatal(err)
	}
	mustFile(t, path, "new", 0o600)
	// A new file gets Mode.
	if err := Write(filepath.Join(dir, "fresh"), writeString("x")); err != nil {
		t.Fatal(err)
	}
	mustFile(t, filepath.Join(dir, "fresh"), "x", Mode)
	// A missing directory is an error, not a panic.
	if err := Write(filepath.Join(dir, "no", "such"), writeString("")); err == nil {
		t.Error("Write into a missing directory succeeded")
	}
}

// TestWriteSymlink: a link planted where the output goes lends it neither
// its target's mode nor its target: the link is replaced by a 0644 file
// and the world-writable target is untouched.
func TestWriteSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("victim"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(victim, 0o666); err != nil { // past the umask
		t.Fatal(err)
	}
	path := filepath.Join(dir, "out.rpm")
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, writeString("package")); err != nil {
		t.Fatal(err)
	}
	mustFile(t, path, "package", 0o644)
	mustFile(t, victim, "victim", 0o666)
}

// TestWriteRemovesStale: a temporary file a killed run left beside the
// output is removed by the next write; one a live run holds, a link, and
// other names are not.
func TestWriteRemovesStale(t *testing.T) {
	dir := t.TempDir()
	elsewhere := filepath.Join(t.TempDir(), "target")
	os.WriteFile(elsewhere, []byte("keep"), 0o644)
	for name, body := range map[string]string{".out.tmp-1": "stale", ".out.tmp-live": "live", ".other.tmp-1": "other"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	lockFile(t, filepath.Join(dir, ".out.tmp-live"))
	if err := os.Symlink(elsewhere, filepath.Join(dir, ".out.tmp-link")); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(dir, "out"), writeString("new")); err != nil {
		t.Fatal(err)
	}
	want := []string{".other.tmp-1", ".out.tmp-link", ".out.tmp-live", "out"}
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("directory holds %q, want %q", got, want)
	}
	mustFile(t, elsewhere, "keep", 0o644)
}

// TestParentMissing: Write and CheckParent never create the directory of
// an output file; they name it, missing or not a directory.
func TestParentMissing(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, want string
	}{
		{filepath.Join(dir, "nodir", "out.json"), "file " + dir + "/nodir/out.json: directory " + dir + "/nodir does not exist"},
		{filepath.Join(dir, "a", "b", "out.json"), "file " + dir + "/a/b/out.json: directory " + dir + "/a/b does not exist"},
		{filepath.Join(file, "out.json"), "file " + file + "/out.json: directory " + file + ": not a directory"},
	}
	for _, tt := range tests {
		for name, f := range map[string]func(string) error{
			"Write":       func(p string) error { return Write(p, writeString("x")) },
			"CheckParent": CheckParent,
		} {
			err := f(tt.path)
			if err == nil || err.Error() != tt.want {
				t.Errorf("%s(%s) = %v, want %q", name, tt.path, err, tt.want)
			}
			if _, err := os.Stat(filepath.Dir(tt.path)); err == nil && filepath.Dir(tt.path) != file {
				t.Errorf("%s(%s) created the directory", name, tt.path)
			}
		}
	}
	if err := CheckParent(filepath.Join(dir, "out.json")); err != nil {
		t.Errorf("CheckParent in an existing directory: %v", err)
	}
	if err := CheckParent("out.json"); err != nil {
		t.Errorf("CheckParent in the working directory: %v", err)
	}
}
