// Package atomicfile writes output files whole or not at all: one file
// through a temporary file beside it (Write), or a set of files through a
// staging directory inside their output directory (Stage).
//
// Temporary files and staging directories are locked (flock) while in
// use. A run killed by SIGKILL leaves its own behind, unlocked; the next
// run that writes there removes them, but only entries with our exact
// prefix, owned by the effective user, of the expected type (never a
// symbolic link), and not locked by a live run.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Mode is the mode of a new output file. An output replacing a regular
// file takes that file's permissions instead; anything else (a symbolic
// link, a device) lends nothing, since a planted link would otherwise
// choose the mode of our output.
const Mode fs.FileMode = 0o644

// modeFor returns the mode an output at name in root gets.
func modeFor(root *os.Root, name string) (fs.FileMode, error) {
	st, err := root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Mode, nil
	case err != nil:
		return 0, err
	case st.Mode().IsRegular():
		return st.Mode().Perm(), nil
	case st.IsDir():
		return 0, fmt.Errorf("%s: is a directory", name)
	}
	return Mode, nil
}

// Write runs write into a temporary file beside path and renames it to
// path; on any failure it removes the temporary file and leaves path as it
// was. Readers see the old file or the whole new one, never a part. There
// is no fsync: outputs are build products, and waiting for the disk would
// cost more than the build.
func Write(path string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return parentError(path, dir, err)
	}
	defer root.Close()
	prefix := "." + base + ".tmp-"
	if err := removeStale(root, prefix, false); err != nil {
		return fmt.Errorf("file %s: %w", path, err)
	}
	mode, err := modeFor(root, base)
	if err != nil {
		return fmt.Errorf("file %s: %w", path, err)
	}
	f, err := createLocked(root, func() (*os.File, error) { return os.CreateTemp(dir, prefix+"*") })
	if err != nil {
		return fmt.Errorf("file %s: %w", path, err)
	}
	tmp := filepath.Base(f.Name())
	defer func() {
		if err != nil {
			f.Close()
			root.Remove(tmp)
		}
	}()
	if err := write(f); err != nil {
		return fmt.Errorf("file %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if err := root.Rename(tmp, base); err != nil {
		return err
	}
	// Closing releases the lock, after the rename: no cleaner can take
	// the file for stale while it still has its temporary name.
	return f.Close()
}

// createLocked runs create, which makes a new file or directory in root
// and returns it open, and locks it. A cleaner in another process may
// lock and remove it between the two steps; then its name no longer
// leads to what we hold, and we try again.
func createLocked(root *os.Root, create func() (*os.File, error)) (*os.File, error) {
	for range 3 {
		f, err := create()
		if err != nil {
			return nil, err
		}
		ok, err := lockHeld(root, f)
		if ok {
			return f, nil
		}
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return nil, errors.New("new temporary files keep disappearing: another process removes them")
}

// lockHeld locks f and reports whether its name in root still leads to
// it.
func lockHeld(root *os.Root, f *os.File) (bool, error) {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		switch {
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		case !errors.Is(err, syscall.ENOSYS):
			return false, err
		}
		// A kernel without CONFIG_FILE_LOCKING locks nothing: no other
		// run can lock the file either, so none removes it (cleanup
		// removes only what it locks).
	}
	fst, err := f.Stat()
	if err != nil {
		return false, err
	}
	lst, err := root.Lstat(filepath.Base(f.Name()))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil && os.SameFile(fst, lst), err
}

// removeStale removes the entries of root whose names start with prefix
// that a killed run left: directories when dirs is set, else regular
// files; owned by our effective user; not locked. It never follows a
// symbolic link, and leaves alone anything it cannot prove stale.
func removeStale(root *os.Root, prefix string, dirs bool) error {
	d, err := root.Open(".")
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	for _, name := range names {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		if err := removeIfStale(root, name, dirs); err != nil {
			return fmt.Errorf("stale %s: %w", name, err)
		}
	}
	return nil
}

func removeIfStale(root *os.Root, name string, dir bool) error {
	lst, err := root.Lstat(name)
	if err != nil {
		return nil // gone already
	}
	if lst.IsDir() != dir || (!dir && !lst.Mode().IsRegular()) || !ownedByUs(lst) {
		return nil
	}
	// The name may lead elsewhere since the Lstat (a link put in its
	// place): SameFile below finds out before anything is removed.
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil // a live run holds it
	}
	fst, err := f.Stat()
	if err != nil || !os.SameFile(fst, lst) {
		return nil
	}
	if dir {
		return root.RemoveAll(name)
	}
	return root.Remove(name)
}

func ownedByUs(st fs.FileInfo) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) == os.Geteuid()
}

// CheckParent says whether Write can put a file at path: its directory
// exists and is one. Commands check their output file first, so that a
// mistyped -o fails before the work, not after.
func CheckParent(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err == nil && !st.IsDir() {
		err = &fs.PathError{Op: "stat", Path: dir, Err: syscall.ENOTDIR}
	}
	if err != nil {
		return parentError(path, dir, err)
	}
	return nil
}

// missingDirError is an output file's missing directory; it is
// fs.ErrNotExist to errors.Is.
type missingDirError struct{ path, dir string }

func (e *missingDirError) Error() string {
	return fmt.Sprintf("file %s: directory %s does not exist", e.path, e.dir)
}

func (e *missingDirError) Unwrap() error { return fs.ErrNotExist }

// parentError words a failure to open the directory of the output file
// path. The directory is never created: a typo in it would otherwise
// put the file somewhere nobody looks (output directories, which a
// command names as such, are created).
func parentError(path, dir string, err error) error {
	dir = filepath.Clean(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return &missingDirError{path, dir}
	}
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		err = pe.Err
	}
	return fmt.Errorf("file %s: directory %s: %w", path, dir, err)
}
