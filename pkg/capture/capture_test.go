package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/sysfs"
)

const (
	k61  = "6.1.0-56-amd64"
	k612 = "6.12.117+deb12-amd64"
)

// fake is one patch directory of a livepatch sysfs tree.
type fake struct {
	name string
	// attrs are the patch attributes: enabled, transition, replace,
	// stack_order... force is added as the kernel has it (write-only).
	attrs map[string]string
	// objects maps an object to its patched value ("" for none) and its
	// function directories, <function>,<sympos>.
	objects map[string]fakeObject
}

type fakeObject struct {
	patched string
	funcs   []string
}

func tree(ps ...fake) fstest.MapFS {
	dir := &fstest.MapFile{Mode: fs.ModeDir | 0o755}
	fsys := fstest.MapFS{}
	for _, p := range ps {
		fsys[p.name] = dir
		fsys[p.name+"/force"] = &fstest.MapFile{Mode: 0o200}
		for k, v := range p.attrs {
			fsys[p.name+"/"+k] = &fstest.MapFile{Data: []byte(v + "\n"), Mode: 0o444}
		}
		for o, obj := range p.objects {
			fsys[p.name+"/"+o] = dir
			if obj.patched != "" {
				fsys[p.name+"/"+o+"/patched"] = &fstest.MapFile{Data: []byte(obj.patched + "\n"), Mode: 0o444}
			}
			for _, f := range obj.funcs {
				fsys[p.name+"/"+o+"/"+f] = dir
			}
		}
	}
	return fsys
}

func vmlinux(patched string, funcs ...string) map[string]fakeObject {
	return map[string]fakeObject{"vmlinux": {patched: patched, funcs: funcs}}
}

