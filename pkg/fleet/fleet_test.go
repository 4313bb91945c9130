package fleet

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/internal/termstyle"
	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/klp"
)

// release is the candidate every test checks: the testdata cumulative
// patch lp_replace, for 6.1.0-56-amd64.
func release(t *testing.T) *check.Input {
	t.Helper()
	m, err := elfscan.Open(filepath.Join(testutil.Root(), "testdata/ko/6.1.0-56-amd64/lp_replace.ko"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &check.Input{Candidates: []*klp.Module{m}}
}

func manifests(t *testing.T) *Manifests {
	t.Helper()
	ms, err := LoadManifests(t.Context(), filepath.Join(testutil.Root(), "testdata/fleet/manifests"))
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// group is what a test expects of one combination.
type group struct {
	ID       string
	Kernel   string
	BuildID  string
	Modules  []string // in load order
	Versions []string // as the report names them
	Hosts    int64
	Examples []string
	Verdict  string
	Failed   bool
	Rules    []string
}

func summarize(r *Report) []group {
	var out []group
	for _, g := range r.Groups {
		s := group{ID: g.ID, Kernel: g.Kernel, BuildID: g.BuildID, Hosts: g.Hosts, Verdict: g.Verdict, Failed: g.Failed}
		for _, p := range g.Patches {
			s.Modules = append(s.Modules, p.Module)
			s.Versions = append(s.Versions, p.Version)
		}
		for _, e := range g.Examples {
			s.Examples = append(s.Examples, e.Host)
		}
		for _, f := range g.Findings {
			s.Rules = append(s.Rules, f.Rule)
		}
		out = append(out, s)
	}
	return out
}

// TestCheckTestdata checks the testdata release against the committed
// inventory, plain, gzip and zstd: the groups, their host counts, example
// hosts and verdicts are written by hand from what each line deploys.
func TestCheckTestdata(t *testing.T) {
	const k61 = "6.1.0-56-amd64"
	want := []group{
		// lp_replace again on a host that runs it: EEXIST. db-4 gives
		// the rpm spelling (1.0_1-1) of web-2's version (1.0-1): one
		// manifest, so one combination, first by its first line.
		{ID: "C1", Kernel: k61, Modules: []string{"lp_replace"}, Versions: []string{"1.0-1"}, Hosts: 2, Examples: []string{"web-2", "db-4"}, Verdict: "error", Failed: true, Rules: []string{"KLP007"}},
		// db-3 lists the same patches in another order: one combination.
		{ID: "C2", Kernel: k61, Modules: []string{"lp_replace", "lp_noreplace"}, Versions: []string{"1.0-1", "1.0-1"}, Hosts: 2, Examples: []string{"db-2", "db-3"}, Verdict: "error", Failed: true, Rules: []string{"KLP007"}},
		// The replace drops the off-band patch on a mainline kernel.
		{ID: "C3", Kernel: k61, Modules: []string{"lp_noreplace"}, Versions: []string{"1.0-1"}, Hosts: 1, Examples: []string{"db-1"}, Verdict: "error", Failed: true, Rules: []string{"KLP009"}},
		// The state form: the capture's lp_multiobj holds a klp_state.
		{ID: "C4", Kernel: k61, Modules: []string{"lp_noreplace", "lp_multiobj"}, Versions: []string{"", ""}, Hosts: 1, Examples: []string{"cap-1"}, Verdict: "error", Failed: true, Rules: []string{"KLP005"}},
		// Disabled is another deployed set than enabled.
		{ID: "C5", Kernel: k61, Modules: []string{"lp_replace"}, Versions: []string{"1.0-1"}, Hosts: 1, Examples: []string{"off-1"}, Verdict: "error", Failed: true, Rules: []string{"KLP007"}},
		// A warehouse's count of 40 hosts on a vendor's patch.
		{ID: "C6", Kernel: k61, Modules: []string{"lp_x"}, Versions: []string{"3"}, Hosts: 40, Verdict: VerdictUnresolved},
		{ID: "C7", Kernel: k61, Modules: []string{"lp_other"}, Versions: []string{"1.0-1"}, Hosts: 1, Examples: []string{"bad-1"}, Verdict: VerdictUnresolved},
		// Four hosts by ID (three examples kept) and a count of 100.
		{ID: "C8", Kernel: k61, Hosts: 104, Examples: []string{"web-1", "web-3", "web-4"}, Verdict: VerdictPass},
		{ID: "C9", Kernel: k61, BuildID: "abcdef01", Hosts: 2, Examples: []string{"ctl-\x1b[31m1", "ctl-2"}, Verdict: VerdictPass},
		{ID: "C10", Kernel: "6.12.117+deb12-amd64", Hosts: 1, Examples: []string{"new-1"}, Verdict: VerdictNotTarget},
	}
	wantTotals := Totals{Lines: 17, Hosts: 155, Combinations: 10, PassHosts: 106, FailHosts: 7, UnresolvedHosts: 41, OtherKernel: 1}
	in := release(t)
	ms := manifests(t)
	for _, name := range []string{"inventory.jsonl", "inventory.jsonl.gz", "inventory.jsonl.zst"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(testutil.Root(), "testdata/fleet", name)
			inv, err := Read(t.Context(), path, ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Check(t.Context(), inv, ms, CheckOptions{Input: in, FailOn: check.Error})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, summarize(rep)); diff != "" {
				t.Errorf("groups (-want +got):\n%s", diff)
			}
			if rep.Totals != wantTotals {
				t.Errorf("totals = %+v, want %+v", rep.Totals, wantTotals)
			}
			if !rep.Failed() {
				t.Error("Failed() = false, want true")
			}
			if want := []string{"region"}; !slices.Equal(rep.Ignored, want) {
				t.Errorf("ignored = %q, want %q", rep.Ignored, want)
			}
			if rep.Release != k61 || rep.Schema != ReportSchema {
				t.Errorf("release %q schema %q", rep.Release, rep.Schema)
			}
			var b bytes.Buffer
			if err := WriteText(&b, rep, termstyle.Style{}); err != nil {
				t.Fatal(err)
			}
			// The host ID's escape reaches the terminal quoted, never raw.
			if strings.Contains(b.String(), "\x1b") || !strings.Contains(b.String(), `"ctl-\x1b[31m1" (line 13)`) {
				t.Errorf("text output does not quote the control character:\n%s", b.String())
			}
		})
	}
}

// TestUnresolvedOnly: an inventory whose every host passes or runs
// unknown packages fails for the unresolved ones alone: never dropped.
func TestUnresolvedOnly(t *testing.T) {
	for _, tt := range []struct {
		name       string
		inventory  string
		failed     bool
		unresolved int64
	}{
		{"pass", `{"host":"a","kernel":"6.1.0-56-amd64","patches":[]}`, false, 0},
		{"unresolved", `{"host":"a","kernel":"6.1.0-56-amd64","patches":[]}` + "\n" +
			`{"hosts":7,"kernel":"6.1.0-56-amd64","patches":[{"module":"lp_replace","package":"klp-patch-6.1.0-56-amd64","version":"9.9-9","enabled":true,"load_order":1}]}`, true, 7},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := ParseInventory(t.Context(), strings.NewReader(tt.inventory), "inv", ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Check(t.Context(), inv, manifests(t), CheckOptions{Input: release(t), FailOn: check.Error})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Failed() != tt.failed || rep.Totals.UnresolvedHosts != tt.unresolved {
				t.Errorf("Failed() = %v, unresolved %d; want %v, %d", rep.Failed(), rep.Totals.UnresolvedHosts, tt.failed, tt.unresolved)
			}
		})
	}
}

