package check

import (
	"fmt"
	"slices"
	"strings"

	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/sim"
)

// Back is what returning one deployed patch costs once a release has
// replaced or removed it.
type Back struct {
	Patch string
	// Reboot is set when the host cannot go back in place without
	// leaving functions unpatched for a while: a reboot into the old
	// release is then the only clean way back.
	Reboot bool
	// Functions are the functions left unpatched meanwhile.
	Functions []string
	Note      string
}

// WayBack replays, on s, the kernel after a release's step forward, going
// back to the deployed state st: every deployed patch the step removed is
// unloaded (as the package loader does) and loaded again, oldest first.
// The kernel may refuse: klp_state versions never go down and a replace
// must carry every state, a module whose transition was forced never
// unloads, and a module name is unique. It returns one Back per patch to bring
// back, in the deployed load order; none when the step removed nothing.
func WayBack(s *sim.Sim, st *deploy.State, candidates []*klp.Module) []Back {
	if st == nil {
		return nil
	}
	isCandidate := func(name string) bool {
		return slices.ContainsFunc(candidates, func(m *klp.Module) bool { return m.Name == name })
	}
	deployed := slices.Clone(st.Patches)
	deploy.SortPatches(deployed)
	before := enabledNames(s.Stack())
	// Only the kernel's answers are read here: a step listing the whole
	// stack would make the way back quadratic in the deployed patches.
	s.SetBrief(true)
	defer s.SetBrief(false)
	var backs []Back
	for _, d := range deployed {
		if !d.Enabled || !d.Livepatch {
			continue
		}
		q := safetext.Quote(d.Name)
		if isCandidate(d.Name) {
			backs = append(backs, Back{Patch: d.Name, Reboot: true, Functions: patchFuncs(&d.Module),
				Note: fmt.Sprintf("%s is replaced by a module of the same name: going back means disabling and unloading the new one first, leaving its functions unpatched until the old one is loaded again", q)})
			continue
		}
		if before[d.Name] {
			continue
		}
		if got := s.Apply(sim.Action{Kind: "unload", Name: d.Name}); !got.Accepted && got.Cause != sim.CauseNotLoaded {
			backs = append(backs, Back{Patch: d.Name, Reboot: true, Functions: patchFuncs(&d.Module),
				Note: fmt.Sprintf("%s cannot load again: its module stays loaded (%s: %s), so only a reboot brings it back", q, got.Errno, got.Reason)})
			continue
		}
		got := s.Apply(sim.Action{Kind: "load", Name: d.Name, Module: &d.Module, Layer: d.Layer})
		if !got.Accepted {
			backs = append(backs, Back{Patch: d.Name, Reboot: true, Functions: patchFuncs(&d.Module),
				Note: fmt.Sprintf("the kernel refuses %s over the new release (%s: %s): going back means disabling the new release first, leaving %s unpatched meanwhile",
					q, got.Errno, got.Reason, strings.Join(patchFuncs(&d.Module), ", "))})
			continue
		}
		backs = append(backs, Back{Patch: d.Name,
			Note: fmt.Sprintf("the plan frees %s: going back loads it again, from a copy of its module file (the packages that ship it may be gone by then)", q)})
	}
	return backs
}

// wayBack reports the ways back that need a reboot. No candidate is
// passed: one named as a deployed patch never loads here (EEXIST, KLP007
// says so), so the deployed one is still enabled.
func (c *checker) wayBack(s *sim.Sim, st *deploy.State) {
	for _, b := range WayBack(s, st, nil) {
		if b.Reboot {
			c.report(RuleRollbackReboot, c.in.DeployedPath, "going back: "+b.Note, []string{b.Patch}, b.Functions)
		}
	}
}

func enabledNames(stack []sim.StackEntry) map[string]bool {
	m := make(map[string]bool, len(stack))
	for _, e := range stack {
		if e.Enabled {
			m[e.Name] = true
		}
	}
	return m
}

// patchFuncs names the functions a module's patch patches, as sysfs does.
func patchFuncs(m *klp.Module) []string {
	if len(m.Patches) == 0 {
		return nil
	}
	var funcs []string
	for i := range m.Patches[0].Objects {
		o := &m.Patches[0].Objects[i]
		for j := range o.Funcs {
			funcs = append(funcs, klp.KeyOf(o, &o.Funcs[j]).String())
		}
	}
	return funcs
}
