package deploy

import (
	"fmt"
	"strconv"

	"github.com/klpack/klpack/internal/safetext"
)

// Bounds of the sleeping tasks a state records (State.Tasks).
const (
	// MaxTasks bounds the tasks of one host. Only tasks asleep in the
	// kernel are recorded; a host has thousands.
	MaxTasks = 1 << 16
	// MaxFrames bounds a task's frames: the kernel prints at most 64 in
	// /proc/PID/stack (MAX_STACK_TRACE_DEPTH in fs/proc/base.c).
	MaxFrames = 64
	// MaxCommLen bounds a task's name: stat shows at most 64 bytes
	// (TASK_COMM_LEN, and a kthread's full name).
	MaxCommLen = 64
	// MaxSymbolLen bounds a frame's function and module names
	// (KSYM_NAME_LEN, 512 since Linux 6.1).
	MaxSymbolLen = 512
)

// Task is a task asleep in the kernel when the state was captured, with
// the frames of its kernel stack: what could keep a livepatch transition
// pending (kernel/livepatch/transition.c, klp_check_stack).
type Task struct {
	PID int `json:"pid"`
	// Comm is the task's name as stat shows it; it may hold anything a
	// process chose (prctl PR_SET_NAME): print it through safetext.
	Comm string `json:"comm"`
	// Kthread is PF_KTHREAD in stat's flags: a kernel thread gets no
	// signal, it is at most woken (klp_send_signals).
	Kthread bool `json:"kthread"`
	// State is stat's state letter: S (interruptible sleep), D
	// (uninterruptible), I (idle kthread), T, t, ...
	State  string  `json:"state"`
	Frames []Frame `json:"frames"`
}

// Frame is one line of /proc/PID/stack: "[<0>] func+0x1c/0x90 [mod]".
type Frame struct {
	Function string `json:"function"`
	// Module is the module the function lies in; empty for vmlinux.
	Module string `json:"module,omitempty"`
}

// String is the frame as the kernel names it: func or func [mod].
func (f Frame) String() string {
	if f.Module == "" {
		return f.Function
	}
	return f.Function + " [" + f.Module + "]"
}

// ValidState reports whether s is a state letter stat prints.
func ValidState(s string) bool {
	return len(s) == 1 && (s[0] >= 'A' && s[0] <= 'Z' || s[0] >= 'a' && s[0] <= 'z')
}

// validateTasks checks the tasks of a state: bounds, and names that may
// reach a terminal or a finding only as checked text (comm is quoted when
// printed, so only its length is bounded).
func validateTasks(ts []Task) *StateError {
	bad := func(field, format string, args ...any) *StateError {
		return &StateError{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if len(ts) > MaxTasks {
		return bad("tasks", "%d tasks, more than the %d a state holds", len(ts), MaxTasks)
	}
	for i, t := range ts {
		at := fmt.Sprintf("tasks[%d]", i)
		if t.PID <= 0 {
			return bad(at+".pid", "%d is no process id", t.PID)
		}
		if len(t.Comm) > MaxCommLen {
			return bad(at+".comm", "%d bytes, more than %d", len(t.Comm), MaxCommLen)
		}
		if !ValidState(t.State) {
			return bad(at+".state", "%s is no state letter", strconv.Quote(t.State))
		}
		if len(t.Frames) > MaxFrames {
			return bad(at+".frames", "%d frames, more than the %d the kernel prints", len(t.Frames), MaxFrames)
		}
		for j, f := range t.Frames {
			if err := CheckSymbol(f.Function); err != nil {
				return bad(fmt.Sprintf("%s.frames[%d].function", at, j), "%v", err)
			}
			if f.Module != "" {
				if err := CheckSymbol(f.Module); err != nil {
					return bad(fmt.Sprintf("%s.frames[%d].module", at, j), "%v", err)
				}
			}
		}
	}
	return nil
}

// CheckSymbol refuses a function or module name a kernel would not print:
// empty, too long, with spaces, brackets or control characters.
func CheckSymbol(s string) error {
	if s == "" {
		return fmt.Errorf("empty name")
	}
	if len(s) > MaxSymbolLen {
		return fmt.Errorf("%d bytes, more than %d", len(s), MaxSymbolLen)
	}
	if err := safetext.Check(s); err != nil {
		return fmt.Errorf("%s: %w", strconv.Quote(s), err)
	}
	for _, r := range s {
		if r == ' ' || r == '[' || r == ']' {
			return fmt.Errorf("%s: %q in a symbol name", strconv.Quote(s), r)
		}
	}
	return nil
}
