package sim

import (
	"testing"

	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

// deployed is one patch of a deployed state for a transition test.
type deployed struct {
	mod                 modSpec
	enabled, transition bool
}

func deployOn(t *testing.T, model string, ps ...deployed) *Sim {
	t.Helper()
	st := &deploy.State{Schema: deploy.StateSchema, Kernel: deploy.Kernel{Release: "6.12.117+deb12-amd64"}}
	for i, p := range ps {
		st.Patches = append(st.Patches, &deploy.Patch{Module: *p.mod.module(), Enabled: p.enabled,
			Transition: ptr(p.transition), LoadOrder: i + 1, Layer: klp.LayerCumulative})
	}
	s, err := New(model)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Deploy(st); err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	return s
}

// TestTransitionPending pins what the kernel does while a transition is
// pending (kernel/livepatch/core.c: __klp_enable_patch and
// __klp_disable_patch return -EBUSY while klp_transition_patch is set;
// enabled_store reverses the transition of klp_transition_patch itself
// and refuses to write the state a patch already has).
func TestTransitionPending(t *testing.T) {
	base := modSpec{name: "base", funcs: []string{"funcA"}}
	busy := modSpec{name: "busy", funcs: []string{"funcA", "funcB"}}
	next := modSpec{name: "next", funcs: []string{"funcC"}}
	rep := modSpec{name: "rep", replace: true, funcs: []string{"funcC"}}
	enabling := []deployed{{mod: base, enabled: true}, {mod: busy, enabled: true, transition: true}}
	disabling := []deployed{{mod: base, enabled: true}, {mod: busy, enabled: false, transition: true}}
	for _, tt := range []struct {
		name   string
		state  []deployed
		steps  []step
		stackT string // the patch the stack marks as in transition after the steps
	}{
		{name: "load refused while another patch is being enabled", state: enabling, stackT: "busy", steps: []step{
			{wantPending: "busy", kind: "load", mod: &next, wantErrno: EBUSY, wantStack: []string{"base", "busy"}},
		}},
		{name: "load refused while another patch is being disabled", state: disabling, stackT: "busy", steps: []step{
			{wantPending: "busy", kind: "load", mod: &next, wantErrno: EBUSY, wantStack: []string{"base", "busy"}},
		}},
		{name: "disabling another patch refused", state: enabling, stackT: "busy", steps: []step{
			{wantPending: "busy", kind: "disable", name: "base", wantErrno: EBUSY, wantStack: []string{"base", "busy"}},
		}},
		{name: "disabling the patch being enabled reverses it", state: enabling, steps: []step{
			{kind: "disable", name: "busy", wantStack: []string{"base"},
				wantFuncs: map[string]string{fn("funcA"): "base", fn("funcB"): Original}},
			// The transition is over: the next load goes through.
			{kind: "load", mod: &next, wantStack: []string{"base", "next"}, wantFuncs: map[string]string{fn("funcC"): "next"}},
		}},
		{name: "enabling the patch being disabled reverses it", state: disabling, steps: []step{
			{kind: "enable", name: "busy", wantStack: []string{"base", "busy"},
				wantFuncs: map[string]string{fn("funcA"): "busy", fn("funcB"): "busy"}},
			{kind: "load", mod: &next, wantStack: []string{"base", "busy", "next"}},
		}},
		{name: "disabling the patch being disabled is the state it has", state: disabling, stackT: "busy", steps: []step{
			{wantPending: "busy", kind: "disable", name: "busy", wantErrno: EINVAL},
		}},
		{name: "enabling the patch being enabled is the state it has", state: enabling, stackT: "busy", steps: []step{
			{wantPending: "busy", kind: "enable", name: "busy", wantErrno: EINVAL},
		}},
		{name: "the module of a transitioning patch cannot be removed", state: disabling, stackT: "busy", steps: []step{
			{wantPending: "busy", kind: "unload", name: "busy", wantErrno: EAGAIN},
		}},
		// A replace being enabled has its nops on the stacks: funcA runs
		// the original in the tasks that switched, and base's again when
		// the reversal ends.
		{name: "reversing a replace in transition drops its nops", state: []deployed{{mod: base, enabled: true}, {mod: rep, enabled: true, transition: true}}, steps: []step{
			{kind: "disable", name: "rep", wantStack: []string{"base"},
				wantFuncs: map[string]string{fn("funcA"): "base", fn("funcC"): Original}},
		}},
		{name: "no transition: a disabled patch was freed", state: []deployed{{mod: base, enabled: true}, {mod: busy}}, steps: []step{
			{kind: "enable", name: "busy", wantErrno: ENOENT},
			{kind: "load", mod: &next, wantStack: []string{"base", "next"}},
			{kind: "unload", name: "busy"},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := deployOn(t, deploy.ModelMainline, tt.state...)
			runOn(t, s, tt.steps)
			got := ""
			for _, e := range s.stack() {
				if e.Transition {
					got = e.Name
				}
			}
			if got != tt.stackT {
				t.Errorf("in transition after the steps: %q, want %q", got, tt.stackT)
			}
		})
	}
}

func TestDeployTwoTransitions(t *testing.T) {
	st := &deploy.State{Kernel: deploy.Kernel{Release: "6.1.0-56-amd64"}}
	for i, name := range []string{"a", "b"} {
		m := modSpec{name: name, funcs: []string{"f" + name}}
		st.Patches = append(st.Patches, &deploy.Patch{Module: *m.module(), Enabled: true, Transition: ptr(true), LoadOrder: i + 1})
	}
	s, _ := New(deploy.ModelMainline)
	if err := s.Deploy(st); err == nil {
		t.Fatal("Deploy of two patches in transition: no error")
	}
}
