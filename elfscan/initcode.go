package elfscan

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"sort"

	"golang.org/x/arch/x86/x86asm"

	"github.com/klpack/klpack/pkg/klp"
)

// The klp_patch a module enables is the argument of its call to
// klp_enable_patch. Finding it in the code, rather than by symbol name,
// works for modules stripped of local symbols and tells what the init code
// writes into the patch before enabling it (replace from a parameter).

// enableCall is one call to klp_enable_patch.
type enableCall struct {
	patch  ref
	stores []store // stores the function made before the call
}

// store is a write to data seen in the init code.
type store struct {
	at    ref
	size  uint64 // bytes written; 0: the scan matches the address only
	imm   int64  // the value, when stored from an immediate
	isImm bool
	from  ref // the address the stored register was loaded from
	load  bool
}

// value a register holds, as far as the scan can tell.
type regValue struct {
	addr   ref // the register holds this address
	isAddr bool
	page   bool // arm64: the register holds the 4 KiB page of addr (ADRP)
	from   ref  // the register was loaded from this address
	load   bool
	imm    int64 // arm64: the register holds this constant
	isImm  bool
}

func enableCalls(f *elfFile) ([]enableCall, error) {
	target, ok, err := enableTarget(f)
	if err != nil || !ok {
		return nil, err
	}
	scan := scanCode
	switch f.machine {
	case elf.EM_X86_64:
	case elf.EM_AARCH64:
		scan = scanCodeARM64
	default:
		return nil, formatErr("", 0, "finding the klp_patch in %s code is not supported", archName(f.machine))
	}
	var calls []enableCall
	err = enableCode(f, target, func(sec int, rs []rela) (bool, error) {
		c, err := scan(f, sec, rs, target)
		calls = append(calls, c...)
		return true, err
	})
	if err != nil {
		return nil, err
	}
	return calls, nil
}

func hasRelocTo(rs []rela, sym uint32) bool {
	for _, r := range rs {
		if r.sym == sym {
			return true
		}
	}
	return false
}

// scanCode decodes section sec linearly, following the values of registers
// within each function, and records every call or tail call to
// klp_enable_patch with the address in %rdi.
func scanCode(f *elfFile, sec int, rs []rela, target uint32) ([]enableCall, error) {
	starts := functionStarts(f, sec)
	var calls []enableCall
	regs := map[x86asm.Reg]regValue{}
	var stores []store
	for in, err := range x86Insts(f, sec, rs) {
		if err != nil {
			return nil, err
		}
		if starts.reached(in.pc) {
			regs, stores = map[x86asm.Reg]regValue{}, nil
		}
		switch in.Op {
		case x86asm.CALL, x86asm.JMP:
			if in.hasRel && in.rel.sym == target {
				v := regs[x86asm.RDI]
				if !v.isAddr {
					return nil, formatErr(f.sections[sec].name, in.pc, "call to klp_enable_patch with an argument the scan cannot follow")
				}
				calls = append(calls, enableCall{patch: v.addr, stores: stores})
			}
			if in.Op == x86asm.CALL {
				regs = map[x86asm.Reg]regValue{}
			}
		case x86asm.MOV, x86asm.MOVZX, x86asm.LEA:
			dst, src := in.Args[0], in.Args[1]
			switch d := dst.(type) {
			case x86asm.Reg:
				r := family(d)
				switch src.(type) {
				case x86asm.Imm:
					regs[r] = regValue{addr: in.at, isAddr: in.hasRel}
				case x86asm.Mem:
					if in.Op == x86asm.LEA {
						regs[r] = regValue{addr: in.at, isAddr: in.hasRel}
					} else {
						regs[r] = regValue{from: in.at, load: in.hasRel}
					}
				case x86asm.Reg:
					regs[r] = regs[family(src.(x86asm.Reg))]
				default:
					delete(regs, r)
				}
			case x86asm.Mem:
				if !in.hasRel {
					break
				}
				st := store{at: in.at}
				switch s := src.(type) {
				case x86asm.Imm:
					st.imm, st.isImm = int64(s), true
				case x86asm.Reg:
					v := regs[family(s)]
					st.from, st.load = v.from, v.load
				}
				stores = append(stores, st)
			}
		default:
			// Anything else may change its first operand.
			if r, ok := in.Args[0].(x86asm.Reg); ok {
				delete(regs, family(r))
			}
		}
	}
	return calls, nil
}

