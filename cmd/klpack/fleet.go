package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/fleet"
)

// fleetFlags are check's flags for a fleet inventory.
func (o *checkOptions) fleetFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.fleet, "fleet", "", "check against every combination a fleet inventory holds (JSON Lines, plain, gzip or zstd; - for stdin) instead of one deployed state")
	f.StringVar(&o.manifests, "manifests", "", "with --fleet: the directory of past releases' package manifests (searched recursively) the inventory's packages resolve through")
	f.IntVar(&o.maxCombinations, "max-combinations", fleet.DefaultMaxCombinations, "with --fleet: the most distinct combinations the inventory may hold")
}

// fleetPaths are klpack.yaml's fleet: the inventory and the manifests.
type fleetPaths struct{ inventory, manifests string }

// releaseInput is the input of check -f and plan -f. For check, a fleet
// (klpack.yaml's, or --fleet) stands in for klpack.yaml's deployed state,
// --fleet and --manifests winning over klpack.yaml's; plan, which has no
// --fleet, plans against the deployed state.
func (o *checkOptions) releaseInput(cmd *cobra.Command) (*check.Input, check.Severity, error) {
	in, failOn, fleet, err := releaseFleetInput(cmd, o.file)
	if err != nil {
		return nil, 0, err
	}
	if cmd.Flags().Lookup("fleet") == nil {
		return in, failOn, nil
	}
	if o.fleet == "" && fleet.inventory != "" {
		o.fleet = fleet.inventory
	}
	if o.manifests == "" && fleet.manifests != "" {
		o.manifests = fleet.manifests
	}
	if o.fleet != "" {
		in.Deployed, in.DeployedPath = nil, ""
	}
	return in, failOn, nil
}

// checkFleet is check --fleet: the release in, checked once per
// combination of the inventory, the report out.
func (o *checkOptions) checkFleet(cmd *cobra.Command, in *check.Input, failOn check.Severity) error {
	switch {
	case o.manifests == "":
		return &exitError{exitInput, errors.New("--fleet needs --manifests: the directory of package manifests its packages resolve through")}
	case in.Deployed != nil:
		return &exitError{exitInput, errors.New("--fleet gives each combination's deployed state: give no --deployed (nor deployed: in klpack.yaml) with it")}
	case o.enabledFuncs != "" || o.kprobes != "":
		return &exitError{exitInput, errors.New("--enabled-functions and --kprobes are one host's: a fleet check takes neither")}
	}
	ctx := cmd.Context()
	ms, err := fleet.LoadManifests(ctx, o.manifests)
	if err != nil {
		return &exitError{exitInput, err}
	}
	var size int64 = -1
	if o.fleet != "-" {
		if st, err := os.Stat(o.fleet); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
	}
	read := newByteProgress(cmd.ErrOrStderr(), "read", size)
	ro := fleet.ReadOptions{MaxCombinations: o.maxCombinations, Progress: read.Add}
	var inv *fleet.Inventory
	if o.fleet == "-" {
		inv, err = fleet.ParseInventory(ctx, cmd.InOrStdin(), "-", ro)
	} else {
		inv, err = fleet.Read(ctx, o.fleet, ro)
	}
	read.Wait()
	if err != nil {
		return &exitError{exitInput, err}
	}
	bar := newProgress(cmd.ErrOrStderr(), "check", len(inv.Combinations))
	rep, err := fleet.Check(ctx, inv, ms, fleet.CheckOptions{Input: in, FailOn: failOn, Progress: bar.Increment})
	bar.Wait()
	if err != nil {
		return &exitError{exitInput, err}
	}
	if o.sarif != "" {
		if err := o.writeSARIF(rep.CheckReport()); err != nil {
			return &exitError{exitInput, err}
		}
	}
	out := cmd.OutOrStdout()
	if o.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = fleet.WriteText(out, rep, styleFor(cmd, out))
	}
	if err != nil {
		return err
	}
	if rep.Failed() {
		return &exitError{exitFindings, fmt.Errorf("check: %d hosts fail at %s, %d unresolved", rep.Totals.FailHosts, failOn, rep.Totals.UnresolvedHosts)}
	}
	return nil
}
