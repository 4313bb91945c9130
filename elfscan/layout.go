package elfscan

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"slices"

	"github.com/cilium/ebpf/btf"

	"github.com/klpack/klpack/internal/elf64"
	"github.com/klpack/klpack/pkg/klp"
)

// layout holds the sizes and field offsets of the klp structs a module was
// built against. They depend on the kernel version and configuration (the
// embedded kobject and list heads), so they are read from the module's own
// debug information when it has any.
type layout struct {
	source string

	patchObjs, patchStates, patchReplace int
	// patchReplaceable is klp_patch.replaceable's offset, where the
	// kernel has the hybrid mode's field (hasReplaceable): only module
	// DWARF says so.
	patchReplaceable int
	hasReplaceable   bool

	objSize, objName, objFuncs, objCallbacks   int
	cbPre, cbPost, cbPreUnpatch, cbPostUnpatch int // inside klp_callbacks

	funcSize, funcOldName, funcNewFunc, funcOldSympos int

	stateSize, stateID, stateVersion int
}

// structs are the struct and member names the layout is made of, in the
// order fill expects them.
var layoutStructs = []string{"klp_patch", "klp_object", "klp_callbacks", "klp_func", "klp_state"}

// structInfo is what one source of type information says of a struct.
type structInfo struct {
	size    int
	members map[string]int
}

// fill builds a layout from struct descriptions, checking that every field
// the decoder reads is there.
func fill(source string, st map[string]*structInfo) (*layout, error) {
	get := func(s, m string) (int, error) {
		si := st[s]
		if si == nil {
			return 0, fmt.Errorf("struct %s not found", s)
		}
		if m == "" {
			return si.size, nil
		}
		off, ok := si.members[m]
		if !ok {
			return 0, fmt.Errorf("struct %s has no member %s", s, m)
		}
		return off, nil
	}
	l := &layout{source: source}
	fields := []struct {
		dst  *int
		s, m string
	}{
		{&l.patchObjs, "klp_patch", "objs"},
		{&l.patchStates, "klp_patch", "states"},
		{&l.patchReplace, "klp_patch", "replace"},
		{&l.objSize, "klp_object", ""},
		{&l.objName, "klp_object", "name"},
		{&l.objFuncs, "klp_object", "funcs"},
		{&l.objCallbacks, "klp_object", "callbacks"},
		{&l.cbPre, "klp_callbacks", "pre_patch"},
		{&l.cbPost, "klp_callbacks", "post_patch"},
		{&l.cbPreUnpatch, "klp_callbacks", "pre_unpatch"},
		{&l.cbPostUnpatch, "klp_callbacks", "post_unpatch"},
		{&l.funcSize, "klp_func", ""},
		{&l.funcOldName, "klp_func", "old_name"},
		{&l.funcNewFunc, "klp_func", "new_func"},
		{&l.funcOldSympos, "klp_func", "old_sympos"},
		{&l.stateSize, "klp_state", ""},
		{&l.stateID, "klp_state", "id"},
		{&l.stateVersion, "klp_state", "version"},
	}
	for _, f := range fields {
		v, err := get(f.s, f.m)
		if err != nil {
			return nil, err
		}
		if v < 0 || v > 1<<16 {
			return nil, fmt.Errorf("struct %s: implausible offset or size %d", f.s, v)
		}
		*f.dst = v
	}
	if l.objSize == 0 || l.funcSize == 0 || l.stateSize == 0 {
		return nil, errors.New("zero-sized klp struct")
	}
	if off, ok := st["klp_patch"].members["replaceable"]; ok && off >= 0 && off < st["klp_patch"].size {
		l.patchReplaceable, l.hasReplaceable = off, true
	}
	return l, nil
}

// dwarfLayout reads the klp structs from the module's DWARF. It returns
// nil, nil when the module has no debug information, or none of them:
// a module that keeps its klp_patch elsewhere.
func dwarfLayout(f *elf64.File) (*layout, error) {
	found, err := dwarfStructs(f, layoutStructs)
	if err != nil || len(found) == 0 {
		return nil, err
	}
	l, err := fill(klp.LayoutDWARF, found)
	if err != nil {
		return nil, &FormatError{Section: ".debug_info", Msg: "DWARF: " + err.Error(), Err: err}
	}
	return l, nil
}

