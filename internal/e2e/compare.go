package e2e

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"maps"
	pathpkg "path"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/sim"
)

// Diff is one thing the kernel and the simulator disagree on.
type Diff struct {
	Step   int    // 1-based; 0 for the run as a whole
	What   string // accepted, errno, stack, function <name>, capture, run
	Kernel string
	Sim    string
}

func (d Diff) String() string {
	return fmt.Sprintf("step %d: %s: kernel %s, simulator %s", d.Step, d.What, d.Kernel, d.Sim)
}

// Result is the comparison of one scenario on one kernel.
type Result struct {
	Steps  int
	Agreed int // steps with no difference
	Diffs  []Diff
	// Unobserved lists "step N: function" for functions the simulator
	// reports but the guest could not read (their module is not loaded).
	Unobserved []string
}

// Compare checks every step the guest ran against the simulation: whether
// the kernel accepted it and its errno, the patches in sysfs (names and
// enabled, order and stack_order values where sysfs has them, replace
// where sysfs has it,
// no transition left), which patch's code runs for every function the
// simulator has reported so far (and the original code for every other
// function the guest reads), and the state klpack deploy capture built in
// the guest.
func Compare(tr *Transcript, sim *sim.Simulation) *Result {
	res := &Result{Steps: len(sim.Steps)}
	if !tr.Ended {
		res.Diffs = append(res.Diffs, Diff{What: "run", Kernel: "the runner did not finish", Sim: "-"})
	}
	for _, e := range tr.Errors {
		res.Diffs = append(res.Diffs, Diff{What: "run", Kernel: "runner error: " + e, Sim: "-"})
	}
	if len(tr.Steps) != len(sim.Steps)+1 {
		res.Diffs = append(res.Diffs, Diff{What: "run", Kernel: fmt.Sprintf("%d steps recorded", max(len(tr.Steps)-1, 0)),
			Sim: fmt.Sprintf("%d steps", len(sim.Steps))})
	}
	// Which code runs, as the simulator said it last, per function key.
	want := maps.Clone(sim.Initial.Funcs)
	if want == nil {
		want = map[string]string{}
	}
	if len(tr.Steps) > 0 {
		res.Diffs = append(res.Diffs, compareFuncs(0, tr.Steps[0], want, nil)...)
	}
	for i, st := range sim.Steps {
		n := i + 1
		if n >= len(tr.Steps) {
			break
		}
		g := tr.Steps[n]
		maps.Copy(want, st.Funcs)
		var d []Diff
		if !g.Done {
			d = append(d, Diff{Step: n, What: "run", Kernel: "step not finished", Sim: "-"})
		}
		d = append(d, compareTransition(n, g, st)...)
		d = append(d, compareLayout(n, g, tr.Release, sim.KernelModel)...)
		d = append(d, compareTask(n, g, st)...)
		d = append(d, compareCallbacks(n, g, st)...)
		if accepted := g.RC == 0; accepted != st.Accepted {
			d = append(d, Diff{Step: n, What: "accepted", Kernel: kernelAnswer(g), Sim: simAnswer(st)})
		} else if !accepted && g.Errno() != st.Errno {
			d = append(d, Diff{Step: n, What: "errno", Kernel: kernelAnswer(g), Sim: simAnswer(st)})
		} else if !accepted && !reasonShown(g, st) {
			d = append(d, Diff{Step: n, What: "reason", Kernel: kernelAnswer(g), Sim: simAnswer(st)})
		}
		d = append(d, compareStack(n, g, st)...)
		d = append(d, compareFuncs(n, g, want, &res.Unobserved)...)
		d = append(d, compareCapture(n, g, st)...)
		if len(d) == 0 {
			res.Agreed++
		}
		res.Diffs = append(res.Diffs, d...)
	}
	return res
}

func kernelAnswer(g *GuestStep) string {
	if g.RC == 0 {
		return "accepted"
	}
	s := fmt.Sprintf("refused %s (exit %d", g.Errno(), g.RC)
	if len(g.Out) > 0 {
		s += ": " + strings.Join(g.Out, " / ")
	}
	s += ")"
	if reason := dmesgReason(g.Dmesg); reason != "" {
		s += ", dmesg: " + reason
	}
	return s
}

// dmesgReason is the first kernel line that says why a step failed.
func dmesgReason(lines []string) string {
	for _, l := range lines {
		if strings.Contains(l, "not compatible") || strings.Contains(l, "failed") ||
			strings.Contains(l, "Lockdown") || strings.Contains(l, "already") || strings.Contains(l, "error") {
			return l
		}
	}
	return ""
}

