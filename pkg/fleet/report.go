package fleet

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/internal/termstyle"
	"github.com/klpack/klpack/pkg/check"
)

// WriteText prints the report for people: the totals, then each
// combination, worst first, with its hosts and what check says of it.
func WriteText(w io.Writer, r *Report, st termstyle.Style) error {
	q := safetext.Quote
	t := r.Totals
	fmt.Fprintf(w, "fleet %s: %s in %s, release for kernel %s\n", q(r.Inventory), plural(t.Hosts, "host"), plural(int64(t.Combinations), "combination"), q(orDash(r.Release)))
	fmt.Fprintf(w, "  fail %d, pass %d, unresolved %d, other kernels %d (hosts; failing at %s)\n", t.FailHosts, t.PassHosts, t.UnresolvedHosts, t.OtherKernel, r.FailOn)
	if len(r.Ignored) > 0 {
		fmt.Fprintf(w, "  ignored keys: %s\n", strings.Join(quoteAll(r.Ignored), ", "))
	}
	for _, g := range r.Groups {
		verdict := g.Verdict
		switch {
		case g.Failed:
			verdict = st.Paint(termstyle.Error, "FAIL") + " (" + g.Verdict + ")"
		case g.Verdict == VerdictUnresolved:
			verdict = st.Paint(termstyle.Warning, "UNRESOLVED")
		}
		fmt.Fprintf(w, "\n%s %s: %s on kernel %s", g.ID, verdict, plural(g.Hosts, "host"), q(g.Kernel))
		if g.BuildID != "" {
			fmt.Fprintf(w, " build %s", g.BuildID)
		}
		fmt.Fprintln(w)
		if len(g.Examples) > 0 {
			var ex []string
			for _, e := range g.Examples {
				ex = append(ex, fmt.Sprintf("%s (line %d)", q(e.Host), e.Line))
			}
			fmt.Fprintf(w, "  e.g.:     %s\n", strings.Join(ex, ", "))
		} else {
			fmt.Fprintf(w, "  from:     line %d\n", g.FirstLine)
		}
		fmt.Fprintf(w, "  deployed: %s\n", describe(g.Combination))
		if g.Reason != "" {
			fmt.Fprintf(w, "  reason:   %s\n", q(g.Reason))
		}
		if len(g.Findings) == 0 {
			continue
		}
		// check's own words for the findings, indented under the group.
		var b bytes.Buffer
		if err := check.WriteTextStyled(&b, &check.Report{KernelModel: g.KernelModel, Release: g.Kernel, Findings: g.Findings}, st); err != nil {
			return err
		}
		for _, ln := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
			if ln == "" {
				fmt.Fprintln(w)
				continue
			}
			fmt.Fprintf(w, "  %s\n", ln)
		}
	}
	return nil
}

// CheckReport folds the findings of every combination into one
// check.Report, for SARIF: a finding the same on several combinations is
// one result whose message says on how many hosts, in which
// combinations, and names example hosts.
func (r *Report) CheckReport() *check.Report {
	type acc struct {
		f      check.Finding
		hosts  int64
		groups []string
		ex     []string
	}
	var order []string
	byKey := map[string]*acc{}
	for _, g := range r.Groups {
		for _, f := range g.Findings {
			k := fmt.Sprintf("%s\x00%d\x00%s\x00%s\x00%s\x00%t", f.Rule, f.Severity, strings.Join(f.Patches, ","), strings.Join(f.Functions, ","), f.Message, f.Acknowledged)
			a := byKey[k]
			if a == nil {
				a = &acc{f: f}
				byKey[k] = a
				order = append(order, k)
			}
			a.hosts += g.Hosts
			a.groups = append(a.groups, g.ID)
			for _, e := range g.Examples {
				if len(a.ex) < MaxExamples {
					a.ex = append(a.ex, e.Host)
				}
			}
		}
	}
	out := &check.Report{Schema: check.ReportSchema, Release: r.Release, Findings: []check.Finding{}}
	for _, k := range order {
		a := byKey[k]
		f := a.f
		f.Message = fmt.Sprintf("%s (on %s in %s: %s", f.Message, plural(a.hosts, "host"), plural(int64(len(a.groups)), "combination"), strings.Join(a.groups, ", "))
		if len(a.ex) > 0 {
			f.Message += "; e.g. " + strings.Join(quoteAll(a.ex), ", ")
		}
		f.Message += ")"
		out.Findings = append(out.Findings, f)
	}
	slices.SortStableFunc(out.Findings, func(a, b check.Finding) int { return -cmp.Compare(a.Severity, b.Severity) })
	return out
}

func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = safetext.Quote(s)
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
