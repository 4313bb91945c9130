package repo

import (
	"errors"
	"fmt"
)

var (
	// ErrBadPackage means a package file is malformed or hostile.
	ErrBadPackage = errors.New("bad package")
	// ErrBadName means a file name holds characters outside the set the
	// indexes can carry safely.
	ErrBadName = errors.New("file name refused")
	// ErrBadOptions means an option cannot be used (a suite name that is
	// no path component, a zero date).
	ErrBadOptions = errors.New("bad repository options")
	// ErrToolMissing means a program the repository needs is not
	// installed.
	ErrToolMissing = errors.New("tool not installed")
	// ErrTool means a program failed or its output is not what it should be.
	ErrTool = errors.New("tool failed")
)

// FormatError is a package file that cannot be indexed; it matches
// ErrBadPackage.
type FormatError struct {
	Path string // relative to the repository directory
	Off  int64  // where in the file, when known
	Msg  string
}

func (e *FormatError) Error() string {
	s := "file " + e.Path + ": "
	if e.Path == "" {
		s = ""
	}
	if e.Off > 0 {
		s += fmt.Sprintf("offset %d: ", e.Off)
	}
	return s + e.Msg
}

func (e *FormatError) Is(target error) bool { return target == ErrBadPackage }

// ToolError is a missing program; it matches ErrToolMissing.
type ToolError struct {
	Tool    string // the program, as looked up on $PATH
	Package string // the Debian package that installs it
}

func (e *ToolError) Error() string {
	return fmt.Sprintf("%s not found on $PATH (install the Debian package %s)", e.Tool, e.Package)
}

func (e *ToolError) Is(target error) bool { return target == ErrToolMissing }
