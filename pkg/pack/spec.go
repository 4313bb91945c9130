package pack

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/klpack/klpack/pkg/klp"
)

// LibDir is where packages install their files:
// LibDir/<kernel>/<package>/.
const LibDir = "/usr/lib/klpack"

// UnitDir is where packages install their systemd unit.
const UnitDir = "/usr/lib/systemd/system"

// Spec is one package of a release, in neither format's syntax yet: a
// patch package (Module set) or the kernel's loader package (Module nil).
type Spec struct {
	Release *Release
	// Module is the patch module; nil for the loader package.
	Module *Module
	// LoadOrder is the module's place in the release, from 1.
	LoadOrder int
	// Name is the package name, the same in both formats: Prefix-<kernel>
	// for the cumulative module (one version stream per kernel),
	// Prefix-<kernel>-<module> for an off-band one.
	Name string
}

// Specs returns a release's packages in load order.
func (r *Release) Specs() []*Spec {
	var out []*Spec
	for i, m := range r.Modules {
		s := &Spec{Release: r, Module: m, LoadOrder: i + 1, Name: r.prefix() + "-" + debName(r.Kernel)}
		if m.Layer == klp.LayerOffBand {
			s.Name += "-" + debName(m.Record.Name)
		}
		out = append(out, s)
	}
	return out
}

// LoaderName is the name of the loader package of kernel k. The loader
// acts on every klpack patch of its kernel, whatever package prefix
// shipped it, and the kernel is the only thing it is rendered for: so one
// loader package per kernel, named without the prefix. A name per prefix
// would let two prefixes install two loaders owning the same files and
// each syncing the kernel with the other's patches.
func LoaderName(k string) string { return "klpack-loader-" + debName(k) }

// LoaderPath is where the loader of kernel k is installed: beside the
// package directories it reads, not in one, so that no order glob sees it.
func LoaderPath(k string) string { return LibDir + "/" + k + "/klpack-load" }

// HostBinaryPath is where the loader package of kernel k installs the
// klpack binary its loader runs for BPF hooks: outside LibDir, whose
// changes trigger the loader.
func HostBinaryPath(k string) string { return "/usr/libexec/klpack/" + k + "/klpack" }

// HasHooks reports whether a module of the release ships BPF hook objects.
func (r *Release) HasHooks() bool {
	for _, m := range r.Modules {
		if len(m.Hooks) > 0 {
			return true
		}
	}
	return false
}

// HostPackage is the package of klpack itself (make dist builds it): a
// patch package whose module ships BPF hooks depends on it, since the
// loader attaches them with klpack, unless the release's loader package
// ships a pinned klpack binary (HostBinary).
const HostPackage = "klpack"

// needsHost reports whether the package's hooks need klpack from
// HostPackage on the host.
func (s *Spec) needsHost() bool {
	return !s.IsLoader() && len(s.Module.Hooks) > 0 && s.Release.HostBinary == ""
}

// LoaderSpec is the release's loader package: the loader and its unit,
// which every patch package of the kernel depends on.
func (r *Release) LoaderSpec() *Spec {
	return &Spec{Release: r, Name: LoaderName(r.Kernel)}
}

// IsLoader tells the loader package from a patch package.
func (s *Spec) IsLoader() bool { return s.Module == nil }

func (r *Release) prefix() string {
	if r.Prefix == "" {
		return "klp-patch"
	}
	return r.Prefix
}

// Dir is where the package installs its files.
func (s *Spec) Dir() string { return LibDir + "/" + s.Release.Kernel + "/" + s.Name }

// Unit is the file name of the loader's systemd unit.
func (s *Spec) Unit() string { return LoaderName(s.Release.Kernel) + ".service" }

// RPMVersion is the release version as an rpm Version: no "-".
func (s *Spec) RPMVersion() string { return strings.ReplaceAll(s.Release.Version, "-", "_") }

// RPMRelease is the rpm Release every klpack package carries.
const RPMRelease = "1"

// RPMEVR is the version rpm compares: Version-Release.
func (s *Spec) RPMEVR() string { return s.RPMVersion() + "-" + RPMRelease }

// DebVersion is the release version as a deb version: no "_".
func (s *Spec) DebVersion() string { return strings.ReplaceAll(s.Release.Version, "_", ".") }

// funcKeys lists the functions the module patches as sysfs names them:
// object/func,sympos (sympos 0 shown as 1), sorted and unique.
func (s *Spec) funcKeys() []klp.FuncKey {
	var keys []klp.FuncKey
	seen := map[klp.FuncKey]bool{}
	for _, p := range s.Module.Record.Patches {
		for _, o := range p.Objects {
			for _, f := range o.Funcs {
				k := klp.KeyOf(&o, &f)
				if !seen[k] {
					seen[k] = true
					keys = append(keys, k)
				}
			}
		}
	}
	slices.SortFunc(keys, func(a, b klp.FuncKey) int {
		return cmp.Or(cmp.Compare(a.Object, b.Object), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Sympos, b.Sympos))
	})
	return keys
}

