package elfscan

// arm64 modules: the samples cross-built by scripts/gen/arm64.sh, malformed
// copies of them, and modules for machines klpack does not read. (Named
// aarch64_test.go: a file ending in _arm64_test.go would build only on
// arm64 hosts.)

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klpack/klpack/internal/elf64"
	"github.com/klpack/klpack/pkg/klp"
)

const arm64Kernel = "7.2.13-arm64"

func arm64Module(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(koDir, arm64Kernel, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnsupportedMachine: a module for a machine klpack does not read is
// refused with a FormatError that names the file and the machine and
// matches ErrUnsupportedMachine, never decoded as if it were x86_64 or
// arm64.
func TestUnsupportedMachine(t *testing.T) {
	le := binary.LittleEndian
	setMachine := func(b []byte, m elf.Machine) []byte { return poke(b, 18, le.AppendUint16(nil, uint16(m))) }
	to32 := func(b []byte, m elf.Machine) []byte {
		return setMachine(poke(b, elf.EI_CLASS, []byte{byte(elf.ELFCLASS32)}), m)
	}
	arm := arm64Module(t, "lp_param.ko")
	x86 := hostileBase(t)
	tests := []struct {
		name string
		data []byte
		want string // in the message
	}{
		{"arm64 module as riscv", setMachine(arm, elf.EM_RISCV), "EM_RISCV"},
		{"arm64 module as ppc64", setMachine(arm, elf.EM_PPC64), "EM_PPC64"},
		{"arm64 module as s390", setMachine(arm, elf.EM_S390), "EM_S390"},
		{"arm64 module as loongarch", setMachine(arm, elf.EM_LOONGARCH), "EM_LOONGARCH"},
		{"x86_64 module as i386", setMachine(x86, elf.EM_386), "EM_386"},
		{"x86_64 module as riscv", setMachine(x86, elf.EM_RISCV), "EM_RISCV"},
		{"32-bit arm", to32(arm, elf.EM_ARM), "EM_ARM"},
		{"32-bit i386", to32(x86, elf.EM_386), "EM_386"},
		{"32-bit header claiming aarch64", to32(arm, elf.EM_AARCH64), "EM_AARCH64"},
		{"unknown machine number", setMachine(arm, elf.Machine(0x7777)), "30583"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".ko")
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := Open(path, nil)
			if err == nil {
				t.Fatalf("Open(%q) = %s module, want an error", path, m.Arch)
			}
			if !errors.Is(err, ErrUnsupportedMachine) {
				t.Errorf("Open(%q) = %v, want ErrUnsupportedMachine", path, err)
			}
			fe, ok := errors.AsType[*FormatError](err)
			if !ok || fe.Path != path {
				t.Errorf("Open(%q) = %v (%T), want a FormatError with the path", path, err, err)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, tt.want) {
				t.Errorf("Open(%q) = %q, want the path and %s in the message", path, msg, tt.want)
			}
		})
	}
	// The machines klpack reads are not this error, and a malformed
	// header is not either.
	for _, b := range [][]byte{arm, x86} {
		if _, err := scanBytes(b, nil); err != nil {
			t.Errorf("scan = %v, want a module", err)
		}
	}
	bad := poke(arm, elf.EI_CLASS, []byte{7})
	if _, err := scanBytes(bad, nil); err == nil || errors.Is(err, ErrUnsupportedMachine) {
		t.Errorf("bad class: scan = %v, want a FormatError that is not ErrUnsupportedMachine", err)
	}
}

// a64Word returns a copy of b with the instruction at off in section sec
// replaced, after checking it is the instruction the test means.
func a64Word(t testing.TB, b []byte, sec string, off uint64, old, new uint32) []byte {
	t.Helper()
	m := newMutator(t, b)
	s := m.f.Sections[m.index(sec)]
	at := s.Off + off
	if got := binary.LittleEndian.Uint32(b[at:]); got != old {
		t.Fatalf("%s+%#x holds %#08x, want %#08x: the committed module changed", sec, off, got, old)
	}
	return poke(b, at, binary.LittleEndian.AppendUint32(nil, new))
}

