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

// ReportSchema names the version of the document `klpack check --json`
// prints.
const ReportSchema = "klpack.check/v1"

// Input is what a check looks at: the deployed set and the candidates of
// one release, in the order they would be loaded.
type Input struct {
	Deployed *deploy.State
	// DeployedPath locates findings about deployed patches.
	DeployedPath string
	Candidates   []*klp.Module
	// Model overrides the deployed state's kernel model.
	Model string
	// Symbols and Traceable add the target-kernel checks when set.
	Symbols   *Symbols
	Traceable *Traceable
	// HookKernelLacks is what the target kernel lacks for BPF hooks, as
	// hookabi.Target.Lacks says from its config or BTF; nil when unknown.
	HookKernelLacks []string
	Acks            []Ack
	// Tracing is what the host's ftrace shows of IPMODIFY users
	// (enabled_functions and the kprobes list, read by pkg/ftrace); nil:
	// the deployed state's, if it has one.
	Tracing *deploy.Tracing
	// Sites are the instrumentation sites of the target's objects
	// (vmlinux and its modules) by object name, as elfscan.OpenSites reads
	// them from the target's files; CandidateSites those of the
	// candidates' own code, by module name. With both, KLP019 compares
	// each patched function's original with its new function.
	Sites          map[string]*klp.ObjectSites
	CandidateSites map[string]*klp.ObjectSites
	// Layers are the candidates' layers by module name (klp.LayerOffBand
	// or klp.LayerCumulative), as a release declares them; a candidate
	// without one is replaceable unless it declares otherwise.
	Layers map[string]string
	// Target is the kernel build the release pins (vmlinux build-id,
	// target modules' srcversion and build-id); nil when not given.
	Target *klp.Target
}

// Finding is one rule firing.
type Finding struct {
	Rule      string   `json:"rule"`
	Name      string   `json:"name"`
	Severity  Severity `json:"severity"`
	Message   string   `json:"message"`
	Patches   []string `json:"patches"`
	Functions []string `json:"functions,omitempty"`
	// File is the candidate (or state file) the finding is about.
	File         string `json:"file,omitempty"`
	Why          string `json:"why"`
	Acknowledged bool   `json:"acknowledged,omitempty"`
	AckReason    string `json:"ack_reason,omitempty"`
}

// Report is the outcome of a check.
type Report struct {
	Schema      string    `json:"schema"`
	KernelModel string    `json:"kernel_model"`
	Release     string    `json:"kernel_release"`
	Findings    []Finding `json:"findings"`
}

// Failed reports whether any finding at or above sev is not
// acknowledged.
func (r *Report) Failed(sev Severity) bool {
	return slices.ContainsFunc(r.Findings, func(f Finding) bool { return !f.Acknowledged && f.Severity >= sev })
}

// patchInfo is what the rules need of one livepatch module.
type patchInfo struct {
	name        string
	file        string
	candidate   bool
	enabled     bool
	replace     bool
	replaceable bool
	funcs       []string // sysfs keys
	hooks       []klp.Hook
	mod         *klp.Module
}

func info(m *klp.Module, file, layer string, candidate, enabled bool) *patchInfo {
	pi := &patchInfo{name: m.Name, file: file, candidate: candidate, enabled: enabled, replaceable: layer != klp.LayerOffBand, mod: m}
	if len(m.Patches) == 0 {
		return pi
	}
	p := m.Patches[0]
	pi.replace = p.Replace
	if p.Replaceable != nil {
		pi.replaceable = *p.Replaceable
	}
	pi.hooks = p.Hooks
	for i := range p.Objects {
		o := &p.Objects[i]
		for j := range o.Funcs {
			pi.funcs = append(pi.funcs, klp.KeyOf(o, &o.Funcs[j]).String())
		}
	}
	return pi
}

// Check runs every rule over in and returns the findings, sorted by
// severity (worst first), rule and patch.
func Check(in *Input) (*Report, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	st := in.Deployed
	if st == nil {
		st = &deploy.State{Schema: deploy.StateSchema}
	}
	model := deploy.ModelFor(in.Model, st)
	rep := &Report{Schema: ReportSchema, KernelModel: model, Release: st.Kernel.Release, Findings: []Finding{}}
	c := &checker{in: in, rep: rep, byName: map[string]*patchInfo{}}
	// The simulator takes the deployed state while the rules below read
	// it (both only read st): for a set of thousands of patches each is a
	// good part of the check, and there are two cores.
	s, err := sim.New(model)
	if err != nil {
		return nil, err
	}
	deployed := make(chan error, 1)
	go func() { deployed <- s.Deploy(st) }()
	for _, p := range st.Patches {
		if p.Livepatch {
			c.add(info(&p.Module, in.DeployedPath, p.Layer, false, p.Enabled))
		}
	}
	for _, m := range in.Candidates {
		if m.Livepatch {
			c.add(info(m, m.Path, in.Layers[m.Name], true, true))
		}
	}
	c.kernel(st)
	c.offBand()
	c.hooks()
	c.unknownReplace()
	c.target()
	c.moduleReload(st.Kernel.Release)
	c.ftrace(st)
	c.instrumentation()
	c.targetBuild(st)
	if err := <-deployed; err != nil {
		return nil, err
	}
	c.replay(s, st, model)
	if err := c.blockers(st, model); err != nil {
		return nil, err
	}
	applyAcks(rep.Findings, in.Acks)
	slices.SortStableFunc(rep.Findings, func(a, b Finding) int {
		if a.Severity != b.Severity {
			return int(b.Severity - a.Severity)
		}
		if a.Rule != b.Rule {
			return strings.Compare(a.Rule, b.Rule)
		}
		return strings.Compare(strings.Join(a.Patches, ","), strings.Join(b.Patches, ","))
	})
	return rep, nil
}

