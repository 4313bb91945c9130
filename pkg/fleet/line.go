package fleet

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Patch is one livepatch a host runs, as an inventory line names it:
// the module, the package that installed it, and what sysfs says. In the
// state form, the package and version are not known.
type Patch struct {
	Module     string `json:"module"`
	Package    string `json:"package,omitempty"`
	Version    string `json:"version,omitempty"`
	Enabled    bool   `json:"enabled"`
	Transition bool   `json:"transition"`
	LoadOrder  int    `json:"load_order"`
}

// rawPatch is a Patch whose strings still point into the line: a line
// costs no allocation until it starts a combination of its own.
type rawPatch struct {
	module, pkg, version []byte
	enabled, transition  bool
	loadOrder            int64
	seen                 uint8 // fields present, by the bits below
}

const (
	seenModule = 1 << iota
	seenPackage
	seenVersion
	seenEnabled
	seenTransition
	seenLoadOrder
)

// line is one inventory line, decoded as far as grouping needs. The
// byte slices alias the line (or the parser's scratch for escaped
// strings) and live until the next parse.
type line struct {
	host                 []byte
	hosts                int64
	kernel, buildID      []byte
	patches              []rawPatch
	state                []byte // the raw klpack.deployed/v1 document
	hasHost, hasHosts    bool
	hasKernel, hasBuild  bool
	hasPatches, hasState bool
	ignored              []string // unknown keys, as JSON paths
}

// maxPatchesPerLine bounds one host's list: a kernel holds tens of
// livepatches, a line that lists thousands is not a host.
const maxPatchesPerLine = 4096

// maxField bounds a host ID, kernel release, build ID, module, package
// or version: each is a name, not a document.
const maxField = 4096

// syntaxError is what is wrong with a line, at a byte offset (0-based)
// within it.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("column %d: %s", e.off+1, e.msg) }

// parser decodes one line of the inventory's JSON Lines. It is a
// decoder of exactly the line format, not of JSON at large: keys it does
// not know are skipped (but their values still checked as JSON), and
// strings are unescaped into a scratch buffer reused from line to line.
// It refuses what encoding/json refuses, and more: invalid UTF-8,
// repeated keys and numbers that are not integers where it wants them.
type parser struct {
	b       []byte
	i       int
	scratch []byte
	l       line
}

func (p *parser) fail(format string, args ...any) error {
	return &syntaxError{off: p.i, msg: fmt.Sprintf(format, args...)}
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

// parse decodes b into p.l.
func (p *parser) parse(b []byte) error {
	p.b, p.i = b, 0
	p.scratch = p.scratch[:0]
	patches := p.l.patches[:0]
	p.l = line{patches: patches}
	p.ws()
	if p.i >= len(b) || b[p.i] != '{' {
		return p.fail("want a JSON object, one host per line")
	}
	err := p.object(func(key []byte) error {
		switch string(key) {
		case "host":
			return p.str(&p.l.host, &p.l.hasHost, "host")
		case "hosts":
			return p.int(&p.l.hosts, &p.l.hasHosts, "hosts")
		case "kernel":
			return p.str(&p.l.kernel, &p.l.hasKernel, "kernel")
		case "build_id":
			if p.null() {
				return nil
			}
			return p.str(&p.l.buildID, &p.l.hasBuild, "build_id")
		case "patches":
			return p.patches()
		case "state":
			if p.l.hasState {
				return p.fail("repeated key %q", "state")
			}
			start := p.i
			if p.i >= len(p.b) || p.b[p.i] != '{' {
				return p.fail("state: want a klpack.deployed/v1 object")
			}
			if err := p.skip(0); err != nil {
				return err
			}
			p.l.state, p.l.hasState = p.b[start:p.i], true
			return nil
		}
		if err := p.unknown(key, lineKeys); err != nil {
			return err
		}
		p.l.ignored = append(p.l.ignored, string(key))
		return p.skip(0)
	})
	if err != nil {
		return err
	}
	p.ws()
	if p.i != len(b) {
		return p.fail("data after the object: one host per line")
	}
	return nil
}

// object reads {"key": value, ...}, calling field with the scanner at
// each value. A key seen twice is refused: which one a reader keeps
// differs from tool to tool.
func (p *parser) object(field func(key []byte) error) error {
	p.i++ // {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return nil
	}
	var seen [16][]byte // keys of this object, for the repeat check; small objects only
	n := 0
	for {
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return p.fail("want a key string")
		}
		key, err := p.rawString()
		if err != nil {
			return err
		}
		for _, k := range seen[:min(n, len(seen))] {
			if string(k) == string(key) {
				return p.fail("repeated key %q", key)
			}
		}
		if n < len(seen) {
			seen[n] = key
		}
		n++
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return p.fail("want ':' after key %q", key)
		}
		p.i++
		p.ws()
		if err := field(key); err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.b) {
			return p.fail("unterminated object")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return nil
		default:
			return p.fail("want ',' or '}' after the value of %q", key)
		}
	}
}

