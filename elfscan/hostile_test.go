package elfscan

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/klpack/klpack/internal/elf64"
)

// hostileBase is a livepatch module with DWARF, relocations in several
// sections, module parameters and states: every decoder path runs on it.
func hostileBase(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(koDir, "6.1.0-56-amd64", "lp_param.ko"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Offsets into Elf64_Shdr.
const (
	shType    = 4
	shOffset  = 24
	shSize    = 32
	shLink    = 40
	shInfo    = 44
	shEntsize = 56
)

type mutator struct {
	t  testing.TB
	f  *elf64.File
	sh uint64
}

func newMutator(t testing.TB, b []byte) *mutator {
	f, err := elf64.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return &mutator{t: t, f: f, sh: binary.LittleEndian.Uint64(b[40:])}
}

// syms is the base module's symbol table.
func (m *mutator) syms() []elf64.Symbol {
	s, err := m.f.Symbols()
	if err != nil {
		m.t.Fatal(err)
	}
	return s
}

func (m *mutator) index(name string) int {
	i := m.f.Section(name)
	if i < 0 {
		m.t.Fatalf("no section %s in the base module", name)
	}
	return i
}

func (m *mutator) firstOfType(typ elf.SectionType) int {
	for i := range m.f.Sections {
		if m.f.Sections[i].Type == typ {
			return i
		}
	}
	m.t.Fatalf("no section of type %v", typ)
	return 0
}

// set returns a copy of b with field of section name's header set to v.
func (m *mutator) set(b []byte, sec int, field int, v uint64) []byte {
	c := bytes.Clone(b)
	at := m.sh + uint64(sec)*elf64.ShdrSize + uint64(field)
	switch field {
	case shType, shLink, shInfo:
		binary.LittleEndian.PutUint32(c[at:], uint32(v))
	default:
		binary.LittleEndian.PutUint64(c[at:], v)
	}
	return c
}

// poke returns a copy of b with bytes written at off.
func poke(b []byte, off uint64, v []byte) []byte {
	c := bytes.Clone(b)
	copy(c[off:], v)
	return c
}

type hostileCase struct {
	name string
	data []byte
}

func hostileCases(t testing.TB) []hostileCase {
	base := hostileBase(t)
	m := newMutator(t, base)
	le := binary.LittleEndian
	u64 := func(v uint64) []byte { return le.AppendUint64(nil, v) }
	u16 := func(v uint16) []byte { return le.AppendUint16(nil, v) }

	symtab := m.firstOfType(elf.SHT_SYMTAB)
	strtab := int(m.f.Sections[symtab].Link)
	shstrtab := int(le.Uint16(base[62:]))
	relaData := m.index(".rela.data")
	relaText := m.index(".rela.init.text")
	data := m.index(".data")
	param := m.index("__param")

	var cs []hostileCase
	add := func(name string, b []byte) { cs = append(cs, hostileCase{name, b}) }

	add("empty", nil)
	add("magic only", []byte(elf.ELFMAG))
	add("not ELF", []byte("#!/bin/sh\necho hello\n"))
	add("truncated header", base[:40])
	add("class 32", poke(base, elf.EI_CLASS, []byte{byte(elf.ELFCLASS32)}))
	add("bad class", poke(base, elf.EI_CLASS, []byte{7}))
	add("bad data encoding", poke(base, elf.EI_DATA, []byte{9}))
	add("machine i386", poke(base, 18, u16(uint16(elf.EM_386))))
	add("machine riscv", poke(base, 18, u16(uint16(elf.EM_RISCV))))
	add("type ET_DYN", poke(base, 16, u16(uint16(elf.ET_DYN))))
	add("shoff past EOF", poke(base, 40, u64(uint64(len(base))+8)))
	add("shoff near 2^64", poke(base, 40, u64(math.MaxUint64-10)))
	add("shoff zero", poke(base, 40, u64(0)))
	add("shentsize zero", poke(base, 58, u16(0)))
	add("shentsize huge", poke(base, 58, u16(0xffff)))
	add("shnum huge", poke(base, 60, u16(0xfff0)))
	add("shstrndx out of range", poke(base, 62, u16(0xfff0)))
	add("shstrndx not a string table", poke(base, 62, u16(uint16(data))))
	add("shstrtab without final NUL", poke(base, m.f.Sections[shstrtab].Off+m.f.Sections[shstrtab].Size-1, []byte{'A'}))
	add("strtab without final NUL", poke(base, m.f.Sections[strtab].Off+m.f.Sections[strtab].Size-1, []byte{'A'}))

	// Truncation at every section boundary and inside the header table.
	for i := 1; i < len(m.f.Sections); i++ {
		s := m.f.Sections[i]
		if s.Type == elf.SHT_NOBITS {
			continue
		}
		add(fmt.Sprintf("truncated at start of %s", s.Name), base[:s.Off])
		add(fmt.Sprintf("truncated at end of %s", s.Name), base[:s.Off+s.Size])
	}
	add("truncated in section headers", base[:m.sh+elf64.ShdrSize*3+7])
	add("truncated by one byte", base[:len(base)-1])

	for _, sec := range []int{data, symtab, strtab, relaData, param} {
		name := m.f.Sections[sec].Name
		add(name+" offset past EOF", m.set(base, sec, shOffset, uint64(len(base))))
		add(name+" offset near 2^64", m.set(base, sec, shOffset, math.MaxUint64-4))
		add(name+" size past EOF", m.set(base, sec, shSize, uint64(len(base))))
		add(name+" size near 2^64", m.set(base, sec, shSize, math.MaxUint64))
	}
	for _, sec := range []int{symtab, relaData, relaText} {
		name := m.f.Sections[sec].Name
		add(name+" entsize zero", m.set(base, sec, shEntsize, 0))
		add(name+" entsize huge", m.set(base, sec, shEntsize, 1<<40))
		add(name+" size not a multiple", m.set(base, sec, shSize, m.f.Sections[sec].Size-5))
	}
	add("symtab sh_link out of range", m.set(base, symtab, shLink, 9999))
	add("symtab sh_link not strtab", m.set(base, symtab, shLink, uint64(data)))
	add("rela sh_link out of range", m.set(base, relaData, shLink, 9999))
	add("rela sh_link not symtab", m.set(base, relaData, shLink, uint64(strtab)))
	add("rela sh_info out of range", m.set(base, relaData, shInfo, 9999))
	add("rela sh_info zero", m.set(base, relaData, shInfo, 0))
	add(".data becomes NOBITS", m.set(base, data, shType, uint64(elf.SHT_NOBITS)))

	// Individual relocation and symbol entries.
	rd := m.f.Sections[relaData]
	add("relocation outside its section", poke(base, rd.Off, u64(m.f.Sections[data].Size+100)))
	add("relocation offset near 2^64", poke(base, rd.Off, u64(math.MaxUint64-2)))
	add("relocation symbol out of range", poke(base, rd.Off+8, u64(uint64(9000)<<32|uint64(elf.R_X86_64_64))))
	// The relocation that fills klp_patch.objs (the patch is at .data+0).
	objs := rd.Off
	for e := rd.Off; e < rd.Off+rd.Size; e += elf64.RelaSize {
		if le.Uint64(base[e:]) == 8 {
			objs = e
		}
	}
	add("relocation of wrong type", poke(base, objs+8, u64(le.Uint64(base[objs+8:])&^0xffffffff|uint64(elf.R_X86_64_PC32))))
	add("relocation addend huge", poke(base, rd.Off+16, u64(math.MaxUint64-100)))
	rt := m.f.Sections[relaText]
	add("code relocation symbol out of range", poke(base, rt.Off+8, u64(uint64(70000)<<32|uint64(elf.R_X86_64_PC32))))
	st := m.f.Sections[symtab]
	for i := uint64(1); i < st.Size/elf64.SymSize; i++ {
		e := st.Off + i*elf64.SymSize
		add(fmt.Sprintf("symbol %d name past strtab", i), poke(base, e, le.AppendUint32(nil, 0xfffffff0)))
		add(fmt.Sprintf("symbol %d section out of range", i), poke(base, e+6, u16(0xfeff)))
		add(fmt.Sprintf("symbol %d value huge", i), poke(base, e+8, u64(math.MaxUint64-3)))
	}
	// lp_param's klp_func array: funcs[0] at .data+0x240 (its old_name
	// relocated to .rodata.str1.1+0), the terminator right after it
	// ending .data (klpLayout64: 0x98-byte entries, old_sympos at 16).
	const funcs, funcSize, oldSympos = 0x240, 0x98, 16
	add("klp_func array unterminated", m.set(base, data, shSize, funcs+funcSize))
	// klp_for_each_func_static stops only when old_name, new_func and
	// old_sympos are all zero: with old_sympos 1 the entry is a
	// function, and the array runs off the end of .data.
	add("klp_func terminator with old_sympos 1", poke(base, m.f.Sections[data].Off+funcs+funcSize+oldSympos, u64(1)))
	for e := rd.Off; e < rd.Off+rd.Size; e += elf64.RelaSize {
		switch le.Uint64(base[e:]) {
		case 8: // klp_patch.objs
			add("objs pointer at the end of .data", poke(base, e+16, u64(m.f.Sections[data].Size)))
		case funcs: // funcs[0].old_name
			str := m.index(".rodata.str1.1")
			add("old_name pointer at the end of its section", poke(base, e+16, u64(m.f.Sections[str].Size)))
		}
	}
	add("__param size not a multiple", m.set(base, param, shSize, 41))
	add("modinfo missing", m.set(base, m.index(".modinfo"), shType, uint64(elf.SHT_NOBITS)))
	add("signature magic with huge length", append(bytes.Clone(base), append([]byte{0, 0, 2, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xf0}, "~Module signature appended~\n"...)...))
	add("signature magic alone", append(bytes.Clone(base), "~Module signature appended~\n"...))
	add("module .klp.rela referencing vmlinux", crossObjectKlpRela(t))
	add("xz truncated", []byte{0xfd, '7', 'z', 'X', 'Z', 0, 0, 0, 0})
	add("zstd truncated", []byte{0x28, 0xb5, 0x2f, 0xfd, 0x24})
	add("gzip truncated", []byte{0x1f, 0x8b, 8, 0, 0, 0})
	return cs
}

// crossObjectKlpRela is klpb_replace with its .klp.rela.vmlinux..text
// renamed .klp.rela.vmlinuz..text: a section for the module vmlinuz whose
// entries use .klp.sym.vmlinux symbols. klp_resolve_symbols
// (kernel/livepatch/core.c), called by klp_write_section_relocs for each
// .klp.rela section, refuses with -EINVAL any entry of a module's section
// (!sec_vmlinux) whose symbol names vmlinux (sym_vmlinux), so the patch
// cannot load.
func crossObjectKlpRela(t testing.TB) []byte {
	b, err := os.ReadFile(filepath.Join(klpBuildDir, "ko", "klpb_replace.ko"))
	if err != nil {
		t.Fatal(err)
	}
	m := newMutator(t, b)
	shstrtab := m.f.Sections[binary.LittleEndian.Uint16(b[62:])]
	name := uint64(binary.LittleEndian.Uint32(b[m.sh+uint64(m.index(".klp.rela.vmlinux..text"))*elf64.ShdrSize:]))
	return poke(b, shstrtab.Off+name+uint64(len(".klp.rela.vmlinu")), []byte{'z'})
}

// scanHostile scans one malformed input from a file, as klpack does: no
// panic, exactly one of module and error, a FormatError (or ErrNotELF)
// whose message starts by naming the file, a result that marshals, and
// no allocation far beyond the input. mustFail: the input cannot be read
// correctly, so a scan that succeeds reports something that is not in
// the file.
func scanHostile(t *testing.T, data []byte, mustFail bool) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mutant.ko")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := Open(path, nil)
	runtime.ReadMemStats(&after)
	if (err == nil) == (m == nil) {
		t.Fatalf("scan = %v, %v: want exactly one of module and error", m, err)
	}
	switch {
	case err == nil && mustFail:
		b, _ := json.Marshal(m)
		t.Fatalf("scan succeeded, want an error: %.300s", b)
	case err != nil:
		if err.Error() == "" {
			t.Error("empty error message")
		}
		fe, ok := errors.AsType[*FormatError](err)
		if !ok && !errors.Is(err, ErrNotELF) {
			t.Errorf("not a FormatError: %v (%T)", err, err)
		}
		if ok && fe.Path != path {
			t.Errorf("FormatError.Path = %q, want %q", fe.Path, path)
		}
		if !strings.HasPrefix(err.Error(), "file "+path+": ") {
			t.Errorf("error %q does not start by naming the file", err)
		}
		t.Log(err)
	default:
		if _, err := json.Marshal(m); err != nil {
			t.Errorf("result does not marshal: %v", err)
		}
	}
	// DWARF decoding allocates its own trees; the bound is loose, but a
	// size taken from the file would blow it.
	if n := after.TotalAlloc - before.TotalAlloc; n > 64*uint64(len(data))+64<<20 {
		t.Errorf("allocated %d bytes for %d bytes of input", n, len(data))
	}
}

// TestHostile feeds malformed modules to the scanner (scanHostile); the
// inputs listed in mustFail cannot be read correctly and must be refused.
func TestHostile(t *testing.T) {
	mustFail := map[string]bool{
		"empty": true, "magic only": true, "not ELF": true, "truncated header": true,
		"class 32": true, "bad class": true, "bad data encoding": true,
		"machine i386": true, "machine riscv": true, "type ET_DYN": true,
		"shoff past EOF": true, "shoff near 2^64": true, "shoff zero": true,
		"shentsize zero": true, "shentsize huge": true, "shnum huge": true,
		"shstrndx out of range": true, "shstrndx not a string table": true,
		"truncated in section headers": true, "truncated by one byte": true,
		"rela sh_info out of range": true, "rela sh_info zero": true,
		"rela sh_link out of range": true, "symtab sh_link out of range": true,
		"relocation outside its section": true, "relocation offset near 2^64": true,
		"relocation symbol out of range": true, "relocation of wrong type": true,
		"code relocation symbol out of range": true,
		"__param size not a multiple":         true, "modinfo missing": true,
		"signature magic with huge length": true,
		"xz truncated":                     true, "zstd truncated": true, "gzip truncated": true,
		".rela.data entsize zero": true, ".rela.data entsize huge": true,
		".symtab entsize zero": true, ".symtab entsize huge": true,
		".data offset past EOF": true, ".data size past EOF": true, ".data size near 2^64": true,
		"klp_func array unterminated": true, "klp_func terminator with old_sympos 1": true,
		"objs pointer at the end of .data": true, "old_name pointer at the end of its section": true,
		"module .klp.rela referencing vmlinux": true,
	}
	seen := 0
	for _, tc := range hostileCases(t) {
		if mustFail[tc.name] {
			seen++
		}
		t.Run(tc.name, func(t *testing.T) { scanHostile(t, tc.data, mustFail[tc.name]) })
	}
	if seen != len(mustFail) {
		t.Errorf("matched %d of %d must-fail cases: a case was renamed", seen, len(mustFail))
	}
}

// TestHostileMutants scans mutants of the base module made without
// knowing what its sections hold: the size and entry size of every
// section set to values that break them, and single bit flips spread over
// the file. Each goes through scanHostile: whatever is refused says which
// file it was.
func TestHostileMutants(t *testing.T) {
	base := hostileBase(t)
	m := newMutator(t, base)
	n := 0
	for i := 1; i < len(m.f.Sections); i++ {
		sec := m.f.Sections[i]
		for _, field := range []struct {
			name string
			off  int
			vals []uint64
		}{
			{"size", shSize, []uint64{0, 1, 5, sec.Size - 1, sec.Size + 1, sec.Size * 2}},
			{"entsize", shEntsize, []uint64{0, 1, 7, elf64.RelaSize, elf64.SymSize, 1 << 32}},
		} {
			for _, v := range field.vals {
				n++
				t.Run(fmt.Sprintf("%s %s %d", sec.Name, field.name, v), func(t *testing.T) {
					scanHostile(t, m.set(base, i, field.off, v), false)
				})
			}
		}
	}
	stride := max(len(base)/600, 1)
	for off := 0; off < len(base); off += stride {
		c := bytes.Clone(base)
		c[off] ^= 1 << (off % 8)
		n++
		t.Run(fmt.Sprintf("bit %d of byte %#x", off%8, off), func(t *testing.T) { scanHostile(t, c, false) })
	}
	t.Logf("%d mutants", n)
}

func TestOpenNamesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.ko")
	if err := os.WriteFile(path, hostileBase(t)[:100], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, nil)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(path)) {
		t.Fatalf("Open(%q) = %v, want an error naming the file", path, err)
	}
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Path != path {
		t.Errorf("Open(%q) error %T does not carry the path", path, err)
	}
}

// FuzzScan checks that no input panics, that exactly one of result and
// error comes back, that an error starts by naming the file (and a
// FormatError carries its path), and that results marshal.
func FuzzScan(f *testing.F) {
	for _, k := range allKernels() {
		for _, name := range []string{"lp_param.strip-unneeded.ko", "lp_multiobj.strip-unneeded.ko", "lp_replace.strip-debug.ko", "klp_user.strip-unneeded.ko", "lp_shadow.ko.zst"} {
			b, err := os.ReadFile(filepath.Join(koDir, k, name))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	for _, p := range slices.Concat(klpBuildModules(f), kpatchModules(f)) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	const path = "fuzz/mutant.ko"
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := newScanner(nil).scanFile(path, b)
		if (err == nil) == (m == nil) {
			t.Fatalf("scan = %v, %v", m, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "file "+path+": ") {
			t.Fatalf("error %q does not start by naming the file", err)
		}
		if fe, ok := errors.AsType[*FormatError](err); ok && fe.Path != path {
			t.Fatalf("FormatError.Path = %q, want %q", fe.Path, path)
		}
		if m != nil {
			if _, err := json.Marshal(m); err != nil {
				t.Fatal(err)
			}
		}
	})
}
