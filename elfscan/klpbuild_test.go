package elfscan

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/arch/x86/x86asm"

	"github.com/klpack/klpack/internal/elf64"
	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/klp"
)

// The modules upstream klp-build made from testdata/gen/klp-build/patches
// for the test kernel (scripts/gen/klp-build.sh).
var klpBuildDir = filepath.Join("..", "testdata", "gen", "klp-build")

// klpBuildWant is what each module must decode to, written by hand from
// its .patch file and, for sympos, from `nm` of the vmlinux klp-build
// built (m_show: kernel/module/procfs.c's is first, fs/namespace.c's, the
// patched one, second). A golden update cannot change these.
type klpBuildWant struct {
	replace       bool
	replaceSource string
	// objects: object name ("vmlinux" for NULL) -> "old_name,sympos=new_func"
	// in table order.
	objects map[string][]string
	// syms that must be among the module's .klp.sym symbols.
	syms []klp.KlpSym
	// relaObjects: the objects the .klp.rela sections resolve in.
	relaObjects []string
}

var klpBuildWants = map[string]klpBuildWant{
	"klpb_replace": {
		replace: true, replaceSource: klp.ReplaceInit,
		objects: map[string][]string{"vmlinux": {"cmdline_proc_show,0=cmdline_proc_show", "version_proc_show,0=version_proc_show"}},
		// version_proc_show prints linux_proc_banner, a vmlinux static.
		syms:        []klp.KlpSym{{Object: "vmlinux", Name: "linux_proc_banner"}},
		relaObjects: []string{"vmlinux"},
	},
	"klpb_noreplace": {
		replace: false, replaceSource: klp.ReplaceInit,
		objects:     map[string][]string{"vmlinux": {"loadavg_proc_show,0=loadavg_proc_show", "version_proc_show,0=version_proc_show"}},
		syms:        []klp.KlpSym{{Object: "vmlinux", Name: "linux_proc_banner"}},
		relaObjects: []string{"vmlinux"},
	},
	"klpb_sympos": {
		replace: true, replaceSource: klp.ReplaceInit,
		objects: map[string][]string{"vmlinux": {"m_show,2=m_show"}},
	},
	"klpb_kobject": {
		replace: true, replaceSource: klp.ReplaceInit,
		objects: map[string][]string{"kobject_example": {"b_show,0=b_show", "foo_show,0=foo_show"}},
		syms: []klp.KlpSym{
			{Object: "kobject_example", Name: "bar"},
			{Object: "kobject_example", Name: "baz"},
			{Object: "kobject_example", Name: "foo"},
		},
		relaObjects: []string{"kobject_example"},
	},
	"klpb_static": {
		replace: true, replaceSource: klp.ReplaceInit,
		objects: map[string][]string{"vmlinux": {"meminfo_proc_show,0=meminfo_proc_show"}},
		// show_val_kb is static in fs/proc/meminfo.c; the new static local
		// klpb_reads lives in the module, so it is no .klp.sym.
		syms:        []klp.KlpSym{{Object: "vmlinux", Name: "show_val_kb"}},
		relaObjects: []string{"vmlinux"},
	},
}

func klpBuildModules(t testing.TB) []string { return genModules(t, klpBuildDir) }

// genModules lists the .ko files a generator committed under dir/ko.
func genModules(t testing.TB, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "ko", "*.ko"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no modules in %s (make testdata-gen)", dir)
	}
	return paths
}

// funcLines renders an object's funcs as "old_name,sympos=new_func".
func funcLines(o klp.Object) []string {
	var out []string
	for _, f := range o.Funcs {
		out = append(out, f.OldName+","+strconvU(f.OldSympos)+"="+f.NewFunc)
	}
	return out
}

