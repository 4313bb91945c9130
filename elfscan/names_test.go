package elfscan

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cmp"

	"github.com/klpack/klpack/internal/safetext"
)

// renameIn returns a copy of b with the NUL-delimited string old, in the
// sections whose names start with prefix, replaced by new of the same
// length.
func renameIn(t *testing.T, b []byte, prefix, old, new string) []byte {
	t.Helper()
	if len(old) != len(new) {
		t.Fatalf("%q and %q differ in length", old, new)
	}
	m := newMutator(t, b)
	c := bytes.Clone(b)
	n := 0
	for _, s := range m.f.Sections {
		if !strings.HasPrefix(s.Name, prefix) || s.Size == 0 {
			continue
		}
		data := c[s.Off : s.Off+s.Size]
		for i := 0; ; {
			j := bytes.Index(data[i:], []byte("\x00"+old+"\x00"))
			if j < 0 {
				break
			}
			copy(data[i+j+1:], new)
			i += j + 1
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no string %q in sections %s*", old, prefix)
	}
	return c
}

// TestCraftedNames: names no kernel could resolve are refused, naming the
// file and the field, printably: they would reach rpm Provides, shell
// scripts and terminals.
func TestCraftedNames(t *testing.T) {
	multiobj := filepath.Join(koDir, "6.1.0-56-amd64", "lp_multiobj.ko")
	klpBuild := filepath.Join(klpBuildDir, "ko", "klpb_replace.ko")
	for _, tt := range []struct {
		name, prefix, old, new, msg string
		file                        string // "": lp_multiobj
	}{
		{"old_name with a newline", ".rodata", "uptime_proc_show", "uptime\nproc_show", `klp_func 0: old_name: symbol name "uptime\nproc_show"`, ""},
		{"old_name with a comma and space", ".rodata", "klpack_target_value", "klpack_target, alue", `klp_func 0: old_name: symbol name "klpack_target, alue"`, ""},
		{"old_name with ESC", ".rodata", "klpack_target_name", "klpack\x1b[2Jget_name", `old_name: symbol name "klpack\x1b[2Jget_name"`, ""},
		{"object name with a space", ".rodata", "klpack_target", "klpack target", `klp_object name: module name "klpack target"`, ""},
		{"module name with ESC", ".modinfo", "name=lp_multiobj", "name=lp_\x1b[31mobj", `section .modinfo: module name: module name "lp_\x1b[31mobj"`, ""},
		{"new_func with a comma", ".strtab", "lp_multiobj_uptime_proc_show", "lp_multiobj_uptime,proc_show", `klp_func uptime_proc_show: new_func: "lp_multiobj_uptime,proc_show" is neither`, ""},
		{"callback with a newline", ".strtab", "lp_multiobj_target_pre_patch", "lp_multiobj_target\npre_patch", `callbacks: pre_patch: "lp_multiobj_target\npre_patch" is neither`, ""},
		{".klp.sym name with a newline", ".strtab", ".klp.sym.vmlinux.linux_proc_banner,0", ".klp.sym.vmlinux.linux\nproc_banner,0", `.klp.sym.vmlinux: symbol name "linux\nproc_banner"`, klpBuild},
		{".klp.sym object with ESC", ".strtab", ".klp.sym.vmlinux.linux_proc_banner,0", ".klp.sym.vml\x1bnux.linux_proc_banner,0", `.klp.sym object: module name "vml\x1bnux"`, klpBuild},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := cmp.Or(tt.file, multiobj)
			base, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "crafted.ko")
			if err := os.WriteFile(path, renameIn(t, base, tt.prefix, tt.old, tt.new), 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := Open(path, nil)
			fe, ok := errors.AsType[*FormatError](err)
			if !ok || m != nil || fe.Path != path {
				t.Fatalf("Open() = %v, %v; want a FormatError for %s", m, err, path)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "file "+path+": ") || !strings.Contains(msg, tt.msg) {
				t.Errorf("Open() error %q, want it to name the file and say %q", msg, tt.msg)
			}
			if err := safetext.Check(msg); err != nil {
				t.Errorf("Open() error %q: %v", msg, err)
			}
		})
	}
}
