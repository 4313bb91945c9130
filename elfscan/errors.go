package elfscan

import (
	"errors"
	"fmt"
)

// Sentinels callers may test for with errors.Is.
var (
	// ErrNotELF: the (decompressed) file does not start with the ELF magic.
	ErrNotELF = errors.New("not an ELF file")
	// ErrUnsupportedMachine: a well-formed ELF file for an architecture or
	// class klpack does not read (only 64-bit x86_64 and arm64). It comes
	// as a *FormatError naming the file and the machine.
	ErrUnsupportedMachine = errors.New("unsupported machine")
)

// FormatError reports bad input: a file that is not a well-formed kernel
// module. Section and Off locate the fault when known.
type FormatError struct {
	Path    string
	Section string
	Off     uint64
	Msg     string
	// Err is what the error wraps, if anything: a sentinel such as
	// ErrUnsupportedMachine, or the error of a library that read the
	// file (debug/dwarf). errors.Is and errors.As see it.
	Err error
}

func (e *FormatError) Unwrap() error { return e.Err }

func (e *FormatError) Error() string {
	s := ""
	if e.Path != "" {
		s = "file " + e.Path + ": "
	}
	if e.Section != "" {
		s += "section " + e.Section + ": "
		if e.Off != 0 {
			s += fmt.Sprintf("offset %#x: ", e.Off)
		}
	}
	return s + e.Msg
}

func formatErr(section string, off uint64, format string, args ...any) *FormatError {
	return &FormatError{Section: section, Off: off, Msg: fmt.Sprintf(format, args...)}
}
