// Package termstyle colours the severity words of klpack's human output
// with plain ANSI sequences, and decides when a stream gets colour: the
// one place that knows either.
package termstyle

// Level is what a word says of its line: how much it matters.
type Level int

const (
	Info Level = iota
	Warning
	Error
)

// Modes of the --color flag.
const (
	Auto   = "auto"
	Always = "always"
	Never  = "never"
)

// Modes are the values --color takes.
var Modes = []string{Auto, Always, Never}

// Style paints severity words; the zero Style leaves them as they are.
type Style struct{ on bool }

// New is a Style that colours when on.
func New(on bool) Style { return Style{on: on} }

// sgr are the Select Graphic Rendition codes of each level: red, yellow,
// cyan (blue is hard to read on a dark terminal).
var sgr = [...]string{Info: "36", Warning: "33", Error: "31"}

// Paint returns word coloured as l says, reset after it, so that the
// colour never runs into what follows.
func (s Style) Paint(l Level, word string) string {
	if !s.on || l < Info || l > Error {
		return word
	}
	return "\x1b[" + sgr[l] + "m" + word + "\x1b[0m"
}

// Enabled says whether a stream gets colour. never and always are the
// user's word; auto colours a terminal only, and not when NO_COLOR is set
// to anything (https://no-color.org) or TERM is dumb. An explicit
// --color always overrides NO_COLOR, as no-color.org asks of command-line
// flags.
func Enabled(mode string, terminal bool, getenv func(string) string) bool {
	switch mode {
	case Always:
		return true
	case Never:
		return false
	}
	return terminal && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
}
