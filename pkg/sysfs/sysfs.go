package sysfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/klp"
)

// Error is a livepatch sysfs tree that cannot be read as one: a
// missing or malformed attribute, an attribute that is no regular file,
// a symbolic link, or a directory whose name the kernel would not give
// (a patch or object not named like a module, a function directory not
// named <function>,<sympos>). Path is relative to the tree's root.
type Error struct {
	Path string
	Msg  string
}

// Error quotes Path: it holds the names of the tree's directories,
// which may carry any byte but "/" and NUL.
func (e *Error) Error() string { return fmt.Sprintf("file %s: %s", safetext.Quote(e.Path), e.Msg) }

// FS is the tree under root as an fs.FS for Read. Everything is opened
// through root, so no name and no symbolic link leads out of it (os.DirFS
// would follow one), and opened with O_NONBLOCK, so that a FIFO in place
// of an attribute is refused by Read instead of waiting for a writer.
func FS(root *os.Root) fs.FS { return rootFS{root} }

type rootFS struct{ root *os.Root }

func (r rootFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f, err := r.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Tree is what a /sys/kernel/livepatch directory shows.
type Tree struct {
	// Patches, one per patch directory, in directory order (sorted).
	Patches []*Patch
	// Ignored names the files at the top that are no patch directories.
	Ignored []string
}

// Patch is what sysfs shows of one patch; a pointer is nil when the
// kernel has no such attribute.
type Patch struct {
	// Name is the directory's, which the kernel takes from the module.
	Name        string
	Enabled     bool
	Transition  *bool   // Linux 4.12
	Replace     *bool   // Linux 6.11
	Replaceable *bool   // the hybrid-mode RFC
	StackOrder  *int    // Linux 6.13
	ReplaceSet  *uint32 // the replace_set posting
	Objects     []Object
}

// Object is one object directory: vmlinux or a module's name.
type Object struct {
	Name    string
	Patched *bool // Linux 6.1
	Funcs   []Func
}

// Func is one <function>,<sympos> directory.
type Func struct {
	Name   string
	Sympos uint64
}

// Keys are the functions the patch lists.
func (sp *Patch) Keys() map[klp.FuncKey]bool {
	out := make(map[klp.FuncKey]bool)
	for _, o := range sp.Objects {
		for _, f := range o.Funcs {
			out[klp.FuncKey{Object: o.Name, Name: f.Name, Sympos: klp.Sympos(f.Sympos)}] = true
		}
	}
	return out
}

// maxAttr is the most a sysfs attribute holds (PAGE_SIZE on x86); maxDirs
// bounds the directories of a tree, far above the patches a kernel holds.
const (
	maxAttr = 4096
	maxDirs = 1 << 20
)

// Read reads the livepatch sysfs tree fsys (the contents of
// /sys/kernel/livepatch, live or copied; FS gives one confined to its
// directory). Every attribute must be a regular file no larger than a
// sysfs page, every directory name one the kernel could have made, and
// the tree holds no symbolic link (the kernel makes none, and one would
// lead out of the tree); the tree is bounded by a number of directories.
func Read(ctx context.Context, fsys fs.FS) (*Tree, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, &Error{Path: ".", Msg: unwrapPath(err)}
	}
	budget := maxDirs
	t := &Tree{}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := noSymlink(e, e.Name()); err != nil {
			return nil, err
		}
		if !e.IsDir() {
			t.Ignored = append(t.Ignored, e.Name())
			continue
		}
		if err := klp.CheckModuleName(e.Name()); err != nil {
			return nil, &Error{Path: e.Name(), Msg: fmt.Sprintf("patch directory: %v", err)}
		}
		sp, err := readPatch(fsys, e.Name(), &budget)
		if err != nil {
			return nil, err
		}
		t.Patches = append(t.Patches, sp)
	}
	return t, nil
}

func noSymlink(e fs.DirEntry, name string) error {
	if e.Type()&fs.ModeSymlink != 0 {
		return &Error{Path: name, Msg: "a symbolic link: the kernel's livepatch tree has none"}
	}
	return nil
}

