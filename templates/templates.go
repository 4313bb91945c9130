// Package templates holds the files klpack renders into what it ships: the
// POSIX-sh loader that loads a host's livepatches in their recorded order,
// the systemd unit that runs it at boot, and the package scripts that run it
// once per package transaction. One embed.FS, one typed render func per
// file.
//
// Render funcs fail with an error matching ErrBadValue when a value would
// not be safe inside a shell word or a unit file. Every value a shell
// template substitutes is checked and also shell-quoted (by Quote, the
// template func "sh").
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

//go:embed loader.sh klpack.service loader-postinst.sh loader-posttrans.sh loader-prerm.sh patch-post.sh patch-posttrans.sh patch-postun.sh
var files embed.FS

// ErrBadValue means a value holds characters the rendered file cannot
// carry safely.
var ErrBadValue = errors.New("unsafe value")

// DefaultTimeout is how long the loader waits for each transition, in
// seconds; MaxTimeout the longest wait it accepts: an hour is far more
// than any transition takes, and keeps the loader's tick arithmetic and
// the unit's start timeout far from overflow.
const (
	DefaultTimeout = 60
	MaxTimeout     = 3600
)

// CheckTimeout refuses a wait per transition outside 1..MaxTimeout
// seconds; 0 stands for DefaultTimeout.
func CheckTimeout(seconds int) error {
	if seconds < 0 || seconds > MaxTimeout {
		return fmt.Errorf("timeout %d s: want 1 to %d seconds: %w", seconds, MaxTimeout, ErrBadValue)
	}
	return nil
}

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

// Quote makes s one shell word: single-quoted, each ' written as '\”.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var parsed = template.Must(template.New("").Option("missingkey=error").
	Funcs(template.FuncMap{"sh": Quote}).ParseFS(files, "*"))

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
	// Klpack is the klpack binary the loader runs for BPF hooks: the
	// loader package's own when it ships one; "" means klpack on $PATH.
	Klpack string
}

// DefaultsFile is where the loader reads the values of its KLPACK_*
// variables that the environment does not set: rpm and dpkg may not pass
// the environment to the scripts that run it.
const DefaultsFile = "/etc/default/klpack-load"

// Loader renders the loader script.
func Loader(d LoaderData) ([]byte, error) {
	if err := CheckTimeout(d.Timeout); err != nil {
		return nil, err
	}
	if d.Timeout == 0 {
		d.Timeout = DefaultTimeout
	}
	if d.Klpack == "" {
		d.Klpack = "klpack"
	}
	if err := check(map[string]string{"kernel": d.Kernel, "libdir": d.LibDir, "klpack": d.Klpack}); err != nil {
		return nil, err
	}
	return render("loader.sh", struct {
		LoaderData
		MaxTimeout int
		Defaults   string
	}{d, MaxTimeout, DefaultsFile})
}

// UnitData fills klpack.service.
type UnitData struct {
	Kernel, Package string
	Loader          string // absolute path of the loader
	Doc             string // absolute path of what documents the unit
	// Timeout is the loader's wait per transition in seconds (0 means
	// DefaultTimeout) and Patches how many patches the loader loads:
	// together they give the unit's start timeout.
	Timeout, Patches int
}

// startMargin is the unit's time beyond the transitions: module loads,
// the hook commands and a slow boot.
const startMargin = 90

// StartTimeout is the unit's TimeoutStartSec for a loader that waits
// timeout seconds per transition and loads patches patches: the lock's
// wait (a transition and 30 s), a transition per load and one per
// rollback, and startMargin.
func StartTimeout(timeout, patches int) int {
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return (2*max(patches, 1)+1)*timeout + startMargin
}

// Unit renders the systemd unit.
func Unit(d UnitData) ([]byte, error) {
	if err := CheckTimeout(d.Timeout); err != nil {
		return nil, err
	}
	if d.Patches < 0 {
		return nil, fmt.Errorf("patches %d: %w", d.Patches, ErrBadValue)
	}
	if err := check(map[string]string{"kernel": d.Kernel, "package": d.Package, "loader": d.Loader, "doc": d.Doc}); err != nil {
		return nil, err
	}
	return render("klpack.service", struct {
		UnitData
		StartTimeout int
	}{d, StartTimeout(d.Timeout, d.Patches)})
}

// ScriptData fills the package scripts.
type ScriptData struct {
	Format  string // rpm or deb: their scripts get different arguments
	Package string
	Kernel  string
	Unit    string // the loader unit's file name
	Loader  string
}

