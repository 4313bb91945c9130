package check

import (
	"strings"
	"testing"

	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/sim"
)

// TestWayBack: each way back from a step forward, replayed on the
// simulator as a plan would leave the kernel, with the cost written by
// hand.
func TestWayBack(t *testing.T) {
	c1 := lp{name: "c1", replace: true, funcs: []string{"a", "b"}}
	c2 := lp{name: "c2", replace: true, funcs: []string{"a", "b"}}
	load := func(l lp) sim.Action { return sim.Action{Kind: "load", Name: l.name, Module: l.module()} }
	act := func(kind, name string) sim.Action { return sim.Action{Kind: kind, Name: name} }
	f := klp.FormatStatic
	busy := sim.Action{Kind: "load", Name: "busy", Module: &klp.Module{Name: "busy", Format: &f}}
	hold := sim.Action{Kind: "hold", Name: "busy", Func: klp.FuncKey{Object: "vmlinux", Name: "a", Sympos: 1}}
	tests := []struct {
		name     string
		deployed []lp
		forward  []sim.Action
		cands    []lp
		want     []Back // Note: a substring
	}{
		{"a freed replace patch loads again", []lp{c1}, []sim.Action{load(c2), act("unload", "c1")}, []lp{c2},
			[]Back{{Patch: "c1", Note: "the plan frees c1: going back loads it again"}}},
		// The module of a replaced patch stays loaded until someone
		// unloads it: going back unloads it first, as the loader does.
		{"the replaced module is still loaded", []lp{c1}, []sim.Action{load(c2)}, []lp{c2},
			[]Back{{Patch: "c1", Note: "the plan frees c1"}}},
		{"a forced transition keeps the module", []lp{c1}, []sim.Action{busy, hold, load(c2), act("force", "c2")}, []lp{c2},
			[]Back{{Patch: "c1", Reboot: true, Functions: []string{"vmlinux/a,1", "vmlinux/b,1"}, Note: "c1 cannot load again: its module stays loaded (EAGAIN: module c1 is in use: its patch's transition was forced"}}},
		{"states never go down", []lp{{name: "s1", replace: true, states: []klp.State{{ID: 1, Version: 1}}, funcs: []string{"a"}}},
			[]sim.Action{load(lp{name: "s2", replace: true, states: []klp.State{{ID: 1, Version: 2}}, funcs: []string{"a"}}), act("unload", "s1")},
			[]lp{{name: "s2"}},
			[]Back{{Patch: "s1", Reboot: true, Functions: []string{"vmlinux/a,1"}, Note: "the kernel refuses s1 over the new release (EINVAL"}}},
		{"same module name", []lp{c1}, []sim.Action{act("disable", "c1"), act("unload", "c1"), load(lp{name: "c1", replace: true, funcs: []string{"a"}})}, []lp{{name: "c1"}},
			[]Back{{Patch: "c1", Reboot: true, Functions: []string{"vmlinux/a,1", "vmlinux/b,1"}, Note: "c1 is replaced by a module of the same name"}}},
		// A non-replace candidate on top removes nothing.
		{"nothing removed", []lp{c1}, []sim.Action{load(lp{name: "n", funcs: []string{"c"}})}, []lp{{name: "n"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := state(deploy.ModelMainline, tt.deployed...)
			s, err := sim.New(deploy.ModelMainline)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Deploy(st); err != nil {
				t.Fatal(err)
			}
			for _, a := range tt.forward {
				if got := s.Apply(a); !got.Accepted {
					t.Fatalf("forward %s %s refused: %s", a.Kind, a.Name, got.Reason)
				}
			}
			got := WayBack(s, st, candidates(tt.cands...))
			if len(got) != len(tt.want) {
				t.Fatalf("WayBack = %+v, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Patch != w.Patch || g.Reboot != w.Reboot || strings.Join(g.Functions, " ") != strings.Join(w.Functions, " ") || !strings.Contains(g.Note, w.Note) {
					t.Errorf("back %d = %+v, want %+v", i, g, w)
				}
			}
			// WayBack replays briefly, then hands the simulator back
			// as it was: its steps list the stack again.
			if st := s.Apply(sim.Action{Kind: "unload", Name: "nope"}); len(st.Stack) == 0 {
				t.Errorf("after WayBack a step lists no stack: %+v", st)
			}
		})
	}
}
