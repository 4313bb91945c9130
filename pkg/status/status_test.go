package status

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/capture"
	"github.com/klpack/klpack/pkg/hooks"
)

const rel = "6.12.117+deb12-amd64"

// lp is a fake sysfs patch: attributes, then "object/func,pos" names.
type lp struct {
	name  string
	attrs string // "enabled transition replace stack_order", "-" for absent
	funcs []string
}

func sysTree(ps ...lp) fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, p := range ps {
		names := []string{"enabled", "transition", "replace", "stack_order"}
		for i, v := range strings.Fields(p.attrs) {
			if v != "-" {
				fsys[p.name+"/"+names[i]] = &fstest.MapFile{Data: []byte(v + "\n")}
			}
		}
		for _, f := range p.funcs {
			obj, _, _ := strings.Cut(f, "/")
			fsys[p.name+"/"+obj+"/patched"] = &fstest.MapFile{Data: []byte("1\n")}
			fsys[p.name+"/"+f] = &fstest.MapFile{Mode: 0o755 | 1<<31} // a directory
		}
	}
	return fsys
}

// task is a fake /proc task: pid (= tid), comm, patch_state, stack lines.
type task struct {
	pid   int
	comm  string
	state string // "" for none: the task ended
	stack []string
}

func procTree(ts ...task) fstest.MapFS {
	fsys := fstest.MapFS{
		"sys/kernel/osrelease": {Data: []byte(rel + "\n")},
		"self/stat":            {Data: []byte("1 (x)")},
	}
	for _, t := range ts {
		d := fmt.Sprintf("%d/task/%d/", t.pid, t.pid)
		fsys[d+"comm"] = &fstest.MapFile{Data: []byte(t.comm + "\n")}
		if t.state != "" {
			fsys[d+"patch_state"] = &fstest.MapFile{Data: []byte(t.state + "\n")}
		}
		fsys[d+"stack"] = &fstest.MapFile{Data: []byte(strings.Join(t.stack, "\n") + "\n")}
	}
	return fsys
}

// rootTree holds installed manifests "module layer" and the loader's
// record.
func rootTree(record []string, mods ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, m := range mods {
		name, layer, _ := strings.Cut(m, " ")
		b, _ := json.Marshal(map[string]any{"schema": "klpack.package/v1", "kernel": rel, "layer": layer,
			"package": map[string]string{"name": "klp-" + strings.ReplaceAll(name, "_", "-"), "version": "1.0"},
			"module":  map[string]any{"name": name}})
		fsys[capture.InstalledDir+"/"+rel+"/klp-"+strings.ReplaceAll(name, "_", "-")+"/manifest.json"] = &fstest.MapFile{Data: b}
	}
	if record != nil {
		var b strings.Builder
		b.WriteString("release 1.0\n")
		for _, m := range record {
			fmt.Fprintf(&b, "module %s off-band %s.ko\n", m, m)
		}
		fsys[LoaderRecord+"/"+rel+"/running/release"] = &fstest.MapFile{Data: []byte(b.String())}
	}
	return fsys
}

// summary is what a test asserts of a Status, written by hand.
type summary struct {
	Order     string
	Patches   []string          // name@position:layer, "-" for no package
	Runs      map[string]string // key -> runs[ (old)]
	Trans     string            // patch direction target
	Pending   []string          // "pid comm state: frame key code; ..."
	Problems  []string
	NoteParts []string // substrings some note holds
}

func summarize(st *Status, notes []string) summary {
	s := summary{Order: st.OrderSource, Runs: map[string]string{}, Problems: st.Problems}
	for _, p := range st.Patches {
		layer := "-"
		if p.Package != nil {
			layer = p.Layer
		}
		s.Patches = append(s.Patches, fmt.Sprintf("%s@%d:%s", p.Name, p.Position, layer))
	}
	for _, f := range st.Functions {
		v := f.Runs
		if f.Old != "" {
			v += " (" + f.Old + ")"
		}
		s.Runs[f.Key] = v
	}
	if t := st.Transition; t != nil {
		s.Trans = fmt.Sprintf("%s %s %d", t.Patch, t.Direction, t.Target)
		for _, task := range t.Pending {
			l := fmt.Sprintf("%d %s %d:", task.PID, task.Comm, task.PatchState)
			for _, fr := range task.Frames {
				l += fmt.Sprintf(" %s %s %s;", fr.Function, fr.Key, fr.Code)
			}
			s.Pending = append(s.Pending, l)
		}
	}
	for _, want := range notes {
		for _, n := range st.Notes {
			if strings.Contains(n, want) {
				s.NoteParts = append(s.NoteParts, want)
				break
			}
		}
	}
	return s
}

