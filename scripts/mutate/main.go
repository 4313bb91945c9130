// Command mutate measures how many semantic mutants the tests kill.
//
//	go run scripts/mutate/main.go [flags] MUTANTS
//
// MUTANTS lists mutants in blocks; each starts with "[id]" and holds
// "key: value" lines ('#' starts a comment line):
//
//	[sim-busy-load]
//	file: pkg/deploy/sim.go
//	pkgs: ./pkg/deploy ./pkg/check
//	desc: a load is accepted while another patch's transition is pending
//	old: if s.transition != nil {
//	new: if false && s.transition != nil {
//
// old and new are taken verbatim after "old: " / "new: "; oldq and newq
// take a Go-quoted string instead, for snippets with tabs or newlines.
// testflags (optional) adds go test flags for that mutant alone. pkgs are
// go test package patterns run in DIR; templates/loader.sh is tested by
// ./templates.
//
// For each mutant, in the checkout DIR: old must occur exactly once in
// file (else INVALID); the file is mutated and `go test -count=1 PKGS`
// runs. Passing tests: SURVIVED. A package that does not build: INVALID.
// Failing packages run again with -args -update (the golden flag of
// internal/testutil; testscript scripts take it too); a package that
// does not define -update keeps its first result. Still failing: KILLED;
// passing with rewritten goldens: GOLDEN-ONLY. The checkout is restored
// after every mutant: the mutated file, tracked files -update rewrote, and
// files it created.
//
// DIR must have no modified tracked files at the start; untracked files
// present then are left alone.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Results of a mutant.
const (
	Killed     = "KILLED"
	GoldenOnly = "GOLDEN-ONLY"
	Survived   = "SURVIVED"
	Invalid    = "INVALID"
)

type mutant struct {
	ID, File, Desc string
	Old, New       string
	Pkgs           []string
	TestFlags      []string
	line           int
}

type outcome struct {
	m      *mutant
	result string
	pkgs   []string // killing packages, golden packages, or those run
	note   string   // why INVALID, which goldens changed
	took   time.Duration
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mutate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".", "the repository checkout to mutate")
	out := fs.String("o", "", "also write the table to this file")
	logDir := fs.String("log", "", "keep each go test output in this directory")
	timeout := fs.Duration("timeout", 5*time.Minute, "go test -timeout per run")
	testflags := fs.String("testflags", "", "extra go test flags for every run, e.g. \"-skip TestSlow\"")
	only := fs.String("only", "", "comma-separated mutant ids to run (default all)")
	baseline := fs.Bool("baseline", true, "first check that every package set passes unmutated")
	check := fs.Bool("check", false, "only check that every old snippet occurs exactly once")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mutate [flags] MUTANTS")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	ms, err := readMutants(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "mutate:", err)
		return 2
	}
	if *only != "" {
		want := strings.Split(*only, ",")
		ms = slices.DeleteFunc(ms, func(m *mutant) bool { return !slices.Contains(want, m.ID) })
	}
	r := &runner{dir: *dir, logDir: *logDir, timeout: *timeout, flags: strings.Fields(*testflags), log: stderr}
	// -check only reads: a work tree with edits is fine for it.
	if err := r.start(!*check); err != nil {
		fmt.Fprintln(stderr, "mutate:", err)
		return 2
	}
	if *check {
		bad := 0
		for _, m := range ms {
			src, err := os.ReadFile(filepath.Join(r.dir, filepath.FromSlash(m.File)))
			if n := bytes.Count(src, []byte(m.Old)); err != nil || n != 1 {
				fmt.Fprintf(stdout, "%s: %s: old snippet occurs %d times (%v)\n", m.ID, m.File, n, err)
				bad++
			}
		}
		fmt.Fprintf(stdout, "%d mutants, %d invalid snippets\n", len(ms), bad)
		if bad > 0 {
			return 1
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *baseline {
		if err := r.baseline(ctx, ms); err != nil {
			fmt.Fprintln(stderr, "mutate:", err)
			return 2
		}
	}
	var res []outcome
	for i, m := range ms {
		fmt.Fprintf(stderr, "[%d/%d] %s (%s) ... ", i+1, len(ms), m.ID, m.File)
		o := r.mutant(ctx, m)
		if err := r.restore(); err != nil {
			fmt.Fprintln(stderr, "\nmutate: restoring the checkout:", err)
			return 2
		}
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "interrupted; checkout restored")
			return 130
		}
		fmt.Fprintf(stderr, "%s %s (%s)\n", o.result, strings.Join(o.pkgs, " "), o.took.Round(time.Second))
		res = append(res, o)
	}
	var b bytes.Buffer
	table(&b, res, r)
	stdout.Write(b.Bytes())
	if *out != "" {
		if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
			fmt.Fprintln(stderr, "mutate:", err)
			return 1
		}
	}
	return 0
}

