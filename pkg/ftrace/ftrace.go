package ftrace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/pkg/deploy"
)

// MaxSize bounds either file. enabled_functions lists only the functions
// something traces: with the function tracer on all of a distribution
// kernel's 60,000 to 80,000 traceable functions, at some 100 bytes a
// line, it is under 10 MiB; the kprobes list is smaller.
const MaxSize = 32 << 20

// MaxRecords bounds the records one file may hold.
const MaxRecords = 1_000_000

// FormatError is a line that is not what the kernel writes.
type FormatError struct {
	// Path names the file; "" for unnamed data.
	Path string
	Line int // 1-based
	Msg  string
}

func (e *FormatError) Error() string {
	s := fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	if e.Path != "" {
		s = "file " + e.Path + ": " + s
	}
	return s
}

// Record is one line of enabled_functions: a function something traces.
type Record struct {
	Function string
	// Module is the function's module; "" for vmlinux.
	Module string
	// Count is the number of ftrace_ops on the record.
	Count int
	// The record's flags: R (ops save regs), I (an IPMODIFY user), D (a
	// direct call), O (call ops, arm64), M (modified).
	Regs, IPModify, Direct, CallOps, Modified bool
	// Handlers are the functions of the ftrace_ops named by the line's
	// tramp:, ops: and subops parts, without offsets.
	Handlers []string
	// DirectTo is the direct call's target, from the "direct-->" line.
	DirectTo string
}

// Object names the record's object as a livepatch does: vmlinux or the
// module.
func (r *Record) Object() string {
	if r.Module == "" {
		return "vmlinux"
	}
	return r.Module
}

// ReadEnabledFunctions reads an enabled_functions file (or
// touched_functions, which has the same lines), bounded by MaxSize; a
// tracefs file says its size is 0 and is read up to the limit.
func ReadEnabledFunctions(path string) ([]Record, error) {
	b, err := safeio.ReadFile(path, MaxSize)
	if err != nil {
		return nil, err
	}
	return ParseEnabledFunctions(b, path)
}

// ParseEnabledFunctions reads the lines of enabled_functions, name being
// what errors call the data. Each record is a line
//
//	NAME [MODULE] (COUNT) FLAGS...[\ttramp: ADDR (FUNC)...][\tops: ADDR (FUNC)...]
//
// FLAGS each one of R I D O M (6.1 prints R I D; 6.4 added O, 6.6 M), the
// parts after tabs naming the ftrace_ops' functions, and, for a direct
// call, a second line "\tdirect-->TARGET" ("\tdirect(jmp)-->" in 7.x).
// An empty file is no record: nothing is traced. Errors are
// *FormatError.
func ParseEnabledFunctions(b []byte, name string) ([]Record, error) {
	var recs []Record
	n := 0
	for line := range strings.Lines(string(b)) {
		n++
		bad := func(format string, args ...any) error {
			return &FormatError{Path: name, Line: n, Msg: fmt.Sprintf(format, args...)}
		}
		line = strings.TrimSuffix(line, "\n")
		if strings.TrimSpace(line) == "" {
			// A record the kernel disabled prints an empty line.
			continue
		}
		if line[0] == '\t' {
			// A continuation: the direct call of the record above.
			rest := strings.TrimSpace(line)
			_, to, ok := strings.Cut(rest, "-->")
			if !ok || !strings.HasPrefix(rest, "direct") {
				return nil, bad("want a record, or \"\\tdirect-->TARGET\" after one")
			}
			if len(recs) == 0 {
				return nil, bad("a direct call before any record")
			}
			sym, err := symbolOf(to)
			if err != nil {
				return nil, bad("direct target: %v", err)
			}
			recs[len(recs)-1].DirectTo = sym
			continue
		}
		if len(recs) >= MaxRecords {
			return nil, bad("more than %d records", MaxRecords)
		}
		r, err := parseRecord(line)
		if err != nil {
			return nil, bad("%v", err)
		}
		recs = append(recs, r)
	}
	return recs, nil
}

