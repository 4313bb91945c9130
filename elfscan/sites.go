package elfscan

import (
	"bytes"
	"cmp"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/klpack/klpack/internal/elf64"
	"github.com/klpack/klpack/pkg/klp"
)

// Sites lists the instrumentation sites of one x86_64 object per function
// symbol: the jump labels of __jump_table (tracepoint keys, dynamic-debug
// descriptors, other static keys), the static calls of
// .static_call_sites and, in modules, the calls to __traceiter_NAME and
// __SCT__tp_func_NAME. A livepatch function replaces its original whole,
// so these are what the original runs and a patch may lose.

// Layouts the sites are read with (include/linux/jump_label.h,
// static_call_types.h and dynamic_debug.h; the same from 4.x to 7.2 on
// x86_64 with CONFIG_HAVE_ARCH_JUMP_LABEL_RELATIVE).
const (
	// struct jump_entry { s32 code; s32 target; long key; }: the key's
	// low two bits are flags (branch, and init or x86's objtool hack).
	jumpEntrySize = 16
	jumpKeyOff    = 8
	// struct static_call_site { s32 addr; s32 key; }: flags in the
	// key's low two bits (tail call, init).
	staticCallSiteSize = 8
	siteFlags          = 3
	// struct _ddebug: modname, function, filename, format pointers, the
	// lineno:18 bitfield word, then the key union (under JUMP_LABEL).
	ddebugFilenameOff = 16
	ddebugFormatOff   = 24
	ddebugLinenoOff   = 32
	ddebugKeyOff      = 40
	ddebugLinenoMask  = 1<<18 - 1
)

// maxSiteEntries bounds the entries one table may hold: a distribution
// vmlinux has some 40,000 jump entries and 10,000 static call sites.
const maxSiteEntries = 1 << 22

// notInstrumentation are static calls that preemption, not tracing or
// debugging, puts in code (PREEMPT_DYNAMIC): a patch that changes how
// often they run loses nothing anyone enabled.
var notInstrumentation = []string{"preempt_schedule", "preempt_schedule_notrace", "cond_resched", "might_resched"}

// source says which table a site came from: a tracepoint shows in up to
// three (its key, its static call, its call), so it counts as the most any
// one of them shows.
type source int

const (
	fromJump source = iota
	fromStaticCall
	fromCall
	nSources
)

// fn is one function symbol: where its code is and the order kallsyms
// counts it in for old_sympos.
type fn struct {
	name       string
	sec        int // section index (0 in a linked image: addresses)
	start, end uint64
	order      uint64
}

// siteSet gathers sites per function, then merges them into the object's
// record.
type siteSet struct {
	funcs []fn // sorted by sec, start
	found [][nSources][]klp.Site
	n     int
}

func newSiteSet(funcs []fn) *siteSet {
	slices.SortFunc(funcs, func(a, b fn) int {
		if a.sec != b.sec {
			return a.sec - b.sec
		}
		if c := cmp.Compare(a.start, b.start); c != 0 {
			return c
		}
		return cmp.Compare(a.order, b.order)
	})
	return &siteSet{funcs: funcs, found: make([][nSources][]klp.Site, len(funcs))}
}

// at is the function whose code holds (sec, off), or -1.
func (s *siteSet) at(sec int, off uint64) int {
	i := sort.Search(len(s.funcs), func(i int) bool {
		f := &s.funcs[i]
		return f.sec > sec || f.sec == sec && f.start > off
	}) - 1
	if i < 0 || s.funcs[i].sec != sec || off >= s.funcs[i].end {
		return -1
	}
	return i
}

func (s *siteSet) add(sec int, off uint64, from source, site klp.Site) error {
	i := s.at(sec, off)
	if i < 0 {
		return nil // code outside a function symbol (an alternative, a thunk)
	}
	if s.n++; s.n > maxSiteEntries {
		return fmt.Errorf("more than %d instrumentation sites", maxSiteEntries)
	}
	// Aliases (symbols of one start) share the code, and its sites:
	// which name a patch gives is not known here.
	for j := i; j >= 0 && s.funcs[j].sec == sec && s.funcs[j].start == s.funcs[i].start; j-- {
		if off < s.funcs[j].end {
			s.found[j][from] = append(s.found[j][from], site)
		}
	}
	return nil
}

