// Package pack turns a livepatch release into one rpm and one deb per patch
// module, built with nfpm as a library. Each package carries the module,
// its hook objects, a JSON manifest (scan record, layer, load order, the
// sha256 of every file) and its order file; the loader and its systemd unit
// ship once per kernel, in the loader package every patch package depends
// on (LoaderSpec), which runs the loader once per package transaction; and
// relations that let rpm and dpkg themselves refuse unsafe
// combinations: the exact kernel, cumulative releases of a kernel upgrading
// one another, off-band packages that patch a common function conflicting
// through a per-function virtual, and the load order as a versioned
// virtual (and deb control fields).
//
// A release is read from a release manifest (ReadRelease): one YAML
// document of known keys, each once. Its paths are relative and resolved
// inside the manifest's directory with os.Root (no "..", absolute path or
// symbolic link leaves it); files are read only when regular, without
// waiting on a FIFO, and bounded. Hook files must be BPF hook objects
// named <function>.bpf.o for a hook point of their module. Release.Validate
// checks every value that reaches package metadata, a file name or a
// script: free text without control characters, relations in their
// format's syntax, module, object and function names as the kernel gives
// them. Packages are built by a Packager per format (New), with nfpm's
// globbing off, and written by Build as one set: built in a staging
// directory inside the output directory and moved into place only when
// all of it is built and every signature verified (VerifySignature).
//
// Callers may test errors with errors.Is for ErrUnknownFormat, ErrBadRelease
// (the release manifest or a file it names is wrong), ErrOutsideRoot (a
// path leaves the release root), ErrBadPassphrase, ErrSign (signing
// failed) and ErrBadSignature (a signer printed no valid signature of the
// data).
package pack
