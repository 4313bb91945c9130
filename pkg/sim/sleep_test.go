package sim

import (
	"slices"
	"testing"

	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

// TestSleepBlocking: tasks a capture found asleep in a function's code
// (Sleep) keep a transition pending exactly when klp_check_stack_func
// looks for that code, and Blocking names them; force lets the next load
// start from where they sleep.
func TestSleepBlocking(t *testing.T) {
	key := func(name string) klp.FuncKey { return klp.FuncKey{Object: "vmlinux", Name: name, Sympos: 1} }
	st := &deploy.State{Schema: deploy.StateSchema, Kernel: deploy.Kernel{Release: "r"}, Patches: []*deploy.Patch{
		{Module: *modSpec{name: "d", funcs: []string{"funcA"}}.module(), Enabled: true, LoadOrder: 1},
	}}
	s, err := New(deploy.ModelMainline)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Deploy(st); err != nil {
		t.Fatal(err)
	}
	s.Sleep("1", key("funcA"), Original) // under d: not what a new patch of funcA checks
	s.Sleep("2", key("funcA"), "d")      // d's copy: checked
	s.Sleep("3", key("funcB"), Original) // checked by a first patch of funcB
	if b := s.Blocking(); b != nil {
		t.Fatalf("Blocking with no transition = %v, want none", b)
	}
	names := func(es []TaskEntry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Name+":"+e.Function+":"+e.Code)
		}
		return out
	}
	step := s.Apply(Action{Kind: "load", Name: "p", Module: modSpec{name: "p", funcs: []string{"funcA", "funcB"}}.module()})
	want := []string{"2:vmlinux/funcA,1:d", "3:vmlinux/funcB,1:original"}
	if step.Pending != "p" || !slices.Equal(names(s.Blocking()), want) {
		t.Fatalf("load p: pending %q, blocking %v; want p, %v", step.Pending, names(s.Blocking()), want)
	}
	if f := s.Apply(Action{Kind: "force", Name: "p"}); !f.Accepted || f.Pending != "" {
		t.Fatalf("force p: %+v", f)
	}
	// The tasks stay where they sleep: p2 patches p's copies, where none is.
	step = s.Apply(Action{Kind: "load", Name: "p2", Module: modSpec{name: "p2", funcs: []string{"funcA", "funcB"}}.module()})
	if step.Pending != "" || len(s.Blocking()) != 0 {
		t.Errorf("load p2: pending %q, blocking %v; want it complete", step.Pending, names(s.Blocking()))
	}
}
