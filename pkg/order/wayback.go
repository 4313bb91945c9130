package order

import (
	"fmt"
	"slices"
	"strings"

	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/sim"
)

// WayBack says what going back to the deployed release costs once the
// plan has run, as the simulator answers it: the plan's steps are
// replayed, then every deployed patch the plan removed is loaded again
// over the new release, oldest first. A patch a completed replace freed
// can only come back from its module file (the host must keep a copy); a
// patch the kernel refuses over the new release (klp_state versions
// cannot go down, a replace must carry every state) can only come back
// after the new release is disabled, leaving its functions unpatched
// meanwhile. The plan unloads the module of every patch it removes, so
// each loads again as it would on the host. It returns a sentence per
// patch; none when the plan removes nothing.
func WayBack(in *check.Input, p *Plan) ([]string, error) {
	st := in.Deployed
	if st == nil || !p.OK {
		return nil, nil
	}
	s, err := sim.New(deploy.ModelFor(in.Model, st))
	if err != nil {
		return nil, err
	}
	if err := s.Deploy(st); err != nil {
		return nil, err
	}
	record := func(name string) *klp.Module {
		for _, m := range in.Candidates {
			if m.Name == name {
				return m
			}
		}
		for _, d := range st.Patches {
			if d.Name == name {
				return &d.Module
			}
		}
		return nil
	}
	var last sim.Step
	for i, step := range p.Steps {
		act := sim.Action{Kind: step.Action, Name: step.Name}
		if step.Action == ActionLoad {
			act.Module = record(step.Name)
			if d := deployedPatch(st, step.Name); d != nil && !candidateNamed(in.Candidates, step.Name) {
				act.Layer = d.Layer
			}
		}
		if last = s.Apply(act); !last.Accepted {
			return nil, fmt.Errorf("plan step %d, %s %s: the simulator refuses it: %s", i+1, step.Action, step.Name, last.Reason)
		}
	}
	var notes []string
	for _, d := range st.Patches {
		if !d.Enabled || !d.Livepatch || enabledIn(last.Stack, d.Name) && !candidateNamed(in.Candidates, d.Name) {
			continue
		}
		name := safetext.Quote(d.Name)
		if candidateNamed(in.Candidates, d.Name) {
			notes = append(notes, fmt.Sprintf("%s is replaced by a module of the same name: going back means disabling and unloading the new one first, leaving its functions unpatched until the old one is loaded again", name))
			continue
		}
		got := s.Apply(sim.Action{Kind: ActionLoad, Name: d.Name, Module: &d.Module, Layer: d.Layer})
		if !got.Accepted {
			notes = append(notes, fmt.Sprintf("the kernel refuses %s over the new release (%s: %s): going back means disabling the new release first, leaving %s unpatched meanwhile",
				name, got.Errno, got.Reason, strings.Join(funcsOf(d), ", ")))
			continue
		}
		notes = append(notes, fmt.Sprintf("the plan frees %s: going back loads it again, from a copy of its module file (the packages that ship it may be gone by then)", name))
	}
	return notes, nil
}

func deployedPatch(st *deploy.State, name string) *deploy.Patch {
	for _, d := range st.Patches {
		if d.Name == name {
			return d
		}
	}
	return nil
}

func enabledIn(stack []sim.StackEntry, name string) bool {
	return slices.ContainsFunc(stack, func(e sim.StackEntry) bool { return e.Name == name && e.Enabled })
}
