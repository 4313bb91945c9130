package elfscan

import (
	"errors"
	"fmt"

	"github.com/klpack/klpack/internal/elf64"
)

// Sentinels callers may test for with errors.Is; the ELF reader owns them.
var (
	// ErrNotELF: the (decompressed) file does not start with the ELF magic.
	ErrNotELF = elf64.ErrNotELF
	// ErrUnsupportedMachine: a well-formed ELF file for an architecture or
	// class klpack does not read (only 64-bit x86_64 and arm64). It comes
	// as a *FormatError naming the file and the machine.
	ErrUnsupportedMachine = elf64.ErrUnsupportedMachine
)

// FormatError reports bad input: a file that is not a well-formed kernel
// module. Section and Off locate the fault when known.
type FormatError struct {
	Path    string
	Section string
	Off     uint64
	Msg     string
	// Err is what the error wraps, if anything: a sentinel, the error of
	// a library that read the file (debug/dwarf), or the ELF reader's
	// *elf64.FormatError, whose message is then the whole message.
	// errors.Is and errors.As see it.
	Err error
}

func (e *FormatError) Unwrap() error { return e.Err }

func (e *FormatError) Error() string {
	s := ""
	if e.Path != "" {
		s = "file " + e.Path + ": "
	}
	if e.Msg == "" && e.Err != nil {
		return s + e.Err.Error()
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

// asFormatError gives an error of the ELF reader, with the context added
// on its way up, the *FormatError callers of this package test for.
func asFormatError(err error) error {
	if _, ok := errors.AsType[*FormatError](err); ok {
		return err
	}
	if fe, ok := errors.AsType[*elf64.FormatError](err); ok {
		return &FormatError{Section: fe.Section, Off: fe.Off, Err: err}
	}
	return err
}
