package rulesdoc_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/deploy"
)

// sections are the headings every rule page has, in this order.
var sections = []string{"Meaning", "When it fires", "Kernel code", "Example", "Fix", "Acknowledge"}

// page is a rule page cut into what the tests look at.
type page struct {
	title    string
	headings []string           // "## " headings, in order
	blocks   map[string][]block // fenced blocks by the section they are in
}

type block struct {
	lang string
	text string // without the fences, lines joined by "\n", no final newline
}

func readPage(t *testing.T, path string) *page {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("rule page: %v", err)
	}
	p := &page{blocks: map[string][]block{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	section := ""
	var cur *block
	var lines []string
	for n := 0; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur != nil && line == "```":
			cur.text = strings.Join(lines, "\n")
			p.blocks[section] = append(p.blocks[section], *cur)
			cur, lines = nil, nil
		case cur != nil:
			lines = append(lines, line)
		case strings.HasPrefix(line, "```"):
			cur = &block{lang: strings.TrimPrefix(line, "```")}
		case n == 0:
			p.title = line
		case strings.HasPrefix(line, "## "):
			section = strings.TrimPrefix(line, "## ")
			p.headings = append(p.headings, section)
		}
	}
	if cur != nil {
		t.Fatalf("%s: a ``` block is not closed", path)
	}
	return p
}

func rulesDir() string { return filepath.Join(testutil.Root(), "docs", "rules") }

// example returns the page's one console block: the command (without
// "$ ") and what it prints.
func (p *page) example(t *testing.T, id string) (cmd, out string) {
	t.Helper()
	var cs []block
	for _, b := range p.blocks["Example"] {
		if b.lang == "console" {
			cs = append(cs, b)
		}
	}
	if len(cs) != 1 {
		t.Fatalf("%s.md: %d console blocks under ## Example, want 1", id, len(cs))
	}
	first, rest, _ := strings.Cut(cs[0].text, "\n")
	if !strings.HasPrefix(first, "$ klpack ") {
		t.Fatalf("%s.md: the example starts %q, want \"$ klpack ...\"", id, first)
	}
	return strings.TrimPrefix(first, "$ "), rest
}

// ack returns the page's acknowledgements block, parsed as --ack parses it.
func (p *page) ack(t *testing.T, id string) (string, []check.Ack) {
	t.Helper()
	var ys []block
	for _, b := range p.blocks["Acknowledge"] {
		if b.lang == "yaml" {
			ys = append(ys, b)
		}
	}
	if len(ys) != 1 {
		t.Fatalf("%s.md: %d yaml blocks under ## Acknowledge, want 1", id, len(ys))
	}
	acks, err := check.ParseAcks([]byte(ys[0].text), id+".md")
	if err != nil {
		t.Fatalf("%s.md: the acknowledgement: %v", id, err)
	}
	return ys[0].text + "\n", acks
}

// TestRulePages: every rule has a page titled with its ID, name and
// severity exactly as check.Rules has them, with every section, an example
// command and an acknowledgement of that rule.
func TestRulePages(t *testing.T) {
	for _, r := range check.Rules {
		t.Run(r.ID, func(t *testing.T) {
			p := readPage(t, filepath.Join(rulesDir(), r.ID+".md"))
			if want := fmt.Sprintf("# %s %s (%s)", r.ID, r.Name, r.Severity); p.title != want {
				t.Errorf("%s.md: title %q, want %q", r.ID, p.title, want)
			}
			if !slices.Equal(p.headings, sections) {
				t.Errorf("%s.md: sections %q, want %q", r.ID, p.headings, sections)
			}
			p.example(t, r.ID)
			_, acks := p.ack(t, r.ID)
			for i, a := range acks {
				if a.Rule != r.ID {
					t.Errorf("%s.md: acks[%d] acknowledges %s, want %s", r.ID, i, a.Rule, r.ID)
				}
			}
			if len(acks) == 0 {
				t.Errorf("%s.md: the acknowledgement lists no entry", r.ID)
			}
		})
	}
}

// TestNoStrayPages: no page for a rule the code lacks.
func TestNoStrayPages(t *testing.T) {
	pages, err := filepath.Glob(filepath.Join(rulesDir(), "KLP*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatalf("no rule pages in %s", rulesDir())
	}
	for _, path := range pages {
		id := strings.TrimSuffix(filepath.Base(path), ".md")
		if _, ok := check.RuleByID(id); !ok {
			t.Errorf("%s: no rule %s in check.Rules", path, id)
		}
	}
}

var indexRow = regexp.MustCompile(`^\| \[(KLP\d{3})\]\(([^)]*)\) \| ([^|]*) \| ([^|]*) \| ([^|]*) \|$`)

// TestRulesIndex: docs/rules/README.md's table lists every rule once,
// linked to its page, with its name and severity, and nothing else.
func TestRulesIndex(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(rulesDir(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\n")
		if !strings.HasPrefix(line, "| [KLP") {
			continue
		}
		m := indexRow.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("README.md: row %q: want | [ID](ID.md) | name | severity | text |", line)
			continue
		}
		id, link, name, sev, text := m[1], m[2], m[3], m[4], strings.TrimSpace(m[5])
		seen[id]++
		r, ok := check.RuleByID(id)
		if !ok {
			t.Errorf("README.md: row for %s, which check.Rules lacks", id)
			continue
		}
		if link != id+".md" || name != r.Name || sev != r.Severity.String() || text == "" {
			t.Errorf("README.md: row %q, want | [%s](%s.md) | %s | %s | (a line) |", line, id, id, r.Name, r.Severity)
		}
	}
	for _, r := range check.Rules {
		if seen[r.ID] != 1 {
			t.Errorf("README.md: %s listed %d times, want once", r.ID, seen[r.ID])
		}
	}
}

// buildKlpack builds klpack from this tree into a temporary directory.
func buildKlpack(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "klpack")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/klpack")
	build.Dir = testutil.Root()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/klpack: %v\n%s", err, out)
	}
	return bin
}