var idRe = regexp.MustCompile(`^\[([A-Za-z0-9._-]+)\]$`)

func readMutants(path string) ([]*mutant, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ms []*mutant
	var cur *mutant
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if sub := idRe.FindStringSubmatch(trimmed); sub != nil {
			if seen[sub[1]] {
				return nil, fmt.Errorf("%s:%d: mutant %s twice", path, n, sub[1])
			}
			seen[sub[1]] = true
			cur = &mutant{ID: sub[1], line: n}
			ms = append(ms, cur)
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok || cur == nil {
			return nil, fmt.Errorf("%s:%d: want [id] or key: value", path, n)
		}
		val = strings.TrimPrefix(val, " ")
		switch key {
		case "file":
			cur.File = strings.TrimSpace(val)
		case "desc":
			cur.Desc = strings.TrimSpace(val)
		case "pkgs":
			cur.Pkgs = strings.Fields(val)
		case "testflags":
			cur.TestFlags = strings.Fields(val)
		case "old":
			cur.Old = val
		case "new":
			cur.New = val
		case "oldq", "newq":
			s, err := strconv.Unquote(strings.TrimSpace(val))
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %v", path, n, key, err)
			}
			if key == "oldq" {
				cur.Old = s
			} else {
				cur.New = s
			}
		default:
			return nil, fmt.Errorf("%s:%d: unknown key %q", path, n, key)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, m := range ms {
		switch {
		case m.File == "":
			return nil, fmt.Errorf("%s:%d: mutant %s has no file", path, m.line, m.ID)
		case m.Old == "":
			return nil, fmt.Errorf("%s:%d: mutant %s has no old snippet", path, m.line, m.ID)
		case m.Old == m.New:
			return nil, fmt.Errorf("%s:%d: mutant %s changes nothing", path, m.line, m.ID)
		case len(m.Pkgs) == 0:
			return nil, fmt.Errorf("%s:%d: mutant %s has no pkgs", path, m.line, m.ID)
		}
	}
	return ms, nil
}

type runner struct {
	dir       string
	logDir    string
	timeout   time.Duration
	flags     []string
	log       io.Writer
	untracked map[string]bool // untracked files present at the start
}

func (r *runner) git(args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-C", r.dir}, args...)...)
	var e bytes.Buffer
	cmd.Stderr = &e
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(e.String()))
	}
	return string(b), nil
}

func (r *runner) start(clean bool) error {
	top, err := r.git("rev-parse", "--show-toplevel")
	if err != nil {
		return err
	}
	r.dir = strings.TrimSpace(top)
	if !clean {
		return nil
	}
	mod, err := r.git("status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return err
	}
	if strings.TrimSpace(mod) != "" {
		return fmt.Errorf("%s has modified tracked files; commit or stash them first:\n%s", r.dir, mod)
	}
	if r.untracked, err = r.untrackedFiles(); err != nil {
		return err
	}
	if r.logDir != "" {
		return os.MkdirAll(r.logDir, 0o755)
	}
	return nil
}

func (r *runner) untrackedFiles() (map[string]bool, error) {
	s, err := r.git("ls-files", "-z", "--others", "--exclude-standard")
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for f := range strings.SplitSeq(s, "\x00") {
		if f != "" {
			set[f] = true
		}
	}
	return set, nil
}

