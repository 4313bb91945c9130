package deploy

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"

	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/klp"
)

// StateSchema names the version of the deployed-state document.
const StateSchema = "klpack.deployed/v1"

// Kernel models: which livepatch rules the target kernel follows.
const (
	ModelMainline   = "mainline"    // bool replace, as in every released kernel
	ModelHybrid     = "hybrid"      // RFC 2026-04: non-replaceable patches survive a replace
	ModelReplaceSet = "replace-set" // RFC 2026-05: replace acts within a u32 set
)

// ValidModel reports whether m names a kernel model.
func ValidModel(m string) bool {
	return m == ModelMainline || m == ModelHybrid || m == ModelReplaceSet
}

// DefaultModel is the model a kernel release follows. Every released
// kernel is mainline; the RFC models are chosen explicitly.
func DefaultModel(release string) string { return ModelMainline }

// ModelFor picks the kernel model: an explicit choice, then the deployed
// state's, then what the kernel release supports.
func ModelFor(explicit string, st *State) string {
	switch {
	case explicit != "":
		return explicit
	case st != nil && st.Kernel.Model != "":
		return st.Kernel.Model
	case st != nil:
		return DefaultModel(st.Kernel.Release)
	}
	return ModelMainline
}

// State is the set of livepatch modules deployed on a kernel, in load
// order.
type State struct {
	Schema  string   `json:"schema"`
	Kernel  Kernel   `json:"kernel"`
	Patches []*Patch `json:"patches"`
	// Tracing is what the host's ftrace showed of IPMODIFY and DIRECT
	// users when the state was captured; nil when not read.
	Tracing *Tracing `json:"tracing,omitempty"`
	// Tasks are the tasks asleep in the kernel when the state was
	// captured (deploy capture --stacks), with their stacks; absent when
	// not recorded. check names those that would keep a transition
	// pending (rule KLP020).
	Tasks []Task `json:"tasks,omitempty"`
	// Ignored lists, by JSON path, the fields of the document read that
	// this reader does not know: a newer writer's, or a typo. It is not
	// part of the document.
	Ignored []string `json:"-"`
}

// Kernel identifies the target kernel.
type Kernel struct {
	Release string `json:"release"`
	// Model is one of the Model constants; empty means the default for
	// the release.
	Model string `json:"model,omitempty"`
	// BuildID is the running kernel's vmlinux GNU build-id (from
	// /sys/kernel/notes), empty when not known: two builds of one
	// release differ in it.
	BuildID string `json:"build_id,omitempty"`
	// Modules are the build identities of the loaded modules the patches
	// patch (/sys/module/NAME/srcversion and notes), sorted by name.
	Modules []klp.TargetModule `json:"modules,omitempty"`
}

// Patch is one deployed livepatch module: its scan record plus what the
// kernel says of it.
type Patch struct {
	klp.Module
	Enabled   bool `json:"enabled"`
	LoadOrder int  `json:"load_order"`
	// Transition is nil when unknown.
	Transition *bool `json:"transition,omitempty"`
	// Layer is one of the Layer constants, empty when not declared.
	Layer string `json:"layer,omitempty"`
}

// WriteSummary prints the human form of a state: the kernel, then a line
// per patch in load order.
func WriteSummary(w io.Writer, s *State) error {
	model := s.Kernel.Model
	if model == "" {
		model = "default"
	}
	plural := "es"
	if len(s.Patches) == 1 {
		plural = ""
	}
	// A state read from a file is validated; one built in memory may
	// hold anything, and none of it may drive the terminal.
	q := safetext.Quote
	fmt.Fprintf(w, "kernel %s (model %s), %d patch%s\n", q(s.Kernel.Release), q(model), len(s.Patches), plural)
	if len(s.Patches) == 0 {
		return nil
	}
	ps := slices.Clone(s.Patches)
	SortPatches(ps)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ORDER\tMODULE\tENABLED\tTRANSITION\tREPLACE\tLAYER\tFUNCS\tFILE")
	for _, p := range ps {
		transition := "?"
		if p.Transition != nil {
			transition = yesNo(*p.Transition)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", p.LoadOrder, q(p.Name), yesNo(p.Enabled),
			transition, replaceText(p.Patches), q(dash(p.Layer)), countFuncs(p.Patches), q(dash(p.Path)))
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// replaceText says how a module's patches replace: yes or no, with the
// replace set and "non-replaceable" when declared.
func replaceText(ps []*klp.Patch) string {
	if len(ps) == 0 {
		return "-"
	}
	p := ps[0]
	if p == nil {
		return "-"
	}
	s := yesNo(p.Replace)
	if p.ReplaceSet != nil {
		s += " (set " + strconv.FormatUint(uint64(*p.ReplaceSet), 10) + ")"
	}
	if p.Replaceable != nil && !*p.Replaceable {
		s += " non-replaceable"
	}
	return s
}

func countFuncs(ps []*klp.Patch) int {
	n := 0
	for _, p := range ps {
		if p == nil {
			continue
		}
		for _, o := range p.Objects {
			n += len(o.Funcs)
		}
	}
	return n
}
