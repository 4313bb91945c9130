// Package deploy owns the deployed set of livepatches on a kernel: the
// klpack.deployed/v1 state file (State, ReadState, ParseState, WriteState,
// EncodeState), its capture from a live or copied /sys/kernel/livepatch
// tree joined with the module files (Capture), and the simulator of the
// kernel's livepatch rules.
//
// A state is the kernel (release and model) and its patches: each a
// klpack.scan/v1 module record plus enabled, load_order (1 = oldest, as
// the kernel's stack_order counts), transition when known and layer when
// declared. Files are read strictly and bounded (MaxStateSize); files are
// written through a temporary file and a rename, never half.
//
// Errors callers may test for, with errors.AsType:
//   - *StateError: a state document that is not valid JSON, has an
//     unknown field or a wrong type, or breaks a rule (Validate); it names
//     the file, the JSON path of the field (patches[2].load_order) and,
//     for syntax errors, the line and column.
//   - *SysfsError: a livepatch sysfs tree with a missing or malformed
//     attribute or directory, named relative to the tree's root.
//
// What Capture could not match (a patch without a module file, module
// files not loaded, a file that differs from what the kernel shows) is
// not an error: it is in the CaptureReport.
package deploy
