// Package modsign owns the kernel module signature trailer: it appends one
// the way the kernel's scripts/sign-file does (a detached PKCS#7
// SignedData over the module bytes, without signed attributes or
// certificates, as sign-file asks OpenSSL's CMS_sign for with CMS_NOATTR
// and CMS_NOCERTS, then a struct module_signature and Magic), and it
// parses one (Parse, Strip) into what kmod's modinfo shows. The kernel,
// modinfo, `klpack scan` and `openssl cms -verify` read what it writes.
//
// Callers may test errors with errors.Is for ErrNoSignature (the module
// carries no signature), ErrNotModule (the input is no uncompressed ELF
// module), ErrKeyMismatch (certificate and key differ), ErrUnsupportedKey,
// ErrUnknownHash and ErrEncryptedKey; a malformed signature is a
// *FormatError (errors.AsType) saying what is wrong and where.
package modsign
