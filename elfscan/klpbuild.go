package elfscan

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"fmt"

	"golang.org/x/arch/x86/x86asm"

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
func klpBuildTable(f *elfFile) (int, bool) {
	for _, name := range klpBuildTables {
		if i := f.section(name); i >= 0 {
			return i, true
		}
	}
	return -1, false
}

func (klpBuildDecoder) decode(m *module) ([]*klp.Patch, error) {
	f := m.elf
	sec, _ := klpBuildTable(f)
	if _, err := f.symbols(); err != nil {
		return nil, err
	}
	if _, err := checkExtLayout(f); err != nil {
		return nil, err
	}
	p := &klp.Patch{
		Symbol:  f.sections[sec].name,
		States:  []klp.State{},
		Objects: []klp.Object{},
		Hooks:   []klp.Hook{},
	}
	objs, err := decodeObjectExts(f, sec)
	if err != nil {
		return nil, err
	}
	p.Objects = objs
	if err := klpBuildReplace(m, p); err != nil {
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
var extLayout = map[string]map[string]int64{
	"klp_object_ext": {"": objExtSize, "name": objExtName, "funcs": objExtFuncs, "callbacks": objExtCallbacks, "nr_funcs": objExtNrFuncs},
	"klp_func_ext":   {"": funcExtSize, "old_name": funcExtOldName, "new_func": funcExtNewFunc, "sympos": funcExtSympos},
}

// checkExtLayout compares the klp-build structs the module's DWARF
// describes with extLayout. It reports how many of them it checked; a
// module without DWARF, or whose DWARF lacks them, checks none.
func checkExtLayout(f *elfFile) (checked int, err error) {
	if f.section(".debug_info") < 0 {
		return 0, nil
	}
	// debug/elf and debug/dwarf are not hardened against hostile input.
	defer func() {
		if r := recover(); r != nil {
			checked, err = 0, formatErr(".debug_info", 0, "malformed debug information: %v", r)
		}
	}()
	ef, err := elf.NewFile(bytes.NewReader(f.data))
	if err != nil {
		return 0, formatErr(".debug_info", 0, "%v", err)
	}
	d, err := ef.DWARF()
	if err != nil {
		return 0, formatErr(".debug_info", 0, "%v", err)
	}
	seen := map[string]bool{}
	r := d.Reader()
	for len(seen) < len(extLayout) {
		e, err := r.Next()
		if err != nil {
			return 0, formatErr(".debug_info", 0, "%v", err)
		}
		if e == nil {
			break
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		want, ok := extLayout[name]
		if e.Tag != dwarf.TagStructType || !ok || seen[name] || e.Val(dwarf.AttrDeclaration) != nil {
			if e.Tag != dwarf.TagCompileUnit && e.Children {
				r.SkipChildren()
			}
			continue
		}
		seen[name] = true
		got := map[string]int64{}
		got[""], _ = e.Val(dwarf.AttrByteSize).(int64)
		for e.Children {
			m, err := r.Next()
			if err != nil {
				return 0, formatErr(".debug_info", 0, "struct %s: %v", name, err)
			}
			if m == nil || m.Tag == 0 {
				break
			}
			if mn, _ := m.Val(dwarf.AttrName).(string); m.Tag == dwarf.TagMember && mn != "" {
				if loc, ok := m.Val(dwarf.AttrDataMemberLoc).(int64); ok {
					got[mn] = loc
				}
			}
			if m.Children {
				r.SkipChildren()
			}
		}
		for member, off := range want {
			what := "size"
			if member != "" {
				what = "member " + member
			}
			g, ok := got[member]
			if !ok {
				return 0, formatErr(".debug_info", 0, "struct %s: no %s in the module's DWARF: a klp-build layout this scanner does not know", name, what)
			}
			if g != off {
				return 0, formatErr(".debug_info", 0, "struct %s: %s is %d in the module's DWARF, klpack reads %d: a klp-build layout this scanner does not know", name, what, g, off)
			}
		}
	}
	return len(seen), nil
}

// decodeObjectExts reads the klp_object_ext table: as init.c counts it,
// the section size divided by the struct size, every entry an object.
func decodeObjectExts(f *elfFile, sec int) ([]klp.Object, error) {
	s := &f.sections[sec]
	if s.typ == elf.SHT_NOBITS {
		return nil, formatErr(s.name, 0, "klp_object_ext table without contents")
	}
	if s.size == 0 || s.size%objExtSize != 0 {
		return nil, formatErr(s.name, 0, "size %d is not a positive multiple of struct klp_object_ext (%d bytes)", s.size, objExtSize)
	}
	n := s.size / objExtSize
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

func decodeObjectExt(f *elfFile, sec int, base uint64) (klp.Object, error) {
	var o klp.Object
	name, hasName, err := f.pointer(sec, base+objExtName)
	if err != nil {
		return o, fmt.Errorf("name: %w", err)
	}
	if hasName {
		s, err := f.stringAt(name)
		if err != nil {
			return o, fmt.Errorf("name: %w", err)
		}
		o.Name = &s
	}
	b, err := f.read(sec, base+objExtNrFuncs, 4)
	if err != nil {
		return o, fmt.Errorf("nr_funcs: %w", err)
	}
	nr := uint64(f.bo.Uint32(b))
	funcs, hasFuncs, err := f.pointer(sec, base+objExtFuncs)
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
		return o, formatErr(f.sections[sec].name, base+objExtFuncs, "klp_object %s: %d funcs behind a NULL pointer", o.ObjectName(), nr)
	}
	for k, dst := range []*string{&o.Callbacks.PrePatch, &o.Callbacks.PostPatch, &o.Callbacks.PreUnpatch, &o.Callbacks.PostUnpatch} {
		fn, ok, err := f.pointer(sec, base+objExtCallbacks+uint64(k)*callbackPtrStride)
		if err != nil {
			return o, fmt.Errorf("klp_object %s: callbacks: %w", o.ObjectName(), err)
		}
		if ok {
			*dst = f.symbolAt(fn, elf.STT_FUNC)
		}
	}
	return o, nil
}

// decodeFuncExts reads nr klp_func_ext entries at at; the count is checked
// against the section before anything is allocated for it.
func decodeFuncExts(f *elfFile, at ref, nr uint64) ([]klp.Func, error) {
	if at.extern != "" {
		return nil, formatErr("", 0, "funcs points to undefined symbol %s", at.extern)
	}
	s := &f.sections[at.sec]
	if at.off > s.size || nr > (s.size-at.off)/funcExtSize {
		return nil, formatErr(s.name, at.off, "%d klp_func_ext entries past end of section (%d bytes)", nr, s.size)
	}
	out := make([]klp.Func, 0, nr)
	for i := range nr {
		base := at.off + i*funcExtSize
		old, hasOld, err := f.pointer(at.sec, base+funcExtOldName)
		if err != nil {
			return nil, fmt.Errorf("klp_func_ext %d: old_name: %w", i, err)
		}
		if !hasOld {
			// klp_init_func refuses a NULL old_name.
			return nil, formatErr(s.name, base, "klp_func_ext %d: NULL old_name", i)
		}
		var fn klp.Func
		if fn.OldName, err = f.stringAt(old); err != nil {
			return nil, fmt.Errorf("klp_func_ext %d: old_name: %w", i, err)
		}
		fn.Base, fn.Clone = splitClone(fn.OldName)
		fn.Demangled = demangled(fn.OldName)
		nf, hasNew, err := f.pointer(at.sec, base+funcExtNewFunc)
		if err != nil {
			return nil, fmt.Errorf("klp_func_ext %s: new_func: %w", fn.OldName, err)
		}
		if !hasNew {
			return nil, formatErr(s.name, base+funcExtNewFunc, "klp_func_ext %s: NULL new_func", fn.OldName)
		}
		fn.NewFunc = f.symbolAt(nf, elf.STT_FUNC)
		b, err := f.read(at.sec, base+funcExtSympos, 8)
		if err != nil {
			return nil, fmt.Errorf("klp_func_ext %s: sympos: %w", fn.OldName, err)
		}
		fn.OldSympos = f.bo.Uint64(b)
		out = append(out, fn)
	}
	return out, nil
}

// klpBuildReplace recovers replace from the init code: the constant stored
// into the klp_patch handed to klp_enable_patch. Anything else leaves it
// unknown, with a hint where to declare it.
func klpBuildReplace(m *module, p *klp.Patch) error {
	unknown := func(why string) {
		p.Replace, p.ReplaceSource = false, klp.ReplaceUnknown
		p.ReplaceHint = klpReplaceHint + " (" + why + ")"
	}
	f := m.elf
	if f.machine != elf.EM_X86_64 {
		unknown("reading " + archName(f.machine) + " init code is not supported")
		return nil
	}
	l, err := m.klpLayout()
	if err != nil {
		unknown("no struct klp_patch layout: " + err.Error())
		return nil
	}
	v, why, err := initStoredByte(f, uint64(l.patchReplace))
	if err != nil {
		return err
	}
	if why != "" {
		unknown(why)
		return nil
	}
	p.Replace, p.ReplaceSource = v != 0, klp.ReplaceInit
	return nil
}

// initStoredByte finds the calls to klp_enable_patch and the byte each
// stores at off into the object it passes, before the call. It returns the
// value when every call sees exactly one constant, else why not.
func initStoredByte(f *elfFile, off uint64) (byte, string, error) {
	syms, err := f.symbols()
	if err != nil {
		return 0, "", err
	}
	target := -1
	for i := range syms {
		if syms[i].name == "klp_enable_patch" && !syms[i].defined() {
			target = i
		}
	}
	if target < 0 {
		return 0, "no call to klp_enable_patch", nil
	}
	var vals []byte
	for i := range f.sections {
		s := &f.sections[i]
		if s.flags&elf.SHF_EXECINSTR == 0 || s.typ != elf.SHT_PROGBITS {
			continue
		}
		rs, err := f.relocations(i)
		if err != nil {
			return 0, "", err
		}
		if !hasRelocTo(rs, uint32(target)) {
			continue
		}
		v, why, err := storedBytes(f, i, rs, uint32(target), off)
		if err != nil {
			return 0, "", err
		}
		if why != "" {
			return 0, why, nil
		}
		vals = append(vals, v...)
	}
	if len(vals) == 0 {
		return 0, "no call to klp_enable_patch in the code", nil
	}
	for _, v := range vals[1:] {
		if v != vals[0] {
			return 0, "calls to klp_enable_patch with different replace values", nil
		}
	}
	return vals[0], "", nil
}

// A value number: registers and memory cells that hold the same number
// hold the same value. Fresh numbers come from a counter.
type valueNum int

// codeState is what the scan knows inside one function.
type codeState struct {
	next   valueNum
	regs   map[x86asm.Reg]valueNum
	consts map[valueNum]int64 // value numbers known to be constants
	mem    map[ref]valueNum   // relocated memory cells (static variables)
	stores []heapStore
}

// heapStore is a constant written through a register: *(base + disp).
type heapStore struct {
	base  valueNum
	disp  int64
	size  int
	value int64
}

func newCodeState() *codeState {
	return &codeState{regs: map[x86asm.Reg]valueNum{}, consts: map[valueNum]int64{}, mem: map[ref]valueNum{}}
}

func (c *codeState) fresh() valueNum {
	c.next++
	return c.next
}

func (c *codeState) reg(r x86asm.Reg) valueNum {
	r = family(r)
	v, ok := c.regs[r]
	if !ok {
		v = c.fresh()
		c.regs[r] = v
	}
	return v
}

// callerSaved are the registers a call may change (System V AMD64).
var callerSaved = []x86asm.Reg{x86asm.RAX, x86asm.RCX, x86asm.RDX, x86asm.RSI, x86asm.RDI, x86asm.R8, x86asm.R9, x86asm.R10, x86asm.R11}

// readOnlyOps do not write their first operand.
var readOnlyOps = map[x86asm.Op]bool{
	x86asm.CMP: true, x86asm.TEST: true, x86asm.PUSH: true, x86asm.BT: true,
	x86asm.NOP: true, x86asm.JMP: true, x86asm.CALL: true, x86asm.RET: true,
}

// storedBytes scans section sec linearly and returns, for each call to
// klp_enable_patch, the byte stored at off into the object in %rdi. What
// the scan knows holds along straight-line code only: it starts over at
// every function start, branch target and after every jump or return, so
// a value stored on one path is never taken for another path's.
func storedBytes(f *elfFile, sec int, rs []rela, target uint32, off uint64) ([]byte, string, error) {
	code := f.sectionData(sec)
	starts := branchTargets(code)
	for _, s := range f.syms {
		if s.defined() && int(s.shndx) == sec && s.typ() == elf.STT_FUNC {
			starts[s.value] = true
		}
	}
	var out []byte
	st := newCodeState()
	for pc := 0; pc < len(code); {
		if starts[uint64(pc)] {
			st = newCodeState()
		}
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil || inst.Len == 0 {
			pc++
			continue
		}
		end := uint64(pc + inst.Len)
		rel, hasRel := relocIn(rs, uint64(pc), end)
		var at ref
		if hasRel {
			if at, err = f.target(rel); err != nil {
				return nil, "", err
			}
			if isPCRel(rel.typ) {
				at.off += end - rel.off
			}
		}
		switch {
		case (inst.Op == x86asm.CALL || inst.Op == x86asm.JMP) && hasRel && rel.sym == target:
			v, why := st.byteAt(st.reg(x86asm.RDI), off)
			if why != "" {
				return nil, why, nil
			}
			out = append(out, v)
			st.clobberCall()
			st.forgetMemory()
		case inst.Op == x86asm.CALL:
			st.clobberCall()
			st.forgetMemory()
		case inst.Op == x86asm.JMP || inst.Op == x86asm.RET:
			st = newCodeState()
		case inst.Op == x86asm.MOV || inst.Op == x86asm.MOVZX || inst.Op == x86asm.LEA:
			st.move(inst, at, hasRel)
		case inst.Op == x86asm.XOR && sameReg(inst.Args[0], inst.Args[1]):
			v := st.fresh()
			st.consts[v] = 0
			st.regs[family(inst.Args[0].(x86asm.Reg))] = v
		default:
			st.other(inst)
		}
		pc = int(end)
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

// stringOps write memory without naming it.
var stringOps = map[x86asm.Op]bool{
	x86asm.MOVSB: true, x86asm.MOVSW: true, x86asm.MOVSD: true, x86asm.MOVSQ: true,
	x86asm.STOSB: true, x86asm.STOSW: true, x86asm.STOSD: true, x86asm.STOSQ: true,
}

// other follows any instruction the scan does not model: whatever it may
// write becomes unknown, and a write to memory forgets every store seen.
func (c *codeState) other(inst x86asm.Inst) {
	for _, r := range implicitRegs[inst.Op] {
		c.regs[r] = c.fresh()
	}
	writes := []x86asm.Arg{inst.Args[0]}
	switch inst.Op {
	case x86asm.XCHG, x86asm.XADD, x86asm.CMPXCHG:
		writes = append(writes, inst.Args[1])
		c.regs[x86asm.RAX] = c.fresh()
	}
	if readOnlyOps[inst.Op] {
		writes = nil
	}
	for _, a := range writes {
		switch a := a.(type) {
		case x86asm.Reg:
			c.regs[family(a)] = c.fresh()
		case x86asm.Mem:
			c.forgetMemory()
		}
	}
	if stringOps[inst.Op] {
		// They write memory through %rdi.
		c.forgetMemory()
	}
}

// branchTargets are the offsets relative jumps in code go to.
func branchTargets(code []byte) map[uint64]bool {
	out := map[uint64]bool{}
	for pc := 0; pc < len(code); {
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil || inst.Len == 0 {
			pc++
			continue
		}
		if rel, ok := inst.Args[0].(x86asm.Rel); ok && inst.Op != x86asm.CALL {
			if to := int64(pc+inst.Len) + int64(rel); to >= 0 {
				out[uint64(to)] = true
			}
		}
		pc += inst.Len
	}
	return out
}

func sameReg(a, b x86asm.Arg) bool {
	ra, ok1 := a.(x86asm.Reg)
	rb, ok2 := b.(x86asm.Reg)
	return ok1 && ok2 && family(ra) == family(rb)
}

// clobberCall forgets the registers a callee may change.
func (c *codeState) clobberCall() {
	for _, r := range callerSaved {
		c.regs[r] = c.fresh()
	}
}

// forgetMemory forgets every store seen: a callee may write any memory it
// can reach, the klp_patch included.
func (c *codeState) forgetMemory() {
	c.stores = nil
	c.mem = map[ref]valueNum{}
}

// move follows MOV, MOVZX and LEA: register copies, constants, loads and
// stores of static variables, and constant stores through a register.
func (c *codeState) move(inst x86asm.Inst, at ref, hasRel bool) {
	dst, src := inst.Args[0], inst.Args[1]
	switch d := dst.(type) {
	case x86asm.Reg:
		r := family(d)
		switch s := src.(type) {
		case x86asm.Reg:
			c.regs[r] = c.reg(s)
		case x86asm.Imm:
			v := c.fresh()
			if !hasRel {
				c.consts[v] = int64(s)
			}
			c.regs[r] = v
		case x86asm.Mem:
			if inst.Op == x86asm.MOV && hasRel && s.Base == x86asm.RIP && inst.MemBytes == 8 {
				v, ok := c.mem[at]
				if !ok {
					v = c.fresh()
					c.mem[at] = v
				}
				c.regs[r] = v
			} else {
				c.regs[r] = c.fresh()
			}
		default:
			c.regs[r] = c.fresh()
		}
	case x86asm.Mem:
		if hasRel && d.Base == x86asm.RIP {
			// A store to a static variable: it now holds the value.
			if s, ok := src.(x86asm.Reg); ok && inst.MemBytes == 8 {
				c.mem[at] = c.reg(s)
			} else {
				delete(c.mem, at)
			}
			return
		}
		if d.Base == 0 || d.Index != 0 {
			c.stores = nil
			return
		}
		hs := heapStore{base: c.reg(d.Base), disp: d.Disp, size: inst.MemBytes}
		switch s := src.(type) {
		case x86asm.Imm:
			hs.value = int64(s)
			if hasRel {
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
func (c *codeState) byteAt(base valueNum, off uint64) (byte, string) {
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
