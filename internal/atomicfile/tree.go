package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
)

// TreeDir is the directory inside the staging directory that CommitTree
// moves into the output directory: a caller builds the new output tree
// there, with subdirectories.
const TreeDir = "tree"

// TreeOptions says in which order CommitTree moves files and what it
// removes.
type TreeOptions struct {
	// Last lists path prefixes (slash-separated, relative to the output
	// directory) whose files move after all others, in this order: the
	// indexes that name other files go last, so that a reader never finds
	// an index naming a file not yet in place.
	Last []string
	// Prune lists directories whose files that the new tree does not hold
	// are removed once everything is in place: the index files of an
	// earlier run that the new indexes no longer name.
	Prune []string
}

// TreeDir returns the path of the directory CommitTree commits, creating
// it on first use.
func (s *Staging) TreeDir() (string, error) {
	if err := s.root.MkdirAll(s.name+"/"+TreeDir, 0o755); err != nil {
		return "", err
	}
	return s.Path(s.name + "/" + TreeDir), nil
}

// CommitTree moves every regular file under the staging tree (TreeDir)
// into the same relative place in the output directory, creating
// directories as needed, then prunes, then removes the staging directory.
// Before it moves anything it checks every file: a staged symbolic link or
// device, or a destination that is a directory, stops the commit with the
// output directory as it was. A staged file that is a hard link of the
// file already in place (an earlier run's package, linked in so that the
// indexes cover it) is left where it is. It returns the files it moved,
// in the order it moved them.
func (s *Staging) CommitTree(o TreeOptions) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.name + "/" + TreeDir
	var files []string
	err := fs.WalkDir(s.root.FS(), src, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("file %s: staged %s is not a regular file", s.Path(p), d.Type())
		}
		files = append(files, strings.TrimPrefix(p, src+"/"))
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	commitOrder(files, o.Last)
	var moves []string
	for _, f := range files {
		same, err := s.sameFile(src+"/"+f, f)
		if err != nil {
			return nil, fmt.Errorf("file %s: %w", s.Path(f), err)
		}
		if same {
			continue
		}
		mode, err := modeFor(s.root, f)
		if err != nil {
			return nil, fmt.Errorf("file %s: %w", s.Path(f), err)
		}
		if err := s.root.Chmod(src+"/"+f, mode); err != nil {
			return nil, err
		}
		moves = append(moves, f)
	}
	for _, f := range moves {
		if dir := path.Dir(f); dir != "." {
			if err := s.root.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("directory %s: %w", s.Path(dir), err)
			}
		}
		if err := s.root.Rename(src+"/"+f, f); err != nil {
			return nil, fmt.Errorf("file %s: %w", s.Path(f), err)
		}
	}
	for _, dir := range o.Prune {
		if err := s.prune(dir, files); err != nil {
			return nil, err
		}
	}
	return moves, s.Close()
}

// commitOrder sorts files by name, those under a prefix of last after
// all others, in the order of last.
func commitOrder(files, last []string) {
	rank := func(f string) int {
		for i, pre := range last {
			if f == pre || strings.HasPrefix(f, strings.TrimSuffix(pre, "/")+"/") {
				return i + 1
			}
		}
		return 0
	}
	slices.SortStableFunc(files, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
}

// sameFile reports whether the staged file and the output file name the
// same inode; a destination that is a directory is an error.
func (s *Staging) sameFile(staged, dest string) (bool, error) {
	dst, err := s.root.Lstat(dest)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if dst.IsDir() {
		return false, errors.New("a directory has its name")
	}
	st, err := s.root.Lstat(staged)
	if err != nil {
		return false, err
	}
	return os.SameFile(st, dst), nil
}

// outputFiles calls fn with each regular file under dir in the output
// directory (slash-separated, relative to it), never inside a staging
// directory; symbolic links and other entries are left out, and a dir
// that does not exist has no files.
func (s *Staging) outputFiles(dir string, fn func(p string) error) error {
	err := fs.WalkDir(s.root.FS(), dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil
		case err != nil:
			return err
		case d.IsDir() && strings.HasPrefix(d.Name(), StagingPrefix):
			return fs.SkipDir
		case !d.Type().IsRegular():
			return nil
		}
		return fn(p)
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// prune removes the regular files under dir that are not among the
// staged files.
func (s *Staging) prune(dir string, staged []string) error {
	keep := make(map[string]bool, len(staged))
	for _, f := range staged {
		keep[f] = true
	}
	return s.outputFiles(dir, func(p string) error {
		if keep[p] {
			return nil
		}
		if err := s.root.Remove(p); err != nil && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("file %s: %w", s.Path(p), err)
		}
		return nil
	})
}

// LinkExisting hard-links the regular files under dir in the output
// directory whose names match into the same place in the staging tree, so
// that what is built there (a repository's indexes) covers the files of
// earlier runs; a file the tree already holds under that name (built by
// this run) is kept. Symbolic links and other entries are not followed or
// linked.
func (s *Staging) LinkExisting(dir string, match func(name string) bool) error {
	tree := s.name + "/" + TreeDir
	return s.outputFiles(dir, func(p string) error {
		if !match(path.Base(p)) {
			return nil
		}
		// A file this run built under the same name wins.
		if _, err := s.root.Lstat(tree + "/" + p); err == nil {
			return nil
		}
		if err := s.root.MkdirAll(tree+"/"+path.Dir(p), 0o755); err != nil {
			return err
		}
		if err := s.root.Link(p, tree+"/"+p); err != nil {
			return fmt.Errorf("file %s: %w", s.Path(p), err)
		}
		return nil
	})
}
