// Package elfscan reads Linux kernel modules (.ko, plain or compressed with
// xz, zstd or gzip) without loading them and recovers what a livepatch
// would do: every struct klp_patch the module hands to klp_enable_patch,
// with its objects, functions, states, callbacks and where replace comes
// from, plus all of .modinfo and the appended module signature.
//
// Everything in the file is untrusted: offsets, sizes, indices and counts
// are checked before use and nothing is allocated beyond what the file
// holds. The ELF reading itself is internal/elf64's, the signature
// trailer pkg/modsign's. Bad input yields a *FormatError (errors.AsType) naming the section
// and offset, or ErrNotELF; a missing signature is not an error of a scan.
// Every error of a scan starts by naming its file. Names that no kernel
// could resolve (a module, object or function name that is not one, a
// symbol that is not a C identifier) are bad input too: they would reach
// package metadata, scripts and terminals.
// Modules are 64-bit x86_64 or arm64: one for another machine or class is
// a *FormatError naming the machine that matches ErrUnsupportedMachine.
//
// OpenSites lists, per function symbol of an x86_64 module or vmlinux,
// the instrumentation its code holds (tracepoints, static keys, static
// calls, dynamic-debug sites): what a livepatch of the function loses
// unless its new function has them too (check's KLP019). FindTarget finds
// a target kernel's vmlinux and modules under a directory.
//
// Struct layouts come from the module's DWARF, else its BTF over the
// kernel's vmlinux BTF (Options.VmlinuxBTF), else a built-in table keyed
// by architecture and the kernel version in vermagic; Module.LayoutSource
// says which.
package elfscan
