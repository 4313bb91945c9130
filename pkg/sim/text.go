package sim

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/internal/termstyle"
)

// WriteText prints a simulation for people: per step the
// kernel's answer, the stack, which code runs and every hazard.
func WriteText(w io.Writer, s *Simulation) error {
	return WriteTextStyled(w, s, termstyle.Style{})
}

// WriteTextStyled is WriteText with the words that say how a step went
// painted by style: refused as an error, HAZARD as a warning.
func WriteTextStyled(w io.Writer, s *Simulation, style termstyle.Style) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	// What comes from modules and scenarios reaches the terminal as one
	// visible token, whatever it holds.
	q := safetext.Quote
	fmt.Fprintf(tw, "kernel model: %s\n", s.KernelModel)
	writeStep(tw, "initial state", &s.Initial, style)
	for i := range s.Steps {
		st := &s.Steps[i]
		title := fmt.Sprintf("step %d: %s %s: ", i+1, st.Action, q(st.Target))
		if st.Accepted {
			title += "accepted"
		} else {
			title += fmt.Sprintf("%s (%s): %s", style.Paint(termstyle.Error, "refused"), st.Errno, q(st.Reason))
		}
		writeStep(tw, title, st, style)
	}
	return tw.Flush()
}

func writeStep(w io.Writer, title string, st *Step, style termstyle.Style) {
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
	for _, t := range st.Tasks {
		code := "the original"
		if t.Code != Original {
			code = q(t.Code) + "'s"
		}
		fmt.Fprintf(w, "  task %s:\tasleep in %s %s\n", q(t.Name), code, q(t.Function))
	}
	keys := make([]string, 0, len(st.Funcs))
	for k := range st.Funcs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s\t%s\n", q(k), q(st.Funcs[k]))
	}
	for _, c := range st.Callbacks {
		fmt.Fprintf(w, "  callback\t%s\n", q(c))
	}
	for _, e := range st.Events {
		fmt.Fprintf(w, "  %s %s: %s -> %s: %s\n", style.Paint(termstyle.Warning, "HAZARD"), q(e.Function), q(e.From), q(e.To), q(e.Why))
	}
}