// restore undoes a mutant: tracked files back to HEAD, files it created
// removed (empty directories left behind are harmless).
func (r *runner) restore() error {
	if _, err := r.git("checkout", "--", "."); err != nil {
		return err
	}
	now, err := r.untrackedFiles()
	if err != nil {
		return err
	}
	for f := range now {
		if !r.untracked[f] {
			if err := os.Remove(filepath.Join(r.dir, f)); err != nil {
				return err
			}
		}
	}
	return nil
}

// changed lists the files that differ from the start.
func (r *runner) changed() []string {
	s, err := r.git("status", "--porcelain")
	if err != nil {
		return nil
	}
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if len(l) > 3 && !(strings.HasPrefix(l, "?? ") && r.untracked[l[3:]]) {
			out = append(out, l[3:])
		}
	}
	return out
}

// pkgResult is one package's line of go test output.
type pkgResult struct {
	ok, build bool // passed; failed to build
}

var (
	okLine   = regexp.MustCompile(`^ok\s+(\S+)`)
	failLine = regexp.MustCompile(`^FAIL\s+(\S+)(\s+\[(build|setup) failed\])?`)
	// compileErr is the first compiler or vet message: file.go:line:col: msg.
	compileErr = regexp.MustCompile(`(?m)^\S+\.go:\d+:\d+: .*$`)
)

