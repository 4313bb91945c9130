package elfscan

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/internal/elf64"
	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/klp"
)

// The modules scripts/gen/kpatch-build.sh built with kpatch-build 0.9.11
// from testdata/gen/kpatch-build/patches, and their goldens.
var (
	kpatchDir    = filepath.Join("..", "testdata", "gen", "kpatch-build")
	kpatchKoDir  = filepath.Join(kpatchDir, "ko")
	kpatchGolden = filepath.Join(kpatchDir, "golden")
)

func kpatchModules(t testing.TB) []string { return genModules(t, kpatchDir) }

// TestKpatchBuildGolden pins the whole scan record of every committed
// kpatch-build module; each golden was checked by hand against its patch.
func TestKpatchBuildGolden(t *testing.T) {
	for _, path := range kpatchModules(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".ko")
		t.Run(name, func(t *testing.T) {
			m, err := Open(path, nil)
			if err != nil {
				t.Fatalf("Open(%q) = %v", path, err)
			}
			m.Path = filepath.ToSlash(strings.TrimPrefix(path, ".."+string(filepath.Separator)))
			b, err := json.MarshalIndent(m, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			testutil.GoldenFile(t, filepath.Join(kpatchGolden, name+".json"), append(b, '\n'))
		})
	}
}

// kpatchWant is what a module must hold, written from its .patch file and
// kpatch-build's options (scripts/gen/kpatch-build.sh), not from a scan.
type kpatchWant struct {
	replace bool
	objects []klp.Object
	// relas are the .klp.rela sections; syms the .klp.sym references the
	// changed code needs for what vmlinux or the module does not export;
	// exported are symbols it uses that must not be among them.
	relas    []string
	syms     []klp.KlpSym
	exported []string
}

func strp(s string) *string { return &s }

// kpatchWants: kpatch-build stores sympos 1 in .kpatch.funcs for a name
// that is unique in its object (where klp-build stores 0). version_show is
// not unique in the test kernel: arch/x86/kernel/ksysfs.c's comes first in
// vmlinux's symbol table and in address order (microcode's is second), so
// it is 1 as well. Every new function keeps the old name. In .klp.sym names
// kpatch-build writes 0 for global symbols and the position for local ones.
var kpatchWants = map[string]kpatchWant{
	"kpb_replace": {
		replace: true,
		objects: []klp.Object{{
			Funcs: []klp.Func{
				{OldName: "cmdline_proc_show", OldSympos: 1, NewFunc: "cmdline_proc_show"},
				{OldName: "uptime_proc_show", OldSympos: 1, NewFunc: "uptime_proc_show"},
				{OldName: "version_proc_show", OldSympos: 1, NewFunc: "version_proc_show"},
			},
			Callbacks: klp.Callbacks{
				PrePatch:    "kpb_pre_patch",
				PostPatch:   "kpb_post_patch",
				PreUnpatch:  "kpb_pre_unpatch",
				PostUnpatch: "kpb_post_unpatch",
			},
		}},
		relas: []string{".klp.rela.vmlinux..text"},
		syms: []klp.KlpSym{
			{Object: "vmlinux", Name: "linux_proc_banner", Sympos: 0},
			{Object: "vmlinux", Name: "saved_command_line", Sympos: 0},
		},
		exported: []string{"klp_shadow_get_or_alloc", "klp_shadow_free_all", "seq_printf"},
	},
	"kpb_noreplace": {
		replace: false,
		objects: []klp.Object{{
			Funcs: []klp.Func{
				{OldName: "fscaps_show", OldSympos: 1, NewFunc: "fscaps_show"},
				{OldName: "loadavg_proc_show", OldSympos: 1, NewFunc: "loadavg_proc_show"},
				{OldName: "version_proc_show", OldSympos: 1, NewFunc: "version_proc_show"},
				{OldName: "version_show", OldSympos: 1, NewFunc: "version_show"},
			},
		}},
		relas: []string{".klp.rela.vmlinux..text"},
		syms: []klp.KlpSym{
			{Object: "vmlinux", Name: "boot_params", Sympos: 0},
			{Object: "vmlinux", Name: "file_caps_enabled", Sympos: 0},
			{Object: "vmlinux", Name: "linux_proc_banner", Sympos: 0},
		},
		exported: []string{"avenrun", "sysfs_emit", "sprintf"},
	},
	"kpb_module": {
		replace: true,
		objects: []klp.Object{
			{
				Funcs: []klp.Func{
					{OldName: "cmdline_proc_show", OldSympos: 1, NewFunc: "cmdline_proc_show"},
				},
			},
			{
				Name: strp("kobject_example"),
				Funcs: []klp.Func{
					{OldName: "b_show", OldSympos: 1, NewFunc: "b_show"},
					{OldName: "foo_show", OldSympos: 1, NewFunc: "foo_show"},
				},
				Callbacks: klp.Callbacks{
					PrePatch:    "kpb_module_pre_patch",
					PostUnpatch: "kpb_module_post_unpatch",
				},
			},
		},
		relas: []string{".klp.rela.kobject_example..text", ".klp.rela.vmlinux..text"},
		syms: []klp.KlpSym{
			{Object: "kobject_example", Name: "bar", Sympos: 1},
			{Object: "kobject_example", Name: "baz", Sympos: 1},
			{Object: "kobject_example", Name: "foo", Sympos: 1},
			{Object: "vmlinux", Name: "saved_command_line", Sympos: 0},
		},
		exported: []string{"sysfs_emit", "__seq_puts"},
	},
}