// TestGenerated reads a generated inventory larger than a chunk, on one
// worker and on four, with hand-computed groups: the counts, the first
// three hosts by line, and the grouping of equal lists given in another
// order all survive the cut into chunks.
func TestGenerated(t *testing.T) {
	const hosts, combos = 60_000, 7
	var b bytes.Buffer
	for i := range hosts {
		c := i % combos
		// Combination c has patches 1..c, listed backwards on odd hosts.
		var ps []string
		for k := 1; k <= c; k++ {
			ps = append(ps, fmt.Sprintf(`{"module":"m%d","package":"p%d","version":"1","enabled":true,"load_order":%d}`, k, k, k))
		}
		if i%2 == 1 {
			slices.Reverse(ps)
		}
		fmt.Fprintf(&b, `{"host":"h%d","kernel":"k","patches":[%s],"pad":"%s"}`+"\n", i, strings.Join(ps, ","), strings.Repeat("x", 40))
	}
	if b.Len() <= chunkSize {
		t.Fatalf("inventory of %d bytes fits one chunk of %d", b.Len(), chunkSize)
	}
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprint(workers), func(t *testing.T) {
			inv, err := ParseInventory(t.Context(), bytes.NewReader(b.Bytes()), "gen", ReadOptions{Workers: workers})
			if err != nil {
				t.Fatal(err)
			}
			if inv.Hosts != hosts || inv.Lines != hosts || len(inv.Combinations) != combos {
				t.Fatalf("hosts %d lines %d combinations %d, want %d %d %d", inv.Hosts, inv.Lines, len(inv.Combinations), hosts, hosts, combos)
			}
			for c, got := range inv.Combinations {
				wantHosts := int64(hosts / combos)
				if c < hosts%combos {
					wantHosts++
				}
				want := []Example{{fmt.Sprintf("h%d", c), int64(c + 1)}, {fmt.Sprintf("h%d", c+combos), int64(c + combos + 1)}, {fmt.Sprintf("h%d", c+2*combos), int64(c + 2*combos + 1)}}
				if got.Hosts != wantHosts || got.FirstLine != int64(c+1) || len(got.Patches) != c {
					t.Errorf("combination %d: hosts %d first line %d patches %d, want %d %d %d", c, got.Hosts, got.FirstLine, len(got.Patches), wantHosts, c+1, c)
				}
				if diff := cmp.Diff(want, got.Examples); diff != "" {
					t.Errorf("combination %d examples (-want +got):\n%s", c, diff)
				}
				for k, p := range got.Patches {
					if p.LoadOrder != k+1 {
						t.Errorf("combination %d: patch %d has load order %d: not sorted", c, k, p.LoadOrder)
					}
				}
			}
		})
	}
}

