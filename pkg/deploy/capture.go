package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/pkg/klp"
)

// Where Capture took the load order from.
const (
	OrderStackOrder = "stack_order" // the kernel's stack_order (Linux 6.13+)
	OrderOption     = "option"      // CaptureOptions.Order
	OrderGuess      = "guess"       // sorted by name, see Capture
)

// Kinds of report entries.
const (
	EntryInfo      = "info"       // where the kernel release, model and order came from
	EntryUnmatched = "unmatched"  // a patch in sysfs without a module file
	EntryMismatch  = "mismatch"   // sysfs and the module file disagree
	EntryNotLoaded = "not-loaded" // a livepatch module file not in sysfs
	EntrySkipped   = "skipped"    // a module file that could not be read
	EntryNote      = "note"       // anything else worth knowing
)

// CaptureOptions tune Capture. The zero value is ready to use.
type CaptureOptions struct {
	// KernelRelease is the release of the kernel the tree was taken from
	// (uname -r). Empty: the vermagic of the matched modules.
	KernelRelease string
	// KernelModel is one of the Model constants. Empty: inferred from the
	// attributes sysfs shows (replace_set: replace-set, replaceable:
	// hybrid, else mainline).
	KernelModel string
	// Order lists every patch in sysfs by name, oldest first, as the caller
	// knows it (a loader's record). It is used when the kernel has no
	// stack_order attribute; stack_order wins when present.
	Order []string
	// Scan tunes the scan of module files.
	Scan *elfscan.Options
	// Logger receives debug records; nil discards them.
	Logger *slog.Logger
	// Progress, when set, is called after each module file is scanned,
	// one call at a time.
	Progress func(done, total int)
}

// CaptureReport says how Capture joined sysfs with the module files and
// what did not fit. It is for people (Lines) and tools (JSON).
type CaptureReport struct {
	KernelRelease string `json:"kernel_release"`
	// ReleaseSource is "option" or "vermagic".
	ReleaseSource string `json:"kernel_release_source"`
	KernelModel   string `json:"kernel_model"`
	// ModelSource is "option", "sysfs" (an attribute only a model has) or
	// "default" (no patch to look at).
	ModelSource string `json:"kernel_model_source"`
	// OrderSource is one of the Order constants.
	OrderSource string        `json:"order_source"`
	Entries     []ReportEntry `json:"entries"`
}

// ReportEntry is one line of a CaptureReport.
type ReportEntry struct {
	// Kind is one of the Entry constants.
	Kind string `json:"kind"`
	// Patch is the patch (module) name concerned, if any.
	Patch string `json:"patch,omitempty"`
	// Path is the module file concerned, if any.
	Path string `json:"path,omitempty"`
	Msg  string `json:"msg"`
}

