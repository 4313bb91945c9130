package docscheck

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/klpack/klpack/internal/testutil"
)

var (
	// A Markdown link or image: [text](target), target without blanks.
	linkRe = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// A path in backquotes that names a file of the repository by its
	// top directory.
	codePathRe = regexp.MustCompile("`((?:docs|scripts|testdata|templates|cmd|pkg|internal|elfscan|build|mk)/[A-Za-z0-9_./+-]*|[A-Za-z0-9_-]+\\.md)`")
)

// markdownFiles are README.md and every Markdown file under docs/,
// relative to the repository.
func markdownFiles(t *testing.T, repo string) []string {
	t.Helper()
	files := []string{"README.md"}
	err := filepath.WalkDir(filepath.Join(repo, "docs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			rel, err := filepath.Rel(repo, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// slug is the anchor GitHub gives a heading: lower case, blanks to
// hyphens, punctuation other than hyphens and underscores dropped.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors are the anchors of a Markdown file's headings.
func anchors(page []byte) []string {
	var out []string
	inCode := false
	for line := range strings.SplitSeq(string(page), "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if !inCode && strings.HasPrefix(line, "#") {
			out = append(out, slug(strings.TrimLeft(line, "#")))
		}
	}
	return out
}

// resolve checks one link target of the file from (repository-relative)
// and says what is wrong with it, or "" when it resolves.
func resolve(repo, from, target string) string {
	if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
		return ""
	}
	file, anchor, _ := strings.Cut(target, "#")
	rel := from
	if file != "" {
		rel = path.Join(path.Dir(from), file)
		if strings.HasSuffix(file, "/") {
			rel += "/"
		}
	}
	if rel == ".." || strings.HasPrefix(rel, "../") || path.IsAbs(file) {
		return "points outside the repository"
	}
	st, err := os.Stat(filepath.Join(repo, filepath.FromSlash(rel)))
	if err != nil {
		return "no such file in the repository: " + rel
	}
	if anchor != "" {
		if st.IsDir() || !strings.HasSuffix(rel, ".md") {
			return "an anchor into " + rel + ", which is no Markdown file"
		}
		page, err := os.ReadFile(filepath.Join(repo, filepath.FromSlash(rel)))
		if err != nil {
			return err.Error()
		}
		if !slices.Contains(anchors(page), anchor) {
			return "no heading #" + anchor + " in " + rel
		}
	}
	return ""
}

// TestDocLinks checks that every relative link in README.md and in the
// Markdown files under docs/ names a file (or directory) of the
// repository, and a heading where it has an anchor; and that every
// repository path README.md names in backquotes exists.
func TestDocLinks(t *testing.T) {
	repo := testutil.Root()
	for _, md := range markdownFiles(t, repo) {
		page, err := os.ReadFile(filepath.Join(repo, filepath.FromSlash(md)))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range linkRe.FindAllStringSubmatch(string(page), -1) {
			if msg := resolve(repo, md, m[1]); msg != "" {
				t.Errorf("%s: link (%s): %s", md, m[1], msg)
			}
		}
		if md != "README.md" {
			continue
		}
		for _, m := range codePathRe.FindAllStringSubmatch(string(page), -1) {
			p := strings.TrimSuffix(m[1], "/")
			if _, err := os.Stat(filepath.Join(repo, filepath.FromSlash(p))); err != nil {
				t.Errorf("%s names `%s`, which is not in the repository", md, m[1])
			}
		}
	}
}

// TestResolve shows what resolve accepts and refuses, by hand-written
// cases over this repository.
func TestResolve(t *testing.T) {
	repo := testutil.Root()
	for _, tt := range []struct {
		from, target string
		ok           bool
	}{
		{"README.md", "docs/security.md", true},
		{"README.md", "docs/deployed-state.md#module-record-keys", true},
		{"README.md", "docs/deployed-state.md#no-such-heading", false},
		{"README.md", "DESIGN.md", false},
		{"docs/acks.md", "klpack-yaml.md", true},
		{"docs/acks.md", "../testdata/states/", true},
		{"docs/acks.md", "../../outside.md", false},
		{"docs/cli/klpack.md", "klpack_scan.md", true},
		{"docs/cli/klpack.md", "klpack_nosuch.md", false},
		{"README.md", "https://example.com/x.md", true},
		{"README.md", "#documentation", true},
		{"README.md", "#nowhere", false},
	} {
		msg := resolve(repo, tt.from, tt.target)
		if (msg == "") != tt.ok {
			t.Errorf("resolve(%s, %s) = %q, want ok=%v", tt.from, tt.target, msg, tt.ok)
		}
	}

}
