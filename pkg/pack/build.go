package pack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/klpack/klpack/internal/atomicfile"
	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/templates"
)

// StagedFile is one file a package installs.
type StagedFile struct {
	Source string // on disk
	Dest   string // installed path
	Mode   fs.FileMode
}

// Staged is a spec with its generated files written to a private
// temporary directory, ready for any packager.
type Staged struct {
	Spec     *Spec
	Manifest *Manifest // nil for the loader package
	Files    []StagedFile
	// Scripts holds each format's scripts, as files.
	Scripts map[string]Scripts
	// Triggers are the directories whose changes the deb's postinst is
	// run for, once per dpkg run ("triggered"; interest-noawait).
	Triggers []string
}

// Scripts are the paths of one format's package scripts; empty: none.
type Scripts struct {
	PostInstall, PreRemove, PostRemove, PostTrans string
}

// Stage copies the module and its hooks into dir, each checked against
// the hash taken when it was scanned or validated, so that the packages
// carry exactly those bytes whatever happens to the release directory
// meanwhile; and renders the order file, scripts and manifest of s there.
// A patch package carries no loader: its rpm scripts only ask the loader
// package's loader to run once per transaction (mark, trigger), and its
// deb has none (its files activate the loader package's file trigger).
// For the loader package (s.IsLoader) it renders the loader, its unit
// and their scripts.
func Stage(s *Spec, dir string, timeout int) (*Staged, error) {
	if s.IsLoader() {
		return stageLoader(s, dir, timeout)
	}
	r, m := s.Release, s.Module
	st := &Staged{Spec: s, Scripts: map[string]Scripts{}}
	pkgDir := s.Dir()
	koDest := pkgDir + "/" + m.Record.Name + koSuffix(m.File)
	manifestDest := pkgDir + "/manifest.json"
	ko, err := copyChecked(m.File, filepath.Join(dir, "module"), m.Record.SHA256)
	if err != nil {
		return nil, err
	}
	st.Files = append(st.Files, StagedFile{Source: ko, Dest: koDest, Mode: 0o644})
	for i, h := range m.Hooks {
		c, err := copyChecked(h, filepath.Join(dir, "hook-"+strconv.Itoa(i)), m.HookSHA256[h])
		if err != nil {
			return nil, err
		}
		st.Files = append(st.Files, StagedFile{Source: c, Dest: pkgDir + "/hooks/" + filepath.Base(h), Mode: 0o644})
	}
	gen := generator(st, dir)
	order := fmt.Sprintf("%d %s %s %s\n", s.LoadOrder, m.Record.Name, m.Layer, koDest)
	if err := gen("order", 0o644, pkgDir+"/order", []byte(order), nil); err != nil {
		return nil, err
	}
	// Every package of the release carries the same plan file: whichever
	// the package manager leaves installed, the loader finds the plan.
	if plan, err := PlanFile(r); err != nil || plan != nil {
		if err := gen("plan", 0o644, pkgDir+"/plan", plan, err); err != nil {
			return nil, err
		}
	}
	// The loader reads the pin from this file, not the manifest: a line
	// a shell reads, checked as it is read.
	if r.Target != nil {
		if err := gen("target", 0o644, pkgDir+"/target", TargetFile(r.Target), nil); err != nil {
			return nil, err
		}
	}
	d := templates.ScriptData{Format: FormatRPM, Package: s.Name, Kernel: r.Kernel, Unit: s.Unit(), Loader: LoaderPath(r.Kernel)}
	p, err := renderScripts(gen, dir, d, templates.PatchPostInstall, templates.PatchPostTrans, templates.PatchPostRemove)
	if err != nil {
		return nil, err
	}
	st.Scripts[FormatRPM] = Scripts{PostInstall: p[0], PostTrans: p[1], PostRemove: p[2]}
	man, err := s.manifest(st.Files, koDest)
	if err != nil {
		return nil, err
	}
	st.Manifest = man
	var mb bytes.Buffer
	if err := man.WriteJSON(&mb); err != nil {
		return nil, err
	}
	if err := gen("manifest.json", 0o644, manifestDest, mb.Bytes(), nil); err != nil {
		return nil, err
	}
	return st, nil
}

