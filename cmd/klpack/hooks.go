package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/hookabi"
	"github.com/klpack/klpack/pkg/hooks"
)

func newHooksCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hooks",
		Short: "Build, attach and manage the BPF programs of livepatch hook points",
	}
	cmd.AddCommand(hooksReleaseCmds()...)
	cmd.AddCommand(newHooksAttachCmd(), newHooksSyncCmd(), newHooksStatusCmd(),
		newHooksSetCmd(), newHooksUnsetCmd(), newHooksDetachCmd())
	return cmd
}

// hostOptions are the flags of every host subcommand of hooks.
type hostOptions struct {
	bpffs string
}

func (o *hostOptions) flags(f *pflag.FlagSet) {
	f.StringVar(&o.bpffs, "bpffs", hooks.DefaultPin, "bpffs directory the hooks are pinned in")
}

func (o *hostOptions) host() *hooks.Host {
	h := hooks.DefaultHost()
	h.Pin = o.bpffs
	return h
}

// hookErr maps runtime errors to exit codes: what the kernel refused is a
// finding (1), anything else an input error (2).
func hookErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hooks.ErrRefused), errors.Is(err, hooks.ErrNotLive), errors.Is(err, hookabi.ErrInvalid):
		return &exitError{exitFindings, err}
	default:
		return &exitError{exitInput, err}
	}
}

func printChanges(w io.Writer, cs []hooks.Change, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if cs == nil {
			cs = []hooks.Change{}
		}
		return enc.Encode(struct {
			Changes []hooks.Change `json:"changes"`
		}{cs})
	}
	// Names and reasons come from the host: quoted if they hold a
	// control character, so that one cannot forge a line.
	for _, c := range cs {
		hook, why := safetext.Quote(c.Hook), safetext.Quote(c.Why)
		if c.Module == "" {
			fmt.Fprintf(w, "%s\t%s\t(%s)\n", hook, c.Action, why)
			continue
		}
		fmt.Fprintf(w, "%s\t%s %s:%s\t(%s, %s)\n", hook, c.Action, safetext.Quote(c.Module), hook, why, c.Took.Round(time.Microsecond))
	}
	return nil
}

// hookTarget is what check and hooks build pass for their --kernel-config
// and --vmlinux-btf flags.
func hookTarget(kernelConfig, vmlinuxBTF string) (*hookabi.Target, error) {
	return hookabi.ReadTarget(kernelConfig, vmlinuxBTF)
}
