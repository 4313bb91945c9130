package elfscan

import (
	"debug/elf"
	"encoding/binary"
	"slices"

	"github.com/klpack/klpack/internal/elf64"
)

// arm64 init code puts the klp_patch address into x0 with ADRP (page,
// R_AARCH64_ADR_PREL_PG_HI21) and ADD (low 12 bits,
// R_AARCH64_ADD_ABS_LO12_NC), then calls klp_enable_patch with BL
// (R_AARCH64_CALL26) or tail-calls it with B (R_AARCH64_JUMP26). The few
// instructions that matter are decoded here from their encodings: A64 is
// fixed-width, and arm64asm keeps the immediates it decodes unexported.
// Anything else that may write a register makes its value unknown, and a
// branch target forgets what was known, so the scan fails rather than
// follow a value along a path the code may not take.

// a64Regs is what the scan knows of x0..x30; x31 is sp or xzr by context
// and never holds a tracked value.
type a64Regs [31]regValue

// Instruction encodings: value and mask of each form the scan follows.
const (
	a64ADRP     = 0x90000000 // ADRP Xd, label
	a64ADRPMask = 0x9f000000
	a64ADDX     = 0x91000000 // ADD Xd, Xn|SP, #imm{, LSL #12}
	a64ADDXMask = 0xff800000
	a64MOVX     = 0xaa0003e0 // MOV Xd, Xm (ORR Xd, XZR, Xm)
	a64MOVW     = 0x2a0003e0 // MOV Wd, Wm
	a64MOVMask  = 0xffe0ffe0
	a64MOVZ     = 0x52800000 // MOVZ Wd|Xd, #imm16, LSL #hw*16 (sf in bit 31)
	a64MOVN     = 0x12800000 // MOVN
	a64MOVWMask = 0x7f800000
	a64STRU     = 0x39000000 // STRB/STRH/STR (unsigned offset), size in bits 31:30
	a64LDRU     = 0x39400000 // LDRB/LDRH/LDR (unsigned offset)
	a64LSUMask  = 0x3fc00000
	a64STUR     = 0x38000000 // STURB/STURH/STUR (9-bit signed offset)
	a64LDUR     = 0x38400000
	a64LSURMask = 0x3fe00c00
	a64BL       = 0x94000000
	a64B        = 0x14000000
	a64BMask    = 0xfc000000
	a64BCond    = 0x54000000 // B.cond
	a64BCondMsk = 0xff000010
	a64CBZ      = 0x34000000 // CBZ/CBNZ
	a64TBZ      = 0x36000000 // TBZ/TBNZ
	a64CBMask   = 0x7e000000
	a64RET      = 0xd65f0000 // RET Xn
	a64BR       = 0xd61f0000 // BR Xn
	a64BLR      = 0xd63f0000 // BLR Xn
	a64RegBMask = 0xfffffc1f
	a64HINT     = 0xd503201f // NOP, BTI, PACIASP, ...
	a64HINTMask = 0xfffff01f
)

// scanCodeARM64 is scanCode for arm64: every call or tail call to
// klp_enable_patch, with the address in x0 and the stores before it.
func scanCodeARM64(f *elf64.File, sec int, rs []elf64.Rela, target uint32) ([]enableCall, error) {
	s := newA64Scan(f, sec, rs, target)
	for pc := uint64(0); pc < s.n; pc += 4 {
		s.arrive(pc)
		if err := s.step(pc); err != nil {
			return nil, err
		}
	}
	return s.calls, nil
}

// a64Scan is one linear pass over an arm64 code section: what it knows of
// the registers and of the stores made since the function started, and
// the calls to klp_enable_patch found so far.
type a64Scan struct {
	f      *elf64.File
	sec    int
	rs     []elf64.Rela
	target uint32
	code   []byte
	n      uint64   // bytes of whole instructions
	resets a64Marks // function starts
	joins  a64Marks // branch targets
	regs   a64Regs
	stores []store
	sites  []callSite // calls made since the function started
	calls  []enableCall
}

