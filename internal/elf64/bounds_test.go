package elf64

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"testing"
)

// tinyELF is the layout of a minimal x86_64 relocatable file: .text, one
// function symbol in it, a relocation of .text against that symbol and an
// SHT_SYMTAB_SHNDX table. Each field is one a test sets at or past a
// limit.
type tinyELF struct {
	shnum, shstrndx uint16
	textSize        uint64 // .text's sh_size (16 bytes are there)
	symShndx        uint16 // the function symbol's st_shndx
	xindexSize      uint64 // bytes of SHT_SYMTAB_SHNDX (8: an entry per symbol)
	relaSym         uint32 // the symbol the relocation names
	relaOff         uint64 // where in .text it patches 8 bytes
	relaInfo        uint32 // the section the relocations are for
}

const tinySections = 7

func newTinyELF() tinyELF {
	return tinyELF{shnum: tinySections, shstrndx: 5, textSize: 16, symShndx: 1, xindexSize: 8, relaSym: 1, relaOff: 8, relaInfo: 1}
}

func (e tinyELF) bytes() []byte {
	le := binary.LittleEndian
	const (
		textOff   = 64
		symOff    = 80
		strOff    = 128
		relaOff   = 136
		xindexOff = 160
		shstrOff  = 168
	)
	shstr := "\x00.text\x00.symtab\x00.strtab\x00.rela.text\x00.shstrtab\x00.symtab_shndx\x00"
	shoff := uint64(shstrOff + len(shstr))
	shoff = (shoff + 7) &^ 7
	b := make([]byte, shoff+tinySections*ShdrSize)
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS], b[elf.EI_DATA], b[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	le.PutUint16(b[16:], uint16(elf.ET_REL))
	le.PutUint16(b[18:], uint16(elf.EM_X86_64))
	le.PutUint64(b[40:], shoff)
	le.PutUint16(b[58:], ShdrSize)
	le.PutUint16(b[60:], e.shnum)
	le.PutUint16(b[62:], e.shstrndx)
	// Symbol 1: foo, a global function in .text.
	sym := b[symOff+SymSize:]
	le.PutUint32(sym, 1)
	sym[4] = byte(elf.STB_GLOBAL)<<4 | byte(elf.STT_FUNC)
	le.PutUint16(sym[6:], e.symShndx)
	le.PutUint64(sym[16:], 16)
	if e.symShndx == uint16(elf.SHN_XINDEX) {
		le.PutUint32(b[xindexOff+4:], 1)
	}
	copy(b[strOff:], "\x00foo\x00")
	le.PutUint64(b[relaOff:], e.relaOff)
	le.PutUint64(b[relaOff+8:], uint64(e.relaSym)<<32|uint64(elf.R_X86_64_64))
	copy(b[shstrOff:], shstr)
	shdr := func(i int, name uint32, typ elf.SectionType, off, size uint64, link, info uint32, entsize uint64) {
		h := b[shoff+uint64(i)*ShdrSize:]
		le.PutUint32(h, name)
		le.PutUint32(h[4:], uint32(typ))
		le.PutUint64(h[24:], off)
		le.PutUint64(h[32:], size)
		le.PutUint32(h[40:], link)
		le.PutUint32(h[44:], info)
		le.PutUint64(h[56:], entsize)
	}
	shdr(1, 1, elf.SHT_PROGBITS, textOff, e.textSize, 0, 0, 0)
	shdr(2, 7, elf.SHT_SYMTAB, symOff, 2*SymSize, 3, 1, SymSize)
	shdr(3, 15, elf.SHT_STRTAB, strOff, 5, 0, 0, 0)
	shdr(4, 23, elf.SHT_RELA, relaOff, RelaSize, 2, e.relaInfo, RelaSize)
	shdr(5, 34, elf.SHT_STRTAB, shstrOff, uint64(len(shstr)), 0, 0, 0)
	shdr(6, 44, elf.SHT_SYMTAB_SHNDX, xindexOff, e.xindexSize, 2, 0, 4)
	return b
}

// TestBounds sets each index or size the reader checks at its limit, and
// one short of it: the first must be refused with a *FormatError, the
// second read.
func TestBounds(t *testing.T) {
	tests := []struct {
		name string
		edit func(e *tinyELF)
		ok   bool
	}{
		{"as built", func(*tinyELF) {}, true},
		{"section ends at end of file", func(e *tinyELF) { e.textSize = uint64(len(newTinyELF().bytes())) - 64 }, true},
		{"section one byte past end of file", func(e *tinyELF) { e.textSize = uint64(len(newTinyELF().bytes())) - 63 }, false},
		{"section headers past end of file", func(e *tinyELF) { e.shnum = tinySections + 1 }, false},
		{"name table is the last section", func(e *tinyELF) { e.shstrndx = tinySections - 1 }, false}, // type SYMTAB_SHNDX
		{"name table index = section count", func(e *tinyELF) { e.shstrndx = tinySections }, false},
		{"relocations for the last section", func(e *tinyELF) { e.relaInfo = tinySections - 1 }, true},
		{"relocations for section = count", func(e *tinyELF) { e.relaInfo = tinySections }, false},
		{"symbol in the last section", func(e *tinyELF) { e.symShndx = tinySections - 1 }, true},
		{"symbol in section = count", func(e *tinyELF) { e.symShndx = tinySections }, false},
		{"SHN_XINDEX with its entry", func(e *tinyELF) { e.symShndx = uint16(elf.SHN_XINDEX) }, true},
		{"SHN_XINDEX, entry cut short", func(e *tinyELF) { e.symShndx, e.xindexSize = uint16(elf.SHN_XINDEX), 6 }, false},
		{"relocation of the last symbol", func(e *tinyELF) { e.relaSym = 1 }, true},
		{"relocation of symbol = count", func(e *tinyELF) { e.relaSym = 2 }, false},
		{"relocation ending at end of section", func(e *tinyELF) { e.relaOff = 8 }, true},
		{"relocation one byte past the section", func(e *tinyELF) { e.relaOff = 9 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTinyELF()
			tt.edit(&e)
			f, err := Parse(e.bytes())
			if err == nil {
				_, err = f.Symbols()
			}
			if err == nil {
				_, err = f.Relocations(1)
			}
			if tt.ok && err != nil {
				t.Fatalf("read = %v, want no error", err)
			}
			if !tt.ok {
				if _, ok := errors.AsType[*FormatError](err); !ok {
					t.Fatalf("read = %v, want a *FormatError", err)
				}
			}
		})
	}
}

// TestReadBounds: Read returns exactly the bytes inside the section.
func TestReadBounds(t *testing.T) {
	f, err := Parse(newTinyELF().bytes())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		off, n uint64
		ok     bool
	}{
		{0, 16, true}, {8, 8, true}, {16, 0, true},
		{9, 8, false}, {0, 17, false}, {17, 0, false}, {1, ^uint64(0), false},
	}
	for _, tt := range tests {
		b, err := f.Read(1, tt.off, tt.n)
		if ok := err == nil; ok != tt.ok || ok && uint64(len(b)) != tt.n {
			t.Errorf("Read(.text, %d, %d) = %d bytes, %v; want ok=%v", tt.off, tt.n, len(b), err, tt.ok)
		}
	}
}
