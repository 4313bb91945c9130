package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/strictjson"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

// ManifestSchema is the schema of the manifest each patch package
// carries (pkg/pack writes it).
const ManifestSchema = "klpack.package/v1"

// Bounds of a manifests directory: a manifest is one module's scan
// record and a few lines more; a directory of every release a fleet ever
// ran holds thousands.
const (
	maxManifest  = 8 << 20
	maxManifests = 200_000
)

// Manifest is what fleet reads of a package manifest: a subset of
// pack.Manifest (fleet does not link the build side).
type Manifest struct {
	Schema  string `json:"schema"`
	Package struct {
		Name       string `json:"name"`
		Version    string `json:"version"`
		RPMVersion string `json:"rpm_version"`
		DebVersion string `json:"deb_version"`
	} `json:"package"`
	Kernel string      `json:"kernel"`
	Layer  string      `json:"layer"`
	Module *klp.Module `json:"module"`
	// Path is the file it was read from.
	Path string `json:"-"`
}

// Manifests are the package manifests of past releases, by package and
// version (the version as the manifest, rpm or dpkg spells it).
type Manifests struct {
	byRef map[ref]*Manifest
	Files int
}

type ref struct{ pkg, version string }

// IsManifestName says whether a file name is a package manifest's: the
// manifest.json a package installs, or the <package>_<version>.manifest.json
// klpack release writes beside the packages.
func IsManifestName(name string) bool {
	return name == "manifest.json" || strings.HasSuffix(name, ".manifest.json")
}

// LoadManifests reads every package manifest under dir, recursively: a
// release's output directory, a repository of them, or a copy of a
// host's /usr/lib/klpack. Other files are passed over; a manifest that
// cannot be read is an error naming it, as is a package version two
// manifests describe differently.
func LoadManifests(ctx context.Context, dir string) (*Manifests, error) {
	ms := &Manifests{byRef: map[ref]*Manifest{}}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !IsManifestName(d.Name()) {
			return nil
		}
		if ms.Files++; ms.Files > maxManifests {
			return fmt.Errorf("more than %d manifests", maxManifests)
		}
		m, err := readManifest(path)
		if err != nil {
			return err
		}
		return ms.Add(m)
	})
	if err != nil {
		return nil, fmt.Errorf("manifests %s: %w", dir, err)
	}
	if ms.Files == 0 {
		return nil, fmt.Errorf("manifests %s: no manifest.json or *.manifest.json under it", dir)
	}
	return ms, nil
}

func readManifest(path string) (*Manifest, error) {
	b, err := safeio.ReadFile(path, maxManifest)
	if err != nil {
		return nil, err
	}
	// strictjson first: it words what encoding/json would say with Go
	// types, and refuses repeated keys.
	if _, err := strictjson.Check(b, reflect.TypeFor[Manifest]()); err != nil {
		return nil, fmt.Errorf("file %s: %w", path, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("file %s: %w", path, err)
	}
	m.Path = path
	switch {
	case m.Schema != ManifestSchema:
		return nil, fmt.Errorf("file %s: schema %q, want %q", path, m.Schema, ManifestSchema)
	case m.Package.Name == "" || m.Package.Version == "":
		return nil, fmt.Errorf("file %s: no package name or version", path)
	case !klp.ValidLayer(m.Layer):
		return nil, fmt.Errorf("file %s: layer %q, want %s or %s", path, m.Layer, klp.LayerCumulative, klp.LayerOffBand)
	case m.Module == nil:
		return nil, fmt.Errorf("file %s: no module record", path)
	case klp.CheckModuleName(m.Module.Name) != nil:
		return nil, fmt.Errorf("file %s: module: %w", path, klp.CheckModuleName(m.Module.Name))
	}
	return &m, nil
}

// Add indexes m under its package name and each spelling of its version.
// The same package version read twice (a release directory and an
// installed copy) must describe the same module file.
func (ms *Manifests) Add(m *Manifest) error {
	for _, v := range []string{m.Package.Version, m.Package.RPMVersion, m.Package.DebVersion} {
		if v == "" {
			continue
		}
		k := ref{m.Package.Name, v}
		if have := ms.byRef[k]; have != nil && have != m {
			if have.Module.SHA256 != m.Module.SHA256 || have.Kernel != m.Kernel || have.Layer != m.Layer {
				return fmt.Errorf("package %s %s: %s and %s describe it differently", k.pkg, k.version, have.Path, m.Path)
			}
			continue
		}
		ms.byRef[k] = m
	}
	return nil
}

// Lookup is the manifest of a package version, nil when none.
func (ms *Manifests) Lookup(pkg, version string) *Manifest { return ms.byRef[ref{pkg, version}] }

// UnresolvedError says why a combination's deployed set could not be
// made from the manifests.
type UnresolvedError struct{ Msg string }

func (e *UnresolvedError) Error() string { return e.Msg }

// ErrUnresolved is what an *UnresolvedError is.
var ErrUnresolved = errors.New("unresolved")

func (e *UnresolvedError) Is(target error) bool { return target == ErrUnresolved }

// State is the deployed set of c: its capture in the state form, else
// each patch's module record and layer from the manifest of its package.
// An error is an *UnresolvedError.
func (ms *Manifests) State(c *Combination) (*deploy.State, error) {
	if c.State != nil {
		return c.State, nil
	}
	st := &deploy.State{Schema: deploy.StateSchema, Kernel: deploy.Kernel{Release: c.Kernel}, Patches: []*deploy.Patch{}}
	for i, p := range c.Patches {
		m := ms.Lookup(p.Package, p.Version)
		switch {
		case m == nil:
			return nil, &UnresolvedError{fmt.Sprintf("package %s %s: no manifest of it", p.Package, p.Version)}
		case m.Module.Name != p.Module:
			return nil, &UnresolvedError{fmt.Sprintf("package %s %s installs module %s, the host runs %s from it", p.Package, p.Version, m.Module.Name, p.Module)}
		case m.Kernel != c.Kernel:
			return nil, &UnresolvedError{fmt.Sprintf("package %s %s is for kernel %s, the host runs %s", p.Package, p.Version, m.Kernel, c.Kernel)}
		}
		dp := &deploy.Patch{Module: *m.Module, Enabled: p.Enabled, LoadOrder: p.LoadOrder, Layer: m.Layer}
		// The module record's slices are shared by every combination
		// that runs this package: check reads them, never writes.
		if !c.unknownTransition[i] {
			dp.Transition = &p.Transition
		}
		st.Patches = append(st.Patches, dp)
	}
	if err := st.Validate(); err != nil {
		return nil, &UnresolvedError{fmt.Sprintf("not a deployed set the kernel allows: %v", err)}
	}
	deploy.SortPatches(st.Patches)
	return st, nil
}
