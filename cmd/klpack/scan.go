package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/hookabi"
	"github.com/klpack/klpack/pkg/klp"
)

type scanOptions struct {
	json       bool
	noHash     bool
	vmlinuxBTF string
}

func newScanCmd() *cobra.Command {
	var o scanOptions
	cmd := &cobra.Command{
		Use:   "scan [--json] PATH...",
		Short: "Read livepatch metadata from kernel modules without loading them",
		Long: `Scan reads kernel modules (.ko, .ko.xz, .ko.zst, .ko.gz; directories are
walked) and reports their modinfo, signature and livepatch metadata.
Exit 0 when every file was read, 2 when any was bad.`,
		Args: positional(1, -1, "the modules (.ko, compressed or not) or directories of them to scan"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScan(cmd, &o, args)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print the klpack.scan/v1 JSON document")
	cmd.Flags().BoolVar(&o.noHash, "no-hash", false, "do not hash the files (most of the time a tree's scan takes): sha256 stays empty and --json prints klpack.scan/v2")
	cmd.Flags().StringVar(&o.vmlinuxBTF, "vmlinux-btf", "", "BTF of the target kernel (vmlinux ELF or raw BTF), for modules without DWARF")
	return cmd
}

func runScan(cmd *cobra.Command, o *scanOptions, args []string) error {
	// The text output shows no digest: hashing for it would be wasted.
	opts := &elfscan.Options{NoHash: o.noHash || !o.json}
	if o.vmlinuxBTF != "" {
		spec, err := hookabi.LoadBTF(o.vmlinuxBTF)
		if err != nil {
			return &exitError{exitInput, err}
		}
		opts.VmlinuxBTF = spec
	}
	files, err := moduleFiles(args)
	if err != nil {
		return &exitError{exitInput, err}
	}
	bar := newProgress(cmd.ErrOrStderr(), "scan", len(files))
	results := elfscan.ScanFiles(cmd.Context(), files, opts, bar.Increment)
	bar.Wait()
	doc := klp.Scan{Schema: klp.ScanSchema, Modules: []*klp.Module{}}
	bad := 0
	for _, r := range results {
		if r.Err != nil {
			bad++
			// The message holds a path from the walk, which may hold anything.
			fmt.Fprintln(cmd.ErrOrStderr(), "klpack: scan:", safetext.Quote(r.Err.Error()))
			continue
		}
		doc.Modules = append(doc.Modules, r.Module)
	}
	out := cmd.OutOrStdout()
	switch {
	case o.json && o.noHash:
		if err := klp.WriteScanJSONUnhashed(out, doc.Modules); err != nil {
			return err
		}
	case o.json:
		if err := klp.WriteScanJSON(out, doc.Modules); err != nil {
			return err
		}
	default:
		if err := klp.WriteScanText(out, doc.Modules); err != nil {
			return err
		}
	}
	if bad > 0 {
		return &exitError{exitInput, fmt.Errorf("scan: %d of %d file%s could not be read", bad, len(results), plural(len(results)))}
	}
	return nil
}

// moduleFiles expands the directories among args into the modules under
// them, as scan walks them; files stay as given, in order. Each argument
// on its own: a directory without one module in it is a mistake (a wrong
// path, a build that wrote nothing), not an empty answer that lets CI
// pass.
func moduleFiles(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		f, err := elfscan.Expand([]string{a})
		if err != nil {
			return nil, err
		}
		if len(f) == 0 {
			return nil, fmt.Errorf("directory %s: no kernel module in it (*.ko, *.ko.xz, *.ko.zst, *.ko.gz)", safetext.Quote(a))
		}
		files = append(files, f...)
	}
	return files, nil
}