// Validate refuses input the rules cannot look at: a candidate that is no
// livepatch (it has no klp_patch to load: a plain module, or a scan record
// of one), a null record or patch. The error names the candidate's file.
func (in *Input) Validate() error {
	if st := in.Deployed; st != nil {
		for i, p := range st.Patches {
			if p == nil || len(p.Patches) > 0 && p.Patches[0] == nil {
				return fmt.Errorf("file %s: patches[%d]: null where a patch is required", in.DeployedPath, i)
			}
		}
	}
	for i, m := range in.Candidates {
		switch {
		case m == nil:
			return fmt.Errorf("candidate %d: no module record", i+1)
		case !m.Livepatch || len(m.Patches) == 0:
			return fmt.Errorf("file %s: module %s is no livepatch (it hands no klp_patch to the kernel): check and plan take livepatch modules", safetext.Quote(m.Path), safetext.Quote(m.Name))
		case m.Patches[0] == nil:
			return fmt.Errorf("file %s: module %s: patches[0] is null", safetext.Quote(m.Path), safetext.Quote(m.Name))
		}
	}
	return nil
}

type checker struct {
	in     *Input
	rep    *Report
	all    []*patchInfo // deployed in load order, then candidates
	byName map[string]*patchInfo
}

func (c *checker) add(p *patchInfo) {
	c.all = append(c.all, p)
	if _, dup := c.byName[p.name]; !dup {
		c.byName[p.name] = p
	}
}

func (c *checker) report(id, file, msg string, patches, funcs []string) {
	r, _ := RuleByID(id)
	c.rep.Findings = append(c.rep.Findings, Finding{
		Rule: r.ID, Name: r.Name, Severity: r.Severity, Message: msg,
		Patches: patches, Functions: funcs, File: file, Why: r.Why,
	})
}

// kernel: every candidate must be built for the deployed kernel, and for
// the same kernel as the other candidates.
func (c *checker) kernel(st *deploy.State) {
	want := st.Kernel.Release
	for _, m := range c.in.Candidates {
		rel := klp.KernelRelease(m.Vermagic)
		switch {
		case want == "":
			want = rel
		case rel != want:
			c.report(RuleKernelMismatch, m.Path, fmt.Sprintf("%s is built for %s, the target runs %s", m.Name, rel, want), []string{m.Name}, nil)
		}
	}
}

// offBand: overlaps of off-band patches with each other and with the
// cumulative candidates.
func (c *checker) offBand() {
	owners := map[string][]*patchInfo{} // function → enabled off-band patches
	for _, p := range c.all {
		if p.enabled && !p.replaceable {
			for _, f := range p.funcs {
				owners[f] = append(owners[f], p)
			}
		}
	}
	type pair struct{ a, b string }
	overlaps := map[pair][]string{}
	var order []pair
	for _, f := range sortedKeys(owners) {
		ps := owners[f]
		for i := range ps {
			for j := i + 1; j < len(ps); j++ {
				if !ps[i].candidate && !ps[j].candidate {
					continue // both deployed: not this release's doing
				}
				k := pair{ps[i].name, ps[j].name}
				if _, ok := overlaps[k]; !ok {
					order = append(order, k)
				}
				overlaps[k] = append(overlaps[k], f)
			}
		}
	}
	for _, k := range order {
		file := c.byName[k.b].file
		c.report(RuleOffBandOverlap, file, fmt.Sprintf("off-band patches %s and %s both patch %s", k.a, k.b, strings.Join(overlaps[k], ", ")), []string{k.a, k.b}, overlaps[k])
	}
	for _, p := range c.all {
		if !p.candidate || !p.replaceable {
			continue
		}
		var shadowed []string
		var by []string
		for _, f := range p.funcs {
			for _, o := range owners[f] {
				shadowed = append(shadowed, f)
				if !slices.Contains(by, o.name) {
					by = append(by, o.name)
				}
			}
		}
		if len(shadowed) > 0 {
			c.report(RuleShadowsOffBand, p.file, fmt.Sprintf("cumulative %s patches %s, also patched by off-band %s", p.name, strings.Join(shadowed, ", "), strings.Join(by, ", ")), append([]string{p.name}, by...), shadowed)
		}
	}
}

