// Package ftrace reads what a host's tracing says of its functions: the
// ftrace file enabled_functions (/sys/kernel/tracing/enabled_functions,
// or under /sys/kernel/debug/tracing) and the kprobes list
// (/sys/kernel/debug/kprobes/list), live or copied. It turns them into
// the sites a deployed state records (deploy.FtraceSite): the functions
// whose ftrace record carries an IPMODIFY or DIRECT user, with the
// handlers and kprobes on them, and says who the IPMODIFY user is
// (IPModifyUser). A livepatch is an IPMODIFY user of every function it
// patches, and the kernel allows one per function, so pkg/check predicts
// from these sites which candidate the kernel would refuse (KLP022).
//
// Both files are outside input: every line is checked, names must be
// what the kernel prints, and the files are read with a bound (MaxSize).
// Errors callers may test for, with errors.AsType: *FormatError, a line
// that is not what the kernel writes, naming the file and line.
package ftrace
