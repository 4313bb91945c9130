package pack

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/internal/yamlerr"
	"github.com/klpack/klpack/pkg/hookabi"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/order"
)

// ReleaseSchema names the release manifest's version; ManifestSchema the
// manifest each package carries.
const (
	ReleaseSchema  = "klpack.release/v1"
	ManifestSchema = "klpack.package/v1"
)

var (
	// ErrBadRelease means the release manifest or a file it names is wrong.
	ErrBadRelease = errors.New("bad release")
	// ErrOutsideRoot means a path names a file outside the release root.
	ErrOutsideRoot = errors.New("path outside the release root")
)

// Bounds of the files a release reads: a manifest is a page of YAML, a
// plan a few lines per module, a hook object a few KiB.
const (
	maxManifest = 1 << 20
	maxPlan     = 16 << 20
	maxHook     = 16 << 20
	// maxText bounds a free-text field (maintainer, vendor, relation).
	maxText = 1024
)

// Release is a set of livepatch modules for one kernel, in load order.
type Release struct {
	// Kernel is the release of the target kernel, as uname -r prints it.
	Kernel string
	// Version is the release's version in the kernel's one version
	// stream: it starts with a digit; rpm and deb forms are derived.
	Version string
	// Arch is the module's architecture as the kernel names it (x86_64).
	Arch string
	// KernelRPM and KernelDeb are the relation on the kernel package in
	// each format's syntax; empty means "kernel-uname-r = <Kernel>" and
	// "linux-image-<Kernel>".
	KernelRPM, KernelDeb string
	// Prefix starts every package name; empty means "klp-patch".
	Prefix     string
	Maintainer string
	Vendor     string
	// Description, License and Homepage reach every package's metadata;
	// empty ones get defaults.
	Description, License, Homepage string
	// MTime stamps every file and archive member (SOURCE_DATE_EPOCH).
	MTime   time.Time
	Modules []*Module
	// Plan, when set, is the plan that ordered Modules; the packages
	// carry it for the host's loader.
	Plan *order.Plan
	// HostBinary, when set and a module ships hooks, is the klpack binary
	// the loader package installs for the loader to run them with; an
	// ELF executable of the release's architecture whose SHA-256 (hex)
	// is HostBinarySHA256. Unset, the patch packages with hooks depend
	// on HostPackage instead.
	HostBinary, HostBinarySHA256 string
	// Target, when set, is the build of the kernel (and of the modules
	// it patches) the release was made for: the packages record it in
	// their manifests, and the loader refuses a running kernel whose
	// build-id differs (the same release string built again).
	Target *klp.Target
}

// Module is one patch module of a release.
type Module struct {
	// Record is the module's scan record; its Path is rewritten to the
	// installed path in the package manifest.
	Record *klp.Module
	// Layer is klp.LayerCumulative or klp.LayerOffBand.
	Layer string
	// File is the module file on disk; Hooks its hook objects, each
	// named <hook function>.bpf.o, and HookSHA256 the hex SHA-256 of
	// each hook's bytes as validated.
	File       string
	Hooks      []string
	HookSHA256 map[string]string
}

// releaseFile is the release manifest's form.
type releaseFile struct {
	Schema     string       `yaml:"schema,omitempty"`
	Kernel     string       `yaml:"kernel"`
	Version    string       `yaml:"version"`
	Root       string       `yaml:"root,omitempty"`
	Plan       string       `yaml:"plan,omitempty"`
	KernelRPM  string       `yaml:"kernel_rpm,omitempty"`
	KernelDeb  string       `yaml:"kernel_deb,omitempty"`
	Prefix     string       `yaml:"prefix,omitempty"`
	Maintainer string       `yaml:"maintainer,omitempty"`
	Vendor     string       `yaml:"vendor,omitempty"`
	Modules    []ModuleSpec `yaml:"modules"`
}

