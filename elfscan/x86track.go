package elfscan

import (
	"debug/elf"
	"iter"
	"math"

	"golang.org/x/arch/x86/x86asm"

	"github.com/klpack/klpack/internal/elf64"
	"github.com/klpack/klpack/pkg/klp"
)

// The x86-64 init-code scans share what follows: finding the calls to
// klp_enable_patch, decoding code with its relocations, the proof that a
// callee cannot reach the patch (x86CalleeSafe), and the one tracker of
// init code that builds the patch on the heap (x86Flow), which the
// klp-build and kpatch-build decoders use. The scan of hand-written
// modules (scanCode) follows relocated addresses instead of value
// numbers, but stores and calls count there the same way: a store the
// scan cannot evaluate, one made before a branch target, or a call after
// it that is not proven harmless leaves replace unknown.

// enableTarget is the index of the undefined symbol klp_enable_patch, the
// target of the calls the scans look for.
func enableTarget(f *elf64.File) (uint32, bool, error) {
	syms, err := f.Symbols()
	if err != nil {
		return 0, false, err
	}
	target := -1
	for i := range syms {
		if syms[i].Name == "klp_enable_patch" && !syms[i].Defined() {
			target = i
		}
	}
	return uint32(target), target >= 0, nil
}

// enableCode calls fn on each code section with a relocation to target, in
// section order, until fn returns false or an error.
func enableCode(f *elf64.File, target uint32, fn func(sec int, rs []elf64.Rela) (bool, error)) error {
	for i := range f.Sections {
		s := &f.Sections[i]
		if s.Flags&elf.SHF_EXECINSTR == 0 || s.Type != elf.SHT_PROGBITS {
			continue
		}
		rs, err := f.Relocations(i)
		if err != nil {
			return err
		}
		if !hasRelocTo(rs, target) {
			continue
		}
		if more, err := fn(i, rs); err != nil || !more {
			return err
		}
	}
	return nil
}

