package elfscan

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	"golang.org/x/arch/x86/x86asm"

	"github.com/klpack/klpack/internal/elf64"
	"github.com/klpack/klpack/pkg/klp"
)

// The klp_patch a module enables is the argument of its call to
// klp_enable_patch. Finding it in the code, rather than by symbol name,
// works for modules stripped of local symbols and tells what the init code
// writes into the patch before enabling it (replace from a parameter).

// enableCall is one call to klp_enable_patch.
type enableCall struct {
	patch  elf64.Ref
	stores []store // stores the function made before the call
	// calls the function made before it (x86_64): a callee may store
	// into the patch too.
	calls []callSite
}

// callSite is a call the init code makes before klp_enable_patch.
type callSite struct {
	stores int // stores made before it
	callee elf64.Ref
	known  bool       // callee is a relocated direct target
	args   []regValue // what the argument registers hold
}

// store is a write to data seen in the init code.
type store struct {
	at    elf64.Ref
	size  uint64 // bytes written; 0: the scan matches the address only
	imm   int64  // the value, when stored from an immediate
	isImm bool
	from  elf64.Ref // the address the stored value was loaded from
	load  bool
	// joined: the store was made before a branch target, so along
	// another path the place may hold something else.
	joined bool
	// nonzero: the value stored is whether the fromSize bytes at from
	// are non-zero (C's conversion of an int to a bool: CMP $0 or TEST,
	// then SETNE), not the loaded bytes themselves.
	nonzero  bool
	fromSize uint64
}

// value a register holds, as far as the scan can tell.
type regValue struct {
	addr   elf64.Ref // the register holds this address
	isAddr bool
	page   bool      // arm64: the register holds the 4 KiB page of addr (ADRP)
	from   elf64.Ref // the register was loaded from this address
	load   bool
	size   uint64 // x86_64: bytes loaded from from
	imm    int64  // arm64: the register holds this constant
	isImm  bool
}

func enableCalls(f *elf64.File) ([]enableCall, error) {
	target, ok, err := enableTarget(f)
	if err != nil || !ok {
		return nil, err
	}
	scan := scanCode
	switch f.Machine {
	case elf.EM_X86_64:
	case elf.EM_AARCH64:
		scan = scanCodeARM64
	default:
		return nil, formatErr("", 0, "finding the klp_patch in %s code is not supported", f.Arch())
	}
	var calls []enableCall
	err = enableCode(f, target, func(sec int, rs []elf64.Rela) (bool, error) {
		c, err := scan(f, sec, rs, target)
		calls = append(calls, c...)
		return true, err
	})
	if err != nil {
		return nil, err
	}
	return calls, nil
}

func hasRelocTo(rs []elf64.Rela, sym uint32) bool {
	for _, r := range rs {
		if r.Sym == sym {
			return true
		}
	}
	return false
}

