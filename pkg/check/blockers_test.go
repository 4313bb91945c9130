package check

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/klpack/klpack/pkg/deploy"
)

// withTasks records tasks in a state, as deploy capture --stacks does.
func withTasks(st *deploy.State, ts ...deploy.Task) *deploy.State {
	st.Tasks = ts
	return st
}

// kthreadIn is a kernel thread in uninterruptible sleep in fn of mod
// ("" for vmlinux), called from its thread function.
func kthreadIn(fn, mod string) deploy.Task {
	return deploy.Task{PID: 77, Comm: "kworker_x", Kthread: true, State: "D", Frames: []deploy.Frame{
		{Function: fn, Module: mod}, {Function: "worker_thread"}, {Function: "kthread"}, {Function: "ret_from_fork"},
	}}
}

// TestTransitionBlockers pins which captured tasks KLP020 names for the
// step to a release: each case's tasks, deployed set and candidates, and
// by hand the findings (the task, the patches, the functions, what the
// kernel does about it).
func TestTransitionBlockers(t *testing.T) {
	cum1 := lp{name: "cum_1", replace: true, funcs: []string{"a", "b"}}
	hold := deploy.Task{PID: 412, Comm: "e2e_hold", Kthread: true, State: "D", Frames: []deploy.Frame{
		{Function: "e2e_hold_sleep", Module: "e2e_hold"}, {Function: "e2e_hold_thread", Module: "e2e_hold"}, {Function: "kthread"}, {Function: "ret_from_fork"},
	}}
	user := func(state string, fns ...string) deploy.Task {
		t := deploy.Task{PID: 900, Comm: "cat", State: state}
		for _, f := range fns {
			t.Frames = append(t.Frames, deploy.Frame{Function: f})
		}
		return t
	}
	type want struct {
		patches, funcs []string
		says           []string // in the message
	}
	kthreadStuck := "no kernel switches it: kernel threads get no signal"
	for _, tt := range []struct {
		name  string
		st    *deploy.State
		cands []lp
		want  []want
	}{
		{name: "a kernel thread in the original of a module function the release patches",
			st:    withTasks(state(""), hold),
			cands: []lp{{name: "hb", funcs: []string{"cmdline_proc_show", "e2e_hold/e2e_hold_sleep"}}},
			want: []want{{[]string{"hb"}, []string{"e2e_hold/e2e_hold_sleep,1"},
				[]string{"kernel thread e2e_hold (pid 412, state D) sleeps in the original of e2e_hold/e2e_hold_sleep,1, which hb changes", kthreadStuck}}}},
		{name: "the release without that function",
			st:    withTasks(state(""), hold),
			cands: []lp{{name: "a", funcs: []string{"cmdline_proc_show", "version_proc_show"}}}},
		{name: "a function of that name in another module is another function",
			st:    withTasks(state(""), hold),
			cands: []lp{{name: "hb", funcs: []string{"other/e2e_hold_sleep"}}}},
		{name: "a vmlinux function of that name is another function",
			st:    withTasks(state(""), hold),
			cands: []lp{{name: "hb", funcs: []string{"e2e_hold_sleep"}}}},
		{name: "a deployed patch's copy of a function the replace drops (its nop)",
			st:    withTasks(state("", cum1), kthreadIn("cum_1_a", "cum_1")),
			cands: []lp{{name: "cum_2", replace: true, funcs: []string{"b"}}},
			want: []want{{[]string{"cum_2", "cum_1"}, []string{"vmlinux/a,1"},
				[]string{"sleeps in cum_1's copy of vmlinux/a,1, which cum_2 changes", kthreadStuck}}}},
		{name: "a deployed patch's copy of a function patched again",
			st:    withTasks(state("", cum1), kthreadIn("cum_1_b", "cum_1")),
			cands: []lp{{name: "fix", funcs: []string{"b"}}},
			want:  []want{{[]string{"fix", "cum_1"}, []string{"vmlinux/b,1"}, []string{"cum_1's copy of vmlinux/b,1"}}}},
		// The transition checks the code below the new patch on the
		// func_stack: cum_1's, not the original a task slept in before
		// cum_1 came.
		{name: "the original under a deployed patch is not what the transition checks",
			st:    withTasks(state("", cum1), kthreadIn("a", "")),
			cands: []lp{{name: "cum_2", replace: true, funcs: []string{"a", "b"}}}},
		{name: "a deployed patch's copy of a function the release does not change",
			st:    withTasks(state("", cum1), kthreadIn("cum_1_b", "cum_1")),
			cands: []lp{{name: "fix", funcs: []string{"a"}}}},
		{name: "hybrid: a replace keeps the off-band patch's copy",
			st:    withTasks(state(deploy.ModelHybrid, lp{name: "off_1", offBand: true, funcs: []string{"x"}}), kthreadIn("off_1_x", "off_1")),
			cands: []lp{{name: "cum_2", replace: true, funcs: []string{"b"}}}},
		{name: "mainline: the replace drops the off-band patch's copy",
			st:    withTasks(state(deploy.ModelMainline, lp{name: "off_1", offBand: true, funcs: []string{"x"}}), kthreadIn("off_1_x", "off_1")),
			cands: []lp{{name: "cum_2", replace: true, funcs: []string{"b"}}},
			want:  []want{{[]string{"cum_2", "off_1"}, []string{"vmlinux/x,1"}, []string{"off_1's copy"}}}},
		{name: "a user task in interruptible sleep gets the fake signal",
			st:    withTasks(state(""), user("S", "pipe_read", "vfs_read")),
			cands: []lp{{name: "p", funcs: []string{"pipe_read"}}},
			want: []want{{[]string{"p"}, []string{"vmlinux/pipe_read,1"},
				[]string{"task cat (pid 900, state S)", "after about 15 s the kernel sends it a fake signal"}}}},
		{name: "a user task in uninterruptible sleep does not",
			st:    withTasks(state(""), user("D", "pipe_read")),
			cands: []lp{{name: "p", funcs: []string{"pipe_read"}}},
			want:  []want{{[]string{"p"}, []string{"vmlinux/pipe_read,1"}, []string{"the fake signal (klp_send_signals) does not end a sleep in state D"}}}},
		{name: "a kernel thread in interruptible sleep is woken",
			st:    withTasks(state(""), deploy.Task{PID: 5, Comm: "kt", Kthread: true, State: "S", Frames: []deploy.Frame{{Function: "a"}}}),
			cands: []lp{{name: "p", funcs: []string{"a"}}},
			want:  []want{{[]string{"p"}, []string{"vmlinux/a,1"}, []string{"the kernel wakes it"}}}},
		{name: "a recursive function is named once",
			st:    withTasks(state(""), user("D", "a", "a", "b")),
			cands: []lp{{name: "p", funcs: []string{"a"}}},
			want:  []want{{[]string{"p"}, []string{"vmlinux/a,1"}, []string{"sleeps in the original of vmlinux/a,1, which p"}}}},
		{name: "a task in two changed functions is one finding",
			st:    withTasks(state(""), user("D", "a", "b", "c")),
			cands: []lp{{name: "p", funcs: []string{"b", "a"}}},
			want:  []want{{[]string{"p"}, []string{"vmlinux/a,1", "vmlinux/b,1"}, []string{"the original of vmlinux/a,1 and the original of vmlinux/b,1"}}}},
		// After the first candidate the task stays in the original: the
		// second patches the first's copy, where it is not; the third
		// changes another function it sleeps in.
		{name: "each candidate's step, in load order",
			st:    withTasks(state(""), user("D", "a", "c")),
			cands: []lp{{name: "p1", funcs: []string{"a"}}, {name: "p2", funcs: []string{"a"}}, {name: "p3", funcs: []string{"c"}}},
			want:  []want{{[]string{"p1"}, []string{"vmlinux/a,1"}, nil}, {[]string{"p3"}, []string{"vmlinux/c,1"}, nil}}},
		{name: "a frame names no sympos: it stands for each function of the name",
			st:    withTasks(state(""), user("D", "dup")),
			cands: []lp{{name: "p", funcs: []string{"dup,2"}}},
			want:  []want{{[]string{"p"}, []string{"vmlinux/dup,2"}, nil}}},
		{name: "a comm with control characters is quoted",
			st:    withTasks(state(""), deploy.Task{PID: 6, Comm: "x\x1b[2J\ny", State: "D", Frames: []deploy.Frame{{Function: "a"}}}),
			cands: []lp{{name: "p", funcs: []string{"a"}}},
			want:  []want{{[]string{"p"}, []string{"vmlinux/a,1"}, []string{`task "x\x1b[2J\ny" (pid 6`}}}},
		{name: "no tasks recorded",
			st:    state(""),
			cands: []lp{{name: "p", funcs: []string{"a"}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Check(&Input{Deployed: tt.st, Candidates: candidates(tt.cands...)})
			if err != nil {
				t.Fatal(err)
			}
			var got []Finding
			for _, f := range rep.Findings {
				if f.Rule == RuleTransitionBlocker {
					got = append(got, f)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d KLP020 findings, want %d: %+v", len(got), len(tt.want), got)
			}
			// Findings sort by patches: so do the wants.
			slices.SortStableFunc(tt.want, func(a, b want) int {
				return strings.Compare(strings.Join(a.patches, ","), strings.Join(b.patches, ","))
			})
			for i, w := range tt.want {
				f := got[i]
				if f.Severity != Warning || f.Name != "transition-blocker" {
					t.Errorf("finding %d: %s %s, want warning transition-blocker", i, f.Severity, f.Name)
				}
				if diff := cmp.Diff(w.patches, f.Patches); diff != "" {
					t.Errorf("finding %d patches (-want +got):\n%s", i, diff)
				}
				if diff := cmp.Diff(w.funcs, f.Functions, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
					t.Errorf("finding %d functions (-want +got):\n%s", i, diff)
				}
				for _, s := range w.says {
					if !strings.Contains(f.Message, s) {
						t.Errorf("finding %d message %q lacks %q", i, f.Message, s)
					}
				}
			}
		})
	}
}

// TestTransitionBlockersPendingDeployed: with a transition left pending on
// the host every load is refused (KLP014), and no task is named: the
// candidates never start one.
func TestTransitionBlockersPendingDeployed(t *testing.T) {
	st := withTasks(state("", lp{name: "cum_1", replace: true, funcs: []string{"a"}}), kthreadIn("a", ""))
	st.Patches[0].Transition = new(true)
	rep, err := Check(&Input{Deployed: st, Candidates: candidates(lp{name: "p", funcs: []string{"a"}})})
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, f := range rep.Findings {
		rules = append(rules, f.Rule)
	}
	if !slices.Contains(rules, RuleKernelRefuses) || slices.Contains(rules, RuleTransitionBlocker) {
		t.Errorf("rules %v: want KLP014 and no KLP020", rules)
	}
}
