package sim

import (
	"strings"
)

// FtraceEnabled is the only sysctl a scenario sets: with it 0, ftrace
// calls no handler, so livepatch cannot register its own.
const FtraceEnabled = "kernel.ftrace_enabled"

// ftraceOps reports whether livepatch has an ftrace handler registered: a
// patched function of a loaded object.
func (s *Sim) ftraceOps() bool {
	for _, fs := range s.seen {
		if fs.top != nil && s.loaded(fs.key.Object) {
			return true
		}
	}
	return false
}

// sysctl mirrors ftrace_enable_sysctl: livepatch's handlers are
// FTRACE_OPS_FL_PERMANENT, so kernel.ftrace_enabled=0 is -EBUSY while one
// is registered.
func (s *Sim) sysctl(setting string) *refusal {
	key, val, _ := strings.Cut(setting, "=")
	if key != FtraceEnabled || val != "0" && val != "1" {
		return refuse(EINVAL, CauseUnknownStep, "sysctl %s: only %s=0 or 1 is modelled", setting, FtraceEnabled)
	}
	if val == "1" {
		s.ftraceOff = false
		return nil
	}
	if s.ftraceOps() {
		return refuse(EBUSY, CauseFtracePermanent, "sysctl: setting key %q: Device or resource busy: livepatch's ftrace handlers are permanent while a patch is applied", FtraceEnabled)
	}
	s.ftraceOff = true
	return nil
}

// noFtrace is the refusal of klp_patch_object while ftrace is off:
// register_ftrace_function returns -EBUSY.
func (s *Sim) noFtrace(p *simPatch, o *simObject) *refusal {
	var fn string
	for _, f := range p.funcs {
		if f.key.Object == o.name {
			fn = f.key.Name
			break
		}
	}
	return refuse(EBUSY, CauseFtraceOff, "failed to register ftrace handler for function '%s' (-16): %s is 0; failed to patch object '%s'", fn, FtraceEnabled, o.name)
}
