// Package safetext checks text that comes from outside input before it
// reaches package metadata, a shell script or a terminal: a newline there
// forges a control field or a report line, an escape sequence rewrites
// the user's screen.
package safetext

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Check refuses invalid UTF-8, every control character (C0, DEL, C1),
// newlines and tabs included, and every format character (Unicode Cf):
// the bidirectional overrides and zero-width characters that make text
// read differently from what it is.
func Check(s string) error {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n <= 1 {
				return fmt.Errorf("invalid UTF-8 at byte %d", i)
			}
		}
		if unicode.IsControl(r) {
			return fmt.Errorf("control character %U at byte %d", r, i)
		}
		if unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("format character %U at byte %d", r, i)
		}
	}
	return nil
}

// Quote returns s as it is when Check accepts it, and Go-quoted when not,
// so that whatever a name holds it prints as one visible token.
func Quote(s string) string {
	if Check(s) == nil {
		return s
	}
	return strconv.Quote(s)
}

// Escape keeps s's lines and tabs and writes every other byte or
// character Check refuses as a Go escape (\x1b, \u202e): for messages of
// several lines that may carry outside names, printed to a terminal.
func Escape(s string) string {
	if Check(s) == nil {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
