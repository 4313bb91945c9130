//go:build klpack_host

package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// The host build stands in for the commands that make a release
// (cmds_full.go) with commands that say where to run them: without them, a
// parent command such as hooks would print its help and exit 0.

func releaseCmds() []*cobra.Command {
	return []*cobra.Command{absentCmd("package"), absentCmd("sign")}
}

func hooksReleaseCmds() []*cobra.Command {
	return []*cobra.Command{absentCmd("build")}
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
