package safeio

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// NotRegularError reports a path that names something other than a
// regular file: a FIFO, a device, a socket or a directory. Reading one
// could block forever or never end.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s: not a regular file (%s)", e.Path, kind(e.Mode))
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "mode " + m.String()
}

// Open opens path for reading and refuses anything but a regular file.
// O_NONBLOCK keeps the open of a FIFO from waiting for a writer; regular
// files ignore it.
func Open(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	return regular(f, path)
}

// OpenIn is Open for name inside root: the name cannot climb out of it,
// by "..", an absolute path or a symbolic link.
func OpenIn(root *os.Root, name string) (*os.File, fs.FileInfo, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	return regular(f, name)
}

func regular(f *os.File, path string) (*os.File, fs.FileInfo, error) {
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = &NotRegularError{Path: path, Mode: st.Mode()}
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// ReadFile reads the regular file at path whole. A file whose size is
// over limit is refused before any of it is read; the buffer is sized
// from the file, and a file that grows while it is read still stops at
// limit. Errors name the path.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, st, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readSized(f, st, path, limit)
}

// ReadFileIn is ReadFile for name inside root.
func ReadFileIn(root *os.Root, name string, limit int64) ([]byte, error) {
	f, st, err := OpenIn(root, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readSized(f, st, name, limit)
}

func readSized(f *os.File, st fs.FileInfo, path string, limit int64) ([]byte, error) {
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: %w: the file has %d bytes, the limit is %d", path, ErrTooLarge, st.Size(), limit)
	}
	var buf []byte
	if st.Size() > 0 { // files in /proc say 0 and are read in chunks
		buf = make([]byte, 0, st.Size()+1)
	}
	b, err := ReadAllInto(buf, f, limit)
	if errors.Is(err, ErrTooLarge) {
		return nil, fmt.Errorf("%s: grew while read: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// SHA256 is the hex SHA-256 and the size of the regular file at path,
// read as a stream: packages and module files can be large.
func SHA256(path string) (string, int64, error) {
	f, _, err := Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("file %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// ReadFS reads name of fsys (sysfs.FS of an os.Root, a copied tree):
// a regular file of at most limit bytes. Anything else is a
// *NotRegularError, so a FIFO never blocks the read; the errors of
// Open, Stat and ReadAll pass through unwrapped for the caller to word.
func ReadFS(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &NotRegularError{Path: name, Mode: st.Mode()}
	}
	return ReadAll(f, limit)
}