// sortedObjects orders objects (vmlinux first) and their functions by
// name: the expectations do not depend on create-diff-object's order.
func sortedObjects(objs []klp.Object) []klp.Object {
	out := slices.Clone(objs)
	for i := range out {
		out[i].Funcs = slices.Clone(out[i].Funcs)
		slices.SortFunc(out[i].Funcs, func(a, b klp.Func) int { return strings.Compare(a.OldName, b.OldName) })
	}
	slices.SortFunc(out, func(a, b klp.Object) int {
		if (a.Name == nil) != (b.Name == nil) {
			if a.Name == nil {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ObjectName(), b.ObjectName())
	})
	return out
}

// TestKpatchBuildModules checks the key facts of each module explicitly,
// so that an -update of the goldens cannot hide a regression in them.
func TestKpatchBuildModules(t *testing.T) {
	seen := 0
	for _, path := range kpatchModules(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".ko")
		want, ok := kpatchWants[name]
		if !ok {
			t.Errorf("%s: no expectations for this module in kpatchWants", path)
			continue
		}
		seen++
		t.Run(name, func(t *testing.T) {
			m, err := Open(path, nil)
			if err != nil {
				t.Fatalf("Open(%q) = %v", path, err)
			}
			if m.Name != name || !m.Livepatch || m.Format == nil || *m.Format != klp.FormatKpatchBuild {
				t.Errorf("Open(%q) = name %q, livepatch %v, format %v; want %q, true, %q", path, m.Name, m.Livepatch, m.Format, name, klp.FormatKpatchBuild)
			}
			if !strings.HasPrefix(m.Vermagic, "7.2.13 ") {
				t.Errorf("Vermagic = %q, want the test kernel's 7.2.13", m.Vermagic)
			}
			if len(m.Patches) != 1 {
				t.Fatalf("%d patches, want 1", len(m.Patches))
			}
			p := m.Patches[0]
			if p.Replace != want.replace || p.ReplaceSource != klp.ReplaceInit {
				t.Errorf("replace = %v from %q (%s), want %v from %q", p.Replace, p.ReplaceSource, p.ReplaceHint, want.replace, klp.ReplaceInit)
			}
			if diff := cmp.Diff(sortedObjects(want.objects), sortedObjects(p.Objects)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			var relas []string
			for _, r := range m.KlpRelas {
				relas = append(relas, r.Section)
			}
			if !slices.Equal(relas, want.relas) {
				t.Errorf(".klp.rela sections %q, want %q", relas, want.relas)
			}
			if diff := cmp.Diff(want.syms, m.KlpSyms); diff != "" {
				t.Errorf(".klp.sym references (-want +got):\n%s", diff)
			}
			for _, name := range want.exported {
				for _, s := range m.KlpSyms {
					if s.Name == name {
						t.Errorf("exported %s is a .klp.sym reference %+v", name, s)
					}
				}
			}
		})
	}
	if seen != len(kpatchWants) {
		t.Errorf("checked %d of the %d modules kpatchWants describes: one is missing from %s", seen, len(kpatchWants), kpatchKoDir)
	}
}

// tableFile is an ELF with one section, name, holding data, no
// relocations, and the given symbols defined in it.
func tableFile(t testing.TB, name string, data []byte, typ elf.SectionType, syms map[string]uint64) *elf64.File {
	t.Helper()
	var ss []testSymbol
	for _, sym := range slices.Sorted(maps.Keys(syms)) {
		ss = append(ss, testSymbol{name: sym, shndx: 3, value: syms[sym]})
	}
	return buildELF(t, []testSection{{name: name, typ: typ, body: data, size: len(data)}}, ss)
}

func TestKpatchTable(t *testing.T) {
	const sym = "__kpatch_callbacks_pre_patch"
	nonzero := append(make([]byte, 32), 1, 0, 0, 0, 0, 0, 0, 0)
	tests := []struct {
		name     string
		data     []byte
		typ      elf.SectionType
		syms     map[string]uint64
		start, n uint64
		err      string
	}{
		{name: "pad only", data: make([]byte, 8), n: 0},
		{name: "two entries and the pad", data: make([]byte, 40), n: 2},
		{name: "empty", data: nil, err: "is not 16-byte entries"},
		{name: "not entries and pad", data: make([]byte, 20), err: "is not 16-byte entries"},
		{name: "pad not zero", data: nonzero, err: "not the zero pad"},
		{name: "NOBITS", data: make([]byte, 24), typ: elf.SHT_NOBITS, err: "without contents"},
		{name: "symbols", data: make([]byte, 40), syms: map[string]uint64{sym: 0, sym + "_end": 32}, n: 2},
		{name: "symbols, no pad", data: make([]byte, 32), syms: map[string]uint64{sym: 16, sym + "_end": 32}, start: 16, n: 1},
		{name: "end past section", data: make([]byte, 40), syms: map[string]uint64{sym: 0, sym + "_end": 48}, err: "is not a table"},
		{name: "end before start", data: make([]byte, 40), syms: map[string]uint64{sym: 32, sym + "_end": 16}, err: "is not a table"},
		{name: "end mid-entry", data: make([]byte, 40), syms: map[string]uint64{sym: 0, sym + "_end": 24}, err: "is not a table"},
		{name: "end huge", data: make([]byte, 40), syms: map[string]uint64{sym: 0, sym + "_end": math.MaxUint64}, err: "is not a table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ := tt.typ
			if typ == 0 {
				typ = elf.SHT_PROGBITS
			}
			f := tableFile(t, ".kpatch.callbacks.pre_patch", tt.data, typ, tt.syms)
			start, n, err := kpatchTable(f, f.Section(".kpatch.callbacks.pre_patch"), sym, kpatchCallbackSize)
			if tt.err != "" {
				if _, ok := errors.AsType[*FormatError](err); !ok || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("kpatchTable = %d, %d, %v; want a FormatError with %q", start, n, err, tt.err)
				}
				return
			}
			if err != nil || start != tt.start || n != tt.n {
				t.Fatalf("kpatchTable = %d, %d, %v; want %d, %d", start, n, err, tt.start, tt.n)
			}
		})
	}
}

