package elfscan

import (
	"debug/elf"
	"fmt"

	"github.com/klpack/klpack/internal/elf64"
	"github.com/klpack/klpack/pkg/klp"
)

// kpatch-build (github.com/dynup/kpatch; read from 0.9.11's kmod/patch)
// writes no struct klp_patch either. create-diff-object emits one
//
//	struct kpatch_patch_func { unsigned long new_addr, new_size, old_addr,
//	                           old_size, sympos; char *name, *objname; };
//
// per changed function into .kpatch.funcs, the strings into
// .kpatch.strings, and each KPATCH_*_CALLBACK as
//
//	struct kpatch_*_callback { void *fn; char *objname; };
//
// into .kpatch.callbacks.{pre_patch,post_patch,pre_unpatch,post_unpatch};
// KPATCH_FORCE_UNSAFE(fn) puts &fn into .kpatch.force. The patch hook it
// links in (livepatch-patch-hook.c) walks .kpatch.funcs and the callback
// tables between linker-script symbols, groups them by objname ("vmlinux"
// meaning the kernel), allocates klp_patch, klp_object[] and klp_func[] on
// the heap, sets replace from KLP_REPLACE_ENABLE (false under
// kpatch-build -R) and calls klp_enable_patch. Its linker script
// (kpatch.lds.S) ends every callback table and .kpatch.force with 8 zero
// bytes so an empty table keeps its section. .kpatch.checksum, an MD5 in
// hex, only appears in modules for the legacy kpatch.ko core, which are not
// livepatch modules.
//
// The structs are plain LP64 structs of pointers and longs: their layout
// is fixed here, not read from debug info.

const (
	kpatchFuncSize       = 56
	kpatchFuncNewAddr    = 0
	kpatchFuncSympos     = 32
	kpatchFuncName       = 40
	kpatchFuncObjname    = 48
	kpatchCallbackSize   = 16
	kpatchCallbackFn     = 0
	kpatchCallbackObj    = 8
	kpatchPad            = 8 // the QUAD(0) after each kpatch.lds.S table
	kpatchForceSize      = 8
	kpatchChecksumLength = 32 // hex digits of an MD5
)

// kpatchFuncs is the section the decoder matches and the patch is named by.
const kpatchFuncs = ".kpatch.funcs"

// kpatchCallbackKinds are the callback tables in the order the hook reads
// them; sym is the linker-script symbol at the table's start.
var kpatchCallbackKinds = []struct {
	section, sym string
	dst          func(*klp.Callbacks) *string
}{
	{".kpatch.callbacks.pre_patch", "__kpatch_callbacks_pre_patch", func(c *klp.Callbacks) *string { return &c.PrePatch }},
	{".kpatch.callbacks.post_patch", "__kpatch_callbacks_post_patch", func(c *klp.Callbacks) *string { return &c.PostPatch }},
	{".kpatch.callbacks.pre_unpatch", "__kpatch_callbacks_pre_unpatch", func(c *klp.Callbacks) *string { return &c.PreUnpatch }},
	{".kpatch.callbacks.post_unpatch", "__kpatch_callbacks_post_unpatch", func(c *klp.Callbacks) *string { return &c.PostUnpatch }},
}

// kpatchReplaceHint is where a kpatch-build module's replace must be
// declared when its init code does not show it.
const kpatchReplaceHint = "kpatch-build sets replace in the module's init code (KLP_REPLACE_ENABLE, false under kpatch-build -R), which the scan could not follow: declare the patch's replace in the release manifest"

// kpatchDecoder reads modules kpatch-build made for the livepatch core.
type kpatchDecoder struct{}

func (kpatchDecoder) format() string { return klp.FormatKpatchBuild }

func (kpatchDecoder) match(m *module) bool { return m.elf.Section(kpatchFuncs) >= 0 }

func (kpatchDecoder) decode(m *module) ([]*klp.Patch, error) {
	f := m.elf
	if _, err := f.Symbols(); err != nil {
		return nil, err
	}
	p := &klp.Patch{
		Symbol:  kpatchFuncs,
		States:  []klp.State{},
		Objects: []klp.Object{},
		Hooks:   []klp.Hook{},
	}
	g := &kpatchObjects{}
	if err := g.funcs(f, f.Section(kpatchFuncs)); err != nil {
		return nil, err
	}
	for _, k := range kpatchCallbackKinds {
		if err := g.callbacks(f, k.section, k.sym, k.dst); err != nil {
			return nil, err
		}
	}
	if err := g.force(f); err != nil {
		return nil, err
	}
	if err := kpatchChecksum(f); err != nil {
		return nil, err
	}
	if g.objs != nil {
		p.Objects = g.objs
	}
	if err := initCodeReplace(m, p, kpatchReplaceHint, kpatchStores); err != nil {
		return nil, err
	}
	out := []*klp.Patch{p}
	if err := declarations(m, out); err != nil {
		return nil, err
	}
	return out, nil
}

