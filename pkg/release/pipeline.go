package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klpack/klpack/internal/atomicfile"
	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/fleet"
	"github.com/klpack/klpack/pkg/order"
	"github.com/klpack/klpack/pkg/pack"
)

// DefaultOutput is the output directory when klpack.yaml names none.
const DefaultOutput = "dist"

// Options tune a pipeline run.
type Options struct {
	// Snapshot skips every signature, for a local trial: the output is
	// marked as a snapshot.
	Snapshot bool
	// MTime stamps every package (SOURCE_DATE_EPOCH).
	MTime time.Time
	// Output overrides klpack.yaml's output directory.
	Output string
	// PackageKey overrides sign.packages with an OpenPGP secret key file,
	// ModuleKey and ModuleCert sign.modules: keys often live where the
	// release's sources do not (a CI secret).
	PackageKey, ModuleKey, ModuleCert string
	// Log gets one line per stage; nil discards them.
	Log io.Writer
}

// Stage is one step of the pipeline, with one job.
type Stage struct {
	Name string
	// Skip says why the stage has nothing to do for this release, or "".
	Skip func(*Run) string
	Run  func(context.Context, *Run) (string, error)
}

// StageError is a stage that failed; the output directory is as it was.
type StageError struct {
	Stage string
	Err   error
	// Stages are the stages run or skipped before, and this one, failed.
	Stages []StageResult
	// Release is the release read, nil when the scan stage failed.
	Release *Release
	// Fleet is the fleet check when the check stage ran it (the stage
	// failed on it, or a later one failed).
	Fleet *fleet.Report
}

func (e *StageError) Error() string { return "stage " + e.Stage + ": " + e.Err.Error() }
func (e *StageError) Unwrap() error { return e.Err }

// Run is one pipeline run over a release: what the stages hand on.
type Run struct {
	Release *Release
	Opts    Options
	// Tree is the staging tree: the new output directory's files.
	Tree   string
	Report *check.Report
	// Fleet is the check of klpack.yaml's fleet: nil without one, or
	// before the check stage ran it.
	Fleet *fleet.Report
	Plan  *order.Plan
	// Committed lists the files moved into the output directory, in the
	// order they were moved.
	Committed []string
	// Stages are what each stage did, in order.
	Stages []StageResult
	// Output is the output directory.
	Output  string
	staging *atomicfile.Staging
	// work is private scratch space inside the staging directory.
	work      string
	signer    *signer
	artifacts []pack.Artifact
}

// Stages are the pipeline's stages, in order.
func Stages() []Stage {
	return []Stage{checkStage, planStage, hooksStage, modsignStage, packagesStage, reposStage, checksumsStage}
}

// Execute loads klpack.yaml (the scan stage) and runs every stage over
// it, then moves the new files into the output directory. A failing stage
// stops the run with a *StageError, leaving the output directory as it
// was.
func Execute(ctx context.Context, file string, o Options) (*Run, error) {
	logf := func(stage, format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, "%-10s %s\n", stage, fmt.Sprintf(format, args...))
		}
	}
	var stages []StageResult
	var r *Release
	// failed is the error of stage, with what ran before it.
	failed := func(stage string, err error) *StageError {
		return &StageError{Stage: stage, Err: err, Release: r,
			Stages: append(stages, StageResult{Name: stage, Status: StageFailed, Error: err.Error()})}
	}
	r, err := Load(ctx, file)
	if err != nil {
		return nil, failed("scan", err)
	}
	stages = append(stages, StageResult{Name: "scan", Status: StageRan, Summary: describeModules(r)})
	logf("scan", "%s", describeModules(r))
	if err := r.overrideKeys(o); err != nil {
		return nil, failed("sign", err)
	}
	run := &Run{Release: r, Opts: o}
	if run.signer, err = newSigner(ctx, r, o); err != nil {
		return nil, failed("sign", err)
	}
	out := r.OutputDir()
	if o.Output != "" {
		out = o.Output
	}
	run.Output = out
	_, statErr := os.Lstat(out)
	created := errors.Is(statErr, fs.ErrNotExist)
	if run.staging, err = atomicfile.Stage(out); err != nil {
		return nil, failed("output", err)
	}
	fail := func(stage string, err error) (*Run, error) {
		run.staging.Close()
		if created {
			os.Remove(out) // only when empty: nothing else was there
		}
		se := failed(stage, err)
		se.Fleet = run.Fleet
		return nil, se
	}
	if run.Tree, err = run.staging.TreeDir(); err != nil {
		return fail("output", err)
	}
	run.work = filepath.Join(run.staging.Dir(), "work")
	if err := os.Mkdir(run.work, 0o700); err != nil {
		return fail("output", err)
	}
	for _, s := range Stages() {
		if err := ctx.Err(); err != nil {
			return fail(s.Name, err)
		}
		if why := s.Skip(run); why != "" {
			stages = append(stages, StageResult{Name: s.Name, Status: StageSkipped, Reason: why})
			logf(s.Name, "skipped: %s", why)
			continue
		}
		msg, err := s.Run(ctx, run)
		if err != nil {
			return fail(s.Name, err)
		}
		stages = append(stages, StageResult{Name: s.Name, Status: StageRan, Summary: msg})
		logf(s.Name, "%s", msg)
	}
	os.RemoveAll(run.work)
	if run.Committed, err = run.staging.CommitTree(atomicfile.TreeOptions{
		Last:  []string{"deb/dists", "rpm/repodata", "SHA256SUMS", "SHA256SUMS.asc"},
		Prune: []string{"deb/dists", "rpm/repodata"},
	}); err != nil {
		return fail("output", err)
	}
	run.Stages = stages
	logf("release", "%s for %s in %s", r.Config.Version, r.Config.Kernel, out)
	return run, nil
}

// overrideKeys applies the keys Options give, as absolute paths.
func (r *Release) overrideKeys(o Options) error {
	s := &r.Config.Sign
	if o.PackageKey != "" {
		k, err := filepath.Abs(o.PackageKey)
		if err != nil {
			return err
		}
		if s.Packages == nil {
			s.Packages = &PackageSignConfig{}
		}
		s.Packages.Key, s.Packages.Command = k, ""
	}
	if (o.ModuleKey == "") != (o.ModuleCert == "") {
		return errors.New("a module key and its certificate go together")
	}
	if o.ModuleKey != "" {
		k, err := filepath.Abs(o.ModuleKey)
		if err != nil {
			return err
		}
		c, err := filepath.Abs(o.ModuleCert)
		if err != nil {
			return err
		}
		if s.Modules == nil {
			s.Modules = &ModuleSignConfig{}
		}
		s.Modules.Key, s.Modules.Cert = k, c
	}
	return nil
}

// OutputDir is the directory the release writes: klpack.yaml's output,
// else dist, relative to the current directory as goreleaser's is.
func (r *Release) OutputDir() string {
	if r.Config.Output == "" {
		return DefaultOutput
	}
	return r.Config.Output
}

func describeModules(r *Release) string {
	var parts []string
	for _, m := range r.Pack.Modules {
		parts = append(parts, m.Record.Name+" ("+m.Layer+")")
	}
	return fmt.Sprintf("%d modules for %s: %s", len(parts), r.Config.Kernel, strings.Join(parts, ", "))
}

func never(*Run) string { return "" }
