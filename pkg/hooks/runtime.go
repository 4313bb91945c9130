package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/klpack/klpack/pkg/hookabi"
)

// Sentinels callers may test for with errors.Is.
var (
	ErrNotFound = errors.New("function not found")
	ErrNotLive  = errors.New("function not live")
	ErrNoHook   = errors.New("no such hook")
	ErrRefused  = errors.New("kernel refused")
)

// Names inside a hook's pin directory.
const (
	progPin    = "prog"
	linkPrefix = "link@" // link@<module>: the kprobe on <module>:<func>
	// newPrefix names a pin about to be renamed over another. Not a
	// dot: bpffs refuses names with dots (EPERM).
	newPrefix = "new@"
)

// Change is one link Sync (or Attach) made or removed.
type Change struct {
	Hook   string        `json:"hook"`
	Module string        `json:"module,omitempty"`
	Action string        `json:"action"` // "attached", "detached" or "pinned" (no live copy yet)
	Why    string        `json:"why"`
	Took   time.Duration `json:"took_ns"`
}

func (h *Host) dir(fn string) string { return filepath.Join(h.Pin, fn) }

// Attach loads a hook object (as `klpack hooks build` wrote it), pins its
// program and maps under Pin/<func>, and links it to every live copy of
// the hook function. The maps of a hook already pinned are kept, so the
// per-cgroup values survive a new version of the object. path names the
// object in errors.
func (h *Host) Attach(ctx context.Context, obj []byte, path string) ([]Change, error) {
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(obj))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", path, hookabi.ErrInvalid, err)
	}
	var fn string
	if p := spec.Programs[hookabi.ProgramName]; p != nil {
		fn = p.AttachTo
	}
	// The hook function is what the program says it probes; the rest
	// is checked against it.
	if err := hookabi.ValidateSpec(spec, fn); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := onBPFFS(h.Pin); err != nil {
		return nil, err
	}
	dir := h.dir(fn)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bpffs: %w", err)
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinByName
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: dir}})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			// The summary (the log's last words) first, then the log.
			return nil, fmt.Errorf("%s: %w: %v%s\nverifier log:\n%+v", path, ErrRefused, ve, overrideHint(ve), ve)
		}
		return nil, fmt.Errorf("%s: loading into the kernel: %w", path, err)
	}
	defer coll.Close()
	prog := coll.Programs[hookabi.ProgramName]

	// A new program replaces the old one's links one module at a time:
	// pin the new link beside the old, then rename it over the old pin,
	// so the function is never without a probe.
	var changes []Change
	old, err := h.links(fn)
	if err != nil {
		return nil, err
	}
	live, err := h.Live(fn)
	if errors.Is(err, ErrNotLive) || errors.Is(err, ErrNotFound) {
		// Pinned ahead of its patch: Sync probes it once the patch
		// is loaded.
		changes = append(changes, Change{Hook: fn, Action: "pinned", Why: "no live copy yet: " + err.Error()})
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, m := range live {
		start := time.Now()
		if err := h.link(prog, m, fn); err != nil {
			return changes, err
		}
		changes = append(changes, Change{Hook: fn, Module: m, Action: "attached", Why: "live copy", Took: time.Since(start)})
	}
	if err := pinOver(filepath.Join(dir, progPin), prog.Pin); err != nil {
		return changes, err
	}
	for _, m := range old {
		if !slices.Contains(live, m) {
			c, err := h.unlink(fn, m, "not live")
			if err != nil {
				return changes, err
			}
			changes = append(changes, c)
		}
	}
	return changes, ctx.Err()
}

// overrideHint explains the verifier's refusal of bpf_override_return.
func overrideHint(ve *ebpf.VerifierError) string {
	for _, l := range ve.Log {
		if strings.Contains(l, "cannot use helper bpf_override_return") || strings.Contains(l, "unknown func bpf_override_return") {
			return " (the kernel lacks CONFIG_BPF_KPROBE_OVERRIDE)"
		}
	}
	return ""
}

// onBPFFS checks that dir is, or would be created, on a bpf file system:
// the nearest existing ancestor decides. Pinning elsewhere fails with a
// bare EPERM.
func onBPFFS(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		var st unix.Statfs_t
		err := unix.Statfs(d, &st)
		if errors.Is(err, unix.ENOENT) && d != filepath.Dir(d) {
			continue
		}
		if err != nil {
			return fmt.Errorf("bpffs %s: %w", dir, err)
		}
		if st.Type != unix.BPF_FS_MAGIC {
			return fmt.Errorf("bpffs %s: %s is not on a bpf file system (mount -t bpf bpf /sys/fs/bpf)", dir, d)
		}
		return nil
	}
}