// Count returns the number of entries of a kind.
func (r *CaptureReport) Count(kind string) int {
	n := 0
	for _, e := range r.Entries {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// Lines renders the report, one line per entry.
func (r *CaptureReport) Lines() []string {
	out := make([]string, 0, len(r.Entries))
	for _, e := range r.Entries {
		s := e.Kind
		if e.Patch != "" {
			s += " " + e.Patch
		}
		out = append(out, s+": "+e.Msg)
	}
	return out
}

// WriteText prints Lines.
func (r *CaptureReport) WriteText(w io.Writer) error {
	for _, l := range r.Lines() {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

func (r *CaptureReport) add(kind, patch, path, format string, args ...any) {
	r.Entries = append(r.Entries, ReportEntry{Kind: kind, Patch: patch, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// SysfsError is a livepatch sysfs tree that cannot be read as one: a
// missing or malformed attribute, or a function directory not named
// <function>,<sympos>. Path is relative to the tree's root.
type SysfsError struct {
	Path string
	Msg  string
}

func (e *SysfsError) Error() string { return fmt.Sprintf("file %s: %s", e.Path, e.Msg) }

// Capture builds the deployed state of a kernel from its livepatch sysfs
// tree (the contents of /sys/kernel/livepatch, live or copied) and the
// module files under moduleDirs, scanned with elfscan. A patch directory
// is matched with the livepatch module of the same name (the kernel names
// the directory after the module).
//
// From sysfs it reads, per patch: enabled (Linux 3.19), transition (4.12),
// replace (6.11), stack_order (6.13) and, from the replaceable and
// replace-set RFCs, replaceable and replace_set; force is write-only and
// not read. Per object: the directory name, patched (6.1); per function:
// the <function>,<sympos> directory names. The functions sysfs lists must
// be those the module file patches; differences are reported as
// mismatches (the file is likely not the one loaded), except the nop
// functions the kernel adds to a replace patch during its transition.
//
// The load order (Patch.LoadOrder, from 1) is stack_order when the kernel
// has it, else opts.Order, else a guess: patches sorted by name, except
// that on the mainline model an enabled atomic-replace patch out of
// transition goes first, since the kernel freed every patch older than it.
// The report says which was used.
//
// A patch in sysfs without a module file is kept, with a record built from
// sysfs alone (no path, no scan data, new_func unknown), and reported, so
// that checks still see the functions it patches. Livepatch module files
// that are not loaded are reported and left out.
//
// Errors: *SysfsError for a bad tree; errors from elfscan.Expand for a bad
// module directory; an error when no kernel release is known.
func Capture(ctx context.Context, sysfs fs.FS, moduleDirs []string, opts *CaptureOptions) (*State, *CaptureReport, error) {
	if opts == nil {
		opts = &CaptureOptions{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch opts.KernelModel {
	case "", ModelMainline, ModelHybrid, ModelReplaceSet:
	default:
		return nil, nil, fmt.Errorf("unknown kernel model %q, want %s, %s or %s", opts.KernelModel, ModelMainline, ModelHybrid, ModelReplaceSet)
	}
	rep := &CaptureReport{Entries: []ReportEntry{}}
	sps, err := readSysfs(ctx, sysfs, rep)
	if err != nil {
		return nil, nil, err
	}
	log.Debug("read sysfs", "patches", len(sps))

	files, err := elfscan.Expand(moduleDirs)
	if err != nil {
		return nil, nil, err
	}
	var progress func()
	if opts.Progress != nil {
		// ScanFiles calls from its workers; the caller's func gets one
		// call at a time.
		var mu sync.Mutex
		done := 0
		progress = func() {
			mu.Lock()
			defer mu.Unlock()
			done++
			opts.Progress(done, len(files))
		}
	}
	results := elfscan.ScanFiles(ctx, files, opts.Scan, progress)
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	byName := make(map[string][]*klp.Module)
	other := make(map[string]string)
	var skipped []ReportEntry
	for _, r := range results {
		switch {
		case r.Err != nil:
			skipped = append(skipped, ReportEntry{Kind: EntrySkipped, Path: r.Path, Msg: r.Err.Error()})
		case r.Module.Livepatch:
			byName[r.Module.Name] = append(byName[r.Module.Name], r.Module)
		default:
			other[r.Module.Name] = r.Path
		}
	}
	log.Debug("scanned modules", "files", len(files), "livepatch names", len(byName))

	// Functions each patch lists in sysfs, to tell a replace patch's nops.
	listedBy := make(map[string][]string)
	for _, sp := range sps {
		for k := range sp.keys() {
			listedBy[k] = append(listedBy[k], sp.name)
		}
	}
	st := &State{Schema: StateSchema, Patches: []*Patch{}}
	matched := make(map[string]*klp.Module)
	var body []ReportEntry
	for _, sp := range sps {
		p, m, entries := joinPatch(sp, byName[sp.name], other[sp.name], listedBy)
		body = append(body, entries...)
		if m != nil {
			matched[sp.name] = m
		}
		st.Patches = append(st.Patches, p)
	}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		if _, ok := findPatch(sps, name); ok {
			continue
		}
		for _, m := range byName[name] {
			body = append(body, ReportEntry{Kind: EntryNotLoaded, Patch: name, Path: m.Path,
				Msg: fmt.Sprintf("%s is a livepatch module that is not loaded (no sysfs directory)", m.Path)})
		}
	}

	wrongRelease, err := kernelRelease(st, rep, sps, matched, opts.KernelRelease)
	if err != nil {
		return nil, nil, err
	}
	kernelModel(st, rep, sps, opts.KernelModel)
	if err := loadOrder(st, rep, sps, opts.Order); err != nil {
		return nil, nil, err
	}
	// Entries: where things came from, then per patch, then the files.
	rep.Entries = append(rep.Entries, wrongRelease...)
	rep.Entries = append(rep.Entries, body...)
	slices.SortStableFunc(skipped, func(a, b ReportEntry) int { return strings.Compare(a.Path, b.Path) })
	rep.Entries = append(rep.Entries, skipped...)
	if err := st.Validate(); err != nil {
		return nil, nil, fmt.Errorf("captured state: %w", err)
	}
	sortPatches(st.Patches)
	return st, rep, nil
}

// sysPatch is what sysfs shows of one patch.
type sysPatch struct {
	name                             string
	enabled                          bool
	transition, replace, replaceable *bool
	stackOrder                       *int
	replaceSet                       *uint32
	objects                          []sysObject
}

type sysObject struct {
	name    string
	patched *bool
	funcs   []sysFunc
}

type sysFunc struct {
	name   string
	sympos uint64
}

// funcKey names a function as sysfs does: <object>/<function>,<sympos>,
// sympos 0 shown as 1.
func funcKey(object, name string, sympos uint64) string {
	return fmt.Sprintf("%s/%s,%d", object, name, max(sympos, 1))
}

func (sp *sysPatch) keys() map[string]bool {
	out := make(map[string]bool)
	for _, o := range sp.objects {
		for _, f := range o.funcs {
			out[funcKey(o.name, f.name, f.sympos)] = true
		}
	}
	return out
}

func findPatch(sps []*sysPatch, name string) (*sysPatch, bool) {
	for _, sp := range sps {
		if sp.name == name {
			return sp, true
		}
	}
	return nil, false
}

// maxAttr is the most a sysfs attribute holds (PAGE_SIZE on x86); maxDirs
// bounds the directories of a tree, far above the patches a kernel holds.
const (
	maxAttr = 4096
	maxDirs = 1 << 20
)

func readSysfs(ctx context.Context, fsys fs.FS, rep *CaptureReport) ([]*sysPatch, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, &SysfsError{Path: ".", Msg: unwrapPath(err)}
	}
	budget := maxDirs
	var out []*sysPatch
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !isDir(fsys, e) {
			rep.add(EntryNote, "", "", "ignoring %s: a file, not a patch directory", e.Name())
			continue
		}
		sp, err := readPatch(fsys, e.Name(), &budget)
		if err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	return out, nil
}

func isDir(fsys fs.FS, e fs.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&fs.ModeSymlink == 0 {
		return false
	}
	st, err := fs.Stat(fsys, e.Name())
	return err == nil && st.IsDir()
}

func readPatch(fsys fs.FS, name string, budget *int) (*sysPatch, error) {
	sp := &sysPatch{name: name}
	enabled, err := readBool(fsys, path.Join(name, "enabled"))
	if err != nil {
		return nil, err
	}
	if enabled == nil {
		return nil, &SysfsError{Path: path.Join(name, "enabled"), Msg: "missing: every patch directory has one"}
	}
	sp.enabled = *enabled
	if sp.transition, err = readBool(fsys, path.Join(name, "transition")); err != nil {
		return nil, err
	}
	if sp.replace, err = readBool(fsys, path.Join(name, "replace")); err != nil {
		return nil, err
	}
	if sp.replaceable, err = readBool(fsys, path.Join(name, "replaceable")); err != nil {
		return nil, err
	}
	if v, ok, err := readAttr(fsys, path.Join(name, "stack_order")); err != nil {
		return nil, err
	} else if ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, &SysfsError{Path: path.Join(name, "stack_order"), Msg: fmt.Sprintf("want a positive integer, got %q", v)}
		}
		sp.stackOrder = &n
	}
	if v, ok, err := readAttr(fsys, path.Join(name, "replace_set")); err != nil {
		return nil, err
	} else if ok {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, &SysfsError{Path: path.Join(name, "replace_set"), Msg: fmt.Sprintf("want an unsigned 32-bit integer, got %q", v)}
		}
		set := uint32(n)
		sp.replaceSet = &set
	}
	objs, err := readDirs(fsys, name, budget)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		obj := sysObject{name: o}
		dir := path.Join(name, o)
		if obj.patched, err = readBool(fsys, path.Join(dir, "patched")); err != nil {
			return nil, err
		}
		funcs, err := readDirs(fsys, dir, budget)
		if err != nil {
			return nil, err
		}
		for _, f := range funcs {
			// The sympos follows the last comma.
			i := strings.LastIndexByte(f, ',')
			if i <= 0 {
				return nil, &SysfsError{Path: path.Join(dir, f), Msg: "function directory not named <function>,<sympos>"}
			}
			fn := f[:i]
			n, err := strconv.ParseUint(f[i+1:], 10, 64)
			if err != nil {
				return nil, &SysfsError{Path: path.Join(dir, f), Msg: "function directory not named <function>,<sympos>"}
			}
			obj.funcs = append(obj.funcs, sysFunc{name: fn, sympos: n})
		}
		sp.objects = append(sp.objects, obj)
	}
	return sp, nil
}

// readDirs lists the subdirectories of dir, sorted.
func readDirs(fsys fs.FS, dir string, budget *int) ([]string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, &SysfsError{Path: dir, Msg: unwrapPath(err)}
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if *budget--; *budget < 0 {
			return nil, &SysfsError{Path: dir, Msg: fmt.Sprintf("more than %d directories in the tree", maxDirs)}
		}
		out = append(out, e.Name())
	}
	return out, nil
}

// readAttr reads a sysfs attribute, trimmed; ok is false when it is absent.
func readAttr(fsys fs.FS, name string) (string, bool, error) {
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, &SysfsError{Path: name, Msg: unwrapPath(err)}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAttr+1))
	if err != nil {
		return "", false, &SysfsError{Path: name, Msg: unwrapPath(err)}
	}
	if len(b) > maxAttr {
		return "", false, &SysfsError{Path: name, Msg: fmt.Sprintf("larger than the %d bytes of a sysfs attribute", maxAttr)}
	}
	return strings.TrimSpace(string(b)), true, nil
}

