package elfscan

import (
	"cmp"
	"debug/elf"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/klpack/klpack/internal/elf64"
	"github.com/klpack/klpack/pkg/klp"
)

// A livepatch module of any flavour may reference symbols of the objects it
// patches that no export table offers (static functions and variables). The
// tools write those references in a form only the livepatch core resolves,
// when the patch's object is loaded:
//
//   - relocation sections named .klp.rela.<object>.<section>, flagged
//     SHF_RELA_LIVEPATCH, whose entries patch <section> of the module;
//   - the symbols they use, named .klp.sym.<object>.<name>,<sympos> and
//     defined in section SHN_LIVEPATCH.
//
// The kernel parses both names with sscanf: the object is at most 55
// bytes up to the first '.', the symbol at most 511 bytes up to the ','.
// klpack reads them the same way, so a name the kernel would refuse is a
// FormatError here too.

const (
	klpRelaPrefix = ".klp.rela."
	klpSymPrefix  = ".klp.sym."
	// shfRelaLivepatch is SHF_RELA_LIVEPATCH from include/uapi/linux/elf.h.
	shfRelaLivepatch = 0x00100000
	// shnLivepatch is SHN_LIVEPATCH: the section index of .klp.sym symbols.
	shnLivepatch = 0xff20
	// The field widths of the kernel's sscanf formats.
	klpMaxObject = 55
	klpMaxSymbol = 511
)

// klpRefs reads every .klp.rela section and .klp.sym symbol of f, sorted.
func klpRefs(f *elf64.File) ([]klp.KlpRela, []klp.KlpSym, error) {
	var relas []klp.KlpRela
	for i := range f.Sections {
		s := &f.Sections[i]
		if !strings.HasPrefix(s.Name, klpRelaPrefix) {
			continue
		}
		r, err := klpRela(f, i)
		if err != nil {
			return nil, nil, err
		}
		relas = append(relas, r)
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil, nil, err
	}
	var ksyms []klp.KlpSym
	seen := make(map[klp.KlpSym]bool)
	for i := range syms {
		if !strings.HasPrefix(syms[i].Name, klpSymPrefix) {
			continue
		}
		ks, err := klpSym(&syms[i])
		if err != nil {
			return nil, nil, formatErr(".symtab", uint64(i)*elf64.SymSize, "symbol %d: %v", i, err)
		}
		if !seen[ks] {
			seen[ks] = true
			ksyms = append(ksyms, ks)
		}
	}
	slices.SortFunc(relas, func(a, b klp.KlpRela) int { return strings.Compare(a.Section, b.Section) })
	slices.SortFunc(ksyms, func(a, b klp.KlpSym) int {
		return cmp.Or(strings.Compare(a.Object, b.Object), strings.Compare(a.Name, b.Name), cmp.Compare(a.Sympos, b.Sympos))
	})
	return relas, ksyms, nil
}