// ModuleSpec is what a release declares of one module: the manifest's
// form of it, and klpack.yaml's.
type ModuleSpec struct {
	File  string   `yaml:"file"`
	Layer string   `yaml:"layer"`
	Hooks []string `yaml:"hooks,omitempty"`
	// HookPoints declares functions of the module as BPF hook points,
	// for modules built without klpack's header.
	HookPoints []string `yaml:"hook_points,omitempty"`
	// Replace declares the patch's atomic replace where the scan cannot
	// read it (replace_source unknown: a klp-build or kpatch-build module
	// whose init code or struct layout the scan could not follow).
	Replace *bool `yaml:"replace,omitempty"`
	// Replaceable and ReplaceSet declare the hybrid and replace_set
	// attributes where the scan read none.
	Replaceable *bool   `yaml:"replaceable,omitempty"`
	ReplaceSet  *uint32 `yaml:"replace_set,omitempty"`
}

// ScanFunc reads a module file's scan record; hookPoints are the hook
// points the manifest declares for it (elfscan.Options.Hooks).
type ScanFunc func(path string, hookPoints []string) (*klp.Module, error)

// ReadRelease reads a release manifest (YAML or JSON, one document).
// Every path it names is relative and stays inside the manifest's
// directory, symbolic links included: the plan (a klpack.plan/v1 document
// whose loads give the load order; without one the modules load in the
// order listed) and the root, in which module and hook paths are
// resolved (default the manifest's directory). Files are read only when
// regular, and bounded. Hook files must be BPF hook objects for a hook
// point of their module. scan reads each module.
func ReadRelease(file string, scan ScanFunc) (*Release, error) {
	r, err := readRelease(file, scan)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", file, err)
	}
	return r, nil
}

func readRelease(file string, scan ScanFunc) (*Release, error) {
	b, err := safeio.ReadFile(file, maxManifest)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRelease, err)
	}
	rf, err := parseRelease(b)
	if err != nil {
		return nil, err
	}
	dirName := filepath.Dir(file)
	dir, err := os.OpenRoot(dirName)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRelease, err)
	}
	defer dir.Close()
	root, rootDir := dir, dirName
	if rf.Root != "" {
		if root, err = dir.OpenRoot(rf.Root); err != nil {
			return nil, fmt.Errorf("root: %w", pathErr(rf.Root, err))
		}
		defer root.Close()
		rootDir = filepath.Join(dirName, filepath.FromSlash(rf.Root))
	}
	rel := rf.release()
	for i, rm := range rf.Modules {
		m, err := ReadModule(root, rootDir, rm, scan)
		if err != nil {
			return nil, fmt.Errorf("modules[%d]: %w", i, err)
		}
		rel.Modules = append(rel.Modules, m)
	}
	if rf.Plan != "" {
		if err := rel.orderBy(dir, rf.Plan); err != nil {
			return nil, fmt.Errorf("plan %s: %w", rf.Plan, err)
		}
	}
	if err := rel.Validate(); err != nil {
		return nil, err
	}
	return rel, nil
}

// parseRelease decodes a release manifest and checks what needs no file:
// known keys, each once, one document; text without control characters;
// paths relative and local; names that become installed paths.
func parseRelease(b []byte) (*releaseFile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var rf releaseFile
	if err := dec.Decode(&rf); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrBadRelease, yamlerr.Decode(b, err))
	}
	// A second document would be ignored: refuse it rather than build a
	// release other than the one the file shows.
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		line := next.Line
		if err != nil {
			return nil, fmt.Errorf("%w: a second YAML document: %v", ErrBadRelease, err)
		}
		return nil, fmt.Errorf("%w: line %d: a second YAML document; a release manifest holds one", ErrBadRelease, line)
	}
	if rf.Schema != "" && rf.Schema != ReleaseSchema {
		return nil, fmt.Errorf("%w: schema %q, want %q", ErrBadRelease, rf.Schema, ReleaseSchema)
	}
	if err := rf.release().checkFields(); err != nil {
		return nil, err
	}
	if rf.Root != "" {
		if err := localPath("root", rf.Root); err != nil {
			return nil, err
		}
	}
	if rf.Plan != "" {
		if err := localPath("plan", rf.Plan); err != nil {
			return nil, err
		}
	}
	if len(rf.Modules) == 0 {
		return nil, fmt.Errorf("%w: no modules", ErrBadRelease)
	}
	for i, rm := range rf.Modules {
		if err := rm.Check(); err != nil {
			return nil, fmt.Errorf("modules[%d]: %w", i, err)
		}
	}
	return &rf, nil
}

