package elf64

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Entry sizes, the only ones the reader accepts.
const (
	ehdrSize = 64 // Elf64_Ehdr
	ShdrSize = 64 // Elf64_Shdr
	SymSize  = 24 // Elf64_Sym
	RelaSize = 24 // Elf64_Rela
)

// Section is one section header; Name is resolved.
type Section struct {
	Name    string
	Type    elf.SectionType
	Flags   elf.SectionFlag
	Off     uint64
	Size    uint64
	Link    uint32
	Info    uint32
	Entsize uint64
}

// Symbol is one symbol table entry; a section symbol is named after its
// section.
type Symbol struct {
	Name  string
	Value uint64
	Size  uint64
	Shndx uint32 // section index, after SHN_XINDEX is resolved
	Info  byte
}

// Type is the symbol type (STT_*).
func (s *Symbol) Type() elf.SymType { return elf.ST_TYPE(s.Info) }

// Bind is the symbol binding (STB_*).
func (s *Symbol) Bind() elf.SymBind { return elf.ST_BIND(s.Info) }

// IsSection reports whether s is a section symbol.
func (s *Symbol) IsSection() bool { return s.Type() == elf.STT_SECTION }

// Defined reports whether s is defined in a section of the file.
func (s *Symbol) Defined() bool {
	return s.Shndx != uint32(elf.SHN_UNDEF) && s.Shndx < uint32(elf.SHN_LORESERVE)
}

// Rela is one relocation entry, checked against the symbol table and
// its target section.
type Rela struct {
	Off    uint64
	Sym    uint32
	Type   uint32
	Addend int64
}

// File is a parsed ELF64 relocatable object. Its fields are what Parse
// checked; callers read them and do not change them.
type File struct {
	Data      []byte // the whole file
	ByteOrder binary.ByteOrder
	Machine   elf.Machine
	Sections  []Section

	syms    []Symbol // index 0 is the null symbol; nil until loadSymbols
	symErr  error
	symDone bool

	relas   map[int][]Rela  // by target section, sorted by offset
	byPlace map[place][]int // defined, named symbols by where they are
}

