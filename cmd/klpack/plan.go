package main

import (
	"encoding/json"
	"errors"

	"github.com/spf13/cobra"

	"github.com/klpack/klpack/pkg/order"
)

func newPlanCmd() *cobra.Command {
	var o checkOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "plan [--deployed STATE] [flags] CANDIDATE... | plan -f klpack.yaml",
		Short: "Find the best load order (and the disables or unloads it needs) no check rule fails",
		Long: `Plan tries the orders of the release's candidates, and disabling deployed
replaceable patches first, and keeps the best order no unacknowledged finding
at or above --fail-on blocks: the fewest findings by severity, then the
fewest kernel transitions. It prints the kernel steps the host performs
(load, disable, unload; on the mainline model an off-band patch a replace
removes is unloaded and loaded again), each with what /sys/kernel/livepatch
and /sys/module show after it, as the simulator predicts.
Exit 0 with the plan, 1 when no safe order exists (with the reasons), 2 on
bad input.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			in, failOn, err := o.input(cmd, args)
			if err != nil {
				return &exitError{exitInput, err}
			}
			p, err := order.Make(in, failOn)
			if err != nil {
				return &exitError{exitInput, err}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				err = enc.Encode(p)
			} else {
				err = order.WriteTextStyled(cmd.OutOrStdout(), p, styleFor(cmd, cmd.OutOrStdout()))
			}
			if err != nil {
				return err
			}
			if !p.OK {
				return &exitError{exitFindings, errors.New("plan: no safe order")}
			}
			return nil
		},
	}
	o.flags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the klpack.plan/v1 JSON document")
	return cmd
}