// result merges the tables per function and groups functions by name. A
// NAME.cold part belongs to NAME when that name is unique.
func (s *siteSet) result(object string) *klp.ObjectSites {
	out := &klp.ObjectSites{Object: object, Funcs: map[string][][]klp.Site{}}
	byName := map[string][]int{}
	for i := range s.funcs {
		byName[s.funcs[i].name] = append(byName[s.funcs[i].name], i)
	}
	merged := make([][]klp.Site, len(s.funcs))
	has := map[string]bool{}
	for i := range s.funcs {
		sites := mergeSources(&s.found[i])
		if len(sites) == 0 {
			continue
		}
		name := s.funcs[i].name
		if parent, ok := strings.CutSuffix(name, ".cold"); ok && len(byName[parent]) == 1 {
			j := byName[parent][0]
			merged[j] = append(merged[j], sites...)
			has[parent] = true
			continue
		}
		merged[i] = append(merged[i], sites...)
		has[name] = true
	}
	for name := range has {
		idx := byName[name]
		slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(s.funcs[a].order, s.funcs[b].order) })
		occ := make([][]klp.Site, len(idx))
		for k, i := range idx {
			occ[k] = merged[i]
			if occ[k] == nil {
				occ[k] = []klp.Site{}
			}
			sortSites(occ[k])
		}
		out.Funcs[name] = occ
	}
	return out
}

// mergeSources counts a tracepoint as often as the table that shows it
// most; every other kind comes from one table.
func mergeSources(found *[nSources][]klp.Site) []klp.Site {
	tp := map[string]int{}
	var out []klp.Site
	for _, sites := range found {
		n := map[string]int{}
		for _, st := range sites {
			if st.Kind == klp.SiteTracepoint {
				n[st.Name]++
				continue
			}
			out = append(out, st)
		}
		for name, c := range n {
			tp[name] = max(tp[name], c)
		}
	}
	for name, c := range tp {
		for range c {
			out = append(out, klp.Site{Kind: klp.SiteTracepoint, Name: name})
		}
	}
	return out
}

func sortSites(s []klp.Site) {
	slices.SortFunc(s, func(a, b klp.Site) int {
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Detail, b.Detail)
	})
}

// keySite names the site of a jump label whose key is the symbol name
// (or lies inside it).
func keySite(name string) klp.Site {
	if tp, ok := strings.CutPrefix(name, "__tracepoint_"); ok && tp != "" {
		return klp.Site{Kind: klp.SiteTracepoint, Name: tp}
	}
	return klp.Site{Kind: klp.SiteStaticKey, Name: name}
}

// staticCallSite names a static call site by its key: __SCK__NAME, or the
// trampoline __SCT__NAME that modules reference instead. ok is false for
// the calls preemption puts in code.
func staticCallSite(name string) (klp.Site, bool) {
	call := name
	if n, ok := strings.CutPrefix(name, "__SCK__"); ok {
		call = n
	} else if n, ok := strings.CutPrefix(name, "__SCT__"); ok {
		call = n
	}
	if tp, ok := strings.CutPrefix(call, "tp_func_"); ok && tp != "" {
		return klp.Site{Kind: klp.SiteTracepoint, Name: tp}, true
	}
	if slices.Contains(notInstrumentation, call) {
		return klp.Site{}, false
	}
	return klp.Site{Kind: klp.SiteStaticCall, Name: call}, true
}

// traceCall names the tracepoint a call to __traceiter_NAME or
// __SCT__tp_func_NAME fires.
func traceCall(name string) (string, bool) {
	for _, p := range []string{"__traceiter_", "__SCT__tp_func_"} {
		if tp, ok := strings.CutPrefix(name, p); ok && tp != "" {
			return tp, true
		}
	}
	return "", false
}