// a64Rela returns a copy of b with the info word (symbol << 32 | type) of
// the relocation at off in section rsec replaced by f(info).
func a64Rela(t testing.TB, b []byte, rsec string, off uint64, f func(info uint64) uint64) []byte {
	t.Helper()
	m := newMutator(t, b)
	s := m.f.Sections[m.index(rsec)]
	le := binary.LittleEndian
	for e := s.Off; e < s.Off+s.Size; e += elf64.RelaSize {
		if le.Uint64(b[e:]) == off {
			return poke(b, e+8, le.AppendUint64(nil, f(le.Uint64(b[e+8:]))))
		}
	}
	t.Fatalf("no relocation at %#x in %s", off, rsec)
	return nil
}

func setType(typ elf.R_AARCH64) func(uint64) uint64 {
	return func(info uint64) uint64 { return info&^0xffffffff | uint64(typ) }
}

// lp_param's init code, the same in every variant of the arm64 module:
//
//	0c  adrp x1, .bss              R_AARCH64_ADR_PREL_PG_HI21
//	10  adrp x0, .data             R_AARCH64_ADR_PREL_PG_HI21
//	14  mov  x29, sp
//	18  ldrb w1, [x1]              R_AARCH64_LDST8_ABS_LO12_NC .bss (replace)
//	1c  add  x0, x0, #0            R_AARCH64_ADD_ABS_LO12_NC .data (patch)
//	20  strb w1, [x0, #24]         patch.replace = replace
//	24  bl   klp_enable_patch      R_AARCH64_CALL26
const (
	a64MovX29SP    = 0x910003fd
	a64LdrbW1X1    = 0x39400021
	a64AddX0X0     = 0x91000000
	a64StrbW1X0_24 = 0x39006001
	a64BLZero      = 0x94000000
	a64NOP         = 0xd503201f
)

