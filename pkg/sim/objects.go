package sim

import (
	"slices"

	"github.com/klpack/klpack/pkg/klp"
)

// simObject is a patch's klp_object: vmlinux or a module, which need not
// be loaded. Its functions sit on their func_stacks in registration order
// either way (klp_module_coming patches a loading module's objects patch
// by patch, oldest first), but only run while the object is loaded.
//
// The kernel's obj->callbacks.post_unpatch_enabled is not kept: it is
// false only after a pre_patch that failed, which ends the load (or the
// module's load), and the callers below pass post_unpatch only the
// objects whose pre_patch succeeded.
type simObject struct {
	name string
	cb   klp.Callbacks
}

// loaded reports whether an object is loaded: vmlinux always; a module
// while it is when the simulation tracks modules (TrackModules), else
// unless a step unloaded it: a deployed state does not list the modules
// its patches target, and a check must assume they may be loaded.
func (s *Sim) loaded(object string) bool {
	if object == klp.VmlinuxName {
		return true
	}
	if _, ok := s.modules[object]; ok {
		return true
	}
	return !s.trackModules && !s.unloaded[object]
}

// TrackModules starts the simulation from a kernel with no module loaded:
// a patch's module object is loaded only once a step loads the module.
func (s *Sim) TrackModules() { s.trackModules = true }

func (p *simPatch) object(name string) *simObject {
	i := slices.IndexFunc(p.objs, func(o *simObject) bool { return o.name == name })
	if i < 0 {
		return nil
	}
	return p.objs[i]
}

// Callback names, as Step.Callbacks gives them.
const (
	PrePatch    = "pre_patch"
	PostPatch   = "post_patch"
	PreUnpatch  = "pre_unpatch"
	PostUnpatch = "post_unpatch"
)

// FailErrno is what a failing pre_patch callback returns: the e2e modules'
// pre_patch_ret=-19, as the kernel's test_klp_callbacks_demo takes it.
const FailErrno = "ENODEV"

func (s *Sim) ran(st *Step, callback string, p *simPatch, o *simObject) {
	st.Callbacks = append(st.Callbacks, callback+" "+p.name+" "+o.name)
}

// prePatch is klp_pre_patch_callback: false when the callback fails.
func (s *Sim) prePatch(st *Step, p *simPatch, o *simObject) bool {
	if o.cb.PrePatch == "" {
		return true
	}
	s.ran(st, PrePatch, p, o)
	return !s.failing[p.name]
}

func (s *Sim) postPatch(st *Step, p *simPatch, o *simObject) {
	if o.cb.PostPatch != "" {
		s.ran(st, PostPatch, p, o)
	}
}

func (s *Sim) preUnpatch(st *Step, p *simPatch, o *simObject) {
	if o.cb.PreUnpatch != "" {
		s.ran(st, PreUnpatch, p, o)
	}
}

func (s *Sim) postUnpatch(st *Step, p *simPatch, o *simObject) {
	if o.cb.PostUnpatch != "" {
		s.ran(st, PostUnpatch, p, o)
	}
}

// loadedObjects lists p's objects that are loaded, in p's order.
func (s *Sim) loadedObjects(p *simPatch) []*simObject {
	var out []*simObject
	for _, o := range p.objs {
		if s.loaded(o.name) {
			out = append(out, o)
		}
	}
	return out
}

// enableCallbacks runs what __klp_enable_patch runs before the transition
// starts: each loaded object's pre_patch. When one fails,
// klp_cancel_transition runs post_unpatch for those before it and the
// load fails with the callback's error.
func (s *Sim) enableCallbacks(st *Step, p *simPatch) *refusal {
	objs := s.loadedObjects(p)
	for i, o := range objs {
		if !s.prePatch(st, p, o) {
			for _, q := range objs[:i] {
				s.postUnpatch(st, p, q)
			}
			return refuse(FailErrno, CausePrePatch, "pre-patch callback failed for object '%s'; failed to enable patch '%s'", o.name, p.name)
		}
		if s.ftraceOff {
			// klp_patch_object fails after the pre_patch succeeded.
			for _, q := range objs[:i+1] {
				s.postUnpatch(st, p, q)
			}
			return s.noFtrace(p, o)
		}
	}
	return nil
}

// moduleComing mirrors klp_module_coming for a module that is not a
// livepatch: every registered patch with an object of that name, oldest
// first, runs its pre_patch and (unless it is the patch in transition)
// post_patch. A failing pre_patch undoes the patches before it
// (klp_cleanup_module_patches_limited) and refuses the module's load.
func (s *Sim) moduleComing(st *Step, name string) *refusal {
	for i, p := range s.patches {
		o := p.object(name)
		if o == nil {
			continue
		}
		if !s.prePatch(st, p, o) {
			s.moduleGoing(st, name, s.patches[:i])
			return refuse(FailErrno, CausePrePatch, "pre-patch callback failed for object '%s': patch '%s' failed for module '%s', refusing to load module '%s'", name, p.name, name, name)
		}
		if s.ftraceOff {
			s.postUnpatch(st, p, o)
			s.moduleGoing(st, name, s.patches[:i])
			return s.noFtrace(p, o)
		}
		if s.trans == nil || p != s.trans.patch {
			s.postPatch(st, p, o)
		}
	}
	return nil
}

// moduleGoing mirrors klp_cleanup_module_patches_limited: each of the
// patches with an object of that name runs pre_unpatch (unless it is the
// patch in transition) and post_unpatch.
func (s *Sim) moduleGoing(st *Step, name string, patches []*simPatch) {
	for _, p := range patches {
		o := p.object(name)
		if o == nil {
			continue
		}
		if s.trans == nil || p != s.trans.patch {
			s.preUnpatch(st, p, o)
		}
		s.postUnpatch(st, p, o)
	}
}

// stacksOfObject lists the func_stacks of an object's functions that a
// patch has ever patched: what runs of each changes as the object comes
// or goes.
func (s *Sim) stacksOfObject(name string) []*funcStack {
	// A copy: callers append to it.
	return slices.Clone(s.byObject[name])
}

// fail makes the pre_patch callbacks of a loaded module's patch fail from
// now on (its pre_patch_ret parameter).
func (s *Sim) fail(name string) *refusal {
	m, ok := s.modules[name]
	if !ok || !m.rec.Livepatch {
		return refuse(ENOENT, CauseNotLoaded, "/sys/module/%s/parameters/pre_patch_ret does not exist: livepatch module %s is not loaded", name, name)
	}
	s.failing[name] = true
	return nil
}
