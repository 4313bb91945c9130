package elfscan

import (
	"debug/elf"
	"fmt"
	"maps"
	"slices"

	"golang.org/x/arch/x86/x86asm"

	"github.com/klpack/klpack/internal/elf64"
	"github.com/klpack/klpack/pkg/klp"
)

// Upstream klp-build (scripts/livepatch/klp-build, Linux 6.19 on) writes
// no struct klp_patch. objtool's "klp diff" emits one compact
// struct klp_object_ext per patched object into a table section and the
// struct klp_func_ext entries they point to into another; the init code the
// tool links in (scripts/livepatch/init.c) finds the table with
// klp_find_section_by_name, builds klp_patch, klp_object and klp_func on
// the heap and enables the patch. 7.2 names the sections .init.klp_objects
// and .init.klp_funcs; 6.19 named them __klp_objects and __klp_funcs. The
// structs (include/linux/livepatch_external.h) are the same in both:
//
//	struct klp_func_ext   { const char *old_name; void *new_func;
//	                        unsigned long sympos; };               // 24 bytes
//	struct klp_object_ext { const char *name; struct klp_func_ext *funcs;
//	                        struct klp_callbacks callbacks;        // 4 pointers + bool
//	                        unsigned int nr_funcs; };              // 64 bytes
//
// They are plain LP64 structs of pointers and longs, the same on x86_64 and
// arm64, so their layout is fixed here; when the module's DWARF describes
// them (init.c's debug information does), it is checked against it, so a
// kernel that changes them is refused rather than misread.
// init.c sets replace from the KLP_NO_REPLACE macro, so the value is an
// immediate stored into the heap klp_patch before klp_enable_patch.

// klpBuildTables are the names klp-build has given the klp_object_ext
// table, newest first. The klp_func_ext entries are found through its
// pointers, wherever they are.
var klpBuildTables = []string{".init.klp_objects", "__klp_objects"}

const (
	objExtSize        = 64
	objExtName        = 0
	objExtFuncs       = 8
	objExtCallbacks   = 16
	objExtNrFuncs     = 56
	funcExtSize       = 24
	funcExtOldName    = 0
	funcExtNewFunc    = 8
	funcExtSympos     = 16
	callbackPtrStride = 8
)

// klpReplaceHint is where a klp-build module's replace must be declared
// when its init code does not show it.
const klpReplaceHint = "klp-build sets replace in the module's init code (KLP_NO_REPLACE), which the scan could not follow: declare it as replace: true or false of this module in the release manifest"

// klpBuildDecoder reads upstream klp-build modules.
type klpBuildDecoder struct{}

func (klpBuildDecoder) format() string { return klp.FormatKlpBuild }

func (klpBuildDecoder) match(m *module) bool {
	_, ok := klpBuildTable(m.elf)
	return ok
}

// klpBuildTable returns the index of the objects table section.
func klpBuildTable(f *elf64.File) (int, bool) {
	for _, name := range klpBuildTables {
		if i := f.Section(name); i >= 0 {
			return i, true
		}
	}
	return -1, false
}

func (klpBuildDecoder) decode(m *module) ([]*klp.Patch, error) {
	f := m.elf
	sec, _ := klpBuildTable(f)
	if _, err := f.Symbols(); err != nil {
		return nil, err
	}
	if _, err := checkExtLayout(f); err != nil {
		return nil, err
	}
	p := &klp.Patch{
		Symbol:  f.Sections[sec].Name,
		States:  []klp.State{},
		Objects: []klp.Object{},
		Hooks:   []klp.Hook{},
	}
	objs, err := decodeObjectExts(f, sec)
	if err != nil {
		return nil, err
	}
	p.Objects = objs
	if err := initCodeReplace(m, p, klpReplaceHint, storedBytes); err != nil {
		return nil, err
	}
	out := []*klp.Patch{p}
	if err := declarations(m, out); err != nil {
		return nil, err
	}
	return out, nil
}

// extLayout is the layout klpack reads the klp-build structs with: struct
// name -> size (member "") and member offsets.
var extLayout = map[string]map[string]int{
	"klp_object_ext": {"": objExtSize, "name": objExtName, "funcs": objExtFuncs, "callbacks": objExtCallbacks, "nr_funcs": objExtNrFuncs},
	"klp_func_ext":   {"": funcExtSize, "old_name": funcExtOldName, "new_func": funcExtNewFunc, "sympos": funcExtSympos},
}