// scanCode decodes section sec linearly, following the values of registers
// within each function, and records every call or tail call to
// klp_enable_patch with the address in %rdi and the stores to data before
// it. Every write to a relocated address is a store, of a value the scan
// may not know: a write it cannot read must not leave the bytes it
// overwrote standing.
func scanCode(f *elf64.File, sec int, rs []elf64.Rela, target uint32) ([]enableCall, error) {
	starts := functionStarts(f, sec)
	joins := branchTargets(f, sec)
	var calls []enableCall
	regs := map[x86asm.Reg]regValue{}
	var flags regValue // what the last CMP $0 or TEST compared with zero
	var stores []store
	var sites []callSite
	for in, err := range x86Insts(f, sec, rs) {
		if err != nil {
			return nil, err
		}
		if starts.reached(in.pc) {
			regs, stores, sites, flags = map[x86asm.Reg]regValue{}, nil, nil, regValue{}
		}
		if joins[in.pc] {
			// Another path arrives: what the registers hold and what
			// the stores wrote may differ along it.
			regs, flags = map[x86asm.Reg]regValue{}, regValue{}
			for i := range stores {
				stores[i].joined = true
			}
		}
		switch in.Op {
		case x86asm.CALL, x86asm.JMP:
			if in.hasRel && in.rel.Sym == target {
				v := regs[x86asm.RDI]
				if !v.isAddr {
					return nil, formatErr(f.Sections[sec].Name, in.pc, "call to klp_enable_patch with an argument the scan cannot follow")
				}
				calls = append(calls, enableCall{patch: v.addr, stores: slices.Clone(stores), calls: slices.Clone(sites)})
			} else if in.Op == x86asm.CALL {
				c := callSite{stores: len(stores), callee: in.at, known: in.hasRel}
				for _, r := range x86ArgRegs {
					c.args = append(c.args, regs[r])
				}
				sites = append(sites, c)
			}
			regs, flags = map[x86asm.Reg]regValue{}, regValue{}
		case x86asm.RET:
			regs, flags = map[x86asm.Reg]regValue{}, regValue{}
		case x86asm.MOV, x86asm.MOVZX, x86asm.LEA:
			if st, ok := x86Move(in, regs); ok {
				stores = append(stores, st)
			}
		case x86asm.CMP, x86asm.TEST:
			flags = x86ZeroTest(in, regs)
		case x86asm.SETNE:
			if st, ok := x86MemStore(in); ok {
				st.from, st.load, st.nonzero, st.fromSize = flags.from, flags.load, true, flags.size
				stores = append(stores, st)
			}
		default:
			if st, ok := x86MemStore(in); ok && !readOnlyOps[in.Op] {
				stores = append(stores, st)
			}
			// Anything else may change its first operand.
			if r, ok := in.Args[0].(x86asm.Reg); ok {
				delete(regs, family(r))
			}
			flags = regValue{}
		}
	}
	return calls, nil
}

// x86Move follows a MOV, MOVZX or LEA in regs, and returns the store it
// makes to a relocated address.
func x86Move(in x86Inst, regs map[x86asm.Reg]regValue) (store, bool) {
	switch d := in.Args[0].(type) {
	case x86asm.Reg:
		r := family(d)
		switch src := in.Args[1].(type) {
		case x86asm.Imm:
			regs[r] = regValue{addr: in.at, isAddr: in.hasRel}
		case x86asm.Mem:
			if in.Op == x86asm.LEA {
				regs[r] = regValue{addr: in.at, isAddr: in.hasRel}
			} else {
				regs[r] = regValue{from: in.at, load: in.hasRel, size: uint64(in.MemBytes)}
			}
		case x86asm.Reg:
			regs[r] = regs[family(src)]
		default:
			delete(regs, r)
		}
	case x86asm.Mem:
		st, ok := x86MemStore(in)
		if !ok {
			return store{}, false
		}
		switch s := in.Args[1].(type) {
		case x86asm.Imm:
			st.imm, st.isImm = int64(s), true
		case x86asm.Reg:
			v := regs[family(s)]
			st.from, st.load = v.from, v.load
		}
		return st, true
	}
	return store{}, false
}

// x86MemStore is the store an instruction writing its first operand makes
// when that operand is a relocated address, its value not yet known.
func x86MemStore(in x86Inst) (store, bool) {
	if _, ok := in.Args[0].(x86asm.Mem); !ok || !in.hasRel {
		return store{}, false
	}
	return store{at: in.at, size: uint64(max(in.MemBytes, 1))}, true
}

// x86ZeroTest is what a CMP or TEST compares with zero: a value loaded
// from a relocated address, by CMP $0 of it or TEST of a register with
// itself; anything else compares a value the scan does not follow.
func x86ZeroTest(in x86Inst, regs map[x86asm.Reg]regValue) regValue {
	switch a := in.Args[0].(type) {
	case x86asm.Mem:
		if imm, ok := in.Args[1].(x86asm.Imm); ok && imm == 0 && in.Op == x86asm.CMP && in.hasRel {
			return regValue{from: in.at, load: true, size: uint64(in.MemBytes)}
		}
	case x86asm.Reg:
		if in.Op == x86asm.TEST && sameReg(a, in.Args[1]) {
			return regs[family(a)]
		}
	}
	return regValue{}
}