// plainName is the name a .klp.sym.<object>.<name>,<sympos> symbol
// stands for (kpatch-build turns a patch's references to the target's
// keys into those), else name.
func plainName(name string) string {
	rest, ok := strings.CutPrefix(name, klpSymPrefix)
	if !ok {
		return name
	}
	if _, after, ok := strings.Cut(rest, "."); ok {
		if n, _, ok := strings.Cut(after, ","); ok && n != "" {
			return n
		}
	}
	return name
}

// relSites reads the sites of a relocatable module: every table entry's
// fields are relocations.
func relSites(f *elf64.File) (*klp.ObjectSites, error) {
	if f.Machine != elf.EM_X86_64 {
		return nil, formatErr("", 0, "instrumentation sites are read for x86_64, not %s", f.Arch())
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil, err
	}
	if syms == nil {
		return nil, formatErr(".symtab", 0, "missing: the sites' functions cannot be named")
	}
	var funcs []fn
	for i := range syms {
		s := &syms[i]
		if s.Type() != elf.STT_FUNC || !s.Defined() || s.Name == "" {
			continue
		}
		sec := &f.Sections[s.Shndx]
		if s.Value > sec.Size || s.Size > sec.Size-s.Value {
			return nil, formatErr(".symtab", uint64(i)*elf64.SymSize, "function %s (%d bytes at %#x) outside %s", s.Name, s.Size, s.Value, sec.Name)
		}
		funcs = append(funcs, fn{name: s.Name, sec: int(s.Shndx), start: s.Value, end: s.Value + s.Size, order: uint64(i)})
	}
	set := newSiteSet(funcs)
	r := &relReader{f: f, syms: syms, set: set, dyndbg: f.Section("__dyndbg")}
	if err := r.jumpTable(); err != nil {
		return nil, err
	}
	if err := r.staticCalls(); err != nil {
		return nil, err
	}
	if err := r.traceCalls(); err != nil {
		return nil, err
	}
	name := first(mustModinfo(f), "name")
	if name == "" {
		name = thisModuleName(f)
	}
	return set.result(name), nil
}

func mustModinfo(f *elf64.File) map[string][]string {
	mi, err := modinfo(f)
	if err != nil {
		return nil
	}
	return mi
}

type relReader struct {
	f      *elf64.File
	syms   []elf64.Symbol
	set    *siteSet
	dyndbg int
	// objects are the named data symbols of each section, by value:
	// where a key defined in the module lies.
	objects map[int][]int
}

// relocAt is the relocation of the field at off of table sec, or an error
// naming the entry.
func (r *relReader) relocAt(rs []elf64.Rela, sec int, off uint64, entry int, field string) (elf64.Rela, error) {
	k := sort.Search(len(rs), func(i int) bool { return rs[i].Off >= off })
	if k == len(rs) || rs[k].Off != off {
		return elf64.Rela{}, formatErr(r.f.Sections[sec].Name, off, "entry %d: %s without a relocation", entry, field)
	}
	return rs[k], nil
}

// table checks a table section's size and returns its entries' count and
// relocations; a module without the table has none.
func (r *relReader) table(name string, size uint64) (int, int, []elf64.Rela, error) {
	sec := r.f.Section(name)
	if sec < 0 {
		return -1, 0, nil, nil
	}
	s := &r.f.Sections[sec]
	if s.Size%size != 0 {
		return 0, 0, nil, formatErr(name, 0, "size %d not a multiple of the %d-byte entry", s.Size, size)
	}
	if s.Size/size > maxSiteEntries {
		return 0, 0, nil, formatErr(name, 0, "%d entries, more than %d", s.Size/size, maxSiteEntries)
	}
	rs, err := r.f.Relocations(sec)
	if err != nil {
		return 0, 0, nil, err
	}
	return sec, int(s.Size / size), rs, nil
}

// code is the place a code-address field's relocation points at.
func (r *relReader) code(rel elf64.Rela, sec int, entry int) (int, uint64, bool, error) {
	s := &r.syms[rel.Sym]
	if !s.Defined() {
		return 0, 0, false, nil // code in another object: not this one's function
	}
	if elf.R_X86_64(rel.Type) != elf.R_X86_64_PC32 {
		return 0, 0, false, formatErr(r.f.Sections[sec].Name, rel.Off, "entry %d: code relocated by %s, want R_X86_64_PC32", entry, r.f.RelocName(rel.Type))
	}
	return int(s.Shndx), s.Value + uint64(rel.Addend), true, nil
}