// checkExtLayout compares the klp-build structs the module's DWARF
// describes with extLayout. It reports how many of them it checked; a
// module without DWARF, or whose DWARF lacks them, checks none.
func checkExtLayout(f *elf64.File) (checked int, err error) {
	names := slices.Sorted(maps.Keys(extLayout))
	found, err := dwarfStructs(f, names)
	if err != nil {
		return 0, err
	}
	for _, name := range names {
		si := found[name]
		if si == nil {
			continue
		}
		for _, member := range slices.Sorted(maps.Keys(extLayout[name])) {
			want := extLayout[name][member]
			what, got, ok := "size", si.size, true
			if member != "" {
				what = "member " + member
				got, ok = si.members[member]
			}
			if !ok {
				return 0, formatErr(".debug_info", 0, "struct %s: no %s in the module's DWARF: a klp-build layout this scanner does not know", name, what)
			}
			if got != want {
				return 0, formatErr(".debug_info", 0, "struct %s: %s is %d in the module's DWARF, klpack reads %d: a klp-build layout this scanner does not know", name, what, got, want)
			}
		}
	}
	return len(found), nil
}

// decodeObjectExts reads the klp_object_ext table: as init.c counts it,
// the section size divided by the struct size, every entry an object.
func decodeObjectExts(f *elf64.File, sec int) ([]klp.Object, error) {
	s := &f.Sections[sec]
	if s.Type == elf.SHT_NOBITS {
		return nil, formatErr(s.Name, 0, "klp_object_ext table without contents")
	}
	if s.Size == 0 || s.Size%objExtSize != 0 {
		return nil, formatErr(s.Name, 0, "size %d is not a positive multiple of struct klp_object_ext (%d bytes)", s.Size, objExtSize)
	}
	n := s.Size / objExtSize
	out := make([]klp.Object, 0, n)
	for i := range n {
		base := i * objExtSize
		o, err := decodeObjectExt(f, sec, base)
		if err != nil {
			return nil, fmt.Errorf("klp_object_ext %d: %w", i, err)
		}
		out = append(out, o)
	}
	return out, nil
}

func decodeObjectExt(f *elf64.File, sec int, base uint64) (klp.Object, error) {
	var o klp.Object
	name, hasName, err := f.Pointer(sec, base+objExtName)
	if err != nil {
		return o, fmt.Errorf("name: %w", err)
	}
	if hasName {
		s, err := f.StringAt(name)
		if err != nil {
			return o, fmt.Errorf("name: %w", err)
		}
		o.Name = &s
	}
	b, err := f.Read(sec, base+objExtNrFuncs, 4)
	if err != nil {
		return o, fmt.Errorf("nr_funcs: %w", err)
	}
	nr := uint64(f.ByteOrder.Uint32(b))
	funcs, hasFuncs, err := f.Pointer(sec, base+objExtFuncs)
	if err != nil {
		return o, fmt.Errorf("klp_object %s: funcs: %w", o.ObjectName(), err)
	}
	o.Funcs = []klp.Func{}
	switch {
	case hasFuncs:
		if o.Funcs, err = decodeFuncExts(f, funcs, nr); err != nil {
			return o, fmt.Errorf("klp_object %s: %w", o.ObjectName(), err)
		}
	case nr != 0:
		return o, formatErr(f.Sections[sec].Name, base+objExtFuncs, "klp_object %s: %d funcs behind a NULL pointer", o.ObjectName(), nr)
	}
	for k, dst := range []*string{&o.Callbacks.PrePatch, &o.Callbacks.PostPatch, &o.Callbacks.PreUnpatch, &o.Callbacks.PostUnpatch} {
		fn, ok, err := f.Pointer(sec, base+objExtCallbacks+uint64(k)*callbackPtrStride)
		if err != nil {
			return o, fmt.Errorf("klp_object %s: callbacks: %w", o.ObjectName(), err)
		}
		if ok {
			*dst = f.SymbolAt(fn, elf.STT_FUNC)
		}
	}
	return o, nil
}

