package capture

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/sysfs"
)

// Where Capture took the load order from.
const (
	OrderStackOrder = "stack_order" // the kernel's stack_order (Linux 6.13+)
	OrderOption     = "option"      // CaptureOptions.Order
	OrderGuess      = "guess"       // sorted by name, see Capture
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
	// Root is the host's root directory (give sysfs.FS of an os.Root):
	// the manifests of the klpack packages installed under
	// InstalledDir/<release> give each patch its layer and, where module
	// file and sysfs do not tell, its replace. Nil: none are read.
	Root fs.FS
	// Tracing, when set, is recorded in the state as it is: what the
	// host's ftrace showed of IPMODIFY users (pkg/ftrace reads it).
	Tracing *deploy.Tracing
	// TracingNotes are said in the report as notes: what of the host's
	// tracing could not be read.
	TracingNotes []string
	// Proc, when set, is the host's /proc (sysfs.FS of an os.Root): the
	// tasks asleep in the kernel are recorded in the state's Tasks
	// (ReadProcStacks).
	Proc fs.FS
	// StacksFile, when set, is a stacks file gathered on the host
	// (DecodeStacks) whose tasks are recorded instead.
	StacksFile string
	// Sys is the host's /sys tree (sysfs.FS of an os.Root): the running
	// kernel's build-id (kernel/notes) and the srcversion and build-id
	// of each loaded module the patches patch (module/NAME) go into the
	// state's kernel. Nil: the build is not recorded.
	Sys fs.FS
	// Scan tunes the scan of module files.
	Scan *elfscan.Options
	// Logger receives debug records; nil discards them.
	Logger *slog.Logger
	// Progress, when set, is called after each module file is scanned,
	// one call at a time.
	Progress func(done, total int)
}

