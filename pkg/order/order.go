// Package order plans how to deploy a release: the order to load its
// livepatch modules in, and the patches to disable or modules to unload
// first, such that no check rule fails; of those, the best (Make). The
// plan lists the kernel steps the host performs, each with the state the
// simulator (pkg/sim) predicts after it, for the host to compare with its
// sysfs. The document is klpack.plan/v1 (ParsePlan, ReadPlan).
//
// Errors callers may test for: ErrBadPlan, a plan document that cannot be
// used.
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
	// Ops are the release's loads and the disables and unloads before
	// them, as klpack.plan/v1 had them before Steps; Loads reads them.
	Ops []Op `json:"ops"`
	// Steps are every kernel action of the plan, each with what sysfs
	// shows after it; absent in plans written before them.
	Steps []Step `json:"steps"`
	// Start is what sysfs shows before the first step, the deployed
	// state the plan was made for as the simulator holds it: a host in
	// another state is not the one the steps were planned for. Absent in
	// plans written before it and in a plan with no safe order.
	Start *Expect `json:"start,omitempty"`
	// Notes say what the extra operations cost.
	Notes []string `json:"notes"`
	// WayBack says what going back to the deployed release costs once
	// the plan has run (WayBack); absent when it removes nothing.
	WayBack []string `json:"way_back,omitempty"`
	// Findings are those left below the failing severity, or, with no
	// plan, the blocking ones of the closest attempt.
	Findings []check.Finding `json:"findings"`
}

// maxDisable bounds how many deployed patches a plan disables first.
const maxDisable = 2

// maxPermute bounds the candidates whose every order is tried; larger
// releases are tried in the given order and off-band first.
const maxPermute = 6

// Make plans the release in in: the best of the attempts no
// unacknowledged finding at or above failOn blocks.
//
// Attempts are every order of the candidates (maxPermute! = 720 at most,
// 2 past maxPermute candidates), first with no deployed patch disabled,
// then with 1 and up to maxDisable of the n deployed replaceable patches
// disabled first (1 + n + n(n-1)/2 sets). Each attempt is one check, two
// when a replace removes an off-band patch the check says must stay (the
// plan then loads it again): the worst case, no safe plan, is
// 2 × 720 × (1 + n + n(n-1)/2) checks (23,040 for n = 5).
//
// Among the acceptable attempts of the fewest disables, the best has the
// fewest unacknowledged findings by severity (errors, then warnings, then
// infos), then the fewest kernel transitions, then was tried first. More
// disables are tried only when no attempt with fewer is acceptable: a
// disable the release does not need removes a deployed patch's functions
// with no finding (check sees a disabled patch, not the fix it took
// away), so letting it compete on findings would launder the warning a
// replace gives for the same loss (KLP004, KLP016).
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
	var best, closest *attempt
	for k := 0; k <= min(len(optional), maxDisable) && best == nil; k++ {
		for _, extra := range subsets(optional, k) {
			for _, cands := range orders(in.Candidates) {
				a, err := try(in, st, forced, extra, cands, failOn)
				if err != nil {
					return nil, err
				}
				switch {
				case a.blocking == 0:
					if best == nil || a.better(best) {
						best = a
					}
				case closest == nil || a.blocking < closest.blocking:
					closest = a
				}
			}
		}
	}
	if best != nil {
		p := best.plan(st, append(notes, best.notes(st)...))
		back, err := WayBack(in, p)
		if err != nil {
			return nil, err
		}
		p.WayBack = back
		return p, nil
	}
	p := &Plan{Schema: PlanSchema, KernelModel: closest.rep.KernelModel, Ops: []Op{}, Steps: []Step{}, Notes: notes, Findings: []check.Finding{}}
	if p.Notes == nil {
		p.Notes = []string{}
	}
	for _, f := range closest.rep.Findings {
		if !f.Acknowledged && f.Severity >= failOn {
			p.Findings = append(p.Findings, f)
		}
	}
	// A refusal check did not see (a disable or an unload) is the only
	// reason left to give.
	if closest.refused != "" && len(p.Findings) == 0 {
		p.Notes = append(p.Notes, closest.refused)
	}
	return p, nil
}

// attempt is one way to deploy the release: the deployed patches to
// disable (and unload) first, the candidates in load order, the off-band
// patches to load again after them, what check says of it and the kernel
// steps the simulator takes.
type attempt struct {
	disable []string
	extra   []string // the disables the release does not itself need
	cands   []*klp.Module
	// layers are the candidates' declared layers (check.Input.Layers):
	// on hybrid kernels an off-band one is not replaceable.
	layers   map[string]string
	reload   []*deploy.Patch
	rep      *check.Report
	blocking int
	start    Expect
	steps    []Step
	// refused says which step the simulator refuses, when one is.
	refused string
}

