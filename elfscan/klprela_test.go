package elfscan

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/klpack/klpack/internal/elf64"
	"github.com/klpack/klpack/pkg/klp"
)

// TestKlpSymName reads .klp.sym names as the kernel's
// sscanf(".klp.sym.%55[^.].%511[^,],%lu") does, and refuses what it would
// refuse (plus trailing bytes after the position, which no tool writes).
func TestKlpSymName(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name    string
		sym     string
		shndx   uint32
		want    klp.KlpSym
		wantErr string
	}{
		{name: "vmlinux", sym: ".klp.sym.vmlinux.saved_command_line,0", want: klp.KlpSym{Object: "vmlinux", Name: "saved_command_line"}},
		{name: "module", sym: ".klp.sym.kobject_example.foo,0", want: klp.KlpSym{Object: "kobject_example", Name: "foo"}},
		{name: "sympos", sym: ".klp.sym.vmlinux.m_show,2", want: klp.KlpSym{Object: "vmlinux", Name: "m_show", Sympos: 2}},
		{name: "dotted static local", sym: ".klp.sym.vmlinux.reads.0,1", want: klp.KlpSym{Object: "vmlinux", Name: "reads.0", Sympos: 1}},
		{name: "clone", sym: ".klp.sym.vmlinux.foo.isra.0,0", want: klp.KlpSym{Object: "vmlinux", Name: "foo.isra.0"}},
		{name: "largest sympos", sym: ".klp.sym.vmlinux.f,18446744071562067968", want: klp.KlpSym{Object: "vmlinux", Name: "f", Sympos: 18446744071562067968}},
		{name: "object at the limit", sym: ".klp.sym." + long(55) + ".f,0", want: klp.KlpSym{Object: long(55), Name: "f"}},
		{name: "name at the limit", sym: ".klp.sym.vmlinux." + long(511) + ",0", want: klp.KlpSym{Object: "vmlinux", Name: long(511)}},
		{name: "no pos", sym: ".klp.sym.vmlinux.foo", wantErr: "no \",<sympos>\""},
		{name: "empty pos", sym: ".klp.sym.vmlinux.foo,", wantErr: "not a decimal number"},
		{name: "letters in pos", sym: ".klp.sym.vmlinux.foo,1x", wantErr: "not a decimal number"},
		{name: "negative pos", sym: ".klp.sym.vmlinux.foo,-1", wantErr: "not a decimal number"},
		{name: "second comma", sym: ".klp.sym.vmlinux.foo,1,2", wantErr: "not a decimal number"},
		{name: "pos overflows", sym: ".klp.sym.vmlinux.foo,18446744073709551616", wantErr: "out of range"},
		{name: "no object", sym: ".klp.sym.foo,0", wantErr: "no object name"},
		{name: "empty object", sym: ".klp.sym..foo,0", wantErr: "no object name"},
		{name: "empty name", sym: ".klp.sym.vmlinux.,0", wantErr: "empty symbol name"},
		{name: "object too long", sym: ".klp.sym." + long(56) + ".f,0", wantErr: "object name of 56 bytes"},
		{name: "name too long", sym: ".klp.sym.vmlinux." + long(512) + ",0", wantErr: "symbol name of 512 bytes"},
		{name: "not a klp symbol", sym: "foo", wantErr: "not a .klp.sym.<object>.<name>,<sympos> symbol"},
		{name: "empty symbol name", sym: "", wantErr: "not a .klp.sym."},
		{name: "prefix cut short", sym: ".klp.sy", wantErr: "not a .klp.sym."},
		{name: "not SHN_LIVEPATCH", sym: ".klp.sym.vmlinux.foo,0", shndx: 1, wantErr: "want SHN_LIVEPATCH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &elf64.Symbol{Name: tt.sym, Shndx: shnLivepatch}
			if tt.shndx != 0 {
				s.Shndx = tt.shndx
			}
			got, err := klpSym(s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("klpSym(%q) = %+v, %v, want an error with %q", tt.sym, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("klpSym(%q) = %+v, %v, want %+v", tt.sym, got, err, tt.want)
			}
		})
	}
}

