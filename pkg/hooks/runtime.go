package hooks

import (
	"bytes"
	"cmp"
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

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/pkg/hookabi"
	"github.com/klpack/klpack/pkg/klp"
)

// Sentinels callers may test for with errors.Is.
var (
	ErrNotFound = errors.New("function not found")
	ErrNotLive  = errors.New("function not live")
	ErrNoHook   = errors.New("no such hook")
	ErrRefused  = errors.New("kernel refused")
	// ErrNotBPFFS: the pin directory is elsewhere than on bpffs, where
	// klpack neither pins nor removes anything.
	ErrNotBPFFS = errors.New("not on a bpf file system")
	// ErrBadName: a hook function or module name, from the command
	// line, an object or the host, that cannot be one.
	ErrBadName = errors.New("invalid name")
)

// Names inside a hook's pin directory.
const (
	progPin    = "prog"
	linkPrefix = "link@" // link@<module>: the kprobe on <module>:<func>
	// newPrefix names a pin about to be renamed over another. Not a
	// dot: bpffs refuses names with dots (EPERM).
	newPrefix = "new@"
)

// MaxObject bounds a hook object read for Attach: klpack's are a few
// kilobytes.
const MaxObject = 16 << 20

// Change is one link Sync (or Attach) made or removed.
type Change struct {
	Hook   string        `json:"hook"`
	Module string        `json:"module,omitempty"`
	Action string        `json:"action"` // "attached", "detached" or "pinned" (no live copy yet)
	Why    string        `json:"why"`
	Took   time.Duration `json:"took_ns"`
}

// dir is hook fn's pin directory, for the cilium/ebpf calls that pin by
// path. fn must have passed checkHook.
func (h *Host) dir(fn string) string { return filepath.Join(h.Pin, fn) }

// checkHook refuses a hook function name that is no C identifier: it
// becomes a directory under the pin directory.
func checkHook(fn string) error {
	if err := klp.CheckIdentifier(fn); err != nil {
		return fmt.Errorf("%w: hook function: %w", ErrBadName, err)
	}
	return nil
}

// pins opens the pin directory after checking it is on bpffs. Every name
// under it is then resolved inside it (os.Root), so that no hook or
// module name reaches a file elsewhere. A missing directory is nil, nil:
// nothing is pinned.
func (h *Host) pins() (*os.Root, error) {
	root, err := os.OpenRoot(h.Pin)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bpffs: %w", err)
	}
	if err := h.checkFS(root); err != nil {
		root.Close()
		return nil, err
	}
	return root, nil
}

// checkFS checks that the directory root holds, not a path that may
// have changed since, is on bpffs (or h.pinFS).
func (h *Host) checkFS(root *os.Root) error {
	d, err := root.Open(".")
	if err != nil {
		return fmt.Errorf("bpffs %s: %w", h.Pin, err)
	}
	defer d.Close()
	c, err := d.SyscallConn()
	if err != nil {
		return fmt.Errorf("bpffs %s: %w", h.Pin, err)
	}
	var st unix.Statfs_t
	cerr := c.Control(func(fd uintptr) { err = unix.Fstatfs(int(fd), &st) })
	if err = cmp.Or(cerr, err); err != nil {
		return fmt.Errorf("bpffs %s: %w", h.Pin, err)
	}
	if int64(st.Type) != h.fsType() {
		return fmt.Errorf("bpffs %s: %w (mount -t bpf bpf /sys/fs/bpf)", h.Pin, ErrNotBPFFS)
	}
	return nil
}

func (h *Host) fsType() int64 { return cmp.Or(h.pinFS, unix.BPF_FS_MAGIC) }

// hookDir checks that hook fn is pinned in root: a directory, not a
// symbolic link to one.
func hookDir(root *os.Root, fn string) error {
	if err := checkHook(fn); err != nil {
		return err
	}
	if root == nil {
		return fmt.Errorf("%w: %s", ErrNoHook, fn)
	}
	fi, err := root.Lstat(fn)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNoHook, fn)
	}
	if err != nil {
		return fmt.Errorf("bpffs: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("bpffs %s: %s is no hook directory (%s)", root.Name(), fn, fi.Mode().Type())
	}
	return nil
}

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
	// is checked against it. It names the pin directory.
	if err := checkHook(fn); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", path, hookabi.ErrInvalid, err)
	}
	if err := hookabi.ValidateSpec(spec, fn); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	root, err := h.makePins()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	if err := root.Mkdir(fn, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("bpffs: %w", err)
	}
	if err := hookDir(root, fn); err != nil {
		return nil, err
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinByName
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: h.dir(fn)}})
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
	old, err := h.links(root, fn)
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
		if err := h.link(root, prog, m, fn); err != nil {
			return changes, err
		}
		changes = append(changes, Change{Hook: fn, Module: m, Action: "attached", Why: "live copy", Took: time.Since(start)})
	}
	if err := h.pinOver(root, filepath.Join(fn, progPin), prog.Pin); err != nil {
		return changes, err
	}
	for _, m := range old {
		if !slices.Contains(live, m) {
			c, err := h.unlink(root, fn, m, "not live")
			if err != nil {
				return changes, err
			}
			changes = append(changes, c)
		}
	}
	return changes, ctx.Err()
}

