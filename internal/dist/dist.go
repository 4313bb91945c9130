// Package dist packages klpack itself as an rpm and a deb (make dist):
// the binary, its man pages and its shell completions. A fleet installs
// it where patch packages carry BPF hooks, which depend on it
// (pack.HostPackage).
package dist

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	"github.com/goreleaser/nfpm/v2/rpm"

	"github.com/klpack/klpack/internal/atomicfile"
	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/pkg/pack"
)

// Options are what one make dist run packages.
type Options struct {
	// Binary is the klpack to package, built for Arch; Build runs it to
	// print its shell completions.
	Binary string
	// ManDir holds the man pages (*.1) to install, gzipped.
	ManDir string
	// Version is the packages' version: digits first, then letters,
	// digits and . + ~ only, valid in both formats.
	Version string
	// Arch is the Go architecture of Binary: amd64 or arm64.
	Arch       string
	Maintainer string
	// MTime stamps every file, for packages that are the same bytes from
	// the same commit (SOURCE_DATE_EPOCH).
	MTime time.Time
	// Sign, when set, signs both packages.
	Sign pack.SignFunc
	// Output is the directory the packages are written into (created
	// when missing).
	Output string
}

// ErrBadOptions wraps what Build refuses before it writes anything.
var ErrBadOptions = errors.New("dist")

