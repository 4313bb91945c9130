//go:build klpack_host

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/klpack/klpack/pkg/check"
)

// The host build stands in for the commands that make a release
// (cmds_full.go) with commands that say where to run them: without them,
// klpack hooks build would be an unknown command, as if misspelt.

func releaseCmds() []*cobra.Command {
	return []*cobra.Command{absentCmd("package"), absentCmd("sign"), absentCmd("release")}
}

func hooksReleaseCmds() []*cobra.Command {
	return []*cobra.Command{absentCmd("build")}
}

// releaseInput stands in for klpack.yaml's reader, which links the
// packaging stack.
func releaseInput(cmd *cobra.Command, file string) (*check.Input, check.Severity, error) {
	return nil, 0, fmt.Errorf("-f %s: klpack.yaml is read by the full klpack, not this host build (-tags klpack_host)", file)
}

// absentCmd is a hidden command that fails with exit 2, naming itself.
func absentCmd(name string) *cobra.Command {
	return &cobra.Command{
		Use:                name,
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &exitError{exitInput, fmt.Errorf("%s is not in this host build of klpack (-tags klpack_host): run it where releases are built, with the full klpack", cmd.CommandPath())}
		},
	}
}

// releaseFleetInput stands in for klpack.yaml's reader as releaseInput does.
func releaseFleetInput(cmd *cobra.Command, file string) (*check.Input, check.Severity, fleetPaths, error) {
	in, failOn, err := releaseInput(cmd, file)
	return in, failOn, fleetPaths{}, err
}
