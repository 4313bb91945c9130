package e2e

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/sim"
)

// readNewc walks a newc archive back into files.
func readNewc(t *testing.T, b []byte) []File {
	t.Helper()
	var out []File
	off := 0
	hex := func(i int) uint32 {
		v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
		if err != nil {
			t.Fatalf("offset %d: field %d: %v", off, i, err)
		}
		return uint32(v)
	}
	for {
		if string(b[off:off+6]) != "070701" {
			t.Fatalf("offset %d: magic %q", off, b[off:off+6])
		}
		mode, size, major, minor, namesize := hex(1), int(hex(6)), hex(9), hex(10), int(hex(11))
		name := string(b[off+110 : off+110+namesize-1])
		off += 110 + namesize
		off += pad4(off)
		data := b[off : off+size]
		off += size
		off += pad4(off)
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Errorf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
		f := File{Path: name, Mode: fs.FileMode(mode & 0o777), Major: major, Minor: minor}
		switch mode & 0o170000 {
		case 0o040000:
			f.Mode |= fs.ModeDir
		case 0o120000:
			f.Mode |= fs.ModeSymlink
			f.Data = data
		case 0o020000:
			f.Mode |= fs.ModeDevice | fs.ModeCharDevice
		case 0o100000:
			f.Data = data
		default:
			t.Fatalf("%s: mode %o", name, mode)
		}
		out = append(out, f)
	}
}

func TestWriteCPIO(t *testing.T) {
	files := []File{
		{Path: "bin", Mode: fs.ModeDir | 0o755},
		{Path: "dev/console", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, Major: 5, Minor: 1},
		{Path: "init", Mode: 0o755, Data: []byte("#!/bin/sh\necho hi\n")},
		{Path: "bin/sh", Mode: fs.ModeSymlink | 0o777, Data: []byte("busybox")},
		{Path: "a", Mode: 0o644, Data: []byte("odd")},
		{Path: "empty", Mode: 0o644},
	}
	var a, b bytes.Buffer
	if err := WriteCPIO(&a, files); err != nil {
		t.Fatal(err)
	}
	if err := WriteCPIO(&b, files); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("WriteCPIO is not deterministic")
	}
	got := readNewc(t, a.Bytes())
	if diff := cmp.Diff(files, got, cmp.Comparer(func(x, y []byte) bool { return bytes.Equal(x, y) })); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	if err := WriteCPIO(&a, []File{{Path: "/", Mode: 0o644}}); err == nil {
		t.Error("WriteCPIO of an empty name: no error")
	}
}

func TestGuestSteps(t *testing.T) {
	sc, err := sim.ParseScenario(strings.NewReader("steps:\n- load: e2e_a.ko\n- disable: e2e_a\n- enable: e2e_a\n- unload: e2e_a\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := GuestSteps(sc)
	if err != nil {
		t.Fatal(err)
	}
	want := "load e2e_a.ko\ndisable e2e_a\nenable e2e_a\nunload e2e_a\n"
	if string(got) != want {
		t.Errorf("GuestSteps = %q, want %q", got, want)
	}
	sc.Steps[0].Load = "../ko/e2e_a.ko"
	if _, err := GuestSteps(sc); err == nil {
		t.Error("GuestSteps with a path: no error")
	}
	sc.Steps[0].Load = "e2e_a.ko"
	sc.Deployed = "state.json"
	if _, err := GuestSteps(sc); err == nil {
		t.Error("GuestSteps with a deployed state: no error")
	}
}

// TestRunsOn: a scenario boots on the kernels it lists, and only on the
// kernels of its model: mainline ones unless it names hybrid or
// replace-set.
func TestRunsOn(t *testing.T) {
	for _, tt := range []struct {
		model   string
		kernels []string
		want    []string
	}{
		{"", nil, []string{"6.1", "6.12", "7.2", "test"}},
		{deploy.ModelMainline, []string{"test"}, []string{"test"}},
		{deploy.ModelHybrid, nil, []string{"test-hybrid"}},
		{deploy.ModelReplaceSet, nil, []string{"test-replace-set"}},
		{deploy.ModelHybrid, []string{"test"}, nil},
	} {
		sc := &sim.Scenario{KernelModel: tt.model, Kernels: tt.kernels}
		var got []string
		for _, k := range []string{"6.1", "6.12", "7.2", "test", "test-hybrid", "test-replace-set"} {
			if RunsOn(sc, k) {
				got = append(got, k)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("model %q kernels %q runs on %q, want %q", tt.model, tt.kernels, got, tt.want)
		}
	}
}

// The scenarios the e2e test boots must parse and use plain file names.
func TestScenariosParse(t *testing.T) {
	dir := filepath.Join(testutil.Root(), "testdata", "e2e", "scenarios")
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no scenarios in %s", dir)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc, err := sim.ParseScenario(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := GuestSteps(sc); err != nil {
				t.Error(err)
			}
		})
	}
}

