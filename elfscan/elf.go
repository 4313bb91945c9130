package elfscan

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// The ELF reader works on the module's bytes in memory. Every offset, size,
// index and count comes from the file and is checked before use; nothing is
// allocated beyond a small multiple of what the file holds.

const (
	ehdrSize = 64 // Elf64_Ehdr
	shdrSize = 64 // Elf64_Shdr
	symSize  = 24 // Elf64_Sym
	relaSize = 24 // Elf64_Rela
)

type section struct {
	name    string
	typ     elf.SectionType
	flags   elf.SectionFlag
	off     uint64
	size    uint64
	link    uint32
	info    uint32
	entsize uint64
}

type symbol struct {
	name  string
	value uint64
	size  uint64
	shndx uint32 // section index, after SHN_XINDEX is resolved
	info  byte
}

func (s *symbol) typ() elf.SymType  { return elf.ST_TYPE(s.info) }
func (s *symbol) bind() elf.SymBind { return elf.ST_BIND(s.info) }
func (s *symbol) isSection() bool   { return s.typ() == elf.STT_SECTION }
func (s *symbol) defined() bool {
	return s.shndx != uint32(elf.SHN_UNDEF) && s.shndx < uint32(elf.SHN_LORESERVE)
}

type rela struct {
	off    uint64
	sym    uint32
	typ    uint32
	addend int64
}

// elfFile is a parsed ELF64 relocatable object.
type elfFile struct {
	data     []byte
	bo       binary.ByteOrder
	machine  elf.Machine
	sections []section

	syms    []symbol // index 0 is the null symbol; nil until loadSymbols
	symErr  error
	symDone bool

	relas   map[int][]rela  // by target section, sorted by offset
	byPlace map[place][]int // defined, named symbols by where they are
}