// arm64InitCases are the init code of lp_param changed one thing at a
// time: each either decodes to the replace flag given or must fail.
func arm64InitCases(t testing.TB, base []byte) []struct {
	name      string
	data      []byte
	fail      bool
	replace   bool
	source    string
	paramName string
} {
	w := func(off uint64, old, new uint32) []byte { return a64Word(t, base, ".init.text", off, old, new) }
	r := func(off uint64, f func(uint64) uint64) []byte { return a64Rela(t, base, ".rela.init.text", off, f) }
	// imm puts mov at 0x14 (in place of mov x29, sp) and st at 0x20 (in
	// place of the strb of w1).
	imm := func(mov, st uint32) []byte {
		return a64Word(t, w(0x14, a64MovX29SP, mov), ".init.text", 0x20, a64StrbW1X0_24, st)
	}
	return []struct {
		name      string
		data      []byte
		fail      bool
		replace   bool
		source    string
		paramName string
	}{
		{name: "as built", data: base, source: klp.ReplaceParam, paramName: "replace"},
		{name: "call removed", data: w(0x24, a64BLZero, a64NOP), fail: true},
		{name: "call to another symbol", data: r(0x24, func(info uint64) uint64 { return 1<<32 | info&0xffffffff }), fail: true},
		{
			name:   "tail call",
			data:   a64Rela(t, w(0x24, a64BLZero, a64B), ".rela.init.text", 0x24, setType(elf.R_AARCH64_JUMP26)),
			source: klp.ReplaceParam, paramName: "replace",
		},
		{name: "call relocation of wrong type", data: r(0x24, setType(elf.R_AARCH64_ABS32)), fail: true},
		// The address in x0 must be built from a page and its low bits.
		{name: "add from another register", data: w(0x1c, a64AddX0X0, a64AddX0X0|2<<5), fail: true},
		{name: "add from the page of .bss", data: w(0x1c, a64AddX0X0, a64AddX0X0|1<<5), fail: true},
		{name: "page relocation of wrong type", data: r(0x10, setType(elf.R_AARCH64_ADR_PREL_LO21)), fail: true},
		{name: "low bits relocation of wrong type", data: r(0x1c, setType(elf.R_AARCH64_ABS32)), fail: true},
		{name: "x0 overwritten before the call", data: w(0x20, a64StrbW1X0_24, 0xd2800000), fail: true}, // mov x0, #0
		// A branch target forgets what was known: x0's page at 0x10 does
		// not reach the add at 0x1c along the branch.
		{name: "branch joins before the add", data: w(0x14, a64MovX29SP, a64CBZ|2<<5|3), fail: true}, // cbz w3, 0x1c
		// What is stored into patch.replace: a value the scan cannot
		// evaluate makes it unknown, never the initializer's value.
		{name: "replace from an unknown register", data: w(0x20, a64StrbW1X0_24, a64StrbW1X0_24&^31|5), source: klp.ReplaceUnknown},
		{name: "replace from the zero register", data: w(0x20, a64StrbW1X0_24, a64StrbW1X0_24|31), source: klp.ReplaceInit},
		{
			name: "replace from an immediate",
			// mov w2, #1 at 0x14; strb w2, [x0, #24]
			data:    a64Word(t, w(0x14, a64MovX29SP, a64MOVZ|1<<5|2), ".init.text", 0x20, a64StrbW1X0_24, a64StrbW1X0_24&^31|2),
			replace: true, source: klp.ReplaceInit,
		},
		{
			name: "replace and patch address past a join",
			// mov w2, #1 at 0x14; cbz w3 at 0x18 to 0x1c; strb w2: along
			// the branch neither w2 nor x0's page is known at 0x1c
			data: a64Word(t, a64Word(t, w(0x14, a64MovX29SP, a64MOVZ|1<<5|2), ".init.text", 0x18, a64LdrbW1X1, a64CBZ|1<<5|3),
				".init.text", 0x20, a64StrbW1X0_24, a64StrbW1X0_24&^31|2),
			fail: true,
		},
		// Stores wider than the bool: the byte that lands on it counts.
		{name: "replace from a word store of 0x100", data: imm(0x52800000|0x100<<5|2, 0xb9001802), source: klp.ReplaceInit},                         // mov w2, #0x100; str w2, [x0, #24]
		{name: "replace from a word store of 1", data: imm(a64MOVZ|1<<5|2, 0xb9001802), replace: true, source: klp.ReplaceInit},                     // mov w2, #1; str w2, [x0, #24]
		{name: "replace inside a doubleword store", data: imm(0xd2c00022, 0xf8014002), replace: true, source: klp.ReplaceInit},                      // mov x2, #1<<32; stur x2, [x0, #20]
		{name: "replace at the low byte of a doubleword store", data: imm(0xd2c00022, 0xf8018002), source: klp.ReplaceInit},                         // stur x2, [x0, #24]: byte 0 is 0
		{name: "replace from the parameter by halfword", data: w(0x20, a64StrbW1X0_24, 0x79003001), source: klp.ReplaceParam, paramName: "replace"}, // strh w1, [x0, #24]
		{name: "replace inside a word store of the parameter", data: w(0x20, a64StrbW1X0_24, 0xb8016001), source: klp.ReplaceUnknown},               // stur w1, [x0, #22]
		// Pairs and SIMD&FP registers.
		{name: "replace cleared by a pair of zero registers", data: w(0x20, a64StrbW1X0_24, 0xa9017c1f), source: klp.ReplaceInit},   // stp xzr, xzr, [x0, #16]
		{name: "replace inside a pair of unknown registers", data: w(0x20, a64StrbW1X0_24, 0xa9010c03), source: klp.ReplaceUnknown}, // stp x3, x3, [x0, #16]
		{name: "replace inside a quadword store", data: w(0x20, a64StrbW1X0_24, 0x3d800400), fail: true},                            // str q0, [x0, #16]
		{name: "replace inside a pair of quadwords", data: w(0x20, a64StrbW1X0_24, 0xad000000), fail: true},                         // stp q0, q0, [x0]
		{name: "pair below replace", data: w(0x20, a64StrbW1X0_24, 0xa9000c03), source: klp.ReplaceStatic},                          // stp x3, x3, [x0]
		{name: "replace stored at another field", data: w(0x20, a64StrbW1X0_24, 0x39005c01), source: klp.ReplaceStatic},             // strb w1, [x0, #23]
		// A call may store into the patch: before the store it does not
		// matter, without one the initializer may not hold.
		{name: "local call before the store", data: w(0x4, a64NOP, a64BLZero|4), source: klp.ReplaceParam, paramName: "replace"},
		{name: "local call and no store", data: a64Word(t, w(0x4, a64NOP, a64BLZero|4), ".init.text", 0x20, a64StrbW1X0_24, 0x39005c01), source: klp.ReplaceUnknown},
	}
}

