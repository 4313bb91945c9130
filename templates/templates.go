// Package templates holds the files klpack renders into what it ships: the
// POSIX-sh loader that loads a host's livepatches in their recorded order,
// the systemd unit that runs it at boot, and the package scripts that run it
// on install, upgrade and removal. One embed.FS, one typed render func per
// file.
//
// Render funcs fail with an error matching ErrBadValue when a value would
// not be safe inside a shell word or a unit file.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"regexp"
	"text/template"
)

//go:embed loader.sh klpack.service postinst.sh prerm.sh
var files embed.FS

// ErrBadValue means a value holds characters the rendered file cannot
// carry safely.
var ErrBadValue = errors.New("unsafe value")

// DefaultTimeout is how long the loader waits for each transition, in
// seconds.
const DefaultTimeout = 60

// safe matches what the rendered shell and unit files quote no further:
// kernel releases, package and module names, absolute paths.
var safe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+/:,@-]*$|^/[A-Za-z0-9._+/:,@-]+$`)

func check(vals map[string]string) error {
	for k, v := range vals {
		if !safe.MatchString(v) {
			return fmt.Errorf("%s %q: %w", k, v, ErrBadValue)
		}
	}
	return nil
}

var parsed = template.Must(template.New("").Option("missingkey=error").ParseFS(files, "*"))

func render(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := parsed.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// LoaderData fills loader.sh.
type LoaderData struct {
	Kernel  string // the kernel release the patches are for, as uname -r prints it
	LibDir  string // where packages put <kernel>/<package>/order
	Timeout int    // seconds per transition; 0 means DefaultTimeout
}

// Loader renders the loader script.
func Loader(d LoaderData) ([]byte, error) {
	if d.Timeout <= 0 {
		d.Timeout = DefaultTimeout
	}
	if err := check(map[string]string{"kernel": d.Kernel, "libdir": d.LibDir}); err != nil {
		return nil, err
	}
	return render("loader.sh", d)
}

// UnitData fills klpack.service.
type UnitData struct {
	Kernel, Package string
	Loader          string // absolute path of the loader
	Manifest        string // absolute path of the package's manifest
	// StartTimeout is the unit's start timeout in seconds; 0 means room
	// for a transition per patch of DefaultTimeout each, plus rollback.
	StartTimeout int
}

// Unit renders the systemd unit.
func Unit(d UnitData) ([]byte, error) {
	if d.StartTimeout <= 0 {
		d.StartTimeout = 10 * DefaultTimeout
	}
	if err := check(map[string]string{"kernel": d.Kernel, "package": d.Package, "loader": d.Loader, "manifest": d.Manifest}); err != nil {
		return nil, err
	}
	return render("klpack.service", d)
}

// ScriptData fills the package scripts.
type ScriptData struct {
	Format  string // rpm or deb: their scripts get different arguments
	Package string
	Kernel  string
	Module  string
	Unit    string // the unit's file name
	Loader  string
}

// PostInstall renders the script run after install and upgrade.
func PostInstall(d ScriptData) ([]byte, error) { return script("postinst.sh", d) }

// PreRemove renders the script run before removal and upgrade.
func PreRemove(d ScriptData) ([]byte, error) { return script("prerm.sh", d) }

func script(name string, d ScriptData) ([]byte, error) {
	if d.Format != "rpm" && d.Format != "deb" {
		return nil, fmt.Errorf("format %q: %w", d.Format, ErrBadValue)
	}
	if err := check(map[string]string{"package": d.Package, "kernel": d.Kernel, "module": d.Module, "unit": d.Unit, "loader": d.Loader}); err != nil {
		return nil, err
	}
	return render(name, d)
}
