package capture

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/pkg/deploy"
)

// stat is a /proc/PID/stat line: pid, comm, state, flags; the other
// fields as a kernel prints them.
func stat(pid, comm, state string, flags uint64) string {
	return pid + " (" + comm + ") " + state + " 2 0 0 0 -1 " + itoa(flags) + " 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0\n"
}

func itoa(u uint64) string {
	b, _ := json.Marshal(u)
	return string(b)
}

const kflags = 0x00208040 // PF_KTHREAD | PF_NOFREEZE | PF_FORKNOEXEC

func TestParseStat(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     *deploy.Task
		err      string
	}{
		{name: "kernel thread", in: stat("412", "e2e_hold", "D", kflags),
			want: &deploy.Task{PID: 412, Comm: "e2e_hold", Kthread: true, State: "D", Frames: []deploy.Frame{}}},
		{name: "user task", in: stat("9", "cat", "S", 0x00400000),
			want: &deploy.Task{PID: 9, Comm: "cat", State: "S", Frames: []deploy.Frame{}}},
		// comm ends at the last ')': a process names itself what it likes.
		{name: "comm with parentheses, spaces and a newline", in: stat("7", "a) R 1 (b\nc", "S", 0),
			want: &deploy.Task{PID: 7, Comm: "a) R 1 (b\nc", State: "S", Frames: []deploy.Frame{}}},
		{name: "comm of invalid UTF-8 is made valid", in: stat("7", "\xff", "S", 0),
			want: &deploy.Task{PID: 7, Comm: "\uFFFD", State: "S", Frames: []deploy.Frame{}}},
		{name: "no comm", in: "7 S 1 2\n", err: `no "pid (comm)"`},
		{name: "pid not a number", in: "x (a) S 1 2 3 4 5 6\n", err: "pid"},
		{name: "too few fields", in: "7 (a) S 1 2\n", err: "3 fields after comm"},
		{name: "state not a letter", in: stat("7", "a", "?", 0), err: "state"},
		{name: "flags not a number", in: "7 (a) S 1 2 3 4 5 x\n", err: "flags"},
		{name: "comm too long", in: stat("7", strings.Repeat("a", 65), "S", 0), err: "comm of 65 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseStat(%q) error %v, want one with %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseStat(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseFrame(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want deploy.Frame
		skip bool
		err  string
	}{
		{in: "[<0>] e2e_hold_sleep+0x5c/0xa0 [e2e_hold]", want: deploy.Frame{Function: "e2e_hold_sleep", Module: "e2e_hold"}},
		{in: "[<0>] kthread+0xe8/0x110", want: deploy.Frame{Function: "kthread"}},
		// Before 4.15 the address is printed.
		{in: "[<ffffffffc0a01234>] e2e_e2e_hold_sleep+0x1c/0x90 [e2e_hb]", want: deploy.Frame{Function: "e2e_e2e_hold_sleep", Module: "e2e_hb"}},
		// CONFIG_STACKTRACE_BUILD_ID adds the module's build id.
		{in: "[<0>] f.isra.0+0x1/0x2 [m 0123abcd]", want: deploy.Frame{Function: "f.isra.0", Module: "m"}},
		{in: "[<0>] 0xffffffffc0123456", skip: true},
		{in: "e2e_hold_sleep+0x5c/0xa0", err: "no \"[<address>]"},
		{in: "[<0> e2e_hold_sleep", err: "no \"[<address>]"},
		{in: "[<0>] f+0x1/0x2 m", err: "module not in brackets"},
		{in: "[<0>] f\x1b[2J+0x1/0x2", err: "control character"},
		{in: "[<0>] +0x1/0x2", err: "empty name"},
		{in: "[<0>] f+0x1/0x2 [\x07]", err: "module"},
	} {
		got, ok, err := parseFrame(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseFrame(%q) error %v, want one with %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || ok == tt.skip || got != tt.want {
			t.Errorf("parseFrame(%q) = %+v, %v, %v; want %+v, %v", tt.in, got, ok, err, tt.want, !tt.skip)
		}
	}
}

func procFile(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s), Mode: 0o444} }

func procDir() *fstest.MapFile { return &fstest.MapFile{Mode: fs.ModeDir | 0o555} }

