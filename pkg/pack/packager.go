package pack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	"github.com/goreleaser/nfpm/v2/rpm"
)

// Formats klpack builds, in the order it builds them.
const (
	FormatRPM = "rpm"
	FormatDeb = "deb"
)

// ErrUnknownFormat means a format no Packager builds.
var ErrUnknownFormat = errors.New("unknown package format")

// SignFunc returns a detached OpenPGP signature of the data it reads.
type SignFunc func(data io.Reader) ([]byte, error)

// Packager builds one format's package of a staged spec.
type Packager interface {
	Format() string
	// FileName is the package's conventional file name.
	FileName(s *Spec) string
	Package(ctx context.Context, st *Staged, w io.Writer) error
}

// New returns the packagers of the given formats (all when none), each
// signing with sign when it is not nil.
func New(formats []string, sign SignFunc) (map[string]Packager, error) {
	if len(formats) == 0 {
		formats = []string{FormatRPM, FormatDeb}
	}
	if sign != nil {
		inner := sign
		sign = func(data io.Reader) ([]byte, error) {
			sig, err := inner(data)
			if err != nil {
				return nil, &SignError{Err: err}
			}
			return sig, nil
		}
	}
	out := map[string]Packager{}
	for _, f := range formats {
		switch f {
		case FormatRPM:
			out[f] = &rpmPackager{sign: sign}
		case FormatDeb:
			out[f] = &debPackager{sign: sign}
		default:
			return nil, fmt.Errorf("%q: %w", f, ErrUnknownFormat)
		}
	}
	return out, nil
}

// goArch maps the kernel's architecture name to the Go name nfpm takes
// (and turns into each format's own).
func goArch(kernelArch string) string {
	switch kernelArch {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return kernelArch
}

// baseInfo is what both formats share.
func baseInfo(st *Staged, format string) (*nfpm.Info, error) {
	s := st.Spec
	r := s.Release
	if err := checkSources(st); err != nil {
		return nil, err
	}
	sc := st.Scripts[format]
	desc := fmt.Sprintf("klpack livepatch loader for Linux %s\nLoads the klpack livepatches of the kernel at boot and once per package\ntransaction, in their recorded order.", r.Kernel)
	if !s.IsLoader() {
		desc = fmt.Sprintf("Livepatch %s for Linux %s\n%s module %d of %d in the release's load order.",
			s.Module.Record.Name, r.Kernel, s.Module.Layer, s.LoadOrder, len(r.Modules))
		if r.Description != "" {
			desc += "\n" + r.Description
		}
	}
	license := "GPL-2.0-only"
	if r.License != "" {
		license = r.License
	}
	info := &nfpm.Info{
		// A source path is a path, never a pattern: with globbing a
		// module named lp[_]x.ko would ship lp_x.ko instead.
		DisableGlobbing: true,
		Name:            s.Name,
		Arch:            goArch(r.Arch),
		Platform:        "linux",
		VersionSchema:   "none",
		Maintainer:      r.Maintainer,
		Vendor:          r.Vendor,
		License:         license,
		Homepage:        r.Homepage,
		Section:         "kernel",
		Priority:        "optional",
		Description:     desc,
		MTime:           r.MTime,
		Overridables: nfpm.Overridables{
			Umask:   0o022,
			Scripts: nfpm.Scripts{PostInstall: sc.PostInstall, PreRemove: sc.PreRemove, PostRemove: sc.PostRemove},
		},
	}
	for _, f := range st.Files {
		info.Contents = append(info.Contents, &files.Content{
			Source:      f.Source,
			Destination: f.Dest,
			FileInfo:    &files.ContentFileInfo{Owner: "root", Group: "root", Mode: f.Mode, MTime: r.MTime},
		})
	}
	if s.IsLoader() {
		return nfpm.WithDefaults(info), nil
	}
	info.Contents = append(info.Contents, &files.Content{
		Destination: s.Dir(),
		Type:        files.TypeDir,
		FileInfo:    &files.ContentFileInfo{Owner: "root", Group: "root", Mode: 0o755, MTime: r.MTime},
	})
	return nfpm.WithDefaults(info), nil
}

// checkSources makes sure nfpm ships regular files: it ships a symbolic
// link as a link and a directory's whole tree. Stage's copies are; a
// Staged built by hand may not be.
func checkSources(st *Staged) error {
	for _, f := range st.Files {
		fi, err := os.Lstat(f.Source)
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%w: %s: not a regular file (%s)", ErrBadRelease, f.Source, fi.Mode().Type())
		}
	}
	return nil
}

