package hooks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// SyncOptions tune Sync.
type SyncOptions struct {
	// Wait makes Sync span the livepatch transitions under way (see Sync).
	Wait bool
	// Interval is how often Wait polls the livepatch sysfs; 0 means a
	// millisecond.
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
	fns, err := h.Hooks()
	if err != nil {
		return err
	}
	for _, fn := range fns {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := h.sync(fn)
		r.Changes = append(r.Changes, c...)
		if err != nil {
			return fmt.Errorf("hook %s: %w", fn, err)
		}
	}
	return nil
}

func (h *Host) sync(fn string) ([]Change, error) {
	have, err := h.links(fn)
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
		probe, release = h.pinnedProbe()
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
		c, err := h.unlink(fn, m, h.whyNotLive(m))
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
func (h *Host) pinnedProbe() (func(fn, module string) error, func()) {
	var prog *ebpf.Program
	probe := func(fn, module string) error {
		if prog == nil {
			p, err := ebpf.LoadPinnedProgram(filepath.Join(h.dir(fn), progPin), nil)
			if err != nil {
				return fmt.Errorf("bpffs: %w", err)
			}
			prog = p
		}
		return h.link(prog, module, fn)
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
	ents, err := fs.ReadDir(h.Livepatch, ".")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("livepatch sysfs: %w", err)
	}
	var out []string
	for _, e := range ents {
		on, err := h.enabled(e.Name())
		if err != nil {
			return nil, err
		}
		if on {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func (h *Host) whyNotLive(m string) string {
	order, err := readWith(h.Modules, LoadOrder)
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
	ents, err := fs.ReadDir(h.Livepatch, ".")
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("livepatch sysfs: %w", err)
	}
	for _, e := range ents {
		b, err := fs.ReadFile(h.Livepatch, e.Name()+"/transition")
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
