package tour_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/internal/throwaway"
)

// essential are the commands scripts/demo.sh runs besides klpack and
// DEMO_DEPS: all from Debian's Essential packages (dash, coreutils,
// findutils), present on every machine, so the demo installs none of them.
var essential = []string{"sh", "mktemp", "rm", "cat", "find", "sort"}

// The tour's sections, in pipeline order, each with what it must show: a
// hand-written expectation, so a README block rewritten from a broken run
// does not pass.
var sections = []struct {
	head string   // the start of its "==" line
	want []string // lines (or their starts) the section must print
}{
	{"== scan:", []string{
		"testdata/ko/6.1.0-56-amd64/lp_replace.ko: livepatch (static) lp_replace",
		"  patch lp_replace_patch:  replace=true (static initializer)",
	}},
	{"== check:", []string{"error KLP005 state-incompatible: loading lp_replace:"}},
	{"== plan:", []string{"  5. load lp_replace (", "  6. load lp_noreplace ("}},
	{"== edges:", []string{
		`warning KLP019 instrumentation-lost: e2e_nodbg: e2e_dbg_poke of e2e_dbg loses dyndbg "klpe-dbg poke %d\n" (e2e_dbg.c:19)`,
		"warning KLP021 rollback-needs-reboot: going back: the kernel refuses lp_cum1 over the new release (EINVAL:",
	}},
	{"== hooks:", []string{"dist/hooks/lp_hook/lp_hook_meminfo_allowed.bpf.o\tkprobe lp_hook_meminfo_allowed"}},
	{"== release:", []string{
		"check      0 errors",
		"packages   6 packages, signed",
		"repos      apt (deb/dists/stable), dnf (rpm/repodata), signed",
		"release    1.0-1 for 6.1.0-56-amd64 in dist",
	}},
	{"== verify:", []string{"dist/rpm/klp-patch-6.1.0-56-amd64-1.0_1-1.x86_64.rpm: digests signatures OK"}},
	{"== dist/", []string{
		"dist/deb/dists/stable/InRelease",
		"dist/deb/pool/main/k/klp-patch-6.1.0-56-amd64/klp-patch-6.1.0-56-amd64_1.0-1_amd64.deb",
		"dist/rpm/repodata/repomd.xml.asc",
		"dist/signing-key.asc",
	}},
}

