// Package elf64 reads 64-bit ELF relocatable objects (Linux kernel
// modules) for x86_64 and arm64 from bytes in memory: the header, the
// section headers and their names, the symbol table, RELA relocations,
// and pointers that relocations fill in, with bounded reads of section
// contents.
//
// Everything in the input is untrusted: every offset, size, index and
// count is checked before use, strings must be NUL-terminated inside their
// table, and nothing is allocated beyond a small multiple of the input.
// Parse checks the headers; symbols and relocations are read on first
// use and cached.
//
// Error contract: Parse returns a nil *File exactly when it returns an
// error; Symbols and Relocations return nil without an error when there is
// nothing to read (no symbol table, no relocations). Bad input is a *FormatError (errors.AsType) naming the section
// and offset when known; input without the ELF magic is ErrNotELF; a
// well-formed file of another class or machine is a *FormatError that
// matches ErrUnsupportedMachine with errors.Is.
package elf64
