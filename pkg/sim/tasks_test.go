package sim

import (
	"testing"

	"github.com/klpack/klpack/pkg/deploy"
)

// TestHeldTasks pins transitions a held task keeps pending
// (kernel/livepatch/transition.c: klp_check_stack_func, klp_try_switch_task,
// klp_reverse_transition, klp_force_transition; core.c: force_store).
func TestHeldTasks(t *testing.T) {
	tk := modSpec{name: "tk", plain: true}
	tu := modSpec{name: "tu", plain: true}
	nr := modSpec{name: "nr", replaceable: ptr(false), funcs: []string{"funcA"}}
	ab := modSpec{name: "ab", funcs: []string{"funcA", "funcB"}}
	rb := modSpec{name: "rb", replace: true, funcs: []string{"funcB"}}
	b1 := modSpec{name: "b1", funcs: []string{"funcB"}}
	b2 := modSpec{name: "b2", funcs: []string{"funcB"}}
	c := modSpec{name: "c", funcs: []string{"funcC"}}
	rc := modSpec{name: "rc", replace: true, funcs: []string{"funcC"}}
	for _, tt := range []struct {
		name, model string
		steps       []step
	}{
		{name: "Petr's hazard sampled during the transition", model: deploy.ModelHybrid, steps: []step{
			{kind: "load", mod: &tk},
			{kind: "load", mod: &nr, wantFuncs: map[string]string{fn("funcA"): "nr"}},
			{kind: "load", mod: &ab, wantFuncs: map[string]string{fn("funcA"): "ab", fn("funcB"): "ab"}},
			{kind: "hold", name: "tk", fn: "funcB", wantTasks: []string{"tk:ab"}},
			// The task sleeps in ab's funcB, the code below rb's: rb's
			// transition waits. Every other task runs rb's nop for funcA:
			// the original code.
			{kind: "load", mod: &rb, wantPending: "rb", wantTasks: []string{"tk:ab"}, wantStack: []string{"nr", "ab", "rb"},
				wantFuncs: map[string]string{fn("funcA"): Original, fn("funcB"): "rb"}},
			// Another load or disable waits for it.
			{kind: "load", mod: &c, wantErrno: EBUSY, wantPending: "rb", wantTasks: []string{"tk:ab"}},
			{kind: "disable", name: "nr", wantErrno: EBUSY, wantPending: "rb", wantTasks: []string{"tk:ab"}},
			// The task leaves: ab and the nop go, funcA runs nr's code in
			// every task at once.
			{kind: "wake", name: "tk", wantStack: []string{"nr", "rb"},
				wantFuncs:  map[string]string{fn("funcA"): "nr"},
				wantEvents: []string{fn("funcA") + " original->nr"}},
			{kind: "unload", name: "ab"},
		}},
		{name: "the same on mainline: nothing switches at once", model: deploy.ModelMainline, steps: []step{
			{kind: "load", mod: &tk},
			{kind: "load", mod: &nr},
			{kind: "load", mod: &ab},
			{kind: "hold", name: "tk", fn: "funcB", wantTasks: []string{"tk:ab"}},
			{kind: "load", mod: &rb, wantPending: "rb", wantTasks: []string{"tk:ab"},
				wantFuncs: map[string]string{fn("funcA"): Original, fn("funcB"): "rb"}},
			{kind: "wake", name: "tk", wantStack: []string{"rb"}, wantFuncs: map[string]string{}},
		}},
		{name: "a task asleep elsewhere does not block", model: deploy.ModelMainline, steps: []step{
			{kind: "load", mod: &tk},
			{kind: "hold", name: "tk", fn: "funcC", wantTasks: []string{"tk:original"}},
			{kind: "load", mod: &b1, wantTasks: []string{"tk:original"}, wantFuncs: map[string]string{fn("funcB"): "b1"}},
			// Nor in the code above the one a patch checks.
			{kind: "wake", name: "tk"},
			{kind: "hold", name: "tk", fn: "funcB", wantTasks: []string{"tk:b1"}},
			{kind: "load", mod: &b2, wantPending: "b2", wantTasks: []string{"tk:b1"}},
			{kind: "disable", name: "b2", wantTasks: []string{"tk:b1"}, wantFuncs: map[string]string{fn("funcB"): "b1"}},
		}},
		{name: "disabling the patch the task blocks reverses at once", model: deploy.ModelMainline, steps: []step{
			{kind: "load", mod: &tk},
			{kind: "hold", name: "tk", fn: "funcB", wantTasks: []string{"tk:original"}},
			{kind: "load", mod: &b1, wantPending: "b1", wantTasks: []string{"tk:original"}, wantFuncs: map[string]string{fn("funcB"): "b1"}},
			{kind: "enable", name: "b1", wantErrno: EINVAL, wantPending: "b1", wantTasks: []string{"tk:original"}},
			// The task never switched: it is where the reversal goes.
			{kind: "disable", name: "b1", wantStack: []string{}, wantTasks: []string{"tk:original"},
				wantFuncs: map[string]string{fn("funcB"): Original}},
			{kind: "unload", name: "b1", wantTasks: []string{"tk:original"}},
		}},
		{name: "a task held during a transition enters the new code and blocks its reversal", model: deploy.ModelMainline, steps: []step{
			{kind: "load", mod: &tk},
			{kind: "load", mod: &tu},
			{kind: "hold", name: "tk", fn: "funcB", wantTasks: []string{"tk:original"}},
			{kind: "load", mod: &b1, wantPending: "b1", wantTasks: []string{"tk:original"}},
			{kind: "hold", name: "tu", fn: "funcB", wantPending: "b1", wantTasks: []string{"tk:original", "tu:b1"}},
			{kind: "disable", name: "b1", wantPending: "b1", wantTasks: []string{"tk:original", "tu:b1"},
				wantFuncs: map[string]string{fn("funcB"): Original}},
			{kind: "wake", name: "tu", wantTasks: []string{"tk:original"}, wantStack: []string{}},
		}},
		{name: "a task module's exit wakes its task", model: deploy.ModelMainline, steps: []step{
			{kind: "load", mod: &tk},
			{kind: "hold", name: "tk", fn: "funcB", wantTasks: []string{"tk:original"}},
			{kind: "load", mod: &b1, wantPending: "b1", wantTasks: []string{"tk:original"}},
			{kind: "unload", name: "tk", wantStack: []string{"b1"}},
		}},
		{name: "force ends the enable; the task stays in the old code", model: deploy.ModelMainline, steps: []step{
			{kind: "load", mod: &tk},
			{kind: "hold", name: "tk", fn: "funcB", wantTasks: []string{"tk:original"}},
			{kind: "load", mod: &b1, wantPending: "b1", wantTasks: []string{"tk:original"}},
			{kind: "force", name: "b1", wantTasks: []string{"tk:original"}, wantStack: []string{"b1"}},
			// Disabling checks b1's own code, where the task is not.
			{kind: "disable", name: "b1", wantTasks: []string{"tk:original"}, wantStack: []string{},
				wantFuncs: map[string]string{fn("funcB"): Original}},
			// A forced enable of a patch that replaces nothing forces none.
			{kind: "unload", name: "b1", wantTasks: []string{"tk:original"}},
		}},
		{name: "force of a replace keeps the replaced patch's module", model: deploy.ModelMainline, steps: []step{
			{kind: "load", mod: &tk},
			{kind: "load", mod: &b1},
			{kind: "hold", name: "tk", fn: "funcB", wantTasks: []string{"tk:b1"}},
			{kind: "load", mod: &rb, wantPending: "rb", wantTasks: []string{"tk:b1"}},
			{kind: "force", name: "rb", wantTasks: []string{"tk:b1"}, wantStack: []string{"rb"}},
			{kind: "unload", name: "b1", wantErrno: EAGAIN, wantTasks: []string{"tk:b1"}},
		}},
		{name: "force of a disable keeps the patch's module", model: deploy.ModelMainline, steps: []step{
			{kind: "load", mod: &tk},
			{kind: "load", mod: &b1},
			{kind: "hold", name: "tk", fn: "funcB", wantTasks: []string{"tk:b1"}},
			{kind: "disable", name: "b1", wantPending: "b1", wantTasks: []string{"tk:b1"}, wantFuncs: map[string]string{fn("funcB"): Original}},
			{kind: "force", name: "b1", wantTasks: []string{"tk:b1"}, wantStack: []string{}},
			{kind: "unload", name: "b1", wantErrno: EAGAIN, wantTasks: []string{"tk:b1"}},
			{kind: "wake", name: "tk"},
			{kind: "unload", name: "b1", wantErrno: EAGAIN},
		}},
		// A nop's code is the original (klp_init_object_loaded sets its
		// new_func to old_func): a task that entered it blocks the
		// reversal of the replace patch that brought it.
		{name: "a task in a nop's code blocks the reversal", model: deploy.ModelMainline, steps: []step{
			{kind: "load", mod: &tk},
			{kind: "load", mod: &tu},
			{kind: "load", mod: &b1},
			{kind: "hold", name: "tk", fn: "funcB", wantTasks: []string{"tk:b1"}},
			{kind: "load", mod: &rc, wantPending: "rc", wantTasks: []string{"tk:b1"}, wantStack: []string{"b1", "rc"},
				wantFuncs: map[string]string{fn("funcB"): Original, fn("funcC"): "rc"}},
			{kind: "hold", name: "tu", fn: "funcB", wantPending: "rc", wantTasks: []string{"tk:b1", "tu:original"}},
			{kind: "disable", name: "rc", wantPending: "rc", wantTasks: []string{"tk:b1", "tu:original"},
				wantFuncs: map[string]string{fn("funcB"): "b1", fn("funcC"): Original}},
			{kind: "wake", name: "tu", wantStack: []string{"b1"}, wantTasks: []string{"tk:b1"}},
		}},
		{name: "force names the patch in transition only", model: deploy.ModelMainline, steps: []step{
			{kind: "load", mod: &tk},
			{kind: "load", mod: &c},
			{kind: "hold", name: "tk", fn: "funcB", wantTasks: []string{"tk:original"}},
			{kind: "load", mod: &b1, wantPending: "b1", wantTasks: []string{"tk:original"}},
			{kind: "force", name: "c", wantErrno: EINVAL, wantPending: "b1", wantTasks: []string{"tk:original"}},
		}},
		{name: "refusals", model: deploy.ModelMainline, steps: []step{
			{kind: "hold", name: "tk", fn: "funcB", wantErrno: ENOENT},
			{kind: "load", mod: &tk},
			{kind: "wake", name: "tk", wantErrno: EINVAL},
			{kind: "hold", name: "tk", fn: "funcB", wantTasks: []string{"tk:original"}},
			{kind: "hold", name: "tk", fn: "funcB", wantErrno: EBUSY, wantTasks: []string{"tk:original"}},
			{kind: "load", mod: &c, wantTasks: []string{"tk:original"}},
			{kind: "force", name: "c", wantErrno: EINVAL, wantTasks: []string{"tk:original"}},
			{kind: "force", name: "zz", wantErrno: ENOENT, wantTasks: []string{"tk:original"}},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) { runSteps(t, tt.model, tt.steps) })
	}
}