func readPatch(fsys fs.FS, name string, budget *int) (*Patch, error) {
	sp := &Patch{Name: name}
	// Listed first: the listing refuses symbolic links, which opening an
	// attribute would follow.
	objs, err := readDirs(fsys, name, budget)
	if err != nil {
		return nil, err
	}
	enabled, err := readBool(fsys, path.Join(name, "enabled"))
	if err != nil {
		return nil, err
	}
	if enabled == nil {
		return nil, &Error{Path: path.Join(name, "enabled"), Msg: "missing: every patch directory has one"}
	}
	sp.Enabled = *enabled
	if sp.Transition, err = readBool(fsys, path.Join(name, "transition")); err != nil {
		return nil, err
	}
	if sp.Replace, err = readBool(fsys, path.Join(name, "replace")); err != nil {
		return nil, err
	}
	if sp.Replaceable, err = readBool(fsys, path.Join(name, "replaceable")); err != nil {
		return nil, err
	}
	if v, ok, err := readAttr(fsys, path.Join(name, "stack_order")); err != nil {
		return nil, err
	} else if ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, &Error{Path: path.Join(name, "stack_order"), Msg: fmt.Sprintf("want a positive integer, got %q", v)}
		}
		sp.StackOrder = &n
	}
	if v, ok, err := readAttr(fsys, path.Join(name, "replace_set")); err != nil {
		return nil, err
	} else if ok {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, &Error{Path: path.Join(name, "replace_set"), Msg: fmt.Sprintf("want an unsigned 32-bit integer, got %q", v)}
		}
		set := uint32(n)
		sp.ReplaceSet = &set
	}
	for _, o := range objs {
		obj := Object{Name: o}
		dir := path.Join(name, o)
		// vmlinux passes too: it is named like a module.
		if err := klp.CheckModuleName(o); err != nil {
			return nil, &Error{Path: dir, Msg: fmt.Sprintf("object directory: %v", err)}
		}
		funcs, err := readDirs(fsys, dir, budget)
		if err != nil {
			return nil, err
		}
		if obj.Patched, err = readBool(fsys, path.Join(dir, "patched")); err != nil {
			return nil, err
		}
		for _, f := range funcs {
			// The sympos follows the last comma.
			i := strings.LastIndexByte(f, ',')
			if i <= 0 {
				return nil, &Error{Path: path.Join(dir, f), Msg: "function directory not named <function>,<sympos>"}
			}
			fn := f[:i]
			n, err := strconv.ParseUint(f[i+1:], 10, 64)
			if err != nil {
				return nil, &Error{Path: path.Join(dir, f), Msg: "function directory not named <function>,<sympos>"}
			}
			if err := klp.CheckSymbolName(fn); err != nil {
				return nil, &Error{Path: path.Join(dir, f), Msg: fmt.Sprintf("function directory: %v", err)}
			}
			obj.Funcs = append(obj.Funcs, Func{Name: fn, Sympos: n})
		}
		sp.Objects = append(sp.Objects, obj)
	}
	return sp, nil
}

// readDirs lists the subdirectories of dir, sorted.
func readDirs(fsys fs.FS, dir string, budget *int) ([]string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, &Error{Path: dir, Msg: unwrapPath(err)}
	}
	var out []string
	for _, e := range entries {
		if err := noSymlink(e, path.Join(dir, e.Name())); err != nil {
			return nil, err
		}
		if !e.IsDir() {
			continue
		}
		if *budget--; *budget < 0 {
			return nil, &Error{Path: dir, Msg: fmt.Sprintf("more than %d directories in the tree", maxDirs)}
		}
		out = append(out, e.Name())
	}
	return out, nil
}

// readAttr reads a sysfs attribute, trimmed; ok is false when it is
// absent. It must be a regular file (the kernel's are, of size 4096):
// a FIFO would block the read, a device never end it.
func readAttr(fsys fs.FS, name string) (string, bool, error) {
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, &Error{Path: name, Msg: unwrapPath(err)}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", false, &Error{Path: name, Msg: unwrapPath(err)}
	}
	if !st.Mode().IsRegular() {
		nr := &safeio.NotRegularError{Path: name, Mode: st.Mode()}
		return "", false, &Error{Path: name, Msg: strings.TrimPrefix(nr.Error(), name+": ")}
	}
	tooLarge := &Error{Path: name, Msg: fmt.Sprintf("larger than the %d bytes of a sysfs attribute", maxAttr)}
	if st.Size() > maxAttr {
		return "", false, tooLarge
	}
	b, err := safeio.ReadAll(f, maxAttr)
	if errors.Is(err, safeio.ErrTooLarge) {
		return "", false, tooLarge
	}
	if err != nil {
		return "", false, &Error{Path: name, Msg: unwrapPath(err)}
	}
	return strings.TrimSpace(string(b)), true, nil
}

// readBool reads a 0/1 attribute; nil when absent.
func readBool(fsys fs.FS, name string) (*bool, error) {
	v, ok, err := readAttr(fsys, name)
	if err != nil || !ok {
		return nil, err
	}
	switch v {
	case "0", "1":
		b := v == "1"
		return &b, nil
	}
	return nil, &Error{Path: name, Msg: fmt.Sprintf("want 0 or 1, got %q", v)}
}

// unwrapPath drops the *fs.PathError wrapping: Error names the path.
func unwrapPath(err error) string {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err.Error()
	}
	return err.Error()
}
