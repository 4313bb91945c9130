package capture

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/deploy"
)

// Bounds of what the stacks reader reads.
const (
	// maxStat bounds /proc/PID/stat: about 300 bytes, a 64-byte comm.
	maxStat = 4 << 10
	// maxStack bounds /proc/PID/stack: 64 lines of at most a 512-byte
	// symbol, a module name and the offsets.
	maxStack = 64 << 10
	// MaxStacksFileSize bounds a stacks file gathered on a host: a few
	// hundred bytes per task, so a host of 100,000 tasks fits.
	MaxStacksFileSize = 64 << 20
	// maxHostTasks bounds the task directories walked under /proc
	// (pid_max on 64-bit is 4,194,304; hosts run far fewer).
	maxHostTasks = 1 << 22
)

// pfKthread is PF_KTHREAD of include/linux/sched.h.
const pfKthread = 0x00200000

// StacksError is a stacks file or /proc entry that cannot be used: it
// names the file, the line when there is one, and what is wrong.
type StacksError struct {
	Path string
	Line int // 1-based; 0 when not about one line
	Msg  string
	Err  error
}

func (e *StacksError) Error() string {
	p := safetext.Quote(e.Path)
	if e.Line > 0 {
		return fmt.Sprintf("file %s: line %d: %s", p, e.Line, e.Msg)
	}
	return fmt.Sprintf("file %s: %s", p, e.Msg)
}

func (e *StacksError) Unwrap() error { return e.Err }

