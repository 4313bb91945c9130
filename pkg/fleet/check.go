package fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/klp"
)

// ReportSchema names the version of the document `klpack check --fleet
// --json` prints.
const ReportSchema = "klpack.fleet-check/v1"

// Verdicts of a combination.
const (
	VerdictPass       = "pass"         // no unacknowledged finding
	VerdictUnresolved = "unresolved"   // its packages have no manifest
	VerdictNotTarget  = "other-kernel" // the release is for another kernel
)

// CheckOptions are the release and how to check it.
type CheckOptions struct {
	// Input is the release as check.Check takes it, without a deployed
	// state: each combination's is set in a copy of it.
	Input *check.Input
	// FailOn is the severity at which a combination fails.
	FailOn check.Severity
	// Workers check combinations side by side; GOMAXPROCS when 0.
	Workers int
	// Progress is called once per combination checked; safe for
	// concurrent use, nil for none.
	Progress func()
}

// Group is one combination and what the check says of it.
type Group struct {
	ID string `json:"id"`
	*Combination
	// Verdict is the worst unacknowledged finding's severity, VerdictPass
	// without one, or why the combination was not checked.
	Verdict string `json:"verdict"`
	Failed  bool   `json:"failed"`
	// Reason says why a combination was not checked.
	Reason      string          `json:"reason,omitempty"`
	KernelModel string          `json:"kernel_model,omitempty"`
	Findings    []check.Finding `json:"findings"`
}

// Totals count hosts and combinations by outcome.
type Totals struct {
	Lines        int64 `json:"lines"`
	Hosts        int64 `json:"hosts"`
	Combinations int   `json:"combinations"`
	PassHosts    int64 `json:"pass_hosts"`
	FailHosts    int64 `json:"fail_hosts"`
	// Unresolved hosts run packages no manifest describes: the release is
	// not shown safe on them, so they fail the check too.
	UnresolvedHosts int64 `json:"unresolved_hosts"`
	OtherKernel     int64 `json:"other_kernel_hosts"`
}

// Report is the outcome of a fleet check.
type Report struct {
	Schema    string   `json:"schema"`
	Inventory string   `json:"inventory"`
	Release   string   `json:"kernel_release"`
	FailOn    string   `json:"fail_on"`
	Totals    Totals   `json:"totals"`
	Groups    []*Group `json:"combinations"`
	Ignored   []string `json:"ignored_fields,omitempty"`
}

// Failed says whether any combination failed or any host is unresolved.
func (r *Report) Failed() bool {
	return r.Totals.FailHosts > 0 || r.Totals.UnresolvedHosts > 0
}

