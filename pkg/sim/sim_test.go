package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

// mod builds a livepatch module record patching vmlinux functions.
type modSpec struct {
	name        string
	plain       bool // no livepatch: a task's module
	replace     bool
	replaceable *bool
	set         *uint32
	states      []klp.State
	funcs       []string
}

func (m modSpec) module() *klp.Module {
	f := "static"
	if m.plain {
		return &klp.Module{Name: m.name, Format: &f}
	}
	o := klp.Object{Funcs: []klp.Func{}}
	for _, fn := range m.funcs {
		o.Funcs = append(o.Funcs, klp.Func{OldName: fn, NewFunc: m.name + "_" + fn})
	}
	return &klp.Module{Name: m.name, Livepatch: true, Format: &f, Patches: []*klp.Patch{{
		Replace: m.replace, Replaceable: m.replaceable, ReplaceSet: m.set, States: m.states, Objects: []klp.Object{o},
	}}}
}

func ptr[T any](v T) *T { return &v }

type step struct {
	kind, name string
	mod        *modSpec
	fn         string // hold: the vmlinux function the task sleeps in
	wantErrno  string
	wantFuncs  map[string]string // checked when set
	wantStack  []string          // checked when set
	wantEvents []string          // "function from->to"
	// wantPending is the patch left in transition ("" none), wantTasks
	// "task:code" for every held task; both always checked.
	wantPending string
	wantTasks   []string
}

func fn(name string) string { return "vmlinux/" + name + ",1" }

func runSteps(t *testing.T, model string, steps []step) {
	t.Helper()
	sim, err := New(model)
	if err != nil {
		t.Fatal(err)
	}
	runOn(t, sim, steps)
}

// runOn applies steps to sim and checks each against what it wants.
func runOn(t *testing.T, sim *Sim, steps []step) {
	t.Helper()
	for i, s := range steps {
		a := Action{Kind: s.kind, Name: s.name}
		if s.mod != nil {
			a.Module, a.Name = s.mod.module(), s.mod.name
		}
		if s.fn != "" {
			a.Func = klp.FuncKey{Object: "vmlinux", Name: s.fn, Sympos: 1}
		}
		got := sim.Apply(a)
		where := fmt.Sprintf("step %d (%s %s)", i+1, s.kind, a.Name)
		if got.Pending != s.wantPending {
			t.Errorf("%s: pending %q, want %q", where, got.Pending, s.wantPending)
		}
		var tasks []string
		for _, k := range got.Tasks {
			tasks = append(tasks, k.Name+":"+k.Code)
		}
		if diff := cmp.Diff(s.wantTasks, tasks); diff != "" {
			t.Errorf("%s: tasks (-want +got):\n%s", where, diff)
		}
		if got.Errno != s.wantErrno {
			t.Errorf("%s: errno %q (%s), want %q", where, got.Errno, got.Reason, s.wantErrno)
		}
		if got.Accepted != (s.wantErrno == "") {
			t.Errorf("%s: accepted = %v with errno %q", where, got.Accepted, got.Errno)
		}
		if !got.Accepted && got.Reason == "" {
			t.Errorf("%s: refused without a reason", where)
		}
		if s.wantFuncs != nil {
			if diff := cmp.Diff(s.wantFuncs, got.Funcs); diff != "" {
				t.Errorf("%s: functions (-want +got):\n%s", where, diff)
			}
		}
		if s.wantStack != nil {
			var names []string
			for _, e := range got.Stack {
				names = append(names, e.Name)
			}
			if diff := cmp.Diff(s.wantStack, names, cmp.Transformer("nil", func(s []string) []string {
				if s == nil {
					return []string{}
				}
				return s
			})); diff != "" {
				t.Errorf("%s: stack (-want +got):\n%s", where, diff)
			}
		}
		var events []string
		for _, e := range got.Events {
			events = append(events, e.Function+" "+e.From+"->"+e.To)
			if e.Why == "" || e.Patch == "" {
				t.Errorf("%s: event without patch or why: %+v", where, e)
			}
		}
		if diff := cmp.Diff(s.wantEvents, events); diff != "" {
			t.Errorf("%s: events (-want +got):\n%s", where, diff)
		}
	}
}