// pinOver pins an object at path with pin, over whatever is pinned there:
// beside it first, then renamed, so that path never goes empty (a link
// replaced this way leaves its function probed throughout).
func pinOver(path string, pin func(string) error) error {
	tmp := filepath.Join(filepath.Dir(path), newPrefix+filepath.Base(path))
	os.Remove(tmp)
	if err := pin(tmp); err != nil {
		return fmt.Errorf("bpffs: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("bpffs: %w", err)
	}
	return nil
}

// unlink removes hook fn's probe on module m's copy.
func (h *Host) unlink(fn, m, why string) (Change, error) {
	start := time.Now()
	if err := os.Remove(filepath.Join(h.dir(fn), linkPrefix+m)); err != nil {
		return Change{}, fmt.Errorf("bpffs: %w", err)
	}
	return Change{Hook: fn, Module: m, Action: "detached", Why: why, Took: time.Since(start)}, nil
}

// link opens a kprobe on module:fn and links prog to it, pinned as the
// hook's link@module (over an older link there).
// The module-qualified name is what makes the probe unambiguous: a
// livepatch's function may share its name with vmlinux's (klp-build keeps
// the original name) or with an older patch's copy, and the kernel
// resolves a bare name to vmlinux, or refuses it when several modules
// define it (EADDRNOTAVAIL). cilium/ebpf's link.Kprobe refuses the
// "module:symbol" form, so the perf event is opened here and handed to
// link.AttachRawLink.
func (h *Host) link(prog *ebpf.Program, module, fn string) error {
	sym := module + ":" + fn
	if module == Vmlinux {
		sym = fn
	}
	fd, err := h.kprobe(sym)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	l, err := link.AttachRawLink(link.RawLinkOptions{Target: fd, Program: prog, Attach: ebpf.AttachPerfEvent})
	if err != nil {
		if errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("%w: linking the hook program to %s: %w (is %s on the error-injection list, and does the kernel have CONFIG_BPF_KPROBE_OVERRIDE?)", ErrRefused, sym, err, fn)
		}
		return fmt.Errorf("%w: linking the hook program to %s: %w", ErrRefused, sym, err)
	}
	defer l.Close()
	return pinOver(filepath.Join(h.dir(fn), linkPrefix+module), l.Pin)
}

// kprobe opens a perf event of the kprobe PMU on sym at offset 0.
func (h *Host) kprobe(sym string) (int, error) {
	b, err := os.ReadFile(h.KprobePMU)
	if err != nil {
		return -1, fmt.Errorf("the kernel has no kprobe PMU: %w", err)
	}
	typ, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	if err != nil {
		return -1, fmt.Errorf("%s: %w", h.KprobePMU, err)
	}
	name, err := unix.BytePtrFromString(sym)
	if err != nil {
		return -1, err
	}
	attr := unix.PerfEventAttr{
		Type: uint32(typ),
		// The kprobe PMU reads the symbol from config1 and the offset
		// from config2, which arrived with PERF_ATTR_SIZE_VER1.
		Size: unix.PERF_ATTR_SIZE_VER1,
		Ext1: uint64(uintptr(unsafe.Pointer(name))),
	}
	fd, err := unix.PerfEventOpen(&attr, -1, 0, -1, unix.PERF_FLAG_FD_CLOEXEC)
	runtime.KeepAlive(name)
	if err != nil {
		return -1, fmt.Errorf("%w: kprobe on %s: %w", ErrRefused, sym, err)
	}
	return fd, nil
}

// Hooks lists the pinned hooks by function name.
func (h *Host) Hooks() ([]string, error) {
	ents, err := os.ReadDir(h.Pin)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bpffs: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// links lists the modules hook fn has a pinned link to.
func (h *Host) links(fn string) ([]string, error) {
	ents, err := os.ReadDir(h.dir(fn))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoHook, fn)
	}
	if err != nil {
		return nil, fmt.Errorf("bpffs: %w", err)
	}
	var out []string
	for _, e := range ents {
		if m, ok := strings.CutPrefix(e.Name(), linkPrefix); ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// Detach removes hook fn: its links, program and maps.
func (h *Host) Detach(fn string) error {
	if _, err := h.links(fn); err != nil {
		return err
	}
	if err := os.RemoveAll(h.dir(fn)); err != nil {
		return fmt.Errorf("bpffs: %w", err)
	}
	return nil
}

// CgroupID is the id bpf_get_current_cgroup_id returns for tasks of the
// cgroup v2 directory path: its inode number.
func CgroupID(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", path, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return 0, fmt.Errorf("cgroup %s: not on a cgroup v2 file system", path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", path, err)
	}
	id, ok := inode(fi)
	if !ok || !fi.IsDir() {
		return 0, fmt.Errorf("cgroup %s: not a cgroup directory", path)
	}
	return id, nil
}

func inode(fi os.FileInfo) (uint64, bool) {
	s, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return s.Ino, true
}

// Set makes hook fn return v in the cgroup id.
func (h *Host) Set(fn string, cgroup uint64, v int64) error {
	m, err := h.openMap(fn, hookabi.ValuesMap)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.Put(cgroup, v); err != nil {
		return fmt.Errorf("hook %s: setting cgroup %d: %w", fn, cgroup, err)
	}
	return nil
}

// Unset stops overriding hook fn in the cgroup id.
func (h *Host) Unset(fn string, cgroup uint64) error {
	m, err := h.openMap(fn, hookabi.ValuesMap)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.Delete(cgroup); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("hook %s: unsetting cgroup %d: %w", fn, cgroup, err)
	}
	return nil
}

func (h *Host) openMap(fn, name string) (*ebpf.Map, error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(h.dir(fn), name), nil)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoHook, fn)
	}
	if err != nil {
		return nil, fmt.Errorf("hook %s: bpffs: %w", fn, err)
	}
	return m, nil
}