// holdStack is what /proc shows of e2e_hold's thread.
const holdStack = "[<0>] e2e_hold_sleep+0x5c/0xa0 [e2e_hold]\n[<0>] e2e_hold_thread+0x12/0x40 [e2e_hold]\n[<0>] kthread+0xe8/0x110\n[<0>] ret_from_fork+0x34/0x50\n[<0>] ret_from_fork_asm+0x1a/0x30\n"

var holdFrames = []deploy.Frame{{Function: "e2e_hold_sleep", Module: "e2e_hold"}, {Function: "e2e_hold_thread", Module: "e2e_hold"}, {Function: "kthread"}, {Function: "ret_from_fork"}, {Function: "ret_from_fork_asm"}}

func TestReadProcStacks(t *testing.T) {
	proc := fstest.MapFS{
		"self":               &fstest.MapFile{Data: []byte("412"), Mode: fs.ModeSymlink},
		"version":            procFile("Linux version 6.1.0\n"),
		"412/task/412/stat":  procFile(stat("412", "e2e_hold", "D", kflags)),
		"412/task/412/stack": procFile(holdStack),
		"500/task/500/stat":  procFile(stat("500", "bash", "R", 0)),
		// Runnable but preempted: the kernel shows its stack, yet it runs
		// on at once and is not recorded.
		"500/task/500/stack":   procFile("[<0>] f+0x1/0x2\n"),
		"600/task/600/stat":    procFile(stat("600", "idle", "S", 0)),
		"600/task/600/stack":   procFile(""),
		"700/task/700/stat":    procFile(stat("700", "srv", "S", 0)),
		"700/task/700/stack":   procFile("[<0>] do_epoll_wait+0x1/0x2\n"),
		"700/task/701/stat":    procFile(stat("701", "srv\x1b]0;x", "D", 0)),
		"700/task/701/stack":   procFile("[<0>] io_schedule+0x1/0x2\n[<0>] folio_wait_bit+0x1/0x2\n"),
		"800/task/800/stat":    procFile(stat("800", "gone", "S", 0)), // exited before its stack was read
		"900/task/900/stat":    procFile(stat("900", "zombie", "Z", 0)),
		"900/task/900/stack":   procFile("[<0>] do_exit+0x1/0x2\n"),
		"1000/task/1000/stat":  procFile(stat("1000", "k", "I", kflags)),
		"1000/task/1000/stack": procFile("[<0>] 0xffffffffc0001234\n"),
	}
	got, denied, err := ReadProcStacks(t.Context(), proc)
	if err != nil || denied != nil {
		t.Fatal(err, denied)
	}
	want := []deploy.Task{
		{PID: 412, Comm: "e2e_hold", Kthread: true, State: "D", Frames: holdFrames},
		{PID: 700, Comm: "srv", State: "S", Frames: []deploy.Frame{{Function: "do_epoll_wait"}}},
		{PID: 701, Comm: "srv\x1b]0;x", State: "D", Frames: []deploy.Frame{{Function: "io_schedule"}, {Function: "folio_wait_bit"}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadProcStacks (-want +got):\n%s", diff)
	}
	// What it records is a valid state's tasks.
	st := &deploy.State{Schema: deploy.StateSchema, Kernel: deploy.Kernel{Release: "6.1.0"}, Tasks: got}
	if err := st.Validate(); err != nil {
		t.Errorf("the tasks do not validate: %v", err)
	}
}

func TestReadProcStacksHostile(t *testing.T) {
	ok := func() fstest.MapFS {
		return fstest.MapFS{"1/task/1/stat": procFile(stat("1", "a", "D", 0)), "1/task/1/stack": procFile("[<0>] f+0x1/0x2\n")}
	}
	tooMany := strings.Repeat("[<0>] f+0x1/0x2\n", deploy.MaxFrames+1)
	for _, tt := range []struct {
		name string
		edit func(fstest.MapFS)
		err  string
	}{
		{"a FIFO for stack", func(p fstest.MapFS) { p["1/task/1/stack"] = &fstest.MapFile{Mode: fs.ModeNamedPipe} }, "FIFO"},
		{"a FIFO for stat", func(p fstest.MapFS) { p["1/task/1/stat"] = &fstest.MapFile{Mode: fs.ModeNamedPipe} }, "FIFO"},
		{"an endless stack", func(p fstest.MapFS) { p["1/task/1/stack"] = procFile(strings.Repeat("x", maxStack+1)) }, "larger than 65536 bytes"},
		{"an endless stat", func(p fstest.MapFS) { p["1/task/1/stat"] = procFile(strings.Repeat("x", maxStat+1)) }, "larger than 4096 bytes"},
		{"more frames than the kernel prints", func(p fstest.MapFS) { p["1/task/1/stack"] = procFile(tooMany) }, "line 65: more than 64 frames"},
		{"a stat without comm", func(p fstest.MapFS) { p["1/task/1/stat"] = procFile("1 S\n") }, `file 1/task/1/stat: stat: no "pid (comm)"`},
		{"a frame of control characters", func(p fstest.MapFS) { p["1/task/1/stack"] = procFile("[<0>] \x1b[2J+0x1/0x2\n") }, "file 1/task/1/stack: line 1: stack: function"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := ok()
			tt.edit(p)
			got, _, err := ReadProcStacks(t.Context(), p)
			if _, isStacks := errors.AsType[*StacksError](err); !isStacks || !strings.Contains(err.Error(), tt.err) || got != nil {
				t.Fatalf("ReadProcStacks = %v, %v; want a *StacksError with %q", got, err, tt.err)
			}
		})
	}
}

// TestReadProcStacksRealFIFO: through sysfs.FS-like opening with
// O_NONBLOCK a FIFO does not block; os.DirFS stands in for a copied tree
// (its Open of a FIFO with no writer would block, so the test checks the
// mode is refused before the read, with the real file).
func TestReadProcStacksRealFIFO(t *testing.T) {
	dir := t.TempDir()
	td := filepath.Join(dir, "3", "task", "3")
	if err := os.MkdirAll(td, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(td, "stat"), []byte(stat("3", "a", "D", 0)), 0o644)
	if err := syscall.Mkfifo(filepath.Join(td, "stack"), 0o644); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	_, _, err = ReadProcStacks(t.Context(), nonblockFS{root})
	if nr, ok := errors.AsType[*safeio.NotRegularError](err); !ok || nr == nil {
		t.Fatalf("ReadProcStacks over a FIFO = %v, want a not-regular error", err)
	}
}

// nonblockFS opens as sysfs.FS does (importing it here would be a cycle
// for nothing: the CLI passes sysfs.FS).
type nonblockFS struct{ root *os.Root }

func (n nonblockFS) Open(name string) (fs.File, error) {
	return n.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

func TestReadProcStacksCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	p := fstest.MapFS{"1/task/1/stat": procFile(stat("1", "a", "D", 0)), "1/task/1/stack": procFile("[<0>] f+0x1/0x2\n")}
	if _, _, err := ReadProcStacks(ctx, p); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadProcStacks after cancel = %v, want context.Canceled", err)
	}
}

