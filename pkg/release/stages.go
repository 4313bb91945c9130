package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/klpack/klpack/build"
	"github.com/klpack/klpack/internal/atomicfile"
	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/modsign"
	"github.com/klpack/klpack/pkg/order"
	"github.com/klpack/klpack/pkg/pack"
)

// checkStage is the gate: the modules against the deployed state. Findings
// of the order listed that the plan avoids (another order, a disable
// first) do not stop the release: the plan stage says how; findings no
// plan avoids do.
//
// With klpack.yaml's fleet:, the modules are also checked against every
// combination the fleet runs: a combination whose worst finding reaches
// fail_on, or a host whose packages do not resolve, stops the release.
var checkStage = Stage{Name: "check", Skip: never, Run: func(ctx context.Context, run *Run) (string, error) {
	summary, err := checkDeployed(run)
	if err != nil {
		return "", err
	}
	r := run.Release
	if r.Config.Fleet == nil {
		return summary, nil
	}
	rep, err := r.CheckFleet(ctx)
	if err != nil {
		return "", err
	}
	run.Fleet = rep
	if rep.Failed() {
		return "", fmt.Errorf("%s; %w", summary, fleetRefusal(r.Config.Fleet.Inventory, rep, r.FailOn))
	}
	return fmt.Sprintf("%s\n%-10s %s", summary, "", fleetLine(r.Config.Fleet.Inventory, rep)), nil
}}

// checkDeployed is the check against deployed: (an empty kernel when
// none), the check stage's line, or why no order or plan passes.
func checkDeployed(run *Run) (string, error) {
	r := run.Release
	rep, err := check.Check(r.CheckInput(r.Candidates()))
	if err != nil {
		return "", err
	}
	run.Report = rep
	counts := map[check.Severity]int{}
	for _, f := range rep.Findings {
		if !f.Acknowledged {
			counts[f.Severity]++
		}
	}
	summary := fmt.Sprintf("%s on the %s kernel model", check.Counts(counts[check.Error], counts[check.Warning], counts[check.Info]), rep.KernelModel)
	if !rep.Failed(r.FailOn) {
		return summary, nil
	}
	p, err := order.Make(r.CheckInput(r.Candidates()), r.FailOn)
	if err != nil {
		return "", err
	}
	if p.OK {
		return summary + " in the order listed; the plan avoids those at or above " + r.FailOn.String(), nil
	}
	var blocking []string
	for _, f := range p.Findings {
		blocking = append(blocking, fmt.Sprintf("%s %s %s: %s", f.Rule, f.Severity, strings.Join(f.Patches, ","), f.Message))
	}
	return "", fmt.Errorf("%s; no order or plan avoids these, at or above %s:\n  %s", summary, r.FailOn, strings.Join(blocking, "\n  "))
}

// planStage orders the modules by the best plan and writes it into the
// release as plans/<kernel>_<version>.plan.json (releases of other kernels
// and versions share the output directory); the packages carry it.
var planStage = Stage{Name: "plan", Skip: never, Run: func(_ context.Context, run *Run) (string, error) {
	p, err := run.Release.Order()
	if err != nil {
		return "", err
	}
	run.Plan = p
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return "", err
	}
	if err := run.publish(run.Release.PlanFile(), append(b, '\n')); err != nil {
		return "", err
	}
	steps := make([]string, len(p.Steps))
	for i, st := range p.Steps {
		steps[i] = st.Action + " " + st.Name
	}
	msg := fmt.Sprintf("%d steps: %s", len(p.Steps), strings.Join(steps, ", "))
	// What the kernel makes of going back is said before anything ships.
	for _, n := range p.WayBack {
		msg += fmt.Sprintf("\n%-10s way back: %s", "", n)
	}
	return msg, nil
}}

