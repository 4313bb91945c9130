package order

import (
	"fmt"

	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/sim"
)

// WayBack says what going back to the deployed release costs once the
// plan has run, as check.WayBack answers it on the simulator after the
// plan's steps. The plan unloads the module of every patch it removes, so
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
	for i, step := range p.Steps {
		act := sim.Action{Kind: step.Action, Name: step.Name}
		if step.Action == ActionLoad {
			if act.Module = candidate(in, step.Name); act.Module == nil {
				if d := deployedPatch(st, step.Name); d != nil {
					act.Module, act.Layer = &d.Module, d.Layer
				}
			}
		}
		if got := s.Apply(act); !got.Accepted {
			return nil, fmt.Errorf("plan step %d, %s %s: the simulator refuses it: %s", i+1, step.Action, step.Name, got.Reason)
		}
	}
	var notes []string
	for _, b := range check.WayBack(s, st, in.Candidates) {
		notes = append(notes, b.Note)
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

func candidate(in *check.Input, name string) *klp.Module {
	for _, m := range in.Candidates {
		if m.Name == name {
			return m
		}
	}
	return nil
}