// modules copies testdata/ko/<kernel>/<file> into a new directory.
func modules(t *testing.T, kernel string, files ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(testutil.Root(), "testdata", "ko", kernel, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCapture(t *testing.T) {
	lpNoreplace := []string{"version_proc_show,1", "loadavg_proc_show,1", "c_next,2"}
	tests := []struct {
		name   string
		kernel string
		files  []string
		sysfs  fstest.MapFS
		opts   CaptureOptions
	}{{
		// 6.1: no replace, no stack_order. lp_noreplace was loaded after
		// lp_replace and is being disabled.
		name:   "6.1-replace-enabled-noreplace-disabling",
		kernel: k61,
		files:  []string{"lp_replace.strip-debug.ko", "lp_noreplace.strip-debug.ko", "lp_param.strip-debug.ko", "klpack_target.strip-debug.ko"},
		sysfs: tree(
			fake{"lp_replace", map[string]string{"enabled": "1", "transition": "0"}, vmlinux("1", "cmdline_proc_show,1")},
			fake{"lp_noreplace", map[string]string{"enabled": "0", "transition": "1"}, vmlinux("1", lpNoreplace...)},
		),
	}, {
		// 6.12 has replace; stack_order (6.13) added as a newer kernel
		// would show it. lp_param got replace=1 on its command line; the
		// klpack_target module is not loaded.
		name:   "6.12-stack-order",
		kernel: k612,
		files:  []string{"lp_noreplace.ko.xz", "lp_multiobj.strip-debug.ko", "lp_param.strip-debug.ko", "lp_shadow.strip-debug.ko"},
		sysfs: tree(
			fake{"lp_noreplace", map[string]string{"enabled": "1", "transition": "0", "replace": "0", "stack_order": "2"}, vmlinux("1", lpNoreplace...)},
			fake{"lp_multiobj", map[string]string{"enabled": "1", "transition": "0", "replace": "0", "stack_order": "1"}, map[string]fakeObject{
				"vmlinux":       {patched: "1", funcs: []string{"uptime_proc_show,1"}},
				"klpack_target": {patched: "0", funcs: []string{"klpack_target_value,1", "klpack_target_name,1"}},
			}},
			fake{"lp_param", map[string]string{"enabled": "1", "transition": "0", "replace": "1", "stack_order": "3"}, vmlinux("1", "version_proc_show,1")},
		),
	}, {
		// The same tree without stack_order (6.12), order from the caller.
		name:   "6.12-order-given",
		kernel: k612,
		files:  []string{"lp_noreplace.strip-debug.ko", "lp_param.strip-debug.ko"},
		sysfs: tree(
			fake{"lp_noreplace", map[string]string{"enabled": "1", "transition": "0", "replace": "0"}, vmlinux("1", lpNoreplace...)},
			fake{"lp_param", map[string]string{"enabled": "1", "transition": "0", "replace": "0"}, vmlinux("1", "version_proc_show,1")},
		),
		opts: CaptureOptions{Order: []string{"lp_param", "lp_noreplace"}},
	}, {
		// A patch without a module file is kept from sysfs alone.
		name:   "6.12-unknown-patch",
		kernel: k612,
		files:  []string{"lp_replace.strip-debug.ko", "klpack_target.strip-debug.ko"},
		sysfs: tree(
			fake{"lp_replace", map[string]string{"enabled": "1", "transition": "0", "replace": "1"}, vmlinux("1", "cmdline_proc_show,1")},
			fake{"lp_ghost", map[string]string{"enabled": "1", "transition": "0", "replace": "0"}, vmlinux("1", "meminfo_proc_show,1", "c_next,2")},
			fake{"klpack_target", map[string]string{"enabled": "1", "transition": "0"}, vmlinux("1", "x,1")},
		),
	}, {
		// sysfs lists functions the file does not patch, and misses one
		// it does, and replace differs: not the module that was loaded.
		name:   "6.1-function-mismatch",
		kernel: k61,
		files:  []string{"lp_noreplace.strip-debug.ko"},
		sysfs: tree(
			fake{"lp_noreplace", map[string]string{"enabled": "1", "transition": "0"}, map[string]fakeObject{
				"vmlinux":       {patched: "1", funcs: []string{"version_proc_show,1", "c_next,1", "cmdline_proc_show,1"}},
				"klpack_target": {patched: "0", funcs: []string{"klpack_target_value,1"}},
			}},
		),
	}, {
		name:   "6.12-replace-mismatch",
		kernel: k612,
		files:  []string{"lp_shadow.strip-debug.ko"},
		sysfs: tree(
			fake{"lp_shadow", map[string]string{"enabled": "1", "transition": "0", "replace": "1"}, vmlinux("1", "show_softirqs,1")},
		),
	}, {
		// A replace patch in transition carries nops for the functions of
		// the patches it replaces; they are not mismatches.
		name:   "6.12-replace-in-transition",
		kernel: k612,
		files:  []string{"lp_replace.strip-debug.ko", "lp_noreplace.strip-debug.ko"},
		sysfs: tree(
			fake{"lp_noreplace", map[string]string{"enabled": "1", "transition": "0", "replace": "0", "stack_order": "1"}, vmlinux("1", lpNoreplace...)},
			fake{"lp_replace", map[string]string{"enabled": "1", "transition": "1", "replace": "1", "stack_order": "2"},
				vmlinux("1", append([]string{"cmdline_proc_show,1"}, lpNoreplace...)...)},
		),
	}, {
		// Several files of one module: the first that agrees is used.
		name:   "6.12-several-files",
		kernel: k612,
		files:  []string{"lp_clone.ko.xz", "lp_clone.strip-debug.ko"},
		sysfs: tree(
			fake{"lp_clone", map[string]string{"enabled": "1", "transition": "0", "replace": "0"},
				vmlinux("1", "show_val_kb.isra.0,1", "task_state.constprop.0,1", "do_sys_poll.cold,1")},
		),
	}, {
		// The release given disagrees with the modules' vermagic.
		name:   "6.12-release-given",
		kernel: k612,
		files:  []string{"lp_shadow.strip-debug.ko"},
		sysfs: tree(
			fake{"lp_shadow", map[string]string{"enabled": "1", "transition": "0", "replace": "0"}, vmlinux("1", "show_softirqs,1")},
		),
		opts: CaptureOptions{KernelRelease: k61, KernelModel: deploy.ModelHybrid},
	}, {
		// RFC attributes tell the model.
		name:   "replace-set-model",
		kernel: k612,
		files:  []string{"lp_shadow.strip-debug.ko", "lp_replace.strip-debug.ko"},
		sysfs: tree(
			fake{"lp_shadow", map[string]string{"enabled": "1", "transition": "0", "replace_set": "7", "stack_order": "1"}, vmlinux("1", "show_softirqs,1")},
			fake{"lp_replace", map[string]string{"enabled": "1", "transition": "0", "replace_set": "0", "stack_order": "2"}, vmlinux("1", "cmdline_proc_show,1")},
		),
	}, {
		// A disabled patch out of transition: caught while being freed.
		// stack_order on one patch only (a copy racing a change) is
		// ignored.
		name:   "6.12-disabled-partial-stack-order",
		kernel: k612,
		files:  []string{"lp_shadow.strip-debug.ko", "lp_clone.strip-debug.ko"},
		sysfs: tree(
			fake{"lp_shadow", map[string]string{"enabled": "0", "transition": "0", "replace": "0", "stack_order": "1"}, vmlinux("1", "show_softirqs,1")},
			fake{"lp_clone", map[string]string{"enabled": "1", "transition": "0", "replace": "0"},
				vmlinux("1", "show_val_kb.isra.0,1", "task_state.constprop.0,1", "do_sys_poll.cold,1")},
		),
	}, {
		name:   "empty-tree",
		kernel: k612,
		files:  []string{"lp_shadow.strip-debug.ko"},
		sysfs:  fstest.MapFS{},
		opts:   CaptureOptions{KernelRelease: k612},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := modules(t, tt.kernel, tt.files...)
			st, rep, err := Capture(context.Background(), tt.sysfs, []string{dir}, &tt.opts)
			if err != nil {
				t.Fatalf("Capture() = %v", err)
			}
			var out bytes.Buffer
			out.WriteString("# report\n")
			if err := rep.WriteText(&out); err != nil {
				t.Fatal(err)
			}
			out.WriteString("# state\n")
			if err := deploy.WriteSummary(&out, st); err != nil {
				t.Fatal(err)
			}
			out.WriteString("# patches\n")
			for _, p := range st.Patches {
				for _, kp := range p.Patches {
					fmt.Fprintf(&out, "%s: replace=%t (%s)", p.Name, kp.Replace, kp.ReplaceSource)
					if kp.ReplaceSet != nil {
						fmt.Fprintf(&out, " replace_set=%d", *kp.ReplaceSet)
					}
					out.WriteString("\n")
					for _, o := range kp.Objects {
						for _, f := range o.Funcs {
							fmt.Fprintf(&out, "  %s/%s,%d %s\n", o.ObjectName(), f.OldName, f.OldSympos, f.NewFunc)
						}
					}
				}
			}
			testutil.Golden(t, bytes.ReplaceAll(out.Bytes(), []byte(dir), []byte("MODDIR")))

			// What Capture returns is a valid state that survives a file.
			var enc bytes.Buffer
			if err := deploy.EncodeState(&enc, st); err != nil {
				t.Fatalf("deploy.EncodeState(captured) = %v", err)
			}
			if _, err := deploy.ParseState(&enc, "captured.json"); err != nil {
				t.Fatalf("deploy.ParseState(captured) = %v", err)
			}
		})
	}
}

func TestCaptureReportCounts(t *testing.T) {
	dir := modules(t, k612, "lp_replace.strip-debug.ko", "lp_param.strip-debug.ko", "lp_shadow.strip-debug.ko")
	sysfs := tree(
		fake{"lp_replace", map[string]string{"enabled": "1", "transition": "0", "replace": "1"}, vmlinux("1", "cmdline_proc_show,1")},
		fake{"lp_ghost", map[string]string{"enabled": "1", "transition": "0", "replace": "0"}, vmlinux("1", "meminfo_proc_show,1")},
	)
	st, rep, err := Capture(context.Background(), sysfs, []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for kind, want := range map[string]int{EntryUnmatched: 1, EntryNotLoaded: 2, EntryMismatch: 0, EntrySkipped: 0} {
		if got := rep.Count(kind); got != want {
			t.Errorf("Count(%s) = %d, want %d\n%s", kind, got, want, strings.Join(rep.Lines(), "\n"))
		}
	}
	if rep.OrderSource != OrderGuess || rep.ReleaseSource != "vermagic" || rep.ModelSource != "sysfs" {
		t.Errorf("sources = %q %q %q", rep.OrderSource, rep.ReleaseSource, rep.ModelSource)
	}
	// lp_replace is enabled, out of transition, replace: it goes first.
	if st.Patches[0].Name != "lp_replace" || st.Patches[0].LoadOrder != 1 {
		t.Errorf("first patch %s (%d), want lp_replace (1)", st.Patches[0].Name, st.Patches[0].LoadOrder)
	}
	ghost := st.Patches[1]
	if ghost.Path != "" || ghost.Patches[0].ReplaceSource != klp.ReplaceSysfs || ghost.Patches[0].Objects[0].Name != nil {
		t.Errorf("lp_ghost record: %+v", ghost.Patches[0])
	}
}

func TestCaptureErrors(t *testing.T) {
	good := fake{"lp_shadow", map[string]string{"enabled": "1", "transition": "0"}, vmlinux("1", "show_softirqs,1")}
	tests := []struct {
		name  string
		sysfs fstest.MapFS
		dirs  []string // nil: a directory with lp_shadow
		opts  CaptureOptions
		path  string // sysfs.Error.Path; "" when another error
		msg   string
	}{
		{name: "enabled not 0 or 1", sysfs: tree(fake{"lp_shadow", map[string]string{"enabled": "2"}, nil}), path: "lp_shadow/enabled", msg: `want 0 or 1, got "2"`},
		{name: "enabled missing", sysfs: tree(fake{"lp_shadow", map[string]string{"transition": "0"}, nil}), path: "lp_shadow/enabled", msg: "missing"},
		{name: "transition bad", sysfs: tree(fake{"lp_shadow", map[string]string{"enabled": "1", "transition": "yes"}, nil}), path: "lp_shadow/transition", msg: "want 0 or 1"},
		{name: "stack_order zero", sysfs: tree(fake{"lp_shadow", map[string]string{"enabled": "1", "stack_order": "0"}, nil}), path: "lp_shadow/stack_order", msg: "positive integer"},
		{name: "replace_set bad", sysfs: tree(fake{"lp_shadow", map[string]string{"enabled": "1", "replace_set": "-1"}, nil}), path: "lp_shadow/replace_set", msg: "unsigned 32-bit"},
		{name: "function without sympos", sysfs: tree(fake{"lp_shadow", map[string]string{"enabled": "1"}, vmlinux("1", "show_softirqs")}), path: "lp_shadow/vmlinux/show_softirqs", msg: "<function>,<sympos>"},
		{name: "function bad sympos", sysfs: tree(fake{"lp_shadow", map[string]string{"enabled": "1"}, vmlinux("1", "show_softirqs,x")}), path: "lp_shadow/vmlinux/show_softirqs,x", msg: "<function>,<sympos>"},
		{name: "patched bad", sysfs: tree(fake{"lp_shadow", map[string]string{"enabled": "1"}, vmlinux("maybe", "show_softirqs,1")}), path: "lp_shadow/vmlinux/patched", msg: "want 0 or 1"},
		{name: "attribute too large", sysfs: fstest.MapFS{
			"lp_shadow/enabled": &fstest.MapFile{Data: bytes.Repeat([]byte("1"), 4096+1)},
		}, path: "lp_shadow/enabled", msg: "larger than"},
		{name: "patch name with a newline", sysfs: fstest.MapFS{"lp\nnote lp_x/enabled": &fstest.MapFile{Data: []byte("1")}}, path: "lp\nnote lp_x", msg: `file "lp\nnote lp_x": patch directory: module name`},
		{name: "function name with ESC", sysfs: tree(fake{"lp_shadow", map[string]string{"enabled": "1"}, vmlinux("1", "f\x1b[2J,1")}), path: "lp_shadow/vmlinux/f\x1b[2J,1", msg: `file "lp_shadow/vmlinux/f\x1b[2J,1": function directory: symbol name`},
		{name: "no release", sysfs: fstest.MapFS{}, msg: "kernel release unknown"},
		{name: "unknown model", sysfs: tree(good), opts: CaptureOptions{KernelModel: "kpatch"}, msg: `unknown kernel model "kpatch"`},
		{name: "order misses a patch", sysfs: tree(good, fake{"lp_b", map[string]string{"enabled": "1"}, nil}), opts: CaptureOptions{Order: []string{"lp_shadow"}}, msg: "lp_b is in sysfs but not in the order given"},
		{name: "order names a stranger", sysfs: tree(good), opts: CaptureOptions{Order: []string{"lp_shadow", "lp_x"}}, msg: "lp_x is not a patch in sysfs"},
		{name: "order repeats", sysfs: tree(good), opts: CaptureOptions{Order: []string{"lp_shadow", "lp_shadow"}}, msg: "given twice"},
		{name: "missing module dir", sysfs: tree(good), dirs: []string{"/nonexistent/klpack"}, msg: "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dirs := tt.dirs
			if dirs == nil {
				dirs = []string{modules(t, k612, "lp_shadow.strip-debug.ko")}
			}
			st, rep, err := Capture(context.Background(), tt.sysfs, dirs, &tt.opts)
			if err == nil || st != nil || rep != nil {
				t.Fatalf("Capture() = %v, %v, %v; want only an error", st, rep, err)
			}
			se, ok := errors.AsType[*sysfs.Error](err)
			if tt.path != "" && (!ok || se.Path != tt.path) {
				t.Errorf("Capture() = %v, want a sysfs.Error for %s", err, tt.path)
			}
			if tt.path == "" && ok {
				t.Errorf("Capture() = %v, want no sysfs.Error", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Capture() = %v, want it to contain %q", err, tt.msg)
			}
		})
	}
}

func TestCaptureCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sysfs := tree(fake{"lp_shadow", map[string]string{"enabled": "1"}, nil})
	_, _, err := Capture(ctx, sysfs, []string{modules(t, k612, "lp_shadow.strip-debug.ko")}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Capture(canceled) = %v, want context.Canceled", err)
	}
}

func TestCaptureProgressAndSkipped(t *testing.T) {
	dir := modules(t, k612, "lp_shadow.strip-debug.ko")
	if err := os.WriteFile(filepath.Join(dir, "broken.ko"), []byte("ELF"), 0o644); err != nil {
		t.Fatal(err)
	}
	var calls []int
	opts := &CaptureOptions{Progress: func(done, total int) {
		if total != 2 {
			t.Errorf("Progress total %d, want 2", total)
		}
		calls = append(calls, done)
	}}
	sysfs := tree(fake{"lp_shadow", map[string]string{"enabled": "1", "transition": "0"}, vmlinux("1", "show_softirqs,1")})
	_, rep, err := Capture(context.Background(), sysfs, []string{dir}, opts)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(calls)
	if !slices.Equal(calls, []int{1, 2}) {
		t.Errorf("Progress calls %v, want [1 2]", calls)
	}
	if rep.Count(EntrySkipped) != 1 {
		t.Errorf("report:\n%s\nwant one skipped file", strings.Join(rep.Lines(), "\n"))
	}
}

// TestReportLinesQuoted: a path or name with a control character cannot
// forge a report line or reach the terminal raw.
func TestReportLinesQuoted(t *testing.T) {
	rep := &CaptureReport{Entries: []ReportEntry{
		{Kind: EntrySkipped, Path: "m/a\nok lp_x.ko", Msg: "file m/a\nok lp_x.ko: not an ELF file"},
		{Kind: EntryNote, Patch: "lp\x1b[2J", Msg: "in transition"},
		{Kind: EntryNote, Patch: "lp_a", Msg: "in transition"},
	}}
	want := []string{
		`skipped: "file m/a\nok lp_x.ko: not an ELF file"`,
		`note "lp\x1b[2J": in transition`,
		`note lp_a: in transition`,
	}
	if diff := cmp.Diff(want, rep.Lines()); diff != "" {
		t.Errorf("Lines() (-want +got):\n%s", diff)
	}
}