func strconvU(v uint64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestKlpBuild(t *testing.T) {
	paths := klpBuildModules(t)
	seen := 0
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".ko")
		t.Run(name, func(t *testing.T) {
			want, ok := klpBuildWants[name]
			if !ok {
				t.Fatalf("no expectations for %s: add them to klpBuildWants from its .patch", name)
			}
			seen++
			m, err := Open(path, nil)
			if err != nil {
				t.Fatalf("Open(%q) = %v", path, err)
			}
			if m.Format == nil || *m.Format != klp.FormatKlpBuild {
				t.Fatalf("Open(%q).Format = %v, want %s", path, m.Format, klp.FormatKlpBuild)
			}
			if !m.Livepatch || m.Name != name {
				t.Errorf("Open(%q): livepatch %t, name %q; want true, %q", path, m.Livepatch, m.Name, name)
			}
			if len(m.Patches) != 1 {
				t.Fatalf("Open(%q): %d patches, want 1", path, len(m.Patches))
			}
			p := m.Patches[0]
			if p.Replace != want.replace || p.ReplaceSource != want.replaceSource {
				t.Errorf("replace = %t (%s), want %t (%s)", p.Replace, p.ReplaceSource, want.replace, want.replaceSource)
			}
			got := map[string][]string{}
			for _, o := range p.Objects {
				got[o.ObjectName()] = funcLines(o)
				if o.Name != nil && *o.Name == "vmlinux" {
					t.Errorf("object named \"vmlinux\": the kernel would wait for a module of that name")
				}
			}
			if d := cmp.Diff(want.objects, got); d != "" {
				t.Errorf("objects (-want +got):\n%s", d)
			}
			for _, s := range want.syms {
				if !slices.Contains(m.KlpSyms, s) {
					t.Errorf("klp_syms lack %+v; have %+v", s, m.KlpSyms)
				}
			}
			var relaObjs []string
			for _, r := range m.KlpRelas {
				if !slices.Contains(relaObjs, r.Object) {
					relaObjs = append(relaObjs, r.Object)
				}
				if r.Count == 0 || !strings.HasPrefix(r.Section, klpRelaPrefix+r.Object+".") {
					t.Errorf("klp_rela %+v: empty or misnamed", r)
				}
			}
			if d := cmp.Diff(want.relaObjects, relaObjs); d != "" {
				t.Errorf("klp_rela objects (-want +got):\n%s", d)
			}
			// Every symbol a .klp.rela entry uses is reported.
			if len(m.KlpRelas) > 0 && len(m.KlpSyms) == 0 {
				t.Errorf("klp_relas without klp_syms")
			}
			m.Path = filepath.Base(path)
			b, err := json.MarshalIndent(m, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			testutil.GoldenFile(t, filepath.Join(klpBuildDir, "golden", name+".json"), append(b, '\n'))
		})
	}
	if seen != len(klpBuildWants) {
		t.Errorf("decoded %d of the %d modules klpBuildWants lists: a module is missing", seen, len(klpBuildWants))
	}
}

// TestKlpBuildReplaceFromCode changes the immediate the init code stores
// into klp_patch.replace, and its store: the decoder must follow the
// code, not the module's name or table.
func TestKlpBuildReplaceFromCode(t *testing.T) {
	base := readKlpBuild(t, "klpb_replace")
	disp, imm := replaceStore(t, base)
	if base[imm] != 1 {
		t.Fatalf("klpb_replace stores %d into replace, want 1", base[imm])
	}
	tests := []struct {
		name       string
		data       []byte
		want       bool
		wantSource string
	}{
		{"as built", base, true, klp.ReplaceInit},
		{"immediate 0", poke(base, imm, []byte{0}), false, klp.ReplaceInit},
		// A store to another field leaves replace unwritten: unknown.
		{"store elsewhere", poke(base, disp, []byte{base[disp] + 1}), false, klp.ReplaceUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := scanBytes(tt.data, nil)
			if err != nil {
				t.Fatal(err)
			}
			p := m.Patches[0]
			if p.Replace != tt.want || p.ReplaceSource != tt.wantSource {
				t.Errorf("replace = %t (%s), want %t (%s)", p.Replace, p.ReplaceSource, tt.want, tt.wantSource)
			}
			if (p.ReplaceSource == klp.ReplaceUnknown) != (p.ReplaceHint != "") {
				t.Errorf("replace_hint %q with replace_source %s", p.ReplaceHint, p.ReplaceSource)
			}
		})
	}
}