func parseELF(b []byte) (*elfFile, error) {
	if len(b) < 4 || !bytes.Equal(b[:4], []byte(elf.ELFMAG)) {
		return nil, ErrNotELF
	}
	if len(b) < ehdrSize {
		return nil, formatErr("", 0, "truncated ELF header: %d bytes", len(b))
	}
	f := &elfFile{data: b}
	switch elf.Data(b[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		f.bo = binary.LittleEndian
	case elf.ELFDATA2MSB:
		f.bo = binary.BigEndian
	default:
		return nil, formatErr("", 0, "bad ELF data encoding %d", b[elf.EI_DATA])
	}
	// e_type and e_machine sit at the same offsets in 32- and 64-bit
	// headers, so a module for another machine is named before the class
	// is refused.
	f.machine = elf.Machine(f.bo.Uint16(b[18:]))
	switch c := elf.Class(b[elf.EI_CLASS]); c {
	case elf.ELFCLASS64:
	case elf.ELFCLASS32:
		return nil, unsupported("32-bit ELF (%v, machine %s): klpack reads 64-bit x86_64 and arm64 modules", c, machineName(f.machine))
	default:
		return nil, formatErr("", 0, "bad ELF class %d", b[elf.EI_CLASS])
	}
	if t := elf.Type(f.bo.Uint16(b[16:])); t != elf.ET_REL {
		return nil, formatErr("", 0, "ELF type %v: a kernel module is ET_REL", t)
	}
	if archName(f.machine) == "" {
		return nil, unsupported("machine %s: klpack reads x86_64 and arm64 modules", machineName(f.machine))
	}
	shoff := f.bo.Uint64(b[40:])
	shentsize := uint64(f.bo.Uint16(b[58:]))
	shnum := uint64(f.bo.Uint16(b[60:]))
	shstrndx := uint32(f.bo.Uint16(b[62:]))
	if shoff == 0 {
		return nil, formatErr("", 0, "no section header table")
	}
	if shentsize != shdrSize {
		return nil, formatErr("", 0, "section header size %d, want %d", shentsize, shdrSize)
	}
	size := uint64(len(b))
	if shoff > size || size-shoff < shdrSize {
		return nil, formatErr("", 0, "section header table at %#x past end of file (%d bytes)", shoff, size)
	}
	// Extended numbering: the real counts live in section 0.
	sh0 := b[shoff : shoff+shdrSize]
	if shnum == 0 {
		shnum = f.bo.Uint64(sh0[32:])
	}
	if shstrndx == uint32(elf.SHN_XINDEX) {
		shstrndx = f.bo.Uint32(sh0[40:])
	}
	if shnum == 0 || shnum > (size-shoff)/shdrSize {
		return nil, formatErr("", 0, "%d section headers at %#x do not fit in the file (%d bytes)", shnum, shoff, size)
	}
	f.sections = make([]section, shnum)
	for i := range f.sections {
		h := b[shoff+uint64(i)*shdrSize:]
		s := &f.sections[i]
		s.typ = elf.SectionType(f.bo.Uint32(h[4:]))
		s.flags = elf.SectionFlag(f.bo.Uint64(h[8:]))
		s.off = f.bo.Uint64(h[24:])
		s.size = f.bo.Uint64(h[32:])
		s.link = f.bo.Uint32(h[40:])
		s.info = f.bo.Uint32(h[44:])
		s.entsize = f.bo.Uint64(h[56:])
		if i > 0 && s.typ != elf.SHT_NOBITS && (s.off > size || s.size > size-s.off) {
			return nil, formatErr("", 0, "section %d: %d bytes at %#x past end of file (%d bytes)", i, s.size, s.off, size)
		}
		switch s.typ {
		case elf.SHT_RELA, elf.SHT_REL:
			if uint64(s.info) >= shnum || s.info == 0 {
				return nil, formatErr("", 0, "section %d: relocations for section %d out of range (%d sections)", i, s.info, shnum)
			}
			fallthrough
		case elf.SHT_SYMTAB:
			if uint64(s.link) >= shnum || s.link == 0 {
				return nil, formatErr("", 0, "section %d: sh_link %d out of range (%d sections)", i, s.link, shnum)
			}
		}
	}
	if shstrndx == 0 || uint64(shstrndx) >= shnum {
		return nil, formatErr("", 0, "section name table index %d out of range (%d sections)", shstrndx, shnum)
	}
	names := &f.sections[shstrndx]
	if names.typ != elf.SHT_STRTAB {
		return nil, formatErr("", 0, "section name table %d has type %v", shstrndx, names.typ)
	}
	strtab := b[names.off : names.off+names.size]
	for i := range f.sections {
		if i == 0 {
			continue
		}
		nameOff := uint64(f.bo.Uint32(b[shoff+uint64(i)*shdrSize:]))
		n, ok := cstring(strtab, nameOff)
		if !ok {
			return nil, formatErr("", 0, "section %d: name at %#x not a NUL-terminated string in the name table", i, nameOff)
		}
		f.sections[i].name = n
	}
	return f, nil
}

// unsupported is the error for a module klpack does not read because of
// its architecture or class.
func unsupported(format string, args ...any) *FormatError {
	e := formatErr("", 0, format, args...)
	e.Err = ErrUnsupportedMachine
	return e
}

// machineName is EM_RISCV for a known machine and the number for others
// (debug/elf names those "EM_ALPHA_STD+30542").
func machineName(m elf.Machine) string {
	if s := m.String(); !strings.Contains(s, "+") {
		return s
	}
	return fmt.Sprintf("e_machine %d", uint16(m))
}

// cstring returns the NUL-terminated string at off in tab.
func cstring(tab []byte, off uint64) (string, bool) {
	if off >= uint64(len(tab)) {
		return "", false
	}
	n := bytes.IndexByte(tab[off:], 0)
	if n < 0 {
		return "", false
	}
	return string(tab[off : off+uint64(n)]), true
}

func archName(m elf.Machine) string {
	switch m {
	case elf.EM_X86_64:
		return "x86_64"
	case elf.EM_AARCH64:
		return "arm64"
	}
	return ""
}

// section returns the index of the first section called name, or -1.
func (f *elfFile) section(name string) int {
	for i := range f.sections {
		if f.sections[i].name == name {
			return i
		}
	}
	return -1
}

// sectionData returns the bytes of section i; NOBITS sections have none.
func (f *elfFile) sectionData(i int) []byte {
	s := &f.sections[i]
	if s.typ == elf.SHT_NOBITS {
		return nil
	}
	return f.data[s.off : s.off+s.size]
}

// read returns n bytes at off in section i. NOBITS sections read as zeros.
func (f *elfFile) read(i int, off, n uint64) ([]byte, error) {
	s := &f.sections[i]
	if n > s.size || off > s.size-n {
		return nil, formatErr(s.name, off, "%d bytes past end of section (%d bytes)", n, s.size)
	}
	if s.typ == elf.SHT_NOBITS {
		return make([]byte, n), nil
	}
	return f.data[s.off+off : s.off+off+n], nil
}

// symbols parses the symbol table once.
func (f *elfFile) symbols() ([]symbol, error) {
	if f.symDone {
		return f.syms, f.symErr
	}
	f.symDone = true
	f.syms, f.symErr = f.loadSymbols()
	return f.syms, f.symErr
}

func (f *elfFile) loadSymbols() ([]symbol, error) {
	idx := -1
	for i := range f.sections {
		if f.sections[i].typ == elf.SHT_SYMTAB {
			idx = i
			break
		}
	}
	if idx < 0 {
		return nil, nil
	}
	st := &f.sections[idx]
	if st.entsize != symSize {
		return nil, formatErr(st.name, 0, "entry size %d, want %d", st.entsize, symSize)
	}
	if st.size%symSize != 0 {
		return nil, formatErr(st.name, 0, "size %d not a multiple of %d", st.size, symSize)
	}
	if st.link == 0 || uint64(st.link) >= uint64(len(f.sections)) || f.sections[st.link].typ != elf.SHT_STRTAB {
		return nil, formatErr(st.name, 0, "sh_link %d is not a string table", st.link)
	}
	strtab := f.sectionData(int(st.link))
	// SHT_SYMTAB_SHNDX holds the real section index of symbols with SHN_XINDEX.
	var xindex []byte
	for i := range f.sections {
		if f.sections[i].typ == elf.SHT_SYMTAB_SHNDX && f.sections[i].link == uint32(idx) {
			xindex = f.sectionData(i)
		}
	}
	raw := f.sectionData(idx)
	syms := make([]symbol, len(raw)/symSize)
	for i := range syms {
		e := raw[i*symSize:]
		s := &syms[i]
		nameOff := uint64(f.bo.Uint32(e))
		s.info = e[4]
		s.shndx = uint32(f.bo.Uint16(e[6:]))
		s.value = f.bo.Uint64(e[8:])
		s.size = f.bo.Uint64(e[16:])
		if s.shndx == uint32(elf.SHN_XINDEX) {
			if uint64(i)*4+4 > uint64(len(xindex)) {
				return nil, formatErr(st.name, uint64(i)*symSize, "symbol %d: SHN_XINDEX without an index entry", i)
			}
			s.shndx = f.bo.Uint32(xindex[i*4:])
		}
		if s.defined() && uint64(s.shndx) >= uint64(len(f.sections)) {
			return nil, formatErr(st.name, uint64(i)*symSize, "symbol %d: section index %d out of range", i, s.shndx)
		}
		if nameOff != 0 {
			n, ok := cstring(strtab, nameOff)
			if !ok {
				return nil, formatErr(st.name, uint64(i)*symSize, "symbol %d: name at %#x not a NUL-terminated string", i, nameOff)
			}
			s.name = n
		}
		if s.isSection() && s.defined() {
			s.name = f.sections[s.shndx].name
		}
	}
	return syms, nil
}

// relocations returns the RELA entries that apply to section target, sorted
// by offset, each checked against the symbol table and the section size.
func (f *elfFile) relocations(target int) ([]rela, error) {
	if f.relas == nil {
		f.relas = make(map[int][]rela)
	}
	if r, ok := f.relas[target]; ok {
		return r, nil
	}
	var out []rela
	for i := range f.sections {
		s := &f.sections[i]
		if s.typ != elf.SHT_RELA || uint64(s.info) != uint64(target) {
			continue
		}
		r, err := f.parseRela(i, target)
		if err != nil {
			return nil, err
		}
		out = append(out, r...)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].off < out[b].off })
	f.relas[target] = out
	return out, nil
}