func TestKpatchChecksum(t *testing.T) {
	tests := []struct {
		name string
		data string
		ok   bool
	}{
		{"md5", "0123456789abcdef0123456789abcdef\x00", true},
		{"md5 and padding", "0123456789abcdef0123456789abcdef\x00\x00\x00", true},
		{"short", "0123456789abcdef\x00", false},
		{"upper case", "0123456789ABCDEF0123456789ABCDEF\x00", false},
		{"no NUL", "0123456789abcdef0123456789abcdef", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tableFile(t, ".kpatch.checksum", []byte(tt.data), elf.SHT_PROGBITS, nil)
			err := kpatchChecksum(f)
			if tt.ok != (err == nil) {
				t.Fatalf("kpatchChecksum(%q) = %v, want ok %v", tt.data, err, tt.ok)
			}
			if err != nil {
				if _, ok := errors.AsType[*FormatError](err); !ok {
					t.Errorf("kpatchChecksum(%q) = %T, want a FormatError", tt.data, err)
				}
			}
		})
	}
}

// kpatchHostileCases mutate kpb_replace.ko's .kpatch.* sections, their
// relocations and the linker-script symbols that bound the tables: each
// must be refused with a FormatError.
func kpatchHostileCases(t testing.TB) []hostileCase {
	base, err := os.ReadFile(filepath.Join(kpatchKoDir, "kpb_replace.ko"))
	if err != nil {
		t.Fatal(err)
	}
	m := newMutator(t, base)
	if _, err := m.f.Symbols(); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	u64 := func(v uint64) []byte { return le.AppendUint64(nil, v) }
	funcs := m.index(".kpatch.funcs")
	strs := m.index(".kpatch.strings")
	force := m.index(".kpatch.force")
	pre := m.index(".kpatch.callbacks.pre_patch")
	// relaAt is the file offset of the RELA entry that patches off in sec.
	relaAt := func(sec int, off uint64) uint64 {
		for i, s := range m.f.Sections {
			if s.Type != elf.SHT_RELA || int(s.Info) != sec {
				continue
			}
			_ = i
			for e := s.Off; e < s.Off+s.Size; e += elf64.RelaSize {
				if le.Uint64(base[e:]) == off {
					return e
				}
			}
		}
		t.Fatalf("no relocation at %s+%#x", m.f.Sections[sec].Name, off)
		return 0
	}
	// symAt is the file offset of the symbol table entry called name.
	symAt := func(name string) uint64 {
		st := m.f.Sections[m.firstOfType(elf.SHT_SYMTAB)]
		for i, s := range m.syms() {
			if s.Name == name {
				return st.Off + uint64(i)*elf64.SymSize
			}
		}
		t.Fatalf("no symbol %s", name)
		return 0
	}
	info := func(e uint64) uint64 { return le.Uint64(base[e+8:]) }
	fsz := m.f.Sections[funcs].Size

	var cs []hostileCase
	add := func(name string, b []byte) { cs = append(cs, hostileCase{name, b}) }
	add("kpatch.funcs size not a multiple", m.set(base, funcs, shSize, fsz-8))
	add("kpatch.funcs one entry short", m.set(base, funcs, shSize, fsz-kpatchFuncSize))
	add("kpatch.funcs NOBITS", m.set(base, funcs, shType, uint64(elf.SHT_NOBITS)))
	add("kpatch.funcs size past EOF", m.set(base, funcs, shSize, uint64(len(base))))
	add("kpatch.funcs offset near 2^64", m.set(base, funcs, shOffset, math.MaxUint64-4))
	name := relaAt(funcs, kpatchFuncName)
	add("name past kpatch.strings", poke(base, name+16, u64(m.f.Sections[strs].Size+100)))
	add("name addend near 2^64", poke(base, name+16, u64(math.MaxUint64-8)))
	add("name relocation symbol out of range", poke(base, name+8, u64(9000<<32|info(name)&0xffffffff)))
	add("name relocation of wrong type", poke(base, name+8, u64(info(name)&^0xffffffff|uint64(elf.R_X86_64_PC32))))
	add("name relocation outside kpatch.funcs", poke(base, name, u64(fsz+100)))
	add("name NULL", poke(base, name, u64(kpatchFuncSympos-8)))
	obj := relaAt(funcs, kpatchFuncSize+kpatchFuncObjname)
	add("objname past kpatch.strings", poke(base, obj+16, u64(m.f.Sections[strs].Size)))
	add("objname NULL", poke(base, obj, u64(kpatchFuncSize+8)))
	add("new_addr NULL", poke(base, relaAt(funcs, 2*kpatchFuncSize+kpatchFuncNewAddr), u64(2*kpatchFuncSize+8)))
	last := m.f.Sections[strs].Off + m.f.Sections[strs].Size - 1
	add("name runs off kpatch.strings", poke(poke(base, last, []byte{'A'}), name+16, u64(m.f.Sections[strs].Size-1)))
	add("kpatch.strings NOBITS", m.set(base, strs, shType, uint64(elf.SHT_NOBITS)))
	cb := relaAt(pre, kpatchCallbackObj)
	add("callback objname past kpatch.strings", poke(base, cb+16, u64(m.f.Sections[strs].Size+1)))
	add("callback objname NULL", poke(base, cb, u64(kpatchCallbackSize)))
	add("callback relocation outside its table", poke(base, relaAt(pre, kpatchCallbackFn), u64(1000)))
	add("callback end past section", poke(base, symAt("__kpatch_callbacks_pre_patch_end")+8, u64(0x1000)))
	add("callback end mid-entry", poke(base, symAt("__kpatch_callbacks_pre_patch_end")+8, u64(8)))
	add("callback end near 2^64", poke(base, symAt("__kpatch_callbacks_pre_patch_end")+8, u64(math.MaxUint64)))
	add("callback start after end", poke(base, symAt("__kpatch_callbacks_post_patch")+8, u64(0x20)))
	add("callback table NOBITS", m.set(base, pre, shType, uint64(elf.SHT_NOBITS)))
	add("force end mid-entry", poke(base, symAt("__kpatch_force_funcs_end")+8, u64(4)))
	add("force end past section", poke(base, symAt("__kpatch_force_funcs_end")+8, u64(m.f.Sections[force].Size+8)))
	return cs
}