// The seed example from the mailing list: funcA patched by the off-band,
// non-replaceable lp1 and by the cumulative lp2; the cumulative lp3 no
// longer patches funcA.
var (
	lp1 = modSpec{name: "lp1", replaceable: ptr(false), set: ptr[uint32](1), funcs: []string{"funcA"}}
	lp2 = modSpec{name: "lp2", replace: true, funcs: []string{"funcA", "funcB"}}
	lp3 = modSpec{name: "lp3", replace: true, funcs: []string{"funcB"}}
)

func TestSeedExampleHybrid(t *testing.T) {
	runSteps(t, deploy.ModelHybrid, []step{
		{kind: "load", mod: &lp1, wantFuncs: map[string]string{fn("funcA"): "lp1"}},
		// lp2 replaces, but the kernel keeps the non-replaceable lp1.
		{kind: "load", mod: &lp2, wantStack: []string{"lp1", "lp2"},
			wantFuncs: map[string]string{fn("funcA"): "lp2", fn("funcB"): "lp2"}},
		// lp3's nop for funcA runs the original code during its
		// transition; when it completes, lp1's funcA takes over at once.
		{kind: "load", mod: &lp3, wantStack: []string{"lp1", "lp3"},
			wantFuncs:  map[string]string{fn("funcA"): "lp1", fn("funcB"): "lp3"},
			wantEvents: []string{fn("funcA") + " original->lp1"}},
		{kind: "unload", name: "lp2"},
		{kind: "unload", name: "lp1", wantErrno: EAGAIN},
	})
}

func TestSeedExampleMainline(t *testing.T) {
	// Today's kernels know nothing of non-replaceable patches: lp2's
	// replace removes the off-band lp1, whose fix silently goes away.
	runSteps(t, deploy.ModelMainline, []step{
		{kind: "load", mod: &lp1},
		{kind: "load", mod: &lp2, wantStack: []string{"lp2"},
			wantFuncs: map[string]string{fn("funcA"): "lp2", fn("funcB"): "lp2"}},
		{kind: "enable", name: "lp1", wantErrno: ENOENT},
		{kind: "load", mod: &lp3, wantStack: []string{"lp3"},
			wantFuncs: map[string]string{fn("funcA"): "original", fn("funcB"): "lp3"}},
		{kind: "unload", name: "lp1"},
		{kind: "unload", name: "lp2"},
	})
}

func TestSeedExampleReplaceSet(t *testing.T) {
	// lp1 is in set 1; lp2 (set 0) touching funcA is refused outright.
	runSteps(t, deploy.ModelReplaceSet, []step{
		{kind: "load", mod: &lp1},
		{kind: "load", mod: &lp2, wantErrno: EINVAL, wantStack: []string{"lp1"},
			wantFuncs: map[string]string{}},
		// lp3 replaces within set 0 only: lp1 and its funcA stay.
		{kind: "load", mod: &lp3, wantStack: []string{"lp1", "lp3"},
			wantFuncs: map[string]string{fn("funcB"): "lp3"}},
	})
}

// TestSelftestLivepatch replays the stories of the kernel's
// tools/testing/selftests/livepatch/test-livepatch.sh.
func TestSelftestLivepatch(t *testing.T) {
	a := modSpec{name: "test_klp_livepatch", funcs: []string{"cmdline_proc_show"}}
	b := modSpec{name: "test_klp_atomic_replace", replace: true, funcs: []string{"meminfo_proc_show"}}
	t.Run("basic", func(t *testing.T) {
		runSteps(t, deploy.ModelMainline, []step{
			{kind: "load", mod: &a, wantFuncs: map[string]string{fn("cmdline_proc_show"): a.name}},
			{kind: "disable", name: a.name, wantFuncs: map[string]string{fn("cmdline_proc_show"): Original}, wantStack: []string{}},
			{kind: "enable", name: a.name, wantErrno: ENOENT},
			{kind: "unload", name: a.name},
			{kind: "unload", name: a.name, wantErrno: ENOENT},
		})
	})
	t.Run("multiple livepatches", func(t *testing.T) {
		c := modSpec{name: "second", funcs: []string{"cmdline_proc_show"}}
		runSteps(t, deploy.ModelMainline, []step{
			{kind: "load", mod: &a},
			{kind: "load", mod: &c, wantFuncs: map[string]string{fn("cmdline_proc_show"): "second"}},
			// Disabling the one below the top changes nothing.
			{kind: "disable", name: a.name, wantFuncs: map[string]string{fn("cmdline_proc_show"): "second"}, wantStack: []string{"second"}},
			{kind: "disable", name: "second", wantFuncs: map[string]string{fn("cmdline_proc_show"): Original}},
		})
	})
	t.Run("atomic replace", func(t *testing.T) {
		runSteps(t, deploy.ModelMainline, []step{
			{kind: "load", mod: &a},
			{kind: "load", mod: &b, wantStack: []string{b.name},
				wantFuncs: map[string]string{fn("cmdline_proc_show"): Original, fn("meminfo_proc_show"): b.name}},
			{kind: "disable", name: a.name, wantErrno: ENOENT},
			{kind: "unload", name: a.name},
			{kind: "unload", name: b.name, wantErrno: EAGAIN},
			{kind: "disable", name: b.name, wantFuncs: map[string]string{fn("meminfo_proc_show"): Original}},
			{kind: "unload", name: b.name},
		})
	})
	t.Run("same name twice", func(t *testing.T) {
		runSteps(t, deploy.ModelMainline, []step{
			{kind: "load", mod: &a},
			{kind: "load", mod: &a, wantErrno: EEXIST},
			{kind: "enable", name: a.name, wantErrno: EINVAL},
		})
	})
}

