package elfscan

import (
	"errors"
	"fmt"
)

// Sentinels callers may test for with errors.Is.
var (
	// ErrNotELF: the (decompressed) file does not start with the ELF magic.
	ErrNotELF = errors.New("not an ELF file")
)

// FormatError reports bad input: a file that is not a well-formed kernel
// module. Section and Off locate the fault when known.
type FormatError struct {
	Path    string
	Section string
	Off     uint64
	Msg     string
}

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