// TestCancel: a cancelled context stops the read with its error.
func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := ParseInventory(ctx, strings.NewReader(`{"host":"a","kernel":"k","patches":[]}`), "inv", ReadOptions{})
	if err == nil {
		t.Fatal("read under a cancelled context succeeded")
	}
}

// TestGrouping: which lines make one combination and which two, by the
// field they differ in.
func TestGrouping(t *testing.T) {
	line := func(host, patch string) string {
		return `{"host":"` + host + `","kernel":"k","patches":[` + patch + `]}`
	}
	const base = `"module":"m","package":"p","version":"1","enabled":true,"load_order":1`
	for _, tt := range []struct {
		name   string
		a, b   string
		combos int
	}{
		{"same", line("a", `{`+base+`,"transition":false}`), line("b", `{"transition":false,`+base+`}`), 1},
		{"transition differs", line("a", `{`+base+`,"transition":false}`), line("b", `{`+base+`,"transition":true}`), 2},
		{"transition unknown", line("a", `{`+base+`,"transition":false}`), line("b", `{`+base+`}`), 2},
		{"enabled differs", line("a", `{`+base+`}`), line("b", `{"module":"m","package":"p","version":"1","enabled":false,"load_order":1}`), 2},
		{"version differs", line("a", `{`+base+`}`), line("b", `{"module":"m","package":"p","version":"2","enabled":true,"load_order":1}`), 2},
		{"load order differs", line("a", `{`+base+`}`), line("b", `{"module":"m","package":"p","version":"1","enabled":true,"load_order":2}`), 2},
		{"kernel differs", line("a", ``), `{"host":"b","kernel":"j","patches":[]}`, 2},
		{"build id case", `{"host":"a","kernel":"k","build_id":"AB","patches":[]}`, `{"host":"b","kernel":"k","build_id":"ab","patches":[]}`, 1},
		{"build id or none", `{"host":"a","kernel":"k","build_id":"ab","patches":[]}`, `{"host":"b","kernel":"k","build_id":null,"patches":[]}`, 2},
		// Length-prefixed: moving bytes between fields makes another key.
		{"field boundaries", line("a", `{"module":"ab","package":"c","version":"1","enabled":true,"load_order":1}`), line("b", `{"module":"a","package":"bc","version":"1","enabled":true,"load_order":1}`), 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := ParseInventory(t.Context(), strings.NewReader(tt.a+"\n"+tt.b+"\n"), "inv", ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(inv.Combinations) != tt.combos || inv.Hosts != 2 {
				t.Errorf("%d combinations of %d hosts, want %d of 2", len(inv.Combinations), inv.Hosts, tt.combos)
			}
		})
	}
}

