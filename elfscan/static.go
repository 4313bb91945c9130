package elfscan

import (
	"debug/elf"
	"fmt"
	"slices"
	"strings"

	"github.com/ianlancetaylor/demangle"

	"github.com/klpack/klpack/internal/elf64"
	"github.com/klpack/klpack/pkg/klp"
)

// module is the state decoders share while reading one livepatch module.
type module struct {
	elf    *elf64.File
	rec    *klp.Module
	opts   *Options
	layout *layout
}

// decoder reads the klp_patch of one module flavour.
type decoder interface {
	format() string
	match(m *module) bool
	decode(m *module) ([]*klp.Patch, error)
}

// decoders in the order they are tried; the first match decodes.
var decoders = []decoder{klpBuildDecoder{}, kpatchDecoder{}, staticDecoder{}}

// klpLayout finds the struct layouts: DWARF, then module BTF over vmlinux
// BTF, then the built-in table.
func (m *module) klpLayout() (*layout, error) {
	if m.layout != nil {
		return m.layout, nil
	}
	l, err := dwarfLayout(m.elf)
	if err == nil && l == nil {
		l, err = btfLayout(m.elf, m.opts.VmlinuxBTF)
	}
	if err == nil && l == nil {
		l, err = tableLayout(m.rec.Arch, m.rec.Vermagic)
	}
	if err != nil {
		return nil, err
	}
	m.layout = l
	return l, nil
}

// staticDecoder reads hand-written livepatch modules: a struct klp_patch
// in data, filled in by relocations, handed to klp_enable_patch by the
// init code.
type staticDecoder struct{}

func (staticDecoder) format() string     { return klp.FormatStatic }
func (staticDecoder) match(*module) bool { return true }