func TestLockdown(t *testing.T) {
	sim, _ := New(deploy.ModelMainline)
	sim.SetLockdown("integrity")
	unsigned := modSpec{name: "unsigned", funcs: []string{"a"}}.module()
	signed := modSpec{name: "signed", funcs: []string{"a"}}.module()
	signed.Signature = &klp.Signature{IDType: "PKCS#7", Signer: "Build time autogenerated kernel key", KeyID: "01", HashAlgo: "sha256"}
	if st := sim.Apply(Action{Kind: "load", Name: "unsigned", Module: unsigned}); st.Errno != EPERM || st.Cause != CauseLockdown || len(st.Stack) != 0 {
		t.Errorf("unsigned module under lockdown: %+v, want EPERM and nothing loaded", st)
	}
	if st := sim.Apply(Action{Kind: "load", Name: "signed", Module: signed}); !st.Accepted {
		t.Errorf("signed module under lockdown refused: %+v", st)
	}
	if _, err := ParseScenario(strings.NewReader("lockdown: full\nsteps:\n  - unload: x\n")); err == nil {
		t.Error("ParseScenario accepted lockdown: full")
	}
}

// TestSelftestState replays test-state.sh: klp_state compatibility.
func TestSelftestState(t *testing.T) {
	const id = 42
	v := func(version uint32) []klp.State { return []klp.State{{ID: id, Version: version}} }
	lp1 := modSpec{name: "test_klp_state", replace: true, states: v(1), funcs: []string{"console_loglevel_fn"}}
	lp2 := modSpec{name: "test_klp_state2", replace: true, states: v(1), funcs: []string{"console_loglevel_fn"}}
	lp3 := modSpec{name: "test_klp_state3", replace: true, states: v(2), funcs: []string{"console_loglevel_fn"}}
	none := modSpec{name: "test_klp_livepatch", replace: true, funcs: []string{"cmdline_proc_show"}}
	t.Run("take over", func(t *testing.T) {
		runSteps(t, deploy.ModelMainline, []step{
			{kind: "load", mod: &lp1},
			{kind: "load", mod: &lp2, wantStack: []string{lp2.name}},
		})
	})
	t.Run("compatible cumulative", func(t *testing.T) {
		runSteps(t, deploy.ModelMainline, []step{
			{kind: "load", mod: &lp2},
			{kind: "load", mod: &lp3, wantStack: []string{lp3.name}},
			{kind: "unload", name: lp2.name},
			{kind: "load", mod: &lp2, wantErrno: EINVAL, wantStack: []string{lp3.name}},
		})
	})
	t.Run("incompatible: replace without the state", func(t *testing.T) {
		runSteps(t, deploy.ModelMainline, []step{
			{kind: "load", mod: &lp1},
			{kind: "load", mod: &none, wantErrno: EINVAL, wantStack: []string{lp1.name}},
		})
	})
	t.Run("non-replace patches are checked on the states they carry", func(t *testing.T) {
		older := modSpec{name: "older", states: v(1), funcs: []string{"x"}}
		noState := modSpec{name: "nostate", funcs: []string{"y"}}
		runSteps(t, deploy.ModelMainline, []step{
			{kind: "load", mod: &lp3},
			{kind: "load", mod: &noState},
			{kind: "load", mod: &older, wantErrno: EINVAL},
		})
	})
}