func newA64Scan(f *elf64.File, sec int, rs []elf64.Rela, target uint32) *a64Scan {
	code := f.SectionData(sec)
	n := uint64(len(code)) &^ 3
	// A bit per instruction: bounded by the code, whatever the symbols say.
	s := &a64Scan{f: f, sec: sec, rs: rs, target: target, code: code, n: n,
		resets: make(a64Marks, n/4/64+1), joins: make(a64Marks, n/4/64+1)}
	for _, v := range f.FunctionStarts(sec) {
		s.resets.set(v, n)
	}
	for pc := uint64(0); pc < n; pc += 4 {
		insn := binary.LittleEndian.Uint32(code[pc:])
		if rel, ok := relocIn(rs, pc, pc+4); ok {
			if t, err := f.Target(rel); err == nil && t.Extern == "" && t.Sec == sec && isA64Branch(insn) {
				s.joins.set(t.Off, n)
			}
			continue
		}
		if to, ok := a64BranchTarget(insn, pc); ok {
			s.joins.set(to, n)
		}
	}
	return s
}

// arrive forgets what may not hold at pc: everything at a function's
// start; at a branch target, where another path arrives, what join does.
func (s *a64Scan) arrive(pc uint64) {
	if s.resets.has(pc) {
		s.regs, s.stores, s.sites = a64Regs{}, nil, nil
	}
	if s.joins.has(pc) {
		s.join()
	}
}

// join forgets the registers and marks the stores made so far joined:
// along another path their places may hold something else.
func (s *a64Scan) join() {
	s.regs = a64Regs{}
	for i := range s.stores {
		s.stores[i].joined = true
	}
}

// call records a call other than to klp_enable_patch, with what x0..x7
// hold, and forgets what the callee may change.
func (s *a64Scan) call(callee elf64.Ref, known bool) {
	c := callSite{stores: len(s.stores), callee: callee, known: known}
	for r := range uint32(8) {
		c.args = append(c.args, s.regs.get(r))
	}
	s.sites = append(s.sites, c)
	s.regs.clobberCall()
}

// step follows the instruction at pc.
func (s *a64Scan) step(pc uint64) error {
	insn := binary.LittleEndian.Uint32(s.code[pc:])
	rel, hasRel := relocIn(s.rs, pc, pc+4)
	var val elf64.Ref
	if hasRel {
		var err error
		if val, err = s.f.Target(rel); err != nil {
			return err
		}
	}
	rd := insn & 31
	switch {
	case insn&a64HINTMask == a64HINT:
	case insn&a64ADRPMask == a64ADRP:
		s.regs.set(rd, regValue{})
		if hasRel && isA64PageRel(rel.Type) {
			s.regs.set(rd, regValue{addr: val, page: true})
		}
	case insn&a64ADDXMask == a64ADDX:
		s.regs.set(rd, s.addImm(insn, rel, hasRel, val))
	case insn&a64MOVMask == a64MOVX, insn&a64MOVMask == a64MOVW:
		s.regs.set(rd, s.movReg(insn))
	case insn&a64MOVWMask == a64MOVZ, insn&a64MOVWMask == a64MOVN:
		s.regs.set(rd, a64MoveWide(insn, hasRel))
	case insn&a64LSUMask == a64STRU, insn&a64LSUMask == a64LDRU,
		insn&a64LSURMask == a64STUR, insn&a64LSURMask == a64LDUR:
		s.loadStore(insn, rel, hasRel, val)
	case insn&a64BMask == a64BL, insn&a64BMask == a64B:
		return s.branch(pc, insn, rel, hasRel)
	case insn&a64RegBMask == a64RET, insn&a64RegBMask == a64BR:
		s.join() // what follows is reached another way
	case insn&a64RegBMask == a64BLR:
		s.call(elf64.Ref{}, false)
	case insn>>25&5 == 4:
		s.otherLoadStore(insn)
	case insn>>26&7 == 5:
		// Other branches and system instructions: calls through
		// other forms clobber what a call does.
		s.regs.clobberCall()
		s.regs.set(rd, regValue{})
	default:
		s.regs.set(rd, regValue{})
	}
	return nil
}