// Check checks what needs no file: a local path, a known layer, hook
// names and hook points.
func (rm *ModuleSpec) Check() error {
	if err := localPath("file", rm.File); err != nil {
		return err
	}
	if !klp.ValidLayer(rm.Layer) {
		return fmt.Errorf("%w: layer %q, want %s or %s", ErrBadRelease, rm.Layer, klp.LayerCumulative, klp.LayerOffBand)
	}
	for _, h := range rm.Hooks {
		if err := localPath("hooks", h); err != nil {
			return err
		}
		if _, err := hookFunc(h); err != nil {
			return err
		}
	}
	for _, h := range rm.HookPoints {
		if err := klp.CheckIdentifier(h); err != nil {
			return fmt.Errorf("%w: hook_points: %w", ErrBadRelease, err)
		}
	}
	return nil
}

func (rf *releaseFile) release() *Release {
	return &Release{Kernel: rf.Kernel, Version: rf.Version, KernelRPM: rf.KernelRPM, KernelDeb: rf.KernelDeb,
		Prefix: rf.Prefix, Maintainer: rf.Maintainer, Vendor: rf.Vendor}
}

// localPath refuses a manifest path that is absolute or climbs out of
// its directory by "..", before any file is opened.
func localPath(key, p string) error {
	if err := safetext.Check(p); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadRelease, key, err)
	}
	switch {
	case p == "":
		return fmt.Errorf("%w: %s: empty path", ErrBadRelease, key)
	case path.IsAbs(p) || filepath.IsAbs(p):
		return fmt.Errorf("%s: %s: an absolute path, where paths are relative to the manifest's directory: %w", key, p, ErrOutsideRoot)
	case !filepath.IsLocal(filepath.FromSlash(p)):
		return fmt.Errorf("%s: %s: %w", key, p, ErrOutsideRoot)
	}
	return nil
}

// pathErr turns os.Root's refusal of a path that leaves it (by a
// symbolic link) into ErrOutsideRoot. os.Root has no sentinel for it.
func pathErr(name string, err error) error {
	if strings.Contains(err.Error(), "escapes") {
		return fmt.Errorf("%s: %w", name, ErrOutsideRoot)
	}
	return fmt.Errorf("%w: %w", ErrBadRelease, err)
}

// inRoot checks that name is a regular file inside root, without
// waiting on a FIFO, and returns its path.
func inRoot(root *os.Root, rootDir, name string) (string, error) {
	f, _, err := safeio.OpenIn(root, name)
	if err != nil {
		return "", pathErr(name, err)
	}
	f.Close()
	return filepath.Join(rootDir, filepath.FromSlash(name)), nil
}

// ReadModule reads the module rm declares, inside root (whose path is
// rootDir): it scans it with scan, applies what rm declares where the scan
// read nothing (and refuses a declaration the scan contradicts), and
// reads and checks its hook objects.
func ReadModule(root *os.Root, rootDir string, rm ModuleSpec, scan ScanFunc) (*Module, error) {
	p, err := inRoot(root, rootDir, rm.File)
	if err != nil {
		return nil, err
	}
	rec, err := scan(p, rm.HookPoints)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRelease, err)
	}
	if rec == nil {
		return nil, fmt.Errorf("%w: %s: no scan record", ErrBadRelease, rm.File)
	}
	if err := declare(rec, &rm); err != nil {
		return nil, fmt.Errorf("%w: module %s: %v", ErrBadRelease, rm.File, err)
	}
	m := &Module{Record: rec, Layer: rm.Layer, File: p}
	for _, h := range rm.Hooks {
		obj, err := safeio.ReadFileIn(root, h, maxHook)
		if err != nil {
			return nil, fmt.Errorf("hook: %w", pathErr(h, err))
		}
		if err := checkHook(h, obj, rec); err != nil {
			return nil, err
		}
		p := filepath.Join(rootDir, filepath.FromSlash(h))
		m.Hooks = append(m.Hooks, p)
		if m.HookSHA256 == nil {
			m.HookSHA256 = map[string]string{}
		}
		sum := sha256.Sum256(obj)
		m.HookSHA256[p] = hex.EncodeToString(sum[:])
	}
	return m, nil
}