// TestSimProperties replays random stacks and checks invariants that hold
// in every kernel model.
func TestSimProperties(t *testing.T) {
	pool := []string{"a", "b", "c", "d", "e"}
	for _, model := range []string{deploy.ModelMainline, deploy.ModelHybrid, deploy.ModelReplaceSet} {
		for seed := range uint64(200) {
			r := rand.New(rand.NewPCG(seed, 7))
			sim, _ := New(model)
			var mods []modSpec
			for i := range 8 {
				m := modSpec{name: fmt.Sprintf("p%d", i), replace: r.IntN(3) == 0, replaceable: ptr(r.IntN(3) != 0), set: ptr(uint32(r.IntN(2)))}
				for _, f := range pool {
					if r.IntN(3) == 0 {
						m.funcs = append(m.funcs, f)
					}
				}
				if len(m.funcs) == 0 {
					m.funcs = []string{pool[r.IntN(len(pool))]}
				}
				if r.IntN(4) == 0 {
					m.states = []klp.State{{ID: 1, Version: uint32(r.IntN(3))}}
				}
				mods = append(mods, m)
			}
			for range 30 {
				m := mods[r.IntN(len(mods))]
				kind := []string{"load", "load", "disable", "unload", "enable"}[r.IntN(5)]
				a := Action{Kind: kind, Name: m.name}
				if kind == "load" {
					a.Module = m.module()
				}
				before := sim.snapshot()
				got := sim.Apply(a)
				where := fmt.Sprintf("%s seed %d: %s %s", model, seed, kind, m.name)
				after := sim.snapshot()
				if !got.Accepted {
					if diff := cmp.Diff(before, after); diff != "" {
						t.Fatalf("%s: refused, but the state changed:\n%s", where, diff)
					}
					continue
				}
				switch kind {
				case "unload":
					if diff := cmp.Diff(before.Funcs, after.Funcs); diff != "" {
						t.Fatalf("%s: unload changed which code runs:\n%s", where, diff)
					}
				case "load":
					if !m.replace {
						break
					}
					// After a replace only the new patch and what the model keeps remain.
					for _, e := range after.Stack {
						if e.Name == m.name {
							continue
						}
						kept := model == deploy.ModelHybrid && !e.Replaceable || model == deploy.ModelReplaceSet && e.ReplaceSet != *m.set
						if !kept {
							t.Fatalf("%s: %s survived a replace in model %s", where, e.Name, model)
						}
					}
					for f, who := range after.Funcs {
						if who != m.name && who != Original && !slices.ContainsFunc(after.Stack, func(e StackEntry) bool { return e.Name == who }) {
							t.Fatalf("%s: %s runs %s, which is not on the stack", where, f, who)
						}
					}
				}
			}
		}
	}
}

// TestBrief: the same steps on two simulators, one brief, give the same
// answers; only Step.Stack, Funcs, Events and Reverted are left out, and
// until SetBrief(false).
func TestBrief(t *testing.T) {
	steps := []Action{
		{Kind: "load", Name: "lp1", Module: modSpec{name: "lp1", funcs: []string{"a", "b"}}.module()},
		{Kind: "load", Name: "lp2", Module: modSpec{name: "lp2", replace: true, funcs: []string{"b"}}.module()},
		{Kind: "unload", Name: "lp1"},
		{Kind: "load", Name: "lp1", Module: modSpec{name: "lp1", funcs: []string{"a", "b"}}.module()},
		{Kind: "disable", Name: "lp2"},
		{Kind: "unload", Name: "nope"},
	}
	full, _ := New(deploy.ModelMainline)
	brief, _ := New(deploy.ModelMainline)
	brief.SetBrief(true)
	for _, a := range steps {
		want, got := full.Apply(a), brief.Apply(a)
		if got.Stack != nil || got.Funcs != nil || got.Events != nil || got.Reverted != nil {
			t.Errorf("%s %s: brief step lists the stack %v, functions %v, events %v or reverted %v", a.Kind, a.Name, got.Stack, got.Funcs, got.Events, got.Reverted)
		}
		if a.Kind == "load" && want.Accepted && len(want.Funcs) == 0 {
			t.Errorf("%s %s: the full step names no function", a.Kind, a.Name)
		}
		want.Stack, want.Funcs, want.Events, want.Reverted = nil, nil, nil, nil
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s %s: brief step differs (-full +brief):\n%s", a.Kind, a.Name, diff)
		}
	}
	brief.SetBrief(false)
	if st := brief.Apply(Action{Kind: "enable", Name: "lp1"}); len(st.Stack) == 0 {
		t.Errorf("after SetBrief(false) the step lists no stack: %+v", st)
	}
}

