package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/klpack/klpack/pkg/hookabi"
	"github.com/klpack/klpack/pkg/hooks"
)

// The host side of `klpack hooks`: load, link, set, show and remove the
// hook programs a package carries.

func addHookRuntimeCmds(parent *cobra.Command) {
	h := hooks.DefaultHost()
	parent.PersistentFlags().StringVar(&h.Pin, "bpffs", h.Pin, "bpffs directory the hooks are pinned in")
	var asJSON, wait bool
	jsonFlag := func(c *cobra.Command) { c.Flags().BoolVar(&asJSON, "json", false, "print JSON") }

	attach := &cobra.Command{
		Use:   "attach OBJECT.bpf.o...",
		Short: "Load hook objects, pin them and probe every live copy of their function",
		Long: `Attach loads each hook object (as "klpack hooks build" wrote it), pins its
program and maps under --bpffs/<func>, and puts a kprobe on every copy of the
hook function that runs now: the function in each enabled livepatch module
that defines it, named <module>:<func> so that a copy in vmlinux or in an
older patch is never probed by mistake. Values set for cgroups survive a new
version of the object.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var all []hooks.Change
			for _, p := range args {
				obj, err := os.ReadFile(p)
				if err != nil {
					return &exitError{exitInput, err}
				}
				c, err := h.Attach(cmd.Context(), obj, p)
				all = append(all, c...)
				if err != nil {
					printChanges(cmd.OutOrStdout(), all, asJSON)
					return hookErr(err)
				}
			}
			return printChanges(cmd.OutOrStdout(), all, asJSON)
		},
	}
	jsonFlag(attach)

	sync := &cobra.Command{
		Use:   "sync",
		Short: "Move every hook's probes to the copies of its function that run now",
		Long: `Sync probes the live copies of every pinned hook function that have no probe
and removes the probes of copies that no longer run. After an atomic replace,
the replaced patch's function is never called again while its probe still
looks attached: run sync right after the transition completes (the package
loader does). It prints what it changed and how long each probe took.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var c []hooks.Change
			var err error
			var summary string
			start := time.Now()
			c, err = h.Sync(cmd.Context())
			if wait && err == nil {
				// The first Sync probed the new copies while the
				// transition runs (both copies may run then); after it,
				// drop the probes on the old ones.
				var done time.Time
				if done, err = h.WaitTransitions(cmd.Context(), time.Millisecond); err == nil {
					var more []hooks.Change
					more, err = h.Sync(cmd.Context())
					c = append(c, more...)
					summary = fmt.Sprintf("sync: transitions done %s after the start, probes settled %s after that\n",
						done.Sub(start).Round(time.Microsecond), time.Since(done).Round(time.Microsecond))
				}
			}
			took := time.Since(start)
			if perr := printChanges(cmd.OutOrStdout(), c, asJSON); perr != nil {
				return perr
			}
			if !asJSON {
				fmt.Fprintf(cmd.OutOrStdout(), "%ssync: %d change(s) in %s\n", summary, len(c), took.Round(time.Microsecond))
			}
			return hookErr(err)
		},
	}
	jsonFlag(sync)
	sync.Flags().BoolVar(&wait, "wait", false, "probe new copies now, wait for livepatch transitions to finish, then drop the old probes")

	status := &cobra.Command{
		Use:   "status",
		Short: "Show each pinned hook: probes, live copies, counters, values",
		Long: `Status shows, per pinned hook, which copies of the function are probed and
which run now, the call, override and refused counters and the value forced
per cgroup. Exit 1 when a live copy has no probe (bypassed) or a probe sits on
a copy that no longer runs (stale): "klpack hooks sync" repairs both.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := h.Status()
			if err != nil {
				return hookErr(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(struct {
					Hooks []*hooks.Status `json:"hooks"`
				}{st}); err != nil {
					return err
				}
			} else {
				printStatus(out, st)
			}
			var broken []string
			for _, s := range st {
				if len(s.Bypassed) > 0 || len(s.Stale) > 0 || s.Problem != "" {
					broken = append(broken, s.Hook)
				}
			}
			if len(broken) > 0 {
				return &exitError{exitFindings, fmt.Errorf("hooks not on the code that runs: %s (run klpack hooks sync)", strings.Join(broken, ", "))}
			}
			return nil
		},
	}
	jsonFlag(status)

	var cgroup string
	var value int64
	set := &cobra.Command{
		Use:   "set FUNC --cgroup DIR --value N",
		Short: "Make a hook function return N for tasks of a cgroup",
		Long: `Set makes the hook function return N (e.g. -1 for -EPERM) when a task of the
cgroup v2 directory DIR calls it. The program refuses, and counts, values
outside what a function of the hook's error type returns on failure.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := hooks.CgroupID(cgroup)
			if err != nil {
				return &exitError{exitInput, err}
			}
			return hookErr(h.Set(args[0], id, value))
		},
	}
	set.Flags().Int64Var(&value, "value", 0, "the value the function returns")
	set.MarkFlagRequired("value")
	unset := &cobra.Command{
		Use:   "unset FUNC --cgroup DIR",
		Short: "Stop overriding a hook function for tasks of a cgroup",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := hooks.CgroupID(cgroup)
			if err != nil {
				return &exitError{exitInput, err}
			}
			return hookErr(h.Unset(args[0], id))
		},
	}
	for _, c := range []*cobra.Command{set, unset} {
		c.Flags().StringVar(&cgroup, "cgroup", "", "the cgroup v2 directory (e.g. /sys/fs/cgroup/app)")
		c.MarkFlagRequired("cgroup")
	}

	detach := &cobra.Command{
		Use:   "detach FUNC... | --all",
		Short: "Remove hooks: their probes, programs and values",
		RunE: func(cmd *cobra.Command, args []string) error {
			if all, _ := cmd.Flags().GetBool("all"); all {
				fns, err := h.Hooks()
				if err != nil {
					return hookErr(err)
				}
				args = fns
			} else if len(args) == 0 {
				return &exitError{exitInput, errors.New("name the hooks to detach, or --all")}
			}
			for _, fn := range args {
				if err := h.Detach(fn); err != nil {
					return hookErr(err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\tdetached\n", fn)
			}
			return nil
		},
	}
	detach.Flags().Bool("all", false, "every pinned hook")

	parent.AddCommand(attach, sync, status, set, unset, detach)
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
	for _, c := range cs {
		if c.Module == "" {
			fmt.Fprintf(w, "%s\t%s\t(%s)\n", c.Hook, c.Action, c.Why)
			continue
		}
		fmt.Fprintf(w, "%s\t%s %s:%s\t(%s, %s)\n", c.Hook, c.Action, c.Module, c.Hook, c.Why, c.Took.Round(time.Microsecond))
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
			state = "BYPASSED: no probe on " + strings.Join(s.Bypassed, ", ")
		case len(s.Stale) > 0:
			state = "STALE: probe on " + strings.Join(s.Stale, ", ")
		}
		fmt.Fprintf(w, "%s\t%s\n", s.Hook, state)
		fmt.Fprintf(w, "  probed: %s\tlive: %s\n", orNone(s.Linked), orNone(s.Live))
		fmt.Fprintf(w, "  calls %d, overrides %d, refused %d\n", s.Calls, s.Overrides, s.Refused)
		for _, v := range s.Values {
			fmt.Fprintf(w, "  cgroup %d %s → %d\n", v.Cgroup, v.Path, v.Value)
		}
	}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