// hookFunc is the hook function a hook file is for: its name is
// <function>.bpf.o, as `klpack hooks build` writes it and as the loader
// finds it, and the function a C identifier.
func hookFunc(name string) (string, error) {
	fn, ok := strings.CutSuffix(path.Base(filepath.ToSlash(name)), ".bpf.o")
	if !ok {
		return "", fmt.Errorf("%w: hook %s: want a file named <hook function>.bpf.o", ErrBadRelease, name)
	}
	if err := klp.CheckIdentifier(fn); err != nil {
		return "", fmt.Errorf("%w: hook %s: %w", ErrBadRelease, name, err)
	}
	return fn, nil
}

// emBPF is the ELF machine of BPF objects (EM_BPF).
const emBPF = 247

// checkHook checks that obj, the hook file name, is a BPF object the host
// runtime loads (hookabi.Validate) for a hook point of the module.
func checkHook(name string, obj []byte, rec *klp.Module) error {
	fn, err := hookFunc(name)
	if err != nil {
		return err
	}
	if m, ok := elfMachine(obj); !ok {
		return fmt.Errorf("%w: hook %s: not an ELF file", ErrBadRelease, name)
	} else if m != emBPF {
		return fmt.Errorf("%w: hook %s: ELF machine %d, not a BPF object (%d)", ErrBadRelease, name, m, emBPF)
	}
	declared := false
	for _, p := range rec.Patches {
		declared = declared || slices.ContainsFunc(p.Hooks, func(h klp.Hook) bool { return h.Func == fn })
	}
	if !declared {
		return fmt.Errorf("%w: hook %s: %s is not a hook point of module %s", ErrBadRelease, name, fn, safetext.Quote(rec.Name))
	}
	if _, err := hookabi.Validate(obj, fn); err != nil {
		return fmt.Errorf("%w: hook %s: %w", ErrBadRelease, name, err)
	}
	return nil
}

// elfMachine reads e_machine from an ELF header; ok is false when b is
// no ELF file.
func elfMachine(b []byte) (machine uint16, ok bool) {
	if len(b) < 20 || string(b[:4]) != "\x7fELF" {
		return 0, false
	}
	switch b[5] { // EI_DATA
	case 1:
		return binary.LittleEndian.Uint16(b[18:]), true
	case 2:
		return binary.BigEndian.Uint16(b[18:]), true
	}
	return 0, false
}

// declare applies the manifest's replace, replaceable and replace_set to
// the patches whose value the scan could not read. A declaration that
// contradicts a value the scan did read is an error: one of the two is
// wrong.
func declare(rec *klp.Module, rm *ModuleSpec) error {
	for _, p := range rec.Patches {
		if r := rm.Replace; r != nil {
			switch {
			case p.ReplaceSource == klp.ReplaceUnknown:
				p.Replace, p.ReplaceSource, p.ReplaceHint = *r, klp.ReplaceManifest, ""
			case p.Replace != *r:
				return fmt.Errorf("replace: %t declared, but the module's %s says %t", *r, p.ReplaceSource, p.Replace)
			}
		}
		if r := rm.Replaceable; r != nil {
			switch {
			case p.Replaceable == nil:
				p.Replaceable, p.ReplaceableSource = r, klp.ReplaceManifest
			case *p.Replaceable != *r:
				return fmt.Errorf("replaceable: %t declared, but the module's %s says %t", *r, p.ReplaceableSource, *p.Replaceable)
			}
		}
		if r := rm.ReplaceSet; r != nil {
			switch {
			case p.ReplaceSet == nil:
				p.ReplaceSet, p.ReplaceSetSource = r, klp.ReplaceManifest
			case *p.ReplaceSet != *r:
				return fmt.Errorf("replace_set: %d declared, but the module's %s says %d", *r, p.ReplaceSetSource, *p.ReplaceSet)
			}
		}
	}
	return nil
}