const transcript = `SeaBIOS noise
KLPE begin demo 6.12.117+deb12-amd64
KLPE func 0 cmdline_proc_show original
KLPE capture 0 {"schema": "klpack.deployed/v1", "kernel": {"release": "6.12.117+deb12-amd64"}, "patches": []}
KLPE capturerc 0 0
KLPE done 0
KLPE step 1 load e2e_a.ko
KLPE rc 1 0
KLPE wait 1 320
KLPE dmesg 1 [    4.77] livepatch: enabling patch 'e2e_a'
KLPE dir 1 e2e_a
KLPE dir 1 e2e_a/vmlinux
KLPE dir 1 e2e_a/vmlinux/cmdline_proc_show,1
KLPE sys 1 e2e_a/enabled 1
KLPE sys 1 e2e_a/transition 0
KLPE sys 1 e2e_a/replace 0
KLPE sys 1 e2e_a/force ?
KLPE sys 1 e2e_a/vmlinux/patched 1
KLPE func 1 cmdline_proc_show e2e_a
KLPE func 1 version_proc_show original
KLPE capture 1 {"schema": "klpack.deployed/v1", "kernel": {"release": "6.12.117+deb12-amd64"},
KLPE capture 1  "patches": [{"name": "e2e_a", "path": "/lib/modules/e2e/e2e_a.ko", "livepatch": true,
KLPE capture 1  "patches": [{"replace": false, "objects": [{"name": null, "funcs": [{"old_name": "cmdline_proc_show", "old_sympos": 0, "new_func": "e2e_cmdline_proc_show"}]}]}],
KLPE capture 1  "enabled": true, "load_order": 1}]}
KLPE capturerc 1 0
KLPE ms 1 observe 90 capture 700
KLPE done 1
KLPE step 2 unload e2e_a
KLPE rc 2 1
KLPE out 2 rmmod: can't unload module 'e2e_a': Resource temporarily unavailable
[    5.1] random kernel line KLPE wait 2 280
KLPE dir 2 e2e_a
KLPE sys 2 e2e_a/enabled 1
KLPE sys 2 e2e_a/transition 0
KLPE sys 2 e2e_a/replace 0
KLPE sys 2 e2e_a/force ?
KLPE func 2 cmdline_proc_show e2e_a
KLPE capture 2 {"schema": "klpack.deployed/v1", "kernel": {"release": "6.12.117+deb12-amd64"},
KLPE capture 2  "patches": [{"name": "e2e_a", "path": "/lib/modules/e2e/e2e_a.ko", "livepatch": true,
KLPE capture 2  "patches": [{"replace": false, "objects": [{"name": null, "funcs": [{"old_name": "cmdline_proc_show", "old_sympos": 0, "new_func": "e2e_cmdline_proc_show"}]}]}],
KLPE capture 2  "enabled": true, "load_order": 1}]}
KLPE capturerc 2 0
KLPE done 2
KLPE end
`

