//go:build !klpack_host

package main

import "github.com/spf13/cobra"

// The commands that make a release link the packaging stack (nfpm, go-git,
// sprig) and drive clang; a fleet host needs none of that, and the host
// build (make host: -tags klpack_host, cmds_host.go) leaves them out.

func releaseCmds() []*cobra.Command {
	return []*cobra.Command{newPackageCmd(), newSignCmd(), newReleaseCmd()}
}

func hooksReleaseCmds() []*cobra.Command {
	return []*cobra.Command{newHooksBuildCmd()}
}
