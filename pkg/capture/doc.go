// Package capture builds a deployed state (pkg/deploy) from a kernel's
// livepatch sysfs tree, read by pkg/sysfs, and the module files on the
// host, scanned by elfscan. It is three steps: the join of each sysfs
// patch with the module file that fits it (join.go), the inference of
// what sysfs does not say outright (the kernel release, the model, the
// load order: infer.go), and the report of how both were decided
// (CaptureReport).
//
// What Capture could not match (a patch without a module file, module
// files not loaded, a file that differs from what the kernel shows) is
// not an error: it is in the CaptureReport. Errors callers may test for:
// *sysfs.Error for a bad tree.
package capture
