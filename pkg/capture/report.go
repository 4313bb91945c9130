package capture

import (
	"fmt"
	"io"

	"github.com/klpack/klpack/internal/safetext"
)

// Kinds of report entries.
const (
	EntryInfo      = "info"       // where the kernel release, model and order came from
	EntryUnmatched = "unmatched"  // a patch in sysfs without a module file
	EntryMismatch  = "mismatch"   // sysfs and the module file disagree
	EntryNotLoaded = "not-loaded" // a livepatch module file not in sysfs
	EntrySkipped   = "skipped"    // a module file that could not be read
	EntryNote      = "note"       // anything else worth knowing
)

// CaptureReport says how Capture joined sysfs with the module files and
// what did not fit. It is for people (Lines) and tools (JSON).
type CaptureReport struct {
	KernelRelease string `json:"kernel_release"`
	// ReleaseSource is "option" or "vermagic".
	ReleaseSource string `json:"kernel_release_source"`
	KernelModel   string `json:"kernel_model"`
	// ModelSource is "option", "sysfs" (an attribute only a model has) or
	// "default" (no patch to look at).
	ModelSource string `json:"kernel_model_source"`
	// OrderSource is one of the Order constants.
	OrderSource string        `json:"order_source"`
	Entries     []ReportEntry `json:"entries"`
}

// ReportEntry is one line of a CaptureReport.
type ReportEntry struct {
	// Kind is one of the Entry constants.
	Kind string `json:"kind"`
	// Patch is the patch (module) name concerned, if any.
	Patch string `json:"patch,omitempty"`
	// Path is the module file concerned, if any.
	Path string `json:"path,omitempty"`
	Msg  string `json:"msg"`
}

// Count returns the number of entries of a kind.
func (r *CaptureReport) Count(kind string) int {
	n := 0
	for _, e := range r.Entries {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// Lines renders the report, one line per entry. Patch and Msg are
// quoted when they hold a control character: they carry names and paths
// from the host, where a newline would forge a line and ESC reach the
// terminal.
func (r *CaptureReport) Lines() []string {
	out := make([]string, 0, len(r.Entries))
	for _, e := range r.Entries {
		s := e.Kind
		if e.Patch != "" {
			s += " " + safetext.Quote(e.Patch)
		}
		out = append(out, s+": "+safetext.Quote(e.Msg))
	}
	return out
}

// WriteText prints Lines.
func (r *CaptureReport) WriteText(w io.Writer) error {
	for _, l := range r.Lines() {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

func (r *CaptureReport) add(kind, patch, path, format string, args ...any) {
	r.Entries = append(r.Entries, ReportEntry{Kind: kind, Patch: patch, Path: path, Msg: fmt.Sprintf(format, args...)})
}