var versionRE = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`)

// maxManPage bounds a man page read into memory.
const maxManPage = 1 << 20

// Build writes klpack's rpm and deb into o.Output and returns their
// paths. A package is written to a temporary file and renamed, so a
// failed run leaves no partial package.
func Build(ctx context.Context, o Options) ([]string, error) {
	if !versionRE.MatchString(o.Version) {
		return nil, fmt.Errorf("%w: version %q: want digits first, then only letters, digits and . + ~", ErrBadOptions, o.Version)
	}
	if o.Arch != "amd64" && o.Arch != "arm64" {
		return nil, fmt.Errorf("%w: arch %q: want amd64 or arm64", ErrBadOptions, o.Arch)
	}
	if o.Maintainer == "" {
		return nil, fmt.Errorf("%w: no maintainer", ErrBadOptions)
	}
	// A control character would start a field of its own in the deb's
	// control file and the rpm's header text.
	if strings.ContainsFunc(o.Maintainer, unicode.IsControl) {
		return nil, fmt.Errorf("%w: maintainer %q: a control character", ErrBadOptions, o.Maintainer)
	}
	work, err := os.MkdirTemp("", "klpack-dist-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	contents, err := stage(ctx, o, work)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Output, 0o755); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	var out []string
	for _, p := range []struct {
		name string
		pkg  nfpm.Packager
	}{{pack.FormatRPM, rpm.DefaultRPM}, {pack.FormatDeb, deb.Default}} {
		info := o.info(contents, p.name)
		name := filepath.Join(o.Output, p.pkg.ConventionalFileName(info))
		err := atomicfile.Write(name, func(w io.Writer) error { return p.pkg.Package(info, w) })
		if err != nil {
			return out, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, name)
	}
	return out, nil
}

// shells are the completions klpack completion prints and where each
// format's shell looks for them (zsh: Debian's vendor directory, the
// site-functions of Fedora and SUSE).
var shells = []struct {
	shell, deb, rpm string
}{
	{"bash", "/usr/share/bash-completion/completions/klpack", "/usr/share/bash-completion/completions/klpack"},
	{"zsh", "/usr/share/zsh/vendor-completions/_klpack", "/usr/share/zsh/site-functions/_klpack"},
	{"fish", "/usr/share/fish/vendor_completions.d/klpack.fish", "/usr/share/fish/vendor_completions.d/klpack.fish"},
}

// stage writes the packages' generated files into work and returns what
// both packages install.
func stage(ctx context.Context, o Options, work string) (files.Contents, error) {
	st, err := os.Stat(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("%w: binary: %w", ErrBadOptions, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: binary %s: not a regular file", ErrBadOptions, o.Binary)
	}
	fi := func(mode os.FileMode) *files.ContentFileInfo {
		return &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: o.MTime}
	}
	c := files.Contents{{Source: o.Binary, Destination: "/usr/bin/klpack", FileInfo: fi(0o755)}}
	for _, sh := range shells {
		var script bytes.Buffer
		cmd := exec.CommandContext(ctx, o.Binary, "completion", sh.shell)
		cmd.Stdout, cmd.Stderr = &script, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("%s completion %s: %w", o.Binary, sh.shell, err)
		}
		src := filepath.Join(work, "completion."+sh.shell)
		if err := os.WriteFile(src, script.Bytes(), 0o644); err != nil {
			return nil, err
		}
		for _, f := range []struct{ format, dest string }{{pack.FormatDeb, sh.deb}, {pack.FormatRPM, sh.rpm}} {
			c = append(c, &files.Content{Source: src, Destination: f.dest, Packager: f.format, FileInfo: fi(0o644)})
		}
	}
	pages, err := filepath.Glob(filepath.Join(o.ManDir, "*.1"))
	if err != nil {
		return nil, err
	}
	if len(pages) == 0 {
		return nil, fmt.Errorf("%w: man pages: no *.1 in %s (make docs)", ErrBadOptions, o.ManDir)
	}
	slices.Sort(pages)
	for _, p := range pages {
		gz, err := gzipPage(p, filepath.Join(work, filepath.Base(p)+".gz"))
		if err != nil {
			return nil, err
		}
		c = append(c, &files.Content{Source: gz, Destination: "/usr/share/man/man1/" + filepath.Base(gz), FileInfo: fi(0o644)})
	}
	return c, nil
}

// gzipPage compresses a man page as gzip -9n does: no name, no time, so
// the same page is the same bytes.
func gzipPage(src, dst string) (string, error) {
	b, err := safeio.ReadFile(src, maxManPage)
	if err != nil {
		return "", fmt.Errorf("man page: %w", err)
	}
	if !bytes.HasPrefix(b, []byte(".")) && !bytes.HasPrefix(b, []byte("'")) {
		return "", fmt.Errorf("%w: man page %s: not roff (no request on its first line)", ErrBadOptions, src)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		return "", err
	}
	return dst, os.WriteFile(dst, buf.Bytes(), 0o644)
}

func (o Options) info(c files.Contents, format string) *nfpm.Info {
	info := &nfpm.Info{
		DisableGlobbing: true,
		Name:            pack.HostPackage,
		Arch:            o.Arch,
		Platform:        "linux",
		Version:         o.Version,
		VersionSchema:   "none",
		Maintainer:      o.Maintainer,
		Homepage:        "https://github.com/klpack/klpack",
		Section:         "admin",
		Priority:        "optional",
		Description: "Release engineering for Linux kernel livepatches\n" +
			"Scans built livepatch modules, checks them against what a kernel runs,\n" +
			"builds their BPF hooks, packages them, and on hosts attaches the hooks\n" +
			"and reports which patch runs each function (klpack status).",
		MTime: o.MTime,
		Overridables: nfpm.Overridables{
			Umask:    0o022,
			Contents: c,
		},
	}
	// What only a release machine runs: klpack hooks build calls clang
	// and llvm-strip, klpack release createrepo_c.
	if format == pack.FormatDeb {
		info.Suggests = []string{"clang", "llvm", "createrepo-c"}
		info.Deb = nfpm.Deb{Compression: "gzip"}
		if o.Sign != nil {
			info.Deb.Signature.SignFn, info.Deb.Signature.Type = o.Sign, "origin"
		}
	} else {
		info.Suggests = []string{"clang", "llvm", "createrepo_c"}
		info.Release = pack.RPMRelease
		info.RPM = nfpm.RPM{Summary: "Release engineering for Linux kernel livepatches", Group: "Development/Tools", BuildHost: "klpack", Packager: o.Maintainer, Compression: "gzip"}
		if o.Sign != nil {
			info.RPM.Signature.SignFn = o.Sign
		}
	}
	return nfpm.WithDefaults(info)
}
