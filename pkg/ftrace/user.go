package ftrace

import (
	"fmt"
	"slices"
	"strings"

	"github.com/klpack/klpack/pkg/deploy"
)

// Kinds of IPMODIFY user.
const (
	UserLivepatch = "livepatch" // klp_ftrace_handler: a livepatch patches the function
	UserKprobe    = "kprobe"    // kprobe_ipmodify_ops: a kprobe with a post handler
	UserDirect    = "direct"    // a direct call that holds IPMODIFY itself (kernels before 6.0)
	UserUnknown   = "unknown"
)

// The functions the kernel's own IPMODIFY ftrace_ops call.
const (
	klpHandler    = "klp_ftrace_handler"    // kernel/livepatch/patch.c, klp_patch_func
	kprobeHandler = "kprobe_ftrace_handler" // kernel/kprobes.c, kprobe_ipmodify_ops and kprobe_ftrace_ops
)

// User is who holds a function's IPMODIFY flag.
type User struct {
	// Kind is one of the User constants.
	Kind string
	// Desc says who in words, for a finding.
	Desc string
}

// IPModifyUser says who holds the IPMODIFY flag of a site that has it;
// livepatched says that a deployed, enabled livepatch patches the
// function (pkg/check knows it from the deployed state). The kernel
// shows the ops' function only when one ops is on the record (x86: its
// trampoline); with several it names none, and the armed kprobes on the
// site tell: a kprobe without a post handler is no IPMODIFY user
// (kprobe_ftrace_ops), so an I with a kprobe on the site and no
// livepatch there is a kprobe with one.
func IPModifyUser(s *deploy.FtraceSite, livepatched bool) User {
	kps := make([]string, 0, len(s.Kprobes))
	for _, k := range s.Kprobes {
		// A kretprobe's kprobe has no post handler (kprobes.c clears it).
		if strings.HasPrefix(k, "k ") {
			kps = append(kps, strings.TrimPrefix(k, "k "))
		}
	}
	// A record with one user names it: that user holds the I, whatever
	// a (stale) deployed state says.
	named := s.Count == 1 && len(s.Handlers) > 0
	switch {
	case slices.Contains(s.Handlers, klpHandler) || livepatched && !named:
		return User{UserLivepatch, "a livepatch (" + klpHandler + ")"}
	case len(kps) == 1:
		return User{UserKprobe, fmt.Sprintf("the kprobe at %s, which has a post handler (kprobe_ipmodify_ops)", kps[0])}
	case len(kps) > 1:
		return User{UserKprobe, fmt.Sprintf("one of the kprobes at %s, the one with a post handler (kprobe_ipmodify_ops)", strings.Join(kps, ", "))}
	case slices.Contains(s.Handlers, kprobeHandler):
		return User{UserKprobe, "a kprobe with a post handler (" + kprobeHandler + "; no kprobes list to name it)"}
	case s.Direct && s.Count == 1:
		// Before 6.0 the direct ops was itself IPMODIFY (ftrace.c's
		// direct_ops), so a BPF trampoline blocked livepatches.
		to := s.DirectTo
		if to == "" {
			to = "unknown target"
		}
		return User{UserDirect, "a direct call to " + to + " that holds IPMODIFY itself (a BPF trampoline on a kernel before 6.0)"}
	}
	desc := "an IPMODIFY ftrace user that the snapshot does not name"
	if len(s.Handlers) > 0 {
		desc = "an IPMODIFY ftrace user (" + strings.Join(s.Handlers, ", ") + ")"
	} else if s.Count > 1 {
		desc += fmt.Sprintf(" (%d ftrace users on the function)", s.Count)
	}
	return User{UserUnknown, desc}
}
