package sim

import (
	"slices"

	"github.com/klpack/klpack/pkg/klp"
)

// task is a kernel thread a scenario holds asleep inside a function (the
// e2e modules' "hold" parameter): while it sleeps in code a transition
// changes, the transition stays pending. Every other task switches at
// once, as idle tasks and tasks asleep elsewhere do.
type task struct {
	name string      // the module whose thread it is
	key  klp.FuncKey // the function it sleeps in
	code string      // whose code of it: a patch's name or Original
	// switched is the task's patch_state being the pending transition's
	// target.
	switched bool
}

// TaskEntry is a held task and the code it sleeps in.
type TaskEntry struct {
	Name     string `json:"name"`
	Function string `json:"function"`
	Code     string `json:"code"`
}

func (s *Sim) taskEntries() []TaskEntry {
	var out []TaskEntry
	for _, t := range s.tasks {
		out = append(out, TaskEntry{Name: t.name, Function: t.key.String(), Code: t.code})
	}
	return out
}

// start makes p klp_transition_patch (its target is p.enabled): no task
// has switched yet.
func (s *Sim) start(p *simPatch) {
	s.trans = &transition{patch: p}
	for _, t := range s.tasks {
		t.switched = false
	}
}

// reverse is klp_reverse_transition, after the caller flipped the
// patch's enabled: the tasks that switched must switch back, those that
// had not are at the new target already. What kept a deployed
// transition open were tasks that had not switched: they are at the
// target now too.
func (s *Sim) reverse() {
	s.trans.stalled = false
	for _, t := range s.tasks {
		t.switched = !t.switched
	}
}

// settle is klp_try_complete_transition: every task that does not sleep in
// code the transition changes switches; when all have, the transition
// completes. It returns the stacks whose code the completion changed.
func (s *Sim) settle(st *Step) []*funcStack {
	if s.trans == nil || s.trans.stalled {
		return nil
	}
	done := true
	for _, t := range s.tasks {
		if !t.switched && s.blocks(t) {
			done = false
			continue
		}
		t.switched = true
	}
	if !done {
		return nil
	}
	return s.complete(st)
}

// blocks mirrors klp_check_stack_func for a task not yet switched: towards
// patched it looks for the code below the transition patch's function on
// its func_stack (the original when there is none), towards unpatched for
// the patch's own code; a nop's code is the original.
func (s *Sim) blocks(t *task) bool {
	p := s.trans.patch
	for _, f := range p.funcs {
		if f.key != t.key || f.stack == nil {
			continue
		}
		look := codeOf(f)
		if p.enabled {
			look = Original
			if f.below != nil {
				look = codeOf(f.below)
			}
		}
		if look == t.code {
			return true
		}
	}
	return false
}

func codeOf(f *simFunc) string {
	if f.nop {
		return Original
	}
	return f.patch.name
}

func (s *Sim) task(name string) *task {
	i := slices.IndexFunc(s.tasks, func(t *task) bool { return t.name == name })
	if i < 0 {
		return nil
	}
	return s.tasks[i]
}

// hold starts a.Name's thread and lets it sleep in a.Func, in the code the
// function runs for a new task: kthreadd has switched, so during a
// transition that is the target's.
func (s *Sim) hold(a Action) *refusal {
	if _, ok := s.modules[a.Name]; !ok {
		return noTask(a.Name)
	}
	if s.task(a.Name) != nil {
		return refuse(EBUSY, CauseTaskHeld, "a thread of %s is held already", a.Name)
	}
	code := Original
	if fs := s.lookup(a.Func); fs != nil {
		code = s.running(fs, s.leaving())
	}
	s.tasks = append(s.tasks, &task{name: a.Name, key: a.Func, code: code, switched: true})
	return nil
}

// noTask is the refusal to hold or wake the task of a module not loaded:
// its hold parameter does not exist.
func noTask(name string) *refusal {
	return refuse(ENOENT, CauseNoTask, "/sys/module/%s/parameters/hold does not exist: module %s is not loaded", name, name)
}

// wake lets name's held thread leave its function and exit; a transition
// it blocked may complete.
func (s *Sim) wake(name string, st *Step) ([]*funcStack, *refusal) {
	if _, ok := s.modules[name]; !ok {
		return nil, noTask(name)
	}
	if s.task(name) == nil {
		return nil, refuse(EINVAL, CauseTaskHeld, "no thread of %s is held", name)
	}
	return s.release(name, st), nil
}

// release drops name's held task, if any, and settles.
func (s *Sim) release(name string, st *Step) []*funcStack {
	n := len(s.tasks)
	s.tasks = slices.DeleteFunc(s.tasks, func(t *task) bool { return t.name == name })
	if len(s.tasks) == n {
		return nil
	}
	return s.settle(st)
}

// force mirrors force_store and klp_force_transition: only the patch in
// transition; every task is switched, and the patches leaving (the patch
// itself when disabled, those a replace removes when enabled) are marked
// forced, so their modules stay loaded for good.
func (s *Sim) force(name string, st *Step) ([]*funcStack, *refusal) {
	p, r := s.patch(name)
	if r != nil {
		return nil, r
	}
	if s.trans == nil || s.trans.patch != p {
		return nil, refuse(EINVAL, CauseNoTransition, "patch %s is not in transition: force applies only to the patch in transition", name)
	}
	leaving := []*simPatch{p}
	if p.enabled {
		leaving = nil
		if p.replace {
			leaving = s.replaced(p)
		}
	}
	for _, q := range leaving {
		if m := s.modules[q.name]; m != nil {
			m.forced = true
		}
	}
	for _, t := range s.tasks {
		t.switched = true
	}
	return s.complete(st), nil
}

// Sleep puts a task asleep in code's version of key (a patch's name, or
// Original), as a capture of a host's stacks found it: it has switched to
// the state the kernel is in, and the next transition checks it as
// klp_check_stack_func does. name identifies the task; a task with frames
// in several functions sleeps once per function under the same name.
func (s *Sim) Sleep(name string, key klp.FuncKey, code string) {
	s.tasks = append(s.tasks, &task{name: name, key: key, code: code, switched: true})
}

// Blocking lists the tasks that keep the pending transition open: those
// not switched, each with the function and code it sleeps in; none when
// no transition is pending.
func (s *Sim) Blocking() []TaskEntry {
	if s.trans == nil {
		return nil
	}
	var out []TaskEntry
	for _, t := range s.tasks {
		if !t.switched {
			out = append(out, TaskEntry{Name: t.name, Function: t.key.String(), Code: t.code})
		}
	}
	return out
}
