package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/internal/atomicfile"
	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/ftrace"
	"github.com/klpack/klpack/pkg/klp"
)

type checkOptions struct {
	deployed, model, symbols, filterFuncs, ack, sarif, failOn string
	sarifBase                                                 string
	kernelConfig, vmlinuxBTF, file                            string
	enabledFuncs, kprobes                                     string
	target                                                    string
	fleet, manifests                                          string
	maxCombinations                                           int
	json                                                      bool
}

func newCheckCmd() *cobra.Command {
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "check [--deployed STATE | --fleet INVENTORY --manifests DIR] [flags] CANDIDATE... | check -f klpack.yaml",
		Short: "Check a release's livepatch modules against the deployed set",
		Long: `Check loads the candidates (.ko files or scan JSON; together one release, in
load order) onto a simulator holding the deployed set and reports every rule
that fires, with the patches and functions involved and why it matters.
With --fleet, the deployed sets are a fleet's: every distinct combination
of kernel and patches its inventory holds (docs/fleet.md), each resolved
through the package manifests under --manifests and checked once; the
report gives each combination's verdict, findings, host count and example
hosts. Exit 0 when no unacknowledged finding reaches --fail-on, 1 when one
does (or, with --fleet, when a host's packages cannot be resolved), 2 on
bad input.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.sarif != "" {
				if err := atomicfile.CheckParent(o.sarif); err != nil {
					return &exitError{exitInput, fmt.Errorf("--sarif: %w", err)}
				}
			}
			in, failOn, err := o.input(cmd, args)
			if err != nil {
				return &exitError{exitInput, err}
			}
			if o.fleet != "" {
				return o.checkFleet(cmd, in, failOn)
			}
			rep, err := check.Check(in)
			if err != nil {
				return &exitError{exitInput, err}
			}
			if o.sarif != "" {
				if err := o.writeSARIF(rep); err != nil {
					return &exitError{exitInput, err}
				}
			}
			if o.json {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				err = enc.Encode(rep)
			} else {
				err = check.WriteTextStyled(cmd.OutOrStdout(), rep, styleFor(cmd, cmd.OutOrStdout()))
			}
			if err != nil {
				return err
			}
			if rep.Failed(failOn) {
				return &exitError{exitFindings, fmt.Errorf("check: findings at or above %s", failOn)}
			}
			return nil
		},
	}
	o.flags(cmd)
	o.fleetFlags(cmd)
	cmd.Flags().StringVar(&o.sarif, "sarif", "", "also write a SARIF 2.1.0 log to this file")
	cmd.Flags().StringVar(&o.sarifBase, "sarif-base", "", "the directory SARIF artifact URIs are relative to, as SRCROOT (default: the working directory)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the klpack.check/v1 JSON report")
	return cmd
}

// writeSARIF writes the SARIF log, its URIs relative to --sarif-base.
func (o *checkOptions) writeSARIF(rep *check.Report) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	base := o.sarifBase
	if !filepath.IsAbs(base) {
		base = filepath.Join(wd, base)
	}
	opts := check.SARIFOptions{Version: readVersion().Version, BaseDir: base, Dir: wd, Release: o.file,
		ReadFile: func(p string) ([]byte, error) { return safeio.ReadFile(p, klp.MaxScanSize) }}
	return atomicfile.Write(o.sarif, func(w io.Writer) error {
		return check.SARIF(rep, opts).Write(w)
	})
}

// flags are the inputs check and plan share.
func (o *checkOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.deployed, "deployed", "", "deployed state (klpack.deployed/v1); none means an empty kernel")
	enumFlag(cmd, &o.model, "kernel-model", "", kernelModels, false, "kernel model: mainline, hybrid or replace-set (default: the state's, else the release's)")
	f.StringVar(&o.symbols, "symbols", "", "target kernel symbols: /proc/kallsyms or System.map")
	f.StringVar(&o.filterFuncs, "filter-functions", "", "target kernel available_filter_functions")
	f.StringVar(&o.enabledFuncs, "enabled-functions", "", "the host's ftrace enabled_functions, for functions another IPMODIFY user holds")
	f.StringVar(&o.kprobes, "kprobes", "", "the host's kprobes list (/sys/kernel/debug/kprobes/list), naming the kprobes; needs --enabled-functions")
	f.StringVar(&o.ack, "ack", "", "acknowledgements file: findings reported but not failed")
	f.StringVar(&o.kernelConfig, "kernel-config", "", "the target kernel's .config, for what BPF hooks need")
	f.StringVar(&o.vmlinuxBTF, "vmlinux-btf", "", "the target kernel's vmlinux BTF, for what BPF hooks need")
	f.StringVar(&o.target, "target", "", "the target kernel's files (a debug package's /usr/lib/debug/lib/modules/REL, a build tree): vmlinux and modules, for the instrumentation patched functions lose and the kernel build the release pins")
	enumFlag(cmd, &o.failOn, "fail-on", "error", severities, false, "fail on findings at or above: info, warning, error")
	f.StringVarP(&o.file, "file", "f", "", "read the release from klpack.yaml: its modules, layers, deployed state, acks and fail_on")
}

// targetInputs reads what the flags say of the target kernel.
func (o *checkOptions) targetInputs(in *check.Input) error {
	var err error
	if o.model != "" && !deploy.ValidModel(o.model) {
		return fmt.Errorf("--kernel-model: unknown model %q", o.model)
	}
	if o.symbols != "" {
		if in.Symbols, err = check.ReadSymbols(o.symbols); err != nil {
			return err
		}
	}
	if o.filterFuncs != "" {
		if in.Traceable, err = check.ReadTraceable(o.filterFuncs); err != nil {
			return err
		}
	}
	if o.kprobes != "" && o.enabledFuncs == "" {
		return fmt.Errorf("--kprobes needs --enabled-functions: the kprobes list does not say which probe has a post handler, enabled_functions' I flag does")
	}
	if o.enabledFuncs != "" {
		if in.Tracing, err = ftrace.ReadTracing(o.enabledFuncs, o.kprobes); err != nil {
			return err
		}
	}
	if o.kernelConfig != "" || o.vmlinuxBTF != "" {
		t, err := hookTarget(o.kernelConfig, o.vmlinuxBTF)
		if err != nil {
			return err
		}
		in.HookKernelLacks = t.Lacks
	}
	return nil
}

// input reads every file the flags and arguments name.
func (o *checkOptions) input(cmd *cobra.Command, args []string) (*check.Input, check.Severity, error) {
	stderr := cmd.ErrOrStderr()
	if o.file != "" {
		if len(args) > 0 || o.deployed != "" || o.ack != "" {
			return nil, 0, fmt.Errorf("-f %s names the modules, the deployed state and the acks: give no candidates, --deployed or --ack with it", o.file)
		}
		in, failOn, err := o.releaseInput(cmd)
		if err != nil {
			return nil, 0, err
		}
		if cmd.Flags().Changed("fail-on") {
			if failOn, err = check.ParseSeverity(o.failOn); err != nil {
				return nil, 0, fmt.Errorf("--fail-on: %w", err)
			}
		}
		if o.model != "" {
			in.Model = o.model
		}
		if err := o.targetInputs(in); err != nil {
			return nil, 0, err
		}
		return in, failOn, o.targetFiles(cmd, in)
	}
	failOn, err := check.ParseSeverity(o.failOn)
	if err != nil {
		return nil, 0, fmt.Errorf("--fail-on: %w", err)
	}
	if len(args) == 0 {
		return nil, 0, fmt.Errorf("missing CANDIDATE: the release's modules (or scan documents), in load order, or -f klpack.yaml (usage: %s)", cmd.UseLine())
	}
	in := &check.Input{Model: o.model, DeployedPath: o.deployed}
	if o.deployed != "" {
		if in.Deployed, err = readState(stderr, o.deployed); err != nil {
			return nil, 0, err
		}
	}
	if o.ack != "" {
		if in.Acks, err = check.ReadAcks(o.ack); err != nil {
			return nil, 0, err
		}
	}
	if err := o.targetInputs(in); err != nil {
		return nil, 0, err
	}
	if in.Candidates, err = readCandidates(cmd, args); err != nil {
		return nil, 0, err
	}
	return in, failOn, o.targetFiles(cmd, in)
}

// targetFiles reads what --target holds: the instrumentation sites and
// the kernel build the candidates are pinned to.
func (o *checkOptions) targetFiles(cmd *cobra.Command, in *check.Input) error {
	if o.target == "" {
		return nil
	}
	t, err := elfscan.FindTarget(cmd.Context(), o.target)
	if err != nil {
		return fmt.Errorf("--target: %w", err)
	}
	if err := o.siteInputs(cmd, in, t); err != nil {
		return err
	}
	// It overrides klpack.yaml's target.
	if in.Target, err = t.Build(cmd.Context(), klp.PatchedModules(in.Candidates)); err != nil {
		return fmt.Errorf("--target: %w", err)
	}
	if in.Target == nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "klpack: --target %s has no vmlinux: the kernel build is not pinned (KLP023 not checked)\n", safetext.Quote(o.target))
	}
	return nil
}

// siteInputs reads, with --target, the instrumentation sites of the
// objects the candidates patch and of the candidates' own modules. An
// object the directory lacks is said on stderr: its functions go unjudged.
func (o *checkOptions) siteInputs(cmd *cobra.Command, in *check.Input, t *elfscan.Target) error {
	var err error
	var objects []string
	in.CandidateSites = map[string]*klp.ObjectSites{}
	for _, m := range in.Candidates {
		for _, p := range m.Patches {
			for i := range p.Objects {
				objects = append(objects, p.Objects[i].ObjectName())
			}
		}
		if m.Livepatch && elfscan.IsModuleName(m.Path) {
			if in.CandidateSites[m.Name], err = elfscan.OpenSites(m.Path); err != nil {
				return err
			}
		}
	}
	if in.Sites, err = t.Sites(cmd.Context(), objects); err != nil {
		return fmt.Errorf("--target: %w", err)
	}
	for _, obj := range objects {
		if in.Sites[obj] == nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "klpack: --target %s has no %s: the instrumentation of its patched functions is not checked\n", safetext.Quote(o.target), obj)
			in.Sites[obj] = &klp.ObjectSites{Object: obj} // said once
		}
	}
	return nil
}

// readCandidates reads the modules and scan documents args name, with
// directories walked, in the order given. The modules are scanned as
// scan does: on all cores, with progress on a terminal.
func readCandidates(cmd *cobra.Command, args []string) ([]*klp.Module, error) {
	files, err := moduleFiles(args)
	if err != nil {
		return nil, err
	}
	var modules []string
	for _, f := range files {
		if !isScanDoc(f) {
			modules = append(modules, f)
		}
	}
	bar := newProgress(cmd.ErrOrStderr(), "scan", len(modules))
	scanned := elfscan.ScanFiles(cmd.Context(), modules, nil, bar.Increment)
	bar.Wait()
	var out []*klp.Module
	for _, f := range files {
		if !isScanDoc(f) {
			r := scanned[0]
			scanned = scanned[1:]
			if r.Err != nil {
				return nil, r.Err
			}
			out = append(out, r.Module)
			continue
		}
		recs, err := elfscan.Records([]string{f}, nil)
		if err != nil {
			return nil, err
		}
		for _, m := range recs {
			// A record without its module's path is located by the
			// document it came from, in findings and errors alike.
			if m.Path == "" {
				m.Path = f
			}
		}
		out = append(out, recs...)
	}
	return out, nil
}

// isScanDoc says whether a candidate is a scan document rather than a
// module, as elfscan.Records tells them apart.
func isScanDoc(path string) bool { return strings.HasSuffix(path, ".json") }
