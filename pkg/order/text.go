package order

import (
	"fmt"
	"io"
)

// WriteText prints a plan for people.
func WriteText(w io.Writer, p *Plan) error {
	if !p.OK {
		fmt.Fprintf(w, "no safe order exists (kernel model %s): every order tried leaves these findings:\n", p.KernelModel)
		for _, f := range p.Findings {
			fmt.Fprintf(w, "  %s %s %s: %s\n", f.Severity, f.Rule, f.Name, f.Message)
		}
		return nil
	}
	fmt.Fprintf(w, "plan (kernel model %s):\n", p.KernelModel)
	for i, op := range p.Ops {
		fmt.Fprintf(w, "  %d. %s %s", i+1, op.Action, op.Name)
		if op.Path != "" {
			fmt.Fprintf(w, " (%s)", op.Path)
		}
		fmt.Fprintln(w)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, f := range p.Findings {
		fmt.Fprintf(w, "remaining %s %s %s: %s\n", f.Severity, f.Rule, f.Name, f.Message)
	}
	return nil
}
