package pack

import (
	"encoding/json"
	"io"

	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/order"
)

// Manifest is the JSON document each package carries at
// <Dir>/manifest.json: what was scanned, where it sits in the release, and
// the sha256 of every other file the package installs.
type Manifest struct {
	Schema    string          `json:"schema"`
	Package   ManifestPackage `json:"package"`
	Kernel    string          `json:"kernel"`
	Layer     string          `json:"layer"`
	LoadOrder int             `json:"load_order"`
	// Release lists every module of the release in load order.
	Release []ReleaseEntry `json:"release"`
	// Module is the scan record; its path is the installed path.
	Module *klp.Module    `json:"module"`
	Files  []ManifestFile `json:"files"`
	// Plan is the plan that ordered the release, when it had one: the
	// kernel steps and the state predicted after each.
	Plan *order.Plan `json:"plan,omitempty"`
	// Target is the kernel build the release was made for, when its
	// target files were given: the vmlinux build-id and the patched
	// modules' srcversion and build-id.
	Target *klp.Target `json:"target,omitempty"`
}

// ManifestPackage names the package in both formats.
type ManifestPackage struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	RPMVersion string `json:"rpm_version"`
	DebVersion string `json:"deb_version"`
}

// ReleaseEntry is one module of the release.
type ReleaseEntry struct {
	LoadOrder int    `json:"load_order"`
	Module    string `json:"module"`
	Layer     string `json:"layer"`
	Package   string `json:"package"`
}

// ManifestFile is one installed file.
type ManifestFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Mode   string `json:"mode"`
}

// WriteJSON writes the manifest as indented JSON.
func (m *Manifest) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}
