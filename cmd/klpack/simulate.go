package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/sim"
)

type simulateOptions struct {
	json  bool
	model string
}

func newSimulateCmd() *cobra.Command {
	var o simulateOptions
	cmd := &cobra.Command{
		Use:   "simulate [--json] [--kernel-model M] SCENARIO",
		Short: "Replay a scenario of loads, enables, disables and unloads as the kernel would",
		Long: `Simulate replays a scenario (YAML or JSON: kernel_model, deployed, tasks, steps
of load/enable/disable/unload/force/hold/wake/fail/sysctl/trace) with the kernel's livepatch rules and prints, per
step, whether the kernel accepts it, the patch stack, which patch's code runs
for every function, and every change of code outside a transition.`,
		Args: positional(1, 1, "the scenario (YAML or JSON) to replay"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := sim.ReadScenario(args[0])
			if err != nil {
				return &exitError{exitInput, err}
			}
			res, err := sim.Simulate(sc, o.model, loadModule)
			if err != nil {
				return &exitError{exitInput, err}
			}
			if o.json {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			return sim.WriteTextStyled(cmd.OutOrStdout(), res, styleFor(cmd, cmd.OutOrStdout()))
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print the klpack.simulate/v1 JSON document")
	enumFlag(cmd, &o.model, "kernel-model", "", kernelModels, false, "kernel model: mainline, hybrid or replace-set (default: the scenario's, the deployed state's, else the kernel release's)")
	return cmd
}

// loadModule reads a module record: a module file, or a scan document
// holding one module.
func loadModule(path string) (*klp.Module, error) {
	ms, err := elfscan.Records([]string{path}, nil)
	if err != nil {
		return nil, err
	}
	if len(ms) != 1 {
		return nil, fmt.Errorf("file %s: %d modules, want one per load step", path, len(ms))
	}
	return ms[0], nil
}