// keyName is the symbol a key field points into and where (for a key
// defined in the module): the named object holding it.
func (r *relReader) keyName(rel elf64.Rela) (string, int, uint64) {
	s := &r.syms[rel.Sym]
	if !s.Defined() || !s.IsSection() {
		if !s.Defined() {
			return plainName(s.Name), -1, 0
		}
		return s.Name, int(s.Shndx), (s.Value + uint64(rel.Addend)) &^ siteFlags
	}
	sec := int(s.Shndx)
	off := (s.Value + uint64(rel.Addend)) &^ siteFlags
	if r.objects == nil {
		r.objects = map[int][]int{}
		for i := range r.syms {
			o := &r.syms[i]
			if o.Defined() && !o.IsSection() && o.Name != "" && o.Type() != elf.STT_FUNC {
				r.objects[int(o.Shndx)] = append(r.objects[int(o.Shndx)], i)
			}
		}
		for _, idx := range r.objects {
			slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(r.syms[a].Value, r.syms[b].Value) })
		}
	}
	idx := r.objects[sec]
	k := sort.Search(len(idx), func(i int) bool { return r.syms[idx[i]].Value > off }) - 1
	if k >= 0 {
		if o := &r.syms[idx[k]]; off-o.Value < max(o.Size, 1) {
			return o.Name, sec, off
		}
	}
	return fmt.Sprintf("%s+%#x", r.f.Sections[sec].Name, off), sec, off
}

func (r *relReader) jumpTable() error {
	sec, n, rs, err := r.table("__jump_table", jumpEntrySize)
	if err != nil || sec < 0 {
		return err
	}
	for i := range n {
		base := uint64(i) * jumpEntrySize
		cr, err := r.relocAt(rs, sec, base, i, "code")
		if err != nil {
			return err
		}
		kr, err := r.relocAt(rs, sec, base+jumpKeyOff, i, "key")
		if err != nil {
			return err
		}
		if t := elf.R_X86_64(kr.Type); t != elf.R_X86_64_PC64 {
			return formatErr("__jump_table", kr.Off, "entry %d: key relocated by %s, want R_X86_64_PC64", i, r.f.RelocName(kr.Type))
		}
		csec, coff, ok, err := r.code(cr, sec, i)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		name, ksec, koff := r.keyName(kr)
		site := keySite(name)
		if ksec >= 0 && ksec == r.dyndbg {
			site = r.ddebug(koff)
		}
		if err := r.set.add(csec, coff, fromJump, site); err != nil {
			return formatErr("__jump_table", base, "entry %d: %v", i, err)
		}
	}
	return nil
}

// ddebug names the dynamic-debug site whose descriptor holds the key at
// off of __dyndbg: its format and source line when the descriptor reads,
// else none (the site still counts).
func (r *relReader) ddebug(keyOff uint64) klp.Site {
	site := klp.Site{Kind: klp.SiteDyndbg}
	if keyOff < ddebugKeyOff {
		return site
	}
	d := keyOff - ddebugKeyOff
	if format, err := r.string(d + ddebugFormatOff); err == nil {
		site.Name = format
	}
	file, ferr := r.string(d + ddebugFilenameOff)
	if b, err := r.f.Read(r.dyndbg, d+ddebugLinenoOff, 4); err == nil && ferr == nil {
		site.Detail = fmt.Sprintf("%s:%d", path.Base(file), r.f.ByteOrder.Uint32(b)&ddebugLinenoMask)
	}
	return site
}

func (r *relReader) string(off uint64) (string, error) {
	ref, ok, err := r.f.Pointer(r.dyndbg, off)
	if err != nil || !ok {
		return "", fmt.Errorf("no string")
	}
	return r.f.StringAt(ref)
}