// TestRecordLoadedAgain: a record loaded again finds the stacks it had,
// and one changed in between lands on its new functions' stacks.
func TestRecordLoadedAgain(t *testing.T) {
	s, _ := New(deploy.ModelMainline)
	rec := modSpec{name: "lp1", funcs: []string{"a", "b"}}.module()
	for _, a := range []Action{{Kind: "load", Name: "lp1", Module: rec}, {Kind: "disable", Name: "lp1"}, {Kind: "unload", Name: "lp1"}} {
		if st := s.Apply(a); !st.Accepted {
			t.Fatalf("%s: %s", a.Kind, st.Reason)
		}
	}
	st := s.Apply(Action{Kind: "load", Name: "lp1", Module: rec})
	if want := map[string]string{fn("a"): "lp1", fn("b"): "lp1"}; !cmp.Equal(st.Funcs, want) {
		t.Errorf("loaded again: functions %v, want %v", st.Funcs, want)
	}
	for _, a := range []Action{{Kind: "disable", Name: "lp1"}, {Kind: "unload", Name: "lp1"}} {
		if st := s.Apply(a); !st.Accepted {
			t.Fatalf("%s: %s", a.Kind, st.Reason)
		}
	}
	rec.Patches[0].Objects[0].Funcs[1].OldName = "c"
	st = s.Apply(Action{Kind: "load", Name: "lp1", Module: rec})
	if want := map[string]string{fn("a"): "lp1", fn("c"): "lp1"}; !cmp.Equal(st.Funcs, want) {
		t.Errorf("loaded again, changed: functions %v, want %v", st.Funcs, want)
	}
}

// TestReverted: a completed replace names, per patch it removed, the
// functions that run the original code afterwards; not those the replace
// or a patch the model keeps still patches, nor those of an object not
// loaded.
func TestReverted(t *testing.T) {
	offBand := modSpec{name: "ob", replaceable: ptr(false), funcs: []string{"c"}}.module()
	inMod := modSpec{name: "lpm", funcs: []string{"d"}}.module()
	inMod.Patches[0].Objects[0].Name = ptr("notloaded")
	tests := []struct {
		model string
		pre   []*klp.Module
		want  map[string][]string
	}{
		{deploy.ModelMainline, []*klp.Module{modSpec{name: "lp1", funcs: []string{"a", "b"}}.module()},
			map[string][]string{"lp1": {fn("a")}}},
		{deploy.ModelMainline, []*klp.Module{modSpec{name: "lp1", funcs: []string{"b"}}.module()},
			map[string][]string{"lp1": nil}},
		{deploy.ModelMainline, []*klp.Module{modSpec{name: "lp1", funcs: []string{"a"}}.module(), modSpec{name: "lp2", funcs: []string{"a", "x"}}.module()},
			map[string][]string{"lp1": {fn("a")}, "lp2": {fn("a"), fn("x")}}},
		// Hybrid keeps the off-band ob: its c stays patched, though lp1
		// patched it too.
		{deploy.ModelHybrid, []*klp.Module{offBand, modSpec{name: "lp1", funcs: []string{"a", "c"}}.module()},
			map[string][]string{"lp1": {fn("a")}}},
		// Mainline replaces ob too: c reverts in both.
		{deploy.ModelMainline, []*klp.Module{offBand, modSpec{name: "lp1", funcs: []string{"a", "c"}}.module()},
			map[string][]string{"ob": {fn("c")}, "lp1": {fn("a"), fn("c")}}},
		// The module lpm patches is not loaded: d runs nothing, not the original.
		{deploy.ModelMainline, []*klp.Module{inMod}, map[string][]string{"lpm": nil}},
	}
	for i, tc := range tests {
		s, _ := New(tc.model)
		s.TrackModules()
		for _, m := range tc.pre {
			if st := s.Apply(Action{Kind: "load", Name: m.Name, Module: m}); !st.Accepted {
				t.Fatalf("%d: load %s: %s", i, m.Name, st.Reason)
			}
		}
		st := s.Apply(Action{Kind: "load", Name: "cum", Module: modSpec{name: "cum", replace: true, funcs: []string{"b"}}.module()})
		if !st.Accepted {
			t.Fatalf("%d: load cum: %s", i, st.Reason)
		}
		if !cmp.Equal(st.Reverted, tc.want, cmpopts.EquateEmpty()) {
			t.Errorf("%d (%s): reverted %v, want %v", i, tc.model, st.Reverted, tc.want)
		}
	}
}

