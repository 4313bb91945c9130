package pack

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/klpack/klpack/internal/safeio"
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

// maxFile bounds every file a release reads.
const maxFile = 256 << 20

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
	// MTime stamps every file and archive member (SOURCE_DATE_EPOCH).
	MTime   time.Time
	Modules []*Module
}

// Module is one patch module of a release.
type Module struct {
	// Record is the module's scan record; its Path is rewritten to the
	// installed path in the package manifest.
	Record *klp.Module
	// Layer is klp.LayerCumulative or klp.LayerOffBand.
	Layer string
	// File is the module file on disk; Hooks its hook objects.
	File  string
	Hooks []string
}

// releaseFile is the release manifest's form.
type releaseFile struct {
	Schema     string          `yaml:"schema"`
	Kernel     string          `yaml:"kernel"`
	Version    string          `yaml:"version"`
	Root       string          `yaml:"root"`
	Plan       string          `yaml:"plan"`
	KernelRPM  string          `yaml:"kernel_rpm"`
	KernelDeb  string          `yaml:"kernel_deb"`
	Prefix     string          `yaml:"prefix"`
	Maintainer string          `yaml:"maintainer"`
	Vendor     string          `yaml:"vendor"`
	Modules    []releaseModule `yaml:"modules"`
}

type releaseModule struct {
	File  string   `yaml:"file"`
	Layer string   `yaml:"layer"`
	Hooks []string `yaml:"hooks"`
	// HookPoints declares functions of the module as BPF hook points,
	// for modules built without klpack's header.
	HookPoints []string `yaml:"hook_points"`
	// Replace declares the patch's atomic replace where the scan cannot
	// read it (replace_source unknown: a klp-build or kpatch-build module
	// whose init code or struct layout the scan could not follow).
	Replace *bool `yaml:"replace"`
}

// ScanFunc reads a module file's scan record; hookPoints are the hook
// points the manifest declares for it (elfscan.Options.ManifestHooks).
type ScanFunc func(path string, hookPoints []string) (*klp.Module, error)

// ReadRelease reads a release manifest (YAML or JSON). Module and hook
// paths are relative to the release root (the manifest's "root", itself
// relative to the manifest's directory, default that directory) and must
// stay inside it, symbolic links included. The plan, when named, is a
// klpack.plan/v1 document whose loads give the load order; without one the
// modules load in the order listed. scan reads each module.
func ReadRelease(file string, scan ScanFunc) (*Release, error) {
	r, err := readRelease(file, scan)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", file, err)
	}
	return r, nil
}

func readRelease(file string, scan ScanFunc) (*Release, error) {
	b, err := readFile(file)
	if err != nil {
		return nil, err
	}
	var rf releaseFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRelease, err)
	}
	if rf.Schema != "" && rf.Schema != ReleaseSchema {
		return nil, fmt.Errorf("%w: schema %q, want %q", ErrBadRelease, rf.Schema, ReleaseSchema)
	}
	dir := filepath.Dir(file)
	rootDir := dir
	if rf.Root != "" {
		rootDir = filepath.Join(dir, filepath.FromSlash(rf.Root))
	}
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		return nil, fmt.Errorf("%w: root: %v", ErrBadRelease, err)
	}
	defer root.Close()
	rel := &Release{Kernel: rf.Kernel, Version: rf.Version, KernelRPM: rf.KernelRPM, KernelDeb: rf.KernelDeb,
		Prefix: rf.Prefix, Maintainer: rf.Maintainer, Vendor: rf.Vendor}
	if len(rf.Modules) == 0 {
		return nil, fmt.Errorf("%w: no modules", ErrBadRelease)
	}
	for i, rm := range rf.Modules {
		m, err := readModule(root, rootDir, rm, scan)
		if err != nil {
			return nil, fmt.Errorf("modules[%d]: %w", i, err)
		}
		rel.Modules = append(rel.Modules, m)
	}
	if rf.Plan != "" {
		p := filepath.Join(dir, filepath.FromSlash(rf.Plan))
		if err := rel.orderBy(p); err != nil {
			return nil, fmt.Errorf("plan %s: %w", p, err)
		}
	}
	if err := rel.Validate(); err != nil {
		return nil, err
	}
	return rel, nil
}

