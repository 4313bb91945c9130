package elfscan

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/pkg/klp"
)

// expectDecl is what expected.json says a module declares beside its
// klp_patch.
type expectDecl struct {
	Patches []struct {
		Replaceable       *bool      `json:"replaceable"`
		ReplaceableSource string     `json:"replaceable_source"`
		ReplaceSet        *uint32    `json:"replace_set"`
		ReplaceSetSource  string     `json:"replace_set_source"`
		Hooks             []klp.Hook `json:"hooks"`
	} `json:"patches"`
}

// TestDeclarations checks hooks and the modinfo declarations of every
// testdata module, for every kernel (arm64 included), in every variant,
// against expected.json.
func TestDeclarations(t *testing.T) {
	for name, want := range loadExpected[expectDecl](t) {
		for _, kernel := range allKernels() {
			for _, v := range variants {
				path := filepath.Join(koDir, kernel, name+v)
				t.Run(kernel+"/"+name+v, func(t *testing.T) {
					m, err := Open(path, nil)
					if err != nil {
						t.Fatalf("Open(%q) = %v", path, err)
					}
					if len(m.Patches) != len(want.Patches) {
						t.Fatalf("%d patches, want %d", len(m.Patches), len(want.Patches))
					}
					for i, p := range m.Patches {
						w := want.Patches[i]
						if w.Hooks == nil {
							w.Hooks = []klp.Hook{}
						}
						if diff := cmp.Diff(w.Hooks, p.Hooks); diff != "" {
							t.Errorf("hooks differ (-want +got):\n%s", diff)
						}
						if !cmp.Equal(p.Replaceable, w.Replaceable) || p.ReplaceableSource != w.ReplaceableSource {
							t.Errorf("replaceable = %v (%q), want %v (%q)", deref(p.Replaceable), p.ReplaceableSource, deref(w.Replaceable), w.ReplaceableSource)
						}
						if !cmp.Equal(p.ReplaceSet, w.ReplaceSet) || p.ReplaceSetSource != w.ReplaceSetSource {
							t.Errorf("replace_set = %v (%q), want %v (%q)", deref(p.ReplaceSet), p.ReplaceSetSource, deref(w.ReplaceSet), w.ReplaceSetSource)
						}
					}
				})
			}
		}
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// hookModule returns the bytes of lp_hook.ko built for kernel, with every
// occurrence of each old string replaced by a new one of the same length.
func hookModule(t *testing.T, kernel string, repl ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(koDir, kernel, "lp_hook.ko"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(repl); i += 2 {
		if len(repl[i]) != len(repl[i+1]) || !bytes.Contains(b, []byte(repl[i])) {
			t.Fatalf("cannot replace %q by %q", repl[i], repl[i+1])
		}
		b = bytes.ReplaceAll(b, []byte(repl[i]), []byte(repl[i+1]))
	}
	return b
}

func TestHooks(t *testing.T) {
	const kernel = "6.12.117+deb12-amd64"
	allowed := klp.Hook{Object: "lp_hook", Func: "lp_hook_meminfo_allowed", Source: klp.HookMarker, Errno: "ERRNO"}
	extra := klp.Hook{Object: "lp_hook", Func: "lp_hook_meminfo_extra", Source: klp.HookMarker, Errno: "ERRNO"}
	flagged := func(h klp.Hook) klp.Hook { h.NoErrorInjection = true; return h }
	manifest := func(h klp.Hook) klp.Hook { h.Source = klp.HookManifest; return h }
	tests := []struct {
		name     string
		repl     []string // byte replacements in the module file
		manifest []string
		want     []klp.Hook
	}{
		{"markers", nil, nil, []klp.Hook{allowed, extra}},
		// The kernel reads the list by section name: renamed, it is gone.
		{"no error-injection entries", []string{eiSection, "_error_injection_whitelisX"}, nil,
			[]klp.Hook{flagged(allowed), flagged(extra)}},
		{"manifest adds nothing a marker declares", nil, []string{"lp_hook_meminfo_extra"}, []klp.Hook{allowed, extra}},
		{"manifest only", []string{hookSection, ".klpack.hookz"}, []string{"lp_hook_meminfo_extra"},
			[]klp.Hook{manifest(extra)}},
		{"manifest names a function without an entry", []string{hookSection, ".klpack.hookz"}, []string{"lp_hook_meminfo_proc_show"},
			[]klp.Hook{{Object: "lp_hook", Func: "lp_hook_meminfo_proc_show", Source: klp.HookManifest, NoErrorInjection: true}}},
		{"no declarations", []string{hookSection, ".klpack.hookz"}, nil, []klp.Hook{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := scanBytes(hookModule(t, kernel, tt.repl...), &Options{Hooks: tt.manifest})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, m.Patches[0].Hooks); diff != "" {
				t.Errorf("hooks differ (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHooksManifestNoSuchFunction: a hook point the manifest declares
// must be a function of the module (a probe finds it by name).
func TestHooksManifestNoSuchFunction(t *testing.T) {
	_, err := scanBytes(hookModule(t, "6.12.117+deb12-amd64"), &Options{Hooks: []string{"lp_hook_nosuch"}})
	if err == nil || !strings.Contains(err.Error(), "manifest declares hook point lp_hook_nosuch, but lp_hook defines no such function") {
		t.Fatalf("err = %v, want the missing function named", err)
	}
}

// TestHooksBad corrupts the marker and error-injection sections.
func TestHooksBad(t *testing.T) {
	const kernel = "6.12.117+deb12-amd64"
	orig := hookModule(t, kernel)
	f, err := elf.NewFile(bytes.NewReader(orig))
	if err != nil {
		t.Fatal(err)
	}
	at := func(sec string, off uint64) int {
		s := f.Section(sec)
		if s == nil {
			t.Fatalf("no section %s", sec)
		}
		return int(s.Offset + off)
	}
	// shdr is the file offset of a section's header (Elf64_Shdr).
	shdr := func(sec string) int {
		for i, s := range f.Sections {
			if s.Name == sec {
				return int(binary.LittleEndian.Uint64(orig[40:])) + i*64
			}
		}
		t.Fatalf("no section %s", sec)
		return 0
	}
	tests := []struct {
		name    string
		corrupt func(b []byte)
		want    string
	}{
		{"bad magic", func(b []byte) { b[at(hookSection, 0)] ^= 0xff }, "section .klpack.hooks: bad magic"},
		{"bad version", func(b []byte) { b[at(hookSection, 4)] = 9 }, "marker version 9 of 32 bytes, want version 1 of 32"},
		{"bad marker etype", func(b []byte) { b[at(hookSection, 8)] = 0 }, "error type 0 unknown"},
		{"bad entry etype", func(b []byte) { b[at(eiSection, 8)] = 7 }, "section _error_injection_whitelist: error type 7 unknown"},
		{"bad size", func(b []byte) { b[shdr(hookSection)+32] = 33 }, "section .klpack.hooks: size 33 not a multiple of 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(orig)
			tt.corrupt(b)
			m, err := scanBytes(b, nil)
			if _, ok := errors.AsType[*FormatError](err); !ok || m != nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("scan = %v, %v; want a *FormatError containing %q", m, err, tt.want)
			}
		})
	}
}

func TestDeclaredTags(t *testing.T) {
	tests := []struct {
		tags        map[string][]string
		replaceable any
		set         any
		err         string
	}{
		{map[string][]string{}, nil, nil, ""},
		{map[string][]string{"klpack_layer": {"off-band"}}, false, nil, ""},
		{map[string][]string{"klpack_layer": {"cumulative"}, "klpack_replace_set": {"0x10"}}, true, uint32(16), ""},
		{map[string][]string{"klpack_replaceable": {"N", "N"}, "klpack_replace_set": {"4294967295"}}, false, uint32(4294967295), ""},
		{map[string][]string{"klpack_layer": {"sideways"}}, nil, nil, `klpack_layer="sideways", want off-band or cumulative`},
		{map[string][]string{"klpack_replaceable": {"maybe"}}, nil, nil, `klpack_replaceable="maybe", want Y or N`},
		{map[string][]string{"klpack_replaceable": {"Y", "N"}}, nil, nil, `klpack_replaceable is both "Y" and "N"`},
		{map[string][]string{"klpack_layer": {"off-band"}, "klpack_replaceable": {"Y"}}, nil, nil, `klpack_replaceable="Y" contradicts klpack_layer=off-band`},
		{map[string][]string{"klpack_replace_set": {"4294967296"}}, nil, nil, "want an unsigned 32-bit number"},
	}
	for _, tt := range tests {
		r, s, err := declaredTags(tt.tags)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("declaredTags(%v) = %v, want error %q", tt.tags, err, tt.err)
			}
			continue
		}
		if err != nil || deref(r) != tt.replaceable || deref(s) != tt.set {
			t.Errorf("declaredTags(%v) = %v, %v, %v; want %v, %v", tt.tags, deref(r), deref(s), err, tt.replaceable, tt.set)
		}
	}
}

func TestEIBase(t *testing.T) {
	for vm, want := range map[string]uint32{"6.1.0-56-amd64 SMP": 1, "6.2.0 SMP": 1, "6.3.0 SMP": 0, "6.12.117+deb12-amd64 SMP": 0, "5.15.0": 1, "7.0.1": 0} {
		if got := eiBase(vm); got != want {
			t.Errorf("eiBase(%q) = %d, want %d", vm, got, want)
		}
	}
}
