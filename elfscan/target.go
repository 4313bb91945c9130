package elfscan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/klpack/klpack/pkg/klp"
)

// Bounds of a target directory's walk: a distribution's debug tree or a
// kernel build tree holds some 100,000 entries, modules 32 levels deep at
// most.
const (
	maxTargetEntries = 2_000_000
	maxTargetDepth   = 32
)

// Target is a kernel's files found under a directory (a debug package's
// /usr/lib/debug/lib/modules/REL, a build tree, a modules directory): its
// vmlinux and its modules, by object name.
type Target struct {
	Dir   string
	files map[string][]string // object name → paths, shallowest first
}

// FindTarget walks dir for a file called vmlinux and module files
// (*.ko, *.ko.xz, *.ko.zst, *.ko.gz), indexed by the module name a file
// name gives (dashes read as underscores, as Kbuild names modules). Links
// to directories are not followed. Nothing is read yet.
func FindTarget(ctx context.Context, dir string) (*Target, error) {
	t := &Target{Dir: dir, files: map[string][]string{}}
	n := 0
	root := filepath.Clean(dir)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if n++; n > maxTargetEntries {
			return fmt.Errorf("more than %d entries", maxTargetEntries)
		}
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if d.IsDir() {
			if path != root && strings.Count(path[len(root):], string(filepath.Separator)) > maxTargetDepth {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		obj := ""
		switch {
		case name == klp.VmlinuxName:
			obj = klp.VmlinuxName
		case IsModuleName(name):
			obj = strings.ReplaceAll(name[:strings.Index(name, ".ko")], "-", "_")
		default:
			return nil
		}
		t.files[obj] = append(t.files[obj], path)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("target directory %s: %w", dir, err)
	}
	for _, ps := range t.files {
		// Shallowest first: a build tree's vmlinux before the one of
		// arch/x86/boot/compressed. WalkDir gave them in lexical order.
		sortByDepth(ps)
	}
	return t, nil
}

func sortByDepth(ps []string) {
	depth := func(p string) int { return strings.Count(p, string(filepath.Separator)) }
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && depth(ps[j]) < depth(ps[j-1]); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// ErrTargetAmbiguous: two files of the target name the same object at the
// same depth, so which one the kernel runs is not known.
var ErrTargetAmbiguous = errors.New("two files name the same object")

// Path is the file of object (vmlinux or a module name), "" when the
// target has none.
func (t *Target) Path(object string) (string, error) {
	ps := t.files[object]
	switch {
	case len(ps) == 0:
		return "", nil
	case len(ps) > 1 && strings.Count(ps[0], string(filepath.Separator)) == strings.Count(ps[1], string(filepath.Separator)):
		return "", fmt.Errorf("target directory %s: %s and %s: %w", t.Dir, ps[0], ps[1], ErrTargetAmbiguous)
	}
	return ps[0], nil
}

// Sites reads the sites of the objects named (vmlinux or module names)
// that the target has; the others are left out of the map. A file that
// does not read is an error naming it, and so is a module file whose
// module has another name.
func (t *Target) Sites(ctx context.Context, objects []string) (map[string]*klp.ObjectSites, error) {
	out := map[string]*klp.ObjectSites{}
	for _, obj := range objects {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, done := out[obj]; done {
			continue
		}
		p, err := t.Path(obj)
		if err != nil {
			return nil, err
		}
		if p == "" {
			continue
		}
		o, err := OpenSites(p)
		if err != nil {
			return nil, err
		}
		if o.Object != obj {
			return nil, fmt.Errorf("file %s: module %s, where its file name says %s", p, o.Object, obj)
		}
		out[obj] = o
	}
	return out, nil
}