// inRoot checks that name stays inside root and is a regular file.
func inRoot(root *os.Root, rootDir, name string) (string, error) {
	if name == "" || filepath.IsAbs(name) || !fs.ValidPath(path.Clean(filepath.ToSlash(name))) {
		return "", fmt.Errorf("%s: %w", name, ErrOutsideRoot)
	}
	st, err := root.Stat(name)
	if err != nil {
		if strings.Contains(err.Error(), "escapes") {
			return "", fmt.Errorf("%s: %w", name, ErrOutsideRoot)
		}
		return "", fmt.Errorf("%w: %v", ErrBadRelease, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%w: %s is not a regular file", ErrBadRelease, name)
	}
	return filepath.Join(rootDir, name), nil
}

func readModule(root *os.Root, rootDir string, rm releaseModule, scan ScanFunc) (*Module, error) {
	p, err := inRoot(root, rootDir, rm.File)
	if err != nil {
		return nil, err
	}
	rec, err := scan(p, rm.HookPoints)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRelease, err)
	}
	if err := declareReplace(rec, rm.Replace); err != nil {
		return nil, fmt.Errorf("%w: module %s: %v", ErrBadRelease, rm.File, err)
	}
	m := &Module{Record: rec, Layer: rm.Layer, File: p}
	for _, h := range rm.Hooks {
		hp, err := inRoot(root, rootDir, h)
		if err != nil {
			return nil, fmt.Errorf("hook: %w", err)
		}
		m.Hooks = append(m.Hooks, hp)
	}
	return m, nil
}

// declareReplace applies the manifest's replace to the patches whose
// replace the scan could not read. A declaration that contradicts a value
// the scan did read is an error: one of the two is wrong.
func declareReplace(rec *klp.Module, replace *bool) error {
	if replace == nil {
		return nil
	}
	for _, p := range rec.Patches {
		switch {
		case p.ReplaceSource == klp.ReplaceUnknown:
			p.Replace, p.ReplaceSource, p.ReplaceHint = *replace, klp.ReplaceManifest, ""
		case p.Replace != *replace:
			return fmt.Errorf("replace: %t declared, but the module's %s says %t", *replace, p.ReplaceSource, p.Replace)
		}
	}
	return nil
}

// orderBy sorts the modules by the loads of a klpack.plan/v1 document.
func (r *Release) orderBy(planFile string) error {
	plan, err := order.ReadPlan(planFile)
	if errors.Is(err, order.ErrBadPlan) {
		return fmt.Errorf("%w: %w", ErrBadRelease, err)
	}
	if err != nil {
		return err
	}
	if !plan.OK {
		return fmt.Errorf("%w: the plan has no safe order", ErrBadRelease)
	}
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
	nameRe    = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

// Validate checks what packaging relies on.
func (r *Release) Validate() error {
	switch {
	case !kernelRe.MatchString(r.Kernel):
		return fmt.Errorf("%w: kernel %q is not a kernel release", ErrBadRelease, r.Kernel)
	case !versionRe.MatchString(r.Version):
		return fmt.Errorf("%w: version %q must start with a digit and hold only letters, digits and . + ~ _ -", ErrBadRelease, r.Version)
	case r.Prefix != "" && !regexp.MustCompile(`^[a-z0-9][a-z0-9.+-]*$`).MatchString(r.Prefix):
		return fmt.Errorf("%w: prefix %q is not a package name", ErrBadRelease, r.Prefix)
	}
	seen := map[string]bool{}
	cumulative := 0
	for _, m := range r.Modules {
		rec := m.Record
		name := filepath.Base(m.File)
		switch {
		case rec == nil || !rec.Livepatch:
			return fmt.Errorf("%w: %s is not a livepatch module", ErrBadRelease, name)
		case !nameRe.MatchString(rec.Name):
			return fmt.Errorf("%w: %s: module name %q", ErrBadRelease, name, rec.Name)
		case seen[rec.Name]:
			return fmt.Errorf("%w: module %s twice", ErrBadRelease, rec.Name)
		case !klp.ValidLayer(m.Layer):
			return fmt.Errorf("%w: %s: layer %q, want %s or %s", ErrBadRelease, name, m.Layer, klp.LayerCumulative, klp.LayerOffBand)
		case klp.KernelRelease(rec.Vermagic) != r.Kernel:
			return fmt.Errorf("%w: %s: vermagic %q is not for kernel %s", ErrBadRelease, name, rec.Vermagic, r.Kernel)
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

func readFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return safeio.ReadAll(f, maxFile)
}

func sha256File(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
