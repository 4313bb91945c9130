package hooks

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// Host names the files of the running kernel the runtime reads and the
// bpffs directory it pins into. DefaultHost is the real host; tests point
// the fields at copies.
type Host struct {
	// Pin is the bpffs directory holding one directory per hook.
	Pin string
	// Kallsyms is /proc/kallsyms: which modules define a function.
	Kallsyms string
	// Modules is /proc/modules: loaded modules, newest first.
	Modules string
	// Livepatch is /sys/kernel/livepatch: which patches are enabled
	// and which are in transition.
	Livepatch fs.FS
	// KprobePMU is the kprobe PMU's type file in sysfs.
	KprobePMU string
	// Cgroup is the cgroup v2 mount, for naming cgroup ids in Status.
	Cgroup string

	// probe links hook fn's pinned program to module's copy of fn and
	// pins the link; nil means the kernel's (pinnedProbe). Tests fake it.
	probe func(fn, module string) error
}

// DefaultPin is where hooks are pinned unless told otherwise.
const DefaultPin = "/sys/fs/bpf/klpack/hooks"

// DefaultHost is the running kernel.
func DefaultHost() *Host {
	return &Host{
		Pin:       DefaultPin,
		Kallsyms:  "/proc/kallsyms",
		Modules:   "/proc/modules",
		Livepatch: os.DirFS("/sys/kernel/livepatch"),
		KprobePMU: "/sys/bus/event_source/devices/kprobe/type",
		Cgroup:    "/sys/fs/cgroup",
	}
}

// Vmlinux names the kernel image where a module name is expected.
const Vmlinux = "vmlinux"

// Definers reads kallsyms and returns the modules that define a text
// symbol fn, in kallsyms order; Vmlinux stands for the kernel image.
func Definers(r io.Reader, fn string) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	for sc.Scan() {
		// "ffffffffc0002000 t e2e_hook_value\t[e2e_hook]"
		line := sc.Bytes()
		f := bytes.Fields(line)
		if len(f) < 3 || string(f[2]) != fn {
			continue
		}
		if t := f[1]; len(t) != 1 || (t[0] != 't' && t[0] != 'T') {
			continue
		}
		mod := Vmlinux
		if len(f) >= 4 {
			m := f[3]
			if len(m) < 3 || m[0] != '[' || m[len(m)-1] != ']' {
				return nil, fmt.Errorf("kallsyms line %q: module %q not in brackets", line, m)
			}
			mod = string(m[1 : len(m)-1])
		}
		if !slices.Contains(out, mod) {
			out = append(out, mod)
		}
	}
	return out, sc.Err()
}

// LoadOrder reads /proc/modules and returns the module names, newest
// first: the kernel adds a module at the head of its list.
func LoadOrder(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 0 {
			continue
		}
		if len(f) < 3 {
			return nil, fmt.Errorf("modules line %q: want name, size, refcount", sc.Bytes())
		}
		out = append(out, string(f[0]))
	}
	return out, sc.Err()
}

// Live returns where fn runs: the modules of enabled livepatches that
// define fn, newest first, or [Vmlinux] when no livepatch defines it and
// the kernel image does. During a transition both the old and the new
// patch are enabled, and both copies may run.
func (h *Host) Live(fn string) ([]string, error) {
	defs, err := readWith(h.Kallsyms, func(r io.Reader) ([]string, error) { return Definers(r, fn) })
	if err != nil {
		return nil, err
	}
	if len(defs) == 0 {
		return nil, fmt.Errorf("%w: no function %s in %s", ErrNotFound, fn, h.Kallsyms)
	}
	order, err := readWith(h.Modules, LoadOrder)
	if err != nil {
		return nil, err
	}
	var live []string
	for _, m := range order {
		if !slices.Contains(defs, m) {
			continue
		}
		on, err := h.enabled(m)
		if err != nil {
			return nil, err
		}
		if on {
			live = append(live, m)
		}
	}
	if len(live) == 0 && slices.Contains(defs, Vmlinux) {
		live = []string{Vmlinux}
	}
	if len(live) == 0 {
		return nil, fmt.Errorf("%w: %s is defined in %s, and none of them is an enabled livepatch", ErrNotLive, fn, strings.Join(defs, ", "))
	}
	return live, nil
}

// enabled says whether module m's livepatch is enabled. A replaced patch
// leaves sysfs when its replacement's transition completes.
func (h *Host) enabled(m string) (bool, error) {
	b, err := fs.ReadFile(h.Livepatch, m+"/enabled")
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("livepatch sysfs: %w", err)
	}
	return strings.TrimSpace(string(b)) == "1", nil
}

func readWith(path string, parse func(io.Reader) ([]string, error)) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}
