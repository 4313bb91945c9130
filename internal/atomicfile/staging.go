package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// StagingPrefix starts the name of every staging directory; Stage removes
// stale ones with it.
const StagingPrefix = ".klpack-staging-"

// ErrNotDir means an output directory names something else.
var ErrNotDir = errors.New("not a directory")

// Staging builds a set of output files in a private directory inside
// their output directory, and moves them into place together (Commit).
// Until Commit the output directory is as it was, and Close, after a
// failure, leaves it so.
//
// Commit renames one file after another. Between the first rename and the
// last (microseconds, no I/O but the renames), the directory holds part of
// the new set beside older files; a run killed in that window leaves the
// rest in its staging directory, which the next Stage removes. Staying in
// the output directory keeps every rename on one file system, so none
// copies.
type Staging struct {
	dir  string   // the output directory, as given
	root *os.Root // the output directory
	name string   // the staging directory, in root
	lock *os.File // the staging directory, open and locked

	mu    sync.Mutex
	files []string // written, in order
}

// Stage prepares the output directory dir: it creates it when missing
// (0755, with its parents; a symbolic link to a directory is followed, a
// dangling one refused), removes staging directories that killed runs
// left, and makes a new staging directory (0700) in it.
func Stage(dir string) (*Staging, error) {
	if err := outputDir(dir); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	if err := removeStale(root, StagingPrefix, true); err != nil {
		root.Close()
		return nil, fmt.Errorf("output directory %s: %w", dir, err)
	}
	lock, err := createLocked(root, func() (*os.File, error) {
		p, err := os.MkdirTemp(dir, StagingPrefix+"*")
		if err != nil {
			return nil, err
		}
		return root.Open(filepath.Base(p))
	})
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("output directory %s: %w", dir, err)
	}
	return &Staging{dir: dir, root: root, name: filepath.Base(lock.Name()), lock: lock}, nil
}

// outputDir makes sure dir is a directory, creating it if it is missing.
func outputDir(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case err == nil && st.IsDir():
		return nil
	case err == nil:
		return fmt.Errorf("output directory %s: %w", dir, ErrNotDir)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("output directory %s: %w", dir, err)
	}
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("output directory %s: a symbolic link to nothing", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output directory %s: %w", dir, err)
	}
	return nil
}

// Dir is the staging directory's path: private scratch space for the
// caller, removed with everything in it by Close.
func (s *Staging) Dir() string { return filepath.Join(s.dir, s.name) }

// Path is where Commit puts the output file name.
func (s *Staging) Path(name string) string { return filepath.Join(s.dir, name) }

// Write writes the output file name, a plain file name, into the staging
// directory; Commit moves it into place. Write may be called from several
// goroutines at once, for different names.
func (s *Staging) Write(name string, write func(io.Writer) error) (err error) {
	if name == "" || name == "." || name == ".." || name != filepath.Base(name) || strings.HasPrefix(name, StagingPrefix) {
		return fmt.Errorf("output file name %q: not a plain file name", name)
	}
	staged := s.name + "/" + name
	f, err := s.root.OpenFile(staged, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("file %s: %w", s.Path(name), cerr)
		}
	}()
	if err := write(f); err != nil {
		return fmt.Errorf("file %s: %w", s.Path(name), err)
	}
	s.mu.Lock()
	s.files = append(s.files, name)
	s.mu.Unlock()
	return nil
}

// Commit moves every file Write wrote into the output directory, each
// replacing what had its name (a planted symbolic link is replaced, not
// followed). It first settles every file's mode (Mode, or that of the
// regular file it replaces) and refuses a name taken by a directory, so
// that nothing is moved unless everything can be, and removes the stale
// temporary files Write would have left for these names. Then it removes
// the staging directory.
func (s *Staging) Commit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range s.files {
		mode, err := modeFor(s.root, name)
		if err != nil {
			return fmt.Errorf("file %s: %w", s.Path(name), err)
		}
		if err := s.root.Chmod(s.name+"/"+name, mode); err != nil {
			return err
		}
	}
	for _, name := range s.files {
		// What Write left for this name in a killed run goes too.
		if err := removeStale(s.root, "."+name+".tmp-", false); err != nil {
			return fmt.Errorf("file %s: %w", s.Path(name), err)
		}
	}
	for _, name := range s.files {
		if err := s.root.Rename(s.name+"/"+name, name); err != nil {
			return fmt.Errorf("file %s: %w", s.Path(name), err)
		}
	}
	s.files = nil
	return s.Close()
}

// Close removes the staging directory with whatever is still in it, and
// releases it. After Commit it does nothing.
func (s *Staging) Close() error {
	if s.lock == nil {
		return nil
	}
	err := s.root.RemoveAll(s.name)
	s.lock.Close()
	s.root.Close()
	s.lock = nil
	return err
}