// addImm is what ADD Xd, Xn, #imm leaves in Xd: the low 12 bits of an
// address whose page Xn holds (ADD_ABS_LO12_NC), or a known address plus
// the immediate.
func (s *a64Scan) addImm(insn uint32, rel elf64.Rela, hasRel bool, val elf64.Ref) regValue {
	base := s.regs.get(insn >> 5 & 31)
	switch {
	case hasRel && elf.R_AARCH64(rel.Type) == elf.R_AARCH64_ADD_ABS_LO12_NC:
		if samePage(base, val) {
			return regValue{addr: val, isAddr: true}
		}
	case !hasRel && base.isAddr && base.addr.Extern == "":
		imm := uint64(insn >> 10 & 0xfff)
		if insn&(1<<22) != 0 {
			imm <<= 12
		}
		return regValue{addr: elf64.Ref{Sec: base.addr.Sec, Off: base.addr.Off + imm}, isAddr: true}
	}
	return regValue{}
}

// movReg is what MOV Xd, Xm or MOV Wd, Wm leaves in the destination; the
// zero register is the constant 0, and a 32-bit copy loses an address.
func (s *a64Scan) movReg(insn uint32) regValue {
	rm := insn >> 16 & 31
	if rm == 31 {
		return regValue{isImm: true}
	}
	v := s.regs.get(rm)
	if insn&a64MOVMask == a64MOVW && (v.isAddr || v.page) {
		return regValue{} // truncated to 32 bits
	}
	return v
}

// a64MoveWide is the constant MOVZ or MOVN puts in its register; under a
// MOVW relocation the value is the loader's, not followed.
func a64MoveWide(insn uint32, hasRel bool) regValue {
	if hasRel {
		return regValue{}
	}
	v := uint64(insn>>5&0xffff) << (16 * (insn >> 21 & 3))
	if insn&a64MOVWMask == a64MOVN {
		v = ^v
	}
	if insn>>31 == 0 {
		v = uint64(uint32(v))
	}
	return regValue{imm: int64(v), isImm: true}
}

// loadStore follows LDR/STR (unsigned offset) and LDUR/STUR: a load
// from a known place leaves where it came from in the register, a store
// to one is recorded with what is known of its value.
func (s *a64Scan) loadStore(insn uint32, rel elf64.Rela, hasRel bool, val elf64.Ref) {
	rd := insn & 31
	size := insn >> 30
	unsigned := insn&a64LSUMask == a64STRU || insn&a64LSUMask == a64LDRU
	off := int64(int32(insn<<11) >> 23) // imm9 at bits 20:12
	if unsigned {
		off = int64(insn>>10&0xfff) << size
	}
	var at elf64.Ref
	known := false
	base := s.regs.get(insn >> 5 & 31)
	switch {
	case hasRel && isA64LoStore(rel.Type):
		at, known = val, samePage(base, val)
	case !hasRel && base.isAddr && base.addr.Extern == "":
		at, known = elf64.Ref{Sec: base.addr.Sec, Off: base.addr.Off + uint64(off)}, true
	}
	if insn&a64LSUMask == a64LDRU || insn&a64LSURMask == a64LDUR {
		v := regValue{}
		if known {
			v = regValue{from: at, load: true}
		}
		s.regs.set(rd, v)
		return
	}
	if !known {
		return // a store the scan cannot place: the stack, most likely
	}
	st := store{at: at, size: 1 << size}
	src := s.regs.get(rd)
	if rd == 31 {
		src = regValue{isImm: true} // wzr/xzr
	}
	switch {
	case src.isImm:
		st.imm, st.isImm = src.imm, true
		if size < 3 {
			st.imm &= 1<<(8<<size) - 1
		}
	case src.load:
		st.from, st.load = src.from, true
	}
	s.stores = append(s.stores, st)
}

