// Package hooks runs klpack's BPF hook programs on a host: it loads the
// objects `klpack hooks build` made, pins their programs, maps and kprobe
// links in bpffs, sets the value a hook returns per cgroup, reports what
// each hook does, and moves the probes to the copy of the hook function
// that runs after a livepatch replaces another (Sync).
//
// Layout under Host.Pin (default /sys/fs/bpf/klpack/hooks), one directory
// per hook function:
//
//	<func>/prog              the hook program
//	<func>/klpack_values     cgroup id → return value
//	<func>/klpack_counts     calls, overrides, refused (per CPU)
//	<func>/link@<module>     the kprobe on <module>:<func>
package hooks
