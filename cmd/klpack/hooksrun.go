package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/hooks"
)

// The host side of `klpack hooks`: load, link, set, show and remove the
// hook programs a package carries. These are in the host build too.

type hooksAttachOptions struct {
	hostOptions
	json bool
}

func newHooksAttachCmd() *cobra.Command {
	var o hooksAttachOptions
	cmd := &cobra.Command{
		Use:   "attach OBJECT.bpf.o...",
		Short: "Load hook objects, pin them and probe every live copy of their function",
		Long: `Attach loads each hook object (as "klpack hooks build" wrote it), pins its
program and maps under --bpffs/<func>, and puts a kprobe on every copy of the
hook function that runs now: the function in each enabled livepatch module
that defines it, named <module>:<func> so that a copy in vmlinux or in an
older patch is never probed by mistake. Values set for cgroups survive a new
version of the object.`,
		Args: positional(1, -1, "the hook objects to attach, as klpack hooks build wrote them"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHooksAttach(cmd, &o, args)
		},
	}
	o.flags(cmd.Flags())
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

func runHooksAttach(cmd *cobra.Command, o *hooksAttachOptions, args []string) error {
	h := o.host()
	var all []hooks.Change
	for _, p := range args {
		obj, err := safeio.ReadFile(p, hooks.MaxObject)
		if err != nil {
			printChanges(cmd.OutOrStdout(), all, o.json)
			return &exitError{exitInput, err}
		}
		c, err := h.Attach(cmd.Context(), obj, p)
		all = append(all, c...)
		if err != nil {
			printChanges(cmd.OutOrStdout(), all, o.json)
			return hookErr(err)
		}
	}
	return printChanges(cmd.OutOrStdout(), all, o.json)
}

type hooksSyncOptions struct {
	hostOptions
	json, wait bool
}

func newHooksSyncCmd() *cobra.Command {
	var o hooksSyncOptions
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Move every hook's probes to the copies of its function that run now",
		Long: `Sync probes the live copies of every pinned hook function that have no probe
and removes the probes of copies that no longer run. After an atomic replace,
the replaced patch's function is never called again while its probe still
looks attached: run sync right after the transition completes (the package
loader does). It prints what it changed and how long each probe took.`,
		Args: positional(0, 0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHooksSync(cmd, &o)
		},
	}
	o.flags(cmd.Flags())
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	cmd.Flags().BoolVar(&o.wait, "wait", false, "probe new copies now, wait for livepatch transitions to finish, then drop the old probes")
	return cmd
}

func runHooksSync(cmd *cobra.Command, o *hooksSyncOptions) error {
	r, err := o.host().Sync(cmd.Context(), &hooks.SyncOptions{Wait: o.wait})
	out := cmd.OutOrStdout()
	if perr := printChanges(out, r.Changes, o.json); perr != nil {
		return perr
	}
	if !o.json {
		if r.Done > 0 {
			fmt.Fprintf(out, "sync: transitions done %s after the start, probes settled %s after that\n",
				r.Done.Round(time.Microsecond), r.Settled.Round(time.Microsecond))
		}
		fmt.Fprintf(out, "sync: %d change(s) in %s\n", len(r.Changes), r.Took.Round(time.Microsecond))
	}
	return hookErr(err)
}

type hooksStatusOptions struct {
	hostOptions
	json bool
}

func newHooksStatusCmd() *cobra.Command {
	var o hooksStatusOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each pinned hook: probes, live copies, counters, values",
		Long: `Status shows, per pinned hook, which copies of the function are probed and
which run now, the call, override and refused counters and the value forced
per cgroup. Exit 1 when a live copy has no probe (bypassed) or a probe sits on
a copy that no longer runs (stale): "klpack hooks sync" repairs both.`,
		Args: positional(0, 0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHooksStatus(cmd, &o)
		},
	}
	o.flags(cmd.Flags())
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

func runHooksStatus(cmd *cobra.Command, o *hooksStatusOptions) error {
	st, err := o.host().Status()
	if err != nil {
		return hookErr(err)
	}
	out := cmd.OutOrStdout()
	if o.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		err = enc.Encode(struct {
			Hooks []*hooks.Status `json:"hooks"`
		}{st})
	} else {
		printStatus(out, st)
	}
	if err != nil {
		return err
	}
	var broken []string
	for _, s := range st {
		if !s.OK() {
			broken = append(broken, s.Hook)
		}
	}
	if len(broken) > 0 {
		return &exitError{exitFindings, fmt.Errorf("hooks not on the code that runs: %s (run klpack hooks sync)", quoteAll(broken))}
	}
	return nil
}