func (r *relReader) staticCalls() error {
	sec, n, rs, err := r.table(".static_call_sites", staticCallSiteSize)
	if err != nil || sec < 0 {
		return err
	}
	for i := range n {
		base := uint64(i) * staticCallSiteSize
		cr, err := r.relocAt(rs, sec, base, i, "addr")
		if err != nil {
			return err
		}
		kr, err := r.relocAt(rs, sec, base+4, i, "key")
		if err != nil {
			return err
		}
		csec, coff, ok, err := r.code(cr, sec, i)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		name, _, _ := r.keyName(kr)
		site, ok := staticCallSite(name)
		if !ok {
			continue
		}
		if err := r.set.add(csec, coff, fromStaticCall, site); err != nil {
			return formatErr(".static_call_sites", base, "entry %d: %v", i, err)
		}
	}
	return nil
}

// traceCalls finds calls to a tracepoint's iterator or static call
// trampoline in code sections: what fires a tracepoint where neither
// table shows it (no jump labels, no inline static calls).
func (r *relReader) traceCalls() error {
	for sec := range r.f.Sections {
		s := &r.f.Sections[sec]
		if s.Flags&elf.SHF_EXECINSTR == 0 || s.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		rs, err := r.f.Relocations(sec)
		if err != nil {
			return err
		}
		for _, rel := range rs {
			tp, ok := traceCall(plainName(r.syms[rel.Sym].Name))
			if !ok {
				continue
			}
			if err := r.set.add(sec, rel.Off, fromCall, klp.Site{Kind: klp.SiteTracepoint, Name: tp}); err != nil {
				return formatErr(s.Name, rel.Off, "%v", err)
			}
		}
	}
	return nil
}

// OpenSites reads the instrumentation sites of the x86_64 vmlinux or
// kernel module (.ko, plain or compressed with xz, zstd or gzip) at path.
// A vmlinux is read section by section, never whole. Errors name the file;
// bad input is a *FormatError naming the section.
func OpenSites(path string) (*klp.ObjectSites, error) {
	f, st, err := openRegular(path)
	if err != nil {
		return nil, nameFile(path, err)
	}
	defer f.Close()
	o, err := ReadSites(f, st.Size())
	if err != nil {
		return nil, nameFile(path, err)
	}
	return o, nil
}

