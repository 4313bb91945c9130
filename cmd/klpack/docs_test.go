//go:build !klpack_host

// The host build (-tags klpack_host) leaves the release commands out: the
// reference pages document the full klpack, so they are checked against
// its command tree only.

package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/klpack/klpack/internal/testutil"
)

// manDate is the date in every man page's header. A date taken from the
// clock would change every page on every run; this one changes when
// someone means it to.
var manDate = time.Date(2026, time.December, 1, 0, 0, 0, 0, time.UTC)

// The directories of the generated pages, relative to the repository.
const (
	cliDir = "docs/cli"
	manDir = "docs/man"
)

// renderDocs renders a Markdown page and a man page (section 1) for root
// and every command under it that a user can run or ask help for, keyed
// by their path relative to the repository. Hidden commands, cobra's help
// command and help topics have none.
func renderDocs(root *cobra.Command) (map[string][]byte, error) {
	root.InitDefaultVersionFlag()
	pages := map[string][]byte{}
	header := &doc.GenManHeader{Title: "KLPACK", Section: "1", Date: &manDate, Source: "klpack", Manual: "klpack manual"}
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		c.DisableAutoGenTag = true
		var md, man bytes.Buffer
		if err := doc.GenMarkdownCustom(c, &md, func(s string) string { return s }); err != nil {
			return fmt.Errorf("%s: markdown: %w", c.CommandPath(), err)
		}
		// GenMan fills the header it is given: each page gets a copy.
		h := *header
		if err := doc.GenMan(c, &h, &man); err != nil {
			return fmt.Errorf("%s: man: %w", c.CommandPath(), err)
		}
		pages[cliDir+"/"+strings.ReplaceAll(c.CommandPath(), " ", "_")+".md"] = md.Bytes()
		pages[manDir+"/"+strings.ReplaceAll(c.CommandPath(), " ", "-")+".1"] = man.Bytes()
		for _, s := range c.Commands() {
			if !s.IsAvailableCommand() || s.IsAdditionalHelpTopicCommand() {
				continue
			}
			if err := walk(s); err != nil {
				return err
			}
		}
		return nil
	}
	return pages, walk(root)
}

// committedDocs reads every file under docs/cli and docs/man.
func committedDocs(t *testing.T, repo string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, dir := range []string{cliDir, manDir} {
		err := filepath.WalkDir(filepath.Join(repo, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) && p == filepath.Join(repo, dir) {
					return nil
				}
				return err
			}
			if d.IsDir() {
				return nil
			}
			rel, err := filepath.Rel(repo, p)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files[filepath.ToSlash(rel)] = b
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// TestDocs compares docs/cli and docs/man with the pages the command tree
// makes; -update (make docs) rewrites them and removes pages no command
// makes any more.
func TestDocs(t *testing.T) {
	repo := testutil.Root()
	pages, err := renderDocs(newRootCmd())
	if err != nil {
		t.Fatal(err)
	}
	committed := committedDocs(t, repo)
	if testutil.Updating(t) {
		for name := range committed {
			if _, ok := pages[name]; !ok {
				if err := os.Remove(filepath.Join(repo, name)); err != nil {
					t.Fatal(err)
				}
			}
		}
		for name, b := range pages {
			p := filepath.Join(repo, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	for _, name := range sortedKeys(pages) {
		got, ok := committed[name]
		switch {
		case !ok:
			t.Errorf("%s is missing: run make docs", name)
		case !bytes.Equal(got, pages[name]):
			t.Errorf("%s is stale (the command tree says otherwise): run make docs", name)
		}
	}
	for _, name := range sortedKeys(committed) {
		if _, ok := pages[name]; !ok {
			t.Errorf("%s is made by no command: remove it, or run make docs", name)
		}
	}
}

// TestRenderDocs pins down what renderDocs makes, on the real tree and on
// one with a hidden command, by hand-written expectations.
func TestRenderDocs(t *testing.T) {
	pages, err := renderDocs(newRootCmd())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		want []string // substrings of the page
	}{
		{"docs/cli/klpack.md", []string{"## klpack\n", "* [klpack scan](klpack_scan.md)", "--version"}},
		{"docs/cli/klpack_scan.md", []string{"## klpack scan\n", "### Examples", "klpack scan --json testdata/ko/6.1.0-56-amd64", "--vmlinux-btf"}},
		{"docs/cli/klpack_deploy_capture.md", []string{"* [klpack deploy](klpack_deploy.md)", "--sysfs"}},
		{"docs/cli/klpack_hooks_build.md", []string{"--kernel-config"}},
		{"docs/man/klpack.1", []string{`.TH "KLPACK" "1" "Dec 2026" "klpack" "klpack manual"`, `\fBklpack-scan(1)\fP`}},
		{"docs/man/klpack-check.1", []string{"klpack-check - Check a release", ".SH EXAMPLE"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			page, ok := pages[tt.name]
			if !ok {
				t.Fatalf("no page %s among %v", tt.name, sortedKeys(pages))
			}
			for _, w := range tt.want {
				if !bytes.Contains(page, []byte(w)) {
					t.Errorf("%s lacks %q:\n%s", tt.name, w, page)
				}
			}
			for _, never := range []string{"Auto generated", "spf13/cobra"} {
				if bytes.Contains(page, []byte(never)) {
					t.Errorf("%s says %q: the pages must not depend on the day they were made", tt.name, never)
				}
			}
		})
	}
	// Two renderings of fresh trees are the same, byte for byte.
	again, err := renderDocs(newRootCmd())
	if err != nil {
		t.Fatal(err)
	}
	for name, page := range pages {
		if !bytes.Equal(again[name], page) {
			t.Errorf("%s differs between two renderings", name)
		}
	}
	for _, never := range []string{"docs/cli/klpack_help.md", "docs/man/klpack-help.1"} {
		if _, ok := pages[never]; ok {
			t.Errorf("renderDocs made %s for cobra's help command", never)
		}
	}

	// A hidden command (the host build's stand-ins are) has no page and
	// no mention in its parent's.
	root := &cobra.Command{Use: "tool", Short: "a tool"}
	root.AddCommand(
		&cobra.Command{Use: "shown", Short: "shown command", Run: func(*cobra.Command, []string) {}},
		&cobra.Command{Use: "secret", Short: "secret command", Hidden: true, Run: func(*cobra.Command, []string) {}},
	)
	pages, err = renderDocs(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"docs/cli/tool.md", "docs/cli/tool_shown.md", "docs/man/tool-shown.1", "docs/man/tool.1"}
	if got := sortedKeys(pages); !slices.Equal(got, want) {
		t.Errorf("pages of a tree with a hidden command = %v, want %v", got, want)
	}
	for name, page := range pages {
		if bytes.Contains(page, []byte("secret")) {
			t.Errorf("%s mentions the hidden command:\n%s", name, page)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
