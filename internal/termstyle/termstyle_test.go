package termstyle

import "testing"

func TestEnabled(t *testing.T) {
	tests := []struct {
		mode     string
		terminal bool
		noColor  string
		term     string
		want     bool
	}{
		{Auto, true, "", "xterm-256color", true},
		{Auto, true, "", "", true},
		{Auto, false, "", "xterm-256color", false},
		{Auto, true, "1", "xterm-256color", false},
		// Any non-empty value disables, "0" and "false" too.
		{Auto, true, "0", "xterm", false},
		{Auto, true, "false", "xterm", false},
		{Auto, true, "", "dumb", false},
		{Auto, false, "1", "dumb", false},
		{Always, false, "", "xterm", true},
		{Always, true, "1", "xterm", true},
		{Always, false, "1", "dumb", true},
		{Never, true, "", "xterm", false},
		{Never, false, "", "", false},
		// Not a mode the flag takes: as auto.
		{"", true, "", "xterm", true},
		{"", true, "1", "xterm", false},
	}
	for _, tt := range tests {
		env := map[string]string{"NO_COLOR": tt.noColor, "TERM": tt.term}
		got := Enabled(tt.mode, tt.terminal, func(k string) string { return env[k] })
		if got != tt.want {
			t.Errorf("Enabled(%q, terminal %v, NO_COLOR=%q, TERM=%q) = %v, want %v",
				tt.mode, tt.terminal, tt.noColor, tt.term, got, tt.want)
		}
	}
}

func TestPaint(t *testing.T) {
	tests := []struct {
		on    bool
		level Level
		word  string
		want  string
	}{
		{true, Error, "error", "\x1b[31merror\x1b[0m"},
		{true, Warning, "warning", "\x1b[33mwarning\x1b[0m"},
		{true, Info, "info", "\x1b[36minfo\x1b[0m"},
		{false, Error, "error", "error"},
		{false, Info, "info", "info"},
		{true, Level(7), "odd", "odd"},
		{true, Level(-1), "odd", "odd"},
	}
	for _, tt := range tests {
		if got := New(tt.on).Paint(tt.level, tt.word); got != tt.want {
			t.Errorf("New(%v).Paint(%d, %q) = %q, want %q", tt.on, tt.level, tt.word, got, tt.want)
		}
	}
	if got := (Style{}).Paint(Error, "error"); got != "error" {
		t.Errorf("zero Style painted %q", got)
	}
}