// runKlpack runs klpack from the repository root, as the pages' commands
// are written, and returns what a terminal shows: stdout then stderr (the
// CLI writes its error line last).
func runKlpack(t *testing.T, bin string, args []string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Dir = testutil.Root()
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("klpack %s: %v", strings.Join(args, " "), err)
		}
	}
	return out.String()
}

// findings returns the headlines of the rule's findings in text output.
func findings(out string, r check.Rule) []string {
	var fs []string
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, fmt.Sprintf("%s %s %s: ", r.Severity, r.ID, r.Name)) {
			fs = append(fs, strings.TrimRight(line, "\n"))
		}
	}
	return fs
}

// TestExamples runs every page's example through klpack built from this
// tree and compares the output with the page word for word (only a
// trailing newline is not compared). The output must carry a finding of
// the page's rule: a block pasted from a run where the rule did not fire
// does not pass. Run again with the page's acknowledgement, every finding
// of the rule is acknowledged with its reason.
func TestExamples(t *testing.T) {
	testutil.Slow(t, "builds klpack and runs every rule page's example")
	bin := buildKlpack(t)
	for _, r := range check.Rules {
		t.Run(r.ID, func(t *testing.T) {
			p := readPage(t, filepath.Join(rulesDir(), r.ID+".md"))
			command, want := p.example(t, r.ID)
			args := strings.Fields(command)[1:]
			got := runKlpack(t, bin, args)
			if diff := cmp.Diff(want, strings.TrimSuffix(got, "\n")); diff != "" {
				t.Errorf("%s.md: `%s` prints otherwise than the page (-page +klpack):\n%s", r.ID, command, diff)
			}
			if len(findings(got, r)) == 0 {
				t.Errorf("%s.md: `%s` reports no %s %s finding:\n%s", r.ID, command, r.ID, r.Name, got)
			}

			ackText, acks := p.ack(t, r.ID)
			ackFile := filepath.Join(t.TempDir(), "ack.yaml")
			if err := os.WriteFile(ackFile, []byte(ackText), 0o600); err != nil {
				t.Fatal(err)
			}
			acked := runKlpack(t, bin, slices.Concat(args[:1], []string{"--ack", ackFile}, args[1:]))
			fs := findings(acked, r)
			if len(fs) == 0 {
				t.Fatalf("%s.md: with the acknowledgement, `%s` reports no %s finding:\n%s", r.ID, command, r.ID, acked)
			}
			for _, f := range fs {
				if !strings.HasSuffix(f, " (acknowledged: "+acks[0].Reason+")") {
					t.Errorf("%s.md: the page's acknowledgement leaves %q unacknowledged", r.ID, f)
				}
			}
		})
	}
}

var wantList = regexp.MustCompile(`want (.+)$`)

// TestKernelModels: docs/kernel-models.md has a "## NAME" heading for every
// kernel model the CLI accepts (the list klpack gives when handed a bad
// one), and every model the CLI lists is one the simulator accepts.
func TestKernelModels(t *testing.T) {
	testutil.Slow(t, "builds klpack")
	bin := buildKlpack(t)
	msg := strings.TrimSpace(runKlpack(t, bin, []string{"check", "--kernel-model", "no-such-model", "x.ko"}))
	m := wantList.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("klpack check --kernel-model no-such-model: %q lists no models", msg)
	}
	accepted := strings.FieldsFunc(strings.ReplaceAll(m[1], " or ", ", "), func(r rune) bool { return r == ',' || r == ' ' })
	for _, want := range []string{deploy.ModelMainline, deploy.ModelHybrid, deploy.ModelReplaceSet} {
		if !slices.Contains(accepted, want) {
			t.Errorf("klpack accepts %q, which lacks %s", accepted, want)
		}
	}
	b, err := os.ReadFile(filepath.Join(testutil.Root(), "docs", "kernel-models.md"))
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for line := range strings.Lines(string(b)) {
		if h, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "## "); ok {
			headings[h] = true
		}
	}
	for _, model := range accepted {
		if !deploy.ValidModel(model) {
			t.Errorf("klpack lists model %q that deploy.ValidModel refuses", model)
		}
		if !headings[model] {
			t.Errorf("docs/kernel-models.md: no \"## %s\" heading", model)
		}
	}
}

var mdLink = regexp.MustCompile(`\]\(([^)#]+)(#[^)]*)?\)`)

// TestLinks: every relative link of the rule pages, their index and the
// kernel models page names a file in the repository.
func TestLinks(t *testing.T) {
	pages, err := filepath.Glob(filepath.Join(rulesDir(), "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, filepath.Join(rulesDir(), "examples", "README.md"), filepath.Join(testutil.Root(), "docs", "kernel-models.md"))
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(page), target)); err != nil {
				t.Errorf("%s: link %s: %v", filepath.Base(page), target, err)
			}
		}
	}
}
