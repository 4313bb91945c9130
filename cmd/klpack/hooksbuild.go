//go:build !klpack_host

package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/klpack/klpack/build"
	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/pkg/hookabi"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/release"
)

type hooksBuildOptions struct {
	kernelConfig string
	vmlinuxBTF   string
	out          string
	file         string
	json         bool
}

func newHooksBuildCmd() *cobra.Command {
	var o hooksBuildOptions
	cmd := &cobra.Command{
		Use:   "build [--kernel-config FILE] [--vmlinux-btf FILE] [--output DIR] MODULE|SCAN.json... | build -f klpack.yaml",
		Short: "Render, compile and validate a BPF program per hook point",
		Long: `Build renders the BPF C template for every hook point of the livepatch
modules (or scan documents) given, compiles it with clang and validates the
object without loading it. It writes DIR/<module>/<func>.bpf.c and .bpf.o.
With --kernel-config or --vmlinux-btf it says what that kernel lacks for
the hooks to override anything.
Exit 0 when every hook built and the target has what it needs, 1 when a
build or validation failed or the target lacks something, 2 on bad input.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && o.file == "" {
				return &exitError{exitInput, fmt.Errorf("missing MODULE: the modules (or scan documents) whose hooks to build, or -f klpack.yaml (usage: %s)", cmd.UseLine())}
			}
			if len(args) > 0 && o.file != "" {
				return &exitError{exitInput, errors.New("give modules or -f klpack.yaml, one of them")}
			}
			return runHooksBuild(cmd, &o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.kernelConfig, "kernel-config", "", "the target kernel's .config")
	f.StringVar(&o.vmlinuxBTF, "vmlinux-btf", "", "the target kernel's vmlinux BTF (vmlinux ELF or raw BTF)")
	f.StringVarP(&o.out, "output", "o", ".", "directory to write the objects to")
	f.StringVarP(&o.file, "file", "f", "", "build the hooks of klpack.yaml's modules (their declared hook points included)")
	f.BoolVar(&o.json, "json", false, "print the "+build.ReportSchema+" JSON document: each hook's files (relative to --output, with sha256) and what the target lacks")
	return cmd
}

func runHooksBuild(cmd *cobra.Command, o *hooksBuildOptions, args []string) error {
	var mods []*klp.Module
	var err error
	if o.file != "" {
		var r *release.Release
		if r, err = release.Load(cmd.Context(), o.file); err == nil {
			mods = r.Candidates()
		}
	} else {
		var files []string
		if files, err = moduleFiles(args); err == nil {
			mods, err = elfscan.Records(files, nil)
		}
	}
	if err != nil {
		return &exitError{exitInput, err}
	}
	target, err := hookTarget(o.kernelConfig, o.vmlinuxBTF)
	if err != nil {
		return &exitError{exitInput, err}
	}
	objs, err := build.Build(cmd.Context(), mods, &build.Options{Target: target})
	if errors.Is(err, build.ErrCompile) || errors.Is(err, hookabi.ErrInvalid) {
		return &exitError{exitFindings, err}
	}
	if err != nil {
		return &exitError{exitInput, err}
	}
	paths, err := build.Write(o.out, objs)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if o.json {
		if err := build.NewReport(o.out, objs, target).WriteJSON(out); err != nil {
			return err
		}
		// The lines below are in the document.
		out = io.Discard
	}
	var lacking []string
	for i, obj := range objs {
		fmt.Fprintf(out, "%s\tkprobe %s\t%s\t(%s)\n", paths[i], obj.Hook.Func, obj.Hook.Errno, obj.Hook.Source)
		if len(obj.Lacks) > 0 {
			lacking = append(lacking, fmt.Sprintf("%s: %s", obj.Name(), strings.Join(obj.Lacks, ", ")))
		}
	}
	if target != nil && len(target.Lacks) == 0 {
		fmt.Fprintf(out, "target kernel (%s): has what the hooks need\n", target.Source)
	}
	if len(lacking) > 0 {
		src := "the scan"
		if target != nil {
			src = target.Source
		}
		return &exitError{exitFindings, fmt.Errorf("hooks cannot override on the target kernel (%s); it lacks:\n  %s", src, strings.Join(lacking, "\n  "))}
	}
	return nil
}