// stageLoader renders the loader package: the loader, its unit, and the
// scripts that run the loader once per transaction.
func stageLoader(s *Spec, dir string, timeout int) (*Staged, error) {
	r := s.Release
	st := &Staged{Spec: s, Scripts: map[string]Scripts{}, Triggers: []string{LibDir + "/" + r.Kernel}}
	gen := generator(st, dir)
	loaderDest := LoaderPath(r.Kernel)
	ld := templates.LoaderData{Kernel: r.Kernel, LibDir: LibDir, Timeout: timeout}
	// The hooks need klpack on the host: the package brings its own,
	// checked against the hash taken when the release was validated.
	if r.HostBinary != "" && r.HasHooks() {
		bin, err := copyChecked(r.HostBinary, filepath.Join(dir, "klpack"), r.HostBinarySHA256)
		if err != nil {
			return nil, err
		}
		ld.Klpack = HostBinaryPath(r.Kernel)
		st.Files = append(st.Files, StagedFile{Source: bin, Dest: ld.Klpack, Mode: 0o755})
	}
	loader, err := templates.Loader(ld)
	if err := gen("klpack-load", 0o755, loaderDest, loader, err); err != nil {
		return nil, err
	}
	unit, err := templates.Unit(templates.UnitData{Kernel: r.Kernel, Package: s.Name, Loader: loaderDest, Doc: loaderDest, Timeout: timeout, Patches: len(r.Modules)})
	if err := gen("unit", 0o644, UnitDir+"/"+s.Unit(), unit, err); err != nil {
		return nil, err
	}
	d := templates.ScriptData{Format: FormatRPM, Package: s.Name, Kernel: r.Kernel, Unit: s.Unit(), Loader: loaderDest}
	p, err := renderScripts(gen, dir, d, templates.LoaderPostInstall, templates.LoaderPostTrans, templates.LoaderPreRemove)
	if err != nil {
		return nil, err
	}
	st.Scripts[FormatRPM] = Scripts{PostInstall: p[0], PostTrans: p[1], PreRemove: p[2]}
	d.Format = FormatDeb
	if p, err = renderScripts(gen, dir, d, templates.LoaderPostInstall, templates.LoaderPreRemove); err != nil {
		return nil, err
	}
	st.Scripts[FormatDeb] = Scripts{PostInstall: p[0], PreRemove: p[1]}
	return st, nil
}

type genFunc func(name string, mode fs.FileMode, dest string, b []byte, err error) error

// generator returns a func that writes a generated file into dir and,
// when dest is set, adds it to what st installs.
func generator(st *Staged, dir string) genFunc {
	return func(name string, mode fs.FileMode, dest string, b []byte, err error) error {
		if err != nil {
			return err
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return err
		}
		if dest != "" {
			st.Files = append(st.Files, StagedFile{Source: p, Dest: dest, Mode: mode})
		}
		return nil
	}
}

// renderScripts renders the named script templates and returns their paths.
func renderScripts(gen genFunc, dir string, d templates.ScriptData, names ...string) ([]string, error) {
	var out []string
	for _, n := range names {
		b, err := templates.Script(n, d)
		file := d.Format + "-" + n
		if err := gen(file, 0, "", b, err); err != nil {
			return nil, err
		}
		out = append(out, filepath.Join(dir, file))
	}
	return out, nil
}

// koSuffix keeps a compressed module's extension (.ko.xz), which kmod's
// insmod reads.
func koSuffix(file string) string {
	for _, s := range []string{".ko.xz", ".ko.zst", ".ko.gz"} {
		if len(file) > len(s) && file[len(file)-len(s):] == s {
			return s
		}
	}
	return ".ko"
}

func (s *Spec) manifest(staged []StagedFile, koDest string) (*Manifest, error) {
	r := s.Release
	rec := *s.Module.Record
	rec.Path = koDest
	man := &Manifest{
		Schema:    ManifestSchema,
		Package:   ManifestPackage{Name: s.Name, Version: r.Version, RPMVersion: s.RPMEVR(), DebVersion: s.DebVersion()},
		Kernel:    r.Kernel,
		Layer:     s.Module.Layer,
		LoadOrder: s.LoadOrder,
		Module:    &rec,
		Plan:      r.Plan,
		Target:    r.Target,
	}
	for _, o := range r.Specs() {
		man.Release = append(man.Release, ReleaseEntry{LoadOrder: o.LoadOrder, Module: o.Module.Record.Name, Layer: o.Module.Layer, Package: o.Name})
	}
	for _, f := range staged {
		sum, n, err := safeio.SHA256(f.Source)
		if err != nil {
			return nil, err
		}
		man.Files = append(man.Files, ManifestFile{Path: f.Dest, SHA256: sum, Size: n, Mode: "0" + strconv.FormatUint(uint64(f.Mode.Perm()), 8)})
	}
	return man, nil
}