func TestParseConsole(t *testing.T) {
	// The same scenario twice in one boot, then a reset that failed.
	c, err := ParseConsole(strings.NewReader(transcript + strings.ReplaceAll(transcript, "begin demo", "begin again") +
		"KLPE reset-failed again patches: e2e_a modules: e2e_a\nKLPE halt\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Transcripts) != 2 || c.Transcripts[1].Scenario != "again" || c.ResetFailed != "again patches: e2e_a modules: e2e_a" || !c.Halted {
		t.Fatalf("ParseConsole = %d transcripts, reset-failed %q, halted %v", len(c.Transcripts), c.ResetFailed, c.Halted)
	}
	for _, tr := range c.Transcripts {
		if tr.Release != "6.12.117+deb12-amd64" || !tr.Ended || len(tr.Steps) != 3 {
			t.Fatalf("transcript %q: release %q ended=%v steps=%d", tr.Scenario, tr.Release, tr.Ended, len(tr.Steps))
		}
	}
	tr := c.Transcripts[0]
	s := tr.Steps[2]
	if s.Kind != "unload" || s.Arg != "e2e_a" || s.RC != 1 || s.WaitMS != 280 || !s.Done {
		t.Errorf("step 2 = %+v", s)
	}
	if got := s.Errno(); got != "EAGAIN" {
		t.Errorf("step 2 Errno() = %q, want EAGAIN", got)
	}
	ps := tr.Steps[1].Patches()
	if len(ps) != 1 || ps[0].Name != "e2e_a" || !ps[0].Enabled || ps[0].Replace == nil || *ps[0].Replace || ps[0].StackOrder != nil {
		t.Errorf("step 1 Patches() = %+v", ps)
	}
	// A second scenario that did not end.
	c, err = ParseConsole(strings.NewReader(transcript + "KLPE begin cut 6.1\nKLPE step 0 x\n"))
	if err != nil || len(c.Transcripts) != 2 || c.Transcripts[1].Ended || c.Halted {
		t.Errorf("ParseConsole(cut) = %+v, %v", c, err)
	}

	for _, bad := range []string{"KLPE begin a 6.1\nKLPE rc 1 x\n", "KLPE begin a 6.1\nKLPE step 2 load a.ko\n", "KLPE begin a 6.1\nKLPE bogus 0 x\n",
		"KLPE begin a 6.1\nKLPE rc\n", "KLPE rc 0 0\n", "KLPE begin a\n"} {
		if _, err := ParseConsole(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseConsole(%q): no error", bad)
		}
	}
}

func TestErrno(t *testing.T) {
	tests := []struct {
		kind string
		rc   int
		out  string
		want string
	}{
		{"load", 0, "", ""},
		{"load", 17, "insmod: can't insert 'x.ko': File exists", "EEXIST"},
		{"load", 22, "", "EINVAL"},
		{"load", 1, "", "EPERM"},
		{"enable", 1, "sh: write error: Invalid argument", "EINVAL"},
		{"enable", 2, "sh: can't create /sys/kernel/livepatch/x/enabled: nonexistent directory", "ENOENT"},
		{"unload", 1, "rmmod: can't unload module 'x': No such file or directory", "ENOENT"},
		{"unload", 1, "something else", "?"},
	}
	for _, tt := range tests {
		s := &GuestStep{Kind: tt.kind, RC: tt.rc, Out: []string{tt.out}}
		if got := s.Errno(); got != tt.want {
			t.Errorf("Errno(%s, %d, %q) = %q, want %q", tt.kind, tt.rc, tt.out, got, tt.want)
		}
	}
}

func TestCompare(t *testing.T) {
	c, err := ParseConsole(strings.NewReader(transcript))
	if err != nil {
		t.Fatal(err)
	}
	tr := c.Transcripts[0]
	stack := []sim.StackEntry{{Name: "e2e_a", Enabled: true, Replaceable: true}}
	simulated := &sim.Simulation{
		Initial: sim.Step{Funcs: map[string]string{}},
		Steps: []sim.Step{
			{Action: "load", Target: "e2e_a", Accepted: true, Stack: stack,
				Funcs: map[string]string{"vmlinux/cmdline_proc_show,1": "e2e_a"}},
			{Action: "unload", Target: "e2e_a", Accepted: false, Errno: "EBUSY", Cause: "in-use", Stack: stack,
				Funcs: map[string]string{}},
		},
	}
	res := Compare(tr, simulated)
	if res.Steps != 2 || res.Agreed != 1 {
		t.Errorf("Compare: %d steps, %d agreed, want 2, 1", res.Steps, res.Agreed)
	}
	if len(res.Diffs) != 1 || res.Diffs[0].Step != 2 || res.Diffs[0].What != "errno" ||
		!strings.Contains(res.Diffs[0].Kernel, "EAGAIN") || !strings.Contains(res.Diffs[0].Sim, "EBUSY") {
		t.Errorf("Compare diffs = %v", res.Diffs)
	}

	// A function the simulator never reported but the kernel patched, and
	// a stack the simulator got wrong.
	simulated.Steps[0].Funcs = map[string]string{}
	simulated.Steps[1].Errno = "EAGAIN"
	simulated.Steps[1].Stack = nil
	res = Compare(tr, simulated)
	var whats []string
	for _, d := range res.Diffs {
		whats = append(whats, strconv.Itoa(d.Step)+" "+d.What)
	}
	want := []string{"1 function cmdline_proc_show", "2 patches (by name: no stack_order)", "2 function cmdline_proc_show", "2 captured state"}
	if diff := cmp.Diff(want, whats); diff != "" {
		t.Errorf("Compare diffs (-want +got):\n%s\n%v", diff, res.Diffs)
	}
	var b bytes.Buffer
	SideBySide(&b, tr, simulated)
	if !strings.Contains(b.String(), "refused EAGAIN") {
		t.Errorf("SideBySide does not show the kernel's answer:\n%s", b.String())
	}
}

func TestReasonShown(t *testing.T) {
	st := sim.Step{Action: "load", Target: "e2e_s0r", Cause: sim.CauseState, Errno: "EINVAL"}
	g := &GuestStep{Kind: "load", RC: 22, Dmesg: []string{
		"[    6.146636] livepatch: Livepatch patch (e2e_s0r) is not compatible with the already installed livepatches.",
	}}
	if !reasonShown(g, st) {
		t.Error("reasonShown: the kernel's message was not recognized")
	}
	g.Dmesg = []string{"[    6.1] something else"}
	if reasonShown(g, st) {
		t.Error("reasonShown: no message, but shown")
	}
	st.Cause = sim.CauseInUse
	if !reasonShown(g, st) {
		t.Error("reasonShown: a cause the kernel does not log must not be checked")
	}
}

// TestAgreementTable: every scenario a row, every kernel a column, the
// agreed steps where it ran, its status where a step disagreed, "-" where
// it does not boot.
func TestAgreementTable(t *testing.T) {
	rows := []Row{
		{Scenario: "states", Kernel: "6.1", Steps: 5, Agreed: 5, Status: "agreed"},
		{Scenario: "hybrid-keeps", Kernel: "test-hybrid", Steps: 6, Agreed: 6, Status: "agreed"},
		{Scenario: "states", Kernel: "test", Steps: 5, Agreed: 3, Status: "DISAGREED (2)"},
	}
	want := "| scenario | 6.1 | test | test-hybrid |\n|---|---|---|---|\n" +
		"| hybrid-keeps | - | - | 6/6 |\n" +
		"| states | 5/5 | DISAGREED (2) | - |\n"
	if got := AgreementTable(rows, []string{"6.1", "test", "test-hybrid"}); got != want {
		t.Errorf("AgreementTable =\n%s\nwant\n%s", got, want)
	}
	doc := "intro\n" + TableBegin + "\nold table\n" + TableEnd + "\nafter\n"
	got, old, err := ReplaceTable(doc, want)
	if err != nil || old != "old table\n" || got != "intro\n"+TableBegin+"\n"+want+TableEnd+"\nafter\n" {
		t.Errorf("ReplaceTable = %q, %q, %v", got, old, err)
	}
	if _, _, err := ReplaceTable("no markers", want); err == nil {
		t.Error("ReplaceTable without markers: no error")
	}
}

func TestCompareTransition(t *testing.T) {
	for _, tt := range []struct {
		name    string
		stuck   bool
		pending string
		want    string // the kernel side of the one diff, "" for none
	}{
		{name: "finished as predicted"},
		{name: "pending as predicted", stuck: true, pending: "e2e_hr"},
		{name: "stuck but predicted finished", stuck: true, want: "still in transition after 4000 ms"},
		{name: "finished but predicted pending", pending: "e2e_hr", want: "finished after 4000 ms"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := compareTransition(5, &GuestStep{Stuck: tt.stuck, WaitMS: 4000}, sim.Step{Pending: tt.pending})
			switch {
			case tt.want == "" && len(d) != 0:
				t.Errorf("diffs %v, want none", d)
			case tt.want != "" && (len(d) != 1 || d[0].Kernel != tt.want || d[0].What != "transition"):
				t.Errorf("diffs %v, want one transition diff, kernel %q", d, tt.want)
			}
		})
	}
}

