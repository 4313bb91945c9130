package elfscan

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/internal/elf64"
	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/klp"
)

var sitesDir = filepath.Join("..", "testdata", "sites")

// TestSitesModules reads the committed fixtures: the target's pr_debug is
// a dyndbg site of e2e_dbg_poke, named by its format and line; the patch
// that drops it has none; the one that keeps it has it in its new
// function; the xz copy reads the same; a module without sites lists none.
func TestSitesModules(t *testing.T) {
	dbg := klp.Site{Kind: klp.SiteDyndbg, Name: "klpe-dbg poke %d\n", Detail: "e2e_dbg.c:19"}
	tests := []struct {
		path   string
		object string
		want   map[string][][]klp.Site
	}{
		{filepath.Join(sitesDir, "e2e_dbg.ko"), "e2e_dbg", map[string][][]klp.Site{"e2e_dbg_poke": {{dbg}}}},
		{filepath.Join(sitesDir, "xz", "e2e_dbg.ko.xz"), "e2e_dbg", map[string][][]klp.Site{"e2e_dbg_poke": {{dbg}}}},
		{filepath.Join(sitesDir, "e2e_nodbg.ko"), "e2e_nodbg", map[string][][]klp.Site{}},
		{filepath.Join(sitesDir, "e2e_keepdbg.ko"), "e2e_keepdbg", map[string][][]klp.Site{
			"livepatch_e2e_dbg_poke": {{{Kind: klp.SiteDyndbg, Name: "klpe-dbg poke %d\n", Detail: "e2e_dbgpatch.h:14"}}},
		}},
		{filepath.Join(koDir, "6.1.0-56-amd64", "klpack_target.ko.zst"), "klpack_target", map[string][][]klp.Site{}},
		// A linked image laid out as vmlinux (exec/sites_exec.c): the
		// tracepoint shows in its key and its static call, once;
		// preemption's static call is left out; other() holds none.
		{filepath.Join(sitesDir, "exec", "vmlinux"), "vmlinux", map[string][][]klp.Site{"traced": {{
			{Kind: klp.SiteDyndbg, Name: "demo %d\n", Detail: "sites_exec.c:42"},
			{Kind: klp.SiteStaticCall, Name: "demo_call"},
			{Kind: klp.SiteStaticKey, Name: "demo_key"},
			{Kind: klp.SiteTracepoint, Name: "demo_tp"},
		}}}},
	}
	// The modules klp-build and kpatch-build made patch functions without
	// instrumentation: none listed, each named as its .modinfo says.
	for _, p := range slices.Concat(klpBuildModules(t), kpatchModules(t)) {
		tests = append(tests, struct {
			path   string
			object string
			want   map[string][][]klp.Site
		}{p, strings.TrimSuffix(filepath.Base(p), ".ko"), map[string][][]klp.Site{}})
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			got, err := OpenSites(tt.path)
			if err != nil {
				t.Fatalf("OpenSites(%q) = %v", tt.path, err)
			}
			if got.Object != tt.object {
				t.Errorf("OpenSites(%q).Object = %q, want %q", tt.path, got.Object, tt.object)
			}
			if d := cmp.Diff(tt.want, got.Funcs); d != "" {
				t.Errorf("OpenSites(%q).Funcs (-want +got):\n%s", tt.path, d)
			}
		})
	}
}