// initCodeReplace recovers replace from the init code: the constant scan,
// a decoder's reading of one code section, finds stored into the klp_patch
// handed to klp_enable_patch. Anything else leaves it unknown, with hint
// saying where to declare it.
func initCodeReplace(m *module, p *klp.Patch, hint string, scan storeScan) error {
	unknown := func(why string) {
		p.Replace, p.ReplaceSource = false, klp.ReplaceUnknown
		p.ReplaceHint = hint + " (" + why + ")"
	}
	f := m.elf
	if f.Machine != elf.EM_X86_64 {
		unknown("reading " + f.Arch() + " init code is not supported")
		return nil
	}
	l, err := m.klpLayout()
	if err != nil {
		unknown("no struct klp_patch layout: " + err.Error())
		return nil
	}
	v, why, err := enableStoredByte(f, uint64(l.patchReplace), scan)
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

// storeScan returns, for each call to target in section sec, the byte
// stored at off into the object the call is passed; else why not.
type storeScan func(f *elf64.File, sec int, rs []elf64.Rela, target uint32, off uint64) ([]byte, string, error)

// enableStoredByte returns the byte every call to klp_enable_patch finds
// at off, when all calls find the same constant; else why not.
func enableStoredByte(f *elf64.File, off uint64, scan storeScan) (byte, string, error) {
	target, ok, err := enableTarget(f)
	if err != nil {
		return 0, "", err
	}
	if !ok {
		return 0, "no call to klp_enable_patch", nil
	}
	var vals []byte
	var why string
	err = enableCode(f, target, func(sec int, rs []elf64.Rela) (bool, error) {
		v, w, err := scan(f, sec, rs, target, off)
		vals, why = append(vals, v...), w
		return w == "", err
	})
	if err != nil {
		return 0, "", err
	}
	if why != "" {
		return 0, why, nil
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

// x86Inst is one instruction of a code section, with the relocation that
// patches it resolved to the address it makes.
type x86Inst struct {
	x86asm.Inst
	from    uint64 // bytes from here to pc did not decode
	pc, end uint64
	rel     elf64.Rela
	hasRel  bool
	nrel    int // relocations that patch the instruction
	at      elf64.Ref
}

// x86Insts decodes section sec linearly, stepping a byte where nothing
// decodes. It yields an error, and stops, at a relocation that does not
// resolve.
func x86Insts(f *elf64.File, sec int, rs []elf64.Rela) iter.Seq2[x86Inst, error] {
	return func(yield func(x86Inst, error) bool) {
		code := f.SectionData(sec)
		from := 0
		for pc := 0; pc < len(code); {
			inst, err := x86asm.Decode(code[pc:], 64)
			if err != nil || inst.Len == 0 {
				pc++
				continue
			}
			in := x86Inst{Inst: inst, from: uint64(from), pc: uint64(pc), end: uint64(pc + inst.Len)}
			in.rel, in.hasRel = relocIn(rs, in.pc, in.end)
			in.nrel = relocsIn(rs, in.pc, in.end)
			if in.hasRel {
				if in.at, err = f.Target(in.rel); err != nil {
					yield(x86Inst{}, err)
					return
				}
				if isPCRel(in.rel.Type) {
					// The CPU adds the address of the next instruction; the
					// addend subtracted the distance to it.
					in.at.Off += in.end - in.rel.Off
				}
			}
			if !yield(in, nil) {
				return
			}
			pc, from = int(in.end), int(in.end)
		}
	}
}

// branchTargets are the offsets relative jumps in section sec go to.
func branchTargets(f *elf64.File, sec int) map[uint64]bool {
	out := map[uint64]bool{}
	for in := range x86Insts(f, sec, nil) {
		if rel, ok := in.Args[0].(x86asm.Rel); ok && in.Op != x86asm.CALL {
			if to := int64(in.end) + int64(rel); to >= 0 {
				out[uint64(to)] = true
			}
		}
	}
	return out
}

// funcStarts are the offsets of the functions defined in a code section,
// in order.
type funcStarts []uint64

func functionStarts(f *elf64.File, sec int) funcStarts { return f.FunctionStarts(sec) }

// reached reports whether a linear scan at pc has come to or past another
// function's start: what it knew belongs to the function before. Without
// symbols the whole section is one straight run, which is what init code
// is.
func (s *funcStarts) reached(pc uint64) bool {
	n := 0
	for n < len(*s) && (*s)[n] <= pc {
		n++
	}
	*s = (*s)[n:]
	return n > 0
}

func sameReg(a, b x86asm.Arg) bool {
	ra, ok1 := a.(x86asm.Reg)
	rb, ok2 := b.(x86asm.Reg)
	return ok1 && ok2 && family(ra) == family(rb)
}

// callerSaved are the registers a call may change (System V AMD64).
var callerSaved = []x86asm.Reg{x86asm.RAX, x86asm.RCX, x86asm.RDX, x86asm.RSI, x86asm.RDI, x86asm.R8, x86asm.R9, x86asm.R10, x86asm.R11}

// readOnlyOps do not write their first operand.
var readOnlyOps = map[x86asm.Op]bool{
	x86asm.CMP: true, x86asm.TEST: true, x86asm.PUSH: true, x86asm.BT: true,
	x86asm.NOP: true, x86asm.JMP: true, x86asm.CALL: true, x86asm.RET: true,
}

// stringOps write memory at %rdi without naming it.
var stringOps = map[x86asm.Op]bool{
	x86asm.MOVSB: true, x86asm.MOVSW: true, x86asm.MOVSD: true, x86asm.MOVSQ: true,
	x86asm.STOSB: true, x86asm.STOSW: true, x86asm.STOSD: true, x86asm.STOSQ: true,
}

// x86Val is a value a scan follows: registers and memory cells with equal
// values hold the same value. Roots are numbered fresh wherever the scan
// cannot tell what a value is; off moves a pointer by address arithmetic.
type x86Val struct {
	root int
	off  int64
}

// x86Track is what a scan knows of the registers and of the 8-byte static
// variables inside one straight run of code. What a call or a write to
// memory forgets is the caller's choice.
type x86Track struct {
	next    int
	regs    map[x86asm.Reg]x86Val
	consts  map[x86Val]int64     // values known to be constants
	statics map[elf64.Ref]x86Val // 8-byte static variables and what they hold
	loads   map[int]x86Load      // roots of values loaded from a static place
	externs map[string]int       // roots of the addresses of undefined symbols
}

// x86Load is where a value was loaded from, and how many bytes.
type x86Load struct {
	from elf64.Ref
	size int
}

func newX86Track() x86Track {
	return x86Track{regs: map[x86asm.Reg]x86Val{}, consts: map[x86Val]int64{}, statics: map[elf64.Ref]x86Val{},
		loads: map[int]x86Load{}, externs: map[string]int{}}
}

// addr is the value of a relocated address: defined places share their
// section's root (negative, apart from fresh roots), so an address and an
// offset from it compare as values do.
func (t *x86Track) addr(r elf64.Ref) x86Val {
	if r.Extern == "" {
		return x86Val{root: -1 - r.Sec, off: int64(r.Off)}
	}
	root, ok := t.externs[r.Extern]
	if !ok {
		root = t.fresh().root
		t.externs[r.Extern] = root
	}
	return x86Val{root: root}
}

// place is the defined place a value addresses, if it is one.
func (v x86Val) place() (elf64.Ref, bool) {
	if v.root >= 0 || v.off < 0 {
		return elf64.Ref{}, false
	}
	return elf64.Ref{Sec: -1 - v.root, Off: uint64(v.off)}, true
}

func (t *x86Track) fresh() x86Val {
	t.next++
	return x86Val{root: t.next}
}

func (t *x86Track) reg(r x86asm.Reg) x86Val {
	r = family(r)
	v, ok := t.regs[r]
	if !ok {
		v = t.fresh()
		t.regs[r] = v
	}
	return v
}

func (t *x86Track) set(r x86asm.Reg, v x86Val) { t.regs[family(r)] = v }

// forget makes r hold a value the scan does not know.
func (t *x86Track) forget(r x86asm.Reg) { t.set(r, t.fresh()) }

func (t *x86Track) setConst(r x86asm.Reg, c int64) {
	v := t.fresh()
	t.consts[v] = c
	t.set(r, v)
}

// clobberCall forgets the registers a callee may change.
func (t *x86Track) clobberCall() {
	for _, r := range callerSaved {
		t.forget(r)
	}
}

// moveToReg follows a MOV, MOVZX or LEA into a register: a register copy,
// a constant, a relocated address, or a load of a static place; anything
// else makes a new value. It reports whether the register now holds the
// relocated address in.at, which a caller may care was taken.
func (t *x86Track) moveToReg(in x86Inst) (addr bool) {
	r := in.Args[0].(x86asm.Reg)
	switch src := in.Args[1].(type) {
	case x86asm.Reg:
		if in.Op == x86asm.MOV {
			t.set(r, t.reg(src))
			return false
		}
	case x86asm.Imm:
		if in.hasRel {
			t.set(r, t.addr(in.at)) // an address the loader fills in, not a constant
			return true
		}
		t.setConst(r, int64(src))
		return false
	case x86asm.Mem:
		if in.hasRel && src.Base == x86asm.RIP {
			if in.Op == x86asm.LEA {
				t.set(r, t.addr(in.at))
				return true
			}
			t.set(r, t.load(in))
			return false
		}
	}
	t.forget(r)
	return false
}

// load is the value a load from the static place in.at gives: what an
// 8-byte static was last seen to hold, else a new value that remembers
// where it came from.
func (t *x86Track) load(in x86Inst) x86Val {
	if in.Op == x86asm.MOV && in.MemBytes == 8 {
		if v, ok := t.statics[in.at]; ok {
			return v
		}
	}
	v := t.fresh()
	t.loads[v.root] = x86Load{from: in.at, size: in.MemBytes}
	if in.Op == x86asm.MOV && in.MemBytes == 8 {
		t.statics[in.at] = v
	}
	return v
}

// storeStatic follows a store to the static variable in.at: an 8-byte
// store of a register leaves it holding the register's value, which it
// returns; any other store leaves it unknown.
func (t *x86Track) storeStatic(in x86Inst) (x86Val, bool) {
	if s, ok := in.Args[1].(x86asm.Reg); ok && in.MemBytes == 8 {
		v := t.reg(s)
		t.statics[in.at] = v
		return v, true
	}
	delete(t.statics, in.at)
	return x86Val{}, false
}

// x86MaxCallees bounds the local functions followed from one call.
const x86MaxCallees = 64

// x86CalleeSafe checks that the function a call reaches, and every local
// function it reaches in turn, never refers to holders: the statics
// holding the patch, or the patch itself. known: the callee is a
// relocated direct target.
func x86CalleeSafe(f *elf64.File, callee elf64.Ref, known bool, holders []elf64.Ref) string {
	if !known {
		return "an indirect call comes after replace is stored"
	}
	if callee.Extern != "" {
		return "" // an external function cannot name the module's static
	}
	seen := map[elf64.Ref]bool{}
	todo := []elf64.Ref{callee}
	for len(todo) > 0 {
		at := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if seen[at] {
			continue
		}
		if len(seen) >= x86MaxCallees {
			return "calls after replace is stored reach too many functions to follow"
		}
		seen[at] = true
		refs, why := x86CodeRefs(f, at)
		if why != "" {
			return why
		}
		for _, t := range refs {
			for _, h := range holders {
				// Any reference near the static (PC-relative addends
				// differ by the instruction's tail) counts.
				if t.Sec == h.Sec && t.Off+16 >= h.Off && t.Off <= h.Off+16 {
					return "a function called after replace is stored uses the variable holding the patch"
				}
			}
			if f.Sections[t.Sec].Flags&elf.SHF_EXECINSTR != 0 {
				todo = append(todo, t)
			}
		}
	}
	return ""
}

// x86MaxInsts bounds the instructions followed in one callee.
const x86MaxInsts = 1 << 16

// x86CodeRefs returns the defined places the code run from at refers to
// through relocations (for calls, where the call goes). The code is what
// control flow reaches from at inside its section, up to returns and
// jumps elsewhere, so no symbol is needed: strip --strip-unneeded leaves
// none for local functions. Branches and calls within the section are
// followed; an indirect jump is not, and makes the callee unsafe.
func x86CodeRefs(f *elf64.File, at elf64.Ref) ([]elf64.Ref, string) {
	const unreadable = "a call after replace is stored goes to code whose relocations do not read"
	if f.Sections[at.Sec].Type != elf.SHT_PROGBITS {
		return nil, "a call after replace is stored goes to code without contents"
	}
	rs, err := f.Relocations(at.Sec)
	if err != nil {
		return nil, unreadable
	}
	code := f.SectionData(at.Sec)
	var out []elf64.Ref
	seen := map[uint64]bool{}
	todo := []uint64{at.Off}
	for len(todo) > 0 {
		pc := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		for pc < uint64(len(code)) && !seen[pc] {
			if len(seen) >= x86MaxInsts {
				return nil, "calls after replace is stored reach too much code to follow"
			}
			seen[pc] = true
			in, err := x86asm.Decode(code[pc:], 64)
			if err != nil {
				return nil, "a call after replace is stored goes to code that does not decode"
			}
			end := pc + uint64(in.Len)
			r, hasRel := relocIn(rs, pc, end)
			if hasRel {
				t, err := f.Target(r)
				if err != nil {
					return nil, unreadable
				}
				if t.Extern == "" {
					if isPCRel(r.Type) {
						t.Off += 4 // where the CPU goes: the addend counted from the field's end
					}
					out = append(out, t)
				}
			}
			rel, isRel := in.Args[0].(x86asm.Rel)
			switch {
			case in.Op == x86asm.RET || in.Op == x86asm.UD2 || in.Op == x86asm.INT:
				pc = uint64(len(code))
				continue
			case (in.Op == x86asm.JMP || in.Op == x86asm.CALL) && !isRel && !hasRel:
				return nil, "code called after replace is stored jumps or calls through a pointer"
			case isRel && !hasRel:
				if to := int64(end) + int64(rel); to >= 0 {
					todo = append(todo, uint64(to))
				}
			}
			if in.Op == x86asm.JMP {
				break
			}
			pc = end
		}
	}
	return out, ""
}

// x86Store is a store to a followed address; wild stores (indexed
// addresses) may hit anything.
type x86Store struct {
	at    x86Val
	size  int64
	value int64
	known bool
	wild  bool
	// from: the value stored was loaded from a static place (a module
	// parameter, perhaps); nonzero: what is stored is whether it is
	// non-zero (CMP $0 or TEST, then SETNE), not the value itself.
	from    x86Load
	load    bool
	nonzero bool
	// joined: the store was made before a branch target, so along
	// another path the place may hold something else.
	joined bool
	// pc is the store's instruction, for the linear scan's bypass check.
	pc uint64
}

type x86Call struct {
	stores int // stores made before the call
	args   []x86Val
	callee elf64.Ref
	known  bool // the callee is a relocated direct target
}

// x86Flow is the x86_64 code-flow tracker of the init code that builds a
// klp_patch on the heap (kpatch-build, klp-build): registers, statics and
// the stores made through followed pointers, kept across calls, and the
// calls themselves for enableSees to judge.
type x86Flow struct {
	x86Track
	holders map[int][]elf64.Ref // statics each root was ever stored in
	escaped map[int]bool        // roots stored into memory other than a static
	taken   map[elf64.Ref]bool  // statics whose address the code takes
	stores  []x86Store
	calls   []x86Call
	flags   x86Load // what the last CMP $0 or TEST compared with zero
	tested  bool
}

func newX86Flow() *x86Flow {
	return &x86Flow{x86Track: newX86Track(), holders: map[int][]elf64.Ref{}, escaped: map[int]bool{}, taken: map[elf64.Ref]bool{}}
}

var x86ArgRegs = []x86asm.Reg{x86asm.RDI, x86asm.RSI, x86asm.RDX, x86asm.RCX, x86asm.R8, x86asm.R9}

// x86EnableBytes scans section sec and returns, for each call or tail
// call to klp_enable_patch, the byte at off of the object in %rdi; else
// why not.
func x86EnableBytes(f *elf64.File, sec int, rs []elf64.Rela, target uint32, off uint64, joins bool) ([]byte, string, error) {
	var out []byte
	var jumps []x86Jump
	if !joins {
		jumps = x86Jumps(f, sec, rs)
	}
	why, err := x86Walk(f, sec, rs, target, joins, func(st *x86Flow, in x86Inst) string {
		p := st.reg(x86asm.RDI)
		v, why := st.enableSees(f, p, int64(off))
		if why == "" && !joins {
			k, _ := st.lastStore(p, int64(off))
			why = bypassed(jumps, functionStarts(f, sec), st.stores[k].pc, in.pc)
		}
		out = append(out, v)
		return why
	})
	if err != nil || why != "" {
		return nil, why, err
	}
	return out, "", nil
}

// x86Walk runs an x86Flow over section sec and calls enable at each call
// or tail call to klp_enable_patch, stopping at the first reason it
// gives. What the scan knows starts over at every function start and, with
// joins, is joined at every branch target and after every jump or return,
// so a value stored on one path is never taken for another path's.
func x86Walk(f *elf64.File, sec int, rs []elf64.Rela, target uint32, joins bool, enable func(*x86Flow, x86Inst) string) (string, error) {
	starts := functionStarts(f, sec)
	targets := map[uint64]bool{}
	if joins {
		targets = branchTargets(f, sec)
	}
	st := newX86Flow()
	for in, err := range x86Insts(f, sec, rs) {
		if err != nil {
			return "", err
		}
		// A branch target among bytes that did not decode counts too.
		for p := in.from; p <= in.pc; p++ {
			if targets[p] {
				st.join()
			}
		}
		if starts.reached(in.pc) {
			st = newX86Flow()
		}
		if (in.Op == x86asm.CALL || in.Op == x86asm.JMP) && in.hasRel && in.rel.Sym == target {
			if why := enable(st, in); why != "" {
				return why, nil
			}
			st.clobberCall()
		} else {
			n := len(st.stores)
			st.step(in)
			for i := n; i < len(st.stores); i++ {
				st.stores[i].pc = in.pc
			}
		}
		if joins && (in.Op == x86asm.JMP || in.Op == x86asm.RET) {
			st.join() // what follows is reached another way
		}
	}
	return "", nil
}

// staticCall is what the scan knows at a call to klp_enable_patch whose
// argument p is a static place: the stores to static places, wild stores,
// and the calls made before it, for initReplace to judge.
func (s *x86Flow) staticCall(p x86Val) (enableCall, bool) {
	patch, ok := p.place()
	if !ok {
		return enableCall{}, false
	}
	c := enableCall{patch: patch, holders: s.holders[p.root], escaped: s.escaped[p.root]}
	before := make([]int, len(s.stores)+1) // stores kept before each
	for i, st := range s.stores {
		before[i] = len(c.stores)
		at, ok := st.at.place()
		switch {
		case st.wild:
			c.stores = append(c.stores, store{wild: true})
		case ok:
			c.stores = append(c.stores, store{at: at, size: uint64(st.size), imm: st.value, isImm: st.known,
				from: st.from.from, load: st.load, nonzero: st.nonzero, fromSize: uint64(st.from.size), joined: st.joined})
		}
	}
	before[len(s.stores)] = len(c.stores)
	for _, call := range s.calls {
		cs := callSite{stores: before[call.stores], callee: call.callee, known: call.known}
		for _, a := range call.args {
			if at, ok := a.place(); ok {
				cs.args = append(cs.args, regValue{addr: at, isAddr: true})
			}
		}
		c.calls = append(c.calls, cs)
	}
	return c, true
}

// join forgets what may not hold where another path arrives: the
// registers and statics, and the values of the stores (their places stay:
// a store there on one path is not the initializer on all).
func (s *x86Flow) join() {
	s.regs, s.statics, s.tested = map[x86asm.Reg]x86Val{}, map[elf64.Ref]x86Val{}, false
	for i := range s.stores {
		s.stores[i].joined = true
	}
}

// step follows one instruction other than a call to klp_enable_patch.
func (s *x86Flow) step(in x86Inst) {
	switch {
	case in.Op == x86asm.CALL:
		c := x86Call{stores: len(s.stores), callee: in.at, known: in.hasRel}
		for _, r := range x86ArgRegs {
			c.args = append(c.args, s.reg(r))
		}
		s.calls = append(s.calls, c)
		s.clobberCall()
	case in.Op == x86asm.MOV || in.Op == x86asm.MOVZX || in.Op == x86asm.LEA:
		s.move(in)
	case in.Op == x86asm.XOR && sameReg(in.Args[0], in.Args[1]):
		s.setConst(in.Args[0].(x86asm.Reg), 0)
		s.tested = false
	case in.Op == x86asm.CMP || in.Op == x86asm.TEST:
		s.zeroTest(in)
	case in.Op == x86asm.SETNE && isMem(in.Args[0]):
		st := x86Store{from: s.flags, load: s.tested, nonzero: true}
		s.storeTo(in, in.Args[0].(x86asm.Mem), st)
	case (in.Op == x86asm.ADD || in.Op == x86asm.SUB) && isReg(in.Args[0]) && isImm(in.Args[1]):
		r := in.Args[0].(x86asm.Reg)
		d := int64(in.Args[1].(x86asm.Imm))
		if in.Op == x86asm.SUB {
			d = -d
		}
		v := s.reg(r)
		s.set(r, x86Val{v.root, v.off + d})
		s.tested = false
	case stringOps[in.Op]:
		// Unknown bytes from %rdi on, as many as %rcx says.
		s.stores = append(s.stores, x86Store{at: s.reg(x86asm.RDI), size: math.MaxInt32})
		for _, r := range []x86asm.Reg{x86asm.RDI, x86asm.RSI, x86asm.RCX} {
			s.forget(r)
		}
	default:
		s.other(in)
	}
}

// implicitRegs are registers instructions write without naming them.
var implicitRegs = map[x86asm.Op][]x86asm.Reg{
	x86asm.MUL: {x86asm.RAX, x86asm.RDX}, x86asm.IMUL: {x86asm.RAX, x86asm.RDX},
	x86asm.DIV: {x86asm.RAX, x86asm.RDX}, x86asm.IDIV: {x86asm.RAX, x86asm.RDX},
	x86asm.CWD: {x86asm.RDX}, x86asm.CDQ: {x86asm.RDX}, x86asm.CQO: {x86asm.RDX},
	x86asm.CPUID: {x86asm.RAX, x86asm.RBX, x86asm.RCX, x86asm.RDX},
	x86asm.RDTSC: {x86asm.RAX, x86asm.RDX},
	x86asm.LODSB: {x86asm.RAX, x86asm.RSI, x86asm.RCX}, x86asm.LODSW: {x86asm.RAX, x86asm.RSI, x86asm.RCX},
	x86asm.LODSD: {x86asm.RAX, x86asm.RSI, x86asm.RCX}, x86asm.LODSQ: {x86asm.RAX, x86asm.RSI, x86asm.RCX},
	x86asm.CMPSB: {x86asm.RDI, x86asm.RSI, x86asm.RCX}, x86asm.CMPSW: {x86asm.RDI, x86asm.RSI, x86asm.RCX},
	x86asm.CMPSD: {x86asm.RDI, x86asm.RSI, x86asm.RCX}, x86asm.CMPSQ: {x86asm.RDI, x86asm.RSI, x86asm.RCX},
	x86asm.SCASB: {x86asm.RDI, x86asm.RCX}, x86asm.SCASW: {x86asm.RDI, x86asm.RCX},
	x86asm.SCASD: {x86asm.RDI, x86asm.RCX}, x86asm.SCASQ: {x86asm.RDI, x86asm.RCX},
	x86asm.CMPXCHG: {x86asm.RAX},
}

// other follows an instruction the scan does not model: every register
// it may write, named or not, becomes unknown, and a write to memory is a
// store of an unknown value.
func (s *x86Flow) other(in x86Inst) {
	s.tested = false
	for _, r := range implicitRegs[in.Op] {
		s.forget(r)
	}
	for _, a := range in.Args {
		if r, ok := a.(x86asm.Reg); ok && (a == in.Args[0] && !readOnlyOps[in.Op] || in.Op == x86asm.XCHG || in.Op == x86asm.XADD || in.Op == x86asm.CMPXCHG) {
			s.forget(r)
		}
	}
	if m, ok := in.Args[0].(x86asm.Mem); ok && !readOnlyOps[in.Op] {
		s.storeTo(in, m, x86Store{})
	}
}

// zeroTest notes what a CMP or TEST compares with zero: a value loaded
// from a static place, by CMP $0 of it or TEST of a register with itself.
func (s *x86Flow) zeroTest(in x86Inst) {
	s.tested = false
	switch a := in.Args[0].(type) {
	case x86asm.Mem:
		if imm, ok := in.Args[1].(x86asm.Imm); ok && imm == 0 && in.Op == x86asm.CMP && in.hasRel && a.Base == x86asm.RIP {
			s.flags, s.tested = x86Load{from: in.at, size: in.MemBytes}, true
		}
	case x86asm.Reg:
		if in.Op == x86asm.TEST && sameReg(a, in.Args[1]) {
			s.flags, s.tested = s.loads[s.reg(a).root]
		}
	}
}

func isMem(a x86asm.Arg) bool { _, ok := a.(x86asm.Mem); return ok }
func isReg(a x86asm.Arg) bool { _, ok := a.(x86asm.Reg); return ok }
func isImm(a x86asm.Arg) bool { _, ok := a.(x86asm.Imm); return ok }

// move follows MOV, MOVZX and LEA, and the address arithmetic of LEA: the
// hook stores into the patch through pointers into what it allocated.
func (s *x86Flow) move(in x86Inst) {
	switch d := in.Args[0].(type) {
	case x86asm.Reg:
		if m, ok := in.Args[1].(x86asm.Mem); ok && in.Op == x86asm.LEA && m.Base != 0 && m.Base != x86asm.RIP && m.Index == 0 {
			b := s.reg(m.Base)
			s.set(d, x86Val{b.root, b.off + m.Disp})
			return
		}
		if s.moveToReg(in) {
			s.taken[in.at] = true // an address, maybe of a static
		}
	case x86asm.Mem:
		var st x86Store
		switch src := in.Args[1].(type) {
		case x86asm.Imm:
			// Relocated, the immediate is an address, not a constant;
			// a RIP-relative destination has a relocation of its own.
			own := 0
			if in.hasRel && d.Base == x86asm.RIP {
				own = 1
			}
			st.value, st.known = int64(src), in.nrel == own
		case x86asm.Reg:
			v := s.reg(src)
			st.value, st.known = s.consts[v]
			st.from, st.load = s.loads[v.root]
			if !in.hasRel || d.Base != x86asm.RIP {
				s.escaped[v.root] = true
			}
		}
		if in.hasRel && d.Base == x86asm.RIP {
			if v, ok := s.storeStatic(in); ok {
				s.holders[v.root] = append(s.holders[v.root], in.at)
			}
		}
		s.storeTo(in, d, st)
	}
}

// storeTo records a store of st's value to memory operand m of in.
func (s *x86Flow) storeTo(in x86Inst, m x86asm.Mem, st x86Store) {
	size := in.MemBytes
	if size <= 0 {
		size = 8
	}
	st.size = int64(size)
	s.tested = false
	if in.hasRel && m.Base == x86asm.RIP {
		if _, ok := in.Args[1].(x86asm.Reg); !ok || size != 8 || in.Op != x86asm.MOV {
			delete(s.statics, in.at)
		}
		st.at = s.addr(in.at)
		s.stores = append(s.stores, st)
		return
	}
	if m.Base == 0 || m.Base == x86asm.RIP || m.Index != 0 {
		st.wild = true
	} else {
		b := s.reg(m.Base)
		st.at = x86Val{b.root, b.off + m.Disp}
	}
	s.stores = append(s.stores, st)
}

// lastStore is the index of the last store, in scan order, to the byte
// at off of the object p points to; else why there is none to trust.
func (s *x86Flow) lastStore(p x86Val, off int64) (int, string) {
	want := p.off + off
	for i := len(s.stores) - 1; i >= 0; i-- {
		st := s.stores[i]
		if st.wild {
			return -1, "a store the scan cannot place comes after replace's"
		}
		if st.at.root == p.root && want >= st.at.off && want-st.at.off < st.size {
			return i, ""
		}
	}
	return -1, "no store to replace before klp_enable_patch"
}

// x86Jump is a jump within a code section; indirect: its target is not
// known.
type x86Jump struct {
	from, to uint64
	indirect bool
}

// x86Jumps lists the jumps of section sec (not calls, not tail calls
// out of the section through a relocation).
func x86Jumps(f *elf64.File, sec int, rs []elf64.Rela) []x86Jump {
	var out []x86Jump
	for in, err := range x86Insts(f, sec, rs) {
		if err != nil {
			break
		}
		if in.Op == x86asm.CALL || in.Op == x86asm.RET || in.hasRel || !isJump(in.Op) {
			continue
		}
		if rel, ok := in.Args[0].(x86asm.Rel); ok {
			if to := int64(in.end) + int64(rel); to >= 0 {
				out = append(out, x86Jump{from: in.pc, to: uint64(to)})
			}
			continue
		}
		out = append(out, x86Jump{from: in.pc, indirect: true})
	}
	return out
}

// isJump reports whether op is JMP or a conditional jump.
func isJump(op x86asm.Op) bool {
	switch op {
	case x86asm.JMP, x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JE, x86asm.JG, x86asm.JGE, x86asm.JL,
		x86asm.JLE, x86asm.JNE, x86asm.JNO, x86asm.JNP, x86asm.JNS, x86asm.JO, x86asm.JP, x86asm.JS,
		x86asm.JCXZ, x86asm.JECXZ, x86asm.JRCXZ, x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE:
		return true
	}
	return false
}

// bypassed is the linear scan's soundness check, for init code scanned
// without joins (kpatch-build's, whose loops come after the store): the
// store at pc store is what the call at pc call sees on every path only
// if no jump of the function from outside [store, call] lands in
// (store, call], which would reach the call without the store, or after
// another store the linear order does not show. Loops wholly between the
// two are fine. A jump whose target is unknown may land anywhere.
func bypassed(jumps []x86Jump, starts []uint64, store, call uint64) string {
	lo, hi := uint64(0), uint64(math.MaxUint64)
	for _, s := range starts {
		if s <= call {
			lo = s
		} else {
			hi = s
			break
		}
	}
	for _, j := range jumps {
		if j.from < lo || j.from >= hi {
			continue
		}
		if j.indirect {
			return "an indirect jump in the function may reach klp_enable_patch without replace's store"
		}
		if (j.from < store || j.from > call) && j.to > store && j.to <= call {
			return "a jump reaches klp_enable_patch without passing replace's store"
		}
	}
	return ""
}

// enableSees is the byte at off of the object p points to when
// klp_enable_patch is called: the last store there, if it is a constant
// and nothing after it can have changed it.
func (s *x86Flow) enableSees(f *elf64.File, p x86Val, off int64) (byte, string) {
	want := p.off + off
	k, why := s.lastStore(p, off)
	if why != "" {
		return 0, why
	}
	st := s.stores[k]
	if st.joined {
		return 0, "replace stored before a branch target: another path may store something else"
	}
	if !st.known {
		return 0, "replace stored from a value the scan cannot follow"
	}
	if s.escaped[p.root] {
		return 0, "the patch's address is stored in memory the scan does not follow"
	}
	for _, h := range s.holders[p.root] {
		if s.taken[h] {
			return 0, "the address of the variable holding the patch is taken"
		}
	}
	for _, c := range s.calls {
		if c.stores <= k {
			continue
		}
		for _, a := range c.args {
			if a.root == p.root {
				return 0, "the patch is passed to a call after replace is stored"
			}
		}
		if why := x86CalleeSafe(f, c.callee, c.known, s.holders[p.root]); why != "" {
			return 0, why
		}
	}
	return byte(uint64(st.value) >> (8 * uint64(want-st.at.off))), ""
}
