// Package build is the BPF hook stage: for every hook point of a
// livepatch module (klp.Patch.Hooks) it renders the BPF C template from
// templates, compiles it with clang (-target bpf -O2 -g, DWARF stripped,
// BTF kept) and validates the object against the hook ABI (hookabi)
// without loading it: a kprobe program attached to the hook function, a
// GPL license, a call to bpf_override_return and the maps the host
// runtime expects. Options.Target (hookabi.Target) says what the target
// kernel lacks for the hooks to work.
//
// Errors callers may test for: ErrCompile (clang or llvm-strip failed; the
// error carries their whole output), hookabi.ErrInvalid (the object is
// not what a hook needs; the error lists every problem) and ErrNoHooks.
package build
