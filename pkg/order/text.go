package order

import (
	"fmt"
	"io"

	"github.com/klpack/klpack/internal/safetext"
)

// WriteText prints a plan for people. Names, paths and messages come
// from modules and the state file: each reaches the terminal as visible
// text, never as a line of its own or an escape sequence.
func WriteText(w io.Writer, p *Plan) error {
	q := safetext.Quote
	if !p.OK {
		fmt.Fprintf(w, "no safe order exists (kernel model %s): every order tried leaves these findings:\n", q(p.KernelModel))
		for _, f := range p.Findings {
			fmt.Fprintf(w, "  %s %s %s: %s\n", f.Severity, f.Rule, f.Name, q(f.Message))
		}
		return nil
	}
	fmt.Fprintf(w, "plan (kernel model %s):\n", q(p.KernelModel))
	for i, op := range p.Ops {
		fmt.Fprintf(w, "  %d. %s %s", i+1, op.Action, q(op.Name))
		if op.Path != "" {
			fmt.Fprintf(w, " (%s)", q(op.Path))
		}
		fmt.Fprintln(w)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(w, "note: %s\n", q(n))
	}
	for _, f := range p.Findings {
		fmt.Fprintf(w, "remaining %s %s %s: %s\n", f.Severity, f.Rule, f.Name, q(f.Message))
	}
	return nil
}
