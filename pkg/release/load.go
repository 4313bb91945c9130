package release

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/pack"
)

// Release is klpack.yaml loaded: every module scanned once, with what the
// file declares of it applied, and the files it names read. Every command
// that takes -f reads a release through Load, so check, plan, hooks build,
// package and release see the same modules.
type Release struct {
	Config *Config
	// File is klpack.yaml's path, Dir its directory: the root every
	// path in it is resolved in.
	File, Dir string
	// Pack holds the modules in the order klpack.yaml lists them (a glob
	// in name order) with their layers and the package metadata.
	Pack     *pack.Release
	Deployed *deploy.State
	Acks     []check.Ack
	FailOn   check.Severity
	// Ignored lists fields of the deployed state this klpack does not
	// know (a newer writer's), for a warning.
	Ignored []string
}

// Load reads klpack.yaml at file and everything it names.
func Load(ctx context.Context, file string) (*Release, error) {
	data, err := safeio.ReadFile(file, MaxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w: %w", file, ErrBadConfig, err)
	}
	c, err := ParseConfig(data, file)
	if err != nil {
		return nil, err
	}
	r := &Release{Config: c, File: file, Dir: filepath.Dir(file), FailOn: check.Error}
	if err := r.load(ctx); err != nil {
		return nil, fmt.Errorf("file %s: %w", file, err)
	}
	return r, nil
}

func (r *Release) load(ctx context.Context) error {
	c := r.Config
	root, err := os.OpenRoot(r.Dir)
	if err != nil {
		return err
	}
	defer root.Close()
	if c.FailOn != "" {
		r.FailOn, _ = check.ParseSeverity(c.FailOn) // checked by ParseConfig
	}
	p := c.Package
	r.Pack = &pack.Release{Kernel: c.Kernel, Version: c.Version, KernelRPM: p.KernelRPM, KernelDeb: p.KernelDeb,
		Prefix: p.Prefix, Maintainer: p.Maintainer, Vendor: p.Vendor,
		Description: p.Description, License: p.License, Homepage: p.Homepage}
	scan := func(path string, hookPoints []string) (*klp.Module, error) {
		return elfscan.Open(path, &elfscan.Options{Hooks: hookPoints})
	}
	for i, mc := range c.Modules {
		files, err := fs.Glob(root.FS(), mc.Path)
		if err != nil {
			return fmt.Errorf("%w: modules[%d].path: %v", ErrBadConfig, i, err)
		}
		if len(files) == 0 {
			return fmt.Errorf("%w: modules[%d].path: %s matches no file", ErrBadConfig, i, mc.Path)
		}
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return err
			}
			m, err := pack.ReadModule(root, r.Dir, mc.spec(f), scan)
			if err != nil {
				return fmt.Errorf("modules[%d]: %w", i, err)
			}
			r.Pack.Modules = append(r.Pack.Modules, m)
		}
	}
	if c.Target != "" {
		if r.Pack.Target, err = elfscan.ReadTarget(ctx, r.Path(c.Target), klp.PatchedModules(r.Candidates())); err != nil {
			return fmt.Errorf("target: %w", err)
		}
	}
	if err := r.Pack.Validate(); err != nil {
		return err
	}
	if c.Deployed != "" {
		path, err := inside(root, r.Dir, c.Deployed)
		if err != nil {
			return fmt.Errorf("deployed: %w", err)
		}
		if r.Deployed, err = deploy.ReadState(path); err != nil {
			return fmt.Errorf("deployed: %w", err)
		}
		r.Ignored = r.Deployed.Ignored
	}
	if f := c.Fleet; f != nil {
		// Read later (check -f, the check stage), but refused here as
		// deployed: is when a link leads out of klpack.yaml's directory.
		if _, err := inside(root, r.Dir, f.Inventory); err != nil {
			return fmt.Errorf("fleet.inventory: %w", err)
		}
		if _, err := inside(root, r.Dir, f.Manifests); err != nil {
			return fmt.Errorf("fleet.manifests: %w", err)
		}
	}
	if c.Acks != "" {
		path, err := inside(root, r.Dir, c.Acks)
		if err != nil {
			return fmt.Errorf("acks: %w", err)
		}
		if r.Acks, err = check.ReadAcks(path); err != nil {
			return fmt.Errorf("acks: %w", err)
		}
	}
	return nil
}

// inside is the path of name in root when it resolves there, symbolic
// links included.
func inside(root *os.Root, dir, name string) (string, error) {
	if _, err := root.Stat(name); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return "", fmt.Errorf("%s: %w", name, pe.Err)
		}
		return "", err
	}
	return filepath.Join(dir, filepath.FromSlash(name)), nil
}

// Path resolves a path klpack.yaml names (an output directory, a key)
// against its directory; an absolute one (a key given on the command
// line) stays as it is.
func (r *Release) Path(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(r.Dir, filepath.FromSlash(name))
}

// CheckInput is the check of the release's modules, in the order given,
// against its deployed state, each with its layer.
func (r *Release) CheckInput(cands []*klp.Module) *check.Input {
	in := &check.Input{Deployed: r.Deployed, DeployedPath: r.Config.Deployed, Model: r.Config.KernelModel,
		Acks: r.Acks, Candidates: cands, Layers: map[string]string{}, Target: r.Pack.Target}
	if r.Config.Deployed != "" {
		in.DeployedPath = r.Path(r.Config.Deployed)
	}
	for _, m := range r.Pack.Modules {
		in.Layers[m.Record.Name] = m.Layer
	}
	return in
}

// Candidates are the scan records of the release's modules, in the order
// klpack.yaml lists them.
func (r *Release) Candidates() []*klp.Module {
	out := make([]*klp.Module, len(r.Pack.Modules))
	for i, m := range r.Pack.Modules {
		out[i] = m.Record
	}
	return out
}