// TestKlpRelaOtherSymbol points every .klp.rela entry of the generated
// modules, one at a time, at each of the first symbols of the table (none
// a .klp.sym): the scan refuses the module, naming the section, and
// never panics.
func TestKlpRelaOtherSymbol(t *testing.T) {
	for _, p := range []string{"../testdata/gen/klp-build/ko/klpb_replace.ko", "../testdata/gen/kpatch-build/ko/kpb_module.ko"} {
		orig, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := elf.NewFile(bytes.NewReader(orig))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, s := range f.Sections {
			if !strings.HasPrefix(s.Name, ".klp.rela.") {
				continue
			}
			for e := uint64(0); e < s.Size/24; e++ {
				for sym := uint32(0); sym < 4; sym++ {
					b := bytes.Clone(orig)
					info := s.Offset + e*24 + 8
					binary.LittleEndian.PutUint32(b[info+4:], sym)
					_, err := scanBytes(b, nil)
					if _, ok := errors.AsType[*FormatError](err); !ok || !strings.Contains(err.Error(), s.Name) {
						t.Fatalf("%s: %s entry %d → symbol %d: err = %v, want a FormatError naming the section", p, s.Name, e, sym, err)
					}
					n++
				}
			}
		}
		if n == 0 {
			t.Fatalf("%s: no .klp.rela entries", p)
		}
	}
}

// TestKlpRelaSection builds one .klp.rela section with one entry and
// checks it as the kernel would: the object name up to its 55-byte
// limit, SHF_RELA_LIVEPATCH, a .klp.sym symbol in SHN_LIVEPATCH, and no
// vmlinux symbol in a module's section.
func TestKlpRelaSection(t *testing.T) {
	long := strings.Repeat("m", klpMaxObject)
	tests := []struct {
		name    string
		obj     string // of the section
		sym     string // the .klp.sym name the entry names
		flags   elf.SectionFlag
		shndx   int
		wantErr string
		wantObj string
	}{
		{name: "vmlinux", obj: "vmlinux", sym: ".klp.sym.vmlinux.foo,1", wantObj: "vmlinux"},
		{name: "module symbol in a module section", obj: "mod", sym: ".klp.sym.mod.foo,1", wantObj: "mod"},
		{name: "object at the limit", obj: long, sym: ".klp.sym." + long + ".foo,1", wantObj: long},
		{name: "object past the limit", obj: long + "m", sym: ".klp.sym.vmlinux.foo,1", wantErr: "object name of 56 bytes"},
		{name: "vmlinux symbol in a module section", obj: "mod", sym: ".klp.sym.vmlinux.foo,1", wantErr: "references vmlinux symbol foo"},
		{name: "no SHF_RELA_LIVEPATCH", obj: "vmlinux", sym: ".klp.sym.vmlinux.foo,1", flags: elf.SHF_ALLOC, wantErr: "lack SHF_RELA_LIVEPATCH"},
		{name: "symbol outside SHN_LIVEPATCH", obj: "vmlinux", sym: ".klp.sym.vmlinux.foo,1", shndx: 3, wantErr: "want SHN_LIVEPATCH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flags, shndx := tt.flags, tt.shndx
			if flags == 0 {
				flags = elf.SHF_ALLOC | shfRelaLivepatch
			}
			if shndx == 0 {
				shndx = shnLivepatch
			}
			f := buildELF(t, []testSection{
				{name: ".text", typ: elf.SHT_PROGBITS, body: make([]byte, 16)},
				{name: klpRelaPrefix + tt.obj + "..text", typ: elf.SHT_RELA, flags: flags, body: rela(0, 1, elf.R_X86_64_64, 0), link: 1, info: 3, entsize: elf64.RelaSize},
			}, []testSymbol{{name: tt.sym, info: elf.STT_FUNC, bind: elf.STB_GLOBAL, shndx: shndx}})
			got, err := klpRela(f, 4)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("klpRela() = %+v, %v, want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Object != tt.wantObj || got.Target != ".text" || got.Count != 1 {
				t.Fatalf("klpRela() = %+v, %v, want object %s, target .text, 1 entry", got, err, tt.wantObj)
			}
		})
	}
}
