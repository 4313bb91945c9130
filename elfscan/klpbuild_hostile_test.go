package elfscan

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"math"
	"testing"

	"github.com/klpack/klpack/internal/elf64"
)

// klpBuildHostileBase is the klp-build module with a module object, .klp.rela
// sections and .klp.sym symbols: every klp-build path runs on it.
const klpBuildHostileBase = "klpb_kobject"

type klpHostileCase struct {
	name     string
	data     []byte
	mustFail bool
}

func klpBuildHostileCases(t testing.TB) []klpHostileCase {
	base := readKlpBuild(t, klpBuildHostileBase)
	m := newMutator(t, base)
	le := binary.LittleEndian
	u64 := func(v uint64) []byte { return le.AppendUint64(nil, v) }
	u32 := func(v uint32) []byte { return le.AppendUint32(nil, v) }

	objs := m.index(".init.klp_objects")
	funcs := m.index(".init.klp_funcs")
	symtab := m.firstOfType(elf.SHT_SYMTAB)
	strtab := int(m.f.Sections[symtab].Link)
	shstrtab := int(le.Uint16(base[62:]))
	var klpRela int
	for i, s := range m.f.Sections {
		if bytes.HasPrefix([]byte(s.Name), []byte(klpRelaPrefix)) {
			klpRela = i
			break
		}
	}
	if klpRela == 0 {
		t.Fatalf("%s has no .klp.rela section", klpBuildHostileBase)
	}
	relaOf := func(target int) elf64.Section {
		for _, s := range m.f.Sections {
			if s.Type == elf.SHT_RELA && int(s.Info) == target && s.Flags&shfRelaLivepatch == 0 {
				return s
			}
		}
		t.Fatalf("no relocations for %s", m.f.Sections[target].Name)
		return elf64.Section{}
	}
	// relaAt is the file offset of the relocation entry that patches off
	// of the section rs applies to.
	relaAt := func(rs elf64.Section, off uint64) uint64 {
		for e := rs.Off; e < rs.Off+rs.Size; e += elf64.RelaSize {
			if le.Uint64(base[e:]) == off {
				return e
			}
		}
		t.Fatalf("no relocation at %#x of section %d", off, rs.Info)
		return 0
	}
	// strAt is the file offset of s in section sec.
	strAt := func(sec int, s string) uint64 {
		d := base[m.f.Sections[sec].Off : m.f.Sections[sec].Off+m.f.Sections[sec].Size]
		i := bytes.Index(d, []byte(s))
		if i < 0 {
			t.Fatalf("no %q in section %d", s, sec)
		}
		return m.f.Sections[sec].Off + uint64(i)
	}
	// A .klp.sym symbol the module holds, and its symbol table entry.
	syms, err := m.f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	klpSymIdx := -1
	for i := range syms {
		if bytes.HasPrefix([]byte(syms[i].Name), []byte(klpSymPrefix)) {
			klpSymIdx = i
			break
		}
	}
	if klpSymIdx < 0 {
		t.Fatalf("%s has no .klp.sym symbol", klpBuildHostileBase)
	}
	symName := syms[klpSymIdx].Name
	symEntry := m.f.Sections[symtab].Off + uint64(klpSymIdx)*elf64.SymSize
	comma := strAt(strtab, symName) + uint64(bytes.IndexByte([]byte(symName), ','))

	var cs []klpHostileCase
	add := func(name string, b []byte, mustFail bool) { cs = append(cs, klpHostileCase{name, b, mustFail}) }

	o := m.f.Sections[objs]
	for _, sec := range []int{objs, funcs, klpRela} {
		s := m.f.Sections[sec]
		add("truncated at start of "+s.Name, base[:s.Off], true)
		add("truncated inside "+s.Name, base[:s.Off+s.Size/2], true)
		add(s.Name+" offset past EOF", m.set(base, sec, shOffset, uint64(len(base))), true)
		add(s.Name+" size near 2^64", m.set(base, sec, shSize, math.MaxUint64), true)
	}
	add("objects size not a multiple", m.set(base, objs, shSize, o.Size-8), true)
	add("objects size zero", m.set(base, objs, shSize, 0), true)
	add("objects NOBITS", m.set(base, objs, shType, uint64(elf.SHT_NOBITS)), true)
	add("objects size one entry short", m.set(base, objs, shSize, o.Size-objExtSize), o.Size == objExtSize)
	add("nr_funcs huge", poke(base, o.Off+objExtNrFuncs, u32(math.MaxUint32)), true)
	add("nr_funcs past the funcs section", poke(base, o.Off+objExtNrFuncs, u32(uint32(m.f.Sections[funcs].Size/funcExtSize+1))), true)
	add("nr_funcs zero", poke(base, o.Off+objExtNrFuncs, u32(0)), false)
	add("funcs size cut", m.set(base, funcs, shSize, 8), true)
	ro := relaOf(objs)
	fr := relaAt(ro, objExtFuncs)
	add("funcs pointer relocation of wrong type", poke(base, fr+8, u64(le.Uint64(base[fr+8:])&^0xffffffff|uint64(elf.R_X86_64_PC32))), true)
	add("funcs pointer addend past its section", poke(base, fr+16, u64(math.MaxUint64-100)), true)
	rf := relaOf(funcs)
	on := relaAt(rf, funcExtOldName)
	add("old_name relocation of wrong type", poke(base, on+8, u64(le.Uint64(base[on+8:])&^0xffffffff|uint64(elf.R_X86_64_PC32))), true)
	add("old_name relocation moved off its field", poke(base, on, u64(funcExtSympos)), true)
	nf := relaAt(rf, funcExtNewFunc)
	add("new_func relocation moved off its field", poke(base, nf, u64(funcExtSympos)), true)

	kr := m.f.Sections[klpRela]
	add(".klp.rela without SHF_RELA_LIVEPATCH", m.set(base, klpRela, 8, uint64(kr.Flags)&^shfRelaLivepatch), true)
	add(".klp.rela as PROGBITS", m.set(base, klpRela, shType, uint64(elf.SHT_PROGBITS)), true)
	add(".klp.rela entsize zero", m.set(base, klpRela, shEntsize, 0), true)
	add(".klp.rela size not a multiple", m.set(base, klpRela, shSize, kr.Size-5), true)
	add(".klp.rela symbol out of range", poke(base, kr.Off+8, u64(uint64(90000)<<32|uint64(elf.R_X86_64_64))), true)
	add(".klp.rela entry against a plain symbol", poke(base, kr.Off+12, u32(1)), true)
	add(".klp.rela offset outside its target", poke(base, kr.Off, u64(m.f.Sections[kr.Info].Size)), true)
	name := strAt(shstrtab, kr.Name)
	noDots := bytes.ReplaceAll([]byte(kr.Name[len(klpRelaPrefix):]), []byte("."), []byte("_"))
	add(".klp.rela name without object separator", poke(base, name+uint64(len(klpRelaPrefix)), noDots), true)
	add(".klp.sym without ,pos", poke(base, comma, []byte{'_'}), true)
	add(".klp.sym bad pos", poke(base, comma+1, []byte{'z'}), true)
	add(".klp.sym not SHN_LIVEPATCH", poke(base, symEntry+6, []byte{1, 0}), true)
	add(".klp.sym section SHN_UNDEF", poke(base, symEntry+6, []byte{0, 0}), true)
	return cs
}

// TestKlpBuildHostile feeds corrupt klp-build modules to the scanner
// (scanHostile); the cases that cannot be read correctly must be refused.
func TestKlpBuildHostile(t *testing.T) {
	for _, tc := range klpBuildHostileCases(t) {
		t.Run(tc.name, func(t *testing.T) { scanHostile(t, tc.data, tc.mustFail) })
	}
}