// readBool reads a 0/1 attribute; nil when absent.
func readBool(fsys fs.FS, name string) (*bool, error) {
	v, ok, err := readAttr(fsys, name)
	if err != nil || !ok {
		return nil, err
	}
	switch v {
	case "0", "1":
		b := v == "1"
		return &b, nil
	}
	return nil, &SysfsError{Path: name, Msg: fmt.Sprintf("want 0 or 1, got %q", v)}
}

// unwrapPath drops the *fs.PathError wrapping: SysfsError names the path.
func unwrapPath(err error) string {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// joinPatch builds the deployed record of one sysfs patch from the best of its
// candidate module files, with what the report should say about it.
func joinPatch(sp *sysPatch, cands []*klp.Module, otherPath string, listedBy map[string][]string) (*Patch, *klp.Module, []ReportEntry) {
	var out []ReportEntry
	add := func(kind, path, format string, args ...any) {
		out = append(out, ReportEntry{Kind: kind, Patch: sp.name, Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	p := &Patch{Enabled: sp.enabled, Transition: sp.transition}
	switch inTransition := sp.transition != nil && *sp.transition; {
	case !sp.enabled && !inTransition:
		add(EntryNote, "", "disabled and not in transition: the kernel frees a patch once it is disabled, so the tree was taken while it was being removed")
	case inTransition && sp.enabled:
		add(EntryNote, "", "in transition, being enabled")
	case inTransition:
		add(EntryNote, "", "in transition, being disabled")
	}
	if len(cands) == 0 {
		why := fmt.Sprintf("no livepatch module file named %s under the module directories", sp.name)
		if otherPath != "" {
			why = fmt.Sprintf("%s is named %s but is not a livepatch module", otherPath, sp.name)
		}
		add(EntryUnmatched, "", "%s; recorded from sysfs alone (functions, no scan data)", why)
		if sp.replace == nil {
			add(EntryNote, "", "replace unknown (sysfs shows it from Linux 6.11); recorded as false")
		}
		p.Module = fromSysfs(sp)
		return p, nil, out
	}
	best, bestDiffs, bestNops := -1, []string(nil), []string(nil)
	for i, m := range cands {
		diffs, nops := compare(sp, m, listedBy)
		if best < 0 || (len(diffs) == 0 && len(bestDiffs) > 0) {
			best, bestDiffs, bestNops = i, diffs, nops
		}
	}
	m := cands[best]
	if len(cands) > 1 {
		var others []string
		for i, c := range cands {
			if i != best {
				others = append(others, c.Path)
			}
		}
		how := "the first that agrees with sysfs"
		if len(bestDiffs) > 0 {
			how = "the first; none agrees with sysfs"
		}
		add(EntryNote, m.Path, "%d files carry this module, using %s (%s); also %s", len(cands), m.Path, how, strings.Join(others, ", "))
	}
	for _, d := range bestDiffs {
		add(EntryMismatch, m.Path, "%s", d)
	}
	if len(bestNops) > 0 {
		add(EntryNote, m.Path, "sysfs also lists %s: nops the kernel adds to a replace patch until its transition completes", strings.Join(bestNops, ", "))
	}
	p.Module = cloneModule(m)
	if len(p.Patches) > 0 {
		kp := p.Patches[0]
		if sp.replace != nil && kp.ReplaceSource == klp.ReplaceUnknown {
			// The kernel's value is what the scan could not read.
			kp.Replace, kp.ReplaceSource, kp.ReplaceHint = *sp.replace, klp.ReplaceSysfs, ""
		}
		if sp.replace != nil && *sp.replace != kp.Replace {
			if kp.ReplaceSource == klp.ReplaceParam {
				add(EntryNote, m.Path, "replace=%t read from sysfs (module parameter %s)", *sp.replace, kp.ReplaceParam)
			} else {
				kp.ReplaceSource = klp.ReplaceSysfs
			}
			kp.Replace = *sp.replace
		}
		if sp.replaceable != nil {
			if kp.Replaceable != nil && *kp.Replaceable != *sp.replaceable {
				add(EntryNote, m.Path, "replaceable=%t in sysfs, %t in the module file: the kernel's value is kept (the attribute is writable)", *sp.replaceable, *kp.Replaceable)
			}
			v := *sp.replaceable
			kp.Replaceable = &v
		}
		if sp.replaceSet != nil {
			v := *sp.replaceSet
			kp.ReplaceSet = &v
		}
	}
	for _, o := range sp.objects {
		if sp.enabled && o.patched != nil && !*o.patched {
			add(EntryNote, "", "object %s is not patched (patched=0): its module is not loaded", o.name)
		}
	}
	return p, m, out
}

// compare lists how a module file differs from what sysfs shows of the
// loaded patch, and the functions sysfs lists that are nops of a replace
// patch in transition.
func compare(sp *sysPatch, m *klp.Module, listedBy map[string][]string) (diffs, nops []string) {
	want := make(map[string]bool)
	for _, kp := range m.Patches {
		for _, o := range kp.Objects {
			for _, f := range o.Funcs {
				want[funcKey(o.ObjectName(), f.OldName, f.OldSympos)] = true
			}
		}
	}
	if len(m.Patches) != 1 {
		diffs = append(diffs, fmt.Sprintf("%s declares %d klp_patch structs; the kernel registers one per module", m.Path, len(m.Patches)))
	}
	replace := len(m.Patches) > 0 && m.Patches[0].Replace
	if sp.replace != nil {
		replace = *sp.replace
	}
	inTransition := sp.transition != nil && *sp.transition
	got := sp.keys()
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if want[k] {
			continue
		}
		if replace && inTransition && len(listedBy[k]) > 1 {
			nops = append(nops, k)
			continue
		}
		diffs = append(diffs, fmt.Sprintf("sysfs lists %s, which %s does not patch", k, m.Path))
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if !got[k] {
			diffs = append(diffs, fmt.Sprintf("%s patches %s, which sysfs does not list", m.Path, k))
		}
	}
	if sp.replace != nil && len(m.Patches) > 0 {
		kp := m.Patches[0]
		if kp.ReplaceSource != klp.ReplaceParam && kp.ReplaceSource != klp.ReplaceUnknown && kp.Replace != *sp.replace {
			diffs = append(diffs, fmt.Sprintf("sysfs has replace=%d, %s has replace=%t (%s)", b2i(*sp.replace), m.Path, kp.Replace, kp.ReplaceSource))
		}
	}
	if sp.replaceSet != nil && len(m.Patches) > 0 && m.Patches[0].ReplaceSet != nil && *m.Patches[0].ReplaceSet != *sp.replaceSet {
		diffs = append(diffs, fmt.Sprintf("sysfs has replace_set=%d, %s has %d", *sp.replaceSet, m.Path, *m.Patches[0].ReplaceSet))
	}
	return diffs, nops
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cloneModule copies a scan record deeply enough that the patch flags can
// be changed.
func cloneModule(m *klp.Module) klp.Module {
	out := *m
	out.Patches = make([]*klp.Patch, len(m.Patches))
	for i, p := range m.Patches {
		c := *p
		out.Patches[i] = &c
	}
	return out
}

// fromSysfs builds the record of a patch known only from sysfs. sysfs
// shows sympos 0 as 1; the record says 0, what modules almost always use.
func fromSysfs(sp *sysPatch) klp.Module {
	kp := &klp.Patch{
		States:      []klp.State{},
		Objects:     []klp.Object{},
		Hooks:       []klp.Hook{},
		Replaceable: sp.replaceable,
		ReplaceSet:  sp.replaceSet,
	}
	if sp.replace != nil {
		kp.Replace = *sp.replace
		kp.ReplaceSource = klp.ReplaceSysfs
	}
	for _, o := range sp.objects {
		obj := klp.Object{Funcs: []klp.Func{}}
		if o.name != "vmlinux" {
			name := o.name
			obj.Name = &name
		}
		for _, f := range o.funcs {
			pos := f.sympos
			if pos == 1 {
				pos = 0
			}
			obj.Funcs = append(obj.Funcs, klp.Func{OldName: f.name, OldSympos: pos})
		}
		kp.Objects = append(kp.Objects, obj)
	}
	return klp.Module{
		Name:      sp.name,
		Livepatch: true,
		Modinfo:   map[string][]string{},
		Patches:   []*klp.Patch{kp},
	}
}

// releaseOf is the kernel release in a vermagic string.
func releaseOf(vermagic string) string {
	f := strings.Fields(vermagic)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// kernelRelease sets the release and returns the mismatches of the
// matched modules' vermagic with it.
func kernelRelease(st *State, rep *CaptureReport, sps []*sysPatch, matched map[string]*klp.Module, opt string) ([]ReportEntry, error) {
	release := strings.TrimSpace(opt)
	rep.ReleaseSource = "option"
	if release == "" {
		// The most common release among the matched modules; a kernel
		// refuses modules of another release, so more than one means some
		// files are not the ones loaded.
		count := make(map[string]int)
		for _, m := range matched {
			if r := releaseOf(m.Vermagic); r != "" {
				count[r]++
			}
		}
		for _, r := range slices.Sorted(maps.Keys(count)) {
			if release == "" || count[r] > count[release] {
				release = r
			}
		}
		if release == "" {
			return nil, errors.New("kernel release unknown: no module file matched a patch in sysfs; give the release")
		}
		rep.ReleaseSource = "vermagic"
		rep.add(EntryInfo, "", "", "kernel release %s, from the vermagic of the matched modules", release)
	} else {
		rep.add(EntryInfo, "", "", "kernel release %s, as given", release)
	}
	st.Kernel.Release = release
	rep.KernelRelease = release
	var out []ReportEntry
	for _, sp := range sps {
		m := matched[sp.name]
		if m == nil {
			continue
		}
		if r := releaseOf(m.Vermagic); r != release {
			out = append(out, ReportEntry{Kind: EntryMismatch, Patch: sp.name, Path: m.Path,
				Msg: fmt.Sprintf("%s is built for %q, the kernel is %s", m.Path, r, release)})
		}
	}
	return out, nil
}

func kernelModel(st *State, rep *CaptureReport, sps []*sysPatch, opt string) {
	model, source, why := opt, "option", "as given"
	if model == "" {
		source = "sysfs"
		var set, replaceable bool
		for _, sp := range sps {
			set = set || sp.replaceSet != nil
			replaceable = replaceable || sp.replaceable != nil
		}
		switch {
		case set:
			model, why = ModelReplaceSet, "sysfs shows replace_set"
		case replaceable:
			model, why = ModelHybrid, "sysfs shows replaceable"
		case len(sps) > 0:
			model, why = ModelMainline, "sysfs shows neither replaceable nor replace_set"
		default:
			source, why = "default", "no patch in sysfs to tell; left to the default of the release"
		}
	}
	st.Kernel.Model = model
	rep.KernelModel = model
	rep.ModelSource = source
	if model == "" {
		rep.add(EntryInfo, "", "", "kernel model not set: %s", why)
		return
	}
	rep.add(EntryInfo, "", "", "kernel model %s, %s", model, why)
}

func loadOrder(st *State, rep *CaptureReport, sps []*sysPatch, given []string) error {
	byName := make(map[string]*Patch, len(st.Patches))
	for i, p := range st.Patches {
		byName[sps[i].name] = p
	}
	have, seen := 0, make(map[int]bool)
	for _, sp := range sps {
		if sp.stackOrder != nil && !seen[*sp.stackOrder] {
			seen[*sp.stackOrder] = true
			have++
		}
	}
	if len(sps) > 0 && have == len(sps) {
		for _, sp := range sps {
			byName[sp.name].LoadOrder = *sp.stackOrder
		}
		rep.OrderSource = OrderStackOrder
		rep.add(EntryInfo, "", "", "load order from stack_order")
		if len(given) > 0 && !slices.Equal(given, namesByOrder(st.Patches)) {
			rep.add(EntryNote, "", "", "the order given (%s) differs from stack_order (%s); using stack_order",
				strings.Join(given, ", "), strings.Join(namesByOrder(st.Patches), ", "))
		}
		return nil
	}
	if countStackOrder(sps) > 0 {
		rep.add(EntryNote, "", "", "stack_order missing on some patches or repeated; ignoring it (was the tree copied while patches changed?)")
	}
	if len(given) > 0 {
		if err := checkOrder(given, sps); err != nil {
			return err
		}
		for i, name := range given {
			byName[name].LoadOrder = i + 1
		}
		rep.OrderSource = OrderOption
		rep.add(EntryInfo, "", "", "load order as given: %s", strings.Join(given, ", "))
		return nil
	}
	names := make([]string, len(sps))
	for i, sp := range sps {
		names[i] = sp.name
	}
	slices.Sort(names)
	why := "sorted by name"
	if st.Kernel.Model == ModelMainline || st.Kernel.Model == "" {
		var first []string
		for _, name := range names {
			p := byName[name]
			if p.Enabled && p.Transition != nil && !*p.Transition && len(p.Patches) > 0 && p.Patches[0].Replace {
				first = append(first, name)
			}
		}
		if len(first) == 1 {
			names = slices.DeleteFunc(names, func(n string) bool { return n == first[0] })
			names = slices.Insert(names, 0, first[0])
			why += fmt.Sprintf(", but %s first: an enabled atomic-replace patch out of transition, so the kernel freed every older patch", first[0])
		}
	}
	for i, name := range names {
		byName[name].LoadOrder = i + 1
	}
	rep.OrderSource = OrderGuess
	if len(sps) > 0 {
		rep.add(EntryInfo, "", "", "load order guessed (no stack_order before Linux 6.13; give the order to be exact): %s", why)
	}
	return nil
}

func countStackOrder(sps []*sysPatch) int {
	n := 0
	for _, sp := range sps {
		if sp.stackOrder != nil {
			n++
		}
	}
	return n
}

func namesByOrder(ps []*Patch) []string {
	c := slices.Clone(ps)
	sortPatches(c)
	out := make([]string, len(c))
	for i, p := range c {
		out[i] = p.Name
	}
	return out
}

// checkOrder requires the given order to name every patch in sysfs once.
func checkOrder(given []string, sps []*sysPatch) error {
	seen := make(map[string]bool)
	for _, name := range given {
		if _, ok := findPatch(sps, name); !ok {
			return fmt.Errorf("load order: %s is not a patch in sysfs", name)
		}
		if seen[name] {
			return fmt.Errorf("load order: %s given twice", name)
		}
		seen[name] = true
	}
	for _, sp := range sps {
		if !seen[sp.name] {
			return fmt.Errorf("load order: %s is in sysfs but not in the order given", sp.name)
		}
	}
	return nil
}
