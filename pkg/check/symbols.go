package check

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/klpack/klpack/pkg/klp"
)

// Symbols counts the symbols of the target kernel by object and name, as
// klp_find_object_symbol counts them to resolve old_sympos.
type Symbols struct {
	count   map[objName]int
	objects map[string]bool // objects the file lists symbols for
}

type objName struct{ object, name string }

// ReadSymbols reads /proc/kallsyms or a System.map: "ADDR TYPE NAME
// [MODULE]" per line.
func ReadSymbols(path string) (*Symbols, error) {
	s := &Symbols{count: map[objName]int{}, objects: map[string]bool{}}
	err := eachLine(path, func(n int, line string) error {
		f := strings.Fields(line)
		if len(f) < 3 || len(f) > 4 || len(f[1]) != 1 {
			return fmt.Errorf("line %d: want \"ADDRESS TYPE NAME [MODULE]\"", n)
		}
		if _, err := strconv.ParseUint(f[0], 16, 64); err != nil {
			return fmt.Errorf("line %d: address %q is not hexadecimal", n, f[0])
		}
		obj := "vmlinux"
		if len(f) == 4 {
			obj = strings.Trim(f[3], "[]")
		}
		s.objects[obj] = true
		s.count[objName{obj, f[2]}]++
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Traceable is the set of functions ftrace can attach to.
type Traceable struct {
	funcs   map[objName]bool
	objects map[string]bool
}

// ReadTraceable reads available_filter_functions ("NAME [MODULE]"), or
// available_filter_functions_addrs ("ADDR NAME [MODULE]").
func ReadTraceable(path string) (*Traceable, error) {
	t := &Traceable{funcs: map[objName]bool{}, objects: map[string]bool{}}
	err := eachLine(path, func(n int, line string) error {
		f := strings.Fields(line)
		if len(f) >= 2 && !strings.HasPrefix(f[1], "[") {
			if _, err := strconv.ParseUint(f[0], 16, 64); err == nil {
				f = f[1:]
			}
		}
		if len(f) < 1 || len(f) > 2 {
			return fmt.Errorf("line %d: want \"NAME [MODULE]\"", n)
		}
		obj := "vmlinux"
		if len(f) == 2 {
			obj = strings.Trim(f[1], "[]")
		}
		t.objects[obj] = true
		t.funcs[objName{obj, f[0]}] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// eachLine calls fn for every non-empty line; errors name the file.
func eachLine(path string, fn func(n int, line string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := scanLines(f, fn); err != nil {
		return fmt.Errorf("file %s: %w", path, err)
	}
	return nil
}

func scanLines(r io.Reader, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", n+1, err)
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