// ReadSites reads the instrumentation sites of an image of size bytes:
// a linked x86_64 kernel (ET_EXEC, read section by section) or a module
// (ET_REL, plain or compressed, at most 1 GiB).
func ReadSites(r io.ReaderAt, size int64) (_ *klp.ObjectSites, err error) {
	defer func() { err = asFormatError(err) }()
	var head [elf.EI_NIDENT + 2]byte
	n, err := r.ReadAt(head[:], 0)
	if n < len(head) {
		if n == 0 && err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if n == 0 {
			return nil, &FormatError{Msg: "empty file, not a kernel or module", Err: ErrNotELF}
		}
	}
	if bytes.HasPrefix(head[:n], []byte(elf.ELFMAG)) && n == len(head) && head[elf.EI_DATA] == byte(elf.ELFDATA2LSB) &&
		elf.Type(binary.LittleEndian.Uint16(head[elf.EI_NIDENT:])) == elf.ET_EXEC {
		return execSites(r, size)
	}
	if size > maxModule {
		return nil, &FormatError{Msg: fmt.Sprintf("module of %d bytes, over the %d-byte limit", size, maxModule)}
	}
	raw := make([]byte, size)
	if _, err := r.ReadAt(raw, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	data := raw
	if kind := compressionOf(raw); kind != "" {
		if data, err = newScanner(nil).decompress(kind, raw, decompressLimit(len(raw))); err != nil {
			return nil, &FormatError{Msg: err.Error()}
		}
	}
	n2 := len(data)
	if _, sn, err := parseSignature(data); err == nil {
		n2 = sn
	}
	f, err := elf64.Parse(data[:n2])
	if err != nil {
		return nil, err
	}
	return relSites(f)
}

// Bounds of a linked kernel's reads: its symbol table (a distribution
// vmlinux has some 200,000 symbols, 5 MiB) and each table of sites.
const (
	maxExecSymtab = 256 << 20
	maxExecTable  = maxSiteEntries * jumpEntrySize
)

// execSites reads the sites of a linked kernel, whose tables hold
// self-relative fields (no relocations) between __start_ and __stop_
// symbols inside its data sections.
func execSites(r io.ReaderAt, size int64) (_ *klp.ObjectSites, err error) {
	defer func() {
		// debug/elf is not hardened against hostile input.
		if p := recover(); p != nil {
			err = &FormatError{Msg: fmt.Sprintf("malformed ELF: %v", p)}
		}
	}()
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, &FormatError{Msg: err.Error()}
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return nil, &FormatError{Msg: fmt.Sprintf("%v %v: instrumentation sites are read for x86_64", f.Class, f.Machine), Err: ErrUnsupportedMachine}
	}
	st := f.Section(".symtab")
	if st == nil || st.Type != elf.SHT_SYMTAB {
		return nil, formatErr(".symtab", 0, "missing: the sites' functions cannot be named (a stripped vmlinux?)")
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS && (s.Offset > uint64(size) || s.Size > uint64(size)-s.Offset) {
			return nil, formatErr(s.Name, 0, "%d bytes at %#x past the end of the file (%d bytes)", s.Size, s.Offset, size)
		}
	}
	if st.Size > maxExecSymtab || int(st.Link) >= len(f.Sections) || f.Sections[st.Link].Size > maxExecSymtab {
		return nil, formatErr(".symtab", 0, "symbol or string table over %d bytes", maxExecSymtab)
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil, formatErr(".symtab", 0, "%v", err)
	}
	x := &execReader{f: f, bounds: map[string]uint64{}}
	var funcs []fn
	for _, s := range syms {
		switch {
		case s.Section == elf.SHN_UNDEF || s.Section >= elf.SHN_LORESERVE && s.Section != elf.SHN_ABS:
		case elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Size > 0:
			if s.Value+s.Size < s.Value {
				return nil, formatErr(".symtab", 0, "function %s: %d bytes at %#x wrap around", s.Name, s.Size, s.Value)
			}
			funcs = append(funcs, fn{name: s.Name, start: s.Value, end: s.Value + s.Size, order: s.Value})
		case strings.HasPrefix(s.Name, "__start_") || strings.HasPrefix(s.Name, "__stop_"):
			x.bounds[s.Name] = s.Value
		case s.Size > 0 && s.Name != "" && elf.ST_TYPE(s.Info) != elf.STT_SECTION:
			x.objects = append(x.objects, s)
		}
	}
	slices.SortStableFunc(x.objects, func(a, b elf.Symbol) int { return cmp.Compare(a.Value, b.Value) })
	x.set = newSiteSet(funcs)
	if err := x.jumpTable(); err != nil {
		return nil, err
	}
	if err := x.staticCalls(); err != nil {
		return nil, err
	}
	return x.set.result("vmlinux"), nil
}

type execReader struct {
	f       *elf.File
	set     *siteSet
	bounds  map[string]uint64 // __start_X and __stop_X
	objects []elf.Symbol      // data symbols with a size, by address
}

// table reads the bytes between __start_NAME and __stop_NAME; a kernel
// without them has no such table.
func (x *execReader) table(name string, entry uint64) (uint64, []byte, error) {
	start, ok1 := x.bounds["__start_"+name]
	stop, ok2 := x.bounds["__stop_"+name]
	if !ok1 || !ok2 || start == stop {
		return 0, nil, nil
	}
	// Errors name the kernel's section the bounds delimit.
	sec := map[string]string{"static_call_sites": ".static_call_sites"}[name]
	if sec == "" {
		sec = name
	}
	if stop < start {
		return 0, nil, formatErr(sec, 0, "table ends at %#x, before it starts at %#x", stop, start)
	}
	if (stop-start)%entry != 0 || stop-start > maxExecTable {
		return 0, nil, formatErr(sec, 0, "table of %d bytes from %#x to %#x: not a whole number of %d-byte entries under %d bytes", stop-start, start, stop, entry, maxExecTable)
	}
	b, err := x.read(start, stop-start)
	if err != nil {
		return 0, nil, formatErr(sec, 0, "%v", err)
	}
	return start, b, nil
}