func (p *parser) patches() error {
	if p.l.hasPatches {
		return p.fail("repeated key %q", "patches")
	}
	p.l.hasPatches = true
	if p.i >= len(p.b) || p.b[p.i] != '[' {
		return p.fail("patches: want an array")
	}
	return p.array("patches array", "patches", func(int) error {
		if p.i >= len(p.b) || p.b[p.i] != '{' {
			return p.fail("patches[%d]: want an object", len(p.l.patches))
		}
		if len(p.l.patches) == maxPatchesPerLine {
			return p.fail("more than %d patches on one host", maxPatchesPerLine)
		}
		p.l.patches = append(p.l.patches, rawPatch{})
		rp := &p.l.patches[len(p.l.patches)-1]
		return p.object(func(key []byte) error {
			switch string(key) {
			case "module":
				return p.pstr(rp, seenModule, &rp.module, "module")
			case "package":
				return p.pstr(rp, seenPackage, &rp.pkg, "package")
			case "version":
				return p.pstr(rp, seenVersion, &rp.version, "version")
			case "enabled":
				return p.pbool(rp, seenEnabled, &rp.enabled, "enabled")
			case "transition":
				return p.pbool(rp, seenTransition, &rp.transition, "transition")
			case "load_order":
				var ok bool
				rp.seen |= seenLoadOrder
				return p.int(&rp.loadOrder, &ok, "load_order")
			}
			if err := p.unknown(key, patchKeys); err != nil {
				return err
			}
			p.l.ignored = append(p.l.ignored, "patches[]."+string(key))
			return p.skip(0)
		})
	})
}

// array parses the array at p.i ('[' there) and each element with elem;
// the errors call it unterminated and its separators "in" in.
func (p *parser) array(unterminated, in string, elem func(i int) error) error {
	p.i++
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return nil
	}
	for i := 0; ; i++ {
		p.ws()
		if err := elem(i); err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.b) {
			return p.fail("unterminated %s", unterminated)
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return nil
		default:
			return p.fail("want ',' or ']' in %s", in)
		}
	}
}

func (p *parser) pstr(rp *rawPatch, bit uint8, dst *[]byte, name string) error {
	rp.seen |= bit
	var ok bool
	return p.str(dst, &ok, name)
}

func (p *parser) pbool(rp *rawPatch, bit uint8, dst *bool, name string) error {
	rp.seen |= bit
	switch {
	case hasPrefix(p.b[p.i:], "true"):
		*dst = true
		p.i += 4
	case hasPrefix(p.b[p.i:], "false"):
		*dst = false
		p.i += 5
	default:
		return p.fail("%s: want true or false", name)
	}
	return nil
}

var (
	lineKeys  = []string{"host", "hosts", "kernel", "build_id", "patches", "state"}
	patchKeys = []string{"module", "package", "version", "enabled", "transition", "load_order"}
)

// unknown refuses a key that is a known one in another case: other
// readers (encoding/json among them) would take it for the known one.
func (p *parser) unknown(key []byte, known []string) error {
	for _, k := range known {
		if strings.EqualFold(k, string(key)) {
			return p.fail("key %q: the key is %q", key, k)
		}
	}
	return nil
}

func hasPrefix(b []byte, s string) bool { return len(b) >= len(s) && string(b[:len(s)]) == s }

func (p *parser) null() bool {
	if hasPrefix(p.b[p.i:], "null") {
		p.i += 4
		return true
	}
	return false
}

// str reads a string value into dst, refusing a second one.
func (p *parser) str(dst *[]byte, seen *bool, name string) error {
	if *seen {
		return p.fail("repeated key %q", name)
	}
	*seen = true
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return p.fail("%s: want a string", name)
	}
	s, err := p.rawString()
	if err != nil {
		return err
	}
	if len(s) > maxField {
		return p.fail("%s: %d bytes, more than the %d a name may have", name, len(s), maxField)
	}
	*dst = s
	return nil
}

