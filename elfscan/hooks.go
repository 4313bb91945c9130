package elfscan

import (
	"debug/elf"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/klpack/klpack/internal/elf64"
	"github.com/klpack/klpack/pkg/klp"
)

// What templates/klpack_livepatch.h writes into a livepatch module: a
// marker per hook point in .klpack.hooks, the kernel's error-injection
// entry for it in _error_injection_whitelist, and modinfo tags for the
// patch's declarations.
const (
	hookSection = ".klpack.hooks"
	eiSection   = "_error_injection_whitelist"

	// struct klpack_hook_marker, version 1: magic, version, size, etype,
	// flags, then the pointers to the function and to its name.
	hookMagic   = 0x4b4c5048
	hookVersion = 1
	hookSize    = 32
	hookFunc    = 16
	hookName    = 24

	// struct error_injection_entry: unsigned long addr; int etype; padded.
	eiSize  = 16
	eiEType = 8

	tagLayer       = "klpack_layer"
	tagReplaceable = "klpack_replaceable"
	tagReplaceSet  = "klpack_replace_set"
)

// etypes are the error types by the number the marker gives them, 1 up.
// The kernel's EI_ETYPE_* count from 0, and from 1 before 6.3, which had
// EI_ETYPE_NONE first.
var etypes = []string{"NULL", "ERRNO", "ERRNO_NULL", "TRUE"}

func etypeName(v uint32, base uint32) (string, bool) {
	if v < base || uint64(v-base) >= uint64(len(etypes)) {
		return "", false
	}
	return etypes[v-base], true
}

// eiBase is the kernel's number of EI_ETYPE_NULL for the kernel release
// in vermagic; a release without a version reads as an old kernel.
func eiBase(vermagic string) uint32 {
	major, minor, _ := klp.KernelVersion(klp.KernelRelease(vermagic))
	if major < 6 || major == 6 && minor < 3 {
		return 1
	}
	return 0
}

// declarations applies what the module declares beside its klp_patch:
// the replaceable and replace_set modinfo tags, and its hook points, from
// markers and from the manifest (Options.Hooks), each checked
// against the module's error-injection entries. A module has one patch in
// practice; hooks go to the first.
func declarations(m *module, patches []*klp.Patch) error {
	replaceable, replaceSet, err := declaredTags(m.rec.Modinfo)
	if err != nil {
		return err
	}
	for _, p := range patches {
		if replaceable != nil && p.Replaceable == nil {
			p.Replaceable, p.ReplaceableSource = new(*replaceable), klp.ReplaceModinfo
		}
		if replaceSet != nil && p.ReplaceSet == nil {
			p.ReplaceSet, p.ReplaceSetSource = new(*replaceSet), klp.ReplaceModinfo
		}
	}
	hooks, err := decodeHooks(m.elf, m.rec.Name, eiBase(m.rec.Vermagic), m.opts.Hooks)
	if err != nil {
		return err
	}
	if len(hooks) > 0 && len(patches) > 0 {
		patches[0].Hooks = hooks
	}
	return nil
}

// declaredTags reads the modinfo tags KLPACK_OFF_BAND,
// KLPACK_NON_REPLACEABLE and KLPACK_REPLACE_SET write.
func declaredTags(mi map[string][]string) (replaceable *bool, set *uint32, err error) {
	one := func(key string) (string, bool, error) {
		vs := mi[key]
		if len(vs) == 0 {
			return "", false, nil
		}
		for _, v := range vs[1:] {
			if v != vs[0] {
				return "", false, formatErr(".modinfo", 0, "%s is both %q and %q", key, vs[0], v)
			}
		}
		return vs[0], true, nil
	}
	v, ok, err := one(tagLayer)
	if err != nil {
		return nil, nil, err
	}
	if ok {
		switch v {
		case "off-band":
			replaceable = new(false)
		case "cumulative":
			replaceable = new(true)
		default:
			return nil, nil, formatErr(".modinfo", 0, "%s=%q, want off-band or cumulative", tagLayer, v)
		}
	}
	if v, ok, err = one(tagReplaceable); err != nil {
		return nil, nil, err
	}
	if ok {
		var r bool
		switch strings.ToUpper(v) {
		case "Y", "1":
			r = true
		case "N", "0":
		default:
			return nil, nil, formatErr(".modinfo", 0, "%s=%q, want Y or N", tagReplaceable, v)
		}
		if replaceable != nil && *replaceable != r {
			return nil, nil, formatErr(".modinfo", 0, "%s=%q contradicts %s=%s", tagReplaceable, v, tagLayer, mi[tagLayer][0])
		}
		replaceable = &r
	}
	if v, ok, err = one(tagReplaceSet); err != nil {
		return nil, nil, err
	}
	if ok {
		n, err := strconv.ParseUint(v, 0, 32)
		if err != nil {
			return nil, nil, formatErr(".modinfo", 0, "%s=%q, want an unsigned 32-bit number", tagReplaceSet, v)
		}
		set = new(uint32(n))
	}
	return replaceable, set, nil
}

// eiEntry is one error-injection entry: the function and its error type.
type eiEntry struct {
	fn    elf64.Ref
	etype string
}

