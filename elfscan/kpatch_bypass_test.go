package elfscan

import (
	"debug/elf"
	"slices"
	"testing"

	"github.com/klpack/klpack/internal/elf64"
)

// TestKpatchStoresBypass runs the linear scan of kpatch-build init code
// over small functions: allocate the patch, store replace = 1 at +0x18,
// then what the case puts around the store, then a tail call to
// klp_enable_patch. The store is trusted only when every path to the
// call passes it.
func TestKpatchStoresBypass(t *testing.T) {
	const text = 3                                                       // section index, after the symbol and string tables
	call := []byte{0xe8, 0, 0, 0, 0}                                     // call kzalloc
	toRDI := []byte{0x48, 0x89, 0xc7}                                    // mov %rax,%rdi
	store := []byte{0xc6, 0x47, 0x18, 0x01}                              // movb $1,0x18(%rdi)
	jmp := []byte{0xe9, 0, 0, 0, 0}                                      // jmp klp_enable_patch
	testRDI := []byte{0x48, 0x85, 0xff}                                  // test %rdi,%rdi
	loop := []byte{0x31, 0xc9, 0xff, 0xc1, 0x83, 0xf9, 0x03, 0x75, 0xf9} // xor %ecx,%ecx; 1: inc %ecx; cmp $3,%ecx; jne 1b
	tests := []struct {
		name          string
		before, after []byte // around the store
		want          string // the reason; "" when replace reads 1
	}{
		{"straight", nil, nil, ""},
		{"a loop between the store and the call", nil, loop, ""},
		{"a branch over the store", slices.Concat(testRDI, []byte{0x74, 0x04}), nil, "a jump reaches klp_enable_patch without passing replace's store"}, // je over the store
		{"a branch back from past the call", nil, nil, "a jump reaches klp_enable_patch without passing replace's store"},
		{"an indirect jump", []byte{0x74, 0x02, 0xff, 0xe0}, nil, "an indirect jump in the function may reach klp_enable_patch without replace's store"}, // je .+2; jmp *%rax
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := slices.Concat(call, toRDI, tt.before, store, tt.after, jmp)
			if tt.name == "a branch back from past the call" {
				// After the call: jmp back to just before it.
				back := int8(-(len(jmp) + 2))
				code = append(code, 0xeb, byte(back))
			}
			at := uint64(len(code) - len(jmp))
			if tt.name == "a branch back from past the call" {
				at -= 2
			}
			relas := slices.Concat(rela(1, 2, elf.R_X86_64_PLT32, -4), rela(at+1, 1, elf.R_X86_64_PLT32, -4))
			f := buildELF(t, []testSection{
				{name: ".text", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_EXECINSTR, body: code},
				{name: ".rela.text", typ: elf.SHT_RELA, body: relas, link: 1, info: text, entsize: elf64.RelaSize},
			}, []testSymbol{
				{name: "klp_enable_patch", bind: elf.STB_GLOBAL},
				{name: "kzalloc", bind: elf.STB_GLOBAL},
			})
			rs, err := f.Relocations(text)
			if err != nil {
				t.Fatal(err)
			}
			got, why, err := kpatchStores(f, text, rs, 1, 0x18)
			if err != nil {
				t.Fatal(err)
			}
			if why != tt.want || tt.want == "" && !slices.Equal(got, []byte{1}) {
				t.Errorf("kpatchStores = %v, %q; want [1] or the reason %q", got, why, tt.want)
			}
		})
	}
}