// TestKpatchHostile: every corrupt kpatch-build module is refused
// (scanHostile).
func TestKpatchHostile(t *testing.T) {
	for _, tc := range kpatchHostileCases(t) {
		t.Run(tc.name, func(t *testing.T) { scanHostile(t, tc.data, true) })
	}
}

// TestKpatchReplaceUnknown changes kpb_replace.ko's init code so that the
// value of replace at klp_enable_patch no longer follows from it: the scan
// must then say unknown, with the hint, never a value.
func TestKpatchReplaceUnknown(t *testing.T) {
	base, err := os.ReadFile(filepath.Join(kpatchKoDir, "kpb_replace.ko"))
	if err != nil {
		t.Fatal(err)
	}
	m := newMutator(t, base)
	if _, err := m.f.Symbols(); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	text := m.f.Sections[m.index(".init.text")]
	// The hook's "lpatch->replace = true": movb $0x1,0x18(%rax).
	store := []byte{0xc6, 0x40, 0x18, 0x01}
	at := bytes.Index(base[text.Off:text.Off+text.Size], store)
	if at < 0 || bytes.Count(base[text.Off:text.Off+text.Size], store) != 1 {
		t.Fatalf("the replace store %x is not once in .init.text", store)
	}
	storeOff := text.Off + uint64(at)
	// The last call before klp_enable_patch (patch_free_scaffold), and its
	// relocation.
	var callRela, enable uint64
	rt := m.f.Sections[m.index(".rela.init.text")]
	for e := rt.Off; e < rt.Off+rt.Size; e += elf64.RelaSize {
		if m.syms()[le.Uint64(base[e+8:])>>32].Name == "klp_enable_patch" {
			enable = le.Uint64(base[e:])
		}
	}
	for e := rt.Off; e < rt.Off+rt.Size; e += elf64.RelaSize {
		r := le.Uint64(base[e:])
		sym := m.syms()[le.Uint64(base[e+8:])>>32]
		if r > uint64(at) && r < enable && base[text.Off+r-1] == 0xe8 && sym.IsSection() && sym.Name == ".text" && r > callRela {
			callRela = r
		}
	}
	var callEntry uint64
	for e := rt.Off; e < rt.Off+rt.Size; e += elf64.RelaSize {
		if le.Uint64(base[e:]) == callRela {
			callEntry = e
		}
	}
	if callRela == 0 || callEntry == 0 {
		t.Fatal("no call to a local function after the replace store")
	}
	exitSym := -1
	for i, s := range m.syms() {
		if s.Name == "cleanup_module" {
			exitSym = i
		}
	}
	if exitSym < 0 {
		t.Fatal("no cleanup_module")
	}
	info := le.Uint64(base[callEntry+8:])
	tests := []struct {
		name string
		data []byte
		why  string
	}{
		{"store removed", poke(base, storeOff, []byte{0x0f, 0x1f, 0x40, 0x00}), "no store to replace"},
		{"stored from a register", poke(base, storeOff, []byte{0x88, 0x58, 0x18, 0x90}), "cannot follow"},
		{"a call after the store reads lpatch", poke(poke(base, callEntry+8, le.AppendUint64(nil, uint64(exitSym)<<32|info&0xffffffff)), callEntry+16, le.AppendUint64(nil, math.MaxUint64-3)), "uses the variable holding the patch"},
		{"an indirect call after the store", poke(poke(base, text.Off+callRela-1, []byte{0xff, 0xd0, 0x0f, 0x1f, 0x00}), callEntry, le.AppendUint64(nil, callRela+2)), "indirect call"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mod, err := scanBytes(tt.data, nil)
			if err != nil {
				t.Fatalf("scan = %v", err)
			}
			p := mod.Patches[0]
			if p.ReplaceSource != klp.ReplaceUnknown || p.Replace || !strings.Contains(p.ReplaceHint, tt.why) || !strings.Contains(p.ReplaceHint, "manifest") {
				t.Errorf("replace = %v from %q (%s), want unknown because %q, with where to declare it", p.Replace, p.ReplaceSource, p.ReplaceHint, tt.why)
			}
		})
	}
}