func TestCompareTask(t *testing.T) {
	held := sim.Step{Action: "hold", Target: "e2e_hold", Accepted: true,
		Tasks: []sim.TaskEntry{{Name: "e2e_hold", Function: "e2e_hold/e2e_hold_sleep,1", Code: "e2e_hb"}}}
	for _, tt := range []struct {
		name  string
		st    sim.Step
		dmesg []string
		want  string // the kernel side of the one diff, "" for none
	}{
		{name: "entered the predicted code", st: held, dmesg: []string{"[    5.8] klpe e2e_hb - e2e_hold_sleep"}},
		{name: "entered other code", st: held, dmesg: []string{"[    5.8] klpe original - e2e_hold_sleep"}, want: "original"},
		{name: "no line", st: held, dmesg: []string{"[    5.8] klpe e2e_hb - cmdline_proc_show"}, want: "no line in the kernel log"},
		{name: "not a hold step", st: sim.Step{Action: "load", Accepted: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := compareTask(4, &GuestStep{Dmesg: tt.dmesg}, tt.st)
			switch {
			case tt.want == "" && len(d) != 0:
				t.Errorf("diffs %v, want none", d)
			case tt.want != "" && (len(d) != 1 || d[0].Kernel != tt.want):
				t.Errorf("diffs %v, want one with kernel %q", d, tt.want)
			}
		})
	}
}

