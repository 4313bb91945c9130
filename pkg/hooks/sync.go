package hooks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/klpack/klpack/pkg/klp"
)

// SyncOptions tune Sync.
type SyncOptions struct {
	// Wait makes Sync span the livepatch transitions under way (see Sync).
	Wait bool
	// Interval is how often Wait polls the livepatch sysfs; 0 means a
	// millisecond, and a negative one is refused.
	Interval time.Duration
}

// SyncReport is what Sync changed and when.
type SyncReport struct {
	Changes []Change
	Took    time.Duration
	// Done is how long after the start Sync saw no patch in transition,
	// Settled how long its second pass took after that; both are zero
	// unless it waited for the transitions to end.
	Done, Settled time.Duration
}

// Sync moves every pinned hook to the copies of its function that run
// now: it links the live copies that have no link and removes the links
// of copies that no longer run (a replaced or disabled patch, an unloaded
// module). Run it right after a livepatch transition completes: until
// then an atomic replace leaves each kprobe on a function nobody calls.
//
// With opts.Wait it spans a transition instead, so that the function is
// never without a probe: it probes the new copies at once (while the
// transition lasts both copies may run), waits until no patch is in
// transition, then drops the probes on the copies that stopped running.
//
// The report holds what changed even when err is not nil.
func (h *Host) Sync(ctx context.Context, opts *SyncOptions) (*SyncReport, error) {
	if opts == nil {
		opts = &SyncOptions{}
	}
	if opts.Interval < 0 {
		return &SyncReport{}, fmt.Errorf("sync: negative poll interval %v", opts.Interval)
	}
	start := time.Now()
	r := &SyncReport{}
	err := h.syncAll(ctx, r)
	if opts.Wait && err == nil {
		var done time.Time
		if done, err = h.waitTransitions(ctx, cmp.Or(opts.Interval, time.Millisecond)); err == nil {
			err = h.syncAll(ctx, r)
			r.Done, r.Settled = done.Sub(start), time.Since(done)
		}
	}
	r.Took = time.Since(start)
	return r, err
}

// syncAll is one pass of Sync over every pinned hook.
func (h *Host) syncAll(ctx context.Context, r *SyncReport) error {
	root, err := h.pins()
	if root == nil || err != nil {
		return err
	}
	defer root.Close()
	fns, err := h.hooks(root)
	if err != nil {
		return err
	}
	for _, fn := range fns {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := h.sync(root, fn)
		r.Changes = append(r.Changes, c...)
		if err != nil {
			return fmt.Errorf("hook %s: %w", fn, err)
		}
	}
	return nil
}

func (h *Host) sync(root *os.Root, fn string) ([]Change, error) {
	have, err := h.links(root, fn)
	if err != nil {
		return nil, err
	}
	// Not h.Live: reading kallsyms costs tens of milliseconds on a
	// distribution kernel (hundreds under emulation), and this runs
	// while the hook is bypassed. The kernel answers "does module m
	// define fn" itself when asked for a probe on m:fn.
	enabled, err := h.enabledPatches()
	if err != nil {
		return nil, err
	}
	probe := h.probe
	if probe == nil {
		var release func()
		probe, release = h.pinnedProbe(root)
		defer release()
	}
	var changes []Change
	live := map[string]bool{}
	for _, m := range enabled {
		if slices.Contains(have, m) {
			live[m] = true
			continue
		}
		start := time.Now()
		err := probe(fn, m)
		if errors.Is(err, unix.ENOENT) {
			continue // m does not define fn
		}
		if err != nil {
			return changes, err
		}
		live[m] = true
		changes = append(changes, Change{Hook: fn, Module: m, Action: "attached", Why: "live copy without a probe", Took: time.Since(start)})
	}
	for _, m := range have {
		// A probe on vmlinux's copy is the user's choice: only
		// livepatch copies move.
		if live[m] || m == Vmlinux {
			continue
		}
		c, err := h.unlink(root, fn, m, h.whyNotLive(m))
		if err != nil {
			return changes, err
		}
		changes = append(changes, c)
	}
	return changes, nil
}

// pinnedProbe returns the kernel's probe for one hook: it links the hook's
// pinned program, loaded once on first use (sync probes copy after copy
// while the hook is bypassed), and a func that releases the program.
func (h *Host) pinnedProbe(root *os.Root) (func(fn, module string) error, func()) {
	var prog *ebpf.Program
	probe := func(fn, module string) error {
		if prog == nil {
			p, err := ebpf.LoadPinnedProgram(filepath.Join(h.dir(fn), progPin), nil)
			if err != nil {
				return fmt.Errorf("bpffs: %w", err)
			}
			prog = p
		}
		return h.link(root, prog, module, fn)
	}
	release := func() {
		if prog != nil {
			prog.Close()
		}
	}
	return probe, release
}

// enabledPatches lists the enabled livepatches: their modules' names.
func (h *Host) enabledPatches() ([]string, error) {
	patches, err := h.patches()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range patches {
		on, err := h.enabled(m)
		if err != nil {
			return nil, err
		}
		if on {
			out = append(out, m)
		}
	}
	return out, nil
}

// patches lists the livepatches in sysfs. Their names become kprobe
// targets, link names and report lines: each must be a module name.
func (h *Host) patches() ([]string, error) {
	ents, err := fs.ReadDir(h.Livepatch, ".")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("livepatch sysfs: %w", err)
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		if err := klp.CheckModuleName(e.Name()); err != nil {
			return nil, fmt.Errorf("livepatch sysfs: %w: patch: %w", ErrBadName, err)
		}
		out = append(out, e.Name())
	}
	return out, nil
}

func (h *Host) whyNotLive(m string) string {
	order, err := readWith(h.Modules, modulesLimit, LoadOrder)
	if err == nil && !slices.Contains(order, m) {
		return "module unloaded"
	}
	if _, err := fs.Stat(h.Livepatch, m); errors.Is(err, fs.ErrNotExist) {
		return "patch replaced or removed"
	}
	return "patch disabled"
}

// waitTransitions polls the livepatch sysfs every interval until no patch
// is in transition, and returns when it saw that.
func (h *Host) waitTransitions(ctx context.Context, interval time.Duration) (time.Time, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		busy, err := h.inTransition()
		if err != nil {
			return time.Time{}, err
		}
		if !busy {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-t.C:
		}
	}
}

func (h *Host) inTransition() (bool, error) {
	patches, err := h.patches()
	if err != nil {
		return false, err
	}
	for _, m := range patches {
		b, err := readAttr(h.Livepatch, m+"/transition")
		if errors.Is(err, fs.ErrNotExist) {
			continue // freed since ReadDir
		}
		if err != nil {
			return false, fmt.Errorf("livepatch sysfs: %w", err)
		}
		if strings.TrimSpace(string(b)) == "1" {
			return true, nil
		}
	}
	return false, nil
}