// klpRela checks one .klp.rela section as the kernel's
// klp_write_section_relocs and apply_relocate_add would see it.
func klpRela(f *elf64.File, i int) (klp.KlpRela, error) {
	s := &f.Sections[i]
	rest := s.Name[len(klpRelaPrefix):]
	obj, _, ok := strings.Cut(rest, ".")
	if !ok || obj == "" {
		return klp.KlpRela{}, formatErr(s.Name, 0, "no object name before a '.'")
	}
	if len(obj) > klpMaxObject {
		return klp.KlpRela{}, formatErr(s.Name, 0, "object name of %d bytes, the kernel reads at most %d", len(obj), klpMaxObject)
	}
	if s.Type != elf.SHT_RELA {
		return klp.KlpRela{}, formatErr(s.Name, 0, "type %v, want SHT_RELA", s.Type)
	}
	if s.Flags&shfRelaLivepatch == 0 {
		return klp.KlpRela{}, formatErr(s.Name, 0, "flags %#x lack SHF_RELA_LIVEPATCH", uint64(s.Flags))
	}
	// parseRela checks entry size, symbol indexes and offsets against
	// the target section.
	rs, err := f.ParseRela(i, int(s.Info))
	if err != nil {
		return klp.KlpRela{}, err
	}
	// ParseRela read the symbols and checked every entry's index.
	syms, err := f.Symbols()
	if err != nil {
		return klp.KlpRela{}, err
	}
	// klp_resolve_symbols (kernel/livepatch/core.c), which
	// klp_write_section_relocs calls for every .klp.rela section, refuses
	// with -EINVAL an entry whose symbol is not a well-formed .klp.sym,
	// and an entry of a module's section (.klp.rela.<module>.*) whose
	// symbol names vmlinux: such relocations must come from exports.
	for j, r := range rs {
		ks, err := klpSym(&syms[r.Sym])
		if err != nil {
			return klp.KlpRela{}, formatErr(s.Name, uint64(j)*elf64.RelaSize, "entry %d: %v", j, err)
		}
		if obj != "vmlinux" && ks.Object == "vmlinux" {
			return klp.KlpRela{}, formatErr(s.Name, uint64(j)*elf64.RelaSize, "entry %d: a section for %s references vmlinux symbol %s", j, obj, ks.Name)
		}
	}
	return klp.KlpRela{
		Section: s.Name,
		Object:  obj,
		Target:  f.Sections[s.Info].Name,
		Count:   len(rs),
	}, nil
}

// klpSym parses ".klp.sym.<object>.<name>,<sympos>".
func klpSym(s *elf64.Symbol) (klp.KlpSym, error) {
	// The kernel's sscanf(".klp.sym.%55[^.].%511[^,],%lu") wants the
	// prefix: a .klp.rela entry may point at any symbol.
	rest, ok := strings.CutPrefix(s.Name, klpSymPrefix)
	if !ok {
		return klp.KlpSym{}, fmt.Errorf("%q: not a %s<object>.<name>,<sympos> symbol", s.Name, klpSymPrefix)
	}
	obj, after, ok := strings.Cut(rest, ".")
	if !ok || obj == "" {
		return klp.KlpSym{}, fmt.Errorf("%s: no object name before a '.'", s.Name)
	}
	if len(obj) > klpMaxObject {
		return klp.KlpSym{}, fmt.Errorf("%s: object name of %d bytes, the kernel reads at most %d", s.Name, len(obj), klpMaxObject)
	}
	// The kernel's %511[^,] ends the name at the first ','.
	k := strings.IndexByte(after, ',')
	if k < 0 {
		return klp.KlpSym{}, fmt.Errorf("%s: no \",<sympos>\" after the name", s.Name)
	}
	name, pos := after[:k], after[k+1:]
	if name == "" {
		return klp.KlpSym{}, fmt.Errorf("%s: empty symbol name", s.Name)
	}
	if len(name) > klpMaxSymbol {
		return klp.KlpSym{}, fmt.Errorf("%s: symbol name of %d bytes, the kernel reads at most %d", s.Name, len(name), klpMaxSymbol)
	}
	// Digits only: the kernel's %lu would also take a sign, spaces or
	// trailing bytes, which no tool writes and which hide a corrupt name.
	if pos == "" || strings.TrimLeft(pos, "0123456789") != "" {
		return klp.KlpSym{}, fmt.Errorf("%s: sympos %q is not a decimal number", s.Name, pos)
	}
	n, err := strconv.ParseUint(pos, 10, 64)
	if err != nil {
		return klp.KlpSym{}, fmt.Errorf("%s: sympos %q: out of range", s.Name, pos)
	}
	if s.Shndx != shnLivepatch {
		// The kernel requires it of every symbol a .klp.rela entry uses.
		return klp.KlpSym{}, fmt.Errorf("%s: section index %#x, want SHN_LIVEPATCH (%#x)", s.Name, s.Shndx, shnLivepatch)
	}
	return klp.KlpSym{Object: obj, Name: name, Sympos: n}, nil
}
