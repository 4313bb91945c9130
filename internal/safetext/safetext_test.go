package safetext

import "testing"

func TestCheck(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"", true},
		{"Release Team <rel@example.com>", true},
		{"Ünïcode ✓", true},
		{"a\nEssential: yes", false},
		{"tab\there", false},
		{"cr\r", false},
		{"nul\x00", false},
		{"esc\x1b[31m", false},
		{"del\x7f", false},
		{"c1\u0085", false},
		{"bad\xff", false},
		{"literal \uFFFD is fine", true},
		{"bidi \u202Eevil", false},
		{"zero\u200Bwidth", false},
	}
	for _, tt := range tests {
		err := Check(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("Check(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"lp_x":            "lp_x",
		"lp\nKLP001 fake": `"lp\nKLP001 fake"`,
		"\x1b[2J":         `"\x1b[2J"`,
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"klpack: file lp.ko: bad":    "klpack: file lp.ko: bad",
		"line one\n\tline two":       "line one\n\tline two",
		"dir \x1b[2J\x1b[31mred":     `dir \x1b[2J\x1b[31mred`,
		"bidi \u202eevil":            `bidi \u202eevil`,
		"bad \xff byte, \u00e9 kept": `bad \xff byte, é kept`,
		"cr\r and nul\x00":           `cr\r and nul\x00`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}
