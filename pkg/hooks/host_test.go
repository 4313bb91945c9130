package hooks

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/sys/unix"

	"github.com/klpack/klpack/pkg/klp"
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
	bad := []struct {
		in, err string
	}{
		{"ffffffffc0002000 t f e2e_hook1\n", `line 1: invalid name: module "e2e_hook1" not in brackets`},
		{"0 t g [x]\n0 t f [lp\x1b]\n", `line 2: invalid name: module name "lp\x1b": byte 2 ('\x1b') is not a letter, digit, _ or -`},
	}
	for _, tt := range bad {
		if got, err := Definers(strings.NewReader(tt.in), "f"); err == nil || err.Error() != tt.err {
			t.Errorf("Definers(%q) = %q, %v; want %s", tt.in, got, err, tt.err)
		}
	}
}

func TestLoadOrder(t *testing.T) {
	got, err := LoadOrder(strings.NewReader(modules))
	want := []string{"e2e_hookcum", "klpb_cum", "e2e_off", "e2e_hook1"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("LoadOrder = %q, %v; want %q", got, err, want)
	}
	tests := []struct {
		in, err string
	}{
		{"e2e_hook1 16384\n", "line 1: 2 field(s), want name, size, refcount"},
		{"lp 1 0\n\nlp\x1b[31m 1 0\n", `line 3: invalid name: module name "lp\x1b[31m": byte 2 ('\x1b') is not a letter, digit, _ or -`},
		{"../lp 1 0\n", `line 1: invalid name: module name "../lp": byte 0 ('.') is not a letter, digit, _ or -`},
		{"lp " + strings.Repeat("x", lineLimit) + "\n", "a line of more than 65536 bytes: data exceeds limit"},
	}
	for _, tt := range tests {
		if got, err := LoadOrder(strings.NewReader(tt.in)); err == nil || err.Error() != tt.err {
			t.Errorf("LoadOrder(%.40q) = %q, %v; want %s", tt.in, got, err, tt.err)
		}
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

// FuzzKallsyms checks Definers against a line-by-line reading of the
// input: an accepted input gives the modules of the lines that define fn
// as text, in order, once each, every one a valid module name found in
// brackets in the input (or vmlinux, from a line without a module); a
// refused one names the first line with a bad module.
func FuzzKallsyms(f *testing.F) {
	f.Add([]byte(kallsyms), "e2e_hook_value")
	f.Add([]byte(kallsyms), "meminfo_proc_show")
	f.Add([]byte(modules), "e2e_hook1")
	f.Add([]byte("ffffffffc0002000 t f [a.b]\n"), "f")
	f.Add([]byte("ffffffffc0002000 t f\t[lp]\r\nffffffffc0002000 T f [lp]\n0 t f\n"), "f")
	f.Fuzz(func(t *testing.T, b []byte, fn string) {
		got, err := Definers(bytes.NewReader(b), fn)
		if len(b) >= lineLimit {
			return // the model does not know the scanner's line limit
		}
		var want []string
		var bad int // the first line with a bad module
		for i, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 3 || f[2] != fn || f[1] != "t" && f[1] != "T" {
				continue
			}
			m := Vmlinux
			if len(f) >= 4 {
				var ok bool
				if m, ok = strings.CutPrefix(f[3], "["); ok {
					m, ok = strings.CutSuffix(m, "]")
				}
				if !ok || klp.CheckModuleName(m) != nil {
					bad = i + 1
					break
				}
			}
			if !slices.Contains(want, m) {
				want = append(want, m)
			}
		}
		if bad > 0 {
			if err == nil || !errors.Is(err, ErrBadName) || !strings.HasPrefix(err.Error(), fmt.Sprintf("line %d: ", bad)) {
				t.Fatalf("Definers(%q) = %q, %v; want ErrBadName at line %d", fn, got, err, bad)
			}
			return
		}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Definers(%q) = %q, %v; want %q", fn, got, err, want)
		}
		for _, m := range got {
			if klp.CheckModuleName(m) != nil || m != Vmlinux && !bytes.Contains(b, []byte("["+m+"]")) {
				t.Fatalf("Definers(%q): %q is no module of the input", fn, m)
			}
		}
	})
}

// FuzzLoadOrder checks LoadOrder against a line-by-line reading of the
// input: an accepted input gives the first field of every non-blank line,
// in order, each a valid module name; a refused one names the first line
// that is short or whose name is no module name.
func FuzzLoadOrder(f *testing.F) {
	f.Add([]byte(modules))
	f.Add([]byte(kallsyms))
	f.Add([]byte("lp 1\n"))
	f.Add([]byte("\n  \nlp\x1b[31m 16384 0 - Live 0x0\n"))
	f.Add([]byte("a 1 2\r\n\tb 1 2\n../x 1 2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := LoadOrder(bytes.NewReader(b))
		if len(b) >= lineLimit {
			return // the model does not know the scanner's line limit
		}
		var want []string
		var bad int // the first refused line
		for i, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			if len(f) < 3 || klp.CheckModuleName(f[0]) != nil {
				bad = i + 1
				break
			}
			want = append(want, f[0])
		}
		if bad > 0 {
			if err == nil || !strings.HasPrefix(err.Error(), fmt.Sprintf("line %d: ", bad)) {
				t.Fatalf("LoadOrder = %q, %v; want an error at line %d", got, err, bad)
			}
			return
		}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("LoadOrder = %q, %v; want %q", got, err, want)
		}
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
