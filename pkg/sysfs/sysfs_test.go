package sysfs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/pkg/klp"
)

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
func dir() *fstest.MapFile          { return &fstest.MapFile{Mode: 0o555 | 1<<31} }

func TestRead(t *testing.T) {
	tree := fstest.MapFS{
		"README":                                file("not a patch"),
		"lp_a/enabled":                          file("1\n"),
		"lp_a/transition":                       file("0\n"),
		"lp_a/replace":                          file("1\n"),
		"lp_a/stack_order":                      file("2\n"),
		"lp_a/vmlinux/patched":                  file("1\n"),
		"lp_a/vmlinux/cmdline_proc_show,1":      dir(),
		"lp_a/vmlinux/c_next,2":                 dir(),
		"lp_a/kobject_example/patched":          file("0\n"),
		"lp_a/kobject_example/foo_show,1":       dir(),
		"lp_b/enabled":                          file("0\n"),
		"lp_b/transition":                       file("1\n"),
		"lp_b/replaceable":                      file("0\n"),
		"lp_b/replace_set":                      file("7\n"),
		"lp_b/vmlinux/func.with,comma.isra.0,1": dir(),
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
				{Name: "vmlinux", Funcs: []Func{{Name: "func.with,comma.isra.0", Sympos: 1}}},
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
		// Past a page even when what it holds would read well trimmed.
		{"attribute past a page, blanks", "lp/enabled", fstest.MapFS{"lp/enabled": file("1" + strings.Repeat(" ", 4096))}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(context.Background(), tt.tree)
			e, ok := errors.AsType[*Error](err)
			if !ok || e.Path != tt.path || got != nil {
				t.Errorf("Read() = %v, %v; want an *Error at %s", got, err, tt.path)
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