func readKlpBuild(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(klpBuildDir, "ko", name+".ko"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replaceStore finds the instruction of the init code that stores an
// immediate byte into klp_patch.replace (at the offset the module's DWARF
// gives) and returns the file offsets of its displacement and immediate
// bytes.
func replaceStore(t *testing.T, b []byte) (disp, imm uint64) {
	t.Helper()
	f, err := elf64.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Symbols(); err != nil {
		t.Fatal(err)
	}
	l, err := dwarfLayout(f)
	if err != nil || l == nil {
		t.Fatalf("no DWARF layout: %v", err)
	}
	i := f.Section(".init.text")
	if i < 0 {
		t.Fatal("no .init.text")
	}
	code := f.SectionData(i)
	found := 0
	for pc := 0; pc < len(code); {
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil || inst.Len == 0 {
			pc++
			continue
		}
		if mem, ok := inst.Args[0].(x86asm.Mem); ok && inst.Op == x86asm.MOV && inst.MemBytes == 1 &&
			mem.Disp == int64(l.patchReplace) && mem.Disp < 0x80 && mem.Index == 0 {
			if _, ok := inst.Args[1].(x86asm.Imm); ok {
				// c6 /0 disp8 imm8: the last two bytes.
				at := f.Sections[i].Off + uint64(pc+inst.Len)
				disp, imm = at-2, at-1
				found++
			}
		}
		pc += inst.Len
	}
	if found != 1 {
		t.Fatalf("%d byte stores of an immediate at klp_patch+%d in .init.text, want 1", found, l.patchReplace)
	}
	return disp, imm
}

// TestKlpBuild619Form decodes the table sections under the names Linux
// 6.19's klp-build gave them, __klp_objects and __klp_funcs (the structs
// were the same). SYNTHETIC INPUT: no 6.19 module was built; this is the
// 7.2 module klpb_kobject with its two table sections renamed in the
// section name table, and nothing else changed.
func TestKlpBuild619Form(t *testing.T) {
	base := readKlpBuild(t, "klpb_kobject")
	want, err := scanBytes(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := newMutator(t, base)
	b := base
	shstrtab := m.f.Sections[int(binary.LittleEndian.Uint16(base[62:]))]
	for old, repl := range map[string]string{".init.klp_objects": "__klp_objects", ".init.klp_funcs": "__klp_funcs"} {
		i := m.index(old)
		nameOff := uint64(binary.LittleEndian.Uint32(base[m.sh+uint64(i)*elf64.ShdrSize:]))
		b = poke(b, shstrtab.Off+nameOff, append([]byte(repl), 0))
	}
	got, err := scanBytes(b, nil)
	if err != nil {
		t.Fatalf("6.19 form: %v", err)
	}
	if f := parseOrFatal(t, b); f.Section("__klp_objects") < 0 || f.Section(".init.klp_objects") >= 0 {
		t.Fatal("the renamed module does not have the 6.19 section names")
	}
	if got.Patches[0].Symbol != "__klp_objects" {
		t.Errorf("symbol = %q, want __klp_objects", got.Patches[0].Symbol)
	}
	got.Patches[0].Symbol = want.Patches[0].Symbol
	got.SHA256 = want.SHA256
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("6.19 form decodes differently (-7.2 +6.19):\n%s", d)
	}
}

func parseOrFatal(t *testing.T, b []byte) *elf64.File {
	t.Helper()
	f, err := elf64.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestKlpBuildWithoutDWARF: klp-build removes .BTF from its modules, so a
// module stripped of DWARF has no struct klp_patch layout unless the
// built-in table knows its kernel. The objects still decode; replace is
// then unknown, with a hint, never a guess.
func TestKlpBuildWithoutDWARF(t *testing.T) {
	base := readKlpBuild(t, "klpb_kobject")
	want, err := scanBytes(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := newMutator(t, base)
	b := base
	shstrtab := m.f.Sections[int(binary.LittleEndian.Uint16(base[62:]))]
	for i, s := range m.f.Sections {
		if strings.HasPrefix(s.Name, ".debug_") || s.Name == ".BTF" {
			nameOff := uint64(binary.LittleEndian.Uint32(base[m.sh+uint64(i)*elf64.ShdrSize:]))
			b = poke(b, shstrtab.Off+nameOff, []byte(".hidden"))
		}
	}
	got, err := scanBytes(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.LayoutSource != nil && *got.LayoutSource == klp.LayoutDWARF {
		t.Fatal("DWARF still found")
	}
	if d := cmp.Diff(want.Patches[0].Objects, got.Patches[0].Objects); d != "" {
		t.Errorf("objects without DWARF (-want +got):\n%s", d)
	}
	p := got.Patches[0]
	if _, err := tableLayout(got.Arch, got.Vermagic); err != nil {
		if p.Replace || p.ReplaceSource != klp.ReplaceUnknown || !strings.Contains(p.ReplaceHint, "release manifest") {
			t.Errorf("replace = %t (%s, hint %q), want unknown with a hint", p.Replace, p.ReplaceSource, p.ReplaceHint)
		}
	} else if !p.Replace || p.ReplaceSource != klp.ReplaceInit {
		t.Errorf("replace = %t (%s), want true from the init code through the table layout", p.Replace, p.ReplaceSource)
	}
}

// TestKlpBuildExtLayoutChecked: the fixed klp_object_ext / klp_func_ext
// layout is checked against each committed module's DWARF, and both
// structs are found there (the check is not vacuous).
func TestKlpBuildExtLayoutChecked(t *testing.T) {
	for _, path := range klpBuildModules(t) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n, err := checkExtLayout(parseOrFatal(t, b))
		if err != nil || n != len(extLayout) {
			t.Errorf("checkExtLayout(%s) = %d, %v; want %d structs checked", filepath.Base(path), n, err, len(extLayout))
		}
	}
}

// TestKlpBuildExtLayoutMismatch: a module whose DWARF describes the
// structs differently from what klpack reads is refused, not misread.
// (The expected layout is changed here, standing in for a kernel that
// changes the structs.)
func TestKlpBuildExtLayoutMismatch(t *testing.T) {
	b := readKlpBuild(t, "klpb_replace")
	saved := extLayout["klp_func_ext"]["sympos"]
	extLayout["klp_func_ext"]["sympos"] = saved + 8
	defer func() { extLayout["klp_func_ext"]["sympos"] = saved }()
	_, err := scanBytes(b, nil)
	if _, ok := errors.AsType[*FormatError](err); !ok || !strings.Contains(err.Error(), "klp_func_ext: member sympos") {
		t.Fatalf("scan with another layout = %v, want a FormatError naming klp_func_ext's sympos", err)
	}
}