// orderBy sorts the modules by the loads of the klpack.plan/v1 document
// name, inside dir.
func (r *Release) orderBy(dir *os.Root, name string) error {
	b, err := safeio.ReadFileIn(dir, name, maxPlan)
	if err != nil {
		return pathErr(name, err)
	}
	plan, err := order.ParsePlan(b, name)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRelease, err)
	}
	if !plan.OK {
		return fmt.Errorf("%w: the plan has no safe order", ErrBadRelease)
	}
	r.Plan = plan
	loads := plan.Loads()
	for _, m := range r.Modules {
		if !slices.Contains(loads, m.Record.Name) {
			return fmt.Errorf("%w: the plan does not load %s", ErrBadRelease, m.Record.Name)
		}
	}
	if len(loads) != len(r.Modules) {
		return fmt.Errorf("%w: the plan loads %d modules, the release has %d", ErrBadRelease, len(loads), len(r.Modules))
	}
	slices.SortStableFunc(r.Modules, func(a, b *Module) int {
		return slices.Index(loads, a.Record.Name) - slices.Index(loads, b.Record.Name)
	})
	return nil
}

var (
	kernelRe  = regexp.MustCompile(`^[0-9][A-Za-z0-9._+~-]*$`)
	versionRe = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~_-]*$`)
	prefixRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9.+-]*$`)
	// archRe is a kernel architecture name; it becomes part of file names.
	archRe = regexp.MustCompile(`^[a-z0-9_]+$`)
	// debRelationRe is one alternative of a deb relation (deb-control(5)):
	// a package, an optional architecture qualifier and version.
	debRelationRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.+-]+(:[a-z0-9-]+)?( ?\((<<|<=|=|>=|>>) ?[0-9][A-Za-z0-9.+~:-]*\))?$`)
	// rpmRelationRe is a simple rpm relation: a name (kernel-uname-r,
	// kernel(x)) and an optional comparison with an EVR.
	rpmRelationRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+/():-]*( (=|<|>|<=|>=) [A-Za-z0-9_.+~^:-]+)?$`)
)

// Validate checks what packaging relies on: every value that reaches
// package metadata, a file name or a script is checked here, whether the
// release came from a manifest or not.
func (r *Release) Validate() error {
	if err := r.checkFields(); err != nil {
		return err
	}
	if r.Target != nil {
		if err := r.Target.Validate(); err != nil {
			return fmt.Errorf("%w: target: %v", ErrBadRelease, err)
		}
	}
	seen := map[string]bool{}
	cumulative := 0
	for _, m := range r.Modules {
		rec := m.Record
		name := safetext.Quote(filepath.Base(m.File))
		switch {
		case rec == nil || !rec.Livepatch:
			return fmt.Errorf("%w: %s is not a livepatch module", ErrBadRelease, name)
		case klp.CheckModuleName(rec.Name) != nil:
			return fmt.Errorf("%w: %s: %w", ErrBadRelease, name, klp.CheckModuleName(rec.Name))
		case seen[rec.Name]:
			return fmt.Errorf("%w: module %s twice", ErrBadRelease, rec.Name)
		case !klp.ValidLayer(m.Layer):
			return fmt.Errorf("%w: %s: layer %q, want %s or %s", ErrBadRelease, name, m.Layer, klp.LayerCumulative, klp.LayerOffBand)
		case klp.KernelRelease(rec.Vermagic) != r.Kernel:
			return fmt.Errorf("%w: %s: vermagic %q is not for kernel %s", ErrBadRelease, name, rec.Vermagic, r.Kernel)
		case !archRe.MatchString(rec.Arch):
			return fmt.Errorf("%w: %s: arch %q is not an architecture name", ErrBadRelease, name, rec.Arch)
		}
		if err := checkNames(rec); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrBadRelease, name, err)
		}
		// An off-band patch must survive the next cumulative release; an
		// atomic replace of its own would remove the cumulative patch.
		if m.Layer == klp.LayerOffBand && slices.ContainsFunc(rec.Patches, func(p *klp.Patch) bool { return p.Replace }) {
			return fmt.Errorf("%w: %s: layer off-band, but its patch is an atomic replace (replace = true, %s): loading it would remove every other patch", ErrBadRelease, name, rec.Patches[0].ReplaceSource)
		}
		if err := checkHookNames(m.Hooks); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		seen[rec.Name] = true
		if m.Layer == klp.LayerCumulative {
			cumulative++
		}
		if r.Arch == "" {
			r.Arch = rec.Arch
		} else if rec.Arch != r.Arch {
			return fmt.Errorf("%w: %s: arch %s, the release is %s", ErrBadRelease, name, rec.Arch, r.Arch)
		}
	}
	if cumulative > 1 {
		return fmt.Errorf("%w: %d cumulative modules: a kernel has one cumulative stream", ErrBadRelease, cumulative)
	}
	return nil
}

