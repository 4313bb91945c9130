package status

import (
	"fmt"
	"io"
	"strings"

	"github.com/klpack/klpack/internal/safetext"
)

// WriteText prints st for a person. Verbose adds the notes and the whole
// stack of each task that blocks a transition. Every name from the host
// is quoted when it holds a control character, so none forges a line.
func WriteText(w io.Writer, st *Status, verbose bool) error {
	q := safetext.Quote
	var b strings.Builder
	fmt.Fprintf(&b, "kernel %s\n", q(st.Kernel.Release))
	if len(st.Patches) == 0 {
		b.WriteString("no livepatch loaded\n")
	} else {
		fmt.Fprintf(&b, "livepatches, bottom of the stack first (order from %s):\n", st.OrderSource)
	}
	for _, p := range st.Patches {
		state := "enabled"
		if !p.Enabled {
			state = "disabled"
		}
		if p.Transition != nil && *p.Transition {
			state += ", in transition"
		}
		if p.Replace != nil && *p.Replace {
			state += ", replace"
		}
		pkg := "no package"
		if p.Package != nil {
			pkg = fmt.Sprintf("%s %s %s", p.Layer, q(p.Package.Name), q(p.Package.Version))
		}
		so := ""
		if p.StackOrder != nil {
			so = fmt.Sprintf(" stack_order %d", *p.StackOrder)
		}
		fmt.Fprintf(&b, "  %d %s: %s; %s%s\n", p.Position, q(p.Name), state, pkg, so)
	}
	for _, p := range st.Packages {
		if !p.Loaded {
			fmt.Fprintf(&b, "  - %s: not loaded; %s %s %s\n", q(p.Module), p.Layer, q(p.Name), q(p.Version))
		}
	}
	if len(st.Functions) > 0 {
		b.WriteString("functions, and whose code runs them:\n")
	}
	for _, f := range st.Functions {
		fmt.Fprintf(&b, "  %s: %s", q(f.Key), q(f.Runs))
		if f.Old != "" {
			fmt.Fprintf(&b, " (tasks not yet switched: %s)", q(f.Old))
		}
		b.WriteString("\n")
	}
	if t := st.Transition; t != nil {
		fmt.Fprintf(&b, "transition: %s %s, %d task(s) not yet switched\n", q(t.Patch), t.Direction, len(t.Pending))
		for _, task := range t.Pending {
			fmt.Fprintf(&b, "  pid %d", task.PID)
			if task.TID != task.PID {
				fmt.Fprintf(&b, " tid %d", task.TID)
			}
			fmt.Fprintf(&b, " %s: patch_state %d", q(task.Comm), task.PatchState)
			if len(task.Frames) == 0 {
				b.WriteString(", no frame in the changed code")
			}
			b.WriteString("\n")
			for _, fr := range task.Frames {
				fmt.Fprintf(&b, "    %s: in %s's code of %s\n", q(fr.Text), q(fr.Code), q(fr.Key))
			}
			if verbose {
				for _, l := range task.Stack {
					fmt.Fprintf(&b, "      %s\n", q(l))
				}
			}
		}
	}
	for _, h := range st.Hooks {
		state := "ok"
		if !h.OK() {
			state = "not ok"
		}
		fmt.Fprintf(&b, "hook %s: %s; probed %s; live %s\n", q(h.Hook), state, list(h.Linked), list(h.Live))
	}
	if verbose {
		for _, n := range st.Notes {
			fmt.Fprintf(&b, "note: %s\n", q(n))
		}
	}
	if st.OK {
		b.WriteString("ok: the host runs what its packages say\n")
	}
	for _, p := range st.Problems {
		fmt.Fprintf(&b, "not ok: %s\n", q(p))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = safetext.Quote(v)
	}
	return strings.Join(out, ", ")
}
