package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/klpack/klpack/internal/atomicfile"

	"github.com/klpack/klpack/pkg/capture"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/ftrace"
	"github.com/klpack/klpack/pkg/sysfs"
)

func newDeployCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Capture and inspect the set of livepatches deployed on a kernel",
	}
	cmd.AddCommand(newDeployCaptureCmd(), newDeployShowCmd())
	return cmd
}

type deployCaptureOptions struct {
	sysfs   string
	sys     string
	root    string
	modules []string
	release string
	model   string
	order   []string
	out     string
	json    bool
	tracing bool
	// enabledFuncs and kprobes are copies of the host's files.
	enabledFuncs, kprobes string
	// stacks records the sleeping tasks of proc; stacksFile those of a
	// file gathered on a host.
	stacks     bool
	proc       string
	stacksFile string
}

func newDeployCaptureCmd() *cobra.Command {
	var o deployCaptureOptions
	cmd := &cobra.Command{
		Use:   "capture --sysfs DIR [--root DIR] [--modules DIR...] [-o FILE]",
		Short: "Build a deployed-state file from /sys/kernel/livepatch and the module files",
		Long: `Capture joins a livepatch sysfs tree (/sys/kernel/livepatch, live or copied)
with the livepatch modules found under the --modules directories (matched by
module name) and writes the klpack.deployed/v1 state: to -o FILE, else to
stdout. What could not be matched, and where the kernel release, model and
load order came from, is reported on stderr (as JSON with --json).
The manifests of the klpack packages installed under --root (default /), in
usr/lib/klpack/<kernel>/*/manifest.json, give each patch its layer; one that
disagrees with the module file is reported, not joined. Without --modules,
the modules are those under <root>/usr/lib/klpack.
The load order is stack_order (Linux 6.13+), else --order, else a guess.
With --tracing, the functions that hold an IPMODIFY or DIRECT ftrace user
(a kprobe with a post handler, a BPF trampoline) are recorded too, from
<root>/sys/kernel/tracing/enabled_functions (else debug/tracing) and
<root>/sys/kernel/debug/kprobes/list; what is not readable is reported.
--enabled-functions and --kprobes read copies of those files instead.
--stacks records the tasks asleep in the kernel, with their kernel stacks,
from /proc (run as root; --proc for another tree); --stacks-file records
those of a file gathered on a host (docs/deployed-state.md, Stacks file).
check names those a transition of a release would wait for (KLP020).
The running kernel's build-id (kernel/notes) and the srcversion and
build-id of the loaded modules the patches patch (module/NAME) are read
from --sys (default: /sys when --sysfs is /sys/kernel/livepatch): check
compares them with the build a release pins (KLP023).
Exit 0 when the state was written, 2 on bad input.`,
		Args: positional(0, 0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDeployCapture(cmd, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.sysfs, "sysfs", "", "livepatch sysfs tree (/sys/kernel/livepatch or a copy)")
	f.StringVar(&o.sys, "sys", "", "sysfs root whose kernel/notes and module/ give the kernel's build-id and its target modules' srcversion (default: two levels above --sysfs when it ends in kernel/livepatch)")
	f.StringVar(&o.root, "root", "/", "host root whose installed klpack package manifests are joined")
	f.StringArrayVar(&o.modules, "modules", nil, "directory (or file) of livepatch modules; repeatable (default: <root>/usr/lib/klpack)")
	f.StringVar(&o.release, "kernel-release", "", "kernel release (default: from the modules' vermagic)")
	enumFlag(cmd, &o.model, "kernel-model", "", kernelModels, false, "kernel model: mainline, hybrid or replace-set (default: inferred from sysfs)")
	f.StringSliceVar(&o.order, "order", nil, "patch names, oldest first, for kernels without stack_order")
	f.StringVarP(&o.out, "output", "o", "", "write the state to FILE (atomically) instead of stdout")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	f.BoolVar(&o.tracing, "tracing", false, "record the host's IPMODIFY/DIRECT ftrace users, from tracefs and debugfs under --root")
	f.StringVar(&o.enabledFuncs, "enabled-functions", "", "record the IPMODIFY/DIRECT ftrace users from this copy of enabled_functions")
	f.StringVar(&o.kprobes, "kprobes", "", "with --enabled-functions: this copy of the kprobes list names the kprobes")
	f.BoolVar(&o.stacks, "stacks", false, "record the tasks asleep in the kernel and their stacks, from --proc")
	f.StringVar(&o.proc, "proc", "/proc", "the /proc tree --stacks reads")
	f.StringVar(&o.stacksFile, "stacks-file", "", "record the sleeping tasks of a stacks file gathered on a host (docs/deployed-state.md, Stacks file)")
	cmd.MarkFlagsMutuallyExclusive("stacks", "stacks-file")
	cmd.MarkFlagRequired("sysfs")
	return cmd
}

func runDeployCapture(cmd *cobra.Command, o *deployCaptureOptions) error {
	if o.out != "" {
		if err := atomicfile.CheckParent(o.out); err != nil {
			return &exitError{exitInput, fmt.Errorf("--output: %w", err)}
		}
	}
	// Through a root: a symbolic link in the tree cannot lead out of it.
	root, err := os.OpenRoot(o.sysfs)
	if err != nil {
		return &exitError{exitInput, fmt.Errorf("--sysfs: %w", err)}
	}
	defer root.Close()
	host, err := os.OpenRoot(o.root)
	if err != nil {
		return &exitError{exitInput, fmt.Errorf("--root: %w", err)}
	}
	defer host.Close()
	modules := o.modules
	if len(modules) == 0 {
		modules = []string{filepath.Join(o.root, filepath.FromSlash(capture.InstalledDir))}
	}
	opts := &capture.CaptureOptions{
		KernelRelease: o.release,
		KernelModel:   o.model,
		Order:         o.order,
		Root:          sysfs.FS(host),
		StacksFile:    o.stacksFile,
	}
	if sys := o.sysRoot(); sys != "" {
		r, err := os.OpenRoot(sys)
		if err != nil {
			return &exitError{exitInput, fmt.Errorf("--sys: %w", err)}
		}
		defer r.Close()
		opts.Sys = sysfs.FS(r)
	}
	if err := o.readTracing(host, opts); err != nil {
		return &exitError{exitInput, err}
	}
	if o.stacks {
		proc, err := os.OpenRoot(o.proc)
		if err != nil {
			return &exitError{exitInput, fmt.Errorf("--proc: %w", err)}
		}
		defer proc.Close()
		opts.Proc = sysfs.FS(proc)
	}
	state, rep, err := capture.Capture(cmd.Context(), sysfs.FS(root), modules, opts)
	if se, ok := errors.AsType[*sysfs.Error](err); ok {
		se.Path = filepath.Join(o.sysfs, filepath.FromSlash(se.Path))
	}
	if se, ok := errors.AsType[*capture.StacksError](err); ok && o.stacks {
		se.Path = filepath.Join(o.proc, filepath.FromSlash(se.Path))
	}
	if err != nil {
		return &exitError{exitInput, err}
	}
	if o.out != "" {
		err = deploy.WriteState(o.out, state)
	} else {
		err = deploy.EncodeState(cmd.OutOrStdout(), state)
	}
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(cmd.ErrOrStderr())
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteText(cmd.ErrOrStderr())
}

// sysRoot is --sys, else the /sys a livepatch tree at .../kernel/livepatch
// sits in, else none (a copied tree alone: the build is not recorded).
func (o *deployCaptureOptions) sysRoot() string {
	if o.sys != "" {
		return o.sys
	}
	lp := filepath.Clean(o.sysfs)
	if filepath.Base(lp) == "livepatch" && filepath.Base(filepath.Dir(lp)) == "kernel" {
		return filepath.Dir(filepath.Dir(lp))
	}
	return ""
}

// readTracing reads what the tracing flags name into opts.
func (o *deployCaptureOptions) readTracing(host *os.Root, opts *capture.CaptureOptions) error {
	var err error
	switch {
	case o.tracing && (o.enabledFuncs != "" || o.kprobes != ""):
		return errors.New("--tracing reads the host's files: give it, or --enabled-functions (and --kprobes), not both")
	case o.kprobes != "" && o.enabledFuncs == "":
		return errors.New("--kprobes needs --enabled-functions: the kprobes list does not say which probe has a post handler")
	case o.enabledFuncs != "":
		opts.Tracing, err = ftrace.ReadTracing(o.enabledFuncs, o.kprobes)
	case o.tracing:
		opts.Tracing, opts.TracingNotes, err = ftrace.ReadHost(host)
	}
	return err
}

type deployShowOptions struct {
	json bool
}

func newDeployShowCmd() *cobra.Command {
	var o deployShowOptions
	cmd := &cobra.Command{
		Use:   "show [--json] STATE",
		Short: "Validate a deployed-state file and summarize it",
		Long: `Show reads a klpack.deployed/v1 file, validates it and prints the kernel and
a line per patch in load order (--json: the normalized document).
Exit 0 when the file is valid, 2 naming the file and field when not.`,
		Args: positional(1, 1, "the deployed-state file (klpack.deployed/v1) to show"),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := readState(cmd.ErrOrStderr(), args[0])
			if err != nil {
				return &exitError{exitInput, err}
			}
			if o.json {
				return deploy.EncodeState(cmd.OutOrStdout(), st)
			}
			return deploy.WriteSummary(cmd.OutOrStdout(), st)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print the validated state as JSON")
	return cmd
}
