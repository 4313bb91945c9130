package check

import (
	"fmt"
	"io"
	"strings"

	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/internal/termstyle"
)

// WriteText prints findings for people: one headline each, the patches
// and functions involved, and why it matters.
func WriteText(w io.Writer, r *Report) error {
	return WriteTextStyled(w, r, termstyle.Style{})
}

// WriteTextStyled is WriteText with each severity word painted by st.
func WriteTextStyled(w io.Writer, r *Report, st termstyle.Style) error {
	// Names, messages and reasons come from modules, state and ack
	// files: each reaches the terminal as visible text, never as a
	// line of its own or an escape sequence.
	q := safetext.Quote
	fmt.Fprintf(w, "kernel %s, model %s: %s\n", q(orDash(r.Release)), q(r.KernelModel), summary(r))
	for _, f := range r.Findings {
		ack := ""
		if f.Acknowledged {
			ack = " (acknowledged: " + q(f.AckReason) + ")"
		}
		fmt.Fprintf(w, "\n%s %s %s: %s%s\n", f.Severity.Paint(st), f.Rule, f.Name, q(f.Message), ack)
		fmt.Fprintf(w, "  patches:   %s\n", quoteAll(f.Patches))
		if len(f.Functions) > 0 {
			fmt.Fprintf(w, "  functions: %s\n", quoteAll(f.Functions))
		}
		fmt.Fprintf(w, "  why:       %s\n", wrap(f.Why, 64, "             "))
	}
	return nil
}

// Paint is the severity's word as st paints it.
func (s Severity) Paint(st termstyle.Style) string {
	l := termstyle.Info
	switch s {
	case Warning:
		l = termstyle.Warning
	case Error:
		l = termstyle.Error
	}
	return st.Paint(l, s.String())
}

func quoteAll(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = safetext.Quote(s)
	}
	return strings.Join(out, ", ")
}

func summary(r *Report) string {
	var n [3]int
	acked := 0
	for _, f := range r.Findings {
		if f.Acknowledged {
			acked++
			continue
		}
		n[f.Severity]++
	}
	if len(r.Findings) == 0 {
		return "no findings"
	}
	s := Counts(n[Error], n[Warning], n[Info])
	if acked > 0 {
		s += fmt.Sprintf(", %d acknowledged", acked)
	}
	return s
}

// Counts says how many findings of each severity there are, as people
// read it: "1 error, 0 warnings, 2 infos".
func Counts(errors, warnings, infos int) string {
	return count(errors, "error") + ", " + count(warnings, "warning") + ", " + count(infos, "info")
}

// count is n and the noun, singular for one.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// wrap folds text at width, indenting continuation lines.
func wrap(s string, width int, indent string) string {
	var b strings.Builder
	col := 0
	for i, word := range strings.Fields(s) {
		if i > 0 && col+1+len(word) > width {
			b.WriteString("\n" + indent)
			col = 0
		} else if i > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(word)
		col += len(word)
	}
	return b.String()
}

func level(s Severity) string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	}
	return "note"
}
