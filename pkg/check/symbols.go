package check

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/pkg/klp"
)

// Symbols counts the symbols of the target kernel by object and name, as
// klp_find_object_symbol counts them to resolve old_sympos.
type Symbols struct {
	count   map[objName]int
	objects map[string]bool // objects the file lists symbols for
}

type objName struct{ object, name string }

// Bounds on the target kernel's symbol files. /proc/kallsyms of a
// distribution kernel with its modules loaded lists some 200,000 to
// 400,000 symbols in 10 to 20 MiB; System.map and
// available_filter_functions are smaller.
const (
	MaxSymbolsSize = 64 << 20
	// MaxSymbols bounds the table built from one file, about 160 MiB.
	MaxSymbols = 2_000_000
)

// ReadSymbols reads /proc/kallsyms or a System.map: "ADDR TYPE NAME
// [MODULE]" per line. A file that is not regular (a FIFO would block) or
// is larger than MaxSymbolsSize is refused before it is read; files of
// /proc, whose size says 0, are read up to the limit.
func ReadSymbols(path string) (*Symbols, error) {
	b, err := safeio.ReadFile(path, MaxSymbolsSize)
	if err != nil {
		return nil, err
	}
	return ParseSymbols(b, path)
}

// ParseSymbols reads the lines of a kallsyms or System.map file, name
// being what errors call it.
func ParseSymbols(b []byte, name string) (*Symbols, error) {
	s := &Symbols{count: map[objName]int{}, objects: map[string]bool{}}
	err := eachLine(b, func(n int, line string) (objName, error) {
		f := strings.Fields(line)
		if len(f) < 3 || len(f) > 4 || len(f[1]) != 1 {
			return objName{}, fmt.Errorf("line %d: want \"ADDRESS TYPE NAME [MODULE]\"", n)
		}
		if _, err := strconv.ParseUint(f[0], 16, 64); err != nil {
			return objName{}, fmt.Errorf("line %d: address %s is not hexadecimal", n, strconv.Quote(f[0]))
		}
		obj := "vmlinux"
		if len(f) == 4 {
			obj = strings.Trim(f[3], "[]")
		}
		return objName{obj, f[2]}, nil
	}, func(on objName) {
		s.objects[on.object] = true
		s.count[on]++
	})
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", name, err)
	}
	return s, nil
}

// Traceable is the set of functions ftrace can attach to.
type Traceable struct {
	funcs   map[objName]bool
	objects map[string]bool
}

// ReadTraceable reads available_filter_functions ("NAME [MODULE]"), or
// available_filter_functions_addrs ("ADDR NAME [MODULE]"), bounded as
// ReadSymbols is.
func ReadTraceable(path string) (*Traceable, error) {
	b, err := safeio.ReadFile(path, MaxSymbolsSize)
	if err != nil {
		return nil, err
	}
	return ParseTraceable(b, path)
}

// ParseTraceable reads the lines of an available_filter_functions file,
// name being what errors call it.
func ParseTraceable(b []byte, name string) (*Traceable, error) {
	t := &Traceable{funcs: map[objName]bool{}, objects: map[string]bool{}}
	err := eachLine(b, func(n int, line string) (objName, error) {
		f := strings.Fields(line)
		if len(f) >= 2 && !strings.HasPrefix(f[1], "[") {
			if _, err := strconv.ParseUint(f[0], 16, 64); err == nil {
				f = f[1:]
			}
		}
		if len(f) < 1 || len(f) > 2 || !symbolName(f[0]) {
			return objName{}, fmt.Errorf("line %d: want \"NAME [MODULE]\"", n)
		}
		obj := "vmlinux"
		if len(f) == 2 {
			obj = strings.Trim(f[1], "[]")
		}
		return objName{obj, f[0]}, nil
	}, func(on objName) {
		t.objects[on.object] = true
		t.funcs[on] = true
	})
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", name, err)
	}
	return t, nil
}

// eachLine parses every non-empty line of b, then adds them all: a file
// refused at its last line builds no table. Substrings of one copy of b
// key the tables, so that no line is allocated on its own.
func eachLine(b []byte, parse func(n int, line string) (objName, error), add func(objName)) error {
	text := string(b)
	lines := 0
	for pass := range 2 {
		n := 0
		for line := range strings.Lines(text) {
			n++
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			on, err := parse(n, line)
			if err != nil {
				return err
			}
			if pass == 0 {
				if lines++; lines > MaxSymbols {
					return fmt.Errorf("line %d: more than %d symbols", n, MaxSymbols)
				}
				continue
			}
			add(on)
		}
		// An empty list would make every function look missing: a
		// file read while the kernel hid it, or a wrong path.
		if pass == 0 && lines == 0 {
			return errors.New("empty: no symbol in it")
		}
	}
	return nil
}

// target checks every candidate function against the target kernel.
func (c *checker) target() {
	syms, tr := c.in.Symbols, c.in.Traceable
	if syms == nil && tr == nil {
		return
	}
	for _, m := range c.in.Candidates {
		if !m.Livepatch || len(m.Patches) == 0 {
			continue
		}
		for _, o := range m.Patches[0].Objects {
			obj := o.ObjectName()
			for _, f := range o.Funcs {
				key := klp.KeyOf(&o, &f).String()
				on := objName{obj, f.OldName}
				if syms != nil && syms.objects[obj] {
					n := syms.count[on]
					switch {
					case n == 0:
						c.report(RuleFuncMissing, m.Path, fmt.Sprintf("%s: %s has no symbol %s", m.Name, obj, f.OldName), []string{m.Name}, []string{key})
						continue
					case n > 1 && f.OldSympos == 0:
						c.report(RuleFuncAmbiguous, m.Path, fmt.Sprintf("%s: %s has %d symbols %s and the patch gives no sympos", m.Name, obj, n, f.OldName), []string{m.Name}, []string{key})
					case f.OldSympos > uint64(n):
						c.report(RuleSymposRange, m.Path, fmt.Sprintf("%s: sympos %d of %s, but %s has %d", m.Name, f.OldSympos, f.OldName, obj, n), []string{m.Name}, []string{key})
					}
				}
				if tr != nil && tr.objects[obj] && !tr.funcs[on] {
					c.report(RuleNotTraceable, m.Path, fmt.Sprintf("%s: %s is not in available_filter_functions of %s", m.Name, f.OldName, obj), []string{m.Name}, []string{key})
				}
			}
		}
	}
}

// symbolName says whether s may be a function the kernel lists: C
// identifier characters and the dots of compiler suffixes (.isra.0,
// .cold). Anything else means the file is not such a list.
func symbolName(s string) bool {
	for _, c := range []byte(s) {
		if !(c == '_' || c == '.' || c == '$' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return s != ""
}
