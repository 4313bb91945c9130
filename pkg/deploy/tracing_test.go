package deploy

import (
	"errors"
	"testing"
)

// TestTracingValidate: the tracing key is read like the rest of the
// state: names from the host may not carry control characters, a count
// is not negative, and the errors name the field.
func TestTracingValidate(t *testing.T) {
	const head = `{"schema": "klpack.deployed/v1", "kernel": {"release": "6.1.0-56-amd64"}, "patches": [], "tracing": `
	tests := []struct {
		name, tracing, field string
	}{
		{"ok", `{"sources": ["enabled_functions", "kprobes/list"], "sites": [{"object": "vmlinux", "function": "f", "count": 1, "ipmodify": true, "handlers": ["kprobe_ftrace_handler"], "kprobes": ["k f+0x0"]}]}`, ""},
		{"no function", `{"sources": [], "sites": [{"object": "vmlinux", "count": 1, "ipmodify": true}]}`, "tracing.sites[0].function"},
		{"no object", `{"sources": [], "sites": [{"function": "f", "count": 1}]}`, "tracing.sites[0].object"},
		{"escape in a function", `{"sources": [], "sites": [{"object": "vmlinux", "function": "f\u001b[2J", "count": 1}]}`, "tracing.sites[0].function"},
		{"negative count", `{"sources": [], "sites": [{"object": "vmlinux", "function": "f", "count": -1}]}`, "tracing.sites[0].count"},
		{"newline in a handler", `{"sources": [], "sites": [{"object": "vmlinux", "function": "f", "count": 1, "handlers": ["a\nb"]}]}`, "tracing.sites[0].handlers[0]"},
		{"empty kprobe", `{"sources": [], "sites": [{"object": "vmlinux", "function": "f", "count": 1, "kprobes": ["k f+0x0", ""]}]}`, "tracing.sites[0].kprobes[1]"},
		{"bad direct_to", `{"sources": [], "sites": [{"object": "vmlinux", "function": "f", "count": 1, "direct_to": "\u0007"}]}`, "tracing.sites[0].direct_to"},
		{"bad source", `{"sources": [""], "sites": []}`, "tracing.sources[0]"},
		{"a site of the wrong type", `{"sources": [], "sites": [1]}`, "tracing.sites[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := DecodeState([]byte(head+tt.tracing+"}"), "s.json")
			if tt.field == "" {
				if err != nil || st.Tracing == nil || len(st.Tracing.Sites) != 1 || st.Tracing.Sites[0].Kprobes[0] != "k f+0x0" {
					t.Fatalf("DecodeState = %+v, %v", st, err)
				}
				return
			}
			se, ok := errors.AsType[*StateError](err)
			if !ok || st != nil || se.Field != tt.field {
				t.Errorf("DecodeState = %v, %v; want a *StateError at %s", st, err, tt.field)
			}
		})
	}
}