func TestCompareLayout(t *testing.T) {
	sys := func(files ...string) map[string]string {
		m := map[string]string{}
		for _, f := range files {
			m[f] = "0"
		}
		return m
	}
	dirs := []string{"p", "p/vmlinux", "p/vmlinux/cmdline_proc_show,1"}
	for _, tt := range []struct {
		name, release, model string
		sys                  map[string]string
		want                 []string // What of each diff
	}{
		{name: "6.1 as it is", release: "6.1.0-56-amd64", model: "mainline",
			sys: sys("p/enabled", "p/transition", "p/force", "p/vmlinux/patched")},
		{name: "7.2 as it is", release: "7.2.13+deb14-amd64", model: "mainline",
			sys: sys("p/enabled", "p/transition", "p/force", "p/replace", "p/stack_order", "p/vmlinux/patched")},
		{name: "7.2 without stack_order", release: "7.2.13+deb14-amd64", model: "mainline",
			sys: sys("p/enabled", "p/transition", "p/force", "p/replace", "p/vmlinux/patched"), want: []string{"sysfs files of p"}},
		{name: "6.12 with stack_order", release: "6.12.117+deb12-amd64", model: "mainline",
			sys: sys("p/enabled", "p/transition", "p/force", "p/replace", "p/stack_order", "p/vmlinux/patched"), want: []string{"sysfs files of p"}},
		{name: "hybrid without replaceable", release: "7.2.13-hybrid", model: "hybrid",
			sys: sys("p/enabled", "p/transition", "p/force", "p/replace", "p/stack_order", "p/vmlinux/patched"), want: []string{"sysfs files of p"}},
		{name: "object without patched", release: "6.1.0-56-amd64", model: "mainline",
			sys: sys("p/enabled", "p/transition", "p/force"), want: []string{"sysfs files of p/vmlinux"}},
		{name: "a file in a function directory", release: "6.1.0-56-amd64", model: "mainline",
			sys: sys("p/enabled", "p/transition", "p/force", "p/vmlinux/patched", "p/vmlinux/cmdline_proc_show,1/x"), want: []string{"sysfs files of p/vmlinux/cmdline_proc_show,1"}},
		{name: "a kernel too old to know", release: "5.10.0", model: "mainline", sys: sys("p/enabled")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, d := range compareLayout(1, &GuestStep{Sys: tt.sys, Dirs: dirs}, tt.release, tt.model) {
				got = append(got, d.What)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("compareLayout (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompareCallbacks(t *testing.T) {
	dmesg := []string{
		"[    3.1] livepatch: enabling patch 'e2e_cb'",
		"[    3.2] klpe-cb pre_patch e2e_cb vmlinux",
		"[    3.3] klpe-cb post_patch e2e_cb vmlinux",
	}
	for _, tt := range []struct {
		name string
		sim  []string
		want bool // a diff
	}{
		{name: "same order", sim: []string{"pre_patch e2e_cb vmlinux", "post_patch e2e_cb vmlinux"}},
		{name: "other order", sim: []string{"post_patch e2e_cb vmlinux", "pre_patch e2e_cb vmlinux"}, want: true},
		{name: "one missing", sim: []string{"pre_patch e2e_cb vmlinux"}, want: true},
		{name: "none predicted", want: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := compareCallbacks(1, &GuestStep{Dmesg: dmesg}, sim.Step{Callbacks: tt.sim})
			if (len(d) > 0) != tt.want {
				t.Errorf("diffs %v, want a diff: %v", d, tt.want)
			}
		})
	}
	if d := compareCallbacks(1, &GuestStep{Dmesg: dmesg[:1]}, sim.Step{}); len(d) != 0 {
		t.Errorf("no callback on either side: diffs %v", d)
	}
	// The tools' modules log no callbacks: only e2e_* patches' count.
	if d := compareCallbacks(1, &GuestStep{Dmesg: dmesg[:1]}, sim.Step{Callbacks: []string{"pre_patch kpb_module vmlinux"}}); len(d) != 0 {
		t.Errorf("a kpatch-build module's callback compared: diffs %v", d)
	}
}