// reasonShown checks the kernel's log for the reason the simulator gives,
// where the kernel logs one: klp_enable_patch's message for an
// incompatible klp_state.
func reasonShown(g *GuestStep, st sim.Step) bool {
	if st.Cause != sim.CauseState {
		return true
	}
	want := fmt.Sprintf("Livepatch patch (%s) is not compatible with the already installed livepatches", st.Target)
	return slices.ContainsFunc(g.Dmesg, func(l string) bool { return strings.Contains(l, want) })
}

func simAnswer(st sim.Step) string {
	if st.Accepted {
		return "accepted"
	}
	return fmt.Sprintf("refused %s (%s: %s)", st.Errno, st.Cause, st.Reason)
}

// stackText renders patches as "name(enabled)" oldest first.
func stackText(names []string, enabled []bool) string {
	if len(names) == 0 {
		return "[]"
	}
	parts := make([]string, len(names))
	for i, n := range names {
		flag := "on"
		if !enabled[i] {
			flag = "off"
		}
		parts[i] = n + ":" + flag
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func compareStack(n int, g *GuestStep, st sim.Step) []Diff {
	gp := g.Patches()
	ordered := HasStackOrder(gp)
	var gn, sn []string
	var ge, se []bool
	for _, p := range gp {
		gn, ge = append(gn, p.Name), append(ge, p.Enabled)
	}
	for _, p := range st.Stack {
		sn, se = append(sn, p.Name), append(se, p.Enabled)
	}
	var out []Diff
	if !ordered {
		// Without stack_order sysfs lists patches by name: compare sets.
		type pe struct {
			name string
			on   bool
		}
		sorted := func(names []string, on []bool) ([]string, []bool) {
			ps := make([]pe, len(names))
			for i := range names {
				ps[i] = pe{names[i], on[i]}
			}
			slices.SortStableFunc(ps, func(a, b pe) int { return strings.Compare(a.name, b.name) })
			var n []string
			var e []bool
			for _, p := range ps {
				n, e = append(n, p.name), append(e, p.on)
			}
			return n, e
		}
		gn, ge = sorted(gn, ge)
		sn, se = sorted(sn, se)
	}
	if !slices.Equal(gn, sn) || !slices.Equal(ge, se) {
		what := "stack"
		if !ordered {
			what = "patches (by name: no stack_order)"
		}
		out = append(out, Diff{Step: n, What: what, Kernel: stackText(gn, ge), Sim: stackText(sn, se)})
		return out
	}
	for i, p := range gp {
		if ordered && *p.StackOrder != i+1 {
			out = append(out, Diff{Step: n, What: "stack_order of " + p.Name, Kernel: fmt.Sprint(*p.StackOrder), Sim: fmt.Sprint(i + 1)})
		}
	}
	for _, p := range gp {
		i := slices.IndexFunc(st.Stack, func(e sim.StackEntry) bool { return e.Name == p.Name })
		if p.Replace != nil && *p.Replace != st.Stack[i].Replace {
			out = append(out, Diff{Step: n, What: "replace of " + p.Name, Kernel: fmt.Sprint(*p.Replace), Sim: fmt.Sprint(st.Stack[i].Replace)})
		}
		if p.Transition != st.Stack[i].Transition {
			out = append(out, Diff{Step: n, What: "transition of " + p.Name, Kernel: fmt.Sprint(p.Transition), Sim: fmt.Sprint(st.Stack[i].Transition)})
		}
	}
	return out
}

// funcName is the function of a key "<object>/<function>,<sympos>".
func funcName(key string) string {
	_, rest, _ := strings.Cut(key, "/")
	name, _, _ := strings.Cut(rest, ",")
	return name
}

func compareFuncs(n int, g *GuestStep, want map[string]string, unobserved *[]string) []Diff {
	var out []Diff
	covered := map[string]bool{}
	for _, key := range slices.Sorted(maps.Keys(want)) {
		fn := funcName(key)
		covered[fn] = true
		got, ok := g.Funcs[fn]
		if !ok {
			if unobserved != nil && want[key] != sim.Original && want[key] != sim.Absent {
				*unobserved = append(*unobserved, fmt.Sprintf("step %d: %s (simulator: %s)", n, key, want[key]))
			}
			continue
		}
		if got != want[key] {
			out = append(out, Diff{Step: n, What: "function " + key, Kernel: got, Sim: want[key]})
		}
	}
	// Functions the simulator never reported must run the original.
	for _, fn := range slices.Sorted(maps.Keys(g.Funcs)) {
		if covered[fn] {
			continue
		}
		if got := g.Funcs[fn]; got != sim.Original && got != sim.Absent {
			out = append(out, Diff{Step: n, What: "function " + fn, Kernel: got, Sim: "not reported (original)"})
		}
	}
	return out
}

// compareTransition checks that a transition the simulator leaves
// pending was still running when the runner stopped waiting, and that
// every other one finished.
func compareTransition(n int, g *GuestStep, st sim.Step) []Diff {
	switch {
	case g.Stuck && st.Pending == "":
		return []Diff{{Step: n, What: "transition", Kernel: fmt.Sprintf("still in transition after %d ms", g.WaitMS), Sim: "finished"}}
	case !g.Stuck && st.Pending != "":
		return []Diff{{Step: n, What: "transition", Kernel: fmt.Sprintf("finished after %d ms", g.WaitMS), Sim: "pending: " + st.Pending}}
	}
	return nil
}

// compareLayout checks the files of every patch and object directory the
// guest listed against the layout sim.SysfsLayout gives the kernel.
func compareLayout(n int, g *GuestStep, release, model string) []Diff {
	want, ok := sim.SysfsLayout(release, model)
	if !ok {
		return nil
	}
	files := map[string][]string{}
	for p := range g.Sys {
		dir, file := pathpkg.Split(p)
		dir = strings.TrimSuffix(dir, "/")
		files[dir] = append(files[dir], file)
	}
	var out []Diff
	for _, d := range g.Dirs {
		var w []string // a function's directory holds no file
		switch strings.Count(d, "/") {
		case 0:
			w = want.Patch
		case 1:
			w = want.Object
		}
		got := files[d]
		slices.Sort(got)
		if !slices.Equal(got, w) {
			out = append(out, Diff{Step: n, What: "sysfs files of " + d, Kernel: fmt.Sprint(got), Sim: fmt.Sprintf("%v (%s, %s)", w, release, model)})
		}
	}
	return out
}

// compareCallbacks checks the callbacks the step ran, in order, of the
// e2e modules (named e2e_*): their callbacks log "klpe-cb <callback>
// <patch> <object>"; those kpatch-build and klp-build generate log
// nothing.
func compareCallbacks(n int, g *GuestStep, st sim.Step) []Diff {
	var got, want []string
	for _, l := range g.Dmesg {
		if _, rest, ok := strings.Cut(l, "klpe-cb "); ok {
			got = append(got, strings.Join(strings.Fields(rest), " "))
		}
	}
	for _, c := range st.Callbacks {
		if f := strings.Fields(c); len(f) == 3 && strings.HasPrefix(f[1], "e2e_") {
			want = append(want, c)
		}
	}
	if !slices.Equal(got, want) {
		return []Diff{{Step: n, What: "callbacks", Kernel: "[" + strings.Join(got, ", ") + "]", Sim: "[" + strings.Join(want, ", ") + "]"}}
	}
	return nil
}

// compareTask checks, for a hold step, the code the held thread entered:
// each version of the function logs "klpe <patch> <tag> <function>" (the
// original "klpe original - <function>") as the thread enters it.
func compareTask(n int, g *GuestStep, st sim.Step) []Diff {
	if st.Action != "hold" || !st.Accepted {
		return nil
	}
	i := slices.IndexFunc(st.Tasks, func(t sim.TaskEntry) bool { return t.Name == st.Target })
	if i < 0 {
		return []Diff{{Step: n, What: "task " + st.Target, Kernel: "-", Sim: "not held"}}
	}
	want := st.Tasks[i]
	got := "no line in the kernel log"
	for _, l := range g.Dmesg {
		f := strings.Fields(l[strings.Index(l, "]")+1:])
		if len(f) == 4 && f[0] == "klpe" && f[3] == funcName(want.Function) {
			got = f[1]
		}
	}
	if got != want.Code {
		return []Diff{{Step: n, What: "code task " + st.Target + " sleeps in", Kernel: got, Sim: want.Code}}
	}
	return nil
}

func compareCapture(n int, g *GuestStep, st sim.Step) []Diff {
	if g.CaptureRC != 0 {
		return []Diff{{Step: n, What: "capture", Kernel: fmt.Sprintf("klpack deploy capture exit %d: %s", g.CaptureRC, strings.Join(g.CaptureLog, " / ")), Sim: "-"}}
	}
	state, err := deploy.ParseState(strings.NewReader(strings.Join(g.Capture, "\n")), "capture")
	if err != nil {
		return []Diff{{Step: n, What: "capture", Kernel: err.Error(), Sim: "-"}}
	}
	ps := slices.Clone(state.Patches)
	slices.SortStableFunc(ps, func(a, b *deploy.Patch) int { return a.LoadOrder - b.LoadOrder })
	var cn, sn []string
	var ce, se []bool
	for _, p := range ps {
		cn, ce = append(cn, p.Name), append(ce, p.Enabled)
	}
	for _, p := range st.Stack {
		sn, se = append(sn, p.Name), append(se, p.Enabled)
	}
	if !slices.Equal(cn, sn) || !slices.Equal(ce, se) {
		return []Diff{{Step: n, What: "captured state", Kernel: stackText(cn, ce), Sim: stackText(sn, se)}}
	}
	return nil
}

// SideBySide renders both sides of every step, for a failed comparison.
func SideBySide(w io.Writer, tr *Transcript, sim *sim.Simulation) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tACTION\tKERNEL\tSIMULATOR")
	for i, st := range sim.Steps {
		n := i + 1
		var g *GuestStep
		if n < len(tr.Steps) {
			g = tr.Steps[n]
		}
		fmt.Fprintf(tw, "%d\t%s %s\t", n, st.Action, st.Target)
		if g == nil {
			fmt.Fprintf(tw, "(not run)\t%s\n", simAnswer(st))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\n", kernelAnswer(g), simAnswer(st))
		var gn []string
		var ge []bool
		for _, p := range g.Patches() {
			gn, ge = append(gn, p.Name), append(ge, p.Enabled)
		}
		var sn []string
		var se []bool
		for _, p := range st.Stack {
			sn, se = append(sn, p.Name), append(se, p.Enabled)
		}
		fmt.Fprintf(tw, "\tstack\t%s\t%s\n", stackText(gn, ge), stackText(sn, se))
		var gf []string
		for _, fn := range slices.Sorted(maps.Keys(g.Funcs)) {
			gf = append(gf, fn+"="+g.Funcs[fn])
		}
		var sf []string
		for _, k := range slices.Sorted(maps.Keys(st.Funcs)) {
			sf = append(sf, k+"="+st.Funcs[k])
		}
		fmt.Fprintf(tw, "\tfunctions\t%s\t%s\n", strings.Join(gf, " "), strings.Join(sf, " "))
		for _, l := range g.Dmesg {
			fmt.Fprintf(tw, "\tdmesg\t%s\t\n", l)
		}
	}
	tw.Flush()
}

// Table renders results as the test log's summary.
type Row struct {
	Scenario, Kernel string
	Steps, Agreed    int
	Status           string // agreed, DISAGREED, FAILED: ...
}

// WriteTable prints rows as an aligned table.
func WriteTable(w io.Writer, rows []Row) {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tKERNEL\tSTEPS\tAGREED\tRESULT")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", r.Scenario, r.Kernel, r.Steps, r.Agreed, r.Status)
	}
	tw.Flush()
	w.Write(b.Bytes())
}