// Check checks the release once per combination of inv, side by side,
// each against the deployed set ms resolves for it. Combinations on a
// kernel the release is not for are counted, not checked. An error is an
// input error (a candidate check refuses); a combination that cannot be
// resolved is reported, not an error.
func Check(ctx context.Context, inv *Inventory, ms *Manifests, o CheckOptions) (*Report, error) {
	if o.Input == nil {
		return nil, errors.New("fleet: no release to check")
	}
	if o.Input.Deployed != nil {
		return nil, errors.New("fleet: the release's input has a deployed state: the inventory gives each combination's")
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	release := releaseKernel(o.Input.Candidates)
	combos := Merge(inv.Combinations, ms)
	if o.Progress != nil {
		// A combination merged into another is done: the bar counts the
		// inventory's.
		for range len(inv.Combinations) - len(combos) {
			o.Progress()
		}
	}
	rep := &Report{Schema: ReportSchema, Inventory: inv.Path, Release: release, FailOn: o.FailOn.String(), Ignored: inv.Ignored,
		Totals: Totals{Lines: inv.Lines, Hosts: inv.Hosts, Combinations: len(combos)}}
	groups := make([]*Group, len(combos))
	for i, c := range combos {
		// Arrays, not null, in JSON: "none" is a statement.
		if c.Patches == nil {
			c.Patches = []Patch{}
		}
		if c.Examples == nil {
			c.Examples = []Example{}
		}
		groups[i] = &Group{Combination: c, Findings: []check.Finding{}}
	}
	work := make(chan *Group)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range o.Workers {
		wg.Go(func() {
			for g := range work {
				err := checkGroup(g, ms, o, release)
				if o.Progress != nil {
					o.Progress()
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, g := range groups {
		select {
		case work <- g:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	// Worst first, then the most hosts, then the inventory's order.
	slices.SortStableFunc(groups, func(a, b *Group) int {
		return cmp.Or(-cmp.Compare(rank(a), rank(b)), -cmp.Compare(a.Hosts, b.Hosts), cmp.Compare(a.FirstLine, b.FirstLine))
	})
	for i, g := range groups {
		g.ID = fmt.Sprintf("C%d", i+1)
		switch {
		case g.Verdict == VerdictUnresolved:
			rep.Totals.UnresolvedHosts += g.Hosts
		case g.Verdict == VerdictNotTarget:
			rep.Totals.OtherKernel += g.Hosts
		case g.Failed:
			rep.Totals.FailHosts += g.Hosts
		default:
			rep.Totals.PassHosts += g.Hosts
		}
	}
	rep.Groups = groups
	return rep, nil
}

// rank orders verdicts, worst first: failed, unresolved, then by worst
// finding, then other kernels.
func rank(g *Group) int {
	switch {
	case g.Failed:
		return 10 + int(worst(g.Findings))
	case g.Verdict == VerdictUnresolved:
		return 9
	case g.Verdict == VerdictNotTarget:
		return 0
	case g.Verdict == VerdictPass:
		return 1
	}
	return 2 + int(worst(g.Findings))
}

func worst(fs []check.Finding) check.Severity {
	w := check.Severity(-1)
	for _, f := range fs {
		if !f.Acknowledged && f.Severity > w {
			w = f.Severity
		}
	}
	return w
}

func checkGroup(g *Group, ms *Manifests, o CheckOptions, release string) error {
	if release != "" && g.Kernel != release {
		g.Verdict, g.Reason = VerdictNotTarget, fmt.Sprintf("runs kernel %s, the release is for %s", g.Kernel, release)
		return nil
	}
	st, err := ms.State(g.Combination)
	if err != nil {
		g.Verdict, g.Reason = VerdictUnresolved, err.Error()
		return nil
	}
	in := *o.Input
	in.Deployed = st
	// Findings about deployed patches point at no file: the inventory is
	// no state document to locate a record in.
	in.DeployedPath = ""
	rep, err := check.Check(&in)
	if err != nil {
		return fmt.Errorf("combination of line %d: %w", g.FirstLine, err)
	}
	g.KernelModel = rep.KernelModel
	g.Findings = rep.Findings
	g.Failed = rep.Failed(o.FailOn)
	g.Verdict = VerdictPass
	if w := worst(rep.Findings); w >= 0 {
		g.Verdict = w.String()
	}
	return nil
}

// releaseKernel is the kernel release the candidates are built for,
// "" when they do not agree on one.
func releaseKernel(ms []*klp.Module) string {
	rel := ""
	for _, m := range ms {
		r := klp.KernelRelease(m.Vermagic)
		switch {
		case r == "":
			continue
		case rel == "":
			rel = r
		case rel != r:
			return ""
		}
	}
	return rel
}

// describe is a combination's patches, one phrase each, for text.
func describe(c *Combination) string {
	var out []string
	for _, p := range c.Patches {
		t := ""
		if p.Transition {
			t = ", in transition"
		}
		from := "from the capture"
		if p.Package != "" {
			from = safetext.Quote(p.Package) + " " + safetext.Quote(p.Version)
		}
		out = append(out, fmt.Sprintf("%s (%s, load order %d, %s%s)", safetext.Quote(p.Module), from, p.LoadOrder, onOff(p.Enabled), t))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "; ")
}

func onOff(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}
