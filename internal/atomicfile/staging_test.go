package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestStageOutputDir(t *testing.T) {
	base := t.TempDir()
	os.WriteFile(filepath.Join(base, "file"), nil, 0o644)
	os.Mkdir(filepath.Join(base, "real"), 0o755)
	os.Symlink("real", filepath.Join(base, "link"))
	os.Symlink("nowhere", filepath.Join(base, "dangling"))
	tests := []struct {
		dir     string
		wantErr string
	}{
		{"new/sub", ""},
		{"real", ""},
		{"link", ""},
		{"file", "not a directory"},
		{"file/sub", "not a directory"},
		{"dangling", "a symbolic link to nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			dir := filepath.Join(base, tt.dir)
			s, err := Stage(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), dir) {
					t.Fatalf("Stage(%s) = %v, want an error naming it and saying %q", dir, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Stage(%s) = %v", dir, err)
			}
			defer s.Close()
			st, err := os.Stat(dir)
			if err != nil || !st.IsDir() || st.Mode().Perm()&^0o755 != 0 {
				t.Errorf("Stage(%s) left %v, %v, want a directory of at most 0755", dir, st, err)
			}
		})
	}
	if _, err := os.Lstat(filepath.Join(base, "nowhere")); err == nil {
		t.Error("Stage created the target of a dangling link")
	}
}

// TestStagingFailure: a set that fails part way leaves the previous
// outputs byte for byte, and nothing else.
func TestStagingFailure(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.rpm"), []byte("old a"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.rpm"), []byte("old b"), 0o644)
	s, err := Stage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write("a.rpm", writeString("new a")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("signer failed")
	if err := s.Write("b.rpm", func(io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want %v", err, boom)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mustFile(t, filepath.Join(dir, "a.rpm"), "old a", 0o644)
	mustFile(t, filepath.Join(dir, "b.rpm"), "old b", 0o644)
	if got := names(t, dir); !slices.Equal(got, []string{"a.rpm", "b.rpm"}) {
		t.Errorf("directory holds %q", got)
	}
}

// TestStagingCommit: a committed set replaces what had its names: a
// planted link is replaced, not followed, and lends no mode; a regular
// file lends its own; the staging directory is gone.
func TestStagingCommit(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("victim"), 0o600)
	os.Chmod(victim, 0o666)
	os.Symlink(victim, filepath.Join(dir, "a.rpm"))
	os.WriteFile(filepath.Join(dir, "b.deb"), []byte("old b"), 0o600)
	os.WriteFile(filepath.Join(dir, ".b.deb.tmp-123"), []byte("half"), 0o600) // from a killed Write
	s, err := Stage(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, name := range []string{"a.rpm", "b.deb", "c.json"} {
		if err := s.Write(name, writeString("new "+name)); err != nil {
			t.Fatal(err)
		}
	}
	if got := names(t, dir); len(got) != 4 || !strings.HasPrefix(got[1], StagingPrefix) {
		t.Errorf("before Commit the directory holds %q, want the old files and the staging directory", got)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	mustFile(t, filepath.Join(dir, "a.rpm"), "new a.rpm", 0o644)
	mustFile(t, filepath.Join(dir, "b.deb"), "new b.deb", 0o600)
	mustFile(t, filepath.Join(dir, "c.json"), "new c.json", 0o644)
	mustFile(t, victim, "victim", 0o666)
	if got := names(t, dir); !slices.Equal(got, []string{"a.rpm", "b.deb", "c.json"}) {
		t.Errorf("after Commit the directory holds %q", got)
	}
}

// TestStagingCommitRefused: a name taken by a directory stops Commit
// before anything moves.
func TestStagingCommitRefused(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.rpm"), []byte("old a"), 0o644)
	os.Mkdir(filepath.Join(dir, "b.deb"), 0o755)
	s, err := Stage(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Write("a.rpm", writeString("new a"))
	s.Write("b.deb", writeString("new b"))
	if err := s.Commit(); err == nil || !strings.Contains(err.Error(), "b.deb: is a directory") {
		t.Errorf("Commit = %v, want b.deb: is a directory", err)
	}
	s.Close()
	mustFile(t, filepath.Join(dir, "a.rpm"), "old a", 0o644)
	if got := names(t, dir); !slices.Equal(got, []string{"a.rpm", "b.deb"}) {
		t.Errorf("directory holds %q", got)
	}
	for _, bad := range []string{"", ".", "..", "sub/x", "../x", StagingPrefix + "x"} {
		if err := s.Write(bad, writeString("x")); err == nil {
			t.Errorf("Write(%q) succeeded", bad)
		}
	}
}

// TestStageRemovesStale: staging directories killed runs left are
// removed by the next Stage; one a live run holds, a link with the
// prefix (and what it points to) and a file with it are left alone.
func TestStageRemovesStale(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "keep"), []byte("keep"), 0o644)
	for _, d := range []string{"old", "live"} {
		p := filepath.Join(dir, StagingPrefix+d)
		os.Mkdir(p, 0o700)
		os.WriteFile(filepath.Join(p, "half.rpm"), []byte("half"), 0o600)
	}
	lockFile(t, filepath.Join(dir, StagingPrefix+"live"))
	os.Symlink(outside, filepath.Join(dir, StagingPrefix+"link"))
	os.WriteFile(filepath.Join(dir, StagingPrefix+"file"), nil, 0o644)
	s, err := Stage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	want := []string{StagingPrefix + "file", StagingPrefix + "link", StagingPrefix + "live"}
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("directory holds %q, want %q", got, want)
	}
	mustFile(t, filepath.Join(outside, "keep"), "keep", 0o644)
}