// errorInjection reads _error_injection_whitelist, whose error types
// count from base.
func errorInjection(f *elf64.File, base uint32) ([]eiEntry, error) {
	i := f.Section(eiSection)
	if i < 0 {
		return nil, nil
	}
	n := f.Sections[i].Size
	if n%eiSize != 0 {
		return nil, formatErr(eiSection, 0, "size %d not a multiple of %d", n, eiSize)
	}
	var out []eiEntry
	for off := uint64(0); off < n; off += eiSize {
		fn, ok, err := f.Pointer(i, off)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, formatErr(eiSection, off, "entry without a function")
		}
		b, err := f.Read(i, off+eiEType, 4)
		if err != nil {
			return nil, err
		}
		et, ok := etypeName(f.ByteOrder.Uint32(b), base)
		if !ok {
			return nil, formatErr(eiSection, off, "error type %d unknown", f.ByteOrder.Uint32(b))
		}
		out = append(out, eiEntry{fn: fn, etype: et})
	}
	return out, nil
}

// decodeHooks reads the hook markers, adds the hook points the manifest
// declares (by function name) and checks each against the module's
// error-injection entries. Hooks come out sorted by function.
func decodeHooks(f *elf64.File, module string, eiBase uint32, manifest []string) ([]klp.Hook, error) {
	ei, err := errorInjection(f, eiBase)
	if err != nil {
		return nil, err
	}
	var hooks []klp.Hook
	if i := f.Section(hookSection); i >= 0 {
		n := f.Sections[i].Size
		if n%hookSize != 0 {
			return nil, formatErr(hookSection, 0, "size %d not a multiple of %d", n, hookSize)
		}
		for off := uint64(0); off < n; off += hookSize {
			h, err := decodeMarker(f, i, off, module, ei)
			if err != nil {
				return nil, err
			}
			if slices.ContainsFunc(hooks, func(o klp.Hook) bool { return o.Func == h.Func }) {
				return nil, formatErr(hookSection, off, "hook %s declared twice", h.Func)
			}
			hooks = append(hooks, h)
		}
	}
	for _, fn := range manifest {
		if slices.ContainsFunc(hooks, func(o klp.Hook) bool { return o.Func == fn }) {
			continue // the module's own marker says more
		}
		if !definesFunc(f, fn) {
			return nil, fmt.Errorf("manifest declares hook point %s, but %s defines no such function", fn, module)
		}
		h := klp.Hook{Object: module, Func: fn, Source: klp.HookManifest, NoErrorInjection: true}
		for _, e := range ei {
			if f.SymbolAt(e.fn, elf.STT_FUNC) == fn {
				h.Errno, h.NoErrorInjection = e.etype, false
				break
			}
		}
		hooks = append(hooks, h)
	}
	slices.SortFunc(hooks, func(a, b klp.Hook) int { return strings.Compare(a.Func, b.Func) })
	return hooks, nil
}

// decodeMarker reads the struct klpack_hook_marker at off in section sec.
func decodeMarker(f *elf64.File, sec int, off uint64, module string, ei []eiEntry) (klp.Hook, error) {
	b, err := f.Read(sec, off, hookFunc)
	if err != nil {
		return klp.Hook{}, err
	}
	if magic := f.ByteOrder.Uint32(b); magic != hookMagic {
		return klp.Hook{}, formatErr(hookSection, off, "bad magic %#x, want %#x", magic, hookMagic)
	}
	if v, size := f.ByteOrder.Uint16(b[4:]), f.ByteOrder.Uint16(b[6:]); v != hookVersion || size != hookSize {
		return klp.Hook{}, formatErr(hookSection, off, "marker version %d of %d bytes, want version %d of %d", v, size, hookVersion, hookSize)
	}
	et, ok := etypeName(f.ByteOrder.Uint32(b[8:]), 1)
	if !ok {
		return klp.Hook{}, formatErr(hookSection, off, "error type %d unknown", f.ByteOrder.Uint32(b[8:]))
	}
	fn, ok, err := f.Pointer(sec, off+hookFunc)
	if err != nil {
		return klp.Hook{}, err
	}
	if !ok {
		return klp.Hook{}, formatErr(hookSection, off, "marker without a function")
	}
	nameRef, ok, err := f.Pointer(sec, off+hookName)
	if err != nil {
		return klp.Hook{}, err
	}
	if !ok {
		return klp.Hook{}, formatErr(hookSection, off, "marker without a name")
	}
	name, err := f.StringAt(nameRef)
	if err != nil {
		return klp.Hook{}, fmt.Errorf("hook marker at %#x: name: %w", off, err)
	}
	// A stripped module names a static function by section and offset;
	// any symbol it still has must be the marker's name.
	if sym := f.SymbolAt(fn, elf.STT_FUNC); fn.Extern == "" && !strings.Contains(sym, "+0x") && sym != name {
		return klp.Hook{}, formatErr(hookSection, off, "marker names %s but points to %s", name, sym)
	}
	h := klp.Hook{Object: module, Func: name, Source: klp.HookMarker, Errno: et, NoErrorInjection: true}
	if fn.Extern != "" {
		h.Object = "vmlinux"
	}
	for _, e := range ei {
		if e.fn == fn {
			h.Errno, h.NoErrorInjection = e.etype, false
			break
		}
	}
	return h, nil
}

// definesFunc says whether the module's symbol table defines function fn.
func definesFunc(f *elf64.File, fn string) bool {
	syms, err := f.Symbols()
	if err != nil {
		return false
	}
	return slices.ContainsFunc(syms, func(s elf64.Symbol) bool {
		return s.Name == fn && s.Type() == elf.STT_FUNC && s.Shndx != uint32(elf.SHN_UNDEF)
	})
}
