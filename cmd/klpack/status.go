package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/klpack/klpack/pkg/status"
	"github.com/klpack/klpack/pkg/sysfs"
)

type statusOptions struct {
	hostOptions
	root, sysfs, proc string
	json, verbose     bool
}

func newStatusCmd() *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the livepatches a host runs, whose code runs each function, what blocks a transition",
		Long: `Status shows the running kernel; each livepatch in stack order (stack_order
where the kernel has it, else the loader's record, else a guess) with the
layer, package and version of the klpack package that installed it; for every
patched function the patch whose code runs it; a transition in progress with
the tasks not yet switched (their /proc/<pid>/patch_state is not the target)
and the frames of their stacks in the code the kernel checks before switching
them; and the pinned hooks with their probes.

Exit 0 when the host runs what its packages say: every installed klpack patch
package's patch loaded and enabled, no patch loaded that no package installed,
no transition in progress, every hook probed on the code that runs. Exit 1
otherwise, with a "not ok:" line per reason; 2 when the host cannot be read.`,
		Args: positional(0, 0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(cmd, &o)
		},
	}
	f := cmd.Flags()
	o.flags(f)
	f.StringVar(&o.root, "root", "/", "host root: installed klpack package manifests and the loader's record")
	f.StringVar(&o.sysfs, "sysfs", "/sys/kernel/livepatch", "livepatch sysfs tree")
	f.StringVar(&o.proc, "proc", "/proc", "proc file system: tasks, and the kernel release")
	f.BoolVar(&o.json, "json", false, "print JSON (klpack.status/v1)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "also print the whole stack of each blocking task, and notes")
	return cmd
}

func runStatus(cmd *cobra.Command, o *statusOptions) error {
	opts := &status.Options{}
	for _, d := range []struct {
		flag, dir string
		dst       *fs.FS
	}{{"--root", o.root, &opts.Root}, {"--sysfs", o.sysfs, &opts.Livepatch}, {"--proc", o.proc, &opts.Proc}} {
		// Through a root: no name or symbolic link leads out of it.
		r, err := os.OpenRoot(d.dir)
		if err != nil {
			if d.flag == "--sysfs" && errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("%w (a kernel without CONFIG_LIVEPATCH?)", err)
			}
			return &exitError{exitInput, fmt.Errorf("%s: %w", d.flag, err)}
		}
		defer r.Close()
		*d.dst = sysfs.FS(r)
	}
	opts.RootDir = o.root
	h := o.host()
	h.Livepatch, h.Kallsyms, h.Modules = opts.Livepatch, filepath.Join(o.proc, "kallsyms"), filepath.Join(o.proc, "modules")
	opts.Hooks = h.Status
	st, err := status.Read(cmd.Context(), opts)
	if se, ok := errors.AsType[*sysfs.Error](err); ok {
		se.Path = filepath.Join(o.sysfs, filepath.FromSlash(se.Path))
	}
	if err != nil {
		return &exitError{exitInput, err}
	}
	out := cmd.OutOrStdout()
	if o.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		err = enc.Encode(st)
	} else {
		err = status.WriteText(out, st, o.verbose)
	}
	if err != nil {
		return err
	}
	if !st.OK {
		return &exitError{exitFindings, nil}
	}
	return nil
}
