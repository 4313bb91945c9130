// Package order plans how to deploy a release: the order to load its
// livepatch modules in, and the patches to disable or modules to unload
// first, such that no check rule fails.
package order

import (
	"fmt"
	"slices"
	"strings"

	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

// PlanSchema names the version of the document `klpack plan --json`
// prints.
const PlanSchema = "klpack.plan/v1"

// Op is one action on the target host.
type Op struct {
	Action string `json:"action"` // disable, unload, load
	Name   string `json:"name"`
	Path   string `json:"path,omitempty"`
}

// Plan is a safe order, or the reason there is none.
type Plan struct {
	Schema      string `json:"schema"`
	KernelModel string `json:"kernel_model"`
	OK          bool   `json:"ok"`
	Ops         []Op   `json:"ops"`
	// Notes say what the extra operations cost.
	Notes []string `json:"notes"`
	// Findings are those left below the failing severity, or, with no
	// plan, the blocking ones of the closest attempt.
	Findings []check.Finding `json:"findings"`
}

// maxDisable bounds how many deployed patches a plan disables first.
const maxDisable = 2

// maxPermute bounds the candidates whose every order is tried; larger
// releases are tried in the given order and off-band first.
const maxPermute = 6

// Make plans the release in in. It tries every order of the candidates,
// first alone, then with disables of up to maxDisable deployed replaceable
// patches (fewest first), and returns the first plan no unacknowledged finding at or above
// failOn blocks.
func Make(in *check.Input, failOn check.Severity) (*Plan, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	st := in.Deployed
	if st == nil {
		st = &deploy.State{Schema: deploy.StateSchema}
	}
	forced, notes := mustRemove(st, in.Candidates)
	optional := disableable(st, forced)
	var best *attempt
	for k := 0; k <= min(len(optional), maxDisable); k++ {
		for _, extra := range subsets(optional, k) {
			for _, cands := range orders(in.Candidates) {
				a, err := try(in, st, append(slices.Clone(forced), extra...), cands, failOn)
				if err != nil {
					return nil, err
				}
				if a.blocking == 0 {
					return a.plan(in, st, append(notes, disableNotes(st, extra, cands)...)), nil
				}
				if best == nil || a.blocking < best.blocking {
					best = a
				}
			}
		}
	}
	p := &Plan{Schema: PlanSchema, KernelModel: best.rep.KernelModel, Ops: []Op{}, Notes: notes, Findings: []check.Finding{}}
	for _, f := range best.rep.Findings {
		if !f.Acknowledged && f.Severity >= failOn {
			p.Findings = append(p.Findings, f)
		}
	}
	return p, nil
}

type attempt struct {
	disable  []string
	cands    []*klp.Module
	rep      *check.Report
	blocking int
	failOn   check.Severity
}

func try(in *check.Input, st *deploy.State, disable []string, cands []*klp.Module, failOn check.Severity) (*attempt, error) {
	changed := *st
	changed.Patches = nil
	for _, p := range st.Patches {
		if slices.Contains(disable, p.Name) {
			q := *p
			q.Enabled = false
			if candidateNamed(cands, p.Name) {
				continue // unloaded as well
			}
			changed.Patches = append(changed.Patches, &q)
			continue
		}
		changed.Patches = append(changed.Patches, p)
	}
	trial := *in
	trial.Deployed, trial.Candidates = &changed, cands
	rep, err := check.Check(&trial)
	if err != nil {
		return nil, err
	}
	a := &attempt{disable: disable, cands: cands, rep: rep, failOn: failOn}
	for _, f := range rep.Findings {
		if !f.Acknowledged && f.Severity >= failOn {
			a.blocking++
		}
	}
	return a, nil
}

func (a *attempt) plan(in *check.Input, st *deploy.State, notes []string) *Plan {
	p := &Plan{Schema: PlanSchema, KernelModel: a.rep.KernelModel, OK: true, Ops: []Op{}, Notes: notes, Findings: a.rep.Findings}
	if p.Notes == nil {
		p.Notes = []string{}
	}
	for _, d := range st.Patches {
		if !slices.Contains(a.disable, d.Name) {
			continue
		}
		if d.Enabled {
			p.Ops = append(p.Ops, Op{Action: ActionDisable, Name: d.Name})
		}
		if candidateNamed(a.cands, d.Name) {
			p.Ops = append(p.Ops, Op{Action: ActionUnload, Name: d.Name})
		}
	}
	for _, m := range a.cands {
		p.Ops = append(p.Ops, Op{Action: ActionLoad, Name: m.Name, Path: m.Path})
	}
	return p
}

// mustRemove lists deployed modules a candidate of the same name must
// replace: disabled (when enabled) and unloaded first.
func mustRemove(st *deploy.State, cands []*klp.Module) ([]string, []string) {
	var names, notes []string
	for _, p := range st.Patches {
		if candidateNamed(cands, p.Name) {
			names = append(names, p.Name)
			notes = append(notes, fmt.Sprintf("module %s is loaded: the candidate of the same name needs it disabled and unloaded first, leaving its functions unpatched until the new one loads", p.Name))
		}
	}
	return names, notes
}

// disableable lists deployed enabled patches a plan may disable first:
// replaceable ones (an off-band patch is never dropped to make room).
func disableable(st *deploy.State, exclude []string) []string {
	var out []string
	for _, p := range st.Patches {
		if !p.Enabled || slices.Contains(exclude, p.Name) || len(p.Patches) == 0 {
			continue
		}
		if r := p.Patches[0].Replaceable; r != nil && !*r || p.Layer == klp.LayerOffBand {
			continue
		}
		out = append(out, p.Name)
	}
	return out
}

func disableNotes(st *deploy.State, disabled []string, cands []*klp.Module) []string {
	var notes []string
	for _, name := range disabled {
		var funcs []string
		for _, p := range st.Patches {
			if p.Name != name || len(p.Patches) == 0 {
				continue
			}
			for _, o := range p.Patches[0].Objects {
				for _, f := range o.Funcs {
					funcs = append(funcs, klp.KeyOf(&o, &f).String())
				}
			}
		}
		notes = append(notes, fmt.Sprintf("disabling %s first returns %s to the code below it until %s loads", name, strings.Join(funcs, ", "), names(cands)))
	}
	return notes
}

func names(ms []*klp.Module) string {
	var n []string
	for _, m := range ms {
		n = append(n, m.Name)
	}
	return strings.Join(n, ", ")
}

func candidateNamed(cands []*klp.Module, name string) bool {
	return slices.ContainsFunc(cands, func(m *klp.Module) bool { return m.Name == name })
}

// orders yields the candidate orders to try: the given one first, then
// the ranked one, then every other permutation of small releases.
func orders(cands []*klp.Module) [][]*klp.Module {
	given := slices.Clone(cands)
	ranked := slices.Clone(cands)
	slices.SortStableFunc(ranked, func(a, b *klp.Module) int { return rank(a) - rank(b) })
	out := [][]*klp.Module{given}
	if !slices.Equal(given, ranked) {
		out = append(out, ranked)
	}
	if len(cands) > maxPermute {
		return out
	}
	permute(slices.Clone(cands), 0, func(p []*klp.Module) {
		if !slices.Equal(p, given) && !slices.Equal(p, ranked) {
			out = append(out, slices.Clone(p))
		}
	})
	return out
}

// rank puts replace patches first: one loaded after another candidate
// would replace it at once (and, on a mainline kernel, remove an
// off-band one). Non-replaceable patches go last, so that their fix is
// the code that runs where a cumulative patch also patches a function.
func rank(m *klp.Module) int {
	if len(m.Patches) == 0 {
		return 1
	}
	p := m.Patches[0]
	switch {
	case p.Replace:
		return 0
	case p.Replaceable != nil && !*p.Replaceable:
		return 2
	}
	return 1
}

func permute(a []*klp.Module, k int, fn func([]*klp.Module)) {
	if k == len(a) {
		fn(a)
		return
	}
	for i := k; i < len(a); i++ {
		a[k], a[i] = a[i], a[k]
		permute(a, k+1, fn)
		a[k], a[i] = a[i], a[k]
	}
}

// subsets returns the k-element subsets of s, in order.
func subsets(s []string, k int) [][]string {
	if k == 0 {
		return [][]string{nil}
	}
	var out [][]string
	for i := range s {
		for _, rest := range subsets(s[i+1:], k-1) {
			out = append(out, append([]string{s[i]}, rest...))
		}
	}
	return out
}
