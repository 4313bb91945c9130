package release

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/fleet"
)

// ErrInput marks a stage that failed on a file it reads (the fleet's
// inventory or manifests): bad input, not a refusal of the release.
var ErrInput = errors.New("bad input")

// inputError is an error of reading input; its text is the error's own.
type inputError struct{ err error }

func (e *inputError) Error() string        { return e.err.Error() }
func (e *inputError) Unwrap() error        { return e.err }
func (e *inputError) Is(target error) bool { return target == ErrInput }

// CheckFleet checks the release once per combination of klpack.yaml's
// fleet, each combination's deployed set in place of deployed:, through
// pkg/fleet as check --fleet does. An unreadable inventory or manifests
// directory is an error that is ErrInput.
func (r *Release) CheckFleet(ctx context.Context) (*fleet.Report, error) {
	f := r.Config.Fleet
	if f == nil {
		return nil, errors.New("klpack.yaml has no fleet")
	}
	ms, err := fleet.LoadManifests(ctx, r.Path(f.Manifests))
	if err != nil {
		return nil, &inputError{fmt.Errorf("fleet.manifests: %w", err)}
	}
	inv, err := fleet.Read(ctx, r.Path(f.Inventory), fleet.ReadOptions{})
	if err != nil {
		return nil, &inputError{fmt.Errorf("fleet.inventory: %w", err)}
	}
	in := r.CheckInput(r.Candidates())
	in.Deployed, in.DeployedPath = nil, ""
	rep, err := fleet.Check(ctx, inv, ms, fleet.CheckOptions{Input: in, FailOn: r.FailOn})
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	return rep, nil
}

// maxFailing bounds the combinations the check stage names when the
// fleet fails it (the stage line, the error, the result): check -f lists
// them all.
const maxFailing = 5

// fleetLine is the fleet check in one line, as the check stage prints it.
func fleetLine(inventory string, rep *fleet.Report) string {
	t := rep.Totals
	return fmt.Sprintf("fleet %s: %d hosts in %d combinations: fail %d, pass %d, unresolved %d, other kernels %d (hosts; failing at %s)",
		safetext.Quote(inventory), t.Hosts, t.Combinations, t.FailHosts, t.PassHosts, t.UnresolvedHosts, t.OtherKernel, rep.FailOn)
}

// fleetRefusal is the check stage's error for a fleet that fails: the
// line, then the worst combinations, one a line.
func fleetRefusal(inventory string, rep *fleet.Report, failOn check.Severity) error {
	var b strings.Builder
	b.WriteString(fleetLine(inventory, rep))
	fr := fleetResult(inventory, rep, failOn)
	for _, c := range fr.Failing {
		hosts := "hosts"
		if c.Hosts == 1 {
			hosts = "host"
		}
		fmt.Fprintf(&b, "\n  %s %s, %d %s", c.ID, c.Verdict, c.Hosts, hosts)
		if len(c.Examples) > 0 {
			fmt.Fprintf(&b, " (e.g. %s)", strings.Join(quoteAll(c.Examples), ", "))
		}
		switch {
		case c.Reason != "":
			fmt.Fprintf(&b, ": %s", safetext.Quote(c.Reason))
		case len(c.Findings) > 0:
			fmt.Fprintf(&b, ": %s", strings.Join(c.Findings, "; "))
		}
	}
	if n := fr.FailingCount - len(fr.Failing); n > 0 {
		fmt.Fprintf(&b, "\n  and %d more (klpack check -f lists every combination)", n)
	}
	return errors.New(b.String())
}

// FleetResult is the fleet check in the release result: its totals and
// the worst combinations that failed or did not resolve.
type FleetResult struct {
	// Inventory is fleet.inventory as klpack.yaml names it.
	Inventory string       `json:"inventory"`
	FailOn    string       `json:"fail_on"`
	Failed    bool         `json:"failed"`
	Totals    fleet.Totals `json:"totals"`
	// Failing are the first combinations, worst first, that failed or
	// did not resolve (at most 5); FailingCount counts them all.
	Failing      []FleetCombination `json:"failing"`
	FailingCount int                `json:"failing_count"`
}

// FleetCombination is a combination that failed or did not resolve.
type FleetCombination struct {
	// ID is the fleet check's (C1 is the worst).
	ID       string   `json:"id"`
	Verdict  string   `json:"verdict"`
	Hosts    int64    `json:"hosts"`
	Examples []string `json:"examples"`
	// Findings are the unacknowledged ones at or above fail_on, each as
	// "RULE severity patches: message".
	Findings []string `json:"findings,omitempty"`
	Reason   string   `json:"reason,omitempty"`
}

func fleetResult(inventory string, rep *fleet.Report, failOn check.Severity) *FleetResult {
	if rep == nil {
		return nil
	}
	fr := &FleetResult{Inventory: inventory, FailOn: rep.FailOn, Failed: rep.Failed(), Totals: rep.Totals, Failing: []FleetCombination{}}
	for _, g := range rep.Groups {
		if !g.Failed && g.Verdict != fleet.VerdictUnresolved {
			continue
		}
		if fr.FailingCount++; len(fr.Failing) >= maxFailing {
			continue
		}
		c := FleetCombination{ID: g.ID, Verdict: g.Verdict, Hosts: g.Hosts, Reason: g.Reason, Examples: []string{}}
		for _, e := range g.Examples {
			c.Examples = append(c.Examples, e.Host)
		}
		for _, f := range g.Findings {
			if f.Acknowledged || f.Severity < failOn {
				continue
			}
			c.Findings = append(c.Findings, fmt.Sprintf("%s %s %s: %s", f.Rule, f.Severity, strings.Join(f.Patches, ","), f.Message))
		}
		fr.Failing = append(fr.Failing, c)
	}
	return fr
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = safetext.Quote(s)
	}
	return out
}