// Agreement table markers: README.md holds the table of the last full
// run between them.
const (
	TableBegin = "<!-- e2e agreement: written by make e2e (TestE2E -update); do not edit -->"
	TableEnd   = "<!-- end of e2e agreement -->"
)

// AgreementTable is the Markdown table of scenarios by kernels: agreed
// steps out of all where the scenario boots on the kernel, its status
// when not every step agreed, "-" where it does not boot there.
func AgreementTable(rows []Row, kernels []string) string {
	cell := map[[2]string]string{}
	var scenarios []string
	for _, r := range rows {
		if !slices.Contains(scenarios, r.Scenario) {
			scenarios = append(scenarios, r.Scenario)
		}
		c := fmt.Sprintf("%d/%d", r.Agreed, r.Steps)
		if r.Status != "agreed" {
			c = strings.ReplaceAll(r.Status, "|", "/")
		}
		cell[[2]string{r.Scenario, r.Kernel}] = c
	}
	slices.Sort(scenarios)
	var b strings.Builder
	fmt.Fprintf(&b, "| scenario | %s |\n|---|%s\n", strings.Join(kernels, " | "), strings.Repeat("---|", len(kernels)))
	for _, s := range scenarios {
		fmt.Fprintf(&b, "| %s |", s)
		for _, k := range kernels {
			fmt.Fprintf(&b, " %s |", cmp.Or(cell[[2]string{s, k}], "-"))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// ReplaceTable returns doc with the text between TableBegin and TableEnd
// replaced by table, and the text that was there.
func ReplaceTable(doc, table string) (updated, old string, err error) {
	i := strings.Index(doc, TableBegin)
	j := strings.Index(doc, TableEnd)
	if i < 0 || j < i {
		return "", "", fmt.Errorf("no %q ... %q block", TableBegin, TableEnd)
	}
	start := i + len(TableBegin) + 1
	return doc[:start] + table + doc[j:], doc[start:j], nil
}