// TestSameName: a function name in two objects, or at two sympos, is two
// func_stacks; a patch of one never lands on the other's.
func TestSameName(t *testing.T) {
	inMod := func(name, object string, sympos uint64) *klp.Module {
		m := modSpec{name: name, funcs: []string{"a"}}.module()
		o := &m.Patches[0].Objects[0]
		if object != "" {
			o.Name = ptr(object)
		}
		o.Funcs[0].OldSympos = sympos
		return m
	}
	s, _ := New(deploy.ModelMainline)
	steps := []struct {
		a    Action
		want map[string]string
	}{
		{Action{Kind: "load", Name: "lp1", Module: inMod("lp1", "", 0)}, map[string]string{"vmlinux/a,1": "lp1"}},
		{Action{Kind: "load", Name: "lp2", Module: inMod("lp2", "m", 0)}, map[string]string{"m/a,1": "lp2"}},
		{Action{Kind: "load", Name: "lp3", Module: inMod("lp3", "", 2)}, map[string]string{"vmlinux/a,2": "lp3"}},
		{Action{Kind: "load", Name: "lp4", Module: inMod("lp4", "", 0)}, map[string]string{"vmlinux/a,1": "lp4"}},
		// lp1 still patches vmlinux a at sympos 1 under lp4.
		{Action{Kind: "disable", Name: "lp4"}, map[string]string{"vmlinux/a,1": "lp1"}},
		{Action{Kind: "disable", Name: "lp2"}, map[string]string{"m/a,1": Original}},
		{Action{Kind: "disable", Name: "lp1"}, map[string]string{"vmlinux/a,1": Original}},
		{Action{Kind: "disable", Name: "lp3"}, map[string]string{"vmlinux/a,2": Original}},
	}
	for _, tc := range steps {
		got := s.Apply(tc.a)
		if !got.Accepted {
			t.Fatalf("%s %s: %s", tc.a.Kind, tc.a.Name, got.Reason)
		}
		if !cmp.Equal(got.Funcs, tc.want) {
			t.Errorf("%s %s: functions %v, want %v", tc.a.Kind, tc.a.Name, got.Funcs, tc.want)
		}
	}
}

// TestStatesAfterFree: freeing a patch that carries no klp_state leaves
// the states of those registered checked: a later patch with a lower version
// is refused.
func TestStatesAfterFree(t *testing.T) {
	s, _ := New(deploy.ModelMainline)
	st := func(v uint32) []klp.State { return []klp.State{{ID: 1, Version: v}} }
	for _, a := range []Action{
		{Kind: "load", Name: "lp1", Module: modSpec{name: "lp1", states: st(2), funcs: []string{"a"}}.module()},
		{Kind: "load", Name: "lp2", Module: modSpec{name: "lp2", funcs: []string{"b"}}.module()},
		{Kind: "disable", Name: "lp2"},
	} {
		if got := s.Apply(a); !got.Accepted {
			t.Fatalf("%s %s: %s", a.Kind, a.Name, got.Reason)
		}
	}
	got := s.Apply(Action{Kind: "load", Name: "lp4", Module: modSpec{name: "lp4", states: st(1), funcs: []string{"d"}}.module()})
	if got.Accepted || got.Cause != CauseState {
		t.Errorf("lp4 with state 1 version 1 under lp1's version 2: accepted %v, cause %q; want refused, %s", got.Accepted, got.Cause, CauseState)
	}
}