func parseRecord(line string) (Record, error) {
	var r Record
	parts := strings.Split(line, "\t")
	f := strings.Fields(parts[0])
	if len(f) < 2 {
		return r, fmt.Errorf("want \"NAME [MODULE] (COUNT) FLAGS\" (is this available_filter_functions?)")
	}
	if !SymbolName(f[0]) {
		return r, fmt.Errorf("function %s: not a symbol name", strconv.Quote(f[0]))
	}
	r.Function = f[0]
	f = f[1:]
	if strings.HasPrefix(f[0], "[") {
		mod, ok := strings.CutSuffix(strings.TrimPrefix(f[0], "["), "]")
		if !ok || !ModuleName(mod) {
			return r, fmt.Errorf("module %s: not a module name", strconv.Quote(f[0]))
		}
		r.Module = mod
		f = f[1:]
	}
	if len(f) == 0 || !strings.HasPrefix(f[0], "(") || !strings.HasSuffix(f[0], ")") {
		return r, fmt.Errorf("want \"(COUNT)\" after the function (is this available_filter_functions?)")
	}
	c, err := strconv.Atoi(f[0][1 : len(f[0])-1])
	if err != nil || c < 0 {
		return r, fmt.Errorf("count %s: not a count", strconv.Quote(f[0]))
	}
	r.Count = c
	for _, fl := range f[1:] {
		switch fl {
		case "R":
			r.Regs = true
		case "I":
			r.IPModify = true
		case "D":
			r.Direct = true
		case "O":
			r.CallOps = true
		case "M":
			r.Modified = true
		default:
			// An architecture's trampoline function (" ->FUNC",
			// add_trampoline_func) may follow the flags.
			if !strings.HasPrefix(fl, "->") {
				return r, fmt.Errorf("flag %s: want R, I, D, O or M", strconv.Quote(fl))
			}
		}
	}
	for _, p := range parts[1:] {
		hs, err := handlers(p)
		if err != nil {
			return r, err
		}
		for _, h := range hs {
			if !slices.Contains(r.Handlers, h) {
				r.Handlers = append(r.Handlers, h)
			}
		}
	}
	return r, nil
}

// handlers reads the ops' functions of a "tramp: ADDR (FUNC+OFF/SIZE)
// ->FUNC {SUBOP}" or "ops: ADDR (FUNC)" part: the symbols in parentheses
// and braces (subops: "{FUNC}" or "{TRAMP (FUNC)}").
func handlers(p string) ([]string, error) {
	p = strings.TrimSpace(p)
	kind, rest, ok := strings.Cut(p, ":")
	if !ok || kind != "tramp" && kind != "ops" {
		return nil, fmt.Errorf("part %s: want \"tramp: ...\" or \"ops: ...\"", strconv.Quote(p))
	}
	if strings.TrimSpace(rest) == "ERROR!" {
		return nil, nil
	}
	var out []string
	for {
		i := strings.IndexAny(rest, "({")
		if i < 0 {
			return out, nil
		}
		open := rest[i]
		rest = rest[i+1:]
		if open == '{' {
			// "{TRAMP (FUNC)}": the function is in the parentheses.
			if j := strings.IndexAny(rest, "(}"); j >= 0 && rest[j] == '(' {
				continue
			}
		}
		closer := ")"
		if open == '{' {
			closer = "}"
		}
		j := strings.Index(rest, closer)
		if j < 0 {
			return nil, fmt.Errorf("part %s: unbalanced %q", strconv.Quote(p), open)
		}
		sym, err := symbolOf(rest[:j])
		if err != nil {
			return nil, fmt.Errorf("part %s: %v", strconv.Quote(p), err)
		}
		out = append(out, sym)
		rest = rest[j+1:]
	}
}

// symbolOf reads what %pS prints: "SYM+0xOFF/0xSIZE [MODULE]", or a bare
// address when no symbol covers it, and returns SYM (or the address).
func symbolOf(s string) (string, error) {
	f := strings.Fields(s)
	if len(f) == 0 || len(f) > 2 {
		return "", fmt.Errorf("symbol %s: want \"SYMBOL+OFFSET/SIZE [MODULE]\"", strconv.Quote(s))
	}
	sym, _, _ := strings.Cut(f[0], "+")
	if !SymbolName(sym) {
		return "", fmt.Errorf("symbol %s: not a symbol name", strconv.Quote(f[0]))
	}
	return sym, nil
}