// copyChecked copies the regular file from to to, and refuses it unless
// its SHA-256 is sum (hex; empty when the scan had none to give).
func copyChecked(from, to, sum string) (string, error) {
	in, _, err := safeio.Open(from)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadRelease, err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), io.LimitReader(in, maxStaged+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", from, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); sum != "" && got != sum {
		return "", fmt.Errorf("%w: %s changed since it was scanned (sha256 %s, scanned %s)", ErrBadRelease, from, got, sum)
	}
	return to, nil
}

// maxStaged bounds a copied file; the hash check refuses one cut short.
const maxStaged = 1 << 30

// Options control Build.
type Options struct {
	// Formats to build; empty means rpm and deb.
	Formats []string
	// Sign signs every package when not nil.
	Sign SignFunc
	// Timeout is the loader's wait per transition in seconds, at most
	// MaxTimeout; 0 means templates.DefaultTimeout.
	Timeout int
	Logger  *slog.Logger
}

// MaxTimeout bounds Options.Timeout (templates.CheckTimeout).
const MaxTimeout = templates.MaxTimeout

// MaxMTime is the latest time a package can carry: rpm stores times
// (build time, file times) in 32 bits, cpio in 8 hex digits.
const MaxMTime = 1<<32 - 1

// CheckMTime refuses a time a package cannot store.
func CheckMTime(t time.Time) error {
	if n := t.Unix(); n < 0 || n > MaxMTime {
		return fmt.Errorf("time %d is out of range: packages store 32-bit times, 0 to %d", n, int64(MaxMTime))
	}
	return nil
}

// Artifact is one file Build wrote.
type Artifact struct {
	Format  string // rpm, deb, or manifest (patch packages only)
	Package string
	Path    string
}

// Build writes every package of the release, the kernel's loader package
// (LoaderSpec) and each patch package's manifest as
// <package>_<version>.manifest.json, into outDir, which it creates
// when missing. Everything is built in a staging directory inside outDir
// and moved into place only when all of it is built and every signature
// verified: a failed or cancelled build leaves outDir as it was, and a
// killed one leaves only its staging directory, which the next build
// removes (atomicfile.Staging).
func Build(ctx context.Context, r *Release, outDir string, o Options) ([]Artifact, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if err := CheckMTime(r.MTime); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRelease, err)
	}
	if err := templates.CheckTimeout(o.Timeout); err != nil {
		return nil, fmt.Errorf("loader %w", err)
	}
	packagers, err := New(o.Formats, o.Sign)
	if err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stg, err := atomicfile.Stage(outDir)
	if err != nil {
		return nil, err
	}
	defer stg.Close()
	var arts []Artifact
	// The patch packages, then the loader package they depend on.
	specs := append(r.Specs(), r.LoaderSpec())
	for i, s := range specs {
		// The generated files go in the staging directory too: nothing in
		// /tmp, and nothing a killed build leaves that the next does not
		// remove.
		dir := filepath.Join(stg.Dir(), "src-"+strconv.Itoa(i))
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, err
		}
		st, err := Stage(s, dir, o.Timeout)
		if err != nil {
			return nil, fmt.Errorf("package %s: %w", s.Name, err)
		}
		// The formats share nothing once staged: build them side by side.
		formats := []string{FormatRPM, FormatDeb}
		names := make([]string, len(formats))
		errs := make([]error, len(formats))
		var wg sync.WaitGroup
		for k, f := range formats {
			p, ok := packagers[f]
			if !ok {
				continue
			}
			names[k] = p.FileName(s)
			wg.Go(func() {
				errs[k] = stg.Write(names[k], func(w io.Writer) error { return p.Package(ctx, st, w) })
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		for k, f := range formats {
			if names[k] != "" {
				arts = append(arts, Artifact{Format: f, Package: s.Name, Path: stg.Path(names[k])})
			}
		}
		if st.Manifest == nil {
			continue
		}
		mn := s.Name + "_" + s.DebVersion() + ".manifest.json"
		if err := stg.Write(mn, st.Manifest.WriteJSON); err != nil {
			return nil, err
		}
		arts = append(arts, Artifact{Format: "manifest", Package: s.Name, Path: stg.Path(mn)})
	}
	if err := stg.Commit(); err != nil {
		return nil, err
	}
	for _, a := range arts {
		log.Info("package", "format", a.Format, "path", a.Path)
	}
	return arts, nil
}