// hooks: a hook point in a replaceable patch moves at the next replace;
// one without an error-injection entry, or on a kernel without the
// options bpf_override_return needs, cannot be overridden at all.
func (c *checker) hooks() {
	for _, p := range c.all {
		if !p.candidate || len(p.hooks) == 0 {
			continue
		}
		var fs, listless []string
		for _, h := range p.hooks {
			fs = append(fs, h.Object+"/"+h.Func)
			if h.NoErrorInjection {
				listless = append(listless, h.Object+"/"+h.Func)
			}
		}
		if p.replaceable {
			c.report(RuleHookReplaceable, p.file, fmt.Sprintf("%s declares hook points %s but is replaceable", p.name, strings.Join(fs, ", ")), []string{p.name}, fs)
		}
		if len(listless) > 0 {
			c.report(RuleHookNotOverridable, p.file, fmt.Sprintf("%s has no error-injection entry for hook points %s", p.name, strings.Join(listless, ", ")), []string{p.name}, listless)
		}
		if len(c.in.HookKernelLacks) > 0 {
			c.report(RuleHookNotOverridable, p.file, fmt.Sprintf("%s declares hook points %s but the target kernel lacks %s", p.name, strings.Join(fs, ", "), strings.Join(c.in.HookKernelLacks, ", ")), []string{p.name}, fs)
		}
	}
}

// unknownReplace: a candidate whose replace flag the scan could not read
// makes every answer about what it replaces a guess.
func (c *checker) unknownReplace() {
	for _, p := range c.all {
		if p.candidate && p.mod != nil && len(p.mod.Patches) > 0 && p.mod.Patches[0].ReplaceSource == klp.ReplaceUnknown {
			c.report(RuleReplaceUnknown, p.file, fmt.Sprintf("%s: replace unknown, assumed false (%s)", p.name, p.mod.Patches[0].ReplaceHint), []string{p.name}, nil)
		}
	}
}

// hooksReplaced: when cand replaces old, the probes on old's hook
// functions stay on code that no longer runs; they can move only to hook
// points cand declares too.
func (c *checker) hooksReplaced(file string, cand, old *patchInfo) {
	var moves, lost []string
	for _, h := range old.hooks {
		if slices.ContainsFunc(cand.hooks, func(n klp.Hook) bool { return n.Func == h.Func }) {
			moves = append(moves, h.Func)
		} else {
			lost = append(lost, h.Func)
		}
	}
	if len(moves) > 0 {
		c.report(RuleHookMoves, file, fmt.Sprintf("%s replaces %s: the probes on hook points %s are bypassed until they move to %s's copies (klpack hooks sync)", cand.name, old.name, strings.Join(moves, ", "), cand.name), []string{cand.name, old.name}, moves)
	}
	if len(lost) > 0 {
		c.report(RuleHookLost, file, fmt.Sprintf("%s replaces %s but does not declare its hook points %s: their BPF programs stop overriding for good", cand.name, old.name, strings.Join(lost, ", ")), []string{cand.name, old.name}, lost)
	}
}

// replay loads the candidates, in order, on a simulator holding the
// deployed set, and turns what the kernel does into findings.
func (c *checker) replay(s *sim.Sim, st *deploy.State, model string) {
	for _, m := range c.in.Candidates {
		// The layer the release declares decides, as for the rules above,
		// whether a later replace keeps the candidate.
		step := s.Apply(sim.Action{Kind: "load", Name: m.Name, Module: m, Layer: c.in.Layers[m.Name]})
		if !step.Accepted {
			id := RuleKernelRefuses
			switch step.Cause {
			case sim.CauseLoaded:
				id = RuleNameDeployed
			case sim.CauseState:
				id = RuleStateIncompat
			}
			c.report(id, m.Path, fmt.Sprintf("loading %s: %s (%s)", m.Name, step.Reason, step.Errno), append([]string{m.Name}, step.With...), nil)
			continue
		}
		for _, e := range step.Events {
			c.report(RuleReplaceNopHazard, m.Path, e.Why, []string{m.Name, e.To}, []string{e.Function})
		}
		cand := c.byName[m.Name]
		for _, name := range step.Replaced {
			old := c.byName[name]
			if old == nil {
				continue
			}
			c.hooksReplaced(m.Path, cand, old)
			if !old.replaceable {
				c.report(RuleModelDropsOffBand, m.Path, fmt.Sprintf("replace patch %s removes the non-replaceable %s: the %s kernel model keeps no off-band patch across a replace", m.Name, name, model), []string{m.Name, name}, nil)
				continue
			}
			// Reverted leaves out what the candidate patches: that runs
			// the candidate's code.
			if dropped := step.Reverted[name]; len(dropped) > 0 {
				c.report(RuleDropsFunctions, m.Path, fmt.Sprintf("%s replaces %s but no longer patches %s: they return to the original code", m.Name, name, strings.Join(dropped, ", ")), []string{m.Name, name}, dropped)
			}
		}
	}
	c.wayBack(s, st)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