// Order plans the release against its deployed state and puts the
// modules in the plan's order; the packages carry the plan.
func (r *Release) Order() (*order.Plan, error) {
	p, err := order.Make(r.CheckInput(r.Candidates()), r.FailOn)
	if err != nil {
		return nil, err
	}
	if !p.OK {
		return nil, fmt.Errorf("no order of the modules passes the check")
	}
	loads := p.Loads()
	if len(loads) != len(r.Pack.Modules) {
		return nil, fmt.Errorf("the plan loads %d modules, the release has %d", len(loads), len(r.Pack.Modules))
	}
	slices.SortStableFunc(r.Pack.Modules, func(a, b *pack.Module) int {
		return slices.Index(loads, a.Record.Name) - slices.Index(loads, b.Record.Name)
	})
	r.Pack.Plan = p
	return p, nil
}

// PlanFile is where the release's plan goes in the output directory.
func (r *Release) PlanFile() string {
	return "plans/" + r.Config.Kernel + "_" + r.Config.Version + ".plan.json"
}

// hooksStage builds a BPF object for every hook point of a module that
// ships none prebuilt.
var hooksStage = Stage{
	Name: "hooks",
	Skip: func(run *Run) string {
		if len(run.hookModules()) == 0 {
			return "no module declares a hook point without a prebuilt object"
		}
		return ""
	},
	Run: func(ctx context.Context, run *Run) (string, error) {
		mods := run.hookModules()
		recs := make([]*klp.Module, len(mods))
		for i, m := range mods {
			recs[i] = m.Record
		}
		objs, err := build.Build(ctx, recs, nil)
		if err != nil {
			return "", err
		}
		var names []string
		for _, o := range objs {
			i := slices.IndexFunc(mods, func(m *pack.Module) bool { return m.Record.Name == o.Module })
			m := mods[i]
			p := filepath.Join(run.work, "hooks", o.Module, o.Hook.Func+".bpf.o")
			if err := writeFile(p, o.ELF); err != nil {
				return "", err
			}
			sum := sha256.Sum256(o.ELF)
			if m.HookSHA256 == nil {
				m.HookSHA256 = map[string]string{}
			}
			m.Hooks = append(m.Hooks, p)
			m.HookSHA256[p] = hex.EncodeToString(sum[:])
			names = append(names, o.Name())
		}
		return fmt.Sprintf("%d built and validated: %s", len(objs), strings.Join(names, ", ")), nil
	},
}

// hookModules are the modules with hook points and no prebuilt hooks.
func (run *Run) hookModules() []*pack.Module {
	var out []*pack.Module
	for _, m := range run.Release.Pack.Modules {
		if len(m.Hooks) > 0 {
			continue
		}
		if slices.ContainsFunc(m.Record.Patches, func(p *klp.Patch) bool { return len(p.Hooks) > 0 }) {
			out = append(out, m)
		}
	}
	return out
}

// maxModule bounds a module the signing stage reads, as elfscan bounds
// what it scans.
const maxModule = 1 << 30

// modsignStage signs every module with the kernel module signing key, as
// sign-file does; the packages carry the signed copies.
var modsignStage = Stage{
	Name: "modsign",
	Skip: func(run *Run) string {
		switch {
		case run.Opts.Snapshot:
			return "--snapshot"
		case run.Release.Config.Sign.Modules == nil:
			return "sign.modules is not set: modules ship as built"
		}
		return ""
	},
	Run: func(_ context.Context, run *Run) (string, error) {
		r, sc := run.Release, run.Release.Config.Sign.Modules
		pass, err := pack.ReadPassphrase(sc.PassphraseEnv, "")
		if err != nil {
			return "", err
		}
		key, err := modsign.LoadKey(r.Path(sc.Key), pass)
		clear(pass)
		if err != nil {
			return "", err
		}
		cert, err := modsign.LoadCert(r.Path(sc.Cert))
		if err != nil {
			return "", err
		}
		for _, m := range r.Pack.Modules {
			if filepath.Ext(m.File) != ".ko" {
				return "", fmt.Errorf("module %s: signing needs an uncompressed .ko (the kernel checks the signature of the decompressed module)", m.File)
			}
			b, err := safeio.ReadFile(m.File, maxModule)
			if err != nil {
				return "", err
			}
			if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != m.Record.SHA256 {
				return "", fmt.Errorf("module %s: changed since it was scanned", m.File)
			}
			var signed bytes.Buffer
			if err := modsign.Append(&signed, b, cert, key, modsign.Options{Hash: sc.Hash}); err != nil {
				return "", fmt.Errorf("module %s: %w", m.File, err)
			}
			sig, _, err := modsign.Parse(signed.Bytes())
			if err != nil {
				return "", fmt.Errorf("module %s: the signature made does not parse: %w", m.File, err)
			}
			p := filepath.Join(run.work, "modules", filepath.Base(m.File))
			if err := writeFile(p, signed.Bytes()); err != nil {
				return "", err
			}
			sum := sha256.Sum256(signed.Bytes())
			rec := *m.Record
			rec.SHA256, rec.Signature = hex.EncodeToString(sum[:]), sig
			m.Record, m.File = &rec, p
		}
		return fmt.Sprintf("%d modules signed by %s", len(r.Pack.Modules), cert.Subject.CommonName), nil
	},
}