// relocsIn counts the relocations that patch bytes in [start, end).
func relocsIn(rs []elf64.Rela, start, end uint64) int {
	k := sort.Search(len(rs), func(i int) bool { return rs[i].Off >= start })
	n := 0
	for k+n < len(rs) && rs[k+n].Off < end {
		n++
	}
	return n
}

// relocIn returns the relocation that patches bytes in [start, end).
func relocIn(rs []elf64.Rela, start, end uint64) (elf64.Rela, bool) {
	k := sort.Search(len(rs), func(i int) bool { return rs[i].Off >= start })
	if k < len(rs) && rs[k].Off < end {
		return rs[k], true
	}
	return elf64.Rela{}, false
}

func isPCRel(typ uint32) bool {
	switch elf.R_X86_64(typ) {
	case elf.R_X86_64_PC32, elf.R_X86_64_PLT32, elf.R_X86_64_PC64:
		return true
	}
	return false
}

// family maps a register to its 64-bit name: AL, AX, EAX → RAX.
func family(r x86asm.Reg) x86asm.Reg {
	switch {
	case r >= x86asm.AL && r <= x86asm.R15B:
		return byteFamily(r)
	case r >= x86asm.AX && r <= x86asm.R15W:
		return x86asm.RAX + (r - x86asm.AX)
	case r >= x86asm.EAX && r <= x86asm.R15L:
		return x86asm.RAX + (r - x86asm.EAX)
	}
	return r
}

func byteFamily(r x86asm.Reg) x86asm.Reg {
	switch r {
	case x86asm.AH:
		return x86asm.RAX
	case x86asm.CH:
		return x86asm.RCX
	case x86asm.DH:
		return x86asm.RDX
	case x86asm.BH:
		return x86asm.RBX
	case x86asm.SPB:
		return x86asm.RSP
	case x86asm.BPB:
		return x86asm.RBP
	case x86asm.SIB:
		return x86asm.RSI
	case x86asm.DIB:
		return x86asm.RDI
	}
	if r >= x86asm.AL && r <= x86asm.BL {
		return x86asm.RAX + (r - x86asm.AL)
	}
	if r >= x86asm.R8B && r <= x86asm.R15B {
		return x86asm.R8 + (r - x86asm.R8B)
	}
	return r
}

// param is one module parameter from __param.
type param struct {
	name string
	arg  elf64.Ref
}

// moduleParams reads the struct kernel_param table: the name pointer at 0
// and the argument pointer at 32 of each 40-byte entry on 64-bit kernels.
func moduleParams(f *elf64.File) ([]param, error) {
	i := f.Section("__param")
	if i < 0 {
		return nil, nil
	}
	const size, nameOff, argOff = 40, 0, 32
	n := f.Sections[i].Size
	if n%size != 0 {
		return nil, formatErr("__param", 0, "size %d not a multiple of %d", n, size)
	}
	var out []param
	for off := uint64(0); off < n; off += size {
		name, ok, err := f.Pointer(i, off+nameOff)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, formatErr("__param", off, "parameter without a name")
		}
		s, err := f.StringAt(name)
		if err != nil {
			return nil, err
		}
		arg, ok, err := f.Pointer(i, off+argOff)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, param{name: s, arg: arg})
		}
	}
	return out, nil
}

// staticReplaceHint is where a hand-written module's replace must be
// declared when its init code stores a value the scan cannot follow.
const staticReplaceHint = "the init code stores replace from a value the scan cannot follow: declare the patch's replace in the release manifest"

