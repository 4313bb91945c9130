package order

import (
	"fmt"
	"io"
	"strings"

	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/internal/termstyle"
)

// WriteText prints a plan for people. Names, paths and messages come
// from modules and the state file: each reaches the terminal as visible
// text, never as a line of its own or an escape sequence.
func WriteText(w io.Writer, p *Plan) error {
	return WriteTextStyled(w, p, termstyle.Style{})
}

// WriteTextStyled is WriteText with each severity word painted by st.
func WriteTextStyled(w io.Writer, p *Plan, st termstyle.Style) error {
	q := safetext.Quote
	if !p.OK {
		fmt.Fprintf(w, "no safe order exists (kernel model %s): every order tried leaves these findings:\n", q(p.KernelModel))
		for _, f := range p.Findings {
			fmt.Fprintf(w, "  %s %s %s: %s\n", f.Severity.Paint(st), f.Rule, f.Name, q(f.Message))
		}
		for _, n := range p.Notes {
			fmt.Fprintf(w, "note: %s\n", q(n))
		}
		return nil
	}
	fmt.Fprintf(w, "plan (kernel model %s):\n", q(p.KernelModel))
	if p.Steps == nil {
		// A plan written before steps.
		for i, op := range p.Ops {
			fmt.Fprintf(w, "  %d. %s %s", i+1, op.Action, q(op.Name))
			if op.Path != "" {
				fmt.Fprintf(w, " (%s)", q(op.Path))
			}
			fmt.Fprintln(w)
		}
	}
	for i, st := range p.Steps {
		fmt.Fprintf(w, "  %d. %s %s", i+1, st.Action, q(st.Name))
		if st.Path != "" {
			fmt.Fprintf(w, " (%s)", q(st.Path))
		}
		fmt.Fprintf(w, "\n     then patches: %s; modules: %s\n", patchList(st.Expect.Patches), list(st.Expect.Modules))
	}
	for _, n := range p.Notes {
		fmt.Fprintf(w, "note: %s\n", q(n))
	}
	for _, n := range p.WayBack {
		fmt.Fprintf(w, "way back: %s\n", q(n))
	}
	for _, f := range p.Findings {
		fmt.Fprintf(w, "remaining %s %s %s: %s\n", f.Severity.Paint(st), f.Rule, f.Name, q(f.Message))
	}
	return nil
}

// patchList prints the patches of an expected state, each marked when it
// is not simply enabled.
func patchList(ps []ExpectPatch) string {
	var out []string
	for _, p := range ps {
		n := p.Name
		if !p.Enabled {
			n += " (disabled)"
		}
		if p.Transition {
			n += " (in transition)"
		}
		out = append(out, n)
	}
	return list(out)
}

func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = safetext.Quote(n)
	}
	return strings.Join(q, ", ")
}