// TestTour runs scripts/demo.sh as `make demo` does (a klpack built from
// this tree, throwaway keys) and compares its output with the fenced block
// under README.md's "Tour" heading, byte for byte. Nothing is normalised:
// the script prints nothing that varies between runs (no key ids,
// signatures, temporary paths or hash-named files), which this comparison
// between two runs (make demo's, pasted, and this one) also proves. It
// runs with a PATH holding only DEMO_DEPS's commands and Essential
// ones, so the demo cannot come to need a tool the Makefile does not
// install for it.
func TestTour(t *testing.T) {
	testutil.Slow(t, "builds klpack, compiles BPF hooks and runs a whole release")
	root := testutil.Root()
	deps := demoDeps(t, filepath.Join(root, "Makefile"))
	for _, bad := range []string{"qemu", "linux-headers", "linux-image"} {
		if strings.Contains(strings.Join(deps, " "), bad) {
			t.Errorf("DEMO_DEPS = %v, holds %s: the demo uses the committed sample modules and no guest", deps, bad)
		}
	}
	path := t.TempDir()
	for _, d := range deps {
		cmd, _, _ := strings.Cut(d, ":")
		if strings.HasPrefix(cmd, "/") {
			continue // a file, not a command
		}
		linkTool(t, path, cmd)
	}
	for _, cmd := range essential {
		linkTool(t, path, cmd)
	}

	want, err := readmeTour(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	bin := filepath.Join(dir, "klpack")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/klpack")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/klpack: %v\n%s", err, out)
	}
	keys := filepath.Join(dir, "keys")
	if err := throwaway.Write(keys); err != nil {
		t.Fatal(err)
	}
	// The script runs where testdata/ is and writes dist/ there: a
	// scratch directory with testdata linked in keeps the tree clean.
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "testdata"), filepath.Join(work, "testdata")); err != nil {
		t.Fatal(err)
	}
	demo := exec.CommandContext(t.Context(), filepath.Join(path, "sh"), filepath.Join(root, "scripts", "demo.sh"), bin, keys)
	demo.Dir = work
	demo.Env = append(os.Environ(), "PATH="+path, "LC_ALL=C", "TMPDIR="+dir)
	var stdout, stderr bytes.Buffer
	demo.Stdout, demo.Stderr = &stdout, &stderr
	if err := demo.Run(); err != nil {
		t.Fatalf("scripts/demo.sh: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	got := stdout.String()

	if got != want {
		t.Errorf("README.md's Tour block and scripts/demo.sh's output differ (-README +output):\n%s\n"+
			"If the change is meant, paste make demo's output (without the go build line) into the block.",
			cmp.Diff(strings.Split(want, "\n"), strings.Split(got, "\n")))
	}
	checkShape(t, got)
	if strings.Contains(got, dir) {
		t.Errorf("the tour prints the temporary directory %s: it would differ on every run", dir)
	}
}

// checkShape checks the tour against the hand-written sections: all of
// them in pipeline order, each opened by one "==" line of one sentence and
// printing what it must, under 130 lines in all.
func checkShape(t *testing.T, out string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) >= 130 {
		t.Errorf("the tour has %d lines, want under 130", len(lines))
	}
	var heads []int
	for i, l := range lines {
		if strings.HasPrefix(l, "==") {
			heads = append(heads, i)
		}
	}
	if len(heads) != len(sections) {
		t.Fatalf("the tour has %d sections, want %d (%v)", len(heads), len(sections), sectionHeads())
	}
	sentenceEnd := regexp.MustCompile(`[.!?](\s|$)`)
	for n, s := range sections {
		head := lines[heads[n]]
		if !strings.HasPrefix(head, s.head) {
			t.Errorf("section %d starts %q, want %q (pipeline order: %v)", n+1, head, s.head, sectionHeads())
			continue
		}
		if ends := sentenceEnd.FindAllStringIndex(head, -1); len(ends) != 1 || ends[0][1] != len(head) {
			t.Errorf("section %s: %q is not one sentence ending with a period", s.head, head)
		}
		end := len(lines)
		if n+1 < len(heads) {
			end = heads[n+1]
		}
		body := lines[heads[n]+1 : end]
		if len(body) == 0 || !strings.HasPrefix(body[0], "$ ") {
			t.Errorf("section %s: no \"$ command\" line after its head", s.head)
		}
		for _, w := range s.want {
			if !hasLinePrefix(body, w) {
				t.Errorf("section %s: no line starting %q in:\n%s", s.head, w, strings.Join(body, "\n"))
			}
		}
	}
}

func hasLinePrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func sectionHeads() []string {
	var h []string
	for _, s := range sections {
		h = append(h, s.head)
	}
	return h
}

// readmeTour returns the first fenced block after the "## Tour" heading,
// without its fences.
func readmeTour(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	state := 0 // 0: before the heading, 1: before the fence, 2: inside
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case state == 0 && l == "## Tour":
			state = 1
		case state == 1 && strings.HasPrefix(l, "## "):
			return "", fmt.Errorf("%s: no fenced block under \"## Tour\"", path)
		case state == 1 && strings.HasPrefix(l, "```"):
			state = 2
		case state == 2 && l == "```":
			return out.String(), nil
		case state == 2:
			out.WriteString(l + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if state == 0 {
		return "", fmt.Errorf("%s: no \"## Tour\" heading", path)
	}
	return "", fmt.Errorf("%s: the Tour's fenced block is not closed", path)
}

// demoDeps returns the Makefile's DEMO_DEPS items (command-or-path:package),
// read from its one-line assignment.
func demoDeps(t *testing.T, makefile string) []string {
	t.Helper()
	b, err := os.ReadFile(makefile)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^DEMO_DEPS\s*:=\s*(.*)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s: no one-line DEMO_DEPS := assignment", makefile)
	}
	deps := strings.Fields(string(m[1]))
	if len(deps) == 0 {
		t.Fatalf("%s: DEMO_DEPS is empty", makefile)
	}
	return deps
}

// linkTool links the command name, found on the test's PATH, into dir.
func linkTool(t *testing.T, dir, name string) {
	t.Helper()
	p := testutil.NeedTool(t, name)
	if err := os.Symlink(p, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}
