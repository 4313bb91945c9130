package sim

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/klpack/klpack/internal/safetext"
)

// WriteText prints a simulation for people: per step the
// kernel's answer, the stack, which code runs and every hazard.
func WriteText(w io.Writer, s *Simulation) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	// What comes from modules and scenarios reaches the terminal as one
	// visible token, whatever it holds.
	q := safetext.Quote
	fmt.Fprintf(tw, "kernel model: %s\n", s.KernelModel)
	writeStep(tw, "initial state", &s.Initial)
	for i := range s.Steps {
		st := &s.Steps[i]
		title := fmt.Sprintf("step %d: %s %s: ", i+1, st.Action, q(st.Target))
		if st.Accepted {
			title += "accepted"
		} else {
			title += fmt.Sprintf("refused (%s): %s", st.Errno, q(st.Reason))
		}
		writeStep(tw, title, st)
	}
	return tw.Flush()
}

func writeStep(w io.Writer, title string, st *Step) {
	q := safetext.Quote
	fmt.Fprintf(w, "\n%s\n", title)
	var names []string
	for _, e := range st.Stack {
		n := q(e.Name)
		if e.Replace {
			n += " (replace)"
		}
		if e.Transition {
			n += " (in transition)"
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		names = []string{"(none)"}
	}
	fmt.Fprintf(w, "  stack:\t%s\n", strings.Join(names, " < "))
	keys := make([]string, 0, len(st.Funcs))
	for k := range st.Funcs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s\t%s\n", q(k), q(st.Funcs[k]))
	}
	for _, e := range st.Events {
		fmt.Fprintf(w, "  HAZARD %s: %s -> %s: %s\n", q(e.Function), q(e.From), q(e.To), q(e.Why))
	}
}
