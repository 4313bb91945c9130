package order

import (
	"fmt"
	"slices"

	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/sim"
)

// Step is one kernel action of a plan, as the host performs it:
//   - load: insmod Path, then wait until the patch's transition is over;
//   - disable: echo 0 > /sys/kernel/livepatch/<name>/enabled, then wait
//     until the patch is gone;
//   - unload: rmmod Name, of a module whose patch was disabled or removed
//     by a replace (the kernel frees the patch, the module stays loaded).
//
// Expect is what sysfs must show once the step is done, as the simulator
// predicts it.
type Step struct {
	Action string `json:"action"`
	Name   string `json:"name"`
	Path   string `json:"path,omitempty"`
	Expect Expect `json:"expect"`
}

// Expect is the livepatch state of the host after a step.
type Expect struct {
	// Patches are the directories of /sys/kernel/livepatch, oldest first
	// (stack_order 1 first).
	Patches []ExpectPatch `json:"patches"`
	// Modules are the livepatch modules loaded (/sys/module/<name>),
	// sorted: a module outlives its patch until it is unloaded.
	Modules []string `json:"modules"`
}

// ExpectPatch is one /sys/kernel/livepatch/<name>.
type ExpectPatch struct {
	Name       string `json:"name"`
	Enabled    bool   `json:"enabled"`
	Transition bool   `json:"transition"`
}

// simulate replays the attempt on the simulator holding st and records
// each step with the state after it. Disabled patches are unloaded at
// once; the modules of the patches a load replaced right after it; the
// off-band patches to load again last. A step the simulator refuses
// ends the replay and is recorded in a.refused.
func (a *attempt) simulate(model string, st *deploy.State) error {
	s, err := sim.New(model)
	if err != nil {
		return err
	}
	if err := s.Deploy(st); err != nil {
		return err
	}
	a.start = expectOf(s.Stack(), s.Modules())
	a.steps = []Step{}
	apply := func(act sim.Action, path string) (sim.Step, bool) {
		got := s.Apply(act)
		if !got.Accepted {
			a.refused = fmt.Sprintf("the kernel refuses step %d, %s %s: %s (%s)", len(a.steps)+1, act.Kind, safetext.Quote(act.Name), got.Reason, got.Errno)
			return got, false
		}
		a.steps = append(a.steps, Step{Action: act.Kind, Name: act.Name, Path: path, Expect: expectOf(got.Stack, s.Modules())})
		return got, true
	}
	for _, d := range st.Patches {
		if !slices.Contains(a.disable, d.Name) {
			continue
		}
		if d.Enabled {
			if _, ok := apply(sim.Action{Kind: ActionDisable, Name: d.Name}, ""); !ok {
				return nil
			}
		}
		if _, ok := apply(sim.Action{Kind: ActionUnload, Name: d.Name}, ""); !ok {
			return nil
		}
	}
	for _, m := range a.cands {
		got, ok := apply(sim.Action{Kind: ActionLoad, Name: m.Name, Module: m, Layer: a.layers[m.Name]}, m.Path)
		if !ok {
			return nil
		}
		for _, name := range got.Replaced {
			if _, ok := apply(sim.Action{Kind: ActionUnload, Name: name}, ""); !ok {
				return nil
			}
		}
	}
	// The re-loaded modules were unloaded with the others their replace
	// removed; were one still loaded, the simulator would refuse its load
	// (EEXIST) and the attempt with it.
	for _, p := range a.reload {
		if _, ok := apply(sim.Action{Kind: ActionLoad, Name: p.Name, Module: &p.Module, Layer: p.Layer}, p.Path); !ok {
			return nil
		}
	}
	return nil
}

func expectOf(stack []sim.StackEntry, modules []string) Expect {
	e := Expect{Patches: []ExpectPatch{}, Modules: modules}
	for _, p := range stack {
		e.Patches = append(e.Patches, ExpectPatch{Name: p.Name, Enabled: p.Enabled, Transition: p.Transition})
	}
	return e
}
