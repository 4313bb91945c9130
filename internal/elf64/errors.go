package elf64

import (
	"errors"
	"fmt"
)

// Sentinels callers may test for with errors.Is.
var (
	// ErrNotELF: the input does not start with the ELF magic.
	ErrNotELF = errors.New("not an ELF file")
	// ErrUnsupportedMachine: a well-formed ELF file for a class or
	// architecture this package does not read. It comes as a
	// *FormatError naming the machine.
	ErrUnsupportedMachine = errors.New("unsupported machine")
)

// FormatError reports bad input: bytes that are not a well-formed ELF64
// relocatable object of a supported machine. Section and Off locate the
// fault when known.
type FormatError struct {
	Section string
	Off     uint64
	Msg     string
	// Err is a sentinel the error means, if any (ErrUnsupportedMachine).
	Err error
}

func (e *FormatError) Unwrap() error { return e.Err }

func (e *FormatError) Error() string {
	s := ""
	if e.Section != "" {
		s = "section " + e.Section + ": "
		if e.Off != 0 {
			s += fmt.Sprintf("offset %#x: ", e.Off)
		}
	}
	return s + e.Msg
}

func formatErr(section string, off uint64, format string, args ...any) *FormatError {
	return &FormatError{Section: section, Off: off, Msg: fmt.Sprintf(format, args...)}
}
