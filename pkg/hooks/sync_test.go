package hooks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/sys/unix"
)

const hookFn = "e2e_hook_value"

// pinHook makes hook fn's pin directory with links to the modules given.
// Sync reads bpffs as a plain directory; only the kernel's side of a
// probe (fakeProbe) needs a real one.
func pinHook(t *testing.T, h *Host, fn string, linked ...string) {
	t.Helper()
	if err := os.MkdirAll(h.dir(fn), 0o700); err != nil {
		t.Fatal(err)
	}
	names := []string{progPin}
	for _, m := range linked {
		names = append(names, linkPrefix+m)
	}
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(h.dir(fn), name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// linksOf is h.links of hook fn, through the pin directory.
func linksOf(h *Host, fn string) ([]string, error) {
	root, err := h.pins()
	if err != nil {
		return nil, err
	}
	if root != nil {
		defer root.Close()
	}
	return h.links(root, fn)
}

// fakeProbe stands in for the kernel: it pins a link for a module whose
// copy of fn kallsyms lists, fails as perf_event_open does (ENOENT) for a
// module that does not define fn, and refuses the modules in refused.
func fakeProbe(h *Host, refused ...string) func(fn, module string) error {
	return func(fn, m string) error {
		if slices.Contains(refused, m) {
			return fmt.Errorf("%w: linking the hook program to %s:%s: %w", ErrRefused, m, fn, unix.EINVAL)
		}
		defs, err := Definers(strings.NewReader(kallsyms), fn)
		if err != nil {
			return err
		}
		if !slices.Contains(defs, m) {
			return fmt.Errorf("%w: kprobe on %s:%s: %w", ErrRefused, m, fn, unix.ENOENT)
		}
		return os.WriteFile(filepath.Join(h.dir(fn), linkPrefix+m), nil, 0o600)
	}
}

// actions shows changes without their timings.
func actions(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%s %s:%s (%s)", c.Action, c.Module, c.Hook, c.Why))
	}
	return out
}

func TestSync(t *testing.T) {
	withoutHook1 := strings.Replace(modules, "e2e_hook1 16384 0 - Live 0xffffffffc0002000\n", "", 1)
	tests := []struct {
		name    string
		patches []string
		modules string // /proc/modules, when not modules
		linked  []string
		want    []string
		after   []string
	}{
		{"in sync", []string{"e2e_hook1=1,0"}, "", []string{"e2e_hook1"}, nil, []string{"e2e_hook1"}},
		{"replace under way: both copies probed", []string{"e2e_hook1=1,1", "e2e_hookcum=1,1", "e2e_off=1,0"}, "", []string{"e2e_hook1"},
			[]string{"attached e2e_hookcum:e2e_hook_value (live copy without a probe)"}, []string{"e2e_hook1", "e2e_hookcum"}},
		{"replaced", []string{"e2e_hookcum=1,0"}, "", []string{"e2e_hook1"},
			[]string{"attached e2e_hookcum:e2e_hook_value (live copy without a probe)", "detached e2e_hook1:e2e_hook_value (patch replaced or removed)"},
			[]string{"e2e_hookcum"}},
		{"disabled", []string{"e2e_hook1=0,0"}, "", []string{"e2e_hook1"},
			[]string{"detached e2e_hook1:e2e_hook_value (patch disabled)"}, nil},
		{"unloaded", nil, withoutHook1, []string{"e2e_hook1"},
			[]string{"detached e2e_hook1:e2e_hook_value (module unloaded)"}, nil},
		{"a probe on vmlinux stays", []string{"e2e_off=1,0"}, "", []string{Vmlinux}, nil, []string{Vmlinux}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fakeHost(t, tt.patches...)
			if tt.modules != "" {
				if err := os.WriteFile(h.Modules, []byte(tt.modules), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			h.probe = fakeProbe(h)
			pinHook(t, h, hookFn, tt.linked...)
			r, err := h.Sync(t.Context(), nil)
			if err != nil {
				t.Fatalf("Sync = %v", err)
			}
			if got := actions(r.Changes); !slices.Equal(got, tt.want) {
				t.Errorf("Sync changed %q, want %q", got, tt.want)
			}
			if r.Done != 0 || r.Settled != 0 {
				t.Errorf("Sync without Wait: done %v, settled %v; want 0", r.Done, r.Settled)
			}
			if got, err := linksOf(h, hookFn); err != nil || !slices.Equal(got, tt.after) {
				t.Errorf("links after Sync = %q, %v; want %q", got, err, tt.after)
			}
		})
	}
}

// pollFS is a livepatch sysfs that calls at with the count of transition
// files read so far before each such read, in the reading goroutine: a
// test ends the transitions, or cancels, at a chosen poll.
type pollFS struct {
	m     fstest.MapFS
	reads int
	at    func(reads int)
}

func (f *pollFS) Open(name string) (fs.File, error) {
	if path.Base(name) == "transition" {
		f.reads++
		f.at(f.reads)
	}
	return f.m.Open(name)
}

// TestSyncWait replays an atomic replace of e2e_hook1 by e2e_hookcum under
// Sync with Wait: the new copy is probed before the transition ends, the
// old probe stays until it has ended, and goes then.
func TestSyncWait(t *testing.T) {
	h := fakeHost(t, "e2e_hook1=1,1", "e2e_hookcum=1,1", "e2e_off=1,0")
	h.probe = fakeProbe(h)
	pinHook(t, h, hookFn, "e2e_hook1")
	lp := h.Livepatch.(fstest.MapFS)
	var atEnd []string
	h.Livepatch = &pollFS{m: lp, at: func(n int) {
		if n != 3 {
			return
		}
		// The transition ends: the replaced patch leaves sysfs.
		var err error
		if atEnd, err = linksOf(h, hookFn); err != nil {
			t.Error(err)
		}
		delete(lp, "e2e_hook1/enabled")
		delete(lp, "e2e_hook1/transition")
		lp["e2e_hookcum/transition"] = &fstest.MapFile{Data: []byte("0\n")}
	}}
	// A wait that never sees the end fails the test instead of hanging it.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	r, err := h.Sync(ctx, &SyncOptions{Wait: true, Interval: time.Microsecond})
	if err != nil {
		t.Fatalf("Sync = %v", err)
	}
	want := []string{
		"attached e2e_hookcum:e2e_hook_value (live copy without a probe)",
		"detached e2e_hook1:e2e_hook_value (patch replaced or removed)",
	}
	if got := actions(r.Changes); !slices.Equal(got, want) {
		t.Errorf("Sync changed %q, want %q", got, want)
	}
	if want := []string{"e2e_hook1", "e2e_hookcum"}; !slices.Equal(atEnd, want) {
		t.Errorf("probes when the transition ended: %q, want %q (both copies may run until then)", atEnd, want)
	}
	if got, err := linksOf(h, hookFn); err != nil || !slices.Equal(got, []string{"e2e_hookcum"}) {
		t.Errorf("links after Sync = %q, %v; want only e2e_hookcum", got, err)
	}
	if r.Done <= 0 || r.Settled <= 0 || r.Done+r.Settled > r.Took {
		t.Errorf("Sync: done %v, settled %v, took %v; want both > 0, summing to at most took", r.Done, r.Settled, r.Took)
	}
}

// TestSyncWaitCancelled: a transition that does not end keeps the old
// probe; a cancelled wait returns what was done and the context's error.
func TestSyncWaitCancelled(t *testing.T) {
	h := fakeHost(t, "e2e_hook1=1,1", "e2e_hookcum=1,1")
	h.probe = fakeProbe(h)
	pinHook(t, h, hookFn, "e2e_hook1")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	h.Livepatch = &pollFS{m: h.Livepatch.(fstest.MapFS), at: func(n int) {
		if n == 2 {
			cancel()
		}
	}}
	r, err := h.Sync(ctx, &SyncOptions{Wait: true, Interval: time.Microsecond})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Sync = %v, want context.Canceled", err)
	}
	if got, want := actions(r.Changes), []string{"attached e2e_hookcum:e2e_hook_value (live copy without a probe)"}; !slices.Equal(got, want) {
		t.Errorf("Sync changed %q, want %q", got, want)
	}
	if got, err := linksOf(h, hookFn); err != nil || !slices.Equal(got, []string{"e2e_hook1", "e2e_hookcum"}) {
		t.Errorf("links after a cancelled Sync = %q, %v; want both", got, err)
	}
	if r.Done != 0 || r.Settled != 0 {
		t.Errorf("a cancelled Sync: done %v, settled %v; want 0: the transitions were not seen done", r.Done, r.Settled)
	}
}

// TestSyncWaitRefused: a failure in the pass after the wait is Sync's
// error, with the changes of both passes.
func TestSyncWaitRefused(t *testing.T) {
	h := fakeHost(t, "e2e_hook1=1,1", "e2e_hookcum=1,1")
	h.probe = fakeProbe(h, "e2e_hookcum2")
	pinHook(t, h, hookFn, "e2e_hook1")
	lp := h.Livepatch.(fstest.MapFS)
	h.Livepatch = &pollFS{m: lp, at: func(n int) {
		if n != 1 {
			return
		}
		// The transition ends, and a patch the kernel refuses to probe
		// is enabled before the second pass.
		lp["e2e_hook1/enabled"] = &fstest.MapFile{Data: []byte("0\n")}
		lp["e2e_hook1/transition"] = &fstest.MapFile{Data: []byte("0\n")}
		lp["e2e_hookcum/transition"] = &fstest.MapFile{Data: []byte("0\n")}
		lp["e2e_hookcum2/enabled"] = &fstest.MapFile{Data: []byte("1\n")}
	}}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	r, err := h.Sync(ctx, &SyncOptions{Wait: true, Interval: time.Microsecond})
	if !errors.Is(err, ErrRefused) || !strings.HasPrefix(err.Error(), "hook e2e_hook_value: ") {
		t.Errorf("Sync = %v, want ErrRefused naming the hook", err)
	}
	if got, want := actions(r.Changes), []string{"attached e2e_hookcum:e2e_hook_value (live copy without a probe)"}; !slices.Equal(got, want) {
		t.Errorf("Sync changed %q, want %q", got, want)
	}
	if r.Done <= 0 {
		t.Errorf("Sync: done %v, want > 0: the transitions were seen done", r.Done)
	}
}