// TestSitesReal reads distribution and test-kernel objects: a module's
// own tracepoint (xfs defines xfs_group_get, whose key, static call and
// call all show it once) and vmlinux's relative tables, where __schedule
// holds the sched_switch tracepoint and the perf_sched_events key.
func TestSitesReal(t *testing.T) {
	vmlinux, _ := filepath.Glob(filepath.Join(testutil.CacheDir(), "testkernel", "*", "linux", "vmlinux"))
	slices.Sort(vmlinux)
	tests := []struct {
		name, path, object, fn string
		want                   []klp.Site // sites fn must hold, each as often as listed
	}{
		{"xfs", filepath.Join(testutil.TreesDir(), "7.2", "usr", "lib", "modules", "7.2.13+deb14-amd64", "kernel", "fs", "xfs", "xfs.ko.xz"), "xfs", "xfs_group_get",
			[]klp.Site{{Kind: klp.SiteTracepoint, Name: "xfs_group_get"}}},
		{"vmlinux", first1(vmlinux), "vmlinux", "__schedule",
			[]klp.Site{{Kind: klp.SiteStaticKey, Name: "perf_sched_events"}, {Kind: klp.SiteTracepoint, Name: "sched_switch"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := os.Stat(tt.path); tt.path == "" || err != nil {
				testutil.Missing(t, tt.name+" not present (make fetch-trees; make e2e-testkernel)")
			}
			got, err := OpenSites(tt.path)
			if err != nil {
				t.Fatalf("OpenSites(%q) = %v", tt.path, err)
			}
			if got.Object != tt.object {
				t.Errorf("Object = %q, want %q", got.Object, tt.object)
			}
			occ := got.Funcs[tt.fn]
			if len(occ) != 1 {
				t.Fatalf("%s: %d functions %s, want 1: %v", tt.path, len(occ), tt.fn, occ)
			}
			for _, w := range tt.want {
				n := 0
				for _, s := range occ[0] {
					if s.Kind == w.Kind && s.Name == w.Name {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%s: %s holds %s %d times, want once (sites %v)", tt.path, tt.fn, w, n, occ[0])
				}
			}
		})
	}
}

func first1(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// TestSitesHostile: each broken table, symbol or header is a
// *FormatError naming the file and what is wrong, never a panic or a
// silent empty list.
func TestSitesHostile(t *testing.T) {
	path := filepath.Join(sitesDir, "e2e_dbg.ko")
	base, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := newMutator(t, base)
	le := binary.LittleEndian
	jt := m.index("__jump_table")
	rjt := m.index(".rela__jump_table")
	rjtOff := m.f.Sections[rjt].Off
	symtab := m.firstOfType(elf.SHT_SYMTAB)
	var pokeSym uint64
	for i, s := range m.syms() {
		if s.Name == "e2e_dbg_poke" {
			pokeSym = m.f.Sections[symtab].Off + uint64(i)*elf64.SymSize
		}
	}
	// The third relocation of __jump_table is entry 0's key (R_X86_64_PC64).
	keyRela := rjtOff + 2*elf64.RelaSize
	info := func(sym, typ uint32) []byte { return le.AppendUint64(nil, uint64(sym)<<32|uint64(typ)) }
	keySym := uint32(le.Uint64(base[keyRela+8:]) >> 32)
	codeSym := uint32(le.Uint64(base[rjtOff+8:]) >> 32)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"jump table not whole entries", m.set(base, jt, shSize, 15), "section __jump_table: size 15 not a multiple of the 16-byte entry"},
		{"key without relocation", poke(base, keyRela, le.AppendUint64(nil, 0)), "section __jump_table: offset 0x8: entry 0: key without a relocation"},
		{"key relocated as 32-bit", poke(base, keyRela+8, info(keySym, uint32(elf.R_X86_64_PC32))), "entry 0: key relocated by R_X86_64_PC32, want R_X86_64_PC64"},
		{"code relocated as absolute", poke(base, rjtOff+8, info(codeSym, uint32(elf.R_X86_64_64))), "entry 0: code relocated by R_X86_64_64, want R_X86_64_PC32"},
		{"function past its section", poke(base, pokeSym+16, le.AppendUint64(nil, 1<<40)), "function e2e_dbg_poke (1099511627776 bytes at 0x0) outside .text"},
		{"no symbol table", m.set(base, symtab, shType, uint64(elf.SHT_PROGBITS)), ""},
		{"empty", nil, "empty file"},
		{"linked, for i386", poke(poke(base, 16, le.AppendUint16(nil, uint16(elf.ET_EXEC))), 18, le.AppendUint16(nil, uint16(elf.EM_386))), "instrumentation sites are read for x86_64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { sitesRefused(t, "bad.ko", tt.data, tt.want) })
	}
	fifo, _ := testutil.HostileFiles(t, 1)
	if _, err := OpenSites(fifo); err == nil || !strings.Contains(err.Error(), fifo) {
		t.Errorf("OpenSites(FIFO) = %v, want an error naming it", err)
	}
}

// TestSitesHostileExec: a linked image's broken bounds, sections or
// symbol table are *FormatErrors naming the file and what is wrong.
func TestSitesHostileExec(t *testing.T) {
	path := filepath.Join(sitesDir, "exec", "vmlinux")
	base, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(base))
	if err != nil {
		t.Fatal(err)
	}
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	symtab := f.Section(".symtab")
	le := binary.LittleEndian
	// value returns the file offset of symbol name's st_value, and its value.
	value := func(name string) (uint64, uint64) {
		for i, s := range syms {
			if s.Name == name {
				return symtab.Offset + uint64(i+1)*elf64.SymSize + 8, s.Value
			}
		}
		t.Fatalf("%s: no symbol %s", path, name)
		return 0, 0
	}
	shdr := func(name string, field int) uint64 {
		shoff := le.Uint64(base[40:])
		for i, s := range f.Sections {
			if s.Name == name {
				return shoff + uint64(i)*elf64.ShdrSize + uint64(field)
			}
		}
		t.Fatalf("%s: no section %s", path, name)
		return 0
	}
	stopJT, _ := value("__stop___jump_table")
	_, startJT := value("__start___jump_table")
	startSC, _ := value("__start_static_call_sites")
	stopSC, _ := value("__stop_static_call_sites")
	u64 := func(v uint64) []byte { return le.AppendUint64(nil, v) }
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"jump table ends before it starts", poke(base, stopJT, u64(startJT-16)), "section __jump_table: table ends at 0x403078, before it starts at 0x403088"},
		{"jump table not whole entries", poke(base, stopJT, u64(startJT+8)), "not a whole number of 16-byte entries"},
		{"static call sites in no section", poke(poke(base, startSC, u64(0x10)), stopSC, u64(0x18)), "section .static_call_sites: address 0x10 (8 bytes) in no section with contents"},
		{"section past the end", poke(base, shdr(".text", shOffset), u64(1<<40)), "section .text: "},
		{"no symbol table", poke(base, shdr(".symtab", shType), le.AppendUint32(nil, uint32(elf.SHT_PROGBITS))), "section .symtab: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { sitesRefused(t, "vmlinux", tt.data, tt.want) })
	}
}

