package sysfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/klpack/klpack/pkg/klp"
)

// Error is a livepatch sysfs tree that cannot be read as one: a
// missing or malformed attribute, or a function directory not named
// <function>,<sympos>. Path is relative to the tree's root.
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("file %s: %s", e.Path, e.Msg) }

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
// /sys/kernel/livepatch, live or copied). Every attribute is bounded by
// the size of a sysfs page and the tree by a number of directories.
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
		if !isDir(fsys, e) {
			t.Ignored = append(t.Ignored, e.Name())
			continue
		}
		sp, err := readPatch(fsys, e.Name(), &budget)
		if err != nil {
			return nil, err
		}
		t.Patches = append(t.Patches, sp)
	}
	return t, nil
}

func isDir(fsys fs.FS, e fs.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&fs.ModeSymlink == 0 {
		return false
	}
	st, err := fs.Stat(fsys, e.Name())
	return err == nil && st.IsDir()
}

func readPatch(fsys fs.FS, name string, budget *int) (*Patch, error) {
	sp := &Patch{Name: name}
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
	objs, err := readDirs(fsys, name, budget)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		obj := Object{Name: o}
		dir := path.Join(name, o)
		if obj.Patched, err = readBool(fsys, path.Join(dir, "patched")); err != nil {
			return nil, err
		}
		funcs, err := readDirs(fsys, dir, budget)
		if err != nil {
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

// readAttr reads a sysfs attribute, trimmed; ok is false when it is absent.
func readAttr(fsys fs.FS, name string) (string, bool, error) {
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, &Error{Path: name, Msg: unwrapPath(err)}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAttr+1))
	if err != nil {
		return "", false, &Error{Path: name, Msg: unwrapPath(err)}
	}
	if len(b) > maxAttr {
		return "", false, &Error{Path: name, Msg: fmt.Sprintf("larger than the %d bytes of a sysfs attribute", maxAttr)}
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
