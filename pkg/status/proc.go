package status

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Bounds of what /proc may make Read read. A stack is a few dozen
// frames; comm is 16 bytes in the kernel.
const (
	maxTasks      = 1 << 22 // the kernel's PID_MAX_LIMIT
	maxPatchState = 64
	maxComm       = 256
	maxStack      = 64 << 10
)

// fillTransition fills Transition and each Function's Old when a patch
// is in transition: the tasks whose patch_state is not the target, with
// the frames of their stacks in the code the kernel checks.
func fillTransition(ctx context.Context, st *Status, sk *stack, proc fs.FS, log *slog.Logger) error {
	t := sk.trans
	if t == nil {
		return nil
	}
	tr := &Transition{Patch: t.sp.Name, Direction: Unpatching, Pending: []*Task{}}
	if t.sp.Enabled {
		tr.Direction, tr.Target = Patching, 1
	}
	tr.Functions = append([]string{}, slices.Sorted(maps.Keys(t.funcs))...)
	st.Transition = tr
	if proc == nil {
		st.Notes = append(st.Notes, "no /proc given: the tasks that block the transition are not known")
		return nil
	}
	tasks, err := pendingTasks(ctx, proc, tr.Target, func(msg string) { st.Notes = append(st.Notes, msg) })
	if err != nil {
		return err
	}
	log.Debug("tasks not yet switched", "count", len(tasks))
	for _, task := range tasks {
		for _, line := range task.Stack {
			fn, mod := parseFrame(line)
			for _, k := range tr.Functions {
				code, l := sk.checked(k)
				if !inCode(fn, mod, k, code, l, sk) {
					continue
				}
				task.Frames = append(task.Frames, &Frame{Text: line, Function: fn, Module: mod, Key: k, Code: code})
			}
		}
	}
	tr.Pending = append(tr.Pending, tasks...)
	return nil
}

// inCode says whether a frame in function fn of module mod ("" for
// vmlinux) is in code's copy of function k: the original function in
// k's object, or the new function of patch l in l's module. A patch
// whose module file was not found does not say its new function's name:
// then a function of its module named as k counts (kpatch-build's
// modules keep the old name).
func inCode(fn, mod, k, code string, l *layer, sk *stack) bool {
	fk := sk.keys[k]
	if code == Original {
		obj := fk.Object
		if obj == "vmlinux" {
			obj = ""
		}
		return fn == fk.Name && mod == obj
	}
	if mod != l.sp.Name {
		return false
	}
	if nf := l.funcs[k]; nf != "" {
		return fn == nf
	}
	return fn == fk.Name
}

// pendingTasks lists the tasks of proc whose patch_state is defined and
// not target, with their stacks, sorted by pid then tid. A task that
// ends while it is read is skipped; one whose files say something
// impossible is skipped and noted.
func pendingTasks(ctx context.Context, proc fs.FS, target int, note func(string)) ([]*Task, error) {
	ents, err := fs.ReadDir(proc, ".")
	if err != nil {
		return nil, fmt.Errorf("/proc: %w", err)
	}
	var out []*Task
	n := 0
	for _, e := range ents {
		pid, ok := taskID(e.Name())
		if !ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tids, err := fs.ReadDir(proc, path.Join(e.Name(), "task"))
		if err != nil {
			continue // ended, or no task directory: nothing to tell
		}
		for _, te := range tids {
			tid, ok := taskID(te.Name())
			if !ok {
				continue
			}
			if n++; n > maxTasks {
				return nil, fmt.Errorf("/proc: more than %d tasks", maxTasks)
			}
			task, err := readTask(proc, pid, tid, target)
			if err != nil {
				note(err.Error())
			}
			if task != nil {
				out = append(out, task)
			}
		}
	}
	return out, nil
}

// taskID is a /proc directory name that is a pid.
func taskID(name string) (int, bool) {
	if name == "" || name[0] < '1' || name[0] > '9' {
		return 0, false
	}
	n, err := strconv.Atoi(name)
	return n, err == nil && n > 0
}

// readTask reads one task; nil, nil when it is switched or ended. A task
// not yet switched whose stack cannot be read is returned with the error:
// it blocks all the same.
func readTask(proc fs.FS, pid, tid, target int) (*Task, error) {
	dir := path.Join(strconv.Itoa(pid), "task", strconv.Itoa(tid))
	b, err := readSmall(proc, path.Join(dir, "patch_state"), maxPatchState)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errESRCH) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("task %d/%d: patch_state: %v: skipped", pid, tid, err)
	}
	v := strings.TrimSpace(string(b))
	state, err := strconv.Atoi(v)
	if err != nil || state < -1 || state > 1 {
		return nil, fmt.Errorf("task %d/%d: patch_state %q, want -1, 0 or 1: skipped", pid, tid, v)
	}
	// -1 (KLP_UNDEFINED) is no transition: it ended since sysfs was read.
	if state == -1 || state == target {
		return nil, nil
	}
	task := &Task{PID: pid, TID: tid, PatchState: state, Frames: []*Frame{}, Stack: []string{}}
	if b, err := readSmall(proc, path.Join(dir, "comm"), maxComm); err == nil {
		task.Comm = strings.TrimRight(string(b), "\n")
	}
	b, err = readSmall(proc, path.Join(dir, "stack"), maxStack)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errESRCH) {
		return nil, nil
	}
	if err != nil {
		return task, fmt.Errorf("task %d/%d: stack: %v: its frames are not known", pid, tid, err)
	}
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" {
			task.Stack = append(task.Stack, line)
		}
	}
	return task, nil
}

// parseFrame takes the function and module of a /proc/<pid>/stack line,
// "[<0>] name+0x2b/0x40 [module]" (the address is 0 unless the reader
// may see kernel addresses; no module for vmlinux).
func parseFrame(line string) (fn, mod string) {
	s := strings.TrimSpace(line)
	if strings.HasPrefix(s, "[<") {
		if i := strings.Index(s, ">]"); i >= 0 {
			s = strings.TrimSpace(s[i+2:])
		}
	}
	if i := strings.LastIndexByte(s, '['); i > 0 && strings.HasSuffix(s, "]") {
		mod = s[i+1 : len(s)-1]
		s = strings.TrimSpace(s[:i])
	}
	fn, _, _ = strings.Cut(s, "+")
	return fn, mod
}

// errESRCH is what reading the files of a task that ended may return.
var errESRCH = syscall.ESRCH