func try(in *check.Input, st *deploy.State, forced, extra []string, cands []*klp.Module, failOn check.Severity) (*attempt, error) {
	a := &attempt{disable: append(slices.Clone(forced), extra...), extra: extra, cands: cands, layers: in.Layers}
	changed := *st
	changed.Patches = nil
	for _, p := range st.Patches {
		if slices.Contains(a.disable, p.Name) {
			// The plan waits until the disable completes: the patch
			// is gone, in no transition.
			q := *p
			q.Enabled, q.Transition = false, nil
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
	// An off-band patch a replace removes (KLP009) is loaded again after
	// the release: check the release as it then stands, the patch no
	// longer deployed but loaded last.
	if a.reload = removedOffBand(&changed, rep, cands); len(a.reload) > 0 {
		again := changed
		again.Patches = slices.DeleteFunc(slices.Clone(changed.Patches), func(p *deploy.Patch) bool { return slices.Contains(a.reload, p) })
		trial.Deployed, trial.Candidates = &again, slices.Clone(cands)
		for _, p := range a.reload {
			trial.Candidates = append(trial.Candidates, reloaded(p))
		}
		if rep, err = check.Check(&trial); err != nil {
			return nil, err
		}
	}
	a.rep = rep
	for _, f := range rep.Findings {
		if !f.Acknowledged && f.Severity >= failOn {
			a.blocking++
		}
	}
	if err := a.simulate(rep.KernelModel, st); err != nil {
		return nil, err
	}
	if a.refused != "" {
		a.blocking++
	}
	return a, nil
}

// removedOffBand lists the deployed patches of st that, as the
// unacknowledged KLP009 findings of rep say, a replace among the
// candidates removes though they must stay.
func removedOffBand(st *deploy.State, rep *check.Report, cands []*klp.Module) []*deploy.Patch {
	var out []*deploy.Patch
	for _, p := range st.Patches {
		if !p.Enabled || candidateNamed(cands, p.Name) {
			continue
		}
		if slices.ContainsFunc(rep.Findings, func(f check.Finding) bool {
			return f.Rule == check.RuleModelDropsOffBand && !f.Acknowledged && len(f.Patches) == 2 && f.Patches[1] == p.Name
		}) {
			out = append(out, p)
		}
	}
	return out
}

// reloaded is the record of a deployed patch loaded again: a candidate
// carries no layer, so one that was off-band by its layer alone says
// non-replaceable in its record.
func reloaded(p *deploy.Patch) *klp.Module {
	m := p.Module
	if p.Layer != klp.LayerOffBand || len(m.Patches) == 0 || m.Patches[0].Replaceable != nil {
		return &m
	}
	first := *m.Patches[0]
	first.Replaceable = new(bool)
	m.Patches = append([]*klp.Patch{&first}, m.Patches[1:]...)
	return &m
}

// better reports whether a is a better plan than b, tried before it.
func (a *attempt) better(b *attempt) bool {
	ca, cb := unacked(a.rep), unacked(b.rep)
	var sevs []check.Severity
	for s := range ca {
		sevs = append(sevs, s)
	}
	for s := range cb {
		if _, ok := ca[s]; !ok {
			sevs = append(sevs, s)
		}
	}
	slices.Sort(sevs)
	for _, s := range slices.Backward(sevs) {
		if ca[s] != cb[s] {
			return ca[s] < cb[s]
		}
	}
	return a.transitions() < b.transitions()
}

// unacked counts the unacknowledged findings of rep by severity.
func unacked(rep *check.Report) map[check.Severity]int {
	n := map[check.Severity]int{}
	for _, f := range rep.Findings {
		if !f.Acknowledged {
			n[f.Severity]++
		}
	}
	return n
}

// transitions counts the steps that start a transition the host waits
// for: each load and each disable.
func (a *attempt) transitions() int {
	n := 0
	for _, s := range a.steps {
		if s.Action == ActionLoad || s.Action == ActionDisable {
			n++
		}
	}
	return n
}

func (a *attempt) plan(st *deploy.State, notes []string) *Plan {
	p := &Plan{Schema: PlanSchema, KernelModel: a.rep.KernelModel, OK: true, Ops: []Op{}, Start: &a.start, Steps: a.steps, Notes: notes, Findings: a.rep.Findings}
	if p.Notes == nil {
		p.Notes = []string{}
	}
	// Ops are what klpack.plan/v1 said before steps: the disables and
	// unloads before the loads, and the release's loads.
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

// notes say what the attempt's extra disables and re-loads cost.
func (a *attempt) notes(st *deploy.State) []string {
	out := disableNotes(st, a.extra, a.cands)
	for _, p := range a.reload {
		out = append(out, fmt.Sprintf("on the %s kernel model loading %s removes the off-band %s: the plan unloads it and loads it again last, and %s run without its fix in between", a.rep.KernelModel, names(a.cands), p.Name, strings.Join(funcsOf(p), ", ")))
	}
	return out
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
// replaceable ones (an off-band patch is never dropped to make room), not
// in transition (the host settles a pending transition before any plan;
// the plan does not reverse it).
func disableable(st *deploy.State, exclude []string) []string {
	var out []string
	for _, p := range st.Patches {
		if !p.Enabled || p.Transition != nil && *p.Transition || slices.Contains(exclude, p.Name) || len(p.Patches) == 0 {
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
			if p.Name == name {
				funcs = append(funcs, funcsOf(p)...)
			}
		}
		notes = append(notes, fmt.Sprintf("disabling %s first returns %s to the code below it until %s loads", name, strings.Join(funcs, ", "), names(cands)))
	}
	return notes
}

// funcsOf names the functions a deployed patch patches, as sysfs does.
func funcsOf(p *deploy.Patch) []string {
	var funcs []string
	if len(p.Patches) == 0 {
		return nil
	}
	for _, o := range p.Patches[0].Objects {
		for _, f := range o.Funcs {
			funcs = append(funcs, klp.KeyOf(&o, &f).String())
		}
	}
	return funcs
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
