// Package fleet checks a release against every deployed combination a
// fleet runs. It owns the inventory (JSON Lines, plain, gzip or zstd, one
// host or one warehouse-grouped count of hosts per line), reads it as a
// stream on all cores into distinct combinations (memory grows with
// them, not with the hosts), resolves each combination's packages
// through the manifests of past releases into a deployed state, merges
// the combinations that resolve to one set (a package version under its
// klpack, rpm and dpkg spellings), and runs check.Check once per
// combination. klpack release's check stage runs the same check against
// klpack.yaml's fleet.
//
// Errors callers may test for: *LineError (a line that cannot be read,
// with its number), ErrTooManyCombinations, and, per combination in the
// report rather than as an error, ErrUnresolved (*UnresolvedError).
package fleet