// int reads a non-negative integer that fits an int64.
func (p *parser) int(dst *int64, seen *bool, name string) error {
	if *seen {
		return p.fail("repeated key %q", name)
	}
	*seen = true
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	digits := p.b[start:p.i]
	if len(digits) == 0 || p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i = start
		return p.fail("%s: want a non-negative integer", name)
	}
	if len(digits) > 1 && digits[0] == '0' {
		p.i = start
		return p.fail("%s: leading zero", name)
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		p.i = start
		return p.fail("%s: %s out of range", name, digits)
	}
	*dst = n
	return nil
}

// rawString reads a JSON string at p.i. Without escapes it is a slice of
// the line; with them, it is unescaped into p.scratch. Control
// characters and invalid UTF-8 are refused, as JSON says of the first
// and as klpack says of the second (a name that is not text).
func (p *parser) rawString() ([]byte, error) {
	p.i++ // "
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, nil
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return nil, p.fail("control character %#02x in a string", c)
		case c < utf8.RuneSelf:
			p.i++
		default:
			r, n := utf8.DecodeRune(p.b[p.i:])
			if r == utf8.RuneError && n == 1 {
				return nil, p.fail("invalid UTF-8 in a string")
			}
			p.i += n
		}
	}
	return nil, p.fail("unterminated string")
}

// escaped finishes a string that holds escapes, from start, unescaping
// into the scratch buffer. The scratch grows but is never moved under a
// slice handed out: each string is appended whole, then sliced, and the
// buffer's capacity is fixed for the line (see grow).
func (p *parser) escaped(start int) ([]byte, error) {
	// The unescaped string is never longer than its source; reserving
	// the rest of the line up front keeps earlier slices valid.
	need := len(p.b) - start
	if cap(p.scratch)-len(p.scratch) < need {
		// Earlier strings of this line point into the old scratch, which
		// stays alive through them: a new one does not move them.
		p.scratch = make([]byte, 0, max(2*cap(p.scratch), need+len(p.scratch), 256))
	}
	out := p.scratch[len(p.scratch):len(p.scratch)]
	out = append(out, p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			p.scratch = p.scratch[:len(p.scratch)+len(out)]
			return out, nil
		case c == '\\':
			if p.i+1 >= len(p.b) {
				return nil, p.fail("unterminated escape")
			}
			e := p.b[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return nil, err
				}
				if utf16.IsSurrogate(r) {
					// A high surrogate pairs with a \u low one; alone, it is
					// replaced as encoding/json does.
					r2 := rune(-1)
					if hasPrefix(p.b[p.i:], `\u`) {
						save := p.i
						p.i += 2
						if r2, err = p.hex4(); err != nil {
							return nil, err
						}
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							r, r2 = d, -1
						} else {
							p.i = save
							r2 = -1
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				p.i -= 2
				return nil, p.fail("invalid escape \\%c", e)
			}
		case c < 0x20:
			return nil, p.fail("control character %#02x in a string", c)
		case c < utf8.RuneSelf:
			out = append(out, c)
			p.i++
		default:
			r, n := utf8.DecodeRune(p.b[p.i:])
			if r == utf8.RuneError && n == 1 {
				return nil, p.fail("invalid UTF-8 in a string")
			}
			out = append(out, p.b[p.i:p.i+n]...)
			p.i += n
		}
	}
	return nil, p.fail("unterminated string")
}

func (p *parser) hex4() (rune, error) {
	if p.i+4 > len(p.b) {
		return 0, p.fail("short \\u escape")
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, p.fail("invalid \\u escape")
		}
	}
	p.i += 4
	return r, nil
}

// maxDepth bounds the nesting of a skipped value (a state document is
// five levels deep; 64 leaves room and no stack to exhaust).
const maxDepth = 64

// skip checks and passes over one JSON value of any kind.
func (p *parser) skip(depth int) error {
	if depth > maxDepth {
		return p.fail("nested deeper than %d", maxDepth)
	}
	if p.i >= len(p.b) {
		return p.fail("want a value")
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(func([]byte) error { return p.skip(depth + 1) })
	case c == '[':
		return p.array("array", "an array", func(int) error { return p.skip(depth + 1) })
	case c == '"':
		_, err := p.rawString()
		return err
	case c == 't':
		if hasPrefix(p.b[p.i:], "true") {
			p.i += 4
			return nil
		}
	case c == 'f':
		if hasPrefix(p.b[p.i:], "false") {
			p.i += 5
			return nil
		}
	case c == 'n':
		if p.null() {
			return nil
		}
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	return p.fail("want a JSON value")
}

// number passes over a JSON number, checking its grammar.
func (p *parser) number() error {
	start := p.i
	if p.b[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.i < len(p.b) && p.b[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		p.i = start
		return p.fail("invalid number")
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return p.fail("invalid number")
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return p.fail("invalid number")
		}
	}
	return nil
}