// SymbolName says whether s may be a symbol the kernel prints: C
// identifier characters and the dots of compiler suffixes (.isra.0,
// .cold), at most 512 bytes (KSYM_NAME_LEN).
func SymbolName(s string) bool {
	if s == "" || len(s) > 512 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '_' || c == '.' || c == '$' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// ModuleName says whether s may be a loaded module's name (at most 55
// bytes, MODULE_NAME_LEN - 1; "-" becomes "_" when a module loads).
func ModuleName(s string) bool {
	if s == "" || len(s) > 55 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// Kprobe is one line of the kprobes list.
type Kprobe struct {
	// Return is a kretprobe ("r"); else a kprobe ("k").
	Return bool
	// Function and Offset locate the probe; Function is "" when the
	// kernel printed a bare address.
	Function string
	Offset   uint64
	// Module is the function's module; "" for vmlinux.
	Module string
	// The flags the list shows.
	Gone, Disabled, Optimized, Ftrace bool
}

// ReadKprobes reads a kprobes list file, bounded by MaxSize.
func ReadKprobes(path string) ([]Kprobe, error) {
	b, err := safeio.ReadFile(path, MaxSize)
	if err != nil {
		return nil, err
	}
	return ParseKprobes(b, path)
}

// ParseKprobes reads the lines of /sys/kernel/debug/kprobes/list, name
// being what errors call the data. A line is
//
//	ADDR  TYPE  SYMBOL+0xOFFSET  [MODULE] [GONE][DISABLED][OPTIMIZED][FTRACE]
//
// as report_probe prints it (kernel/kprobes.c; the same in 6.1, 6.12 and
// 7.2), TYPE k or r; ADDR is zeros when kallsyms hides addresses. It does
// not say whether a probe has a post handler. Errors are *FormatError.
func ParseKprobes(b []byte, name string) ([]Kprobe, error) {
	var out []Kprobe
	n := 0
	for line := range strings.Lines(string(b)) {
		n++
		if strings.TrimSpace(line) == "" {
			continue
		}
		if len(out) >= MaxRecords {
			return nil, &FormatError{Path: name, Line: n, Msg: fmt.Sprintf("more than %d probes", MaxRecords)}
		}
		k, err := parseKprobe(line)
		if err != nil {
			return nil, &FormatError{Path: name, Line: n, Msg: err.Error()}
		}
		out = append(out, k)
	}
	return out, nil
}

func parseKprobe(line string) (Kprobe, error) {
	var k Kprobe
	f := strings.Fields(line)
	if len(f) < 3 {
		return k, fmt.Errorf("want \"ADDRESS TYPE SYMBOL+OFFSET [MODULE] [FLAGS]\"")
	}
	if _, err := strconv.ParseUint(f[0], 16, 64); err != nil {
		return k, fmt.Errorf("address %s is not hexadecimal", strconv.Quote(f[0]))
	}
	switch f[1] {
	case "k":
	case "r":
		k.Return = true
	default:
		return k, fmt.Errorf("type %s: want k or r", strconv.Quote(f[1]))
	}
	sym, off, hasOff := strings.Cut(f[2], "+")
	switch {
	case hasOff:
		o, err := strconv.ParseUint(strings.TrimPrefix(off, "0x"), 16, 64)
		if err != nil || !strings.HasPrefix(off, "0x") || !SymbolName(sym) {
			return k, fmt.Errorf("probe %s: want SYMBOL+0xOFFSET", strconv.Quote(f[2]))
		}
		k.Function, k.Offset = sym, o
	case strings.HasPrefix(sym, "0x"):
		// %pS of an address no symbol covers.
		if _, err := strconv.ParseUint(sym[2:], 16, 64); err != nil {
			return k, fmt.Errorf("probe %s: want SYMBOL+0xOFFSET", strconv.Quote(f[2]))
		}
	default:
		return k, fmt.Errorf("probe %s: want SYMBOL+0xOFFSET", strconv.Quote(f[2]))
	}
	rest := f[3:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "[") {
		if !ModuleName(rest[0]) {
			return k, fmt.Errorf("module %s: not a module name", strconv.Quote(rest[0]))
		}
		k.Module = rest[0]
		rest = rest[1:]
	}
	flags := strings.Join(rest, "")
	for flags != "" {
		fl, tail, ok := strings.Cut(flags, "]")
		switch {
		case !ok || !strings.HasPrefix(fl, "["):
			return k, fmt.Errorf("flags %s: want [GONE], [DISABLED], [OPTIMIZED] or [FTRACE]", strconv.Quote(flags))
		case fl == "[GONE":
			k.Gone = true
		case fl == "[DISABLED":
			k.Disabled = true
		case fl == "[OPTIMIZED":
			k.Optimized = true
		case fl == "[FTRACE":
			k.Ftrace = true
		default:
			return k, fmt.Errorf("flag %s: want [GONE], [DISABLED], [OPTIMIZED] or [FTRACE]", strconv.Quote(fl+"]"))
		}
		flags = tail
	}
	return k, nil
}

// String is the kprobe as a site records it: "k FUNC+0xOFF".
func (k *Kprobe) String() string {
	t := "k"
	if k.Return {
		t = "r"
	}
	return fmt.Sprintf("%s %s+0x%x", t, k.Function, k.Offset)
}

// Sites returns the records with an IPMODIFY or DIRECT user, each with
// the armed kprobes on its ftrace site: those the list shows with
// [FTRACE] on the same function and module. A kprobe through ftrace sits
// on the function's one ftrace call site, at +0x0, or +0x4 after an
// ENDBR; either way it is this record's.
func Sites(recs []Record, kps []Kprobe) []deploy.FtraceSite {
	type key struct{ mod, fn string }
	on := map[key][]string{}
	for i := range kps {
		k := &kps[i]
		if k.Ftrace && !k.Gone && !k.Disabled && k.Function != "" {
			kk := key{k.Module, k.Function}
			if s := k.String(); !slices.Contains(on[kk], s) {
				on[kk] = append(on[kk], s)
			}
		}
	}
	out := []deploy.FtraceSite{}
	for i := range recs {
		r := &recs[i]
		if !r.IPModify && !r.Direct {
			continue
		}
		out = append(out, deploy.FtraceSite{
			Object: r.Object(), Function: r.Function, Count: r.Count,
			IPModify: r.IPModify, Direct: r.Direct, Handlers: r.Handlers, DirectTo: r.DirectTo,
			Kprobes: on[key{r.Module, r.Function}],
		})
	}
	return out
}

// Sources a deploy.Tracing names.
const (
	SourceEnabledFunctions = "enabled_functions"
	SourceKprobes          = "kprobes/list"
)

// ReadTracing reads an enabled_functions file and, when kprobes is not
// "", a kprobes list, into what a deployed state records.
func ReadTracing(enabledFunctions, kprobes string) (*deploy.Tracing, error) {
	recs, err := ReadEnabledFunctions(enabledFunctions)
	if err != nil {
		return nil, err
	}
	t := &deploy.Tracing{Sources: []string{SourceEnabledFunctions}}
	var kps []Kprobe
	if kprobes != "" {
		if kps, err = ReadKprobes(kprobes); err != nil {
			return nil, err
		}
		t.Sources = append(t.Sources, SourceKprobes)
	}
	t.Sites = Sites(recs, kps)
	return t, nil
}

// Where a host shows the files, relative to its root: tracefs at
// /sys/kernel/tracing (4.1+), else through debugfs; the kprobes list only
// in debugfs.
var (
	hostEnabledFunctions = []string{"sys/kernel/tracing/enabled_functions", "sys/kernel/debug/tracing/enabled_functions"}
	hostKprobes          = "sys/kernel/debug/kprobes/list"
)

// ReadHost reads the host's enabled_functions and kprobes list under
// root. What it could not read is said in notes, not failed: a kernel
// without tracefs mounted, debugfs or kprobes still has a state to
// capture. Tracing is nil when enabled_functions could not be read (the
// kprobes list alone cannot tell an IPMODIFY user). A file that is there
// but not what the kernel writes is an error.
func ReadHost(root *os.Root) (t *deploy.Tracing, notes []string, err error) {
	var recs []Record
	var why []string
	found := ""
	for _, p := range hostEnabledFunctions {
		b, err := safeio.ReadFileIn(root, p, MaxSize)
		if err != nil {
			why = append(why, fmt.Sprintf("/%s: %v", p, unwrapPath(err)))
			continue
		}
		if recs, err = ParseEnabledFunctions(b, "/"+p); err != nil {
			return nil, nil, err
		}
		found = p
		break
	}
	if found == "" {
		return nil, []string{"tracing: enabled_functions not readable (" + strings.Join(why, "; ") + "): the state records no IPMODIFY users (mount tracefs, or give --enabled-functions)"}, nil
	}
	t = &deploy.Tracing{Sources: []string{SourceEnabledFunctions}}
	notes = append(notes, "tracing: read /"+found)
	var kps []Kprobe
	b, err := safeio.ReadFileIn(root, hostKprobes, MaxSize)
	if err != nil {
		notes = append(notes, fmt.Sprintf("tracing: kprobes list not readable (/%s: %v): IPMODIFY users are named from enabled_functions alone", hostKprobes, unwrapPath(err)))
	} else {
		if kps, err = ParseKprobes(b, "/"+hostKprobes); err != nil {
			return nil, nil, err
		}
		t.Sources = append(t.Sources, SourceKprobes)
		notes = append(notes, "tracing: read /"+hostKprobes)
	}
	t.Sites = Sites(recs, kps)
	return t, notes, nil
}

// unwrapPath drops the path an *fs.PathError repeats.
func unwrapPath(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}