// relocIn returns the relocation that patches bytes in [start, end).
func relocIn(rs []rela, start, end uint64) (rela, bool) {
	k := sort.Search(len(rs), func(i int) bool { return rs[i].off >= start })
	if k < len(rs) && rs[k].off < end {
		return rs[k], true
	}
	return rela{}, false
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
	arg  ref
}

// moduleParams reads the struct kernel_param table: the name pointer at 0
// and the argument pointer at 32 of each 40-byte entry on 64-bit kernels.
func moduleParams(f *elfFile) ([]param, error) {
	i := f.section("__param")
	if i < 0 {
		return nil, nil
	}
	const size, nameOff, argOff = 40, 0, 32
	n := f.sections[i].size
	if n%size != 0 {
		return nil, formatErr("__param", 0, "size %d not a multiple of %d", n, size)
	}
	var out []param
	for off := uint64(0); off < n; off += size {
		name, ok, err := f.pointer(i, off+nameOff)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, formatErr("__param", off, "parameter without a name")
		}
		s, err := f.stringAt(name)
		if err != nil {
			return nil, err
		}
		arg, ok, err := f.pointer(i, off+argOff)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, param{name: s, arg: arg})
		}
	}
	return out, nil
}

// initReplace applies what the init code stores into patch.replace before
// enabling the patch.
func initReplace(f *elfFile, l *layout, p *klp.Patch, c enableCall, params []param) error {
	at := ref{sec: c.patch.sec, off: c.patch.off + uint64(l.patchReplace)}
	for _, st := range c.stores {
		// k: which byte of a wider store lands on the bool.
		k, hit := uint64(0), st.at == at
		if st.size > 1 && st.at.extern == "" && at.extern == "" && st.at.sec == at.sec &&
			st.at.off <= at.off && at.off-st.at.off < st.size {
			k, hit = at.off-st.at.off, true
		}
		if !hit {
			continue
		}
		switch {
		case st.isImm:
			shift := 8 * k
			if f.bo == binary.BigEndian {
				shift = 8 * (st.size - 1 - k)
			}
			p.Replace, p.ReplaceSource, p.ReplaceParam = st.imm>>shift&0xff != 0, klp.ReplaceInit, ""
		case st.load && st.size > 1 && (k != 0 || f.bo == binary.BigEndian):
			// Which byte of the loaded value lands on the bool depends on
			// the width of the load: not followed.
			return formatErr("", 0, "klp_patch %s: init code sets replace with a %d-byte store the scan cannot follow", p.Symbol, st.size)
		case st.load && paramNamed(params, st.from) != "":
			if st.from.extern != "" {
				return formatErr("", 0, "replace loaded from undefined %s", st.from.extern)
			}
			b, err := f.read(st.from.sec, st.from.off, 1)
			if err != nil {
				return fmt.Errorf("default of parameter %s: %w", paramNamed(params, st.from), err)
			}
			p.Replace, p.ReplaceSource, p.ReplaceParam = b[0] != 0, klp.ReplaceParam, paramNamed(params, st.from)
		default:
			return formatErr("", 0, "klp_patch %s: init code sets replace from a value the scan cannot follow", p.Symbol)
		}
	}
	return nil
}

func paramNamed(params []param, at ref) string {
	for _, p := range params {
		if p.arg == at {
			return p.name
		}
	}
	return ""
}
