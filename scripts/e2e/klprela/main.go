// Command klprela turns one relocation section of a livepatch module built
// by Kbuild into a klp relocation section, as kpatch-build and klp-build
// write them, so the e2e guests can reload a patched module on kernels
// with and without the clearing of klp relocations (check rule KLP024).
//
// Usage: klprela FILE OBJECT SECTION
//
// The relocations of SECTION (.rela<SECTION>) may only use undefined
// symbols; each becomes .klp.sym.OBJECT.NAME,0 with st_shndx SHN_LIVEPATCH,
// and the relocation section becomes .klp.rela.OBJECT.<SECTION>, allocated
// and flagged SHF_RELA_LIVEPATCH. The kernel then resolves and applies them
// when OBJECT loads (klp_apply_section_relocs). New strings and the section
// header table are appended to the file; FILE is rewritten in place.
package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

const (
	shfRelaLivepatch = 0x00100000
	shnLivepatch     = 0xff20
	symSize          = 24
	shdrSize         = 64
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: klprela FILE OBJECT SECTION")
		os.Exit(2)
	}
	if err := convert(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintf(os.Stderr, "klprela: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func convert(path, object, section string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return err
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Type != elf.ET_REL {
		return errors.New("not a little-endian 64-bit relocatable object")
	}
	le := binary.LittleEndian
	rela := f.Section(".rela" + section)
	symtab := f.SectionByType(elf.SHT_SYMTAB)
	if rela == nil || symtab == nil || int(symtab.Link) >= len(f.Sections) {
		return fmt.Errorf("no section .rela%s or no symbol table", section)
	}
	strtab := f.Sections[symtab.Link]
	shstrndx := int(le.Uint16(b[0x3e:]))
	if shstrndx >= len(f.Sections) {
		return errors.New("bad e_shstrndx")
	}
	shstr := f.Sections[shstrndx]
	newStr := append([]byte(nil), b[strtab.Offset:strtab.Offset+strtab.Size]...)
	newShstr := append([]byte(nil), b[shstr.Offset:shstr.Offset+shstr.Size]...)
	add := func(tab *[]byte, s string) uint32 {
		off := uint32(len(*tab))
		*tab = append(append(*tab, s...), 0)
		return off
	}
	done := map[uint32]bool{}
	for off := rela.Offset; off+24 <= rela.Offset+rela.Size; off += 24 {
		idx := uint32(le.Uint64(b[off+8:]) >> 32)
		if done[idx] {
			continue
		}
		done[idx] = true
		so := symtab.Offset + uint64(idx)*symSize
		if idx == 0 || so+symSize > symtab.Offset+symtab.Size {
			return fmt.Errorf(".rela%s: relocation %d: bad symbol index %d", section, (off-rela.Offset)/24, idx)
		}
		if shndx := le.Uint16(b[so+6:]); shndx != uint16(elf.SHN_UNDEF) {
			return fmt.Errorf(".rela%s: symbol %d is defined (section %d): only undefined symbols can be klp symbols", section, idx, shndx)
		}
		name, ok := cstring(newStr, le.Uint32(b[so:]))
		if !ok {
			return fmt.Errorf("symbol %d: bad name offset", idx)
		}
		le.PutUint32(b[so:], add(&newStr, fmt.Sprintf(".klp.sym.%s.%s,0", object, name)))
		le.PutUint16(b[so+6:], shnLivepatch)
	}
	if len(done) == 0 {
		return fmt.Errorf(".rela%s has no relocation", section)
	}
	// Appended at the end: the new string tables, then the section
	// headers, each 8-aligned.
	align := func() {
		for len(b)%8 != 0 {
			b = append(b, 0)
		}
	}
	relaIdx := -1
	for i, s := range f.Sections {
		if s == rela {
			relaIdx = i
		}
	}
	shoff := le.Uint64(b[0x28:])
	shdrs := append([]byte(nil), b[shoff:shoff+uint64(len(f.Sections))*shdrSize]...)
	hdr := func(i int) []byte { return shdrs[i*shdrSize : (i+1)*shdrSize] }
	nameOff := add(&newShstr, fmt.Sprintf(".klp.rela.%s.%s", object, section))
	rh := hdr(relaIdx)
	le.PutUint32(rh[0:], nameOff)
	le.PutUint64(rh[8:], le.Uint64(rh[8:])|uint64(elf.SHF_ALLOC)|shfRelaLivepatch)
	align()
	le.PutUint64(hdr(int(symtab.Link))[24:], uint64(len(b)))
	le.PutUint64(hdr(int(symtab.Link))[32:], uint64(len(newStr)))
	b = append(b, newStr...)
	align()
	le.PutUint64(hdr(shstrndx)[24:], uint64(len(b)))
	le.PutUint64(hdr(shstrndx)[32:], uint64(len(newShstr)))
	b = append(b, newShstr...)
	align()
	le.PutUint64(b[0x28:], uint64(len(b))) // e_shoff
	b = append(b, shdrs...)
	tmp := path + ".klprela"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func cstring(tab []byte, off uint32) (string, bool) {
	if int(off) >= len(tab) {
		return "", false
	}
	end := bytes.IndexByte(tab[off:], 0)
	if end < 0 {
		return "", false
	}
	return string(tab[off : int(off)+end]), true
}