// decodeFuncExts reads nr klp_func_ext entries at at; the count is checked
// against the section before anything is allocated for it.
func decodeFuncExts(f *elf64.File, at elf64.Ref, nr uint64) ([]klp.Func, error) {
	if at.Extern != "" {
		return nil, formatErr("", 0, "funcs points to undefined symbol %s", at.Extern)
	}
	s := &f.Sections[at.Sec]
	if at.Off > s.Size || nr > (s.Size-at.Off)/funcExtSize {
		return nil, formatErr(s.Name, at.Off, "%d klp_func_ext entries past end of section (%d bytes)", nr, s.Size)
	}
	out := make([]klp.Func, 0, nr)
	for i := range nr {
		base := at.Off + i*funcExtSize
		old, hasOld, err := f.Pointer(at.Sec, base+funcExtOldName)
		if err != nil {
			return nil, fmt.Errorf("klp_func_ext %d: old_name: %w", i, err)
		}
		if !hasOld {
			// klp_init_func refuses a NULL old_name.
			return nil, formatErr(s.Name, base, "klp_func_ext %d: NULL old_name", i)
		}
		var fn klp.Func
		if fn.OldName, err = f.StringAt(old); err != nil {
			return nil, fmt.Errorf("klp_func_ext %d: old_name: %w", i, err)
		}
		fn.Base, fn.Clone = splitClone(fn.OldName)
		fn.Demangled = demangled(fn.OldName)
		nf, hasNew, err := f.Pointer(at.Sec, base+funcExtNewFunc)
		if err != nil {
			return nil, fmt.Errorf("klp_func_ext %s: new_func: %w", fn.OldName, err)
		}
		if !hasNew {
			return nil, formatErr(s.Name, base+funcExtNewFunc, "klp_func_ext %s: NULL new_func", fn.OldName)
		}
		fn.NewFunc = f.SymbolAt(nf, elf.STT_FUNC)
		b, err := f.Read(at.Sec, base+funcExtSympos, 8)
		if err != nil {
			return nil, fmt.Errorf("klp_func_ext %s: sympos: %w", fn.OldName, err)
		}
		fn.OldSympos = f.ByteOrder.Uint64(b)
		out = append(out, fn)
	}
	return out, nil
}

// codeState is what the scan knows inside one function: the registers and
// static variables, and the stores made through registers.
type codeState struct {
	x86Track
	stores []heapStore
}

// heapStore is a constant written through a register: *(base + disp).
type heapStore struct {
	base  x86Val
	disp  int64
	size  int
	value int64
}

func newCodeState() *codeState {
	return &codeState{x86Track: newX86Track()}
}

// storedBytes scans section sec linearly and returns, for each call to
// klp_enable_patch, the byte stored at off into the object in %rdi. What
// the scan knows holds along straight-line code only: it starts over at
// every function start, branch target and after every jump or return, so
// a value stored on one path is never taken for another path's.
func storedBytes(f *elf64.File, sec int, rs []elf64.Rela, target uint32, off uint64) ([]byte, string, error) {
	starts := branchTargets(f, sec)
	for _, s := range functionStarts(f, sec) {
		starts[s] = true
	}
	var out []byte
	st := newCodeState()
	for in, err := range x86Insts(f, sec, rs) {
		if err != nil {
			return nil, "", err
		}
		// A start among bytes that did not decode counts too.
		for p := in.from; p <= in.pc; p++ {
			if starts[p] {
				st = newCodeState()
			}
		}
		switch {
		case (in.Op == x86asm.CALL || in.Op == x86asm.JMP) && in.hasRel && in.rel.Sym == target:
			v, why := st.byteAt(st.reg(x86asm.RDI), off)
			if why != "" {
				return nil, why, nil
			}
			out = append(out, v)
			st.clobberCall()
			st.forgetMemory()
		case in.Op == x86asm.CALL:
			st.clobberCall()
			st.forgetMemory()
		case in.Op == x86asm.JMP || in.Op == x86asm.RET:
			st = newCodeState()
		case in.Op == x86asm.MOV || in.Op == x86asm.MOVZX || in.Op == x86asm.LEA:
			st.move(in)
		case in.Op == x86asm.XOR && sameReg(in.Args[0], in.Args[1]):
			st.setConst(in.Args[0].(x86asm.Reg), 0)
		default:
			st.other(in.Inst)
		}
	}
	return out, "", nil
}