// Parse checks the ELF header and section headers of b and names the
// sections. b is kept, not copied.
func Parse(b []byte) (*File, error) {
	if len(b) < 4 || !bytes.Equal(b[:4], []byte(elf.ELFMAG)) {
		return nil, ErrNotELF
	}
	if len(b) < ehdrSize {
		return nil, formatErr("", 0, "truncated ELF header: %d bytes", len(b))
	}
	f := &File{Data: b}
	switch elf.Data(b[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		f.ByteOrder = binary.LittleEndian
	case elf.ELFDATA2MSB:
		f.ByteOrder = binary.BigEndian
	default:
		return nil, formatErr("", 0, "bad ELF data encoding %d", b[elf.EI_DATA])
	}
	// e_type and e_machine sit at the same offsets in 32- and 64-bit
	// headers, so a module for another machine is named before the class
	// is refused.
	f.Machine = elf.Machine(f.ByteOrder.Uint16(b[18:]))
	switch c := elf.Class(b[elf.EI_CLASS]); c {
	case elf.ELFCLASS64:
	case elf.ELFCLASS32:
		return nil, unsupported("32-bit ELF (%v, machine %s): klpack reads 64-bit x86_64 and arm64 modules", c, machineName(f.Machine))
	default:
		return nil, formatErr("", 0, "bad ELF class %d", b[elf.EI_CLASS])
	}
	if t := elf.Type(f.ByteOrder.Uint16(b[16:])); t != elf.ET_REL {
		return nil, formatErr("", 0, "ELF type %v: a kernel module is ET_REL", t)
	}
	if archName(f.Machine) == "" {
		return nil, unsupported("machine %s: klpack reads x86_64 and arm64 modules", machineName(f.Machine))
	}
	shoff, shstrndx, err := f.readSections()
	if err != nil {
		return nil, err
	}
	if err := f.nameSections(shoff, shstrndx); err != nil {
		return nil, err
	}
	return f, nil
}

// readSections reads the section header table and checks each header
// against the file. It returns where the table is and the index of the
// section name table.
func (f *File) readSections() (shoff uint64, shstrndx uint32, err error) {
	b := f.Data
	shoff = f.ByteOrder.Uint64(b[40:])
	shentsize := uint64(f.ByteOrder.Uint16(b[58:]))
	shnum := uint64(f.ByteOrder.Uint16(b[60:]))
	shstrndx = uint32(f.ByteOrder.Uint16(b[62:]))
	if shoff == 0 {
		return 0, 0, formatErr("", 0, "no section header table")
	}
	if shentsize != ShdrSize {
		return 0, 0, formatErr("", 0, "section header size %d, want %d", shentsize, ShdrSize)
	}
	size := uint64(len(b))
	if shoff > size || size-shoff < ShdrSize {
		return 0, 0, formatErr("", 0, "section header table at %#x past end of file (%d bytes)", shoff, size)
	}
	// Extended numbering: the real counts live in section 0.
	sh0 := b[shoff : shoff+ShdrSize]
	if shnum == 0 {
		shnum = f.ByteOrder.Uint64(sh0[32:])
	}
	if shstrndx == uint32(elf.SHN_XINDEX) {
		shstrndx = f.ByteOrder.Uint32(sh0[40:])
	}
	if shnum == 0 || shnum > (size-shoff)/ShdrSize {
		return 0, 0, formatErr("", 0, "%d section headers at %#x do not fit in the file (%d bytes)", shnum, shoff, size)
	}
	f.Sections = make([]Section, shnum)
	for i := range f.Sections {
		h := b[shoff+uint64(i)*ShdrSize:]
		s := &f.Sections[i]
		s.Type = elf.SectionType(f.ByteOrder.Uint32(h[4:]))
		s.Flags = elf.SectionFlag(f.ByteOrder.Uint64(h[8:]))
		s.Off = f.ByteOrder.Uint64(h[24:])
		s.Size = f.ByteOrder.Uint64(h[32:])
		s.Link = f.ByteOrder.Uint32(h[40:])
		s.Info = f.ByteOrder.Uint32(h[44:])
		s.Entsize = f.ByteOrder.Uint64(h[56:])
		if i == 0 {
			// The null section has no data (the kernel refuses one that
			// claims any); with extended numbering its size field holds
			// the section count, not a size.
			if s.Type != elf.SHT_NULL {
				return 0, 0, formatErr("", 0, "section 0: type %v, want SHT_NULL", s.Type)
			}
			s.Off, s.Size = 0, 0
		}
		if s.Type != elf.SHT_NOBITS && (s.Off > size || s.Size > size-s.Off) {
			return 0, 0, formatErr("", 0, "section %d: %d bytes at %#x past end of file (%d bytes)", i, s.Size, s.Off, size)
		}
		switch s.Type {
		case elf.SHT_RELA, elf.SHT_REL:
			if uint64(s.Info) >= shnum || s.Info == 0 {
				return 0, 0, formatErr("", 0, "section %d: relocations for section %d out of range (%d sections)", i, s.Info, shnum)
			}
			fallthrough
		case elf.SHT_SYMTAB:
			if uint64(s.Link) >= shnum || s.Link == 0 {
				return 0, 0, formatErr("", 0, "section %d: sh_link %d out of range (%d sections)", i, s.Link, shnum)
			}
		}
	}
	if shstrndx == 0 || uint64(shstrndx) >= shnum {
		return 0, 0, formatErr("", 0, "section name table index %d out of range (%d sections)", shstrndx, shnum)
	}
	return shoff, shstrndx, nil
}

// nameSections resolves the section names in the name table shstrndx.
func (f *File) nameSections(shoff uint64, shstrndx uint32) error {
	b := f.Data
	names := &f.Sections[shstrndx]
	if names.Type != elf.SHT_STRTAB {
		return formatErr("", 0, "section name table %d has type %v", shstrndx, names.Type)
	}
	strtab := b[names.Off : names.Off+names.Size]
	for i := range f.Sections {
		if i == 0 {
			continue
		}
		nameOff := uint64(f.ByteOrder.Uint32(b[shoff+uint64(i)*ShdrSize:]))
		n, ok := CString(strtab, nameOff)
		if !ok {
			return formatErr("", 0, "section %d: name at %#x not a NUL-terminated string in the name table", i, nameOff)
		}
		f.Sections[i].Name = n
	}
	return nil
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

// CString returns the NUL-terminated string at off in tab.
func CString(tab []byte, off uint64) (string, bool) {
	if off >= uint64(len(tab)) {
		return "", false
	}
	n := bytes.IndexByte(tab[off:], 0)
	if n < 0 {
		return "", false
	}
	return string(tab[off : off+uint64(n)]), true
}

// Arch is the kernel's name of the file's architecture: x86_64 or arm64.
func (f *File) Arch() string { return archName(f.Machine) }

func archName(m elf.Machine) string {
	switch m {
	case elf.EM_X86_64:
		return "x86_64"
	case elf.EM_AARCH64:
		return "arm64"
	}
	return ""
}

// Section returns the index of the first section called name, or -1.
func (f *File) Section(name string) int {
	for i := range f.Sections {
		if f.Sections[i].Name == name {
			return i
		}
	}
	return -1
}

// SectionData returns the bytes of section i; NOBITS sections have none.
func (f *File) SectionData(i int) []byte {
	s := &f.Sections[i]
	if s.Type == elf.SHT_NOBITS {
		return nil
	}
	return f.Data[s.Off : s.Off+s.Size]
}

// Read returns n bytes at off in section i. NOBITS sections read as zeros.
func (f *File) Read(i int, off, n uint64) ([]byte, error) {
	s := &f.Sections[i]
	if n > s.Size || off > s.Size-n {
		return nil, formatErr(s.Name, off, "%d bytes past end of section (%d bytes)", n, s.Size)
	}
	if s.Type == elf.SHT_NOBITS {
		return make([]byte, n), nil
	}
	return f.Data[s.Off+off : s.Off+off+n], nil
}

// Symbols parses the symbol table once and caches it; index 0 is the
// null symbol. A file without one has none, and no error.
func (f *File) Symbols() ([]Symbol, error) {
	if f.symDone {
		return f.syms, f.symErr
	}
	f.symDone = true
	f.syms, f.symErr = f.loadSymbols()
	return f.syms, f.symErr
}

func (f *File) loadSymbols() ([]Symbol, error) {
	idx := -1
	for i := range f.Sections {
		if f.Sections[i].Type == elf.SHT_SYMTAB {
			idx = i
			break
		}
	}
	if idx < 0 {
		return nil, nil
	}
	st := &f.Sections[idx]
	if st.Entsize != SymSize {
		return nil, formatErr(st.Name, 0, "entry size %d, want %d", st.Entsize, SymSize)
	}
	if st.Size%SymSize != 0 {
		return nil, formatErr(st.Name, 0, "size %d not a multiple of %d", st.Size, SymSize)
	}
	if st.Link == 0 || uint64(st.Link) >= uint64(len(f.Sections)) || f.Sections[st.Link].Type != elf.SHT_STRTAB {
		return nil, formatErr(st.Name, 0, "sh_link %d is not a string table", st.Link)
	}
	strtab := f.SectionData(int(st.Link))
	// SHT_SYMTAB_SHNDX holds the real section index of symbols with SHN_XINDEX.
	var xindex []byte
	for i := range f.Sections {
		if f.Sections[i].Type == elf.SHT_SYMTAB_SHNDX && f.Sections[i].Link == uint32(idx) {
			xindex = f.SectionData(i)
		}
	}
	raw := f.SectionData(idx)
	syms := make([]Symbol, len(raw)/SymSize)
	for i := range syms {
		e := raw[i*SymSize:]
		s := &syms[i]
		nameOff := uint64(f.ByteOrder.Uint32(e))
		s.Info = e[4]
		s.Shndx = uint32(f.ByteOrder.Uint16(e[6:]))
		s.Value = f.ByteOrder.Uint64(e[8:])
		s.Size = f.ByteOrder.Uint64(e[16:])
		if s.Shndx == uint32(elf.SHN_XINDEX) {
			if uint64(i)*4+4 > uint64(len(xindex)) {
				return nil, formatErr(st.Name, uint64(i)*SymSize, "symbol %d: SHN_XINDEX without an index entry", i)
			}
			s.Shndx = f.ByteOrder.Uint32(xindex[i*4:])
		}
		if s.Defined() && uint64(s.Shndx) >= uint64(len(f.Sections)) {
			return nil, formatErr(st.Name, uint64(i)*SymSize, "symbol %d: section index %d out of range", i, s.Shndx)
		}
		if nameOff != 0 {
			n, ok := CString(strtab, nameOff)
			if !ok {
				return nil, formatErr(st.Name, uint64(i)*SymSize, "symbol %d: name at %#x not a NUL-terminated string", i, nameOff)
			}
			s.Name = n
		}
		if s.IsSection() && s.Defined() {
			s.Name = f.Sections[s.Shndx].Name
		}
	}
	return syms, nil
}

// Relocations returns the RELA entries that apply to section target, sorted
// by offset, each checked against the symbol table and the section size.
func (f *File) Relocations(target int) ([]Rela, error) {
	if f.relas == nil {
		f.relas = make(map[int][]Rela)
	}
	if r, ok := f.relas[target]; ok {
		return r, nil
	}
	var out []Rela
	for i := range f.Sections {
		s := &f.Sections[i]
		if s.Type != elf.SHT_RELA || uint64(s.Info) != uint64(target) {
			continue
		}
		r, err := f.ParseRela(i, target)
		if err != nil {
			return nil, err
		}
		out = append(out, r...)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Off < out[b].Off })
	f.relas[target] = out
	return out, nil
}

// ParseRela reads RELA section i, whose entries patch section target:
// exact entry size, symbol indexes in range, each patched field inside
// the target.
func (f *File) ParseRela(i, target int) ([]Rela, error) {
	s := &f.Sections[i]
	if s.Entsize != RelaSize {
		return nil, formatErr(s.Name, 0, "entry size %d, want %d", s.Entsize, RelaSize)
	}
	if s.Size%RelaSize != 0 {
		return nil, formatErr(s.Name, 0, "size %d not a multiple of %d", s.Size, RelaSize)
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil, err
	}
	if syms == nil || uint64(s.Link) >= uint64(len(f.Sections)) || f.Sections[s.Link].Type != elf.SHT_SYMTAB {
		return nil, formatErr(s.Name, 0, "sh_link %d is not the symbol table", s.Link)
	}
	tsize := f.Sections[target].Size
	raw := f.SectionData(i)
	out := make([]Rela, len(raw)/RelaSize)
	for j := range out {
		e := raw[j*RelaSize:]
		info := f.ByteOrder.Uint64(e[8:])
		r := Rela{Off: f.ByteOrder.Uint64(e), Sym: uint32(info >> 32), Type: uint32(info), Addend: int64(f.ByteOrder.Uint64(e[16:]))}
		if uint64(r.Sym) >= uint64(len(syms)) {
			return nil, formatErr(s.Name, uint64(j)*RelaSize, "entry %d: symbol %d out of range (%d symbols)", j, r.Sym, len(syms))
		}
		w := f.relocWidth(r.Type)
		if r.Off > tsize || tsize-r.Off < w {
			return nil, formatErr(s.Name, uint64(j)*RelaSize, "entry %d: offset %#x outside %s (%d bytes)", j, r.Off, f.Sections[target].Name, tsize)
		}
		out[j] = r
	}
	return out, nil
}

// relocWidth is how many bytes a relocation patches; unknown types are
// assumed to patch at least one byte so the offset is still checked.
func (f *File) relocWidth(typ uint32) uint64 {
	switch f.Machine {
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

// IsAbs64 reports whether typ is the machine's 64-bit absolute pointer
// relocation: R_X86_64_64 or R_AARCH64_ABS64.
func (f *File) IsAbs64(typ uint32) bool {
	switch f.Machine {
	case elf.EM_X86_64:
		return elf.R_X86_64(typ) == elf.R_X86_64_64
	case elf.EM_AARCH64:
		return elf.R_AARCH64(typ) == elf.R_AARCH64_ABS64
	}
	return false
}

// RelocName names a relocation type of the module's machine.
func (f *File) RelocName(typ uint32) string {
	var s string
	switch f.Machine {
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

// Ref is where a relocated pointer points: a defined section and offset, or
// an undefined symbol plus addend.
type Ref struct {
	Sec    int
	Off    uint64
	Extern string
}

// String is the symbol name, or section index and offset.
func (r Ref) String() string {
	if r.Extern != "" {
		return r.Extern
	}
	return fmt.Sprintf("section %d+%#x", r.Sec, r.Off)
}

// Target resolves a relocation to the place it points at.
func (f *File) Target(r Rela) (Ref, error) {
	s := &f.syms[r.Sym]
	if !s.Defined() {
		if s.Name == "" {
			return Ref{}, formatErr("", 0, "relocation against undefined unnamed symbol %d", r.Sym)
		}
		if r.Addend != 0 {
			return Ref{Extern: fmt.Sprintf("%s%+#x", s.Name, r.Addend)}, nil
		}
		return Ref{Extern: s.Name}, nil
	}
	off := s.Value + uint64(r.Addend)
	return Ref{Sec: int(s.Shndx), Off: off}, nil
}

// Pointer decodes the 8-byte pointer at off in section sec: the relocation
// that fills it in, or nothing when the bytes are zero (NULL).
func (f *File) Pointer(sec int, off uint64) (Ref, bool, error) {
	b, err := f.Read(sec, off, 8)
	if err != nil {
		return Ref{}, false, err
	}
	rs, err := f.Relocations(sec)
	if err != nil {
		return Ref{}, false, err
	}
	k := sort.Search(len(rs), func(i int) bool { return rs[i].Off >= off })
	if k < len(rs) && rs[k].Off == off {
		if !f.IsAbs64(rs[k].Type) {
			return Ref{}, false, formatErr(f.Sections[sec].Name, off, "pointer relocated by %s, want a 64-bit absolute relocation", f.RelocName(rs[k].Type))
		}
		t, err := f.Target(rs[k])
		return t, err == nil, err
	}
	if f.ByteOrder.Uint64(b) != 0 {
		return Ref{}, false, formatErr(f.Sections[sec].Name, off, "pointer %#x without relocation", f.ByteOrder.Uint64(b))
	}
	return Ref{}, false, nil
}

// maxString bounds strings read through pointers (function and object
// names); longer ones are corrupt input.
const maxString = 4096

// StringAt reads the NUL-terminated string a pointer points to.
func (f *File) StringAt(r Ref) (string, error) {
	if r.Extern != "" {
		return "", formatErr("", 0, "string pointer to undefined symbol %s", r.Extern)
	}
	d := f.SectionData(r.Sec)
	s, ok := CString(d, r.Off)
	if !ok {
		return "", formatErr(f.Sections[r.Sec].Name, r.Off, "not a NUL-terminated string")
	}
	if len(s) > maxString {
		return "", formatErr(f.Sections[r.Sec].Name, r.Off, "string of %d bytes", len(s))
	}
	return s, nil
}

// SymbolAt names the place a pointer points to: a symbol of type typ
// defined there, else section+offset. A local name wins over a global
// alias (the function rather than init_module).
func (f *File) SymbolAt(r Ref, typ elf.SymType) string {
	if r.Extern != "" {
		return r.Extern
	}
	if f.byPlace == nil {
		f.byPlace = make(map[place][]int)
		for i := range f.syms {
			s := &f.syms[i]
			if s.Name != "" && !s.IsSection() && s.Defined() {
				k := place{s.Shndx, s.Value}
				f.byPlace[k] = append(f.byPlace[k], i)
			}
		}
	}
	best := -1
	for _, i := range f.byPlace[place{uint32(r.Sec), r.Off}] {
		s := &f.syms[i]
		if s.Type() != typ {
			continue
		}
		if best < 0 || s.Bind() == elf.STB_LOCAL && f.syms[best].Bind() != elf.STB_LOCAL {
			best = i
		}
	}
	if best >= 0 {
		return f.syms[best].Name
	}
	return fmt.Sprintf("%s+%#x", f.Sections[r.Sec].Name, r.Off)
}

// SymbolIn returns the value of the symbol called name defined in section
// sec.
func (f *File) SymbolIn(sec int, name string) (uint64, bool) {
	for i := range f.syms {
		s := &f.syms[i]
		if s.Name == name && s.Defined() && int(s.Shndx) == sec && !s.IsSection() {
			return s.Value, true
		}
	}
	return 0, false
}

// FunctionStarts are the offsets of the functions defined in code section
// sec, in order. Before Symbols has read the symbols, or when they do not
// read, there are none.
func (f *File) FunctionStarts(sec int) []uint64 {
	var out []uint64
	for _, s := range f.syms {
		if s.Defined() && int(s.Shndx) == sec && s.Type() == elf.STT_FUNC {
			out = append(out, s.Value)
		}
	}
	slices.Sort(out)
	return out
}

// place is where a symbol is defined.
type place struct {
	sec uint32
	off uint64
}
