package hooks

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/testutil"
)

// tree lists every path under dir, for checking that nothing changed.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		out = append(out, strings.TrimPrefix(p, dir))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ordinaryPins makes an ordinary directory laid out like a pin directory,
// with a directory beside it that nothing may touch.
func ordinaryPins(t *testing.T) (h *Host, top string) {
	t.Helper()
	h = fakeHost(t, "e2e_hook1=0,0")
	for _, p := range []string{"bpf/e2e_hook_value/link@e2e_hook1", "bpf/e2e_hook_value/prog", "bpf/other/link@x", "victim/keep"} {
		p = filepath.Join(filepath.Dir(h.Pin), p)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return h, filepath.Dir(h.Pin)
}

// TestNotBPFFS: every operation that removes, pins or writes under the
// pin directory refuses one that is not on bpffs, and leaves it as it
// was (detach, detach --all, sync's unlink of a stale link@ file).
func TestNotBPFFS(t *testing.T) {
	tests := []struct {
		name string
		op   func(h *Host) error
	}{
		{"detach", func(h *Host) error { return h.Detach("e2e_hook_value") }},
		{"hooks (detach --all)", func(h *Host) error { _, err := h.Hooks(); return err }},
		{"sync", func(h *Host) error { _, err := h.Sync(t.Context(), nil); return err }},
		{"sync --wait", func(h *Host) error { _, err := h.Sync(t.Context(), &SyncOptions{Wait: true}); return err }},
		{"status", func(h *Host) error { _, err := h.Status(); return err }},
		{"set", func(h *Host) error { return h.Set("e2e_hook_value", 1, -1) }},
		{"unset", func(h *Host) error { return h.Unset("e2e_hook_value", 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, top := ordinaryPins(t)
			h.pinFS = 0 // bpffs, as on a host
			h.probe = fakeProbe(h)
			before := tree(t, top)
			err := tt.op(h)
			if !errors.Is(err, ErrNotBPFFS) || !strings.Contains(err.Error(), h.Pin) {
				t.Errorf("%s on an ordinary directory = %v, want ErrNotBPFFS naming %s", tt.name, err, h.Pin)
			}
			if after := tree(t, top); !slices.Equal(after, before) {
				t.Errorf("%s changed an ordinary directory: %q, was %q", tt.name, after, before)
			}
		})
	}
}

// TestBadNames: a hook or module name that cannot be one, from the
// command line, bpffs or sysfs, is refused before it names a path, and
// nothing outside the pin directory is touched.
func TestBadNames(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, h *Host, top string)
		op    func(h *Host) error
		want  error
	}{
		{"detach ../victim", nil, func(h *Host) error { return h.Detach("../victim") }, ErrBadName},
		{"detach absolute", nil, func(h *Host) error { return h.Detach(filepath.Join(filepath.Dir(h.Pin), "victim")) }, ErrBadName},
		{"detach a/b", nil, func(h *Host) error { return h.Detach("e2e_hook_value/prog") }, ErrBadName},
		{"detach .", nil, func(h *Host) error { return h.Detach(".") }, ErrBadName},
		{"detach empty", nil, func(h *Host) error { return h.Detach("") }, ErrBadName},
		{"set ../victim", nil, func(h *Host) error { return h.Set("../victim", 1, -1) }, ErrBadName},
		{"detach a symlink to a directory outside", func(t *testing.T, h *Host, top string) {
			if err := os.Symlink("../victim", filepath.Join(h.Pin, "evil")); err != nil {
				t.Fatal(err)
			}
		}, func(h *Host) error { return h.Detach("evil") }, nil},
		{"detach a symlink to another hook", func(t *testing.T, h *Host, top string) {
			if err := os.Symlink("other", filepath.Join(h.Pin, "alias")); err != nil {
				t.Fatal(err)
			}
		}, func(h *Host) error { return h.Detach("alias") }, nil},
		{"hook directory with an escape", func(t *testing.T, h *Host, top string) {
			if err := os.Mkdir(filepath.Join(h.Pin, "f\x1b[31m"), 0o700); err != nil {
				t.Fatal(err)
			}
		}, func(h *Host) error { _, err := h.Hooks(); return err }, ErrBadName},
		{"sync: link of a bad module", func(t *testing.T, h *Host, top string) {
			if err := os.WriteFile(filepath.Join(h.Pin, "e2e_hook_value", "link@a.b"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, func(h *Host) error { _, err := h.Sync(t.Context(), nil); return err }, ErrBadName},
		{"sync: livepatch named with a newline", func(t *testing.T, h *Host, top string) {
			h.Livepatch.(fstest.MapFS)["lp\nforged/enabled"] = &fstest.MapFile{Data: []byte("1\n")}
		}, func(h *Host) error { _, err := h.Sync(t.Context(), nil); return err }, ErrBadName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, top := ordinaryPins(t)
			h.probe = fakeProbe(h)
			if tt.setup != nil {
				tt.setup(t, h, top)
			}
			before := tree(t, top)
			err := tt.op(h)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("%s = %v, want %v", tt.name, err, tt.want)
			}
			if err != nil && strings.ContainsAny(err.Error(), "\n\x1b") {
				t.Errorf("%s: error %q holds a raw control character", tt.name, err)
			}
			if after := tree(t, top); !slices.Equal(after, before) {
				t.Errorf("%s changed the tree: %q, was %q", tt.name, after, before)
			}
		})
	}
}

// TestDetach: with the pin directory's file system accepted, Detach
// removes the hook's directory and nothing else.
func TestDetach(t *testing.T) {
	h, top := ordinaryPins(t)
	if err := h.Detach("e2e_hook_value"); err != nil {
		t.Fatalf("Detach = %v", err)
	}
	want := []string{"", "/bpf", "/bpf/other", "/bpf/other/link@x", "/kallsyms", "/modules", "/victim", "/victim/keep"}
	if got := tree(t, top); !slices.Equal(got, want) {
		t.Errorf("after Detach: %q, want %q", got, want)
	}
	if err := h.Detach("e2e_hook_value"); !errors.Is(err, ErrNoHook) {
		t.Errorf("Detach of a detached hook = %v, want ErrNoHook", err)
	}
}

// TestDetachOnBPFFS runs Detach on a real bpffs, mounted on a temporary
// directory for the test (root only; skipped otherwise): the hook's pins
// go, its neighbours and a directory beside the mount stay.
func TestDetachOnBPFFS(t *testing.T) {
	top := t.TempDir()
	pin := filepath.Join(top, "bpf")
	if err := os.Mkdir(pin, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("bpf", pin, "bpf", 0, "mode=0700"); err != nil {
		testutil.Missing(t, fmt.Sprintf("mounting bpffs: %v (needs root)", err))
	}
	t.Cleanup(func() {
		if err := unix.Unmount(pin, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", pin, err)
		}
	})
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		testutil.Missing(t, fmt.Sprintf("creating a BPF map: %v", err))
	}
	defer m.Close()
	for _, p := range []string{"e2e_hook_value/prog", "e2e_hook_value/link@e2e_hook1", "other/prog"} {
		p = filepath.Join(pin, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := m.Pin(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(top, "victim"), 0o700); err != nil {
		t.Fatal(err)
	}
	h := &Host{Pin: pin}
	if err := h.Detach("../victim"); !errors.Is(err, ErrBadName) {
		t.Errorf("Detach(../victim) = %v, want ErrBadName", err)
	}
	if got, err := h.Hooks(); err != nil || !slices.Equal(got, []string{"e2e_hook_value", "other"}) {
		t.Errorf("Hooks = %q, %v; want e2e_hook_value, other", got, err)
	}
	if err := h.Detach("e2e_hook_value"); err != nil {
		t.Fatalf("Detach = %v", err)
	}
	if got, err := h.Hooks(); err != nil || !slices.Equal(got, []string{"other"}) {
		t.Errorf("Hooks after Detach = %q, %v; want other", got, err)
	}
	if _, err := os.Stat(filepath.Join(top, "victim")); err != nil {
		t.Errorf("the directory beside the pins: %v", err)
	}
}

// mkfifo makes a FIFO at path: opening it to read waits for a writer.
func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestHostFilesNotRegular: a FIFO where the runtime expects a host file
// (kallsyms, /proc/modules, a livepatch attribute, the kprobe PMU type)
// fails at once, naming the file; none blocks.
func TestHostFilesNotRegular(t *testing.T) {
	tests := []struct {
		name string
		fifo func(h *Host, dir string) string
		op   func(h *Host) error
	}{
		{"kallsyms", func(h *Host, dir string) string { return h.Kallsyms }, func(h *Host) error { _, err := h.Live(hookFn); return err }},
		{"modules", func(h *Host, dir string) string { return h.Modules }, func(h *Host) error { _, err := h.Live(hookFn); return err }},
		{"livepatch enabled", func(h *Host, dir string) string {
			h.Livepatch = sysDir(filepath.Join(dir, "livepatch"))
			return filepath.Join(dir, "livepatch", "e2e_hook1", "enabled")
		}, func(h *Host) error { _, err := h.Live(hookFn); return err }},
		{"livepatch transition", func(h *Host, dir string) string {
			h.Livepatch = sysDir(filepath.Join(dir, "livepatch"))
			return filepath.Join(dir, "livepatch", "e2e_hook1", "transition")
		}, func(h *Host) error { _, err := h.inTransition(); return err }},
		{"kprobe PMU type", func(h *Host, dir string) string {
			h.KprobePMU = filepath.Join(dir, "type")
			return h.KprobePMU
		}, func(h *Host) error { _, err := h.kprobe("e2e_hook1:" + hookFn); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fakeHost(t)
			dir := t.TempDir()
			p := tt.fifo(h, dir)
			os.Remove(p)
			mkfifo(t, p)
			done := make(chan error, 1)
			go func() { done <- tt.op(h) }()
			select {
			case err := <-done:
				nr, ok := errors.AsType[*safeio.NotRegularError](err)
				if !ok || !strings.HasSuffix(p, nr.Path) || !strings.Contains(err.Error(), "a FIFO") {
					t.Errorf("%s a FIFO: %v, want a NotRegularError naming %s", tt.name, err, p)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s a FIFO: still waiting after 10s", tt.name)
			}
		})
	}
}

// TestSysDir: the livepatch sysfs is read inside its directory, and an
// attribute is bounded.
func TestSysDir(t *testing.T) {
	dir := t.TempDir()
	lp := filepath.Join(dir, "livepatch")
	for p, data := range map[string]string{"lp/enabled": "1\n", "big/enabled": strings.Repeat("1", attrLimit+1), "../secret/enabled": "1\n"} {
		p = filepath.Join(lp, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../secret", filepath.Join(lp, "out")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want string // "" for an error
		err  error
	}{
		{"lp/enabled", "1\n", nil},
		{"big/enabled", "", safeio.ErrTooLarge},
		{"out/enabled", "", nil}, // a link out of the directory
		{"../secret/enabled", "", fs.ErrInvalid},
	}
	for _, tt := range tests {
		b, err := readAttr(sysDir(lp), tt.name)
		if tt.want != "" {
			if err != nil || string(b) != tt.want {
				t.Errorf("readAttr(%s) = %q, %v; want %q", tt.name, b, err, tt.want)
			}
			continue
		}
		if err == nil || tt.err != nil && !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.name) {
			t.Errorf("readAttr(%s) = %q, %v; want an error naming it (%v)", tt.name, b, err, tt.err)
		}
	}
}

// TestBoundedReader: reading past the limit is an error, not a short
// read; exactly the limit is fine.
func TestBoundedReader(t *testing.T) {
	tests := []struct {
		size, limit int64
		err         bool
	}{
		{0, 0, false},
		{10, 10, false},
		{11, 10, true},
		{1 << 20, 4096, true},
	}
	for _, tt := range tests {
		b, err := io.ReadAll(&boundedReader{r: strings.NewReader(strings.Repeat("x", int(tt.size))), limit: tt.limit})
		if tt.err != errors.Is(err, safeio.ErrTooLarge) || !tt.err && int64(len(b)) != tt.size {
			t.Errorf("%d bytes, limit %d: %d bytes, %v; want error %v", tt.size, tt.limit, len(b), err, tt.err)
		}
		if int64(len(b)) > tt.limit {
			t.Errorf("%d bytes, limit %d: read %d", tt.size, tt.limit, len(b))
		}
	}
}

// TestReadWith: host files are read up to their limit, and past it
// refused, naming the file.
func TestReadWith(t *testing.T) {
	p := filepath.Join(t.TempDir(), "modules")
	if err := os.WriteFile(p, []byte("a 1 0\nb 1 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := readWith(p, 12, LoadOrder); err != nil || !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("readWith(12 bytes, limit 12) = %q, %v; want a, b", got, err)
	}
	if got, err := readWith(p, 11, LoadOrder); !errors.Is(err, safeio.ErrTooLarge) || !strings.HasPrefix(err.Error(), p+": ") {
		t.Errorf("readWith(12 bytes, limit 11) = %q, %v; want ErrTooLarge naming %s", got, err, p)
	}
}

// TestSyncInterval: a negative poll interval is refused, not a panic in
// time.NewTicker.
func TestSyncInterval(t *testing.T) {
	h := fakeHost(t, "e2e_hook1=1,1")
	_, err := h.Sync(t.Context(), &SyncOptions{Wait: true, Interval: -time.Second})
	if err == nil || !strings.Contains(err.Error(), "negative poll interval") {
		t.Errorf("Sync with interval -1s = %v, want refused", err)
	}
}
