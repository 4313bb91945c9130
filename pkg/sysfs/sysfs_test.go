package sysfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/klp"
)

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
func dir() *fstest.MapFile          { return &fstest.MapFile{Mode: 0o555 | 1<<31} }

func symlink(to string) *fstest.MapFile {
	return &fstest.MapFile{Mode: fs.ModeSymlink | 0o777, Data: []byte(to)}
}

func TestRead(t *testing.T) {
	tree := fstest.MapFS{
		"README":                           file("not a patch"),
		"lp_a/enabled":                     file("1\n"),
		"lp_a/transition":                  file("0\n"),
		"lp_a/replace":                     file("1\n"),
		"lp_a/stack_order":                 file("2\n"),
		"lp_a/vmlinux/patched":             file("1\n"),
		"lp_a/vmlinux/cmdline_proc_show,1": dir(),
		"lp_a/vmlinux/c_next,2":            dir(),
		"lp_a/kobject_example/patched":     file("0\n"),
		"lp_a/kobject_example/foo_show,1":  dir(),
		"lp_b/enabled":                     file("0\n"),
		"lp_b/transition":                  file("1\n"),
		"lp_b/replaceable":                 file("0\n"),
		"lp_b/replace_set":                 file("7\n"),
		"lp_b/vmlinux/func.isra.0,1":       dir(),
	}
	got, err := Read(context.Background(), tree)
	if err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	two, seven := 2, uint32(7)
	want := &Tree{
		Ignored: []string{"README"},
		Patches: []*Patch{
			{Name: "lp_a", Enabled: true, Transition: &no, Replace: &yes, StackOrder: &two, Objects: []Object{
				{Name: "kobject_example", Patched: &no, Funcs: []Func{{Name: "foo_show", Sympos: 1}}},
				{Name: "vmlinux", Patched: &yes, Funcs: []Func{{Name: "c_next", Sympos: 2}, {Name: "cmdline_proc_show", Sympos: 1}}},
			}},
			{Name: "lp_b", Transition: &yes, Replaceable: &no, ReplaceSet: &seven, Objects: []Object{
				{Name: "vmlinux", Funcs: []Func{{Name: "func.isra.0", Sympos: 1}}},
			}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
	keys := got.Patches[0].Keys()
	for _, k := range []klp.FuncKey{{Object: "vmlinux", Name: "c_next", Sympos: 2}, {Object: "kobject_example", Name: "foo_show", Sympos: 1}} {
		if !keys[k] {
			t.Errorf("Keys() = %v, lacks %v", keys, k)
		}
	}
}

func TestReadBad(t *testing.T) {
	for _, tt := range []struct {
		name, path string
		tree       fstest.MapFS
	}{
		{"no enabled", "lp/enabled", fstest.MapFS{"lp/transition": file("0")}},
		{"enabled not a bool", "lp/enabled", fstest.MapFS{"lp/enabled": file("yes")}},
		{"stack_order zero", "lp/stack_order", fstest.MapFS{"lp/enabled": file("1"), "lp/stack_order": file("0")}},
		{"replace_set negative", "lp/replace_set", fstest.MapFS{"lp/enabled": file("1"), "lp/replace_set": file("-1")}},
		{"replace_set past 32 bits", "lp/replace_set", fstest.MapFS{"lp/enabled": file("1"), "lp/replace_set": file("4294967296")}},
		{"function without sympos", "lp/vmlinux/f", fstest.MapFS{"lp/enabled": file("1"), "lp/vmlinux/f": dir()}},
		{"function with an empty name", "lp/vmlinux/,1", fstest.MapFS{"lp/enabled": file("1"), "lp/vmlinux/,1": dir()}},
		{"attribute past a page", "lp/enabled", fstest.MapFS{"lp/enabled": file(strings.Repeat("1", 4097))}},
		// Names the kernel could not have made: each would reach a report
		// or a terminal (a newline forges a line, ESC sends escapes).
		{"patch name with ESC", "lp\x1b[31m", fstest.MapFS{"lp\x1b[31m/enabled": file("1")}},
		{"patch name with a newline", "lp\nok lp_x", fstest.MapFS{"lp\nok lp_x/enabled": file("1")}},
		{"patch name with NUL", "lp\x00x", fstest.MapFS{"lp\x00x/enabled": file("1")}},
		{"patch name too long", strings.Repeat("p", 56), fstest.MapFS{strings.Repeat("p", 56) + "/enabled": file("1")}},
		{"object name with a newline", "lp/vm\nlinux", fstest.MapFS{"lp/enabled": file("1"), "lp/vm\nlinux/f,1": dir()}},
		{"object name with a space", "lp/vm linux", fstest.MapFS{"lp/enabled": file("1"), "lp/vm linux/f,1": dir()}},
		{"function name with ESC", "lp/vmlinux/f\x1b[2J,1", fstest.MapFS{"lp/enabled": file("1"), "lp/vmlinux/f\x1b[2J,1": dir()}},
		{"function name with a comma", "lp/vmlinux/f,g,1", fstest.MapFS{"lp/enabled": file("1"), "lp/vmlinux/f,g,1": dir()}},
		{"function name with a digit first", "lp/vmlinux/1f,1", fstest.MapFS{"lp/enabled": file("1"), "lp/vmlinux/1f,1": dir()}},
		// Past a page even when what it holds would read well trimmed.
		{"attribute past a page, blanks", "lp/enabled", fstest.MapFS{"lp/enabled": file("1" + strings.Repeat(" ", 4096))}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(context.Background(), tt.tree)
			e, ok := errors.AsType[*Error](err)
			if !ok || e.Path != tt.path || got != nil {
				t.Fatalf("Read() = %v, %v; want an *Error at %q", got, err, tt.path)
			}
			if msg := err.Error(); safetext.Check(msg) != nil || !strings.Contains(msg, safetext.Quote(tt.path)) {
				t.Errorf("Read() error %q: want it printable and naming %s", msg, safetext.Quote(tt.path))
			}
		})
	}
}

// TestReadLinksAndSpecialFiles: no symbolic link is followed and no
// attribute that is not a regular file is read.
func TestReadLinksAndSpecialFiles(t *testing.T) {
	for _, tt := range []struct {
		name, path, msg string
		tree            fstest.MapFS
	}{
		// No symbolic link anywhere: the kernel makes none, and one leads
		// out of the tree.
		{"patch directory a symlink", "lp", "symbolic link", fstest.MapFS{"lp": symlink("../../etc"), "real/enabled": file("1")}},
		{"object directory a symlink", "lp/vmlinux", "symbolic link", fstest.MapFS{"lp/enabled": file("1"), "lp/vmlinux": symlink("/etc")}},
		{"function directory a symlink", "lp/vmlinux/f,1", "symbolic link", fstest.MapFS{"lp/enabled": file("1"), "lp/vmlinux/f,1": symlink("/")}},
		{"attribute a symlink", "lp/enabled", "symbolic link", fstest.MapFS{"lp/enabled": symlink("/etc/shadow")}},
		// Reading a FIFO waits for a writer, a device never ends.
		{"attribute a FIFO", "lp/enabled", "not a regular file (a FIFO)", fstest.MapFS{"lp/enabled": &fstest.MapFile{Mode: fs.ModeNamedPipe}}},
		{"attribute a device", "lp/vmlinux/patched", "not a regular file (a character device)", fstest.MapFS{"lp/enabled": file("1"), "lp/vmlinux/patched": &fstest.MapFile{Mode: fs.ModeDevice | fs.ModeCharDevice}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(context.Background(), tt.tree)
			e, ok := errors.AsType[*Error](err)
			if !ok || e.Path != tt.path || !strings.Contains(e.Msg, tt.msg) || got != nil {
				t.Errorf("Read() = %v, %v; want an *Error at %s saying %q", got, err, tt.path, tt.msg)
			}
		})
	}
}

// FuzzAttributes feeds any bytes to every attribute and any name to a
// function directory: Read returns a tree or an *Error, never panics.
func FuzzAttributes(f *testing.F) {
	f.Add("1", "0", "3", "c_next,2")
	f.Add("1\n", "", "4294967295", ",")
	f.Add("", "x", "-1", "f,,1")
	f.Fuzz(func(t *testing.T, enabled, transition, set, fn string) {
		tree := fstest.MapFS{
			"lp/enabled": file(enabled), "lp/transition": file(transition),
			"lp/replace_set": file(set), "lp/stack_order": file(set),
		}
		if fn != "" && !strings.ContainsAny(fn, "/\x00") && fn != "." && fn != ".." {
			tree["lp/vmlinux/"+fn] = dir()
		}
		got, err := Read(context.Background(), tree)
		if (err == nil) == (got == nil) {
			t.Fatalf("Read() = %v, %v: want a tree or an error", got, err)
		}
		if _, ok := errors.AsType[*Error](err); err != nil && !ok {
			t.Fatalf("Read() error %v is no *Error", err)
		}
	})
}

// TestFS reads trees on disk through FS: a FIFO in place of an attribute
// is refused at once (a blocking open would wait for a writer forever),
// and no symbolic link is followed out of the tree, even one reached
// without a listing.
func TestFS(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "enabled"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path, msg string
		build           func(dir string) error
	}{
		{"attribute a FIFO", "lp/enabled", "not a regular file (a FIFO)", func(dir string) error {
			return errors.Join(os.Mkdir(filepath.Join(dir, "lp"), 0o755), syscall.Mkfifo(filepath.Join(dir, "lp", "enabled"), 0o644))
		}},
		{"patch directory a link out", "lp", "symbolic link", func(dir string) error {
			return os.Symlink(outside, filepath.Join(dir, "lp"))
		}},
		{"attribute a link out", "lp/enabled", "symbolic link", func(dir string) error {
			return errors.Join(os.Mkdir(filepath.Join(dir, "lp"), 0o755), os.Symlink(filepath.Join(outside, "enabled"), filepath.Join(dir, "lp", "enabled")))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tt.build(dir); err != nil {
				t.Fatal(err)
			}
			root, err := os.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			done := make(chan error, 1)
			go func() {
				_, err := Read(context.Background(), FS(root))
				done <- err
			}()
			select {
			case err := <-done:
				if e, ok := errors.AsType[*Error](err); !ok || e.Path != tt.path || !strings.Contains(e.Msg, tt.msg) {
					t.Errorf("Read() = %v; want an *Error at %s saying %q", err, tt.path, tt.msg)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Read() hangs")
			}
		})
	}
	// Opened by name, a link out is refused by the root itself.
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(outside, "enabled"), filepath.Join(dir, "enabled")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, name := range []string{"enabled", "../" + filepath.Base(outside) + "/enabled", "/etc/passwd"} {
		if b, err := fs.ReadFile(FS(root), name); err == nil {
			t.Errorf("FS(root).Open(%q) read %q from outside the root", name, b)
		}
	}
}

// decodeTree builds a tree from fuzz bytes, a line per entry:
// "PATH=VALUE" is a file, "PATH/" a directory, "PATH@TARGET" a symbolic
// link and "PATH|" a FIFO. Lines that are no valid fs.FS path are left
// out.
func decodeTree(b []byte) fstest.MapFS {
	tree := fstest.MapFS{}
	for line := range strings.SplitSeq(string(b), "\n") {
		var name string
		var f *fstest.MapFile
		if i := strings.IndexAny(line, "=@"); i >= 0 && line[i] == '=' {
			name, f = line[:i], file(line[i+1:])
		} else if i >= 0 {
			name, f = line[:i], symlink(line[i+1:])
		} else if n, ok := strings.CutSuffix(line, "/"); ok {
			name, f = n, dir()
		} else if n, ok := strings.CutSuffix(line, "|"); ok {
			name, f = n, &fstest.MapFile{Mode: fs.ModeNamedPipe}
		}
		if f != nil && fs.ValidPath(name) && name != "." {
			tree[name] = f
		}
	}
	return tree
}

// encodeTree is what a kernel would show for t.
func encodeTree(t *Tree) fstest.MapFS {
	out := fstest.MapFS{}
	b := func(v bool) *fstest.MapFile { return file(map[bool]string{false: "0\n", true: "1\n"}[v]) }
	for _, name := range t.Ignored {
		out[name] = file("x")
	}
	for _, p := range t.Patches {
		out[p.Name+"/enabled"] = b(p.Enabled)
		for _, a := range []struct {
			name string
			v    *bool
		}{{"transition", p.Transition}, {"replace", p.Replace}, {"replaceable", p.Replaceable}} {
			if a.v != nil {
				out[p.Name+"/"+a.name] = b(*a.v)
			}
		}
		if p.StackOrder != nil {
			out[p.Name+"/stack_order"] = file(fmt.Sprintf("%d\n", *p.StackOrder))
		}
		if p.ReplaceSet != nil {
			out[p.Name+"/replace_set"] = file(fmt.Sprintf("%d\n", *p.ReplaceSet))
		}
		for _, o := range p.Objects {
			out[p.Name+"/"+o.Name] = dir()
			if o.Patched != nil {
				out[p.Name+"/"+o.Name+"/patched"] = b(*o.Patched)
			}
			for _, f := range o.Funcs {
				out[fmt.Sprintf("%s/%s/%s,%d", p.Name, o.Name, f.Name, f.Sympos)] = dir()
			}
		}
	}
	return out
}

// attrs are the attributes Read reads.
var attrs = map[string]bool{"enabled": true, "transition": true, "replace": true, "replaceable": true, "stack_order": true, "replace_set": true, "patched": true}

// FuzzSysfsTree reads trees built from fuzz bytes (decodeTree). A tree
// read holds only names the kernel could have made and reads back the
// same once written as a kernel would show it; a tree refused is an
// *Error naming a path of the tree, printable as it is.
//
// fstest.MapFS lists a directory by ranging over its map, so coverage
// varies from run to run and Go's minimizer spends its whole
// -fuzzminimizetime (60s by default) on each new input: run it with
// -fuzzminimizetime 2s or so.
func FuzzSysfsTree(f *testing.F) {
	f.Add([]byte("lp_a/enabled=1\nlp_a/transition=0\nlp_a/stack_order=2\nlp_a/vmlinux/patched=1\nlp_a/vmlinux/c_next,2/\nREADME=x"))
	f.Add([]byte("lp_b/enabled=0\nlp_b/replace_set=7\nlp_b/replaceable=1\nlp_b/ext4/foo.isra.0,01/"))
	f.Add([]byte("lp\x1b[31m/enabled=1\nlp/enabled@../../etc/shadow\nlp_c/enabled|\nlp_d/vmlinux/f,g,1/"))
	f.Add([]byte("lp/enabled= 1 \nlp/vmlinux/f\n,1/\nlp/vm linux/"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tree := decodeTree(b)
		got, err := Read(context.Background(), tree)
		if err != nil {
			e, ok := errors.AsType[*Error](err)
			if !ok || got != nil {
				t.Fatalf("Read() = %v, %v: want only an *Error", got, err)
			}
			if !namesPath(tree, e.Path) {
				t.Fatalf("Read() error %v: %q is no path of the tree", err, e.Path)
			}
			if safetext.Check(err.Error()) != nil {
				t.Fatalf("Read() error %q is not printable as it is", err)
			}
			return
		}
		for _, p := range got.Patches {
			if klp.CheckModuleName(p.Name) != nil {
				t.Fatalf("patch %q read", p.Name)
			}
			for _, o := range p.Objects {
				if klp.CheckModuleName(o.Name) != nil {
					t.Fatalf("object %q read", o.Name)
				}
				for _, f := range o.Funcs {
					if klp.CheckSymbolName(f.Name) != nil {
						t.Fatalf("function %q read", f.Name)
					}
				}
			}
		}
		again, err := Read(context.Background(), encodeTree(got))
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if diff := cmp.Diff(got, again); diff != "" {
			t.Fatalf("re-read differs (-read +re-read):\n%s", diff)
		}
	})
}

// namesPath reports whether p is "." or a path in tree or above one, or
// a missing attribute of a directory that is.
func namesPath(tree fstest.MapFS, p string) bool {
	if p == "." || path.Dir(p) != "." && namesPath(tree, path.Dir(p)) && attrs[path.Base(p)] {
		return true
	}
	for name := range tree {
		if name == p || strings.HasPrefix(name, p+"/") {
			return true
		}
	}
	return false
}