type rpmPackager struct{ sign SignFunc }

func (*rpmPackager) Format() string { return FormatRPM }

// FileName is nfpm's conventional name, with the architecture as rpm
// names it (aarch64, x86_64).
func (*rpmPackager) FileName(s *Spec) string {
	return rpm.DefaultRPM.ConventionalFileName(&nfpm.Info{Name: s.Name, Arch: goArch(s.Release.Arch), Version: s.RPMVersion(), Release: RPMRelease})
}

func (p *rpmPackager) Package(ctx context.Context, st *Staged, w io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	info, err := baseInfo(st, FormatRPM)
	if err != nil {
		return err
	}
	s := st.Spec
	rel := s.RPMRelations()
	info.Version, info.Release = s.RPMVersion(), RPMRelease
	info.Depends, info.Provides, info.Conflicts, info.Replaces = rel.Depends, rel.Provides, rel.Conflicts, rel.Replaces
	summary := fmt.Sprintf("klpack livepatch loader for Linux %s", s.Release.Kernel)
	if !s.IsLoader() {
		summary = fmt.Sprintf("Livepatch %s for Linux %s", s.Module.Record.Name, s.Release.Kernel)
	}
	info.RPM = nfpm.RPM{
		Scripts:   nfpm.RPMScripts{PostTrans: st.Scripts[FormatRPM].PostTrans},
		Summary:   summary,
		Group:     "System Environment/Kernel",
		BuildHost: "klpack",
		Packager:  s.Release.Maintainer,
		// Fast gzip: every rpm reads it, and a livepatch payload is small
		// enough that level 9 only costs time.
		Compression: "gzip:1",
	}
	if p.sign != nil {
		info.RPM.Signature.SignFn = p.sign
	}
	return packageErr(rpm.DefaultRPM.Package(info, w))
}

type debPackager struct{ sign SignFunc }

func (*debPackager) Format() string { return FormatDeb }

// FileName is nfpm's conventional name, with the architecture as dpkg
// names it (arm64, amd64).
func (*debPackager) FileName(s *Spec) string {
	return deb.Default.ConventionalFileName(&nfpm.Info{Name: s.Name, Arch: goArch(s.Release.Arch), Version: s.DebVersion()})
}

func (p *debPackager) Package(ctx context.Context, st *Staged, w io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	info, err := baseInfo(st, FormatDeb)
	if err != nil {
		return err
	}
	s := st.Spec
	rel := s.DebRelations()
	info.Version = s.DebVersion()
	info.Depends, info.Provides, info.Conflicts, info.Replaces = rel.Depends, rel.Provides, rel.Conflicts, rel.Replaces
	fields := s.DebFields()
	info.Deb = nfpm.Deb{Fields: maps.Collect(maps.All(fields)), Compression: "gzip:1",
		Triggers: nfpm.DebTriggers{InterestNoAwait: st.Triggers}}
	if p.sign != nil {
		info.Deb.Signature.SignFn = p.sign
		info.Deb.Signature.Type = "origin"
	}
	return packageErr(deb.Default.Package(info, w))
}

// packageErr turns nfpm's signing failure into ErrSign.
func packageErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrSign) {
		return err
	}
	if se, ok := errors.AsType[*nfpm.ErrSigningFailure](err); ok {
		return &SignError{Err: se.Err}
	}
	return err
}
