// Package repo turns a directory of built packages into the repositories a
// fleet points its package manager at: an apt repository (Apt: Packages
// indexes written here from each deb's control file, a Release with their
// checksums, a detached Release.gpg and a clearsigned InRelease), a dnf/yum
// repository (Yum: repodata made by the real createrepo_c, repomd.xml
// signed as repomd.xml.asc) and a SHA256SUMS file with its signature
// (Checksums).
//
// Everything in the directory is untrusted: only regular files are read,
// with names of a safe character set, through os.Root (nothing leaves the
// directory), and debs are decoded with bounded reads. Output is
// deterministic: the same packages and options give byte-identical
// indexes; the time in them is the caller's (SOURCE_DATE_EPOCH). OpenPGP
// signatures carry their own creation time and so differ between runs.
//
// Each function returns the paths it wrote, relative to its directory, in
// the order a publisher must move them into place: data before the index
// that names it, signatures last.
//
// Callers may test errors with errors.Is for ErrBadPackage (a package in
// the directory is malformed or hostile; the error is a *FormatError that
// names the file), ErrBadName (a file name outside the safe set),
// ErrBadOptions, ErrToolMissing (a *ToolError naming the program and the
// Debian package that has it) and ErrTool (the tool failed or made output
// that does not describe the packages), and pack.ErrBadSignature and
// pack.ErrSign from a signer.
package repo