// The scripts of the loader package (which runs the loader once per
// transaction) and of the patch packages (rpm only: deb patch packages
// have none, their files activate the loader package's file trigger).
const (
	LoaderPostInstall = "loader-postinst.sh"  // rpm %post, deb postinst
	LoaderPostTrans   = "loader-posttrans.sh" // rpm %posttrans
	LoaderPreRemove   = "loader-prerm.sh"     // rpm %preun, deb prerm
	PatchPostInstall  = "patch-post.sh"       // rpm %post
	PatchPostTrans    = "patch-posttrans.sh"  // rpm %posttrans
	PatchPostRemove   = "patch-postun.sh"     // rpm %postun
)

// rpmOnly are the scripts only rpm runs.
var rpmOnly = map[string]bool{LoaderPostTrans: true, PatchPostInstall: true, PatchPostTrans: true, PatchPostRemove: true}

// Script renders one of the package scripts.
func Script(name string, d ScriptData) ([]byte, error) {
	switch {
	case d.Format != "rpm" && d.Format != "deb":
		return nil, fmt.Errorf("format %q: %w", d.Format, ErrBadValue)
	case name != LoaderPostInstall && name != LoaderPreRemove && !rpmOnly[name]:
		return nil, fmt.Errorf("script %q: %w", name, ErrBadValue)
	case rpmOnly[name] && d.Format != "rpm":
		return nil, fmt.Errorf("script %s is for rpm, not %s: %w", name, d.Format, ErrBadValue)
	}
	if err := check(map[string]string{"package": d.Package, "kernel": d.Kernel, "unit": d.Unit, "loader": d.Loader}); err != nil {
		return nil, err
	}
	return render(name, d)
}

// The BPF side: the BPF C template klpack renders for each hook point.
// (The header livepatch authors include, klpack_livepatch.h, is a file of
// this directory their builds name; nothing in Go reads it.)
var (
	//go:embed bpf/hook.bpf.c
	bpfFiles  embed.FS
	bpfParsed = template.Must(template.New("").Option("missingkey=error").ParseFS(bpfFiles, "bpf/*.bpf.c"))
)

// HookData fills bpf/hook.bpf.c.
type HookData struct {
	Module string // the module the hook function is in
	Func   string // the hook function, a C identifier
	// Errno is the function's error type: ERRNO, ERRNO_NULL, NULL or TRUE.
	// It bounds the values the program returns in its place.
	Errno string
	// MaxCgroups bounds the cgroups with a value; 0 means DefaultMaxCgroups.
	MaxCgroups int
}

// DefaultMaxCgroups is how many cgroups a hook holds values for.
const DefaultMaxCgroups = 1024

// maxErrno is the kernel's MAX_ERRNO.
const maxErrno = 4095

// errnoRange is what a function of each error type may return in place
// of running: -errno, NULL (0) or true (1).
var errnoRange = map[string][2]int{
	"ERRNO":      {-maxErrno, 0},
	"ERRNO_NULL": {-maxErrno, 0},
	"NULL":       {0, 0},
	"TRUE":       {0, 1},
}

var (
	cIdent     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	moduleName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

// Hook renders the BPF C program for one hook point.
func Hook(d HookData) ([]byte, error) {
	r, ok := errnoRange[d.Errno]
	switch {
	case !cIdent.MatchString(d.Func):
		return nil, fmt.Errorf("function %q: %w", d.Func, ErrBadValue)
	case !moduleName.MatchString(d.Module):
		return nil, fmt.Errorf("module %q: %w", d.Module, ErrBadValue)
	case !ok:
		return nil, fmt.Errorf("error type %q (want ERRNO, ERRNO_NULL, NULL or TRUE): %w", d.Errno, ErrBadValue)
	case d.MaxCgroups < 0:
		return nil, fmt.Errorf("max cgroups %d: %w", d.MaxCgroups, ErrBadValue)
	}
	if d.MaxCgroups == 0 {
		d.MaxCgroups = DefaultMaxCgroups
	}
	var b bytes.Buffer
	err := bpfParsed.ExecuteTemplate(&b, "hook.bpf.c", struct {
		HookData
		Min, Max int
	}{d, r[0], r[1]})
	if err != nil {
		return nil, fmt.Errorf("template hook.bpf.c: %w", err)
	}
	return b.Bytes(), nil
}