// Capture builds the deployed state of a kernel from its livepatch sysfs
// tree (the contents of /sys/kernel/livepatch, live or copied; for a
// directory, give sysfs.FS of an os.Root so nothing outside it is read
// and no FIFO blocks) and the
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
// The load order (deploy.Patch.LoadOrder, from 1) is stack_order when the kernel
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
// Errors: *sysfs.Error for a bad tree; errors from elfscan.Expand for a bad
// module directory; an error when no kernel release is known.
func Capture(ctx context.Context, fsys fs.FS, moduleDirs []string, opts *CaptureOptions) (*deploy.State, *CaptureReport, error) {
	if opts == nil {
		opts = &CaptureOptions{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m := opts.KernelModel; m != "" && !deploy.ValidModel(m) {
		return nil, nil, fmt.Errorf("unknown kernel model %q, want %s, %s or %s", opts.KernelModel, deploy.ModelMainline, deploy.ModelHybrid, deploy.ModelReplaceSet)
	}
	tree, err := sysfs.Read(ctx, fsys)
	if err != nil {
		return nil, nil, err
	}
	log.Debug("read sysfs", "patches", len(tree.Patches))
	mods, err := scanModules(ctx, moduleDirs, opts)
	if err != nil {
		return nil, nil, err
	}
	log.Debug("scanned modules", "livepatch names", len(mods.byName))
	tasks, denied, from, err := stacks(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	st, rep, err := join(tree, mods, opts)
	if err != nil || from == "" {
		return st, rep, err
	}
	st.Tasks = tasks
	rep.add(EntryInfo, "", "", "stacks: %d tasks asleep in the kernel, from %s", len(tasks), from)
	if len(denied) > 0 {
		rep.add(EntryNote, "", "", "stacks: the kernel refused the stacks of %d tasks (%s first), which are not recorded: check cannot tell whether they would block a transition", len(denied), safetext.Quote(denied[0]))
	}
	return st, rep, nil
}

// stacks reads the sleeping tasks the options ask for, and the stacks
// /proc refused; from says where they came from, "" when none were asked
// for.
func stacks(ctx context.Context, opts *CaptureOptions) (ts []deploy.Task, denied []string, from string, err error) {
	switch {
	case opts.Proc != nil && opts.StacksFile != "":
		return nil, nil, "", fmt.Errorf("stacks: give /proc or a stacks file, not both")
	case opts.Proc != nil:
		ts, denied, err = ReadProcStacks(ctx, opts.Proc)
		return ts, denied, "/proc", err
	case opts.StacksFile != "":
		ts, err = ReadStacksFile(opts.StacksFile)
		return ts, nil, safetext.Quote(opts.StacksFile), err
	}
	return nil, nil, "", nil
}

// scanned is what the module directories hold: livepatch records by
// module name, the paths of other modules by name, and the files that
// could not be read.
type scanned struct {
	byName  map[string][]*klp.Module
	other   map[string]string
	skipped []ReportEntry
}

// scanModules scans every module file under dirs with elfscan.
func scanModules(ctx context.Context, dirs []string, opts *CaptureOptions) (*scanned, error) {
	files, err := elfscan.Expand(dirs)
	if err != nil {
		return nil, err
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
		return nil, err
	}
	mods := &scanned{byName: make(map[string][]*klp.Module), other: make(map[string]string)}
	for _, r := range results {
		switch {
		case r.Err != nil:
			mods.skipped = append(mods.skipped, ReportEntry{Kind: EntrySkipped, Path: r.Path, Msg: r.Err.Error()})
		case r.Module.Livepatch:
			mods.byName[r.Module.Name] = append(mods.byName[r.Module.Name], r.Module)
		default:
			mods.other[r.Module.Name] = r.Path
		}
	}
	slices.SortStableFunc(mods.skipped, func(a, b ReportEntry) int { return strings.Compare(a.Path, b.Path) })
	return mods, nil
}

// join matches each sysfs patch with its module file (join.go), then
// infers what sysfs does not say (infer.go). The report lists where the
// release, model and order came from, then each patch, then the files.
func join(tree *sysfs.Tree, mods *scanned, opts *CaptureOptions) (*deploy.State, *CaptureReport, error) {
	rep := &CaptureReport{Entries: []ReportEntry{}}
	for _, name := range tree.Ignored {
		rep.add(EntryNote, "", "", "ignoring %s: a file, not a patch directory", safetext.Quote(name))
	}
	sps := tree.Patches
	// Functions each patch lists in sysfs, to tell a replace patch's nops.
	listedBy := make(map[string][]string)
	for _, sp := range sps {
		for k := range listed(sp) {
			listedBy[k] = append(listedBy[k], sp.Name)
		}
	}
	st := &deploy.State{Schema: deploy.StateSchema, Patches: []*deploy.Patch{}}
	matched := make(map[string]*klp.Module)
	var body []ReportEntry
	for _, sp := range sps {
		p, m, entries := joinPatch(sp, mods.byName[sp.Name], mods.other[sp.Name], listedBy)
		body = append(body, entries...)
		if m != nil {
			matched[sp.Name] = m
		}
		st.Patches = append(st.Patches, p)
	}
	body = append(body, notLoaded(sps, mods)...)

	wrongRelease, err := kernelRelease(st, rep, sps, matched, opts.KernelRelease)
	if err != nil {
		return nil, nil, err
	}
	kernelModel(st, rep, sps, opts.KernelModel)
	var inst map[string][]*installed
	if opts.Root != nil {
		inst = readInstalled(opts.Root, st.Kernel.Release, rep)
	}
	if err := loadOrder(st, rep, sps, opts.Order); err != nil {
		return nil, nil, err
	}
	rep.Entries = append(rep.Entries, wrongRelease...)
	rep.Entries = append(rep.Entries, body...)
	rep.Entries = append(rep.Entries, mods.skipped...)
	joinInstalled(st, rep, inst)
	st.Tracing = opts.Tracing
	for _, n := range opts.TracingNotes {
		rep.add(EntryNote, "", "", "%s", n)
	}
	if opts.Sys != nil {
		kernelBuild(opts.Sys, st, rep)
	}
	if err := st.Validate(); err != nil {
		return nil, nil, fmt.Errorf("captured state: %w", err)
	}
	deploy.SortPatches(st.Patches)
	return st, rep, nil
}

// notLoaded reports the livepatch module files no sysfs patch is named
// after.
func notLoaded(sps []*sysfs.Patch, mods *scanned) []ReportEntry {
	var out []ReportEntry
	for _, name := range slices.Sorted(maps.Keys(mods.byName)) {
		if _, ok := findPatch(sps, name); ok {
			continue
		}
		for _, m := range mods.byName[name] {
			out = append(out, ReportEntry{Kind: EntryNotLoaded, Patch: name, Path: m.Path,
				Msg: fmt.Sprintf("%s is a livepatch module that is not loaded (no sysfs directory)", m.Path)})
		}
	}
	return out
}
