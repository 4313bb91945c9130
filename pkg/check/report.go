package check

import (
	"fmt"
	"io"
	"strings"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
)

// WriteText prints findings for people: one headline each, the patches
// and functions involved, and why it matters.
func WriteText(w io.Writer, r *Report) error {
	fmt.Fprintf(w, "kernel %s, model %s: %s\n", orDash(r.Release), r.KernelModel, summary(r))
	for _, f := range r.Findings {
		ack := ""
		if f.Acknowledged {
			ack = " (acknowledged: " + f.AckReason + ")"
		}
		fmt.Fprintf(w, "\n%s %s %s: %s%s\n", f.Severity, f.Rule, f.Name, f.Message, ack)
		fmt.Fprintf(w, "  patches:   %s\n", strings.Join(f.Patches, ", "))
		if len(f.Functions) > 0 {
			fmt.Fprintf(w, "  functions: %s\n", strings.Join(f.Functions, ", "))
		}
		fmt.Fprintf(w, "  why:       %s\n", wrap(f.Why, 64, "             "))
	}
	return nil
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
	s := fmt.Sprintf("%d errors, %d warnings, %d infos", n[Error], n[Warning], n[Info])
	if acked > 0 {
		s += fmt.Sprintf(", %d acknowledged", acked)
	}
	return s
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

// SARIF builds a SARIF 2.1.0 log of the findings, with every rule in the
// tool's rule list and acknowledged findings as external suppressions.
func SARIF(r *Report, version string) *sarif.Report {
	run := sarif.NewRunWithInformationURI("klpack", "https://github.com/klpack/klpack")
	run.Tool.Driver.WithVersion(version)
	for _, rule := range Rules {
		run.AddRule(rule.ID).WithName(rule.Name).
			WithShortDescription(sarif.NewMultiformatMessageString().WithText(rule.Name)).
			WithFullDescription(sarif.NewMultiformatMessageString().WithText(rule.Why)).
			WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel(level(rule.Severity)))
	}
	for _, f := range r.Findings {
		res := run.CreateResultForRule(f.Rule).
			WithLevel(level(f.Severity)).
			WithMessage(sarif.NewTextMessage(f.Message))
		uri := f.File
		if uri == "" {
			uri = "deployed-state"
		}
		res.AddLocation(sarif.NewLocationWithPhysicalLocation(
			sarif.NewPhysicalLocation().WithArtifactLocation(sarif.NewSimpleArtifactLocation(uri))))
		res.WithPartialFingerprints(map[string]string{"klpack/v1": f.Rule + ":" + strings.Join(f.Patches, ",") + ":" + strings.Join(f.Functions, ",")})
		if f.Acknowledged {
			res.AddSuppression(sarif.NewSuppression().WithKind("external").WithJustification(f.AckReason))
		}
	}
	return sarif.NewReport().AddRun(run)
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