func (staticDecoder) decode(m *module) ([]*klp.Patch, error) {
	calls, err := enableCalls(m.elf)
	if err != nil {
		return nil, err
	}
	if len(calls) == 0 {
		return nil, formatErr("", 0, "livepatch module without a call to klp_enable_patch")
	}
	l, err := m.klpLayout()
	if err != nil {
		return nil, err
	}
	params, err := moduleParams(m.elf)
	if err != nil {
		return nil, err
	}
	var out []*klp.Patch
	seen := make(map[elf64.Ref]bool)
	for _, c := range calls {
		if seen[c.patch] {
			continue
		}
		seen[c.patch] = true
		p, err := decodePatch(m.elf, l, c.patch)
		if err != nil {
			return nil, fmt.Errorf("klp_patch %s: %w", m.elf.SymbolAt(c.patch, elf.STT_OBJECT), err)
		}
		if err := initReplace(m.elf, l, p, c, params); err != nil {
			return nil, err
		}
		if err := initReplaceable(m.elf, l, p, c); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if err := declarations(m, out); err != nil {
		return nil, err
	}
	return out, nil
}

// maxEntries bounds the walk of a NULL-terminated klp array; the section
// size bounds it first in any real module.
const maxEntries = 1 << 16

func decodePatch(f *elf64.File, l *layout, at elf64.Ref) (*klp.Patch, error) {
	if at.Extern != "" {
		return nil, formatErr("", 0, "klp_patch is the undefined symbol %s", at.Extern)
	}
	p := &klp.Patch{
		Symbol:        f.SymbolAt(at, elf.STT_OBJECT),
		ReplaceSource: klp.ReplaceStatic,
		States:        []klp.State{},
		Objects:       []klp.Object{},
		Hooks:         []klp.Hook{},
	}
	b, err := f.Read(at.Sec, at.Off+uint64(l.patchReplace), 1)
	if err != nil {
		return nil, fmt.Errorf("replace: %w", err)
	}
	p.Replace = b[0] != 0
	objs, ok, err := f.Pointer(at.Sec, at.Off+uint64(l.patchObjs))
	if err != nil {
		return nil, fmt.Errorf("objs: %w", err)
	}
	if ok {
		if p.Objects, err = decodeObjects(f, l, objs); err != nil {
			return nil, err
		}
	}
	states, ok, err := f.Pointer(at.Sec, at.Off+uint64(l.patchStates))
	if err != nil {
		return nil, fmt.Errorf("states: %w", err)
	}
	if ok {
		if p.States, err = decodeStates(f, l, states); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func decodeObjects(f *elf64.File, l *layout, at elf64.Ref) ([]klp.Object, error) {
	if at.Extern != "" {
		return nil, formatErr("", 0, "objs points to undefined symbol %s", at.Extern)
	}
	out := []klp.Object{}
	for i := range maxEntries {
		base := at.Off + uint64(i)*uint64(l.objSize)
		name, hasName, err := f.Pointer(at.Sec, base+uint64(l.objName))
		if err != nil {
			return nil, fmt.Errorf("klp_object %d: name: %w", i, err)
		}
		funcs, hasFuncs, err := f.Pointer(at.Sec, base+uint64(l.objFuncs))
		if err != nil {
			return nil, fmt.Errorf("klp_object %d: funcs: %w", i, err)
		}
		// klp_for_each_object_static stops at an entry with neither.
		if !hasName && !hasFuncs {
			return out, nil
		}
		var o klp.Object
		if hasName {
			s, err := f.StringAt(name)
			if err != nil {
				return nil, fmt.Errorf("klp_object %d: name: %w", i, err)
			}
			o.Name = &s
		}
		o.Funcs = []klp.Func{}
		if hasFuncs {
			if o.Funcs, err = decodeFuncs(f, l, funcs); err != nil {
				return nil, fmt.Errorf("klp_object %s: %w", o.ObjectName(), err)
			}
		}
		cb := base + uint64(l.objCallbacks)
		for _, c := range []struct {
			dst *string
			off int
		}{
			{&o.Callbacks.PrePatch, l.cbPre},
			{&o.Callbacks.PostPatch, l.cbPost},
			{&o.Callbacks.PreUnpatch, l.cbPreUnpatch},
			{&o.Callbacks.PostUnpatch, l.cbPostUnpatch},
		} {
			fn, ok, err := f.Pointer(at.Sec, cb+uint64(c.off))
			if err != nil {
				return nil, fmt.Errorf("klp_object %s: callbacks: %w", o.ObjectName(), err)
			}
			if ok {
				*c.dst = f.SymbolAt(fn, elf.STT_FUNC)
			}
		}
		out = append(out, o)
	}
	return nil, formatErr(f.Sections[at.Sec].Name, at.Off, "klp_object array without terminator")
}

func decodeFuncs(f *elf64.File, l *layout, at elf64.Ref) ([]klp.Func, error) {
	if at.Extern != "" {
		return nil, formatErr("", 0, "funcs points to undefined symbol %s", at.Extern)
	}
	out := []klp.Func{}
	for i := range maxEntries {
		base := at.Off + uint64(i)*uint64(l.funcSize)
		old, hasOld, err := f.Pointer(at.Sec, base+uint64(l.funcOldName))
		if err != nil {
			return nil, fmt.Errorf("klp_func %d: old_name: %w", i, err)
		}
		nf, hasNew, err := f.Pointer(at.Sec, base+uint64(l.funcNewFunc))
		if err != nil {
			return nil, fmt.Errorf("klp_func %d: new_func: %w", i, err)
		}
		b, err := f.Read(at.Sec, base+uint64(l.funcOldSympos), 8)
		if err != nil {
			return nil, fmt.Errorf("klp_func %d: old_sympos: %w", i, err)
		}
		sympos := f.ByteOrder.Uint64(b)
		// klp_for_each_func_static stops at an all-empty entry.
		if !hasOld && !hasNew && sympos == 0 {
			return out, nil
		}
		var fn klp.Func
		fn.OldSympos = sympos
		if hasOld {
			if fn.OldName, err = f.StringAt(old); err != nil {
				return nil, fmt.Errorf("klp_func %d: old_name: %w", i, err)
			}
			fn.Base, fn.Clone = splitClone(fn.OldName)
			fn.Demangled = demangled(fn.OldName)
		}
		if hasNew {
			fn.NewFunc = f.SymbolAt(nf, elf.STT_FUNC)
		}
		out = append(out, fn)
	}
	return nil, formatErr(f.Sections[at.Sec].Name, at.Off, "klp_func array without terminator")
}

func decodeStates(f *elf64.File, l *layout, at elf64.Ref) ([]klp.State, error) {
	if at.Extern != "" {
		return nil, formatErr("", 0, "states points to undefined symbol %s", at.Extern)
	}
	out := []klp.State{}
	for i := range maxEntries {
		base := at.Off + uint64(i)*uint64(l.stateSize)
		id, err := f.Read(at.Sec, base+uint64(l.stateID), 8)
		if err != nil {
			return nil, fmt.Errorf("klp_state %d: id: %w", i, err)
		}
		// klp_for_each_state stops at id 0.
		if f.ByteOrder.Uint64(id) == 0 {
			return out, nil
		}
		v, err := f.Read(at.Sec, base+uint64(l.stateVersion), 4)
		if err != nil {
			return nil, fmt.Errorf("klp_state %d: version: %w", i, err)
		}
		out = append(out, klp.State{ID: f.ByteOrder.Uint64(id), Version: f.ByteOrder.Uint32(v)})
	}
	return nil, formatErr(f.Sections[at.Sec].Name, at.Off, "klp_state array without terminator")
}

// cloneKinds are the suffixes GCC gives the copies it makes of a function.
var cloneKinds = []string{"isra", "constprop", "part", "cold", "lto_priv", "localalias"}

// splitClone splits "foo.constprop.0.isra.0" into "foo" and
// ".constprop.0.isra.0"; names without a clone suffix return "", "".
func splitClone(name string) (base, clone string) {
	for i := 1; i < len(name); i++ {
		if name[i] == '.' && isCloneSuffix(name[i+1:]) {
			return name[:i], name[i:]
		}
	}
	return "", ""
}

func isCloneSuffix(s string) bool {
	kinds := 0
	for _, part := range strings.Split(s, ".") {
		switch {
		case part == "":
			return false
		case part[0] >= '0' && part[0] <= '9':
		case slices.Contains(cloneKinds, part):
			kinds++
		default:
			return false
		}
	}
	return kinds > 0
}

// demangled returns the readable form of a Rust or C++ symbol, or "".
func demangled(name string) string {
	if !strings.HasPrefix(name, "_Z") && !strings.HasPrefix(name, "_R") {
		return ""
	}
	s, err := demangle.ToString(name, demangle.NoClones)
	if err != nil || s == name {
		return ""
	}
	return s
}