// TestMerge: two workers' counts of one combination add up, and the
// examples kept are the first three by line, whichever worker met them.
func TestMerge(t *testing.T) {
	g := &grouper{o: ReadOptions{MaxCombinations: 10}, combos: map[string]*Combination{}, errLine: -1}
	ex := func(lines ...int64) []Example {
		var out []Example
		for _, l := range lines {
			out = append(out, Example{Host: fmt.Sprint("h", l), Line: l})
		}
		return out
	}
	g.merge(&local{lines: 4, hosts: 12, combos: map[string]*Combination{"x": {Hosts: 10, FirstLine: 5, Examples: ex(5, 9)}, "y": {Hosts: 2, FirstLine: 6, Examples: ex(6)}}})
	g.merge(&local{lines: 3, hosts: 3, combos: map[string]*Combination{"x": {Hosts: 3, FirstLine: 1, Examples: ex(1, 7, 8)}}})
	x := g.combos["x"]
	if g.lines != 7 || g.hosts != 15 || x.Hosts != 13 || x.FirstLine != 1 || len(g.combos) != 2 {
		t.Errorf("lines %d hosts %d; x: hosts %d first line %d; %d combinations; want 7 15 13 1 2", g.lines, g.hosts, x.Hosts, x.FirstLine, len(g.combos))
	}
	if diff := cmp.Diff(ex(1, 5, 7), x.Examples); diff != "" {
		t.Errorf("examples (-want +got):\n%s", diff)
	}
}

// BenchmarkParseInventory reads 100,000 generated hosts in 2,000
// combinations from memory (make bench runs the 1,000,000-host
// comparison with jq: scripts/bench-fleet.sh).
func BenchmarkParseInventory(b *testing.B) {
	var buf bytes.Buffer
	for i := range 100_000 {
		c := i % 2000
		fmt.Fprintf(&buf, `{"host":"host-%d","kernel":"6.1.0-56-amd64","build_id":"4f2c9a0d","patches":[{"module":"lp_replace","package":"klp-patch","version":"1.0-%d","enabled":true,"transition":false,"load_order":1}`, i, c%10)
		for k := range 8 {
			if (c/10)&(1<<k) != 0 {
				fmt.Fprintf(&buf, `,{"module":"lp_ob%d","package":"klp-ob%d","version":"1.0-1","enabled":true,"transition":false,"load_order":%d}`, k, k, k+2)
			}
		}
		buf.WriteString("]}\n")
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		inv, err := ParseInventory(b.Context(), bytes.NewReader(buf.Bytes()), "bench", ReadOptions{})
		if err != nil || len(inv.Combinations) != 2000 {
			b.Fatalf("%v, %d combinations", err, len(inv.Combinations))
		}
	}
}

// TestStateForm: captures group by what they say, not by their bytes;
// one met before is not decoded again, and still checked against the
// line's kernel and build ID.
func TestStateForm(t *testing.T) {
	const st = `{"schema":"klpack.deployed/v1","kernel":{"release":"k"},"patches":[]}`
	const reformatted = `{ "patches": [], "kernel": {"release": "k"}, "schema": "klpack.deployed/v1" }`
	for _, tt := range []struct {
		name   string
		lines  []string
		combos int
		hosts  int64
		err    string
	}{
		{"same bytes", []string{`{"host":"a","state":` + st + `}`, `{"host":"b","state":` + st + `}`}, 1, 2, ""},
		{"reformatted", []string{`{"host":"a","state":` + st + `}`, `{"hosts":5,"state":` + reformatted + `}`}, 1, 6, ""},
		{"build ids", []string{`{"host":"a","state":` + st + `}`, `{"host":"b","build_id":"ab","state":` + st + `}`}, 2, 2, ""},
		{"kernel of a cached state", []string{`{"host":"a","state":` + st + `}`, `{"host":"b","kernel":"j","state":` + st + `}`}, 0, 0, `line 2: kernel "j", the state's is "k"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := ParseInventory(t.Context(), strings.NewReader(strings.Join(tt.lines, "\n")), "inv", ReadOptions{Workers: 1})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseInventory = %v, want an error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(inv.Combinations) != tt.combos || inv.Hosts != tt.hosts {
				t.Errorf("%d combinations of %d hosts, want %d of %d", len(inv.Combinations), inv.Hosts, tt.combos, tt.hosts)
			}
		})
	}
}