func (f *elfFile) parseRela(i, target int) ([]rela, error) {
	s := &f.sections[i]
	if s.entsize != relaSize {
		return nil, formatErr(s.name, 0, "entry size %d, want %d", s.entsize, relaSize)
	}
	if s.size%relaSize != 0 {
		return nil, formatErr(s.name, 0, "size %d not a multiple of %d", s.size, relaSize)
	}
	syms, err := f.symbols()
	if err != nil {
		return nil, err
	}
	if syms == nil || uint64(s.link) >= uint64(len(f.sections)) || f.sections[s.link].typ != elf.SHT_SYMTAB {
		return nil, formatErr(s.name, 0, "sh_link %d is not the symbol table", s.link)
	}
	tsize := f.sections[target].size
	raw := f.sectionData(i)
	out := make([]rela, len(raw)/relaSize)
	for j := range out {
		e := raw[j*relaSize:]
		info := f.bo.Uint64(e[8:])
		r := rela{off: f.bo.Uint64(e), sym: uint32(info >> 32), typ: uint32(info), addend: int64(f.bo.Uint64(e[16:]))}
		if uint64(r.sym) >= uint64(len(syms)) {
			return nil, formatErr(s.name, uint64(j)*relaSize, "entry %d: symbol %d out of range (%d symbols)", j, r.sym, len(syms))
		}
		w := f.relocWidth(r.typ)
		if r.off > tsize || tsize-r.off < w {
			return nil, formatErr(s.name, uint64(j)*relaSize, "entry %d: offset %#x outside %s (%d bytes)", j, r.off, f.sections[target].name, tsize)
		}
		out[j] = r
	}
	return out, nil
}

