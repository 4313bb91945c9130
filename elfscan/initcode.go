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
	// into the patch too, or reach it through holders, statics holding
	// its address; escaped: its address went to memory the scan does not
	// follow.
	calls   []callSite
	holders []elf64.Ref
	escaped bool
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
	// another path the place may hold something else; wild: a store the
	// scan cannot place, which may hit anything.
	joined bool
	wild   bool
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
	imm    int64 // arm64: the register holds this constant
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

// scanCode finds every call or tail call to klp_enable_patch in x86_64
// section sec, with the patch in %rdi and what the function stored and
// called before it (x86Flow, joining at branch targets).
func scanCode(f *elf64.File, sec int, rs []elf64.Rela, target uint32) ([]enableCall, error) {
	var calls []enableCall
	why, err := x86Walk(f, sec, rs, target, true, func(st *x86Flow, in x86Inst) string {
		c, ok := st.staticCall(st.reg(x86asm.RDI))
		if !ok {
			return fmt.Sprintf("offset %#x: call to klp_enable_patch with an argument the scan cannot follow", in.pc)
		}
		calls = append(calls, c)
		return ""
	})
	if err != nil {
		return nil, err
	}
	if why != "" {
		return nil, formatErr(f.Sections[sec].Name, 0, "%s", why)
	}
	return calls, nil
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
		k, hit := storeHit(st, at)
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
	if c.escaped {
		p.Replace, p.ReplaceSource, p.ReplaceParam = false, klp.ReplaceUnknown, ""
		p.ReplaceHint = staticReplaceHint + " (the patch's address is stored in memory the scan does not follow)"
		return nil
	}
	// A call after the last store (or any call, without one) may store
	// into the patch itself: only calls that cannot reach it leave the
	// answer standing.
	for _, cs := range c.calls {
		if cs.stores <= last {
			continue
		}
		if why := callReaches(f, cs, c, at); why != "" {
			p.Replace, p.ReplaceSource, p.ReplaceParam = false, klp.ReplaceUnknown, ""
			p.ReplaceHint = staticReplaceHint + " (" + why + ")"
			return nil
		}
	}
	return nil
}

// callReaches says why a call may change the patch c enables, whose
// replace field is at replace: it is handed the patch, or its callee
// names it or a static holding it; "" when it cannot.
func callReaches(f *elf64.File, cs callSite, c enableCall, replace elf64.Ref) string {
	patch := c.patch
	for _, a := range cs.args {
		if a.isAddr && a.addr.Sec == patch.Sec && a.addr.Extern == patch.Extern && a.addr.Off <= replace.Off && a.addr.Off >= patch.Off {
			return "the patch is passed to a call before klp_enable_patch"
		}
	}
	if cs.known && cs.callee.Extern == "" && f.Machine != elf.EM_X86_64 {
		return "a call before klp_enable_patch goes to " + f.Arch() + " code the scan does not follow"
	}
	return x86CalleeSafe(f, cs.callee, cs.known, append([]elf64.Ref{patch, replace}, c.holders...))
}

// storeHit reports whether st may write the byte at, and k, which byte of
// a wider store lands on it.
func storeHit(st store, at elf64.Ref) (k uint64, hit bool) {
	if st.size > 1 && st.at.Extern == "" && at.Extern == "" && st.at.Sec == at.Sec &&
		st.at.Off <= at.Off && at.Off-st.at.Off < st.size {
		return at.Off - st.at.Off, true
	}
	return 0, st.wild || st.at == at
}

// immByte is byte k of an immediate store.
func immByte(f *elf64.File, st store, k uint64) byte {
	shift := 8 * k
	if f.ByteOrder == binary.BigEndian {
		shift = 8 * (st.size - 1 - k)
	}
	return byte(st.imm >> shift)
}

// initReplaceable reads klp_patch.replaceable where the kernel has it (a
// hybrid-mode kernel, whose module DWARF shows the member): the kernel
// takes a patch that leaves it 0 as not replaceable. Its value is the last
// constant the init code stores into it before klp_enable_patch (as
// klpack_enable_patch does), else the static initializer's. A store the
// scan cannot read, an escape of the patch's address or a later call that
// may reach it leaves it undeclared, for the modinfo tags to say.
func initReplaceable(f *elf64.File, l *layout, p *klp.Patch, c enableCall) error {
	if !l.hasReplaceable {
		return nil
	}
	at := elf64.Ref{Sec: c.patch.Sec, Off: c.patch.Off + uint64(l.patchReplaceable)}
	b, err := f.Read(at.Sec, at.Off, 1)
	if err != nil {
		return fmt.Errorf("replaceable: %w", err)
	}
	v, source := b[0] != 0, klp.ReplaceStatic
	last := -1
	for i, st := range c.stores {
		k, hit := storeHit(st, at)
		if !hit {
			continue
		}
		if st.wild || st.joined || !st.isImm {
			return nil
		}
		v, source, last = immByte(f, st, k) != 0, klp.ReplaceInit, i
	}
	if c.escaped {
		return nil
	}
	for _, cs := range c.calls {
		if cs.stores > last && callReaches(f, cs, c, at) != "" {
			return nil
		}
	}
	p.Replaceable, p.ReplaceableSource = &v, source
	return nil
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
	case st.wild:
		unknown("a store the scan cannot place")
	case st.joined:
		unknown("stored before a branch target: another path may store something else")
	case st.isImm:
		p.Replace, p.ReplaceSource, p.ReplaceParam, p.ReplaceHint = immByte(f, st, k) != 0, klp.ReplaceInit, "", ""
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
