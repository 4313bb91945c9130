package elfscan

import (
	"debug/elf"
	"fmt"
	"maps"
	"slices"

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
	if err := initCodeReplace(m, p, klpReplaceHint, klpBuildStores); err != nil {
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

// klpBuildStores returns for each call to klp_enable_patch in section sec
// the byte at off of the object in %rdi. init.c stores replace right
// before the call, so the scan can afford to forget at every branch
// target (x86EnableBytes with joins).
func klpBuildStores(f *elf64.File, sec int, rs []elf64.Rela, target uint32, off uint64) ([]byte, string, error) {
	return x86EnableBytes(f, sec, rs, target, off, true)
}