// TestInitCodeARM64 checks that the patch and its replace flag are read
// from arm64 init code exactly, and that code the scan cannot follow is an
// error, or an unknown replace, rather than a guess.
func TestInitCodeARM64(t *testing.T) {
	for _, variant := range []string{"lp_param.ko", "lp_param.strip-unneeded.ko"} {
		for _, tt := range arm64InitCases(t, arm64Module(t, variant)) {
			t.Run(variant+"/"+tt.name, func(t *testing.T) {
				m, err := scanBytes(tt.data, nil)
				if tt.fail {
					if err == nil {
						t.Fatalf("scan succeeded (replace %v from %q), want an error", m.Patches[0].Replace, m.Patches[0].ReplaceSource)
					}
					if _, ok := errors.AsType[*FormatError](err); !ok {
						t.Errorf("scan = %v (%T), want a FormatError", err, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("scan = %v", err)
				}
				if len(m.Patches) != 1 {
					t.Fatalf("%d patches, want 1", len(m.Patches))
				}
				p := m.Patches[0]
				if p.Replace != tt.replace || p.ReplaceSource != tt.source || p.ReplaceParam != tt.paramName {
					t.Errorf("replace = %v from %q (%q), want %v from %q (%q)", p.Replace, p.ReplaceSource, p.ReplaceParam, tt.replace, tt.source, tt.paramName)
				}
				if len(p.Objects) != 1 || len(p.Objects[0].Funcs) != 1 || p.Objects[0].Funcs[0].OldName != "version_proc_show" {
					t.Errorf("objects = %+v, want version_proc_show in vmlinux", p.Objects)
				}
			})
		}
	}
}

func TestA64BranchTarget(t *testing.T) {
	tests := []struct {
		name   string
		insn   uint32
		pc, to uint64
		ok     bool
	}{
		{"b +8", a64B | 2, 0x10, 0x18, true},
		{"b -4", a64B | 0x3ffffff, 0x10, 0xc, true},
		{"b.eq +12", a64BCond | 3<<5, 0x20, 0x2c, true},
		{"b.ne -8", a64BCond | 0x7fffe<<5 | 1, 0x20, 0x18, true},
		{"cbz w3 +8", a64CBZ | 2<<5 | 3, 0, 8, true},
		{"cbnz x1 -4", a64CBZ | 1<<31 | 1<<24 | 0x7ffff<<5 | 1, 8, 4, true},
		{"tbz w0 #3 +16", a64TBZ | 3<<19 | 4<<5, 0x40, 0x50, true},
		{"tbnz x0 #33 -8", a64TBZ | 1<<31 | 1<<24 | 1<<19 | 0x3ffe<<5, 0x40, 0x38, true},
		{"bl is no join", a64BL | 2, 0, 0, false},
		{"nop", a64NOP, 0, 0, false},
	}
	for _, tt := range tests {
		to, ok := a64BranchTarget(tt.insn, tt.pc)
		if ok != tt.ok || ok && to != tt.to {
			t.Errorf("%s: a64BranchTarget(%#08x, %#x) = %#x, %v, want %#x, %v", tt.name, tt.insn, tt.pc, to, ok, tt.to, tt.ok)
		}
	}
}

// arm64HostileCases are malformed copies of the arm64 lp_param: data
// relocations and headers, beside the code cases of TestInitCodeARM64.
func arm64HostileCases(t testing.TB) []hostileCase {
	base := arm64Module(t, "lp_param.ko")
	le := binary.LittleEndian
	m := newMutator(t, base)
	var cs []hostileCase
	add := func(name string, b []byte) { cs = append(cs, hostileCase{"arm64 " + name, b}) }
	add("machine riscv", poke(base, 18, le.AppendUint16(nil, uint16(elf.EM_RISCV))))
	add("class 32", poke(base, elf.EI_CLASS, []byte{byte(elf.ELFCLASS32)}))
	add("big-endian", poke(base, elf.EI_DATA, []byte{byte(elf.ELFDATA2MSB)}))
	// klp_patch.objs (patch at .data+0) relocated by other types.
	for _, typ := range []elf.R_AARCH64{elf.R_AARCH64_ABS32, elf.R_AARCH64_PREL64, elf.R_AARCH64_NONE} {
		add("objs relocated by "+typ.String(), a64Rela(t, base, ".rela.data", 8, setType(typ)))
	}
	add("objs relocation symbol out of range", a64Rela(t, base, ".rela.data", 8, func(info uint64) uint64 { return 9000<<32 | info&0xffffffff }))
	rd := m.f.Sections[m.index(".rela.data")]
	add("relocation outside .data", poke(base, rd.Off, le.AppendUint64(nil, m.f.Sections[m.index(".data")].Size-4)))
	for _, c := range arm64InitCases(t, base) {
		if c.fail {
			add("init code: "+c.name, c.data)
		}
	}
	return cs
}

// TestHostileARM64: every arm64 case is refused (scanHostile).
func TestHostileARM64(t *testing.T) {
	for _, tc := range arm64HostileCases(t) {
		t.Run(tc.name, func(t *testing.T) { scanHostile(t, tc.data, true) })
	}
}

// FuzzInitCodeARM64 runs the arm64 code scan on arbitrary instructions in
// place of lp_param's init code (relocations unchanged): no panic, exactly
// one of module and error, and a module that marshals.
func FuzzInitCodeARM64(f *testing.F) {
	base := arm64Module(f, "lp_param.strip-unneeded.ko")
	m := newMutator(f, base)
	s := m.f.Sections[m.index(".init.text")]
	f.Add(bytes.Clone(base[s.Off : s.Off+s.Size]))
	for _, c := range arm64InitCases(f, base) {
		f.Add(bytes.Clone(c.data[s.Off : s.Off+s.Size]))
	}
	f.Fuzz(func(t *testing.T, code []byte) {
		b := bytes.Clone(base)
		copy(b[s.Off:s.Off+s.Size], code)
		mod, err := scanBytes(b, nil)
		if (err == nil) == (mod == nil) {
			t.Fatalf("scan = %v, %v", mod, err)
		}
		if mod != nil {
			if _, err := json.Marshal(mod); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestA64WritesBack(t *testing.T) {
	tests := []struct {
		asm  string
		insn uint32
		want bool
	}{
		{"stp x29, x30, [sp, #-16]!", 0xa9bf7bfd, true},
		{"ldp x29, x30, [sp], #16", 0xa8c17bfd, true},
		{"stp x3, x3, [x0, #16]", 0xa9010c03, false},
		{"stnp x3, x3, [x0, #16]", 0xa8010c03, false},
		{"ldr x1, [x0], #8", 0xf8408401, true},
		{"ldr x1, [x0, #8]!", 0xf8408c01, true},
		{"ldur x1, [x0, #-8]", 0xf85f8001, false},
		{"sttr x1, [x0, #8]", 0xf8008801, false},
		{"str x1, [x0, x2]", 0xf8226801, false},
		{"strb w1, [x0, #24]", a64StrbW1X0_24, false},
		{"ldadd x1, x2, [x0]", 0xf8210002, true}, // not known, so may
		{"ldxr x1, [x0]", 0xc85f7c01, true},
		{"ld1 {v0.16b}, [x0], #16", 0x4cdf7000, true},
	}
	for _, tt := range tests {
		if got := a64WritesBack(tt.insn); got != tt.want {
			t.Errorf("a64WritesBack(%#08x: %s) = %v, want %v", tt.insn, tt.asm, got, tt.want)
		}
	}
}

// TestA64JoinKeepsStores: where another path arrives, the stores made so
// far keep their places but are marked joined, so none of them is taken
// for what the other path stored (and the initializer is not taken
// either).
func TestA64JoinKeepsStores(t *testing.T) {
	s := &a64Scan{resets: make(a64Marks, 1), joins: make(a64Marks, 1), stores: []store{{size: 1, imm: 1, isImm: true}}}
	s.regs.set(0, regValue{isImm: true, imm: 7})
	s.joins.set(8, 16)
	s.arrive(8)
	if len(s.stores) != 1 || !s.stores[0].joined || s.stores[0].imm != 1 {
		t.Errorf("stores after a join = %+v, want the one store, joined", s.stores)
	}
	if v := s.regs.get(0); v.isImm {
		t.Errorf("x0 after a join = %+v, want unknown", v)
	}
}

// TestA64LocalCalleeNotFollowed: the callee proof decodes x86_64 only, so
// a call to a module's own arm64 function is never taken as harmless.
func TestA64LocalCalleeNotFollowed(t *testing.T) {
	f, err := elf64.Parse(arm64Module(t, "lp_param.ko"))
	if err != nil {
		t.Fatal(err)
	}
	patch := elf64.Ref{Sec: f.Section(".data")}
	cs := callSite{known: true, callee: elf64.Ref{Sec: f.Section(".text")}}
	if why := callReaches(f, cs, enableCall{patch: patch}, elf64.Ref{Sec: patch.Sec, Off: 24}); !strings.Contains(why, "arm64 code") {
		t.Errorf("callReaches = %q, want the arm64 callee not followed", why)
	}
}
