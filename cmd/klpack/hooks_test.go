package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/klpack/klpack/pkg/hooks"
)

// TestHooksPrintQuotes: names and reasons read from the host print as
// one quoted token when they hold a control character: a newline cannot
// forge a report line, an escape cannot reach the terminal.
func TestHooksPrintQuotes(t *testing.T) {
	tests := []struct {
		name  string
		print func(w *bytes.Buffer)
		want  string
	}{
		{"status", func(w *bytes.Buffer) {
			printStatus(w, []*hooks.Status{{
				Hook:   "f",
				Linked: []string{"lp\x1b[31m"},
				Live:   []string{"lp\nf\tok"},
				Stale:  []string{"lp\x1b[31m"},
				Values: []hooks.Value{{Cgroup: 7, Path: "/sys/fs/cgroup/a\nf\tok", Value: -1}},
			}})
		}, "f\tSTALE: probe on \"lp\\x1b[31m\"\n" +
			"  probed: \"lp\\x1b[31m\"\tlive: \"lp\\nf\\tok\"\n" +
			"  calls 0, overrides 0, refused 0\n" +
			"  cgroup 7 \"/sys/fs/cgroup/a\\nf\\tok\" → -1\n"},
		{"status problem", func(w *bytes.Buffer) {
			printStatus(w, []*hooks.Status{{Hook: "f", Problem: "no function f in /proc/\x1b]0;x\a"}})
		}, "f\t\"PROBLEM: no function f in /proc/\\x1b]0;x\\a\"\n" +
			"  probed: none\tlive: none\n" +
			"  calls 0, overrides 0, refused 0\n"},
		{"changes", func(w *bytes.Buffer) {
			printChanges(w, []hooks.Change{
				{Hook: "f", Module: "lp\nf\tdetached", Action: "attached", Why: "live\x1b[2J", Took: time.Microsecond},
				{Hook: "f", Action: "pinned", Why: "no live copy yet: \x9b"},
			}, false)
		}, "f\tattached \"lp\\nf\\tdetached\":f\t(\"live\\x1b[2J\", 1µs)\n" +
			"f\tpinned\t(\"no live copy yet: \\x9b\")\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		tt.print(&b)
		if got := b.String(); got != tt.want {
			t.Errorf("%s printed\n%q\nwant\n%q", tt.name, got, tt.want)
		}
		if strings.ContainsAny(b.String(), "\x1b\a\x9b") {
			t.Errorf("%s printed a raw control character: %q", tt.name, b.String())
		}
	}
}
