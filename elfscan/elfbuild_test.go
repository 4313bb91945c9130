package elfscan

import (
	"debug/elf"
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/klpack/klpack/internal/elf64"
	"github.com/klpack/klpack/pkg/klp"
)

// testSection is a section of a test ELF file; link and info are section
// indexes (the symbol table is always section 1, after the null section).
type testSection struct {
	name       string
	typ        elf.SectionType
	flags      elf.SectionFlag
	body       []byte
	size       int // NOBITS sections: their size
	link, info int
	entsize    int
}

// testSymbol is a symbol of a test ELF file; shndx indexes the sections.
type testSymbol struct {
	name  string
	info  elf.SymType
	bind  elf.SymBind
	shndx int
	value uint64
}

// buildELF lays out a little-endian x86_64 relocatable file: the header,
// the symbol table (section 1), its string table (2), the given sections
// from index 3, the section names last, then the section headers.
func buildELF(t testing.TB, secs []testSection, syms []testSymbol) *elf64.File {
	t.Helper()
	le := binary.LittleEndian
	strtab, symtab := []byte{0}, make([]byte, elf64.SymSize)
	for _, s := range syms {
		e := le.AppendUint32(nil, uint32(len(strtab)))
		e = append(e, byte(s.bind)<<4|byte(s.info), 0)
		e = le.AppendUint16(e, uint16(s.shndx))
		e = le.AppendUint64(e, s.value)
		symtab = append(symtab, le.AppendUint64(e, 0)...)
		strtab = append(append(strtab, s.name...), 0)
	}
	all := append([]testSection{
		{},
		{name: ".symtab", typ: elf.SHT_SYMTAB, body: symtab, link: 2, entsize: elf64.SymSize},
		{name: ".strtab", typ: elf.SHT_STRTAB, body: strtab},
	}, secs...)
	names := "\x00"
	for _, s := range all[1:] {
		names += s.name + "\x00"
	}
	names += ".shstrtab\x00"
	all = append(all, testSection{name: ".shstrtab", typ: elf.SHT_STRTAB, body: []byte(names)})
	b := make([]byte, 64)
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS], b[elf.EI_DATA], b[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	le.PutUint16(b[16:], uint16(elf.ET_REL))
	le.PutUint16(b[18:], uint16(elf.EM_X86_64))
	var hdrs []byte
	for _, s := range all {
		off, size := len(b), len(s.body)
		if s.typ == elf.SHT_NOBITS {
			size = s.size
		} else {
			b = append(b, s.body...)
		}
		e := make([]byte, elf64.ShdrSize)
		if s.name != "" {
			le.PutUint32(e, uint32(strings.Index(names, "\x00"+s.name+"\x00")+1))
		}
		le.PutUint32(e[4:], uint32(s.typ))
		le.PutUint64(e[8:], uint64(s.flags))
		le.PutUint64(e[24:], uint64(off))
		le.PutUint64(e[32:], uint64(size))
		le.PutUint32(e[40:], uint32(s.link))
		le.PutUint32(e[44:], uint32(s.info))
		le.PutUint64(e[56:], uint64(s.entsize))
		hdrs = append(hdrs, e...)
	}
	le.PutUint64(b[40:], uint64(len(b)))
	le.PutUint16(b[52:], 64)
	le.PutUint16(b[58:], elf64.ShdrSize)
	le.PutUint16(b[60:], uint16(len(all)))
	le.PutUint16(b[62:], uint16(len(all)-1))
	f, err := elf64.Parse(append(b, hdrs...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Symbols(); err != nil {
		t.Fatal(err)
	}
	return f
}

// rela is one Elf64_Rela entry.
func rela(off uint64, sym int, typ elf.R_X86_64, addend int64) []byte {
	le := binary.LittleEndian
	e := le.AppendUint64(nil, off)
	e = le.AppendUint64(e, uint64(sym)<<32|uint64(typ))
	return le.AppendUint64(e, uint64(addend))
}

// TestX86CalleeSafe walks callees without function symbols, as in a
// module stripped with strip --strip-unneeded: the code at .text+0 is what
// control flow reaches from there, and it must not name the static at
// .data+0 that holds the patch.
func TestX86CalleeSafe(t *testing.T) {
	const text, data = 3, 4                     // section indexes, after the symbol and string tables
	lea := []byte{0x48, 0x8d, 0x05, 0, 0, 0, 0} // lea 0x0(%rip),%rax
	ret := []byte{0xc3}
	tests := []struct {
		name  string
		code  []byte
		relas []byte
		want  string // "" or a part of the reason
	}{
		{"return", ret, nil, ""},
		{"uses the holder", append(slices.Clone(lea), ret...), rela(3, 1, elf.R_X86_64_PC32, -4), "uses the variable holding the patch"},
		{"uses it past a branch", slices.Concat([]byte{0x74, 0x01}, ret, lea, ret), rela(6, 1, elf.R_X86_64_PC32, -4), "uses the variable holding the patch"},
		{"dead code after a return", slices.Concat(ret, lea, ret), rela(4, 1, elf.R_X86_64_PC32, -4), ""},
		{"calls an external function", slices.Concat([]byte{0xe8, 0, 0, 0, 0}, ret), rela(1, 2, elf.R_X86_64_PLT32, -4), ""},
		{"calls through a pointer", slices.Concat([]byte{0xff, 0xd0}, ret), nil, "through a pointer"},
		{"jumps through a pointer", []byte{0xff, 0xe0}, nil, "through a pointer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := buildELF(t, []testSection{
				{name: ".text", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_EXECINSTR, body: tt.code},
				{name: ".data", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_WRITE, body: make([]byte, 16)},
				{name: ".rela.text", typ: elf.SHT_RELA, body: tt.relas, link: 1, info: text, entsize: elf64.RelaSize},
			}, []testSymbol{
				{info: elf.STT_SECTION, shndx: data},
				{name: "printk", bind: elf.STB_GLOBAL},
			})
			got := x86CalleeSafe(f, elf64.Ref{Sec: text}, true, []elf64.Ref{{Sec: data}})
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("x86CalleeSafe = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestScanCodeX86 runs the x86 scan of hand-written modules over small
// init functions: movb $1 into patch.replace (the patch at .data+0), then
// what the case puts between the store and the call, then the patch into
// %rdi and a tail call to klp_enable_patch.
func TestScanCodeX86(t *testing.T) {
	const text, data = 3, 4 // section indexes, after the symbol and string tables
	l := klpLayout64
	storeOne := []byte{0xc6, 0x05, 0, 0, 0, 0, 1}  // movb $1, 0x0(%rip)
	setRDI := []byte{0x48, 0xc7, 0xc7, 0, 0, 0, 0} // mov $0x0, %rdi
	jmp := []byte{0xe9, 0, 0, 0, 0}                // jmp klp_enable_patch
	tests := []struct {
		name    string
		between []byte
		relas   func(at uint64) []byte // relocations of the instructions between, at their offset
		replace bool
		source  string
	}{
		{"constant", nil, nil, true, klp.ReplaceInit},
		{"constant before a branch target", []byte{0x74, 0x00}, nil, false, klp.ReplaceUnknown},   // je .+2
		{"store the scan cannot place", []byte{0x88, 0x04, 0x0b}, nil, false, klp.ReplaceUnknown}, // mov %al,(%rbx,%rcx,1)
		{"external call", []byte{0xe8, 0, 0, 0, 0}, func(at uint64) []byte { return rela(at+1, 3, elf.R_X86_64_PLT32, -4) }, true, klp.ReplaceInit},
		// xorb $1, 0x0(%rip) into replace: an instruction the scan does
		// not model still writes memory, so the constant is no longer known.
		{"unmodelled write to replace", []byte{0x80, 0x35, 0, 0, 0, 0, 1}, func(at uint64) []byte { return rela(at+2, 1, elf.R_X86_64_PC32, int64(l.patchReplace)-5) }, false, klp.ReplaceUnknown},
		{"indirect call", []byte{0xff, 0xd0}, nil, false, klp.ReplaceUnknown}, // call *%rax
		{"patch address to memory", slices.Concat(setRDI, []byte{0x48, 0x89, 0x3b}), func(at uint64) []byte { return rela(at+3, 1, elf.R_X86_64_32S, 0) }, false, klp.ReplaceUnknown}, // mov %rdi,(%rbx)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := slices.Concat(storeOne, tt.between, setRDI, jmp)
			// The store's displacement ends 5 bytes before the
			// instruction does (the immediate follows it).
			relas := rela(2, 1, elf.R_X86_64_PC32, int64(l.patchReplace)-5)
			if tt.relas != nil {
				relas = append(relas, tt.relas(uint64(len(storeOne)))...)
			}
			at := uint64(len(storeOne) + len(tt.between))
			relas = append(relas, rela(at+3, 1, elf.R_X86_64_32S, 0)...)
			relas = append(relas, rela(at+uint64(len(setRDI))+1, 2, elf.R_X86_64_PLT32, -4)...)
			f := buildELF(t, []testSection{
				{name: ".init.text", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_EXECINSTR, body: code},
				{name: ".data", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_WRITE, body: make([]byte, 0x100)},
				{name: ".rela.init.text", typ: elf.SHT_RELA, body: relas, link: 1, info: text, entsize: elf64.RelaSize},
			}, []testSymbol{
				{info: elf.STT_SECTION, shndx: data},
				{name: "klp_enable_patch", bind: elf.STB_GLOBAL},
				{name: "printk", bind: elf.STB_GLOBAL},
			})
			rs, err := f.Relocations(text)
			if err != nil {
				t.Fatal(err)
			}
			calls, err := scanCode(f, text, rs, 2)
			if err != nil || len(calls) != 1 {
				t.Fatalf("scanCode = %v, %v; want one call", calls, err)
			}
			p := &klp.Patch{ReplaceSource: klp.ReplaceStatic}
			if err := initReplace(f, &l, p, calls[0], nil); err != nil {
				t.Fatal(err)
			}
			if p.Replace != tt.replace || p.ReplaceSource != tt.source {
				t.Errorf("replace = %v from %q (%s), want %v from %q", p.Replace, p.ReplaceSource, p.ReplaceHint, tt.replace, tt.source)
			}
		})
	}
}
