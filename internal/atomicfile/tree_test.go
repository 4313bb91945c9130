package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCommitOrder(t *testing.T) {
	files := []string{"SHA256SUMS", "rpm/repodata/repomd.xml", "rpm/a.rpm", "deb/dists/stable/Release", "deb/pool/main/a.deb", "plan.json", "deb/distsx"}
	commitOrder(files, []string{"deb/dists", "rpm/repodata", "SHA256SUMS"})
	want := []string{"deb/distsx", "deb/pool/main/a.deb", "plan.json", "rpm/a.rpm", "deb/dists/stable/Release", "rpm/repodata/repomd.xml", "SHA256SUMS"}
	if !slices.Equal(files, want) {
		t.Errorf("commit order %v, want %v", files, want)
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

// TestCommitTree: nested files land in place; files linked in from the
// output stay the same inode; pruned directories lose what the new tree
// does not hold, other directories keep it.
func TestCommitTree(t *testing.T) {
	out := t.TempDir()
	write(t, filepath.Join(out, "rpm/old.rpm"), "old package")
	write(t, filepath.Join(out, "rpm/repodata/aaa-primary.xml.gz"), "old index")
	write(t, filepath.Join(out, "keep/notes"), "mine")
	write(t, filepath.Join(out, "rpm/rebuilt.rpm"), "earlier build")
	oldInfo, _ := os.Stat(filepath.Join(out, "rpm/old.rpm"))
	s, err := Stage(out)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := s.TreeDir()
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(tree, "rpm/rebuilt.rpm"), "this build")
	if err := s.LinkExisting("rpm", func(n string) bool { return strings.HasSuffix(n, ".rpm") }); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(tree, "rpm/old.rpm")); got != "old package" {
		t.Fatalf("LinkExisting: staged old.rpm = %q", got)
	}
	if _, err := os.Stat(filepath.Join(tree, "rpm/repodata/aaa-primary.xml.gz")); err == nil {
		t.Error("LinkExisting linked a file its match refused")
	}
	write(t, filepath.Join(tree, "rpm/new.rpm"), "new package")
	write(t, filepath.Join(tree, "rpm/repodata/bbb-primary.xml.gz"), "new index")
	moved, err := s.CommitTree(TreeOptions{Last: []string{"rpm/repodata"}, Prune: []string{"rpm/repodata"}})
	if err != nil {
		t.Fatal(err)
	}
	// The linked-in old.rpm stays; the index moves last.
	if want := []string{"rpm/new.rpm", "rpm/rebuilt.rpm", "rpm/repodata/bbb-primary.xml.gz"}; !slices.Equal(moved, want) {
		t.Errorf("moved %q, want %q", moved, want)
	}
	for p, want := range map[string]string{
		"rpm/old.rpm": "old package", "rpm/new.rpm": "new package",
		"rpm/repodata/bbb-primary.xml.gz": "new index", "keep/notes": "mine", "rpm/rebuilt.rpm": "this build",
	} {
		if got := read(t, filepath.Join(out, p)); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "rpm/repodata/aaa-primary.xml.gz")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the stale index in a pruned directory stayed: %v", err)
	}
	if info, _ := os.Stat(filepath.Join(out, "rpm/old.rpm")); !os.SameFile(info, oldInfo) {
		t.Error("the linked-in file was replaced, not left in place")
	}
	if info, _ := os.Stat(filepath.Join(out, "rpm/new.rpm")); info.Mode().Perm() != Mode {
		t.Errorf("new file mode %v, want %v", info.Mode().Perm(), Mode)
	}
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), StagingPrefix) {
			t.Errorf("staging directory %s left", e.Name())
		}
	}
}

// TestCommitTreeRefused: a staged symbolic link, or a directory where a
// file goes, stops the commit before anything moves.
func TestCommitTreeRefused(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T, out, tree string)
		want  string
	}{
		{"staged symlink", func(t *testing.T, out, tree string) {
			os.Symlink("/etc/passwd", filepath.Join(tree, "b/link"))
		}, "not a regular file"},
		{"directory in the way", func(t *testing.T, out, tree string) {
			os.MkdirAll(filepath.Join(out, "b/x"), 0o755)
			write(t, filepath.Join(tree, "b/x"), "file")
		}, "a directory has its name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			s, err := Stage(out)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			tree, _ := s.TreeDir()
			write(t, filepath.Join(tree, "a/first"), "1")
			os.MkdirAll(filepath.Join(tree, "b"), 0o755)
			tt.setup(t, out, tree)
			_, err = s.CommitTree(TreeOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CommitTree = %v, want %q", err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(out, "a/first")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a file moved before the refusal: %v", err)
			}
		})
	}
}