// ReadProcStacks records the tasks asleep in the kernel on a live host:
// proc is /proc (give sysfs.FS of an os.Root, so a FIFO or a symbolic
// link in a copied tree cannot block the read or lead out). Every thread
// (PID/task/TID) is read: stat for its state, comm and PF_KTHREAD, stack
// for its frames. Tasks that run (R), are dead (Z, X) or show no frame are
// left out; a task that exits while it is read is skipped. Reading
// another task's stack needs root: a task whose stack the kernel refuses
// (a container's init, under a sandbox) is left out and named in
// unreadable; when every stack is refused, that is an error.
func ReadProcStacks(ctx context.Context, proc fs.FS) (tasks []deploy.Task, unreadable []string, err error) {
	pids, err := numbered(proc, ".")
	if err != nil {
		return nil, nil, err
	}
	var out []deploy.Task
	var denied []string
	var firstDenied error
	seen := 0
	for _, pid := range pids {
		tids, err := numbered(proc, pid+"/task")
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			continue // exited
		}
		if err != nil {
			return nil, nil, err
		}
		for _, tid := range tids {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			if seen++; seen > maxHostTasks {
				return nil, nil, &StacksError{Path: ".", Msg: fmt.Sprintf("more than %d tasks", maxHostTasks)}
			}
			dir := pid + "/task/" + tid
			stat, err := readProcFile(proc, dir+"/stat", maxStat)
			if gone(err) {
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			t, err := parseStat(stat)
			if err != nil {
				return nil, nil, &StacksError{Path: dir + "/stat", Msg: err.Error()}
			}
			if !asleep(t.State) {
				continue
			}
			stack, err := readProcFile(proc, dir+"/stack", maxStack)
			if gone(err) {
				continue
			}
			if errors.Is(err, fs.ErrPermission) {
				denied = append(denied, dir+"/stack")
				if firstDenied == nil {
					firstDenied = err
				}
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			if t.Frames, err = parseStack(stack, dir+"/stack", 0); err != nil {
				return nil, nil, err
			}
			if len(t.Frames) == 0 {
				continue
			}
			if len(out) == deploy.MaxTasks {
				return nil, nil, &StacksError{Path: ".", Msg: fmt.Sprintf("more than %d sleeping tasks", deploy.MaxTasks)}
			}
			out = append(out, *t)
		}
	}
	if len(out) == 0 && firstDenied != nil {
		return nil, nil, firstDenied
	}
	sortTasks(out)
	return out, denied, nil
}

// gone is a task that exited between the directory read and the file's.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// numbered lists the entries of dir named by a number, as /proc names
// processes and threads.
func numbered(fsys fs.FS, dir string) ([]string, error) {
	es, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range es {
		if isNumber(e.Name()) && e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func isNumber(s string) bool {
	if s == "" || len(s) > 10 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// readProcFile reads a /proc file, which must be regular (a copied tree
// may hold a FIFO), bounded by limit.
func readProcFile(fsys fs.FS, name string, limit int64) ([]byte, error) {
	b, err := safeio.ReadFS(fsys, name, limit)
	nr, notRegular := errors.AsType[*safeio.NotRegularError](err)
	switch {
	case err == nil:
		return b, nil
	case gone(err):
		// The task exited between the listing and the read.
		return nil, err
	case notRegular:
		return nil, &StacksError{Path: name, Msg: strings.TrimPrefix(nr.Error(), name+": "), Err: nr}
	case errors.Is(err, safeio.ErrTooLarge):
		return nil, &StacksError{Path: name, Msg: fmt.Sprintf("larger than %d bytes", limit), Err: err}
	}
	return nil, &StacksError{Path: name, Msg: stacksErrMsg(err), Err: err}
}

func stacksErrMsg(err error) string {
	if errors.Is(err, fs.ErrPermission) {
		return "permission denied: reading the stacks of other tasks needs root"
	}
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// asleep says whether a task in this state may sit in a function: not
// running (R: klp_try_switch_task retries it, and /proc shows no stack),
// not dead.
func asleep(state string) bool {
	switch state {
	case "R", "Z", "X", "x":
		return false
	}
	return true
}

// parseStat reads what a task needs of /proc/PID/stat: "pid (comm) state
// ppid pgrp session tty_nr tpgid flags ...". comm may hold anything, a
// ')' and a newline included: it ends at the last ')'.
func parseStat(b []byte) (*deploy.Task, error) {
	s := strings.TrimRight(string(b), "\n")
	open := strings.IndexByte(s, '(')
	end := strings.LastIndexByte(s, ')')
	if open < 1 || end < open {
		return nil, errors.New("stat: no \"pid (comm)\"")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil || pid <= 0 {
		return nil, fmt.Errorf("stat: pid %s is no number", safetext.Quote(s[:open]))
	}
	comm := strings.ToValidUTF8(s[open+1:end], "\uFFFD")
	if len(comm) > deploy.MaxCommLen {
		return nil, fmt.Errorf("stat: comm of %d bytes, more than %d", len(comm), deploy.MaxCommLen)
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 7 {
		return nil, fmt.Errorf("stat: %d fields after comm, want at least 7", len(f))
	}
	if !deploy.ValidState(f[0]) {
		return nil, fmt.Errorf("stat: state %s is no state letter", safetext.Quote(f[0]))
	}
	flags, err := strconv.ParseUint(f[6], 10, 32)
	if err != nil {
		return nil, fmt.Errorf("stat: flags %s is no number", safetext.Quote(f[6]))
	}
	return &deploy.Task{PID: pid, Comm: comm, State: f[0], Kthread: flags&pfKthread != 0, Frames: []deploy.Frame{}}, nil
}

// parseStack reads /proc/PID/stack: a line per frame, "[<0>]
// func+0x1c/0x90 [mod]" (the address is hidden since Linux 4.15, earlier
// it is printed; a module may be followed by its build id). A raw address
// (a symbol the kernel could not name) names no function and is left
// out. first is the line number of b's first line in a stacks file (0:
// b is a file of its own).
func parseStack(b []byte, name string, first int) ([]deploy.Frame, error) {
	var out []deploy.Frame
	for i, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		at := 0
		if first > 0 {
			at = first + i
		} else {
			at = i + 1
		}
		f, ok, err := parseFrame(line)
		if err != nil {
			return nil, &StacksError{Path: name, Line: at, Msg: err.Error()}
		}
		if !ok {
			continue
		}
		if len(out) == deploy.MaxFrames {
			return nil, &StacksError{Path: name, Line: at, Msg: fmt.Sprintf("more than %d frames", deploy.MaxFrames)}
		}
		out = append(out, f)
	}
	return out, nil
}

func parseFrame(line string) (deploy.Frame, bool, error) {
	rest, ok := strings.CutPrefix(line, "[<")
	if !ok {
		return deploy.Frame{}, false, fmt.Errorf("stack: %s is no \"[<address>] function+offset/size\" line", safetext.Quote(line))
	}
	_, rest, ok = strings.Cut(rest, ">] ")
	if !ok {
		return deploy.Frame{}, false, fmt.Errorf("stack: %s is no \"[<address>] function+offset/size\" line", safetext.Quote(line))
	}
	sym, mod, hasMod := strings.Cut(rest, " ")
	fn, _, _ := strings.Cut(sym, "+")
	if strings.HasPrefix(fn, "0x") {
		return deploy.Frame{}, false, nil
	}
	f := deploy.Frame{Function: fn}
	if hasMod {
		m, ok := strings.CutPrefix(mod, "[")
		if !ok || !strings.HasSuffix(m, "]") {
			return deploy.Frame{}, false, fmt.Errorf("stack: %s: module not in brackets", safetext.Quote(line))
		}
		// "[mod]" or "[mod buildid]" (CONFIG_STACKTRACE_BUILD_ID).
		m, _, _ = strings.Cut(strings.TrimSuffix(m, "]"), " ")
		f.Module = m
	}
	if err := deploy.CheckSymbol(f.Function); err != nil {
		return deploy.Frame{}, false, fmt.Errorf("stack: function: %w", err)
	}
	if f.Module != "" {
		if err := deploy.CheckSymbol(f.Module); err != nil {
			return deploy.Frame{}, false, fmt.Errorf("stack: module: %w", err)
		}
	}
	return f, true, nil
}

func sortTasks(ts []deploy.Task) {
	slices.SortFunc(ts, func(a, b deploy.Task) int { return cmp.Compare(a.PID, b.PID) })
}

// ReadStacksFile reads a stacks file gathered on a host (ParseStacks); a
// file that is not regular or is larger than MaxStacksFileSize is refused
// before it is read.
func ReadStacksFile(name string) ([]deploy.Task, error) {
	b, err := safeio.ReadFile(name, MaxStacksFileSize)
	if nr, ok := errors.AsType[*safeio.NotRegularError](err); ok {
		return nil, &StacksError{Path: name, Msg: strings.TrimPrefix(nr.Error(), name+": "), Err: err}
	}
	if errors.Is(err, safeio.ErrTooLarge) {
		return nil, &StacksError{Path: name, Msg: fmt.Sprintf("larger than the %d MiB a stacks file may hold", MaxStacksFileSize>>20), Err: err}
	}
	if err != nil {
		return nil, err
	}
	return DecodeStacks(b, name)
}

// ParseStacks reads a stacks file from r (DecodeStacks), bounded by
// MaxStacksFileSize.
func ParseStacks(r io.Reader, name string) ([]deploy.Task, error) {
	b, err := safeio.ReadAll(r, MaxStacksFileSize)
	if errors.Is(err, safeio.ErrTooLarge) {
		return nil, &StacksError{Path: name, Msg: fmt.Sprintf("larger than the %d MiB a stacks file may hold", MaxStacksFileSize>>20), Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", safetext.Quote(name), err)
	}
	return DecodeStacks(b, name)
}

// DecodeStacks reads a stacks file: what
//
//	LC_ALL=C grep -aH '' /proc/[0-9]*/task/[0-9]*/stat /proc/[0-9]*/task/[0-9]*/stack
//
// prints (docs/deployed-state.md, Stacks file): every line of each file
// prefixed with the file's path and a colon, so a comm that holds a
// newline continues its stat on a line with the same prefix and cannot
// forge another task. Lines are grouped by the directory of their file
// (the thread's); the files of a thread may come in any order. The tasks
// kept are those ReadProcStacks keeps.
func DecodeStacks(b []byte, name string) ([]deploy.Task, error) {
	type files struct {
		stat, stack     []byte
		statAt, stackAt int
		stackLines      int
	}
	byDir := map[string]*files{}
	var dirs []string
	lineNo := 0
	for len(b) > 0 {
		lineNo++
		line, rest, _ := bytes.Cut(b, []byte{'\n'})
		b = rest
		p, content, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return nil, &StacksError{Path: name, Line: lineNo, Msg: "no \"PATH:\" prefix (gather with grep -H)"}
		}
		dir, base := path.Split(string(p))
		dir = strings.TrimSuffix(dir, "/")
		if base != "stat" && base != "stack" || !isNumber(path.Base(dir)) || !cleanPath(dir) {
			return nil, &StacksError{Path: name, Line: lineNo, Msg: fmt.Sprintf("%s is no /proc/.../PID/stat or stack", safetext.Quote(string(p)))}
		}
		f := byDir[dir]
		if f == nil {
			if len(dirs) == maxHostTasks {
				return nil, &StacksError{Path: name, Line: lineNo, Msg: fmt.Sprintf("more than %d tasks", maxHostTasks)}
			}
			f = &files{}
			byDir[dir] = f
			dirs = append(dirs, dir)
		}
		if base == "stat" {
			if f.statAt == 0 {
				f.statAt = lineNo
			}
			if len(f.stat)+len(content)+1 > maxStat {
				return nil, &StacksError{Path: name, Line: lineNo, Msg: fmt.Sprintf("stat of %s: more than %d bytes", safetext.Quote(dir), maxStat)}
			}
			f.stat = append(append(f.stat, content...), '\n')
			continue
		}
		if f.stackAt == 0 {
			f.stackAt = lineNo
		} else if lineNo != f.stackAt+f.stackLines {
			// Line numbers in errors count from stackAt: a thread's stack
			// is one run of lines, as grep prints a file.
			return nil, &StacksError{Path: name, Line: lineNo, Msg: fmt.Sprintf("stack of %s: lines not together", safetext.Quote(dir))}
		}
		if len(f.stack)+len(content)+1 > maxStack {
			return nil, &StacksError{Path: name, Line: lineNo, Msg: fmt.Sprintf("stack of %s: more than %d bytes", safetext.Quote(dir), maxStack)}
		}
		f.stack = append(append(f.stack, content...), '\n')
		f.stackLines++
	}
	out := []deploy.Task{}
	pids := map[int]string{}
	for _, dir := range dirs {
		f := byDir[dir]
		if f.stat == nil {
			continue // exited between the two reads
		}
		t, err := parseStat(f.stat)
		if err != nil {
			return nil, &StacksError{Path: name, Line: f.statAt, Msg: err.Error()}
		}
		if strconv.Itoa(t.PID) != path.Base(dir) {
			return nil, &StacksError{Path: name, Line: f.statAt, Msg: fmt.Sprintf("stat of %s names pid %d", safetext.Quote(dir), t.PID)}
		}
		if !asleep(t.State) || f.stack == nil {
			continue
		}
		if t.Frames, err = parseStack(f.stack, name, f.stackAt); err != nil {
			return nil, err
		}
		if len(t.Frames) == 0 {
			continue
		}
		// /proc/PID and /proc/PID/task/PID are the same thread.
		if _, dup := pids[t.PID]; dup {
			continue
		}
		pids[t.PID] = dir
		if len(out) == deploy.MaxTasks {
			return nil, &StacksError{Path: name, Line: f.statAt, Msg: fmt.Sprintf("more than %d sleeping tasks", deploy.MaxTasks)}
		}
		out = append(out, *t)
	}
	sortTasks(out)
	return out, nil
}

// cleanPath accepts the paths grep prints for /proc files: absolute or
// relative, of letters, digits and . _ - /.
func cleanPath(p string) bool {
	for _, c := range []byte(p) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '/', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