// makePins opens the pin directory for Attach, made if missing: on bpffs
// only, which the nearest existing ancestor decides before anything is
// made, and the directory opened decides after.
func (h *Host) makePins() (*os.Root, error) {
	if err := h.onBPFFS(h.Pin); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(h.Pin, 0o700); err != nil {
		return nil, fmt.Errorf("bpffs: %w", err)
	}
	root, err := h.pins()
	if err == nil && root == nil {
		err = fmt.Errorf("bpffs %s: removed while it was made", h.Pin)
	}
	return root, err
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

// onBPFFS checks that dir is, or would be created, on a bpf file system
// (or h.pinFS): the nearest existing ancestor decides. Pinning elsewhere
// fails with a bare EPERM.
func (h *Host) onBPFFS(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		var st unix.Statfs_t
		err := unix.Statfs(d, &st)
		if errors.Is(err, unix.ENOENT) && d != filepath.Dir(d) {
			continue
		}
		if err != nil {
			return fmt.Errorf("bpffs %s: %w", dir, err)
		}
		if int64(st.Type) != h.fsType() {
			return fmt.Errorf("bpffs %s: %s is %w (mount -t bpf bpf /sys/fs/bpf)", dir, d, ErrNotBPFFS)
		}
		return nil
	}
}

// pinOver pins an object at name inside root with pin, over whatever is
// pinned there: beside it first, then renamed, so that name never goes
// empty (a link replaced this way leaves its function probed
// throughout). pin takes a path: cilium/ebpf pins by path; the names
// under root are checked, and root is on bpffs.
func (h *Host) pinOver(root *os.Root, name string, pin func(string) error) error {
	tmp := filepath.Join(filepath.Dir(name), newPrefix+filepath.Base(name))
	if err := root.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("bpffs: %w", err)
	}
	if err := pin(filepath.Join(h.Pin, tmp)); err != nil {
		return fmt.Errorf("bpffs: %w", err)
	}
	if err := root.Rename(tmp, name); err != nil {
		root.Remove(tmp)
		return fmt.Errorf("bpffs: %w", err)
	}
	return nil
}

// unlink removes hook fn's probe on module m's copy.
func (h *Host) unlink(root *os.Root, fn, m, why string) (Change, error) {
	start := time.Now()
	if err := root.Remove(filepath.Join(fn, linkPrefix+m)); err != nil {
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
func (h *Host) link(root *os.Root, prog *ebpf.Program, module, fn string) error {
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
	return h.pinOver(root, filepath.Join(fn, linkPrefix+module), l.Pin)
}

// kprobe opens a perf event of the kprobe PMU on sym at offset 0.
func (h *Host) kprobe(sym string) (int, error) {
	b, err := safeio.ReadFile(h.KprobePMU, attrLimit)
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
	root, err := h.pins()
	if root == nil || err != nil {
		return nil, err
	}
	defer root.Close()
	return h.hooks(root)
}

// hooks lists the hook directories in root. klpack makes them all, so a
// name that is no C identifier is an error, not a hook to remove.
func (h *Host) hooks(root *os.Root) ([]string, error) {
	ents, err := readDir(root, ".")
	if err != nil {
		return nil, fmt.Errorf("bpffs %s: %w", h.Pin, err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if err := checkHook(e.Name()); err != nil {
			return nil, fmt.Errorf("bpffs %s: %w", h.Pin, err)
		}
		out = append(out, e.Name())
	}
	return out, nil
}

// links lists the modules hook fn has a pinned link to.
func (h *Host) links(root *os.Root, fn string) ([]string, error) {
	if err := hookDir(root, fn); err != nil {
		return nil, err
	}
	ents, err := readDir(root, fn)
	if err != nil {
		return nil, fmt.Errorf("bpffs %s: %w", h.dir(fn), err)
	}
	var out []string
	for _, e := range ents {
		if m, ok := strings.CutPrefix(e.Name(), linkPrefix); ok {
			if err := klp.CheckModuleName(m); err != nil {
				return nil, fmt.Errorf("bpffs %s: %w: link: %w", h.dir(fn), ErrBadName, err)
			}
			out = append(out, m)
		}
	}
	return out, nil
}

func readDir(root *os.Root, name string) ([]fs.DirEntry, error) {
	d, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	ents, err := d.ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}

// Detach removes hook fn: its links, program and maps. It removes only
// a hook directory on bpffs, resolved inside the pin directory.
func (h *Host) Detach(fn string) error {
	if err := checkHook(fn); err != nil {
		return err
	}
	root, err := h.pins()
	if err != nil {
		return err
	}
	if root != nil {
		defer root.Close()
	}
	if _, err := h.links(root, fn); err != nil {
		return err
	}
	if err := root.RemoveAll(fn); err != nil {
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

// openMap opens map name of hook fn, pinned on bpffs.
func (h *Host) openMap(fn, name string) (*ebpf.Map, error) {
	root, err := h.pins()
	if err != nil {
		return nil, err
	}
	if root != nil {
		defer root.Close()
	}
	if err := hookDir(root, fn); err != nil {
		return nil, err
	}
	m, err := ebpf.LoadPinnedMap(filepath.Join(h.dir(fn), name), nil)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoHook, fn)
	}
	if err != nil {
		return nil, fmt.Errorf("hook %s: bpffs: %w", fn, err)
	}
	return m, nil
}