// packagesStage builds the rpm and deb packages into the repositories'
// places: rpm/ and the apt pool.
var packagesStage = Stage{Name: "packages", Skip: never, Run: func(ctx context.Context, run *Run) (string, error) {
	r := run.Release
	r.Pack.MTime = run.Opts.MTime
	o := pack.Options{Formats: r.Config.Package.Formats, Timeout: r.Config.Package.Timeout}
	hostNote := ""
	if r.Pack.HasHooks() {
		// The loader attaches the hooks with klpack: the packages with
		// hooks depend on the klpack package, unless klpack.yaml pins a
		// binary for the loader package to ship.
		hostNote = "; the packages with hooks depend on " + pack.HostPackage
		if bin := r.Config.Package.HostBinary; bin != "" {
			if err := r.Pack.SetHostBinary(r.Path(bin)); err != nil {
				return "", fmt.Errorf("%w (set package.host_binary to a klpack built for the hosts: make host)", err)
			}
			hostNote = "; the loader package ships " + bin + " for the hooks"
		}
	}
	if !run.Opts.Snapshot {
		o.Sign = run.signer.detach
	}
	arts, err := pack.Build(ctx, r.Pack, filepath.Join(run.work, "packages"), o)
	if err != nil {
		return "", err
	}
	count := 0
	for _, a := range arts {
		var dest string
		switch a.Format {
		case pack.FormatRPM:
			dest = "rpm/" + filepath.Base(a.Path)
			count++
		case pack.FormatDeb:
			dest = debPool(run.component(), a.Package) + filepath.Base(a.Path)
			count++
		default:
			dest = "manifests/" + filepath.Base(a.Path)
		}
		if err := run.move(a.Path, dest); err != nil {
			return "", err
		}
		run.artifacts = append(run.artifacts, pack.Artifact{Format: a.Format, Package: a.Package, Path: dest})
	}
	return fmt.Sprintf("%d packages", count) + signedNote(run) + hostNote, nil
}}

// debPool is where a package's debs go in the apt repository, as Debian
// lays out its pools: pool/<component>/<initial>/<package>/.
func debPool(component, pkg string) string {
	initial := pkg[:1]
	if strings.HasPrefix(pkg, "lib") && len(pkg) > 3 {
		initial = pkg[:4]
	}
	return "deb/pool/" + component + "/" + initial + "/" + pkg + "/"
}

func (run *Run) component() string {
	if c := run.Release.Config.Repository.Component; c != "" {
		return c
	}
	return "main"
}

// publish writes a file of the release into the tree.
func (run *Run) publish(name string, data []byte) error {
	return writeFile(filepath.Join(run.Tree, filepath.FromSlash(name)), data)
}

// move moves a built file into the tree at name.
func (run *Run) move(from, name string) error {
	to := filepath.Join(run.Tree, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.Rename(from, to)
}

func writeFile(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(p, func(w io.Writer) error { _, err := w.Write(data); return err })
}
