package hooks

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/sys/unix"
)

const kallsyms = `ffffffff81000000 T _stext
ffffffff81234560 t meminfo_proc_show
ffffffff81234600 T e2e_shared
ffffffffc0002000 t e2e_hook_value	[e2e_hook1]
ffffffffc0002010 d e2e_hook_value_data	[e2e_hook1]
ffffffffc0004000 t e2e_hook_value	[e2e_hookcum]
ffffffffc0006000 t meminfo_proc_show	[klpb_cum]
ffffffffc0008000 T e2e_shared	[e2e_off]
ffffffffc000a000 d e2e_hook_value	[e2e_data_only]
`

// modules is /proc/modules, newest first.
const modules = `e2e_hookcum 16384 1 - Live 0xffffffffc0004000
klpb_cum 16384 1 - Live 0xffffffffc0006000
e2e_off 16384 1 - Live 0xffffffffc0008000
e2e_hook1 16384 0 - Live 0xffffffffc0002000
`

func TestDefiners(t *testing.T) {
	tests := []struct {
		fn   string
		want []string
	}{
		{"e2e_hook_value", []string{"e2e_hook1", "e2e_hookcum"}}, // data symbols are no copies
		{"meminfo_proc_show", []string{Vmlinux, "klpb_cum"}},
		{"_stext", []string{Vmlinux}},
		{"nosuch", nil},
	}
	for _, tt := range tests {
		got, err := Definers(strings.NewReader(kallsyms), tt.fn)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("Definers(%s) = %q, %v; want %q", tt.fn, got, err, tt.want)
		}
	}
	if _, err := Definers(strings.NewReader("ffffffffc0002000 t f e2e_hook1\n"), "f"); err == nil {
		t.Error("a module name without brackets was accepted")
	}
}

func TestLoadOrder(t *testing.T) {
	got, err := LoadOrder(strings.NewReader(modules))
	want := []string{"e2e_hookcum", "klpb_cum", "e2e_off", "e2e_hook1"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("LoadOrder = %q, %v; want %q", got, err, want)
	}
	if _, err := LoadOrder(strings.NewReader("e2e_hook1 16384\n")); err == nil {
		t.Error("a short line was accepted")
	}
}

// fakeHost writes kallsyms and modules and makes a livepatch sysfs with
// the given patches ("name=enabled,transition").
func fakeHost(t *testing.T, patches ...string) *Host {
	t.Helper()
	dir := t.TempDir()
	lp := fstest.MapFS{}
	h := &Host{
		pinFS:     fsType(t, dir),
		Pin:       filepath.Join(dir, "bpf"),
		Kallsyms:  filepath.Join(dir, "kallsyms"),
		Modules:   filepath.Join(dir, "modules"),
		Livepatch: lp,
	}
	for p, s := range map[string]string{h.Kallsyms: kallsyms, h.Modules: modules} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range patches {
		name, attrs, _ := strings.Cut(p, "=")
		enabled, transition, _ := strings.Cut(attrs, ",")
		lp[name+"/enabled"] = &fstest.MapFile{Data: []byte(enabled + "\n")}
		lp[name+"/transition"] = &fstest.MapFile{Data: []byte(transition + "\n")}
	}
	return h
}

// fsType is the file system type of dir, which fakeHost's pin directory
// is on instead of bpffs.
func fsType(t *testing.T, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Type)
}

func TestLive(t *testing.T) {
	tests := []struct {
		name    string
		patches []string
		fn      string
		want    []string
		err     error
	}{
		{"one patch", []string{"e2e_hook1=1,0"}, "e2e_hook_value", []string{"e2e_hook1"}, nil},
		{"in transition both run, newest first", []string{"e2e_hook1=1,1", "e2e_hookcum=1,1"}, "e2e_hook_value", []string{"e2e_hookcum", "e2e_hook1"}, nil},
		{"replaced patch left sysfs", []string{"e2e_hookcum=1,0"}, "e2e_hook_value", []string{"e2e_hookcum"}, nil},
		{"disabled patch", []string{"e2e_hook1=0,0"}, "e2e_hook_value", nil, ErrNotLive},
		{"patch copy, not vmlinux's", []string{"klpb_cum=1,0"}, "meminfo_proc_show", []string{"klpb_cum"}, nil},
		{"vmlinux when no patch defines it", []string{"e2e_hook1=1,0"}, "meminfo_proc_show", []string{Vmlinux}, nil},
		{"unknown function", nil, "nosuch", nil, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fakeHost(t, tt.patches...)
			got, err := h.Live(tt.fn)
			if !errors.Is(err, tt.err) || !slices.Equal(got, tt.want) {
				t.Errorf("Live(%s) = %q, %v; want %q, %v", tt.fn, got, err, tt.want, tt.err)
			}
		})
	}
}

func FuzzKallsyms(f *testing.F) {
	f.Add([]byte(kallsyms), "e2e_hook_value")
	f.Add([]byte(modules), "e2e_hook1")
	f.Fuzz(func(t *testing.T, b []byte, fn string) {
		got, err := Definers(strings.NewReader(string(b)), fn)
		if err == nil && len(got) > strings.Count(string(b), "\n")+1 {
			t.Fatalf("%d definers from %d lines", len(got), strings.Count(string(b), "\n")+1)
		}
		LoadOrder(strings.NewReader(string(b)))
	})
}

func TestStatusOK(t *testing.T) {
	tests := []struct {
		name string
		s    Status
		want bool
	}{
		{"probed where it runs", Status{Linked: []string{"lp"}, Live: []string{"lp"}}, true},
		{"bypassed", Status{Live: []string{"lp"}, Bypassed: []string{"lp"}}, false},
		{"stale", Status{Linked: []string{"old", "lp"}, Live: []string{"lp"}, Stale: []string{"old"}}, false},
		{"unreadable", Status{Problem: "function not live"}, false},
	}
	for _, tt := range tests {
		if got := tt.s.OK(); got != tt.want {
			t.Errorf("%s: OK() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestOnBPFFS: a pin directory elsewhere than on bpffs is refused, by its
// nearest existing ancestor, before anything is created.
func TestOnBPFFS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bpf", "klpack")
	err := (&Host{}).onBPFFS(dir)
	if err == nil || !strings.Contains(err.Error(), "is not on a bpf file system") {
		t.Errorf("onBPFFS(%s) = %v, want not on a bpf file system", dir, err)
	}
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("onBPFFS created %s: %v", filepath.Dir(dir), err)
	}
}