// relocWidth is how many bytes a relocation patches; unknown types are
// assumed to patch at least one byte so the offset is still checked.
func (f *elfFile) relocWidth(typ uint32) uint64 {
	switch f.machine {
	case elf.EM_X86_64:
		switch elf.R_X86_64(typ) {
		case elf.R_X86_64_64, elf.R_X86_64_PC64:
			return 8
		case elf.R_X86_64_32, elf.R_X86_64_32S, elf.R_X86_64_PC32, elf.R_X86_64_PLT32:
			return 4
		}
	case elf.EM_AARCH64:
		switch elf.R_AARCH64(typ) {
		case elf.R_AARCH64_ABS64, elf.R_AARCH64_PREL64:
			return 8
		default:
			return 4
		}
	}
	return 1
}

// isAbs64 reports whether typ is the machine's 64-bit absolute pointer
// relocation: R_X86_64_64 or R_AARCH64_ABS64.
func (f *elfFile) isAbs64(typ uint32) bool {
	switch f.machine {
	case elf.EM_X86_64:
		return elf.R_X86_64(typ) == elf.R_X86_64_64
	case elf.EM_AARCH64:
		return elf.R_AARCH64(typ) == elf.R_AARCH64_ABS64
	}
	return false
}

// relocName names a relocation type of the module's machine.
func (f *elfFile) relocName(typ uint32) string {
	var s string
	switch f.machine {
	case elf.EM_X86_64:
		s = elf.R_X86_64(typ).String()
	case elf.EM_AARCH64:
		s = elf.R_AARCH64(typ).String()
	}
	if s == "" || strings.Contains(s, "+") {
		return fmt.Sprintf("type %d", typ)
	}
	return s
}