// FuzzSites: no input panics, exactly one of sites and error comes back,
// and sites marshal.
func FuzzSites(f *testing.F) {
	for _, name := range []string{"e2e_dbg.ko", "e2e_keepdbg.ko", filepath.Join("xz", "e2e_dbg.ko.xz")} {
		b, err := os.ReadFile(filepath.Join(sitesDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		// The same bytes as a linked image: the relative-table reader.
		f.Add(poke(b, 16, binary.LittleEndian.AppendUint16(nil, uint16(elf.ET_EXEC))))
	}
	b, err := os.ReadFile(filepath.Join(sitesDir, "exec", "vmlinux"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ReadSites(bytes.NewReader(b), int64(len(b)))
		if (err == nil) == (o == nil) {
			t.Fatalf("ReadSites = %v, %v", o, err)
		}
		if o != nil {
			if _, err := json.Marshal(o); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestSiteNames: how a key, static call or call names its site. A
// kpatch-build module reaches the target's keys through .klp.sym symbols;
// modules call an exported static call through its trampoline (__SCT__);
// the static calls preemption puts in code are no instrumentation.
func TestSiteNames(t *testing.T) {
	tp := func(n string) klp.Site { return klp.Site{Kind: klp.SiteTracepoint, Name: n} }
	tests := []struct {
		sym  string
		kind string // "key", "call", "trace"
		want klp.Site
		ok   bool
	}{
		{"__tracepoint_sched_switch", "key", tp("sched_switch"), true},
		{".klp.sym.vmlinux.__tracepoint_sched_switch,0", "key", tp("sched_switch"), true},
		{"perf_sched_events", "key", klp.Site{Kind: klp.SiteStaticKey, Name: "perf_sched_events"}, true},
		{"__tracepoint_", "key", klp.Site{Kind: klp.SiteStaticKey, Name: "__tracepoint_"}, true},
		{"__SCK__tp_func_sched_switch", "call", tp("sched_switch"), true},
		{"__SCT__tp_func_xfs_group_get", "call", tp("xfs_group_get"), true},
		{"__SCK__x86_pmu_handle_irq", "call", klp.Site{Kind: klp.SiteStaticCall, Name: "x86_pmu_handle_irq"}, true},
		{"__SCT__preempt_schedule_notrace", "call", klp.Site{}, false},
		{"__SCK__might_resched", "call", klp.Site{}, false},
		{"__traceiter_sched_switch", "trace", tp("sched_switch"), true},
		{".klp.sym.vmlinux.__SCT__tp_func_sched_switch,1", "trace", tp("sched_switch"), true},
		{"__traceiter_", "trace", klp.Site{}, false},
		{"printk", "trace", klp.Site{}, false},
	}
	for _, tt := range tests {
		var got klp.Site
		ok := true
		switch name := plainName(tt.sym); tt.kind {
		case "key":
			got = keySite(name)
		case "call":
			got, ok = staticCallSite(name)
		case "trace":
			var n string
			if n, ok = traceCall(name); ok {
				got = tp(n)
			}
		}
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s site of %q = %v, %v; want %v, %v", tt.kind, tt.sym, got, ok, tt.want, tt.ok)
		}
	}
}

// sitesRefused writes data as a file named name and wants OpenSites to
// refuse it with a *FormatError that names the file and says want.
func sitesRefused(t *testing.T, name string, data []byte, want string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := OpenSites(p)
	if err == nil {
		t.Fatalf("OpenSites = %v, want an error", got.Funcs)
	}
	if !strings.HasPrefix(err.Error(), "file "+p+": ") || !strings.Contains(err.Error(), want) {
		t.Errorf("OpenSites error %q, want it to name the file and say %q", err, want)
	}
	if _, ok := errors.AsType[*FormatError](err); !ok {
		t.Errorf("OpenSites error %T, want a *FormatError", err)
	}
}