// statusSchema compiles docs/schemas/status-v1.schema.json.
func statusSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	s, err := c.Compile(filepath.Join(testutil.Root(), "docs", "schemas", "status-v1.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// validate checks st's JSON against the schema.
func validate(t *testing.T, schema *jsonschema.Schema, st *Status) {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Errorf("status JSON does not validate: %v\n%s", err, b)
	}
}

// TestRead: hand-built sysfs, /proc and root trees; each case says by
// hand the stack order, whose code runs each function, the tasks not yet
// switched with the frames that block them, and the problems. Every
// document validates against docs/schemas/status-v1.schema.json.
func TestRead(t *testing.T) {
	schema := statusSchema(t)
	cum := lp{"p_cum", "1 0 1 1", []string{"vmlinux/cmdline_proc_show,1", "vmlinux/meminfo_proc_show,1"}}
	off := lp{"p_off", "1 0 0 2", []string{"vmlinux/cmdline_proc_show,1", "e2e_busy/e2e_busy_sleep,1"}}
	both := []string{"p_cum cumulative", "p_off off-band"}
	tests := []struct {
		name  string
		sys   fstest.MapFS
		proc  fstest.MapFS
		root  fstest.MapFS
		hooks []*hooks.Status
		notes []string
		want  summary
	}{
		{
			name: "settled, as the packages say",
			sys:  sysTree(cum, off),
			proc: procTree(task{1, "init", "-1", nil}),
			root: rootTree(nil, both...),
			want: summary{Order: OrderStackOrder, Patches: []string{"p_cum@1:cumulative", "p_off@2:off-band"},
				Runs:     map[string]string{"vmlinux/cmdline_proc_show,1": "p_off", "vmlinux/meminfo_proc_show,1": "p_cum", "e2e_busy/e2e_busy_sleep,1": "p_off"},
				Problems: []string{}},
		},
		{
			name: "stack_order the other way",
			sys:  sysTree(lp{"p_cum", "1 0 1 2", cum.funcs}, lp{"p_off", "1 0 0 1", off.funcs}),
			proc: procTree(),
			root: rootTree(nil, both...),
			want: summary{Order: OrderStackOrder, Patches: []string{"p_off@1:off-band", "p_cum@2:cumulative"},
				Runs:     map[string]string{"vmlinux/cmdline_proc_show,1": "p_cum", "vmlinux/meminfo_proc_show,1": "p_cum", "e2e_busy/e2e_busy_sleep,1": "p_off"},
				Problems: []string{}},
		},
		{
			// No stack_order (before 6.13): the loader's record says
			// p_b went in first, though p_a sorts first.
			name: "order from the loader's record",
			sys:  sysTree(lp{"p_a", "1 0 0", []string{"vmlinux/f,1"}}, lp{"p_b", "1 0 0", []string{"vmlinux/f,1"}}),
			proc: procTree(),
			root: rootTree([]string{"p_b", "p_a"}, "p_a off-band", "p_b off-band"),
			want: summary{Order: OrderLoader, Patches: []string{"p_b@1:off-band", "p_a@2:off-band"},
				Runs: map[string]string{"vmlinux/f,1": "p_a"}, Problems: []string{}},
		},
		{
			// p_z, loaded by hand after the loader's run, is being
			// enabled: it is the newest, though it sorts last only by
			// chance; p_0 sorts first and is also newest.
			name: "the loader's record and a patch being enabled",
			sys: sysTree(lp{"p_a", "1 0 0", []string{"vmlinux/f,1"}}, lp{"p_b", "1 0 0", []string{"vmlinux/f,1"}},
				lp{"p_0", "1 1 0", []string{"vmlinux/f,1"}}),
			proc: procTree(),
			root: rootTree([]string{"p_b", "p_a"}, "p_a off-band", "p_b off-band"),
			want: summary{Order: OrderLoader, Patches: []string{"p_b@1:off-band", "p_a@2:off-band", "p_0@3:-"},
				Runs: map[string]string{"vmlinux/f,1": "p_0 (p_a)"}, Trans: "p_0 patching 1", Pending: nil,
				Problems: []string{"p_0 is loaded but no installed package claims it",
					"p_0 is in transition (patching): 0 task(s) not yet switched"}},
		},
		{
			name: "order guessed without a record",
			sys:  sysTree(lp{"p_a", "1 0 0", []string{"vmlinux/f,1"}}, lp{"p_b", "1 0 0", []string{"vmlinux/f,1"}}),
			proc: procTree(),
			root: rootTree(nil, "p_a off-band", "p_b off-band"),
			want: summary{Order: OrderGuess, Patches: []string{"p_a@1:off-band", "p_b@2:off-band"},
				Runs: map[string]string{"vmlinux/f,1": "p_b"}, Problems: []string{}},
		},
		{
			// p_new is being enabled over p_base. Task 100 sleeps in
			// p_base's foo and in the original bar: both block (what the
			// kernel checks is the code below p_new). Its frame in the
			// original foo does not: p_base's replaces it. 101 is
			// switched, 102 ended, 103's patch_state is malformed, 104
			// undefined (the transition ended meanwhile).
			name: "patching, a task blocks",
			sys: sysTree(lp{"p_base", "1 0 0 1", []string{"vmlinux/foo,1"}},
				lp{"p_new", "1 1 0 2", []string{"vmlinux/foo,1", "vmlinux/bar,1"}}),
			proc: procTree(
				task{100, "worker", "0", []string{"[<0>] foo+0x10/0x20 [p_base]", "[<0>] foo+0x1/0x40", "[<0>] bar+0x5/0x30", "[<0>] ret_from_fork+0x1f/0x30"}},
				task{101, "done", "1", []string{"[<0>] bar+0x5/0x30"}},
				task{102, "gone", "", nil},
				task{103, "odd", "7", nil},
				task{104, "late", "-1", nil},
			),
			root:  rootTree(nil, "p_base off-band", "p_new off-band"),
			notes: []string{`task 103/103: patch_state "7", want -1, 0 or 1`},
			want: summary{Order: OrderStackOrder, Patches: []string{"p_base@1:off-band", "p_new@2:off-band"},
				Runs:      map[string]string{"vmlinux/foo,1": "p_new (p_base)", "vmlinux/bar,1": "p_new (original)"},
				Trans:     "p_new patching 1",
				Pending:   []string{"100 worker 0: foo vmlinux/foo,1 p_base; bar vmlinux/bar,1 original;"},
				Problems:  []string{"p_new is in transition (patching): 1 task(s) not yet switched"},
				NoteParts: []string{`task 103/103: patch_state "7", want -1, 0 or 1`}},
		},
		{
			// p_top is being disabled: tasks still patched (1) block
			// while in its code; the original foo does not count.
			name: "unpatching, a task blocks",
			sys: sysTree(lp{"p_base", "1 0 0 1", []string{"vmlinux/foo,1"}},
				lp{"p_top", "0 1 0 2", []string{"vmlinux/foo,1"}}),
			proc: procTree(
				task{7, "stuck", "1", []string{"[<0>] foo+0x2/0x9 [p_top]", "[<0>] foo+0x2/0x9 [p_base]", "[<0>] foo+0x2/0x9"}},
				task{8, "free", "1", []string{"[<0>] schedule+0x2/0x9"}},
				task{9, "back", "0", []string{"[<0>] foo+0x2/0x9 [p_top]"}},
			),
			root: rootTree(nil, "p_base off-band", "p_top off-band"),
			want: summary{Order: OrderStackOrder, Patches: []string{"p_base@1:off-band", "p_top@2:off-band"},
				Runs:    map[string]string{"vmlinux/foo,1": "p_base (p_top)"},
				Trans:   "p_top unpatching 0",
				Pending: []string{"7 stuck 1: foo vmlinux/foo,1 p_top;", "8 free 1:"},
				Problems: []string{"package klp-p-top 1.0 installs p_top, which is loaded but disabled",
					"p_top is in transition (unpatching): 2 task(s) not yet switched"}},
		},
		{
			name: "a patch no package claims, a package whose patch is not loaded",
			sys:  sysTree(cum, off),
			proc: procTree(),
			root: rootTree(nil, "p_cum cumulative", "p_gone off-band"),
			want: summary{Order: OrderStackOrder, Patches: []string{"p_cum@1:cumulative", "p_off@2:-"},
				Runs: map[string]string{"vmlinux/cmdline_proc_show,1": "p_off", "vmlinux/meminfo_proc_show,1": "p_cum", "e2e_busy/e2e_busy_sleep,1": "p_off"},
				Problems: []string{"package klp-p-gone 1.0 installs p_gone, which is not loaded",
					"p_off is loaded but no installed package claims it"}},
		},
		{
			name:  "a hook bypassed",
			sys:   sysTree(cum),
			proc:  procTree(),
			root:  rootTree(nil, "p_cum cumulative"),
			hooks: []*hooks.Status{{Hook: "h_ok", Linked: []string{"p_cum"}, Live: []string{"p_cum"}}, {Hook: "h_bad", Live: []string{"p_cum"}, Bypassed: []string{"p_cum"}}},
			want: summary{Order: OrderStackOrder, Patches: []string{"p_cum@1:cumulative"},
				Runs:     map[string]string{"vmlinux/cmdline_proc_show,1": "p_cum", "vmlinux/meminfo_proc_show,1": "p_cum"},
				Problems: []string{"hook h_bad: live copies without a probe: p_cum"}},
		},
		{
			name: "nothing loaded, nothing installed",
			sys:  fstest.MapFS{},
			proc: procTree(),
			root: fstest.MapFS{},
			want: summary{Order: OrderGuess, Runs: map[string]string{}, Problems: []string{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := &Options{Livepatch: tt.sys, Proc: tt.proc, Root: tt.root}
			if tt.hooks != nil {
				opts.Hooks = func() ([]*hooks.Status, error) { return tt.hooks, nil }
			}
			st, err := Read(context.Background(), opts)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if diff := cmp.Diff(tt.want, summarize(st, tt.notes)); diff != "" {
				t.Errorf("Read: (-want +got)\n%s\nnotes: %q", diff, st.Notes)
			}
			if st.OK != (len(tt.want.Problems) == 0) {
				t.Errorf("OK = %v with problems %q", st.OK, st.Problems)
			}
			validate(t, schema, st)
			if st.Kernel.Release != rel || st.Schema != Schema {
				t.Errorf("kernel %q schema %q", st.Kernel.Release, st.Schema)
			}
		})
	}
}

// TestReadModuleFiles: with the module files, each patch's new function
// is known by name and so are the nops of a replace patch. lp_replace
// (replace) is being enabled over lp_noreplace: its nops run the
// original code once the transition ends, and a task blocks while in
// lp_noreplace's copy of a nop'ed function (the code below lp_replace,
// named lp_noreplace_version_proc_show) or in the original
// cmdline_proc_show, which nothing patched before.
func TestReadModuleFiles(t *testing.T) {
	dir := t.TempDir()
	for _, m := range []string{"lp_replace", "lp_noreplace"} {
		b, err := os.ReadFile(filepath.Join(testutil.Root(), "testdata", "ko", rel, m+".strip-debug.ko"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, m+".ko"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	nopped := []string{"vmlinux/version_proc_show,1", "vmlinux/loadavg_proc_show,1", "vmlinux/c_next,2"}
	sys := sysTree(lp{"lp_noreplace", "1 0 0 1", nopped},
		lp{"lp_replace", "1 1 1 2", append([]string{"vmlinux/cmdline_proc_show,1"}, nopped...)})
	proc := procTree(task{5, "reader", "0", []string{
		"[<0>] lp_noreplace_version_proc_show+0x5/0x20 [lp_noreplace]",
		"[<0>] version_proc_show+0x5/0x20 [lp_noreplace]",
		"[<0>] version_proc_show+0x5/0x20",
		"[<0>] cmdline_proc_show+0x5/0x20",
		"[<0>] lp_replace_cmdline_proc_show+0x5/0x20 [lp_replace]",
	}})
	st, err := Read(context.Background(), &Options{Livepatch: sys, Proc: proc, Root: rootTree(nil, "lp_noreplace off-band", "lp_replace cumulative"), ModuleDirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	validate(t, statusSchema(t), st)
	want := summary{Order: OrderStackOrder, Patches: []string{"lp_noreplace@1:off-band", "lp_replace@2:cumulative"},
		Runs: map[string]string{
			"vmlinux/cmdline_proc_show,1": "lp_replace (original)",
			"vmlinux/version_proc_show,1": "original (lp_noreplace)",
			"vmlinux/loadavg_proc_show,1": "original (lp_noreplace)",
			"vmlinux/c_next,2":            "original (lp_noreplace)",
		},
		Trans: "lp_replace patching 1",
		Pending: []string{"5 reader 0: lp_noreplace_version_proc_show vmlinux/version_proc_show,1 lp_noreplace; " +
			"cmdline_proc_show vmlinux/cmdline_proc_show,1 original;"},
		Problems: []string{"lp_replace is in transition (patching): 1 task(s) not yet switched"},
	}
	if diff := cmp.Diff(want, summarize(st, nil)); diff != "" {
		t.Errorf("Read: (-want +got)\n%s\nnotes: %q", diff, st.Notes)
	}
	for _, p := range st.Patches {
		if p.ModuleFile == "" {
			t.Errorf("%s: no module file matched", p.Name)
		}
	}
}

// TestReadHostileProc: /proc files that are too large, missing or
// malformed skip a task or its frames with a note; none fails Read.
func TestReadHostileProc(t *testing.T) {
	sys := sysTree(lp{"p", "1 1 0 1", []string{"vmlinux/f,1"}})
	root := rootTree(nil, "p off-band")
	huge := strings.Repeat("[<0>] f+0x1/0x2\n", maxStack/16+1)
	tests := []struct {
		name    string
		proc    fstest.MapFS
		pending []string
		note    string
	}{
		{"stack too large", fstest.MapFS{
			"sys/kernel/osrelease": {Data: []byte(rel)},
			"9/task/9/patch_state": {Data: []byte("0")}, "9/task/9/comm": {Data: []byte("big")},
			"9/task/9/stack": {Data: []byte(huge)}},
			[]string{"9 big 0:"}, "task 9/9: stack: "},
		{"patch_state too large", fstest.MapFS{
			"sys/kernel/osrelease": {Data: []byte(rel)},
			"9/task/9/patch_state": {Data: []byte(strings.Repeat("0", maxPatchState+1))}},
			nil, "task 9/9: patch_state: "},
		{"no stack file: ended", fstest.MapFS{
			"sys/kernel/osrelease": {Data: []byte(rel)},
			"9/task/9/patch_state": {Data: []byte("0")}},
			nil, ""},
		{"no task directory", fstest.MapFS{
			"sys/kernel/osrelease": {Data: []byte(rel)},
			"9/status":             {Data: []byte("x")}, "self/x": {}, "0/task/0/patch_state": {Data: []byte("0")}},
			nil, ""},
		{"a name that is no pid", fstest.MapFS{
			"sys/kernel/osrelease":   {Data: []byte(rel)},
			"09/task/09/patch_state": {Data: []byte("0")}, "9x/task/9x/patch_state": {Data: []byte("0")}},
			nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Read(context.Background(), &Options{Livepatch: sys, Proc: tt.proc, Root: root})
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			got := summarize(st, nil).Pending
			if diff := cmp.Diff(tt.pending, got); diff != "" {
				t.Errorf("pending (-want +got)\n%s", diff)
			}
			if tt.note != "" && !slices.ContainsFunc(st.Notes, func(n string) bool { return strings.Contains(n, tt.note) }) {
				t.Errorf("notes %q, want one with %q", st.Notes, tt.note)
			}
		})
	}
}

// TestReadErrors: what Read cannot read is an error.
func TestReadErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no release", Options{Livepatch: fstest.MapFS{}, Proc: fstest.MapFS{}}, "kernel release unknown"},
		{"a release with a slash", Options{Livepatch: fstest.MapFS{}, Proc: fstest.MapFS{"sys/kernel/osrelease": {Data: []byte("../x")}}}, "is not a kernel release"},
		{"bad enabled", Options{Livepatch: fstest.MapFS{"p/enabled": {Data: []byte("2")}}, Proc: procTree()}, "want 0 or 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Read(context.Background(), &tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) || st != nil {
				t.Errorf("Read = %v, %v; want an error with %q", st, err, tt.want)
			}
		})
	}
}

// FuzzParseFrame: any line of a stack file parses without a panic, and
// what it yields is part of the line.
func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{"[<0>] e2e_busy_sleep+0x2d/0x40 [e2e_busy]", "[<ffffffff81000000>] schedule+0x1/0x2", "[<", "x [", "[]", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		fn, mod := parseFrame(line)
		if !strings.Contains(line, fn) || !strings.Contains(line, mod) {
			t.Errorf("parseFrame(%q) = %q, %q: not from the line", line, fn, mod)
		}
	})
}

func TestParseFrame(t *testing.T) {
	tests := []struct{ line, fn, mod string }{
		{"[<0>] e2e_busy_sleep+0x2d/0x40 [e2e_busy]", "e2e_busy_sleep", "e2e_busy"},
		{"[<ffffffff81000000>] schedule+0x1/0x2", "schedule", ""},
		{"  [<0>] do_syscall_64+0x5d/0x170  ", "do_syscall_64", ""},
		{"[<0>] 0xffffffffc0000000", "0xffffffffc0000000", ""},
	}
	for _, tt := range tests {
		if fn, mod := parseFrame(tt.line); fn != tt.fn || mod != tt.mod {
			t.Errorf("parseFrame(%q) = %q, %q, want %q, %q", tt.line, fn, mod, tt.fn, tt.mod)
		}
	}
}
