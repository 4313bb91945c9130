// Package status answers, for a host, what `kpatch list` and SUSE's
// `klp status` / `klp -v blocking` answer: the kernel, each livepatch
// with its layer and the package that installed it, whose code runs each
// patched function, a transition in progress with the tasks that block it
// and the frames on their stacks that keep it open, and the pinned hooks.
// It also judges whether the host runs what its packages say (Status.OK,
// with the reasons in Status.Problems).
//
// It reads only: the livepatch sysfs tree (pkg/sysfs, through
// pkg/capture, which joins the installed klpack package manifests and
// infers the stack order where the kernel has no stack_order), /proc
// (each task's patch_state, comm and stack) and, through a seam, the
// hooks' state (pkg/hooks). Every read is bounded; /proc is hostile in
// the ordinary way, as tasks end between the listing and the read: a
// task that vanished is skipped, a malformed one noted and skipped.
//
// Errors callers may test for: *sysfs.Error for a bad livepatch tree;
// ErrNoRelease when the kernel release is neither given nor readable.
package status
