//go:build !klpack_host

package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/release"
)

// DefaultConfig is the release file -f defaults to.
const defaultConfig = "klpack.yaml"

func newReleaseCmd() *cobra.Command {
	var file string
	var snapshot, asJSON bool
	var output string
	var keys release.Options
	cmd := &cobra.Command{
		Use:   "release [-f klpack.yaml] [--snapshot]",
		Short: "Run the whole release: scan, check, plan, hooks, signing, packages, repositories, checksums",
		Long: `Release reads klpack.yaml (its keys: docs/klpack-yaml.md), scans its modules once
and runs the stages over that one release, printing a line per stage:
scan, check (the gate: findings against the deployed state that no order or
plan avoids and, with fleet: in klpack.yaml, any combination of the fleet's
inventory failing at fail_on or any host whose packages do not resolve),
plan (the best order, and what going back would cost), hooks
(builds a BPF object per hook point), modsign (kernel module signatures),
packages (signed rpm and deb, and the loader package), repos (apt and dnf
repositories, earlier releases' packages included) and checksums (signed
SHA256SUMS). A stage with nothing to do says why it is skipped. Everything is
built in a staging directory inside the output directory and moved into
place only when every stage passed: a failing stage is named, and the output
directory is left exactly as it was.
--snapshot skips every signature, for a local trial.
Exit 0 on a release, 1 when the check or the plan refuses it, 2 on bad input
or a failing tool.`,
		Args: positional(0, 0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			mtime, err := sourceDate()
			if err != nil {
				return &exitError{exitInput, err}
			}
			opts := release.Options{Snapshot: snapshot, Output: output, MTime: mtime, Log: cmd.OutOrStdout(),
				PackageKey: keys.PackageKey, ModuleKey: keys.ModuleKey, ModuleCert: keys.ModuleCert}
			if asJSON {
				// stdout is the document alone; the stage lines go
				// to stderr, where people watching still see them.
				opts.Log = cmd.ErrOrStderr()
			}
			run, err := release.Execute(cmd.Context(), file, opts)
			if asJSON {
				var res *release.Result
				if err != nil {
					res = release.FailedResult(err, opts)
				} else if res, err = run.Result(); err != nil {
					return &exitError{exitInput, err}
				}
				if werr := res.WriteJSON(cmd.OutOrStdout()); werr != nil {
					return werr
				}
			}
			// A refusal by check or plan is findings; an unreadable
			// fleet inventory there is bad input.
			if se, ok := errors.AsType[*release.StageError](err); ok && (se.Stage == "check" || se.Stage == "plan") && !errors.Is(err, release.ErrInput) {
				return &exitError{exitFindings, err}
			}
			if err != nil {
				return &exitError{exitInput, err}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", defaultConfig, "the release's klpack.yaml")
	cmd.Flags().StringVarP(&output, "output", "o", "", "the output directory (default: klpack.yaml's output, else dist)")
	cmd.Flags().StringVar(&keys.PackageKey, "sign-key", "", "OpenPGP secret key for packages and repositories, instead of sign.packages")
	cmd.Flags().StringVar(&keys.ModuleKey, "module-key", "", "module signing key (PEM), instead of sign.modules; with --module-cert")
	cmd.Flags().StringVar(&keys.ModuleCert, "module-cert", "", "module signing certificate")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the "+release.ResultSchema+" JSON document (stages run, skipped or failed; files written, with sha256); the stage lines go to stderr")
	cmd.Flags().BoolVar(&snapshot, "snapshot", false, "skip every signature (a local trial, not a release)")
	return cmd
}

// releaseInput is the check of klpack.yaml's modules, in the order listed,
// against its deployed state: what check -f and plan -f read.
func releaseInput(cmd *cobra.Command, file string) (*check.Input, check.Severity, error) {
	in, failOn, _, err := releaseFleetInput(cmd, file)
	return in, failOn, err
}

// releaseFleetInput is releaseInput and klpack.yaml's fleet: its inventory
// and manifests, as paths from the current directory (zero when none).
func releaseFleetInput(cmd *cobra.Command, file string) (*check.Input, check.Severity, fleetPaths, error) {
	r, err := release.Load(cmd.Context(), file)
	if err != nil {
		return nil, 0, fleetPaths{}, err
	}
	warnIgnored(cmd.ErrOrStderr(), r.Config.Deployed, r.Ignored)
	var fleet fleetPaths
	if f := r.Config.Fleet; f != nil {
		fleet = fleetPaths{inventory: r.Path(f.Inventory), manifests: r.Path(f.Manifests)}
	}
	return r.CheckInput(r.Candidates()), r.FailOn, fleet, nil
}
