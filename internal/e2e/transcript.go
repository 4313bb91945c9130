package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Transcript is what the guest runner (scripts/e2e/init.sh) recorded: the
// "KLPE " lines of the console, step by step. Steps[0] is the state before
// the first step.
type Transcript struct {
	Scenario string
	Release  string
	Steps    []*GuestStep
	// Ended is true when the runner got to its last line.
	Ended bool
	// Errors are lines the runner reported as errors.
	Errors []string
}

// GuestStep is what the kernel did with one step.
type GuestStep struct {
	N         int
	Kind, Arg string
	// RC is the command's exit status; -1 when none was recorded.
	RC  int
	Out []string
	// WaitMS is how long the transitions took to finish; Stuck is true
	// when they did not.
	WaitMS int
	Stuck  bool
	Dmesg  []string
	// Sys maps a file under /sys/kernel/livepatch to its content; Dirs
	// lists the directories, sorted.
	Sys  map[string]string
	Dirs []string
	// Funcs maps a function name to whose code it runs: a patch name,
	// "original", or "absent" when the file that shows it does not exist.
	Funcs      map[string]string
	Capture    []string
	CaptureLog []string
	CaptureRC  int
	Done       bool
}

// GuestPatch is one directory of /sys/kernel/livepatch.
type GuestPatch struct {
	Name       string
	Enabled    bool
	Transition bool
	// Replace and StackOrder are nil where the kernel has no such file.
	Replace    *bool
	StackOrder *int
}

// Patches lists the patches sysfs showed after the step: by stack_order
// when every patch has one, else by name.
func (s *GuestStep) Patches() []GuestPatch {
	var out []GuestPatch
	for _, d := range s.Dirs {
		if strings.Contains(d, "/") {
			continue
		}
		p := GuestPatch{Name: d, Enabled: s.Sys[d+"/enabled"] == "1", Transition: s.Sys[d+"/transition"] == "1"}
		if v, ok := s.Sys[d+"/replace"]; ok {
			b := v == "1"
			p.Replace = &b
		}
		if v, ok := s.Sys[d+"/stack_order"]; ok {
			if n, err := strconv.Atoi(v); err == nil {
				p.StackOrder = &n
			}
		}
		out = append(out, p)
	}
	if HasStackOrder(out) {
		slices.SortStableFunc(out, func(a, b GuestPatch) int { return *a.StackOrder - *b.StackOrder })
	}
	return out
}

// HasStackOrder reports whether every patch has a stack_order.
func HasStackOrder(ps []GuestPatch) bool {
	for _, p := range ps {
		if p.StackOrder == nil {
			return false
		}
	}
	return len(ps) > 0
}

// Console is what one guest boot recorded: a transcript per scenario it
// ran, in order.
type Console struct {
	Transcripts []*Transcript
	// ResetFailed says what the runner could not undo after the last
	// scenario; the scenarios after it did not run.
	ResetFailed string
	// Halted is true when the runner got to its last line.
	Halted bool
	// Errors are runner errors outside any scenario.
	Errors []string
}