// kpatchObjects groups functions and callbacks by object name in the order
// the module first names each object. (The 0.9.11 hook links each new
// object and function at the head of its list, so the kernel sees them in
// reverse; the order changes nothing the kernel does.)
type kpatchObjects struct {
	objs  []klp.Object
	index map[string]int
}

func (g *kpatchObjects) object(name string) *klp.Object {
	if g.index == nil {
		g.index = make(map[string]int)
	}
	i, ok := g.index[name]
	if !ok {
		o := klp.Object{Funcs: []klp.Func{}}
		if name != "vmlinux" {
			o.Name = &name
		}
		i = len(g.objs)
		g.index[name] = i
		g.objs = append(g.objs, o)
	}
	return &g.objs[i]
}

// kpatchString reads the string a non-NULL pointer field points to; the
// hook passes every one of them to strcmp or the kernel.
func kpatchString(f *elf64.File, sec int, off uint64) (string, error) {
	r, ok, err := f.Pointer(sec, off)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", formatErr(f.Sections[sec].Name, off, "NULL string pointer")
	}
	return f.StringAt(r)
}

// funcs reads .kpatch.funcs: as the hook counts it, every 56 bytes from
// the section's start to its end are one function.
func (g *kpatchObjects) funcs(f *elf64.File, sec int) error {
	s := &f.Sections[sec]
	if s.Type == elf.SHT_NOBITS {
		return formatErr(s.Name, 0, "kpatch_patch_func table without contents")
	}
	if s.Size%kpatchFuncSize != 0 {
		return formatErr(s.Name, 0, "size %d is not a multiple of struct kpatch_patch_func (%d bytes)", s.Size, kpatchFuncSize)
	}
	for i := range s.Size / kpatchFuncSize {
		base := i * kpatchFuncSize
		var fn klp.Func
		var err error
		if fn.OldName, err = kpatchString(f, sec, base+kpatchFuncName); err != nil {
			return fmt.Errorf("kpatch_patch_func %d: name: %w", i, err)
		}
		obj, err := kpatchString(f, sec, base+kpatchFuncObjname)
		if err != nil {
			return fmt.Errorf("kpatch_patch_func %s: objname: %w", fn.OldName, err)
		}
		nf, ok, err := f.Pointer(sec, base+kpatchFuncNewAddr)
		if err != nil {
			return fmt.Errorf("kpatch_patch_func %s: new_addr: %w", fn.OldName, err)
		}
		if !ok {
			return formatErr(s.Name, base+kpatchFuncNewAddr, "kpatch_patch_func %s: NULL new_addr", fn.OldName)
		}
		b, err := f.Read(sec, base+kpatchFuncSympos, 8)
		if err != nil {
			return fmt.Errorf("kpatch_patch_func %s: sympos: %w", fn.OldName, err)
		}
		fn.OldSympos = f.ByteOrder.Uint64(b)
		fn.NewFunc = f.SymbolAt(nf, elf.STT_FUNC)
		fn.Base, fn.Clone = splitClone(fn.OldName)
		fn.Demangled = demangled(fn.OldName)
		o := g.object(obj)
		o.Funcs = append(o.Funcs, fn)
	}
	return nil
}

// callbacks reads one callback table into the objects it names. A second
// callback of a kind for one object makes the hook's init fail, so the
// module cannot load: that is an error here too.
func (g *kpatchObjects) callbacks(f *elf64.File, name, sym string, dst func(*klp.Callbacks) *string) error {
	sec := f.Section(name)
	if sec < 0 {
		return nil
	}
	start, n, err := kpatchTable(f, sec, sym, kpatchCallbackSize)
	if err != nil {
		return err
	}
	for i := range n {
		base := start + i*kpatchCallbackSize
		obj, err := kpatchString(f, sec, base+kpatchCallbackObj)
		if err != nil {
			return fmt.Errorf("callback %d: objname: %w", i, err)
		}
		fn, ok, err := f.Pointer(sec, base+kpatchCallbackFn)
		if err != nil {
			return fmt.Errorf("callback %d: %w", i, err)
		}
		// The hook makes the object even for a NULL callback.
		o := g.object(obj)
		if !ok {
			continue
		}
		d := dst(&o.Callbacks)
		if *d != "" {
			return formatErr(name, base, "second callback for object %s: the module's init refuses it", o.ObjectName())
		}
		*d = f.SymbolAt(fn, elf.STT_FUNC)
	}
	return nil
}