// initReplace applies what the init code stores into patch.replace before
// enabling the patch. The last store there wins; one the scan cannot
// evaluate makes replace unknown, never the static initializer's value.
func initReplace(f *elf64.File, l *layout, p *klp.Patch, c enableCall, params []param) error {
	at := elf64.Ref{Sec: c.patch.Sec, Off: c.patch.Off + uint64(l.patchReplace)}
	last := -1
	for i, st := range c.stores {
		// k: which byte of a wider store lands on the bool.
		k, hit := uint64(0), st.at == at
		if st.size > 1 && st.at.Extern == "" && at.Extern == "" && st.at.Sec == at.Sec &&
			st.at.Off <= at.Off && at.Off-st.at.Off < st.size {
			k, hit = at.Off-st.at.Off, true
		}
		if !hit {
			continue
		}
		last = i
		if err := applyStore(f, p, st, k, params); err != nil {
			return err
		}
	}
	if p.ReplaceSource == klp.ReplaceUnknown {
		return nil
	}
	// A call after the last store (or any call, without one) may store
	// into the patch itself: only calls that cannot reach it leave the
	// answer standing.
	for _, cs := range c.calls {
		if cs.stores <= last {
			continue
		}
		if why := callReaches(f, cs, c.patch, at); why != "" {
			p.Replace, p.ReplaceSource, p.ReplaceParam = false, klp.ReplaceUnknown, ""
			p.ReplaceHint = staticReplaceHint + " (" + why + ")"
			return nil
		}
	}
	return nil
}

// callReaches says why a call may change the patch at patch, whose
// replace field is at replace: it is handed the patch, or its callee
// names it; "" when it cannot.
func callReaches(f *elf64.File, cs callSite, patch, replace elf64.Ref) string {
	for _, a := range cs.args {
		if a.isAddr && a.addr.Sec == patch.Sec && a.addr.Extern == patch.Extern && a.addr.Off <= replace.Off && a.addr.Off >= patch.Off {
			return "the patch is passed to a call before klp_enable_patch"
		}
	}
	return x86CalleeSafe(f, cs.callee, cs.known, []elf64.Ref{patch, replace})
}

// applyStore sets replace from one store hitting it, k bytes into it.
func applyStore(f *elf64.File, p *klp.Patch, st store, k uint64, params []param) error {
	unknown := func(why string) {
		p.Replace, p.ReplaceSource, p.ReplaceParam = false, klp.ReplaceUnknown, ""
		p.ReplaceHint = staticReplaceHint + " (" + why + ")"
	}
	name := ""
	if st.load {
		name = paramNamed(params, st.from)
	}
	switch {
	case st.joined:
		unknown("stored before a branch target: another path may store something else")
	case st.isImm:
		shift := 8 * k
		if f.ByteOrder == binary.BigEndian {
			shift = 8 * (st.size - 1 - k)
		}
		p.Replace, p.ReplaceSource, p.ReplaceParam, p.ReplaceHint = st.imm>>shift&0xff != 0, klp.ReplaceInit, "", ""
	case name == "":
		unknown("not a constant or a module parameter")
	case !st.nonzero && (k != 0 || st.size > 1 && f.ByteOrder == binary.BigEndian):
		// Which byte of the loaded value lands on the bool depends on
		// the width of the load: not followed.
		unknown(fmt.Sprintf("parameter %s stored %d bytes wide", name, st.size))
	default:
		if st.from.Extern != "" {
			return formatErr("", 0, "replace loaded from undefined %s", st.from.Extern)
		}
		n := uint64(1)
		if st.nonzero {
			n = st.fromSize
		}
		b, err := f.Read(st.from.Sec, st.from.Off, n)
		if err != nil {
			return fmt.Errorf("default of parameter %s: %w", name, err)
		}
		p.Replace, p.ReplaceSource, p.ReplaceParam, p.ReplaceHint = slices.ContainsFunc(b, func(c byte) bool { return c != 0 }), klp.ReplaceParam, name, ""
	}
	return nil
}

func paramNamed(params []param, at elf64.Ref) string {
	for _, p := range params {
		if p.arg == at {
			return p.name
		}
	}
	return ""
}