// read reads n bytes at address addr of a section with contents.
func (x *execReader) read(addr, n uint64) ([]byte, error) {
	for _, s := range x.f.Sections {
		if s.Type == elf.SHT_NOBITS || s.Flags&elf.SHF_ALLOC == 0 || addr < s.Addr || addr-s.Addr > s.Size || n > s.Size-(addr-s.Addr) {
			continue
		}
		b := make([]byte, n)
		if _, err := s.ReadAt(b, int64(addr-s.Addr)); err != nil {
			return nil, fmt.Errorf("section %s: %w", s.Name, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("address %#x (%d bytes) in no section with contents", addr, n)
}

// cstring reads the NUL-terminated string at addr.
func (x *execReader) cstring(addr uint64) (string, bool) {
	for _, s := range x.f.Sections {
		if s.Type == elf.SHT_NOBITS || addr < s.Addr || addr-s.Addr >= s.Size {
			continue
		}
		n := min(s.Size-(addr-s.Addr), 4096)
		b, err := x.read(addr, n)
		if err != nil {
			return "", false
		}
		k := bytes.IndexByte(b, 0)
		if k < 0 {
			return "", false
		}
		return string(b[:k]), true
	}
	return "", false
}

// symbolAt names the data symbol holding addr, else the address.
func (x *execReader) symbolAt(addr uint64) string {
	k := sort.Search(len(x.objects), func(i int) bool { return x.objects[i].Value > addr }) - 1
	if k >= 0 && addr-x.objects[k].Value < x.objects[k].Size {
		return x.objects[k].Name
	}
	return fmt.Sprintf("%#x", addr)
}

func (x *execReader) jumpTable() error {
	start, b, err := x.table("__jump_table", jumpEntrySize)
	if err != nil || b == nil {
		return err
	}
	dstart, dstop := x.bounds["__start___dyndbg"], x.bounds["__stop___dyndbg"]
	le := binary.LittleEndian
	for i := 0; i < len(b); i += jumpEntrySize {
		a := start + uint64(i)
		code := a + uint64(int64(int32(le.Uint32(b[i:]))))
		key := (a + jumpKeyOff + le.Uint64(b[i+jumpKeyOff:])) &^ siteFlags
		var site klp.Site
		if key >= dstart && key < dstop {
			site = x.ddebug(key, dstart)
		} else {
			site = keySite(x.symbolAt(key))
		}
		if err := x.set.add(0, code, fromJump, site); err != nil {
			return formatErr("__jump_table", uint64(i), "entry %d: %v", i/jumpEntrySize, err)
		}
	}
	return nil
}

// ddebug names the dynamic-debug site of the descriptor holding key.
func (x *execReader) ddebug(key, start uint64) klp.Site {
	site := klp.Site{Kind: klp.SiteDyndbg}
	if key-start < ddebugKeyOff {
		return site
	}
	d := key - ddebugKeyOff
	b, err := x.read(d, ddebugKeyOff)
	if err != nil {
		return site
	}
	le := binary.LittleEndian
	if s, ok := x.cstring(le.Uint64(b[ddebugFormatOff:])); ok {
		site.Name = s
	}
	if s, ok := x.cstring(le.Uint64(b[ddebugFilenameOff:])); ok {
		site.Detail = fmt.Sprintf("%s:%d", path.Base(s), le.Uint32(b[ddebugLinenoOff:])&ddebugLinenoMask)
	}
	return site
}

func (x *execReader) staticCalls() error {
	start, b, err := x.table("static_call_sites", staticCallSiteSize)
	if err != nil || b == nil {
		return err
	}
	le := binary.LittleEndian
	for i := 0; i < len(b); i += staticCallSiteSize {
		a := start + uint64(i)
		code := a + uint64(int64(int32(le.Uint32(b[i:]))))
		key := (a + 4 + uint64(int64(int32(le.Uint32(b[i+4:]))))) &^ siteFlags
		site, ok := staticCallSite(x.symbolAt(key))
		if !ok {
			continue
		}
		if err := x.set.add(0, code, fromStaticCall, site); err != nil {
			return formatErr(".static_call_sites", uint64(i), "entry %d: %v", i/staticCallSiteSize, err)
		}
	}
	return nil
}