// ParseConsole reads a console log and keeps the runner's lines, a
// transcript per "begin". A line may carry console noise before "KLPE "
// (a kernel message printed in the middle of it); such lines are still
// read from the marker on.
func ParseConsole(r io.Reader) (*Console, error) {
	c := &Console{}
	var t *Transcript
	var cur *GuestStep
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		i := strings.Index(line, "KLPE ")
		if i < 0 {
			continue
		}
		f := strings.SplitN(line[i+len("KLPE "):], " ", 3)
		tag := f[0]
		switch tag {
		case "begin":
			if len(f) != 3 {
				return nil, fmt.Errorf("transcript: %q: want KLPE begin SCENARIO RELEASE", line[i:])
			}
			t, cur = &Transcript{Scenario: f[1], Release: f[2]}, nil
			c.Transcripts = append(c.Transcripts, t)
			continue
		case "halt":
			c.Halted = true
			continue
		case "reset-failed":
			c.ResetFailed = strings.Join(f[1:], " ")
			continue
		case "error":
			if t == nil {
				c.Errors = append(c.Errors, strings.Join(f[1:], " "))
			} else {
				t.Errors = append(t.Errors, strings.Join(f[1:], " "))
			}
			continue
		}
		if t == nil {
			return nil, fmt.Errorf("transcript: %q before any scenario began", line[i:])
		}
		if tag == "end" {
			t.Ended = true
			continue
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("transcript: %q: want KLPE TAG STEP ...", line[i:])
		}
		n, err := strconv.Atoi(f[1])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("transcript: %q: bad step number", line[i:])
		}
		rest := ""
		if len(f) == 3 {
			rest = f[2]
		}
		if cur == nil || cur.N != n {
			if n != len(t.Steps) {
				return nil, fmt.Errorf("transcript: %q: step %d out of order (want %d)", line[i:], n, len(t.Steps))
			}
			cur = &GuestStep{N: n, RC: -1, Sys: map[string]string{}, Funcs: map[string]string{}}
			t.Steps = append(t.Steps, cur)
		}
		if err := cur.add(tag, rest); err != nil {
			return nil, fmt.Errorf("transcript: %q: %w", line[i:], err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("transcript: %w", err)
	}
	return c, nil
}

func (s *GuestStep) add(tag, rest string) error {
	word := func() (string, string) {
		k, v, _ := strings.Cut(rest, " ")
		return k, v
	}
	switch tag {
	case "step":
		s.Kind, s.Arg = word()
	case "rc":
		n, err := strconv.Atoi(rest)
		if err != nil {
			return errors.New("bad exit status")
		}
		s.RC = n
	case "out":
		s.Out = append(s.Out, rest)
	case "wait", "stuck":
		n, err := strconv.Atoi(rest)
		if err != nil {
			return errors.New("bad duration")
		}
		s.WaitMS, s.Stuck = n, tag == "stuck"
	case "dmesg":
		s.Dmesg = append(s.Dmesg, rest)
	case "sys":
		k, v := word()
		s.Sys[k] = v
	case "dir":
		s.Dirs = append(s.Dirs, rest)
	case "func":
		k, v := word()
		s.Funcs[k] = v
	case "capture":
		s.Capture = append(s.Capture, rest)
	case "capturelog":
		s.CaptureLog = append(s.CaptureLog, rest)
	case "capturerc":
		n, err := strconv.Atoi(rest)
		if err != nil {
			return errors.New("bad exit status")
		}
		s.CaptureRC = n
	case "ms":
		// Timings, for people reading the console.
	case "done":
		s.Done = true
	default:
		return fmt.Errorf("unknown tag %s", tag)
	}
	return nil
}

// Errno is the errno name of a refused step, read from the exit status
// (busybox insmod exits with the errno) or from the error text the shell
// and rmmod print; "" when the step was accepted, "?" when unknown.
func (s *GuestStep) Errno() string {
	if s.RC == 0 {
		return ""
	}
	if s.Kind == "load" {
		if name, ok := errnoNames[s.RC]; ok {
			return name
		}
	}
	text := strings.Join(s.Out, "\n")
	for _, m := range errnoTexts {
		if strings.Contains(text, m.text) {
			return m.name
		}
	}
	return "?"
}

var errnoNames = map[int]string{
	1: "EPERM", 2: "ENOENT", 11: "EAGAIN", 13: "EACCES", 16: "EBUSY", 17: "EEXIST",
	19: "ENODEV", 22: "EINVAL", 61: "ENODATA", 126: "ENOKEY",
}

// errnoTexts are strerror texts (musl's and glibc's) and busybox's own
// wording, most specific first.
var errnoTexts = []struct{ text, name string }{
	{"nonexistent directory", "ENOENT"},
	{"No such file or directory", "ENOENT"},
	{"not found", "ENOENT"},
	{"Invalid argument", "EINVAL"},
	{"Device or resource busy", "EBUSY"},
	{"Resource busy", "EBUSY"},
	{"Resource temporarily unavailable", "EAGAIN"},
	{"Operation would block", "EAGAIN"},
	{"File exists", "EEXIST"},
	{"Operation not permitted", "EPERM"},
	{"Permission denied", "EACCES"},
}
