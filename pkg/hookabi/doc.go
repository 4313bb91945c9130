// Package hookabi is the contract between the BPF hook template
// (templates/bpf/hook.bpf.c), the stage that builds it (build) and the host
// runtime that loads it (pkg/hooks): the names of the program and its maps,
// the maps' key and value layout, the kernel options the program needs
// (Target), and the check of an object against all that with cilium/ebpf,
// without loading it (Validate).
//
// It imports neither build nor templates, so a host links the contract
// and not the compiler stage.
//
// Errors callers may test for: ErrInvalid (the object is not what a hook
// needs; the error lists every problem).
package hookabi
