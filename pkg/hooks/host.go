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

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/sysfs"
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

	// pinFS is the file system type the pin directory must be on; zero
	// means bpffs. Tests pin into a temporary directory.
	pinFS int64
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
		Livepatch: sysDir("/sys/kernel/livepatch"),
		KprobePMU: "/sys/bus/event_source/devices/kprobe/type",
		Cgroup:    "/sys/fs/cgroup",
	}
}

// Vmlinux names the kernel image where a module name is expected.
const Vmlinux = "vmlinux"

// Bounds on what the runtime reads from the host. kallsyms is tens of
// megabytes on a distribution kernel and is streamed, never held whole.
const (
	kallsymsLimit = 256 << 20
	modulesLimit  = 16 << 20
	// attrLimit is a sysfs attribute: the kernel's show() fills a page.
	attrLimit = 4096
	// lineLimit is one line of kallsyms or /proc/modules.
	lineLimit = 64 << 10
)

// Definers reads kallsyms and returns the modules that define a text
// symbol fn, in kallsyms order; Vmlinux stands for the kernel image.
// The module of a line that defines fn must be a module name; the error
// says which line is not.
func Definers(r io.Reader, fn string) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), lineLimit)
	for n := 1; sc.Scan(); n++ {
		// "ffffffffc0002000 t e2e_hook_value\t[e2e_hook]"
		f := bytes.Fields(sc.Bytes())
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
				return nil, fmt.Errorf("line %d: %w: module %q not in brackets", n, ErrBadName, m)
			}
			mod = string(m[1 : len(m)-1])
			if err := klp.CheckModuleName(mod); err != nil {
				return nil, fmt.Errorf("line %d: %w: %w", n, ErrBadName, err)
			}
		}
		if !slices.Contains(out, mod) {
			out = append(out, mod)
		}
	}
	return out, scanErr(sc)
}

// LoadOrder reads /proc/modules and returns the module names, newest
// first: the kernel adds a module at the head of its list. Every name
// must be a module name; the error says which line is not.
func LoadOrder(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), lineLimit)
	for n := 1; sc.Scan(); n++ {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 0 {
			continue
		}
		if len(f) < 3 {
			return nil, fmt.Errorf("line %d: %d field(s), want name, size, refcount", n, len(f))
		}
		if err := klp.CheckModuleName(string(f[0])); err != nil {
			return nil, fmt.Errorf("line %d: %w: %w", n, ErrBadName, err)
		}
		out = append(out, string(f[0]))
	}
	return out, scanErr(sc)
}

// scanErr names the limit a line went over.
func scanErr(sc *bufio.Scanner) error {
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return fmt.Errorf("a line of more than %d bytes: %w", lineLimit, safeio.ErrTooLarge)
	} else if err != nil {
		return err
	}
	return nil
}

// Live returns where fn runs: the modules of enabled livepatches that
// define fn, newest first, or [Vmlinux] when no livepatch defines it and
// the kernel image does. During a transition both the old and the new
// patch are enabled, and both copies may run.
func (h *Host) Live(fn string) ([]string, error) {
	defs, err := readWith(h.Kallsyms, kallsymsLimit, func(r io.Reader) ([]string, error) { return Definers(r, fn) })
	if err != nil {
		return nil, err
	}
	if len(defs) == 0 {
		return nil, fmt.Errorf("%w: no function %s in %s", ErrNotFound, fn, h.Kallsyms)
	}
	order, err := readWith(h.Modules, modulesLimit, LoadOrder)
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
	b, err := readAttr(h.Livepatch, m+"/enabled")
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("livepatch sysfs: %w", err)
	}
	return strings.TrimSpace(string(b)) == "1", nil
}

// readWith parses the host file at path, opened without waiting on a
// FIFO and read no further than limit. Errors name the path.
func readWith(path string, limit int64, parse func(io.Reader) ([]string, error)) ([]string, error) {
	f, _, err := safeio.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := parse(&boundedReader{r: f, limit: limit})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// boundedReader fails, rather than ending early, past its limit: a
// truncated kallsyms would silently hide a module's copy of a function.
type boundedReader struct {
	r           io.Reader
	limit, read int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	// One byte past the limit tells "exactly limit" from "more".
	if left := b.limit - b.read + 1; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := b.r.Read(p)
	if b.read += int64(n); b.read > b.limit {
		return 0, fmt.Errorf("%w of %d bytes", safeio.ErrTooLarge, b.limit)
	}
	return n, err
}

// sysDir is a host directory (the livepatch sysfs) as an fs.FS whose
// names stay inside it and whose opens never wait (sysfs.FS).
type sysDir string

func (d sysDir) Open(name string) (fs.File, error) {
	root, err := os.OpenRoot(string(d))
	if err != nil {
		return nil, err
	}
	defer root.Close() // an open file outlives its root
	return sysfs.FS(root).Open(name)
}

// readAttr reads the attribute name of fsys: a regular file of at most
// attrLimit bytes. The other errors name the file already.
func readAttr(fsys fs.FS, name string) ([]byte, error) {
	b, err := safeio.ReadFS(fsys, name, attrLimit)
	if errors.Is(err, safeio.ErrTooLarge) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, err
}
