package klp

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Target is the build identity of a target kernel: what tells two builds
// of one release (`uname -r`) apart. A release pins it when its target
// files are given; a host's is captured from /sys/kernel/notes and
// /sys/module/NAME/srcversion.
type Target struct {
	// BuildID is the vmlinux GNU build-id, lowercase hex.
	BuildID string `json:"build_id"`
	// Modules are the target modules the patches patch, sorted by name;
	// those the target files did not hold are absent.
	Modules []TargetModule `json:"modules,omitempty"`
}

// TargetModule is the build identity of one target module.
type TargetModule struct {
	Name string `json:"name"`
	// Srcversion is modinfo's srcversion (a digest of the module's
	// sources), empty when the module has none.
	Srcversion string `json:"srcversion,omitempty"`
	// BuildID is the module's GNU build-id, when read from a plain file.
	BuildID string `json:"build_id,omitempty"`
}

var (
	buildIDRe    = regexp.MustCompile(`^[0-9a-f]{2,128}$`)
	srcversionRe = regexp.MustCompile(`^[0-9A-F]{1,64}$`)
)

// CheckBuildID refuses anything but an even-length lowercase hex string:
// build-ids reach shell words and package files.
func CheckBuildID(s string) error {
	if !buildIDRe.MatchString(s) || len(s)%2 != 0 {
		return fmt.Errorf("build-id %q is not lowercase hex bytes", s)
	}
	return nil
}

// ModuleKey is the name the kernel knows a module by: Kbuild turns "-"
// into "_", so foo-bar.ko is module foo_bar.
func ModuleKey(name string) string { return strings.ReplaceAll(name, "-", "_") }

// Validate refuses a target whose fields could not come from a kernel.
func (t *Target) Validate() error {
	if err := CheckBuildID(t.BuildID); err != nil {
		return err
	}
	for _, m := range t.Modules {
		if err := m.Validate(); err != nil {
			return fmt.Errorf("target module: %w", err)
		}
	}
	return nil
}

// Validate refuses a module name or identity no kernel would give.
func (m *TargetModule) Validate() error {
	if err := CheckModuleName(m.Name); err != nil {
		return err
	}
	if m.Srcversion != "" && !srcversionRe.MatchString(m.Srcversion) {
		return fmt.Errorf("module %s: srcversion %q is not uppercase hex", m.Name, m.Srcversion)
	}
	if m.BuildID != "" {
		if err := CheckBuildID(m.BuildID); err != nil {
			return fmt.Errorf("module %s: %w", m.Name, err)
		}
	}
	return nil
}

// Module returns the target module named name ("-" and "_" alike), or nil.
func (t *Target) Module(name string) *TargetModule {
	for i := range t.Modules {
		if ModuleKey(t.Modules[i].Name) == ModuleKey(name) {
			return &t.Modules[i]
		}
	}
	return nil
}

// SortTargetModules sorts modules by name, as Target keeps them.
func SortTargetModules(ms []TargetModule) {
	slices.SortFunc(ms, func(a, b TargetModule) int { return strings.Compare(a.Name, b.Name) })
}

// PatchedModules are the modules (objects other than vmlinux) the patches
// of mods patch, each once, in the order first met: the target modules
// whose build a release pins.
func PatchedModules(mods []*Module) []string {
	var out []string
	for _, m := range mods {
		for _, p := range m.Patches {
			if p == nil {
				continue
			}
			for _, o := range p.Objects {
				if o.Name != nil && !slices.Contains(out, *o.Name) {
					out = append(out, *o.Name)
				}
			}
		}
	}
	return out
}
