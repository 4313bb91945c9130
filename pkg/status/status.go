package status

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/pkg/capture"
	"github.com/klpack/klpack/pkg/hooks"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/sysfs"
)

// Schema names the JSON document Status marshals to.
const Schema = "klpack.status/v1"

// Original names the kernel's own code where a patch name is expected.
const Original = "original"

// Where the stack order came from (Status.OrderSource).
const (
	OrderStackOrder = "stack_order" // the kernel's (Linux 6.13+)
	OrderLoader     = "loader"      // the loader's record of the release that runs
	OrderGuess      = "guess"       // capture's inference, see capture.Capture
)

// Directions of a transition.
const (
	Patching   = "patching"
	Unpatching = "unpatching"
)

// LoaderRecord is where the package loader keeps the release that runs,
// under a host root: LoaderRecord/<kernel release>/running/release lists
// "module NAME LAYER FILE" in stack order (templates/loader.sh).
const LoaderRecord = "var/lib/klpack"

// ErrNoRelease is a kernel release that is neither given nor readable.
var ErrNoRelease = errors.New("kernel release unknown")

// Options say where the host's files are. Livepatch and Proc are
// required; the zero value of the others reads nothing from them.
type Options struct {
	// Livepatch is /sys/kernel/livepatch (sysfs.FS of an os.Root).
	Livepatch fs.FS
	// Proc is /proc: tasks, and sys/kernel/osrelease when Release is
	// empty.
	Proc fs.FS
	// Root is the host's /: installed package manifests and the loader's
	// record. Nil: no package is known, so none claims a patch.
	Root fs.FS
	// RootDir is Root as a path: capture scans the module files the
	// packages installed for the running kernel, under
	// RootDir/usr/lib/klpack/<release>, to name each patch's new
	// functions and tell a replace patch's nops. Empty: none are.
	RootDir string
	// ModuleDirs hold more module files for capture to scan.
	ModuleDirs []string
	// Release is the kernel release; empty: Proc's sys/kernel/osrelease.
	Release string
	// Hooks reads the pinned hooks; nil: hooks are not read.
	Hooks func() ([]*hooks.Status, error)
	// Logger receives debug records; nil discards them.
	Logger *slog.Logger
}

// Status is what a host runs.
type Status struct {
	Schema string `json:"schema"`
	Kernel Kernel `json:"kernel"`
	// OrderSource says where the stack order came from.
	OrderSource string `json:"order_source"`
	// Patches are in stack order, oldest (bottom) first.
	Patches []*Patch `json:"patches"`
	// Packages are the klpack patch packages installed for the kernel.
	Packages []*Package `json:"packages"`
	// Functions are every function a loaded patch patches, sorted by key.
	Functions []*Function `json:"functions"`
	// Transition is the one in progress; nil when none.
	Transition *Transition `json:"transition"`
	// Hooks are the pinned hooks; empty when none or not read.
	Hooks []*hooks.Status `json:"hooks"`
	// OK is true when the host runs what its packages say: every
	// installed package's patch loaded and enabled, no transition in
	// progress, no patch loaded that no package installed, every hook on
	// the code that runs, every manifest readable. Problems say why not.
	OK       bool     `json:"ok"`
	Problems []string `json:"problems"`
	// Notes are what was worth knowing on the way (capture's report,
	// tasks skipped).
	Notes []string `json:"notes"`
}

// Kernel is the running kernel.
type Kernel struct {
	Release string `json:"release"`
	Model   string `json:"model"`
}

// Patch is one livepatch in sysfs.
type Patch struct {
	Name string `json:"name"`
	// ModuleFile is the module file capture matched; empty when none.
	ModuleFile string `json:"module_file,omitempty"`
	// Position is the place in the stack, from 1 at the bottom.
	Position   int   `json:"position"`
	Enabled    bool  `json:"enabled"`
	Transition *bool `json:"transition"`
	Replace    *bool `json:"replace"`
	StackOrder *int  `json:"stack_order"`
	// Layer and Package come from the installed manifest; empty and nil
	// when no package installed the patch.
	Layer   string   `json:"layer,omitempty"`
	Package *Package `json:"package"`
}

// Package is an installed klpack patch package.
type Package struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Layer    string `json:"layer"`
	Module   string `json:"module"`
	Manifest string `json:"manifest"`
	// Loaded and Enabled say what the kernel does with its patch.
	Loaded  bool `json:"loaded"`
	Enabled bool `json:"enabled"`
}

// Function is one patched function and whose code runs it.
type Function struct {
	// Key is as sysfs names it: <object>/<function>,<sympos>.
	Key    string `json:"key"`
	Object string `json:"object"`
	Name   string `json:"name"`
	Sympos uint64 `json:"sympos"`
	// Patches list it, in stack order, bottom first.
	Patches []string `json:"patches"`
	// Runs is the patch whose code runs (Original for none): for every
	// task once the transition in progress, if any, is over.
	Runs string `json:"runs"`
	// Old is, during a transition that changes this function, the code
	// the tasks not yet switched run (Transition.Pending).
	Old string `json:"old,omitempty"`
}

