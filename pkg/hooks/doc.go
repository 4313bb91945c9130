// Package hooks runs klpack's BPF hook programs on a host: it loads the
// objects `klpack hooks build` made, pins their programs, maps and kprobe
// links in bpffs, sets the value a hook returns per cgroup, reports what
// each hook does, and moves the probes to the copy of the hook function
// that runs after a livepatch replaces another (Sync; with Wait, across
// the transition, never leaving the function without a probe).
//
// It knows the objects through the hook ABI (hookabi) only, not through
// the stage that builds them, so a host links no compiler stage.
//
// Layout under Host.Pin (default /sys/fs/bpf/klpack/hooks), one directory
// per hook function:
//
//	<func>/prog              the hook program
//	<func>/klpack_values     cgroup id → return value
//	<func>/klpack_counts     calls, overrides, refused (per CPU)
//	<func>/link@<module>     the kprobe on <module>:<func>
//
// The runtime runs as root and removes what it finds under Host.Pin, so
// it touches that directory only when it is on bpffs, resolves every name
// inside it (os.Root), and takes as names only C identifiers (hook
// functions) and module names (links, livepatches, kallsyms, modules),
// wherever they come from. Host files are opened without waiting on a
// FIFO, must be regular, and are read up to a bound.
//
// Errors callers may test for: ErrNotFound and ErrNotLive (no copy of the
// function runs), ErrNoHook (nothing pinned for that function), ErrRefused
// (the kernel refused a program, probe or link), ErrNotBPFFS (the pin
// directory is not on bpffs), ErrBadName (a name that cannot be a hook
// function or module) and hookabi.ErrInvalid (an object that is no hook
// program).
package hooks