// checkFields checks the release's own fields, named by their manifest
// keys: no control character may reach a deb control field or an rpm tag,
// where a newline starts another field.
func (r *Release) checkFields() error {
	switch {
	case !kernelRe.MatchString(r.Kernel):
		return fmt.Errorf("%w: kernel %q is not a kernel release", ErrBadRelease, r.Kernel)
	case !versionRe.MatchString(r.Version):
		return fmt.Errorf("%w: version %q must start with a digit and hold only letters, digits and . + ~ _ -", ErrBadRelease, r.Version)
	case r.Prefix != "" && !prefixRe.MatchString(r.Prefix):
		return fmt.Errorf("%w: prefix %q is not a package name", ErrBadRelease, r.Prefix)
	}
	for _, f := range []struct{ key, val string }{
		{"maintainer", r.Maintainer}, {"vendor", r.Vendor}, {"kernel_rpm", r.KernelRPM}, {"kernel_deb", r.KernelDeb},
		{"description", r.Description}, {"license", r.License}, {"homepage", r.Homepage},
	} {
		if err := safetext.Check(f.val); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrBadRelease, f.key, err)
		}
		if len(f.val) > maxText {
			return fmt.Errorf("%w: %s: %d bytes, at most %d", ErrBadRelease, f.key, len(f.val), maxText)
		}
	}
	if r.KernelRPM != "" && !rpmRelationRe.MatchString(r.KernelRPM) {
		return fmt.Errorf("%w: kernel_rpm %q is not an rpm relation (NAME [OP VERSION])", ErrBadRelease, r.KernelRPM)
	}
	if r.KernelDeb != "" {
		for alt := range strings.SplitSeq(r.KernelDeb, "|") {
			if !debRelationRe.MatchString(strings.TrimSpace(alt)) {
				return fmt.Errorf("%w: kernel_deb %q is not a deb relation (PACKAGE [(OP VERSION)], alternatives joined by |)", ErrBadRelease, r.KernelDeb)
			}
		}
	}
	return nil
}

// checkNames refuses object and function names that are no kernel names:
// they reach the packages' Provides and Conflicts, where a ", " or a
// blank would split one relation into others.
func checkNames(rec *klp.Module) error {
	for _, p := range rec.Patches {
		for _, o := range p.Objects {
			if o.Name != nil {
				if err := klp.CheckModuleName(*o.Name); err != nil {
					return fmt.Errorf("object: %w", err)
				}
			}
			for _, f := range o.Funcs {
				if err := klp.CheckSymbolName(f.OldName); err != nil {
					return fmt.Errorf("object %s: function: %w", o.ObjectName(), err)
				}
			}
		}
	}
	return nil
}

// checkHookNames checks the names hook files install under: each once.
func checkHookNames(hooks []string) error {
	seen := map[string]bool{}
	for _, h := range hooks {
		fn, err := hookFunc(h)
		if err != nil {
			return err
		}
		if seen[fn] {
			return fmt.Errorf("%w: two hooks for %s", ErrBadRelease, fn)
		}
		seen[fn] = true
	}
	return nil
}