// Transition is a livepatch transition in progress.
type Transition struct {
	Patch     string `json:"patch"`
	Direction string `json:"direction"`
	// Target is the patch_state a task has once switched: 1 patching, 0
	// unpatching.
	Target int `json:"target"`
	// Functions are the keys of the functions whose code the transition
	// changes, sorted.
	Functions []string `json:"functions"`
	// Pending are the tasks not yet switched: they block the transition
	// and run the old code.
	Pending []*Task `json:"pending"`
}

// Task is one task (thread) of /proc.
type Task struct {
	PID        int    `json:"pid"`
	TID        int    `json:"tid"`
	Comm       string `json:"comm"`
	PatchState int    `json:"patch_state"`
	// Frames are the frames of its stack in code the transition changes:
	// while one is there, the kernel cannot switch the task.
	Frames []*Frame `json:"frames"`
	// Stack is the whole of /proc/<pid>/task/<tid>/stack, one frame a line.
	Stack []string `json:"stack"`
}

// Frame is a stack frame in code the transition changes.
type Frame struct {
	Text     string `json:"text"`
	Function string `json:"function"`
	Module   string `json:"module,omitempty"`
	// Key is the patched function whose old code it is in, and Code whose
	// code that is (a patch or Original).
	Key  string `json:"key"`
	Code string `json:"code"`
}

// Read reads the host's state.
func Read(ctx context.Context, opts *Options) (*Status, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	release := strings.TrimSpace(opts.Release)
	if release == "" {
		b, err := readSmall(opts.Proc, "sys/kernel/osrelease", 256)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoRelease, err)
		}
		release = strings.TrimSpace(string(b))
	}
	if release == "" || strings.ContainsAny(release, "/\\ \t\n") || !fs.ValidPath(release) {
		return nil, fmt.Errorf("%w: %q is not a kernel release", ErrNoRelease, release)
	}
	tree, err := sysfs.Read(ctx, opts.Livepatch)
	if err != nil {
		return nil, err
	}
	st := &Status{Schema: Schema, Kernel: Kernel{Release: release}, Patches: []*Patch{}, Packages: []*Package{},
		Functions: []*Function{}, Hooks: []*hooks.Status{}, Problems: []string{}, Notes: []string{}}
	copts := &capture.CaptureOptions{KernelRelease: release, Root: opts.Root, Logger: log}
	order := loaderOrder(opts.Root, release, tree)
	copts.Order = order
	dirs := slices.Clone(opts.ModuleDirs)
	if opts.RootDir != "" {
		d := filepath.Join(opts.RootDir, filepath.FromSlash(capture.InstalledDir), release)
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			dirs = append(dirs, d)
		}
	}
	state, rep, err := capture.Capture(ctx, opts.Livepatch, dirs, copts)
	if err != nil {
		return nil, err
	}
	st.Kernel.Model = state.Kernel.Model
	switch rep.OrderSource {
	case capture.OrderStackOrder:
		st.OrderSource = OrderStackOrder
	case capture.OrderOption:
		st.OrderSource = OrderLoader
	default:
		st.OrderSource = OrderGuess
	}
	for _, e := range rep.Entries {
		if e.Kind != capture.EntryInfo {
			st.Notes = append(st.Notes, e.Msg)
		}
	}
	var pkgs []capture.Package
	if opts.Root != nil {
		var bad []capture.ReportEntry
		pkgs, bad = capture.InstalledPackages(opts.Root, release)
		for _, e := range bad {
			st.Problems = append(st.Problems, e.Msg)
		}
	}
	sk := newStack(tree, state)
	fillPatches(st, sk, pkgs)
	fillFunctions(st, sk)
	if err := fillTransition(ctx, st, sk, opts.Proc, log); err != nil {
		return nil, err
	}
	if opts.Hooks != nil {
		hs, err := opts.Hooks()
		if err != nil {
			st.Problems = append(st.Problems, fmt.Sprintf("hooks: %v", err))
		}
		st.Hooks = append(st.Hooks, hs...)
	}
	judge(st)
	return st, nil
}

// loaderOrder is the loader's record of the stack order when it names
// exactly the patches in sysfs (capture refuses any other), but for a
// patch being enabled, else nil.
func loaderOrder(root fs.FS, release string, tree *sysfs.Tree) []string {
	if root == nil {
		return nil
	}
	b, err := readSmall(root, path.Join(LoaderRecord, release, "running", "release"), 1<<20)
	if err != nil {
		return nil
	}
	var names []string
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "module" {
			names = append(names, f[1])
		}
	}
	var have []string
	for _, sp := range tree.Patches {
		if sp.Enabled && sp.Transition != nil && *sp.Transition && !slices.Contains(names, sp.Name) {
			// The kernel refuses a load while a transition is in
			// progress, so a patch being enabled is the newest: it
			// goes on top of what the loader recorded.
			names = append(names, sp.Name)
		}
		have = append(have, sp.Name)
	}
	if !slices.Equal(slices.Sorted(slices.Values(names)), have) {
		return nil
	}
	return names
}

// readSmall reads a regular file of fsys up to limit bytes.
func readSmall(fsys fs.FS, name string, limit int64) ([]byte, error) {
	if fsys == nil {
		return nil, fmt.Errorf("%s: no file system given", name)
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return safeio.ReadAll(f, limit)
}

// keyOf is a sysfs function's key.
func keyOf(o sysfs.Object, f sysfs.Func) klp.FuncKey {
	return klp.FuncKey{Object: o.Name, Name: f.Name, Sympos: klp.Sympos(f.Sympos)}
}
