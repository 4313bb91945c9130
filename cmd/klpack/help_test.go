//go:build !klpack_host

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/klpack/klpack/internal/testutil"
)

// example is one command line of a command's Example, with the comment
// lines above it.
type example struct {
	line    int
	comment string
	args    []string // after "klpack"
}

// parseExamples splits an Example into its command lines: blank lines and
// # comments aside, each line is one klpack command line of plain words
// (no quoting, no continuation: what the pages show is what a user types).
func parseExamples(text string) ([]example, error) {
	var out []example
	var comment []string
	for i, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "":
			comment = nil
		case strings.HasPrefix(l, "#"):
			comment = append(comment, l)
		default:
			w := strings.Fields(l)
			if w[0] != "klpack" {
				return nil, fmt.Errorf("line %d: %q does not start with klpack", i+1, l)
			}
			if strings.ContainsAny(l, `'"\|&;<>`) {
				return nil, fmt.Errorf("line %d: %q: quoting or shell syntax", i+1, l)
			}
			out = append(out, example{line: i + 1, comment: strings.Join(comment, " "), args: w[1:]})
		}
	}
	return out, nil
}

// checkExample parses args with the command tree as cobra would when
// running them and returns the path of the command they run: its flags
// must parse and its positional arguments must be what it accepts.
func checkExample(root *cobra.Command, args []string) (string, error) {
	c, rest, err := root.Find(args)
	if err != nil {
		return "", err
	}
	// A parent command's Find leaves a misspelt subcommand in rest.
	if c.HasSubCommands() && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		return "", fmt.Errorf("unknown command %q for %q", rest[0], c.CommandPath())
	}
	if err := c.ParseFlags(rest); err != nil {
		return "", err
	}
	if c.Args != nil {
		if err := c.Args(c, c.Flags().Args()); err != nil {
			return "", err
		}
	}
	return c.CommandPath(), nil
}

// runnable are the commands whose examples the test runs, with the tools
// each needs: they read the repository's testdata and write, if anything,
// under /tmp, which the test turns into a directory of its own. Examples
// that need keys (/tmp/keys) or a host's files are parsed, not run.
var runnable = map[string][]string{
	"klpack scan": nil, "klpack check": nil, "klpack plan": nil, "klpack simulate": nil,
	"klpack deploy show": nil, "klpack version": nil, "klpack package": nil,
	"klpack release":     {"createrepo_c"},
	"klpack hooks build": {"clang", "llvm-strip"},
}

// TestHelpExamples checks every example of commandHelp against the
// command tree (a renamed command or flag, a flag of another command, a
// missing argument fail) and that the testdata it names exists, and runs
// those it can from the repository's top directory: each must exit 0, or
// 1 where its comment says "exit 1", and print something.
func TestHelpExamples(t *testing.T) {
	repo, err := filepath.Abs(testutil.Root())
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(repo)
	for path, h := range commandHelp {
		t.Run(path, func(t *testing.T) {
			c, _, err := newRootCmd().Find(strings.Fields(path)[1:])
			if err != nil || c.CommandPath() != path {
				t.Fatalf("commandHelp has %q, which is no command (%v)", path, err)
			}
			if h.example == "" {
				t.Fatalf("%s has no example", path)
			}
			exs, err := parseExamples(h.example)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if len(exs) == 0 {
				t.Fatalf("%s: no command line among its examples", path)
			}
			itself := false
			for _, ex := range exs {
				runs, err := checkExample(newRootCmd(), ex.args)
				if err != nil {
					t.Errorf("example line %d (klpack %s): %v", ex.line, strings.Join(ex.args, " "), err)
					continue
				}
				itself = itself || runs == path
				for _, a := range ex.args {
					if strings.HasPrefix(a, "testdata/") {
						if _, err := os.Stat(a); err != nil {
							t.Errorf("example line %d names %s: %v", ex.line, a, err)
						}
					}
				}
				t.Run(fmt.Sprintf("line %d", ex.line), func(t *testing.T) { runExample(t, runs, ex) })
			}
			// The root's examples show its commands.
			if !itself && path != "klpack" {
				t.Errorf("no example of %s runs %s", path, path)
			}
		})
	}
}

// runExample runs ex, the command at path, when it can.
func runExample(t *testing.T, path string, ex example) {
	tools, ok := runnable[path]
	if !ok {
		return
	}
	dir := t.TempDir()
	args := make([]string, len(ex.args))
	for i, a := range ex.args {
		switch {
		case strings.HasPrefix(a, "/tmp/keys/") || strings.HasPrefix(a, "/") && !strings.HasPrefix(a, "/tmp/"):
			return // keys, or a host's files
		case strings.HasPrefix(a, "/tmp/"):
			a = filepath.Join(dir, strings.TrimPrefix(a, "/tmp/"))
		}
		args[i] = a
	}
	for _, tool := range tools {
		testutil.NeedTool(t, tool)
	}
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, &stdout, &stderr)
	want := exitOK
	if strings.Contains(ex.comment, "exit 1") {
		want = exitFindings
	}
	if code != want {
		t.Errorf("klpack %s exits %d, want %d:\n%s", strings.Join(ex.args, " "), code, want, stderr.String())
	}
	if stdout.Len() == 0 {
		t.Errorf("klpack %s printed nothing", strings.Join(ex.args, " "))
	}
}

// TestCheckExample shows that the check catches what a stale example
// would be.
func TestCheckExample(t *testing.T) {
	for _, tt := range []struct {
		name string
		cmd  string
		args string
		ok   bool
	}{
		{"valid", "klpack scan", "scan --json testdata/ko", true},
		{"valid subcommand", "klpack deploy show", "deploy show --json state.json", true},
		{"unknown flag", "klpack scan", "scan --jsn testdata/ko", false},
		{"flag of another command", "klpack scan", "scan --deployed s.json testdata/ko", false},
		{"misspelt subcommand", "klpack deploy show", "deploy shw state.json", false},
		{"another command", "klpack scan", "check testdata/ko", false},
		{"missing argument", "klpack scan", "scan --json", false},
		{"too many arguments", "klpack deploy show", "deploy show a.json b.json", false},
		{"enum value", "klpack check", "check --kernel-model mainlin x.ko", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			runs, err := checkExample(newRootCmd(), strings.Fields(tt.args))
			if ok := err == nil && runs == tt.cmd; ok != tt.ok {
				t.Errorf("checkExample(%q) = %q, %v; want %s: %v", tt.args, runs, err, tt.cmd, tt.ok)
			}
		})
	}
	if _, err := parseExamples("  klpack scan a | head"); err == nil {
		t.Error("parseExamples accepted a pipe")
	}
	if _, err := parseExamples("  go run . scan"); err == nil {
		t.Error("parseExamples accepted a line that does not run klpack")
	}
}
