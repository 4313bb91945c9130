package check

import (
	"fmt"

	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/ftrace"
	"github.com/klpack/klpack/pkg/klp"
)

// ftrace: a candidate function whose ftrace record already has an
// IPMODIFY user that is no livepatch cannot be patched: klp_patch_func's
// register_ftrace_function fails with EBUSY
// (__ftrace_hash_update_ipmodify). A function a loaded livepatch patches
// shares that livepatch's ftrace_ops, so stacking on it is no conflict.
func (c *checker) ftrace(st *deploy.State) {
	tr := c.in.Tracing
	if tr == nil {
		tr = st.Tracing
	}
	if tr == nil {
		return
	}
	type objFunc struct{ obj, fn string }
	sites := map[objFunc][]*deploy.FtraceSite{}
	for i := range tr.Sites {
		s := &tr.Sites[i]
		if s.IPModify {
			k := objFunc{s.Object, s.Function}
			sites[k] = append(sites[k], s)
		}
	}
	// Functions a deployed, enabled livepatch patches: the I on them may
	// be that livepatch's even where enabled_functions names no handler.
	patched := map[objFunc]bool{}
	for _, p := range st.Patches {
		if !p.Enabled || len(p.Patches) == 0 || p.Patches[0] == nil {
			continue
		}
		for _, o := range p.Patches[0].Objects {
			for _, f := range o.Funcs {
				patched[objFunc{o.ObjectName(), f.OldName}] = true
			}
		}
	}
	for _, m := range c.in.Candidates {
		for _, o := range m.Patches[0].Objects {
			obj := o.ObjectName()
			for _, f := range o.Funcs {
				k := objFunc{obj, f.OldName}
				ss := sites[k]
				if len(ss) == 0 {
					continue
				}
				// enabled_functions names a function without its
				// sympos: with several of one name, any may be it.
				var user ftrace.User
				for _, s := range ss {
					if user = ftrace.IPModifyUser(s, patched[k]); user.Kind != ftrace.UserLivepatch {
						break
					}
				}
				if user.Kind == ftrace.UserLivepatch {
					continue
				}
				which := ""
				if len(ss) > 1 {
					which = fmt.Sprintf(" (one of %d functions of that name in %s with one; enabled_functions gives no sympos)", len(ss), obj)
				}
				key := klp.KeyOf(&o, &f).String()
				c.report(RuleFtraceIPModify, m.Path, fmt.Sprintf("%s patches %s, which already has an IPMODIFY ftrace user%s: %s; enabling %s fails with EBUSY (dmesg: livepatch: failed to register ftrace handler for function '%s' (-16))",
					m.Name, key, which, user.Desc, m.Name, f.OldName), []string{m.Name}, []string{key})
			}
		}
	}
}