// ref is where a relocated pointer points: a defined section and offset, or
// an undefined symbol plus addend.
type ref struct {
	sec    int
	off    uint64
	extern string
}

func (r ref) String() string {
	if r.extern != "" {
		return r.extern
	}
	return fmt.Sprintf("section %d+%#x", r.sec, r.off)
}

// target resolves a relocation to the place it points at.
func (f *elfFile) target(r rela) (ref, error) {
	s := &f.syms[r.sym]
	if !s.defined() {
		if s.name == "" {
			return ref{}, formatErr("", 0, "relocation against undefined unnamed symbol %d", r.sym)
		}
		if r.addend != 0 {
			return ref{extern: fmt.Sprintf("%s%+#x", s.name, r.addend)}, nil
		}
		return ref{extern: s.name}, nil
	}
	off := s.value + uint64(r.addend)
	return ref{sec: int(s.shndx), off: off}, nil
}

// pointer decodes the 8-byte pointer at off in section sec: the relocation
// that fills it in, or nothing when the bytes are zero (NULL).
func (f *elfFile) pointer(sec int, off uint64) (ref, bool, error) {
	b, err := f.read(sec, off, 8)
	if err != nil {
		return ref{}, false, err
	}
	rs, err := f.relocations(sec)
	if err != nil {
		return ref{}, false, err
	}
	k := sort.Search(len(rs), func(i int) bool { return rs[i].off >= off })
	if k < len(rs) && rs[k].off == off {
		if !f.isAbs64(rs[k].typ) {
			return ref{}, false, formatErr(f.sections[sec].name, off, "pointer relocated by %s, want a 64-bit absolute relocation", f.relocName(rs[k].typ))
		}
		t, err := f.target(rs[k])
		return t, err == nil, err
	}
	if f.bo.Uint64(b) != 0 {
		return ref{}, false, formatErr(f.sections[sec].name, off, "pointer %#x without relocation", f.bo.Uint64(b))
	}
	return ref{}, false, nil
}

// maxString bounds strings read through pointers (function and object
// names); longer ones are corrupt input.
const maxString = 4096

// stringAt reads the NUL-terminated string a pointer points to.
func (f *elfFile) stringAt(r ref) (string, error) {
	if r.extern != "" {
		return "", formatErr("", 0, "string pointer to undefined symbol %s", r.extern)
	}
	d := f.sectionData(r.sec)
	s, ok := cstring(d, r.off)
	if !ok {
		return "", formatErr(f.sections[r.sec].name, r.off, "not a NUL-terminated string")
	}
	if len(s) > maxString {
		return "", formatErr(f.sections[r.sec].name, r.off, "string of %d bytes", len(s))
	}
	return s, nil
}

// symbolAt names the place a pointer points to: a symbol of type typ
// defined there, else section+offset. A local name wins over a global
// alias (the function rather than init_module).
func (f *elfFile) symbolAt(r ref, typ elf.SymType) string {
	if r.extern != "" {
		return r.extern
	}
	if f.byPlace == nil {
		f.byPlace = make(map[place][]int)
		for i := range f.syms {
			s := &f.syms[i]
			if s.name != "" && !s.isSection() && s.defined() {
				k := place{s.shndx, s.value}
				f.byPlace[k] = append(f.byPlace[k], i)
			}
		}
	}
	best := -1
	for _, i := range f.byPlace[place{uint32(r.sec), r.off}] {
		s := &f.syms[i]
		if s.typ() != typ {
			continue
		}
		if best < 0 || s.bind() == elf.STB_LOCAL && f.syms[best].bind() != elf.STB_LOCAL {
			best = i
		}
	}
	if best >= 0 {
		return f.syms[best].name
	}
	return fmt.Sprintf("%s+%#x", f.sections[r.sec].name, r.off)
}

// place is where a symbol is defined.
type place struct {
	sec uint32
	off uint64
}
