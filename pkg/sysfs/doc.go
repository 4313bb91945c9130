// Package sysfs reads the kernel's livepatch sysfs tree
// (/sys/kernel/livepatch, live or copied) into typed values: per patch
// the attributes each kernel version shows, its objects and the
// <function>,<sympos> directories of each. It only reads; what a tree
// means for a deployed state is pkg/capture's job.
//
// The tree is outside input: Read takes an fs.FS (FS confines one to
// its directory), refuses symbolic links, attributes that are no regular
// file and names the kernel would not give.
//
// Errors callers may test for, with errors.AsType:
//   - *Error: a missing or malformed attribute or directory, named
//     relative to the tree's root.
package sysfs