// dwarfStructs reads the first definition of each named struct in the
// module's DWARF: its size and member offsets. It returns nil, nil for a
// module without DWARF.
func dwarfStructs(f *elf64.File, names []string) (found map[string]*structInfo, err error) {
	if f.Section(".debug_info") < 0 {
		return nil, nil
	}
	// debug/elf and debug/dwarf are not hardened against hostile input.
	// Whatever they refuse is bad input, reported as such.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed debug information: %v", r)
		}
		if err != nil {
			found, err = nil, &FormatError{Section: ".debug_info", Msg: "DWARF: " + err.Error(), Err: err}
		}
	}()
	ef, err := elf.NewFile(bytes.NewReader(f.Data))
	if err != nil {
		return nil, err
	}
	d, err := ef.DWARF()
	if err != nil {
		return nil, err
	}
	found = make(map[string]*structInfo)
	r := d.Reader()
	for len(found) < len(names) {
		e, err := r.Next()
		if err != nil {
			return nil, err
		}
		if e == nil {
			break
		}
		if e.Tag == dwarf.TagCompileUnit || e.Tag == 0 {
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		if e.Tag != dwarf.TagStructType || !slices.Contains(names, name) || found[name] != nil || e.Val(dwarf.AttrDeclaration) != nil {
			if e.Children {
				r.SkipChildren()
			}
			continue
		}
		if found[name], err = structMembers(r, e); err != nil {
			return nil, fmt.Errorf("struct %s: %w", name, err)
		}
	}
	return found, nil
}

// structMembers reads the size of struct entry e and the offsets of its
// named members, which r reads next.
func structMembers(r *dwarf.Reader, e *dwarf.Entry) (*structInfo, error) {
	size, _ := e.Val(dwarf.AttrByteSize).(int64)
	si := &structInfo{size: int(size), members: make(map[string]int)}
	for e.Children {
		m, err := r.Next()
		if err != nil {
			return nil, err
		}
		if m == nil || m.Tag == 0 {
			break
		}
		if m.Tag == dwarf.TagMember {
			mn, _ := m.Val(dwarf.AttrName).(string)
			if loc, ok := m.Val(dwarf.AttrDataMemberLoc).(int64); ok && mn != "" {
				si.members[mn] = int(loc)
			}
		}
		if m.Children {
			r.SkipChildren()
		}
	}
	return si, nil
}

// btfLayout reads the klp structs from the module's split BTF on top of the
// vmlinux BTF it was built against. It returns nil, nil when either is
// missing.
func btfLayout(f *elf64.File, base *btf.Spec) (*layout, error) {
	i := f.Section(".BTF")
	if i < 0 || base == nil {
		return nil, nil
	}
	spec, err := btf.LoadSplitSpecFromReader(bytes.NewReader(f.SectionData(i)), base)
	if err != nil {
		return nil, fmt.Errorf("section .BTF: %w", err)
	}
	found := make(map[string]*structInfo)
	for _, name := range layoutStructs {
		// Split BTF refers to the vmlinux definitions it was deduplicated
		// against; a module's own definition wins when it has one.
		var s *btf.Struct
		err := spec.TypeByName(name, &s)
		if errors.Is(err, btf.ErrNotFound) {
			err = base.TypeByName(name, &s)
		}
		if err != nil {
			return nil, fmt.Errorf("section .BTF: struct %s: %w", name, err)
		}
		si := &structInfo{size: int(s.Size), members: make(map[string]int)}
		for _, m := range s.Members {
			si.members[m.Name] = int(m.Offset.Bytes())
		}
		found[name] = si
	}
	l, err := fill(klp.LayoutBTF, found)
	if err != nil {
		return nil, fmt.Errorf("section .BTF: %w", err)
	}
	return l, nil
}

// tableKey is an architecture and the major and minor kernel version.
type tableKey struct {
	arch         string
	major, minor int
}

// klpLayout64 is the layout every 64-bit kernel klpack is tested against
// has: x86_64 6.1 and 6.12 (Debian), x86_64 7.2 (the test kernel: the
// kpatch-build and klp-build modules' DWARF) and arm64 7.2
// (linux-source-7.2, tinyconfig plus testdata/gen/arm64/arm64.config)
// agree field by field.
var klpLayout64 = layout{
	source: klp.LayoutTable, patchObjs: 8, patchStates: 16, patchReplace: 24,
	objSize: 0xa8, objName: 0, objFuncs: 8, objCallbacks: 16,
	cbPre: 0, cbPost: 8, cbPreUnpatch: 16, cbPostUnpatch: 24,
	funcSize: 0x98, funcOldName: 0, funcNewFunc: 8, funcOldSympos: 16,
	stateSize: 24, stateID: 0, stateVersion: 8,
}

// tableLayouts are the layouts of the kernels klpack is tested against;
// TestLayoutTable proves each against the DWARF of a module built for that
// kernel and architecture. A kernel gets an entry only with such a module.
var tableLayouts = map[tableKey]layout{
	{"x86_64", 6, 1}:  klpLayout64,
	{"x86_64", 6, 12}: klpLayout64,
	{"x86_64", 7, 2}:  klpLayout64,
	{"arm64", 7, 2}:   klpLayout64,
}

// tableLayout looks the layout up by architecture and the kernel release
// in vermagic.
func tableLayout(arch, vermagic string) (*layout, error) {
	rel := klp.KernelRelease(vermagic)
	if major, minor, ok := klp.KernelVersion(rel); ok {
		if l, ok := tableLayouts[tableKey{arch, major, minor}]; ok {
			return &l, nil
		}
	}
	return nil, fmt.Errorf("no debug information and no built-in klp struct layout for %s kernel %q: build with debug info or pass the kernel's vmlinux BTF", arch, rel)
}