// kpatchTable finds the entries of a table kpatch.lds.S lays out: between
// the start symbol and its _end symbol when the module keeps them, else
// everything before the 8-byte zero pad at the section's end.
func kpatchTable(f *elf64.File, sec int, sym string, size uint64) (start, n uint64, err error) {
	s := &f.Sections[sec]
	if s.Type == elf.SHT_NOBITS {
		return 0, 0, formatErr(s.Name, 0, "table without contents")
	}
	lo, okLo := f.SymbolIn(sec, sym)
	hi, okHi := f.SymbolIn(sec, sym+"_end")
	if okLo && okHi {
		if lo > hi || hi > s.Size || (hi-lo)%size != 0 {
			return 0, 0, formatErr(s.Name, lo, "%s..%s_end (%#x..%#x) is not a table of %d-byte entries in %d bytes", sym, sym, lo, hi, size, s.Size)
		}
		return lo, (hi - lo) / size, nil
	}
	if s.Size < kpatchPad || (s.Size-kpatchPad)%size != 0 {
		return 0, 0, formatErr(s.Name, 0, "size %d is not %d-byte entries and the %d-byte pad", s.Size, size, kpatchPad)
	}
	end := s.Size - kpatchPad
	if _, ok, err := f.Pointer(sec, end); err != nil || ok {
		return 0, 0, formatErr(s.Name, end, "the last %d bytes are not the zero pad", kpatchPad)
	}
	return 0, end / size, nil
}

// force reads .kpatch.force: pointers to functions whose activeness check
// KPATCH_FORCE_UNSAFE asks to skip. The livepatch hook never reads it (only
// the legacy kpatch.ko core did), and a pointer to a function the patch
// does not carry is filled by a .klp.rela entry at load, so the table only
// has to be well formed.
func (g *kpatchObjects) force(f *elf64.File) error {
	sec := f.Section(".kpatch.force")
	if sec < 0 {
		return nil
	}
	start, n, err := kpatchTable(f, sec, "__kpatch_force_funcs", kpatchForceSize)
	if err != nil {
		return err
	}
	for i := range n {
		if _, _, err := f.Pointer(sec, start+i*kpatchForceSize); err != nil {
			return fmt.Errorf("force entry %d: %w", i, err)
		}
	}
	return nil
}

// kpatchChecksum checks .kpatch.checksum when present: the MD5 of the
// patch objects in hex, NUL-terminated, as kpatch-build writes it.
func kpatchChecksum(f *elf64.File) error {
	sec := f.Section(".kpatch.checksum")
	if sec < 0 {
		return nil
	}
	d := f.SectionData(sec)
	sum, ok := elf64.CString(d, 0)
	if !ok || len(sum) != kpatchChecksumLength {
		return formatErr(".kpatch.checksum", 0, "not a NUL-terminated %d-digit checksum", kpatchChecksumLength)
	}
	for _, c := range []byte(sum) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return formatErr(".kpatch.checksum", 0, "%q is not hexadecimal", sum)
		}
	}
	return nil
}

// The hook's patch_init stores replace into the klp_patch it allocated,
// then allocates more, copies callbacks (REP MOVS) and calls local helpers
// before klp_enable_patch. A store can only be trusted across those calls
// when no callee can reach the patch, so the scan below follows pointers
// (an allocation plus an offset), the static variable holding the patch
// (lpatch), and every call after the store: the patch must not be passed
// to it, stored anywhere but in a static, and the callee, with every local
// function it reaches, must not name that static. External functions
// cannot name a module's local static.

// kpatchStores returns for each call to klp_enable_patch in section sec
// the byte at off of the object in %rdi. The hook stores replace before
// the loops that build the objects and functions, so a scan that forgets
// at branch targets would never see it: this one runs linearly, function
// by function (x86EnableBytes without joins), and trusts the store only
// when no jump reaches the call around it (bypassed).
func kpatchStores(f *elf64.File, sec int, rs []elf64.Rela, target uint32, off uint64) ([]byte, string, error) {
	return x86EnableBytes(f, sec, rs, target, off, false)
}