// implicitRegs are registers instructions write without naming them.
var implicitRegs = map[x86asm.Op][]x86asm.Reg{
	x86asm.MUL: {x86asm.RAX, x86asm.RDX}, x86asm.IMUL: {x86asm.RAX, x86asm.RDX},
	x86asm.DIV: {x86asm.RAX, x86asm.RDX}, x86asm.IDIV: {x86asm.RAX, x86asm.RDX},
	x86asm.CWD: {x86asm.RDX}, x86asm.CDQ: {x86asm.RDX}, x86asm.CQO: {x86asm.RDX},
	x86asm.CPUID: {x86asm.RAX, x86asm.RBX, x86asm.RCX, x86asm.RDX},
	x86asm.RDTSC: {x86asm.RAX, x86asm.RDX},
	x86asm.MOVSB: {x86asm.RDI, x86asm.RSI, x86asm.RCX}, x86asm.MOVSW: {x86asm.RDI, x86asm.RSI, x86asm.RCX},
	x86asm.MOVSD: {x86asm.RDI, x86asm.RSI, x86asm.RCX}, x86asm.MOVSQ: {x86asm.RDI, x86asm.RSI, x86asm.RCX},
	x86asm.STOSB: {x86asm.RDI, x86asm.RCX}, x86asm.STOSW: {x86asm.RDI, x86asm.RCX},
	x86asm.STOSD: {x86asm.RDI, x86asm.RCX}, x86asm.STOSQ: {x86asm.RDI, x86asm.RCX},
	x86asm.LODSB: {x86asm.RAX, x86asm.RSI, x86asm.RCX}, x86asm.LODSW: {x86asm.RAX, x86asm.RSI, x86asm.RCX},
	x86asm.LODSD: {x86asm.RAX, x86asm.RSI, x86asm.RCX}, x86asm.LODSQ: {x86asm.RAX, x86asm.RSI, x86asm.RCX},
	x86asm.CMPSB: {x86asm.RDI, x86asm.RSI, x86asm.RCX}, x86asm.CMPSW: {x86asm.RDI, x86asm.RSI, x86asm.RCX},
	x86asm.CMPSD: {x86asm.RDI, x86asm.RSI, x86asm.RCX}, x86asm.CMPSQ: {x86asm.RDI, x86asm.RSI, x86asm.RCX},
	x86asm.SCASB: {x86asm.RDI, x86asm.RCX}, x86asm.SCASW: {x86asm.RDI, x86asm.RCX},
	x86asm.SCASD: {x86asm.RDI, x86asm.RCX}, x86asm.SCASQ: {x86asm.RDI, x86asm.RCX},
}

// other follows any instruction the scan does not model: whatever it may
// write becomes unknown, and a write to memory forgets every store seen.
func (c *codeState) other(inst x86asm.Inst) {
	for _, r := range implicitRegs[inst.Op] {
		c.forget(r)
	}
	writes := []x86asm.Arg{inst.Args[0]}
	switch inst.Op {
	case x86asm.XCHG, x86asm.XADD, x86asm.CMPXCHG:
		writes = append(writes, inst.Args[1])
		c.forget(x86asm.RAX)
	}
	if readOnlyOps[inst.Op] {
		writes = nil
	}
	for _, a := range writes {
		switch a := a.(type) {
		case x86asm.Reg:
			c.forget(a)
		case x86asm.Mem:
			c.forgetMemory()
		}
	}
	if stringOps[inst.Op] {
		c.forgetMemory()
	}
}

// forgetMemory forgets every store seen: a callee may write any memory it
// can reach, the klp_patch included.
func (c *codeState) forgetMemory() {
	c.stores = nil
	c.statics = map[elf64.Ref]x86Val{}
}

// move follows MOV, MOVZX and LEA: register copies, constants, loads and
// stores of static variables, and constant stores through a register.
func (c *codeState) move(in x86Inst) {
	switch d := in.Args[0].(type) {
	case x86asm.Reg:
		// MOVZX of a register keeps its value number here, and so a
		// constant: exact for a bool's 0 or 1 (kpatch's scan is stricter).
		if s, ok := in.Args[1].(x86asm.Reg); ok {
			c.set(d, c.reg(s))
			return
		}
		c.moveToReg(in)
	case x86asm.Mem:
		if in.hasRel && d.Base == x86asm.RIP {
			c.storeStatic(in)
			return
		}
		if d.Base == 0 || d.Index != 0 {
			c.stores = nil
			return
		}
		hs := heapStore{base: c.reg(d.Base), disp: d.Disp, size: in.MemBytes}
		switch s := in.Args[1].(type) {
		case x86asm.Imm:
			hs.value = int64(s)
			if in.hasRel {
				// An address the loader fills in, not a constant.
				hs.size = -hs.size
			}
		case x86asm.Reg:
			v, ok := c.consts[c.reg(s)]
			if !ok {
				hs.size = -hs.size // a store of an unknown value
			}
			hs.value = v
		default:
			hs.size = -hs.size
		}
		c.stores = append(c.stores, hs)
	}
}

// byteAt is the last byte stored at off into the object numbered base.
func (c *codeState) byteAt(base x86Val, off uint64) (byte, string) {
	for i := len(c.stores) - 1; i >= 0; i-- {
		s := c.stores[i]
		size := s.size
		if size < 0 {
			size = -size
		}
		if s.base != base || s.disp < 0 || off < uint64(s.disp) || off >= uint64(s.disp)+uint64(size) {
			continue
		}
		if s.size < 0 {
			return 0, "replace stored from a value the scan cannot follow"
		}
		return byte(uint64(s.value) >> (8 * (off - uint64(s.disp)))), ""
	}
	return 0, "no store to replace before klp_enable_patch"
}
