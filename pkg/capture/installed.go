package capture

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/strictjson"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

// InstalledDir is where klpack's patch packages install, under a host
// root: InstalledDir/<kernel release>/<package>/manifest.json.
const InstalledDir = "usr/lib/klpack"

// manifestSchema is the schema of the manifest each patch package carries.
const manifestSchema = "klpack.package/v1"

// Bounds of what a host root may make capture read: a manifest is the
// scan record of one module and a few lines more.
const (
	maxManifest  = 8 << 20
	maxInstalled = 4096
)

// packageName is the alphabet of package names both formats accept.
var packageName = regexp.MustCompile(`^[a-z0-9][a-z0-9.+-]*$`)

// installed is what capture reads of a package manifest: a subset of
// pack.Manifest (capture does not link the build side).
type installed struct {
	path    string
	Schema  string `json:"schema"`
	Package struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"package"`
	Kernel string      `json:"kernel"`
	Layer  string      `json:"layer"`
	Module *klp.Module `json:"module"`
}

// readInstalled reads the manifests of the packages installed for
// release under root, by module name. A manifest that cannot be read or
// says something impossible is reported and left out.
func readInstalled(root fs.FS, release string, rep *CaptureReport) map[string][]*installed {
	out := map[string][]*installed{}
	if release == "" || strings.ContainsAny(release, "/\\") || !fs.ValidPath(release) {
		return out
	}
	dir := InstalledDir + "/" + release
	ents, err := fs.ReadDir(root, dir)
	if err != nil {
		return out // nothing installed for this kernel
	}
	if len(ents) > maxInstalled {
		rep.add(EntryNote, "", "", "%s holds %d entries, more than %d: installed manifests not read", dir, len(ents), maxInstalled)
		return out
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue // the loader, beside the package directories
		}
		p := dir + "/" + e.Name()
		if !packageName.MatchString(e.Name()) {
			rep.add(EntrySkipped, "", p, "%s: not a package name: installed manifest not read", p)
			continue
		}
		m, err := readManifest(root, p+"/manifest.json", release)
		if err != nil {
			rep.add(EntrySkipped, "", p+"/manifest.json", "installed manifest %s", err)
			continue
		}
		if m != nil {
			out[m.Module.Name] = append(out[m.Module.Name], m)
		}
	}
	return out
}

func readManifest(root fs.FS, name, release string) (*installed, error) {
	f, err := root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", name, st.Mode().Type())
	}
	b, err := safeio.ReadAll(f, maxManifest)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// strictjson first: it words what encoding/json would say with Go
	// types (an array "into Go value of type capture.installed").
	if _, err := strictjson.Check(b, reflect.TypeFor[installed]()); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var m installed
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	m.path = "/" + name
	switch {
	case m.Schema != manifestSchema:
		return nil, fmt.Errorf("%s: schema %q, want %q", name, m.Schema, manifestSchema)
	case m.Kernel != release:
		return nil, fmt.Errorf("%s: for kernel %q, installed under %s", name, m.Kernel, release)
	case !klp.ValidLayer(m.Layer):
		return nil, fmt.Errorf("%s: layer %q, want %s or %s", name, m.Layer, klp.LayerCumulative, klp.LayerOffBand)
	case m.Module == nil:
		return nil, fmt.Errorf("%s: no module record", name)
	case klp.CheckModuleName(m.Module.Name) != nil:
		return nil, fmt.Errorf("%s: module: %w", name, klp.CheckModuleName(m.Module.Name))
	}
	return &m, nil
}

// joinInstalled gives each captured patch what the manifest of its
// installed package says: the layer, and replace where neither the module
// file nor sysfs told it. A manifest that disagrees with what was
// captured (the module file's sha256, another module name) is reported
// and not joined.
func joinInstalled(st *deploy.State, rep *CaptureReport, byName map[string][]*installed) {
	for _, p := range st.Patches {
		ms := byName[p.Name]
		if len(ms) == 0 {
			continue
		}
		if len(ms) > 1 {
			var paths []string
			for _, m := range ms {
				paths = append(paths, m.path)
			}
			slices.Sort(paths)
			rep.add(EntryMismatch, p.Name, "", "%d installed manifests describe %s (%s): layer not joined", len(ms), p.Name, strings.Join(paths, ", "))
			continue
		}
		m := ms[0]
		if p.SHA256 != "" && m.Module.SHA256 != p.SHA256 {
			rep.add(EntryMismatch, p.Name, m.path, "%s records sha256 %s for %s, the module file %s has %s: layer not joined", m.path, m.Module.SHA256, p.Name, p.Path, p.SHA256)
			continue
		}
		if p.SHA256 == "" {
			rep.add(EntryNote, p.Name, m.path, "no module file matched; its layer comes from %s unchecked by a hash", m.path)
		}
		p.Layer = m.Layer
		if len(p.Patches) > 0 && len(m.Module.Patches) > 0 {
			kp, mp := p.Patches[0], m.Module.Patches[0]
			if kp.ReplaceSource == klp.ReplaceUnknown && mp.ReplaceSource != klp.ReplaceUnknown {
				kp.Replace, kp.ReplaceSource, kp.ReplaceHint = mp.Replace, mp.ReplaceSource, ""
			}
		}
		rep.add(EntryInfo, p.Name, m.path, "layer %s from the installed package %s %s", m.Layer, m.Package.Name, m.Package.Version)
	}
}

// Package is a klpack patch package installed on a host, as its
// manifest says.
type Package struct {
	Name     string
	Version  string
	Layer    string
	Module   string // the livepatch module it installs
	Manifest string // the manifest's path, from the host's root
}

// InstalledPackages reads the manifests of the klpack patch packages
// installed for release under root (an fs.FS of the host's /), sorted
// by module then manifest path. A manifest that cannot be read or says
// something impossible is left out and named in the entries.
func InstalledPackages(root fs.FS, release string) ([]Package, []ReportEntry) {
	rep := &CaptureReport{}
	var out []Package
	for _, ms := range readInstalled(root, release, rep) {
		for _, m := range ms {
			out = append(out, Package{Name: m.Package.Name, Version: m.Package.Version, Layer: m.Layer, Module: m.Module.Name, Manifest: m.path})
		}
	}
	slices.SortFunc(out, func(a, b Package) int {
		return cmp.Or(strings.Compare(a.Module, b.Module), strings.Compare(a.Manifest, b.Manifest))
	})
	return out, rep.Entries
}