// branch follows B and BL: a call or tail call to klp_enable_patch is
// recorded with the address in x0.
func (s *a64Scan) branch(pc uint64, insn uint32, rel elf64.Rela, hasRel bool) error {
	if hasRel && rel.Sym == s.target {
		if t := elf.R_AARCH64(rel.Type); t != elf.R_AARCH64_CALL26 && t != elf.R_AARCH64_JUMP26 {
			return formatErr(s.f.Sections[s.sec].Name, pc, "branch to klp_enable_patch relocated by %v, want R_AARCH64_CALL26 or R_AARCH64_JUMP26", t)
		}
		v := s.regs.get(0)
		if !v.isAddr {
			return formatErr(s.f.Sections[s.sec].Name, pc, "call to klp_enable_patch with an argument the scan cannot follow")
		}
		s.calls = append(s.calls, enableCall{patch: v.addr, stores: slices.Clone(s.stores), calls: slices.Clone(s.sites)})
		s.regs.clobberCall()
	} else if insn&a64BMask == a64BL {
		// Only a relocated BL names its callee; any other is not followed.
		var callee elf64.Ref
		known := hasRel && elf.R_AARCH64(rel.Type) == elf.R_AARCH64_CALL26
		if known {
			var err error
			if callee, err = s.f.Target(rel); err != nil {
				return err
			}
		}
		s.call(callee, known)
	}
	if insn&a64BMask == a64B {
		s.join() // the code below is reached another way
	}
	return nil
}

// otherLoadStore follows the loads and stores loadStore does not: the
// target, a second target (pairs) and the base (write-back) may change,
// and a store whose place is known is recorded.
func (s *a64Scan) otherLoadStore(insn uint32) {
	if st, ok := a64OtherStore(insn, &s.regs); ok {
		s.stores = append(s.stores, st)
	}
	s.regs.set(insn&31, regValue{})
	s.regs.set(insn>>10&31, regValue{})
	if a64WritesBack(insn) {
		s.regs.set(insn>>5&31, regValue{})
	}
}

// a64Marks is a set of instruction offsets in a section, one bit each.
type a64Marks []uint64

// set marks off; offsets outside the code or between instructions are
// not where any instruction starts, and are dropped.
func (m a64Marks) set(off, n uint64) {
	if off < n && off%4 == 0 {
		m[off/4/64] |= 1 << (off / 4 % 64)
	}
}

func (m a64Marks) has(off uint64) bool {
	return m[off/4/64]&(1<<(off/4%64)) != 0
}

// a64OtherStore places the stores of register pairs and of SIMD&FP
// registers whose base holds a known address: a compiler may clear or copy
// several fields of the klp_patch at once. The value is known only when
// both registers of an integer pair are zero. Stores in forms not decoded
// here (register offset, exclusive, release) are not placed.
func a64OtherStore(insn uint32, regs *a64Regs) (store, bool) {
	base := regs.get(insn >> 5 & 31)
	if !base.isAddr || base.addr.Extern != "" {
		return store{}, false
	}
	imm7 := int64(int32(insn<<10) >> 25) // bits 21:15, scaled below
	postIndex := insn>>23&3 == 1
	var (
		off  int64
		size uint64
		zero bool
	)
	switch {
	case insn&0x3e400000 == 0x28000000: // STP, STNP, STGP (integer)
		w, scale := uint64(4), int64(4)
		switch insn >> 30 {
		case 1: // STGP: two doublewords, offset in 16-byte units
			w, scale = 8, 16
		case 2:
			w, scale = 8, 8
		case 3:
			return store{}, false
		}
		size = 2 * w
		if !postIndex {
			off = imm7 * scale
		}
		rt, rt2 := insn&31, insn>>10&31
		isZero := func(r uint32) bool { v := regs.get(r); return r == 31 || v.isImm && v.imm == 0 }
		zero = isZero(rt) && isZero(rt2)
	case insn&0x3f400000 == 0x3d000000: // STR (SIMD&FP, unsigned offset)
		scale := insn>>30 | (insn>>23&1)<<2
		if scale > 4 {
			return store{}, false
		}
		size = 1 << scale
		off = int64(insn>>10&0xfff) << scale
	case insn&0x3e400000 == 0x2c000000: // STP, STNP (SIMD&FP)
		if insn>>30 == 3 {
			return store{}, false
		}
		w := uint64(4) << (insn >> 30)
		size = 2 * w
		if !postIndex {
			off = imm7 * int64(w)
		}
	default:
		return store{}, false
	}
	return store{at: elf64.Ref{Sec: base.addr.Sec, Off: base.addr.Off + uint64(off)}, size: size, isImm: zero}, true
}