// goTest runs go test on pkgs and returns each package's result by
// import path, and the output.
func (r *runner) goTest(ctx context.Context, name string, pkgs, extra, after []string) (map[string]pkgResult, string, error) {
	args := append([]string{"test", "-count=1", "-timeout", r.timeout.String()}, r.flags...)
	args = append(args, extra...)
	args = append(args, pkgs...)
	args = append(args, after...)
	// Beyond the test timeout, time to build.
	ctx, cancel := context.WithTimeout(ctx, r.timeout+5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = r.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	outText := buf.String()
	if r.logDir != "" {
		// A log that cannot be written loses detail, not the result.
		if err := os.WriteFile(filepath.Join(r.logDir, name+".log"), []byte("go "+strings.Join(args, " ")+"\n\n"+outText), 0o644); err != nil {
			fmt.Fprintln(r.log, "mutate:", err)
		}
	}
	if ctx.Err() != nil {
		return nil, outText, fmt.Errorf("go test did not end in %v", r.timeout+5*time.Minute)
	}
	res := map[string]pkgResult{}
	for l := range strings.SplitSeq(outText, "\n") {
		if m := okLine.FindStringSubmatch(l); m != nil {
			res[m[1]] = pkgResult{ok: true}
		} else if m := failLine.FindStringSubmatch(l); m != nil {
			res[m[1]] = pkgResult{build: m[2] != ""}
		}
	}
	if len(res) == 0 && err != nil {
		return nil, outText, fmt.Errorf("go test: %v: %s", err, lastLines(outText, 5))
	}
	return res, outText, nil
}

func (r *runner) baseline(ctx context.Context, ms []*mutant) error {
	seen := map[string]bool{}
	for _, m := range ms {
		k := strings.Join(m.Pkgs, " ") + "\x00" + strings.Join(m.TestFlags, " ")
		if seen[k] {
			continue
		}
		seen[k] = true
		fmt.Fprintf(r.log, "baseline: go test %s ... ", strings.Join(m.Pkgs, " "))
		res, out, err := r.goTest(ctx, "baseline-"+m.ID, m.Pkgs, m.TestFlags, nil)
		if err != nil {
			return fmt.Errorf("baseline: %v", err)
		}
		for p, pr := range res {
			if !pr.ok {
				return fmt.Errorf("baseline: %s fails unmutated; fix it or skip the failing test with -testflags:\n%s", p, lastLines(out, 30))
			}
		}
		fmt.Fprintln(r.log, "ok")
		if err := r.restore(); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) mutant(ctx context.Context, m *mutant) (o outcome) {
	o = outcome{m: m, pkgs: m.Pkgs}
	t0 := time.Now()
	defer func() { o.took = time.Since(t0) }()
	path := filepath.Join(r.dir, filepath.FromSlash(m.File))
	src, err := os.ReadFile(path)
	if err != nil {
		o.result, o.note = Invalid, err.Error()
		return o
	}
	if n := bytes.Count(src, []byte(m.Old)); n != 1 {
		o.result, o.note = Invalid, fmt.Sprintf("old snippet occurs %d times in %s", n, m.File)
		return o
	}
	mutated := bytes.Replace(src, []byte(m.Old), []byte(m.New), 1)
	st, err := os.Stat(path)
	if err != nil {
		o.result, o.note = Invalid, err.Error()
		return o
	}
	if err := os.WriteFile(path, mutated, st.Mode().Perm()); err != nil {
		o.result, o.note = Invalid, err.Error()
		return o
	}
	if strings.HasSuffix(m.File, ".sh") {
		if b, err := exec.Command("sh", "-n", path).CombinedOutput(); err != nil {
			o.result, o.note = Invalid, "sh -n: "+strings.TrimSpace(string(b))
			return o
		}
	}
	res, out, err := r.goTest(ctx, m.ID, m.Pkgs, m.TestFlags, nil)
	if err != nil {
		o.result, o.note = Killed, err.Error()
		return o
	}
	var failed []string
	for _, p := range sortedKeys(res) {
		switch pr := res[p]; {
		case pr.build:
			why := lastLines(out, 3)
			if e := compileErr.FindString(out); e != "" {
				why = e
			}
			o.result, o.note = Invalid, "does not build: "+why
			return o
		case !pr.ok:
			failed = append(failed, p)
		}
	}
	if len(failed) == 0 {
		o.result = Survived
		return o
	}
	// Rerun the failing packages with -update. One that fails still
	// kills the mutant; so does one without -update ("flag provided but
	// not defined"), whose first failure is final.
	var killers, golden []string
	res, _, err = r.goTest(ctx, m.ID+"-update", failed, m.TestFlags, []string{"-args", "-update"})
	for _, p := range failed {
		if err != nil || !res[p].ok {
			killers = append(killers, p)
		} else {
			golden = append(golden, p)
		}
	}
	if len(killers) > 0 {
		o.result, o.pkgs = Killed, killers
		return o
	}
	o.result, o.pkgs = GoldenOnly, golden
	rewritten := slices.DeleteFunc(r.changed(), func(f string) bool { return f == m.File })
	if len(rewritten) > 4 {
		rewritten = append(rewritten[:4], fmt.Sprintf("and %d more", len(rewritten)-4))
	}
	o.note = "goldens rewritten: " + strings.Join(rewritten, " ")
	return o
}

func table(w io.Writer, res []outcome, r *runner) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRESULT\tPACKAGE\tDESCRIPTION")
	count := map[string]int{}
	for _, o := range res {
		count[o.result]++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.m.ID, o.result, shortPkgs(o.pkgs), o.m.Desc)
	}
	tw.Flush()
	fmt.Fprintln(w)
	n := len(res)
	fmt.Fprintf(w, "total %d: killed %d, golden-only %d, survived %d, invalid %d\n",
		n, count[Killed], count[GoldenOnly], count[Survived], count[Invalid])
	if valid := n - count[Invalid]; valid > 0 {
		fmt.Fprintf(w, "kill rate (by assertions, of valid mutants): %d/%d = %.0f%%\n",
			count[Killed], valid, 100*float64(count[Killed])/float64(valid))
	}
	var notes []string
	for _, o := range res {
		if o.note != "" {
			notes = append(notes, fmt.Sprintf("%s (%s): %s", o.m.ID, o.result, o.note))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range notes {
			fmt.Fprintln(w, "  "+n)
		}
	}
}

// shortPkgs drops the module path common to the packages.
func shortPkgs(ps []string) string {
	var out []string
	for _, p := range ps {
		if i := strings.Index(p, "/pkg/"); i >= 0 {
			p = p[i+1:]
		} else if strings.HasPrefix(p, "github.com/") || strings.Contains(p, ".") && strings.Count(p, "/") >= 2 {
			parts := strings.SplitN(p, "/", 4)
			if len(parts) == 4 {
				p = parts[3]
			}
		}
		out = append(out, strings.TrimPrefix(p, "./"))
	}
	return strings.Join(out, ",")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, " | ")
}