// TestKpatchBuildStripped scans each module stripped of debug information
// and of unneeded symbols: the objects, functions and callbacks stay; replace
// is either the right value from the init code or unknown with the hint
// (without DWARF the klp_patch layout may be unknown), never a wrong value.
func TestKpatchBuildStripped(t *testing.T) {
	strip := testutil.NeedTool(t, "strip")
	for _, path := range kpatchModules(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".ko")
		want := kpatchWants[name]
		for _, flag := range []string{"--strip-debug", "--strip-unneeded"} {
			t.Run(name+flag, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), name+".ko")
				if b, err := exec.Command(strip, flag, "-o", out, path).CombinedOutput(); err != nil {
					t.Fatalf("strip %s %s: %v\n%s", flag, path, err, b)
				}
				m, err := Open(out, nil)
				if err != nil {
					t.Fatalf("Open(%q) = %v", out, err)
				}
				if len(m.Patches) != 1 {
					t.Fatalf("%d patches, want 1", len(m.Patches))
				}
				p := m.Patches[0]
				switch p.ReplaceSource {
				case klp.ReplaceInit:
					if p.Replace != want.replace {
						t.Errorf("replace = %v from the init code, want %v", p.Replace, want.replace)
					}
				case klp.ReplaceUnknown:
					if p.Replace || !strings.Contains(p.ReplaceHint, "manifest") {
						t.Errorf("unknown replace = %v with hint %q, want false and where to declare it", p.Replace, p.ReplaceHint)
					}
				default:
					t.Errorf("replace from %q, want %q or %q", p.ReplaceSource, klp.ReplaceInit, klp.ReplaceUnknown)
				}
				if diff := cmp.Diff(sortedObjects(want.objects), sortedObjects(p.Objects)); diff != "" {
					t.Errorf("objects (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestKpatchByteFlips inverts every byte of kpb_module.ko's .kpatch.*
// sections and their relocations in turn: each scan must return exactly one
// of module and error, and a module must marshal.
func TestKpatchByteFlips(t *testing.T) {
	base, err := os.ReadFile(filepath.Join(kpatchKoDir, "kpb_module.ko"))
	if err != nil {
		t.Fatal(err)
	}
	m := newMutator(t, base)
	n := 0
	for _, s := range m.f.Sections {
		if !strings.HasPrefix(s.Name, ".kpatch.") && !strings.HasPrefix(s.Name, ".rela.kpatch.") {
			continue
		}
		for off := s.Off; off < s.Off+s.Size; off++ {
			b := poke(base, off, []byte{^base[off]})
			mod, err := scanBytes(b, nil)
			if (err == nil) == (mod == nil) {
				t.Fatalf("%s+%#x flipped: scan = %v, %v", s.Name, off-s.Off, mod, err)
			}
			if mod != nil {
				if _, err := json.Marshal(mod); err != nil {
					t.Fatalf("%s+%#x flipped: %v", s.Name, off-s.Off, err)
				}
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no .kpatch sections in kpb_module.ko")
	}
}