func printStatus(w io.Writer, st []*hooks.Status) {
	if len(st) == 0 {
		fmt.Fprintln(w, "no hooks pinned")
	}
	for _, s := range st {
		state := "ok"
		switch {
		case s.Problem != "":
			state = "PROBLEM: " + s.Problem
		case len(s.Bypassed) > 0:
			state = "BYPASSED: no probe on " + quoteAll(s.Bypassed)
		case len(s.Stale) > 0:
			state = "STALE: probe on " + quoteAll(s.Stale)
		}
		fmt.Fprintf(w, "%s\t%s\n", safetext.Quote(s.Hook), safetext.Quote(state))
		fmt.Fprintf(w, "  probed: %s\tlive: %s\n", orNone(s.Linked), orNone(s.Live))
		fmt.Fprintf(w, "  calls %d, overrides %d, refused %d\n", s.Calls, s.Overrides, s.Refused)
		for _, v := range s.Values {
			fmt.Fprintf(w, "  cgroup %d %s → %d\n", v.Cgroup, safetext.Quote(v.Path), v.Value)
		}
	}
}

// orNone joins names read from the host, each quoted if it holds a
// control character.
func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return quoteAll(s)
}

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, n := range s {
		q[i] = safetext.Quote(n)
	}
	return strings.Join(q, ", ")
}

type hooksSetOptions struct {
	hostOptions
	cgroup string
	value  int64
}

func newHooksSetCmd() *cobra.Command {
	var o hooksSetOptions
	cmd := &cobra.Command{
		Use:   "set FUNC --cgroup DIR --value N",
		Short: "Make a hook function return N for tasks of a cgroup",
		Long: `Set makes the hook function return N (e.g. -1 for -EPERM) when a task of the
cgroup v2 directory DIR calls it. The program refuses, and counts, values
outside what a function of the hook's error type returns on failure.`,
		Args: positional(1, 1, "the hook point whose value to set"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := hooks.CgroupID(o.cgroup)
			if err != nil {
				return &exitError{exitInput, err}
			}
			return hookErr(o.host().Set(args[0], id, o.value))
		},
	}
	o.flags(cmd.Flags())
	cmd.Flags().StringVar(&o.cgroup, "cgroup", "", "the cgroup v2 directory (e.g. /sys/fs/cgroup/app)")
	cmd.Flags().Int64Var(&o.value, "value", 0, "the value the function returns")
	cmd.MarkFlagRequired("cgroup")
	cmd.MarkFlagRequired("value")
	return cmd
}

type hooksUnsetOptions struct {
	hostOptions
	cgroup string
}

func newHooksUnsetCmd() *cobra.Command {
	var o hooksUnsetOptions
	cmd := &cobra.Command{
		Use:   "unset FUNC --cgroup DIR",
		Short: "Stop overriding a hook function for tasks of a cgroup",
		Args:  positional(1, 1, "the hook point whose value to remove"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := hooks.CgroupID(o.cgroup)
			if err != nil {
				return &exitError{exitInput, err}
			}
			return hookErr(o.host().Unset(args[0], id))
		},
	}
	o.flags(cmd.Flags())
	cmd.Flags().StringVar(&o.cgroup, "cgroup", "", "the cgroup v2 directory (e.g. /sys/fs/cgroup/app)")
	cmd.MarkFlagRequired("cgroup")
	return cmd
}

type hooksDetachOptions struct {
	hostOptions
	all bool
}

func newHooksDetachCmd() *cobra.Command {
	var o hooksDetachOptions
	cmd := &cobra.Command{
		Use:   "detach FUNC... | --all",
		Short: "Remove hooks: their probes, programs and values",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHooksDetach(cmd, &o, args)
		},
	}
	o.flags(cmd.Flags())
	cmd.Flags().BoolVar(&o.all, "all", false, "every pinned hook")
	return cmd
}

func runHooksDetach(cmd *cobra.Command, o *hooksDetachOptions, fns []string) error {
	h := o.host()
	if o.all {
		var err error
		if fns, err = h.Hooks(); err != nil {
			return hookErr(err)
		}
	} else if len(fns) == 0 {
		return &exitError{exitInput, errors.New("name the hooks to detach, or --all")}
	}
	for _, fn := range fns {
		if err := h.Detach(fn); err != nil {
			return hookErr(err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s\tdetached\n", fn)
	}
	return nil
}