// a64WritesBack reports whether a load or store may change its base
// register: false only for the forms known not to (pairs with a signed
// offset or no-allocate, single registers with an unsigned, unscaled,
// unprivileged or register offset).
func a64WritesBack(insn uint32) bool {
	switch insn >> 27 & 7 {
	case 5: // pairs
		mode := insn >> 23 & 3
		return mode == 1 || mode == 3
	case 7: // single register
		if insn>>24&3 == 1 {
			return false // unsigned offset
		}
		if insn>>24&3 == 0 {
			// bit 21 clear: unscaled (00), post (01), unprivileged (10),
			// pre (11); set: register offset (10), atomics (00)
			idx := insn >> 10 & 3
			if insn&(1<<21) == 0 {
				return idx == 1 || idx == 3
			}
			return idx != 2
		}
	}
	return true
}

func (r *a64Regs) get(i uint32) regValue {
	if i >= uint32(len(r)) {
		return regValue{}
	}
	return r[i]
}

func (r *a64Regs) set(i uint32, v regValue) {
	if i < uint32(len(r)) {
		r[i] = v
	}
}

// clobberCall forgets the registers a call may change: x0..x18 and the
// link register; x19..x29 are callee-saved.
func (r *a64Regs) clobberCall() {
	for i := 0; i <= 18; i++ {
		r[i] = regValue{}
	}
	r[30] = regValue{}
}

// samePage reports whether base holds the page (ADRP) of the symbol a
// low-12-bit relocation completes. Compilers pair them on one symbol and
// section; anything else is not followed.
func samePage(base regValue, lo elf64.Ref) bool {
	if !base.page {
		return false
	}
	if lo.Extern != "" || base.addr.Extern != "" {
		return lo.Extern == base.addr.Extern
	}
	return base.addr.Sec == lo.Sec
}

func isA64PageRel(typ uint32) bool {
	switch elf.R_AARCH64(typ) {
	case elf.R_AARCH64_ADR_PREL_PG_HI21, elf.R_AARCH64_ADR_PREL_PG_HI21_NC:
		return true
	}
	return false
}

func isA64LoStore(typ uint32) bool {
	switch elf.R_AARCH64(typ) {
	case elf.R_AARCH64_LDST8_ABS_LO12_NC, elf.R_AARCH64_LDST16_ABS_LO12_NC,
		elf.R_AARCH64_LDST32_ABS_LO12_NC, elf.R_AARCH64_LDST64_ABS_LO12_NC,
		elf.R_AARCH64_LDST128_ABS_LO12_NC:
		return true
	}
	return false
}

func isA64Branch(insn uint32) bool {
	return insn&a64BMask == a64B || insn&a64BCondMsk == a64BCond ||
		insn&a64CBMask == a64CBZ || insn&a64CBMask == a64TBZ
}

// a64BranchTarget returns where a PC-relative branch without a relocation
// goes; BL returns to the next instruction, so its callee is no join.
func a64BranchTarget(insn uint32, pc uint64) (uint64, bool) {
	var off int64
	switch {
	case insn&a64BMask == a64B:
		off = int64(int32(insn<<6) >> 6)
	case insn&a64BCondMsk == a64BCond, insn&a64CBMask == a64CBZ:
		off = int64(int32(insn<<8) >> 13) // imm19 at bits 23:5
	case insn&a64CBMask == a64TBZ:
		off = int64(int32(insn<<13) >> 18) // imm14 at bits 18:5
	default:
		return 0, false
	}
	return pc + uint64(off*4), true
}