// deniedFS refuses to open the files named, as the kernel refuses a
// stack to a reader without the right (proc_pid_stack).
type deniedFS struct {
	fs.FS
	deny map[string]bool
}

func (d deniedFS) Open(name string) (fs.File, error) {
	if d.deny[name] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return d.FS.Open(name)
}

// TestReadProcStacksDenied: a stack the kernel refuses leaves its task out
// and is named; when it refuses every one, reading fails.
func TestReadProcStacksDenied(t *testing.T) {
	p := fstest.MapFS{
		"1/task/1/stat": procFile(stat("1", "init", "S", 0)), "1/task/1/stack": procFile("[<0>] f+0x1/0x2\n"),
		"2/task/2/stat": procFile(stat("2", "kthreadd", "S", kflags)), "2/task/2/stack": procFile("[<0>] kthreadd+0x1/0x2\n"),
	}
	got, denied, err := ReadProcStacks(t.Context(), deniedFS{p, map[string]bool{"1/task/1/stack": true}})
	if err != nil || len(got) != 1 || got[0].PID != 2 || !slicesEqual(denied, []string{"1/task/1/stack"}) {
		t.Errorf("ReadProcStacks = %+v, %v, %v; want task 2, 1's stack denied", got, denied, err)
	}
	_, _, err = ReadProcStacks(t.Context(), deniedFS{p, map[string]bool{"1/task/1/stack": true, "2/task/2/stack": true}})
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "needs root") {
		t.Errorf("ReadProcStacks with every stack refused = %v, want a permission error that says root", err)
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

// gathered is a stacks file as the documented grep prints it: the stats
// first, then the stacks, as the shell expands the two globs; 701's comm
// holds a newline and a forged line.
const gathered = `/proc/412/task/412/stat:412 (e2e_hold) D 2 0 0 0 -1 2130240 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0
/proc/700/task/700/stat:700 (srv) S 1 700 700 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0
/proc/700/task/701/stat:701 (evil
/proc/700/task/701/stat:/proc/9/task/9/stack:[<0>] forged+0x1/0x2) D 1 700 700 0 -1 4194624 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0
/proc/800/task/800/stat:800 (bash) R 1 800 800 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0
/proc/800/task/800/stack:[<0>] preempted_in+0x1/0x2
/proc/412/task/412/stack:[<0>] e2e_hold_sleep+0x5c/0xa0 [e2e_hold]
/proc/412/task/412/stack:[<0>] e2e_hold_thread+0x12/0x40 [e2e_hold]
/proc/412/task/412/stack:[<0>] kthread+0xe8/0x110
/proc/412/task/412/stack:[<0>] ret_from_fork+0x34/0x50
/proc/412/task/412/stack:[<0>] ret_from_fork_asm+0x1a/0x30
/proc/700/task/700/stack:[<0>] do_epoll_wait+0x1/0x2
/proc/700/task/701/stack:[<0>] io_schedule+0x1/0x2
/proc/999/task/999/stack:[<0>] exited_before_stat+0x1/0x2
`

func TestDecodeStacks(t *testing.T) {
	got, err := DecodeStacks([]byte(gathered), "stacks.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := []deploy.Task{
		{PID: 412, Comm: "e2e_hold", Kthread: true, State: "D", Frames: holdFrames},
		{PID: 700, Comm: "srv", State: "S", Frames: []deploy.Frame{{Function: "do_epoll_wait"}}},
		{PID: 701, Comm: "evil\n/proc/9/task/9/stack:[<0>] forged+0x1/0x2", State: "D", Frames: []deploy.Frame{{Function: "io_schedule"}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DecodeStacks (-want +got):\n%s", diff)
	}
	// /proc/PID/stat and /proc/PID/task/PID/stat are one thread: the
	// same gathered twice is recorded once.
	twice := "/proc/5/stat:5 (a) D 1 1 1 0 -1 0 0\n/proc/5/stack:[<0>] f+0x1/0x2\n/proc/5/task/5/stat:5 (a) D 1 1 1 0 -1 0 0\n/proc/5/task/5/stack:[<0>] f+0x1/0x2\n"
	got, err = DecodeStacks([]byte(twice), "twice")
	if err != nil || len(got) != 1 {
		t.Errorf("DecodeStacks(twice) = %+v, %v; want one task", got, err)
	}
}

func TestDecodeStacksErrors(t *testing.T) {
	frames := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteString("/proc/1/stack:[<0>] f+0x1/0x2\n")
		}
		return b.String()
	}
	st1 := "/proc/1/stat:1 (a) D 1 1 1 0 -1 0 0\n"
	for _, tt := range []struct {
		name, in, err string
	}{
		{"a line without a path", "412 (a) D\n", "file stacks: line 1: no \"PATH:\" prefix"},
		{"a path that is no stat or stack", "/proc/1/status:Name: a\n", "line 1: /proc/1/status is no"},
		{"a path without a task number", "/proc/self/stat:1 (a) D\n", "line 1: /proc/self/stat is no"},
		{"a path with odd characters", "/proc/a b/1/stat:1 (a) D\n", "line 1:"},
		{"a stat that names another pid", "/proc/2/stat:1 (a) D 1 1 1 0 -1 0 0\n/proc/2/stack:[<0>] f+0x1/0x2\n", "line 1: stat of /proc/2 names pid 1"},
		{"a bad stat", "/proc/1/stat:1 a D\n/proc/1/stack:[<0>] f+0x1/0x2\n", `line 1: stat: no "pid (comm)"`},
		{"a bad frame", st1 + "/proc/1/stack:[<0>] f+0x1/0x2\n/proc/1/stack:junk\n", "line 3: stack: junk is no"},
		{"a stack split in two runs", st1 + "/proc/1/stack:[<0>] f+0x1/0x2\n/proc/2/stat:x\n/proc/1/stack:[<0>] g+0x1/0x2\n", "line 4: stack of /proc/1: lines not together"},
		{"more frames than the kernel prints", st1 + frames(65), "line 66: more than 64 frames"},
		{"an endless stat", strings.Repeat("/proc/1/stat:"+strings.Repeat("x", 1000)+"\n", 5), "stat of /proc/1: more than 4096 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeStacks([]byte(tt.in), "stacks")
			if _, ok := errors.AsType[*StacksError](err); !ok || !strings.Contains(err.Error(), tt.err) || got != nil {
				t.Fatalf("DecodeStacks = %v, %v; want a *StacksError with %q", got, err, tt.err)
			}
		})
	}
}

func TestReadStacksFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "stacks.txt")
	os.WriteFile(good, []byte(gathered), 0o644)
	if ts, err := ReadStacksFile(good); err != nil || len(ts) != 3 {
		t.Fatalf("ReadStacksFile = %d tasks, %v; want 3", len(ts), err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err == nil {
		if _, err := ReadStacksFile(fifo); err == nil || !strings.Contains(err.Error(), "FIFO") {
			t.Errorf("ReadStacksFile(FIFO) = %v, want it refused", err)
		}
	}
	if _, err := ParseStacks(endless{}, "endless"); !errors.Is(err, safeio.ErrTooLarge) {
		t.Errorf("ParseStacks(endless) = %v, want ErrTooLarge", err)
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// TestCaptureStacks: Capture records the tasks in the state and says so.
func TestCaptureStacks(t *testing.T) {
	proc := fstest.MapFS{"412/task/412/stat": procFile(stat("412", "e2e_hold", "D", kflags)), "412/task/412/stack": procFile(holdStack)}
	st, rep, err := Capture(t.Context(), fstest.MapFS{}, nil, &CaptureOptions{KernelRelease: "6.1.0-56-amd64", Proc: proc})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Tasks) != 1 || st.Tasks[0].Comm != "e2e_hold" || !st.Tasks[0].Kthread {
		t.Errorf("state tasks %+v, want e2e_hold's", st.Tasks)
	}
	if !strings.Contains(strings.Join(rep.Lines(), "\n"), "stacks: 1 tasks asleep in the kernel, from /proc") {
		t.Errorf("report %q does not say where the stacks came from", rep.Lines())
	}
	if _, _, err := Capture(t.Context(), fstest.MapFS{}, nil, &CaptureOptions{KernelRelease: "6.1.0", Proc: proc, StacksFile: "x"}); err == nil {
		t.Error("Capture with /proc and a stacks file: no error")
	}
	st, _, err = Capture(t.Context(), fstest.MapFS{}, nil, &CaptureOptions{KernelRelease: "6.1.0"})
	if err != nil || st.Tasks != nil {
		t.Errorf("Capture without stacks: tasks %v, %v; want none", st.Tasks, err)
	}
}

// FuzzDecodeStacks: no panic; an error or tasks, never both; what it
// accepts is a valid state's tasks and marshals.
func FuzzDecodeStacks(f *testing.F) {
	f.Add([]byte(gathered))
	f.Add([]byte("/proc/1/stat:1 (a) D 1 1 1 0 -1 0 0\n/proc/1/stack:[<0>] f+0x1/0x2 [m]\n"))
	f.Add([]byte("/proc/1/stat:1 (a\n/proc/1/stat:b) S 1 1 1 0 -1 2097152 0\n/proc/1/stack:[<0>] 0xffff\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := DecodeStacks(b, "fuzz")
		if (err != nil) == (ts != nil) {
			t.Fatalf("DecodeStacks = %v, %v: want an error or tasks", ts, err)
		}
		if err != nil {
			return
		}
		st := &deploy.State{Schema: deploy.StateSchema, Kernel: deploy.Kernel{Release: "r"}, Tasks: ts}
		if err := st.Validate(); err != nil {
			t.Fatalf("accepted tasks do not validate: %v", err)
		}
		if _, err := json.Marshal(st); err != nil {
			t.Fatal(err)
		}
	})
}
