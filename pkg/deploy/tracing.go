package deploy

import (
	"fmt"
	"strconv"

	"github.com/klpack/klpack/internal/safetext"
)

// Tracing is what the host's ftrace said, when the state was captured, of
// the functions whose ftrace record has an IPMODIFY or DIRECT user: the
// kernel lets one IPMODIFY user (a livepatch, a kprobe with a post
// handler) redirect a function, and refuses a second with EBUSY.
type Tracing struct {
	// Sources names the files read: "enabled_functions", and
	// "kprobes/list" when the kprobes list was read too.
	Sources []string `json:"sources"`
	// Sites are the functions with an IPMODIFY or DIRECT user, in the
	// order enabled_functions lists them.
	Sites []FtraceSite `json:"sites"`
}

// FtraceSite is one function's ftrace record with an IPMODIFY or DIRECT
// user, as enabled_functions shows it.
type FtraceSite struct {
	// Object is "vmlinux" or the module the function is in, as a
	// livepatch object names it.
	Object   string `json:"object"`
	Function string `json:"function"`
	// Count is the number of ftrace_ops on the record, the "(N)".
	Count int `json:"count"`
	// IPModify and Direct are the record's I and D flags.
	IPModify bool `json:"ipmodify"`
	Direct   bool `json:"direct,omitempty"`
	// Handlers are the functions of the ftrace_ops the line names (its
	// tramp:, ops: and subops parts), symbol names without offsets; a
	// record with several ops names none on x86.
	Handlers []string `json:"handlers,omitempty"`
	// DirectTo is the direct call's target (a BPF trampoline), when D.
	DirectTo string `json:"direct_to,omitempty"`
	// Kprobes are the kprobes on the function's ftrace site that the
	// kprobes list shows armed through ftrace, as "k FUNC+0xOFF" or
	// "r FUNC+0xOFF". The list does not say which has a post handler.
	Kprobes []string `json:"kprobes,omitempty"`
}

// validateTracing checks what JSON types cannot: names without control
// characters, and a count that is a count.
func validateTracing(t *Tracing) *StateError {
	for i, s := range t.Sources {
		if err := safetext.Check(s); err != nil || s == "" {
			return &StateError{Field: fmt.Sprintf("tracing.sources[%d]", i), Msg: "empty or a control character: " + strconv.Quote(s)}
		}
	}
	for i, s := range t.Sites {
		at := fmt.Sprintf("tracing.sites[%d]", i)
		for _, f := range []struct{ key, v string }{{"object", s.Object}, {"function", s.Function}} {
			if f.v == "" {
				return &StateError{Field: at + "." + f.key, Msg: "missing"}
			}
			if err := safetext.Check(f.v); err != nil {
				return &StateError{Field: at + "." + f.key, Msg: fmt.Sprintf("%s: %v", strconv.Quote(f.v), err)}
			}
		}
		if s.Count < 0 {
			return &StateError{Field: at + ".count", Msg: fmt.Sprintf("negative count %d", s.Count)}
		}
		if err := safetext.Check(s.DirectTo); err != nil {
			return &StateError{Field: at + ".direct_to", Msg: fmt.Sprintf("%s: %v", strconv.Quote(s.DirectTo), err)}
		}
		for _, l := range []struct {
			key  string
			vals []string
		}{{"handlers", s.Handlers}, {"kprobes", s.Kprobes}} {
			for k, v := range l.vals {
				if err := safetext.Check(v); err != nil || v == "" {
					return &StateError{Field: fmt.Sprintf("%s.%s[%d]", at, l.key, k), Msg: "empty or a control character: " + strconv.Quote(v)}
				}
			}
		}
	}
	return nil
}