// Relations are a package's relations in one format's syntax.
type Relations struct {
	Depends, Provides, Conflicts, Replaces []string
}

// RPMRelations are the spec's relations in rpm syntax.
func (s *Spec) RPMRelations() Relations {
	k := s.Release.Kernel
	var r Relations
	kernel := s.Release.KernelRPM
	if kernel == "" {
		kernel = "kernel-uname-r = " + k
	}
	r.Depends = []string{kernel}
	if s.IsLoader() {
		return r
	}
	// The loader at least as new as the release: it runs this package's
	// patch, and an older one may not know what the release needs.
	r.Depends = append(r.Depends, LoaderName(k)+" >= "+s.RPMEVR())
	if s.needsHost() {
		r.Depends = append(r.Depends, HostPackage)
	}
	r.Provides = []string{
		fmt.Sprintf("klp-load-order(%s:%s) = %d", k, s.Module.Record.Name, s.LoadOrder),
		fmt.Sprintf("klp-module(%s:%s) = %s", k, s.Module.Record.Name, s.RPMEVR()),
	}
	switch s.Module.Layer {
	case klp.LayerCumulative:
		r.Provides = append(r.Provides, fmt.Sprintf("klp-cumulative(%s) = %s", k, s.RPMEVR()))
		r.Replaces = []string{fmt.Sprintf("%s < %s", s.Name, s.RPMEVR())}
	case klp.LayerOffBand:
		for _, f := range s.funcKeys() {
			v := fmt.Sprintf("klp-func(%s:%s)", k, f)
			r.Provides = append(r.Provides, v)
			r.Conflicts = append(r.Conflicts, v)
		}
	}
	return r
}

// DebRelations are the spec's relations in deb syntax. Virtual package
// names carry only what deb allows: lowercase letters, digits, + - .
func (s *Spec) DebRelations() Relations {
	k := debName(s.Release.Kernel)
	var r Relations
	kernel := s.Release.KernelDeb
	if kernel == "" {
		kernel = "linux-image-" + s.Release.Kernel
	}
	r.Depends = []string{kernel}
	if s.IsLoader() {
		return r
	}
	mod := debName(s.Module.Record.Name)
	r.Depends = append(r.Depends, fmt.Sprintf("%s (>= %s)", LoaderName(s.Release.Kernel), s.DebVersion()))
	if s.needsHost() {
		r.Depends = append(r.Depends, HostPackage)
	}
	r.Provides = []string{
		fmt.Sprintf("klp-load-order-%s-%s (= %d)", k, mod, s.LoadOrder),
		fmt.Sprintf("klp-module-%s-%s (= %s)", k, mod, s.DebVersion()),
	}
	switch s.Module.Layer {
	case klp.LayerCumulative:
		r.Provides = append(r.Provides, fmt.Sprintf("klp-cumulative-%s (= %s)", k, s.DebVersion()))
		r.Replaces = []string{fmt.Sprintf("%s (<< %s)", s.Name, s.DebVersion())}
	case klp.LayerOffBand:
		for _, f := range s.funcKeys() {
			v := "klp-func-" + k + "--" + debName(f.Object) + "--" + debName(f.Name) + "--" + strconv.FormatUint(f.Sympos, 10)
			r.Provides = append(r.Provides, v)
			r.Conflicts = append(r.Conflicts, v)
		}
	}
	return r
}

// DebFields are the control fields dpkg-query shows.
func (s *Spec) DebFields() map[string]string {
	if s.IsLoader() {
		return map[string]string{"Klp-Kernel": s.Release.Kernel}
	}
	return map[string]string{
		"Klp-Kernel":     s.Release.Kernel,
		"Klp-Module":     s.Module.Record.Name,
		"Klp-Layer":      s.Module.Layer,
		"Klp-Load-Order": strconv.Itoa(s.LoadOrder),
	}
}

// debName maps a kernel release, module, object or function name to deb's
// package-name alphabet, one to one for C identifiers: "_" becomes "-",
// an uppercase letter "+" and its lowercase, any other byte "++" and two
// hex digits.
func debName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '-':
			b.WriteByte(c)
		case c == '_':
			b.WriteByte('-')
		case c >= 'A' && c <= 'Z':
			b.WriteByte('+')
			b.WriteByte(c + 'a' - 'A')
		default:
			fmt.Fprintf(&b, "++%02x", c)
		}
	}
	return b.String()
}
