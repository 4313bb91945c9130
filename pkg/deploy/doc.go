// Package deploy owns the deployed set of livepatches on a kernel: the
// klpack.deployed/v1 state (State, Kernel, Patch), its file (ReadState,
// ParseState, WriteState, EncodeState) and the kernel models a state names
// (ModelFor). Reading sysfs is pkg/sysfs's job, joining it with module
// files pkg/capture's, replaying the kernel's rules pkg/sim's.
//
// A state is the kernel (release and model) and its patches: each a
// klpack.scan/v1 module record plus enabled, load_order (1 = oldest, as
// the kernel's stack_order counts), transition when known and layer when
// declared. Files are read strictly and bounded (MaxStateSize); files are
// written through a temporary file and a rename, never half.
//
// Errors callers may test for, with errors.AsType:
//   - *StateError: a state document that is not valid JSON, has a wrong
//     type, or breaks a rule (Validate); it names the file, the JSON path
//     of the field (patches[2].load_order) and, for syntax errors, the
//     line and column.
package deploy
