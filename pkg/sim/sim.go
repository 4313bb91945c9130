package sim

import (
	"fmt"
	"slices"

	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

// The simulator replays kernel/livepatch/{core,transition,state}.c at the
// level of patches and func_stacks. A transition is modelled by its two
// end points: every task on the old code, then every task on the new code;
// what changes between the end of a transition and the state after it
// completes changes for all tasks at once, outside the consistency model.
// A transition stays pending while a task a scenario holds asleep in a
// function (tasks.go) sits in code klp_check_stack_func looks for; every
// other task switches at once.

// Original is what runs when no patch's code does.
const Original = "original"

// Absent is what runs of a function whose object (a module) is not
// loaded: nothing.
const Absent = "absent"

// Causes of a refusal, for callers that branch on them.
const (
	CauseLoaded          = "module-loaded"        // a module of that name is loaded
	CauseNoFuncs         = "no-functions"         // the patch patches nothing
	CauseState           = "state-incompatible"   // klp_is_patch_compatible said no
	CauseBusy            = "transition-pending"   // another transition runs
	CauseReplaceSet      = "replace-set-conflict" // another set patches the function
	CauseNoPatch         = "no-patch"             // no /sys/kernel/livepatch/<name>
	CauseEnabled         = "already-enabled"      // writing 1 to enabled again
	CauseDisabled        = "already-disabled"     // writing 0 to a patch being disabled
	CauseNotLoaded       = "not-loaded"           // rmmod of a module not loaded
	CauseInUse           = "in-use"               // rmmod of a module whose patch is enabled
	CauseLockdown        = "lockdown"             // an unsigned module under lockdown
	CauseUnknownStep     = "unknown-action"
	CauseNoRecord        = "no-record"         // a load without a (whole) module record
	CauseForced          = "forced"            // rmmod of a module whose patch's transition was forced
	CauseNoTask          = "no-task"           // hold or wake of a task module that is not loaded
	CauseTaskHeld        = "task-held"         // hold of a task already held, wake of one that is not
	CauseNoTransition    = "not-in-transition" // force of a patch not in transition
	CausePrePatch        = "pre-patch-failed"  // a pre_patch callback failed
	CauseFtraceOff       = "ftrace-disabled"   // a load while kernel.ftrace_enabled is 0
	CauseFtracePermanent = "ftrace-permanent"  // ftrace_enabled=0 while a patch is applied
)

// refusal is the kernel saying no; with names the patches the refusal is
// about besides the one acted on.
type refusal struct {
	errno, cause, reason string
	with                 []string
}

func refuse(errno, cause, format string, args ...any) *refusal {
	return &refusal{errno: errno, cause: cause, reason: fmt.Sprintf(format, args...)}
}

// Errno names as the kernel returns them.
const (
	EEXIST = "EEXIST"
	EINVAL = "EINVAL"
	EBUSY  = "EBUSY"
	ENOENT = "ENOENT"
	EAGAIN = "EAGAIN"
	EPERM  = "EPERM"
	ENODEV = "ENODEV"
)

// Sim is the kernel's livepatch state: loaded modules, the list of
// registered patches (klp_patches, oldest first) and a func_stack per
// patched function.
type Sim struct {
	model string
	// lockdown is the kernel's lockdown= mode; under any, unsigned modules
	// do not load.
	lockdown string
	modules  map[string]*simModule
	patches  []*simPatch
	// stacks is keyed by function name alone, other objects and sympos
	// of a name chained behind (funcStack.next): a string key hashes
	// several times faster than the whole klp.FuncKey, and a deployed
	// set of 10,000 patches looks a million functions up.
	stacks  map[string]*funcStack
	trans   *transition     // klp_transition_patch, while its transition is pending
	tasks   []*task         // tasks held asleep in a function, in hold order
	failing map[string]bool // modules whose patch's pre_patch callbacks fail
	// trackModules: every module not loaded by a step is not loaded;
	// unloaded lists those steps unloaded.
	trackModules bool
	unloaded     map[string]bool
	ftraceOff    bool         // kernel.ftrace_enabled is 0
	seen         []*funcStack // every function ever patched, in first-seen order
	// byObject is seen by object name: a module coming or going looks up
	// its own stacks instead of walking every function ever patched.
	byObject map[string][]*funcStack
	// brief: Apply gives the kernel's answer only (SetBrief).
	brief bool
	// byRecord is, per patch record registered, the func_stacks of its
	// functions in order: a record loaded again (the way back reloads
	// every patch a release removed) finds its stacks without a map
	// lookup per function. A stack, once made, stays for its key.
	byRecord map[*klp.Patch][]*funcStack
	gen      int
	// stated counts the registered patches that carry a klp_state:
	// while none does, a load needs no walk over klp_patches (the way
	// back loads thousands).
	stated int
}

// transition is a pending transition: klp_transition_patch, with its
// target the patch's enabled.
type transition struct {
	patch *simPatch
	// stalled is a transition a deployed state left pending: what keeps
	// it open is unknown, so only a reversal or force ends it.
	stalled bool
}

// leaving is the patch whose transition to disabled is pending: tasks that
// switched no longer run its code.
func (s *Sim) leaving() *simPatch {
	if s.trans != nil && !s.trans.patch.enabled {
		return s.trans.patch
	}
	return nil
}

// lookup returns the func_stack of key, nil when none was made.
func (s *Sim) lookup(key klp.FuncKey) *funcStack {
	for st := s.stacks[key.Name]; st != nil; st = st.next {
		if st.key == key {
			return st
		}
	}
	return nil
}

// funcStackOf returns the func_stack of key, made empty when new.
func (s *Sim) funcStackOf(key klp.FuncKey) *funcStack {
	st := s.lookup(key)
	if st == nil {
		st = &funcStack{key: key, next: s.stacks[key.Name]}
		s.stacks[key.Name] = st
		s.seen = append(s.seen, st)
		s.byObject[key.Object] = append(s.byObject[key.Object], st)
	}
	return st
}

// name is the function's name as a Step gives it: made once per stack,
// as a replace over thousands of patches names each function many times.
func (st *funcStack) fname() string {
	if st.name == "" {
		st.name = st.key.String()
	}
	return st.name
}

// funcStack is a function's func_stack: top, and each function's below
// down to the bottom. Linked through the functions, a push writes only
// the function and the stack, no array of its own (a deployed set of
// 10,000 patches pushes a million).
type funcStack struct {
	key   klp.FuncKey
	name  string     // key.String(), made once (fname)
	next  *funcStack // another stack of the same function name
	top   *simFunc
	dirty bool // queued for removal of gone functions
	mark  int  // last Sim.gen that listed it, to list each stack once
}

// push puts f on top of st.
func (st *funcStack) push(f *simFunc) {
	f.below, st.top = st.top, f
}

type simModule struct {
	rec   *klp.Module
	layer string
	patch *simPatch // nil when the module has none or it was freed
	// forced is a module whose patch left through a forced transition:
	// klp_free_patch_finish keeps its reference, it stays loaded.
	forced bool
}

type simPatch struct {
	name        string
	replace     bool
	replaceable bool
	set         uint32
	states      []klp.State
	objs        []*simObject
	funcs       []*simFunc // the patch's own functions, then its nops
	rec         *klp.Patch // the record it was made from
	enabled     bool
	freed       bool
}

type simFunc struct {
	key   klp.FuncKey
	patch *simPatch
	stack *funcStack // set when pushed
	below *simFunc   // the function under it on the stack, while pushed
	nop   bool
	gone  bool // popped off its stack
}

// SetBrief makes Apply, from now on, give the kernel's answer only and
// leave Step.Stack, Funcs, Events and Reverted nil, for callers that replay
// many steps over a large stack: listing every registered patch at each
// step makes n steps cost n², and naming every function a step touches
// costs more than the step.
func (s *Sim) SetBrief(brief bool) { s.brief = brief }

// SetLockdown boots the kernel with lockdown=mode ("" for none).
func (s *Sim) SetLockdown(mode string) { s.lockdown = mode }

// New starts from an empty kernel following model.
func New(model string) (*Sim, error) {
	if !deploy.ValidModel(model) {
		return nil, fmt.Errorf("unknown kernel model %q (want %s, %s or %s)", model, deploy.ModelMainline, deploy.ModelHybrid, deploy.ModelReplaceSet)
	}
	return &Sim{model: model, modules: map[string]*simModule{}, stacks: map[string]*funcStack{}, byObject: map[string][]*funcStack{}, byRecord: map[*klp.Patch][]*funcStack{}, failing: map[string]bool{}, unloaded: map[string]bool{}}, nil
}

// Deploy puts a deployed state in place as the kernel holds it: modules
// loaded in load order, enabled patches registered with their functions
// on the stacks (nops of completed replaces are gone). A patch with
// transition true is klp_transition_patch: being enabled when enabled,
// being disabled (still registered, still on the stacks) when not. A
// disabled patch out of transition was freed: only its module remains.
func (s *Sim) Deploy(st *deploy.State) error {
	ps := slices.Clone(st.Patches)
	slices.SortStableFunc(ps, func(a, b *deploy.Patch) int { return a.LoadOrder - b.LoadOrder })
	for i, p := range ps {
		// A state from ReadState has been validated; one built in
		// memory may not have been.
		if p == nil {
			return fmt.Errorf("deployed state: patches[%d] is null", i)
		}
		if len(p.Patches) > 0 && p.Patches[0] == nil {
			return fmt.Errorf("deployed state: module %s: patches[0] is null", safetext.Quote(p.Name))
		}
		if _, ok := s.modules[p.Name]; ok {
			return fmt.Errorf("deployed state: module %s listed twice", p.Name)
		}
		m := &simModule{rec: &p.Module, layer: p.Layer}
		s.modules[p.Name] = m
		inTransition := p.Transition != nil && *p.Transition
		if !p.Enabled && !inTransition || len(p.Patches) == 0 {
			continue
		}
		if inTransition && s.trans != nil {
			return fmt.Errorf("deployed state: %s and %s both in transition; the kernel runs one transition at a time", s.trans.patch.name, p.Name)
		}
		sp := newSimPatch(p.Name, p.Patches[0], p.Layer)
		s.known(sp)
		sp.enabled = p.Enabled
		m.patch = sp
		if inTransition && sp.enabled && sp.replace {
			// A replace being enabled has its nops on the stacks.
			s.addNops(sp)
		}
		s.register(sp)
		if inTransition {
			s.trans = &transition{patch: sp, stalled: true}
		}
	}
	return nil
}

func newSimPatch(name string, p *klp.Patch, layer string) *simPatch {
	sp := &simPatch{name: name, replace: p.Replace, replaceable: layer != klp.LayerOffBand, states: p.States, rec: p}
	if p.Replaceable != nil {
		sp.replaceable = *p.Replaceable
	}
	if p.ReplaceSet != nil {
		sp.set = *p.ReplaceSet
	}
	n := 0
	for i := range p.Objects {
		n += len(p.Objects[i].Funcs)
	}
	// One allocation for the functions: a deployed set of 10,000 patches
	// has a million.
	fs := make([]simFunc, 0, n)
	sp.funcs = make([]*simFunc, 0, n)
	for i := range p.Objects {
		o := &p.Objects[i]
		sp.objs = append(sp.objs, &simObject{name: o.ObjectName(), cb: o.Callbacks})
		for j := range o.Funcs {
			fs = append(fs, simFunc{key: klp.KeyOf(o, &o.Funcs[j]), patch: sp})
			sp.funcs = append(sp.funcs, &fs[len(fs)-1])
		}
	}
	return sp
}

// register adds a patch to klp_patches and pushes its functions.
func (s *Sim) register(p *simPatch) {
	s.patches = append(s.patches, p)
	if len(p.states) > 0 {
		s.stated++
	}
	for _, f := range p.funcs {
		if f.stack == nil {
			f.stack = s.funcStackOf(f.key)
		}
		f.stack.push(f)
	}
	if _, ok := s.byRecord[p.rec]; !ok && p.rec != nil {
		own := make([]*funcStack, 0, len(p.funcs))
		for _, f := range p.funcs {
			if !f.nop {
				own = append(own, f.stack)
			}
		}
		s.byRecord[p.rec] = own
	}
}

// known gives p's functions the stacks a patch of the same record had,
// where the keys still agree (the record may have been changed since).
func (s *Sim) known(p *simPatch) {
	stacks := s.byRecord[p.rec]
	if len(stacks) != len(p.funcs) {
		return
	}
	for i, f := range p.funcs {
		if stacks[i].key == f.key {
			f.stack = stacks[i]
		}
	}
}

// running is which patch's code runs for a function: Absent when its
// object is not loaded. leaving, when set, is a patch whose transition to
// disabled every task has made.
func (s *Sim) running(st *funcStack, leaving *simPatch) string {
	if !s.loaded(st.key.Object) {
		return Absent
	}
	for f := st.top; f != nil; f = f.below {
		if f.patch == leaving {
			continue
		}
		if f.nop {
			return Original
		}
		return f.patch.name
	}
	return Original
}

// viewOf is which code runs for each of the stacks.
func (s *Sim) viewOf(stacks []*funcStack, leaving *simPatch) []string {
	v := make([]string, len(stacks))
	for i, st := range stacks {
		v[i] = s.running(st, leaving)
	}
	return v
}

// Action is one step of a scenario.
type Action struct {
	Kind   string      // load, enable, disable, unload, force, hold, wake, fail, sysctl, trace
	Name   string      // module, patch or task name
	Module *klp.Module // for load
	Layer  string      // for load, when declared
	// Failing, for load, makes the patch's pre_patch callbacks fail.
	Failing bool
	Func    klp.FuncKey // for hold: the function the task sleeps in
}

// Step is what the kernel did with one action.
type Step struct {
	Action   string `json:"action"`
	Target   string `json:"target"`
	Accepted bool   `json:"accepted"`
	Errno    string `json:"errno,omitempty"`
	Cause    string `json:"cause,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// With lists the other patches a refusal is about.
	With []string `json:"with,omitempty"`
	// Replaced lists the patches a replace removed.
	Replaced []string `json:"replaced,omitempty"`
	// Reverted names, per patch in Replaced, its functions that run the
	// original code once the replace completed: neither the replace
	// nor a patch it kept patches them. Not in the JSON form, where
	// Funcs says what runs; left nil by a brief Apply.
	Reverted map[string][]string `json:"-"`
	Stack    []StackEntry        `json:"stack"`
	// Funcs says, for every function the step touched, which patch's code
	// runs after it: during a pending transition, in the tasks that
	// switched (every task but those held).
	Funcs  map[string]string `json:"functions"`
	Events []Event           `json:"events"`
	// Pending names the patch whose transition the step left pending.
	Pending string `json:"pending,omitempty"`
	// Tasks are the held tasks after the step and the code each sleeps
	// in.
	Tasks []TaskEntry `json:"tasks,omitempty"`
	// Callbacks are the callbacks the step ran, in order: "<callback>
	// <patch> <object>".
	Callbacks []string `json:"callbacks,omitempty"`
}

// StackEntry is one registered patch, oldest first.
type StackEntry struct {
	Name        string `json:"name"`
	Enabled     bool   `json:"enabled"`
	Replace     bool   `json:"replace"`
	Replaceable bool   `json:"replaceable"`
	ReplaceSet  uint32 `json:"replace_set"`
	Transition  bool   `json:"transition,omitempty"`
}

// Event is a change of the code a function runs that no transition of a
// patch patching that function covers: tasks switch all at once.
type Event struct {
	Function string `json:"function"`
	From     string `json:"from"`
	To       string `json:"to"`
	// Patch is the patch whose transition completed.
	Patch string `json:"patch"`
	Why   string `json:"why"`
}

// Apply performs one action and reports the kernel's answer.
func (s *Sim) Apply(a Action) Step {
	st := Step{Action: a.Kind, Target: a.Name, Events: []Event{}}
	var touched []*funcStack
	var r *refusal
	switch a.Kind {
	case "load":
		touched, r = s.load(a, &st)
	case "enable":
		touched, r = s.enable(a.Name, &st)
	case "disable":
		touched, r = s.disable(a.Name, &st)
	case "unload":
		touched, r = s.unload(a.Name, &st)
	case "force":
		touched, r = s.force(a.Name, &st)
	case "hold":
		r = s.hold(a)
	case "wake":
		touched, r = s.wake(a.Name, &st)
	case "fail":
		r = s.fail(a.Name)
	case "sysctl":
		r = s.sysctl(a.Name)
	case "trace":
		// The function tracer on a function, patched or a patch's own,
		// changes no code that runs (test-ftrace.sh).
	default:
		r = refuse(EINVAL, CauseUnknownStep, "unknown action %s", a.Kind)
	}
	st.Accepted = r == nil
	if r != nil {
		st.Errno, st.Cause, st.Reason, st.With = r.errno, r.cause, r.reason, r.with
	}
	if !s.brief {
		st.Stack = s.stack()
	}
	if s.brief {
		st.Events = nil
	} else {
		// touched may list a stack twice (a step's own and its
		// completion's): the map keeps one.
		st.Funcs = make(map[string]string, len(touched))
		for _, fs := range touched {
			st.Funcs[fs.fname()] = s.running(fs, s.leaving())
		}
	}
	if s.trans != nil {
		st.Pending = s.trans.patch.name
	}
	st.Tasks = s.taskEntries()
	return st
}

// Stack is the patches in stack order, oldest first, as they stand: the
// planner records it as the host's state before the first step.
func (s *Sim) Stack() []StackEntry { return s.stack() }

func (s *Sim) stack() []StackEntry {
	out := []StackEntry{}
	for _, p := range s.patches {
		out = append(out, StackEntry{Name: p.name, Enabled: p.enabled, Replace: p.replace, Replaceable: p.replaceable, ReplaceSet: p.set, Transition: s.trans != nil && p == s.trans.patch})
	}
	return out
}

// Modules names the livepatch modules loaded, sorted: those /sys/module
// lists, whether their patch is enabled, freed or was never enabled. The
// planner records them as what the host must see after each step.
func (s *Sim) Modules() []string {
	out := []string{}
	for name, m := range s.modules {
		if m.rec != nil && m.rec.Livepatch {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (s *Sim) load(a Action, st *Step) ([]*funcStack, *refusal) {
	if _, ok := s.modules[a.Name]; ok {
		return nil, refuse(EEXIST, CauseLoaded, "module %s is already loaded", a.Name)
	}
	rec := a.Module
	if rec == nil || len(rec.Patches) > 0 && rec.Patches[0] == nil {
		return nil, refuse(EINVAL, CauseNoRecord, "load %s: no module record to load", a.Name)
	}
	if s.lockdown != "" && rec.Signature == nil {
		// module_sig_check: an unsigned module is refused by lockdown.
		return nil, refuse(EPERM, CauseLockdown, "Lockdown: insmod: unsigned module loading is restricted (lockdown=%s)", s.lockdown)
	}
	if !rec.Livepatch || len(rec.Patches) == 0 {
		// A plain module: the patches with an object of its name apply
		// to it now.
		if r := s.moduleComing(st, a.Name); r != nil {
			return nil, r
		}
		s.modules[a.Name] = &simModule{rec: rec, layer: a.Layer}
		delete(s.unloaded, a.Name)
		return s.stacksOfObject(a.Name), nil
	}
	p := newSimPatch(a.Name, rec.Patches[0], a.Layer)
	s.known(p)
	if len(p.funcs) == 0 {
		return nil, refuse(EINVAL, CauseNoFuncs, "livepatch %s patches no function", a.Name)
	}
	// klp_enable_patch: compatibility of klp_state, then
	// __klp_enable_patch refuses while another transition runs.
	if old, state, ok := s.incompatible(p); !ok {
		r := refuse(EINVAL, CauseState, "Livepatch patch (%s) is not compatible with the already installed livepatches: %s", a.Name, stateWhy(p, old, state))
		r.with = []string{old.name}
		return nil, r
	}
	if s.trans != nil {
		return nil, s.busy()
	}
	if s.model == deploy.ModelReplaceSet {
		for _, f := range p.funcs {
			// The kernel refuses a second set on a function, so the
			// patches on a stack are all of one set.
			for g := s.funcStackOf(f.key).top; g != nil; g = g.below {
				if g.patch.set != p.set {
					r := refuse(EINVAL, CauseReplaceSet, "%s is already patched by %s of replace set %d; %s is in replace set %d", f.key, g.patch.name, g.patch.set, a.Name, p.set)
					r.with = []string{g.patch.name}
					return nil, r
				}
			}
		}
	}
	if a.Failing {
		s.failing[a.Name] = true
	}
	if r := s.enableCallbacks(st, p); r != nil {
		delete(s.failing, a.Name)
		return nil, r
	}
	mod := &simModule{rec: rec, layer: a.Layer, patch: p}
	s.modules[a.Name] = mod
	if p.replace {
		s.addNops(p)
	}
	// Only the functions the new patch (with its nops) and the patches it
	// replaces patch can change.
	var replaced []*simPatch
	if p.replace {
		replaced = s.replaced(p)
	}
	if s.brief {
		p.enabled = true
		s.register(p)
		s.start(p)
		return s.settle(st), nil
	}
	affected := s.stacksOf(append([]*simPatch{p}, replaced...))
	before := s.viewOf(affected, nil)
	p.enabled = true
	s.register(p)
	during := s.viewOf(affected, nil)
	// The stacks p patches itself are reported even when unchanged.
	s.gen++
	for _, f := range p.funcs {
		if !f.nop {
			f.stack.mark = s.gen
		}
	}
	var touched []*funcStack
	for i, fs := range affected {
		if before[i] != during[i] || fs.mark == s.gen {
			touched = append(touched, fs)
		}
	}
	s.start(p)
	return append(touched, s.settle(st)...), nil
}

// complete is klp_complete_transition: a completed enable of a replace
// patch unpatches and frees the patches it replaces and drops its nops; a
// completed disable frees the patch. What the tasks that had not switched
// ran changes for them at once: the events. It returns the stacks whose
// code changed.
func (s *Sim) complete(st *Step) []*funcStack {
	p := s.trans.patch
	ps := []*simPatch{p}
	var replaced []*simPatch
	if p.enabled && p.replace {
		replaced = s.replaced(p)
		ps = append(ps, replaced...)
	}
	var affected []*funcStack
	var during []string
	if !s.brief {
		affected = s.stacksOf(ps)
		during = s.viewOf(affected, s.leaving())
	}
	s.trans = nil
	if !p.enabled {
		s.free([]*simPatch{p}, nil)
	} else if p.replace {
		for _, old := range replaced {
			st.Replaced = append(st.Replaced, old.name)
		}
		// klp_discard_nops: the nops leave the stacks with the replaced.
		var nops []*simFunc
		p.funcs = slices.DeleteFunc(p.funcs, func(f *simFunc) bool {
			if f.nop {
				nops = append(nops, f)
			}
			return f.nop
		})
		s.free(replaced, nops)
		if !s.brief {
			st.Reverted = s.reverted(replaced)
		}
	}
	for _, o := range s.loadedObjects(p) {
		if p.enabled {
			s.postPatch(st, p, o)
		} else {
			s.postUnpatch(st, p, o)
		}
	}
	if s.brief {
		return nil
	}
	after := s.viewOf(affected, nil)
	var changed []*funcStack
	for i, fs := range affected {
		if during[i] == after[i] {
			continue
		}
		changed = append(changed, fs)
		why := fmt.Sprintf("when the transition of %s completes, %s switches from %s to %s in every task at once, outside any transition", p.name, fs.key, during[i], after[i])
		if !p.enabled {
			why = fmt.Sprintf("when %s's transition to disabled completes, %s switches from %s to %s in every task at once", p.name, fs.key, during[i], after[i])
		}
		st.Events = append(st.Events, Event{Function: fs.fname(), From: during[i], To: after[i], Patch: p.name, Why: why})
	}
	return changed
}

// reverted names, per patch a completed replace removed, its functions
// that now run the original code. A replaced patch holds no nops: those
// of a replace leave when its own transition completes, and no replace
// loads while another's transition is pending.
func (s *Sim) reverted(replaced []*simPatch) map[string][]string {
	out := make(map[string][]string, len(replaced))
	for _, old := range replaced {
		var names []string
		for _, f := range old.funcs {
			if s.running(f.stack, nil) == Original {
				names = append(names, f.stack.fname())
			}
		}
		out[old.name] = names
	}
	return out
}

// replaced lists the patches a completed replace of p removes
// (klp_unpatch_replaced_patches): every older one, except those the
// kernel model keeps.
func (s *Sim) replaced(p *simPatch) []*simPatch {
	var out []*simPatch
	for _, old := range s.patches {
		if old == p {
			break
		}
		if s.keeps(p, old) {
			continue
		}
		out = append(out, old)
	}
	return out
}

// keeps reports whether a replace by p leaves old alone.
func (s *Sim) keeps(p, old *simPatch) bool {
	switch s.model {
	case deploy.ModelHybrid:
		return !old.replaceable
	case deploy.ModelReplaceSet:
		return old.set != p.set
	}
	return false
}

// addNops gives p a nop for every function an older, replaceable patch
// patches that p does not (klp_add_nops).
func (s *Sim) addNops(p *simPatch) {
	s.stacksOf([]*simPatch{p}) // marks what p patches itself
	for _, old := range s.patches {
		if s.keeps(p, old) {
			continue
		}
		for _, f := range old.funcs {
			if f.nop || f.stack.mark == s.gen {
				continue
			}
			f.stack.mark = s.gen
			p.funcs = append(p.funcs, &simFunc{key: f.key, patch: p, nop: true, stack: f.stack})
		}
	}
}

// free removes patches whose transition to disabled (or whose
// replacement) completed: off the stacks, out of klp_patches, their sysfs
// directories gone and their module references dropped. extra are further
// functions (nops) to take off the stacks. One pass over each stack: a
// replace may free thousands of patches.
func (s *Sim) free(ps []*simPatch, extra []*simFunc) {
	var dirty []*funcStack
	drop := func(f *simFunc) {
		f.gone = true
		if f.stack != nil && !f.stack.dirty {
			f.stack.dirty = true
			dirty = append(dirty, f.stack)
		}
	}
	for _, f := range extra {
		drop(f)
	}
	for _, p := range ps {
		p.enabled, p.freed = false, true
		if len(p.states) > 0 {
			s.stated--
		}
		for _, f := range p.funcs {
			drop(f)
		}
		if m := s.modules[p.name]; m != nil && m.patch == p {
			m.patch = nil
		}
	}
	s.patches = slices.DeleteFunc(s.patches, func(q *simPatch) bool { return q.freed })
	for _, st := range dirty {
		link := &st.top
		for g := st.top; g != nil; g = g.below {
			if !g.gone {
				*link = g
				link = &g.below
			}
		}
		*link = nil
		st.dirty = false
	}
}

// stacksOf lists the func_stacks of the functions the patches patch, each
// once, and leaves them marked with a new s.gen.
func (s *Sim) stacksOf(ps []*simPatch) []*funcStack {
	s.gen++
	var out []*funcStack
	for _, p := range ps {
		for _, f := range p.funcs {
			st := f.stack
			if st == nil {
				st = s.funcStackOf(f.key)
			}
			if st.mark != s.gen {
				st.mark = s.gen
				out = append(out, st)
			}
		}
	}
	return out
}

func (s *Sim) patch(name string) (*simPatch, *refusal) {
	m, ok := s.modules[name]
	if !ok {
		return nil, refuse(ENOENT, CauseNoPatch, "/sys/kernel/livepatch/%s does not exist: module %s is not loaded", name, name)
	}
	if m.patch == nil {
		return nil, refuse(ENOENT, CauseNoPatch, "/sys/kernel/livepatch/%s does not exist: the patch of module %s was disabled or replaced and freed; unload and load the module again", name, name)
	}
	return m.patch, nil
}

// busy is the -EBUSY of an action while another patch's transition is
// pending.
func (s *Sim) busy() *refusal {
	name := s.trans.patch.name
	r := refuse(EBUSY, CauseBusy, "patch %s is still in transition", name)
	r.with = []string{name}
	return r
}

// enable mirrors enabled_store writing 1: the current state is -EINVAL;
// the patch being disabled has its transition reversed; any other
// disabled patch was freed and is never re-enabled.
func (s *Sim) enable(name string, st *Step) ([]*funcStack, *refusal) {
	p, r := s.patch(name)
	if r != nil {
		return nil, r
	}
	if p.enabled || s.trans == nil || p != s.trans.patch {
		return nil, refuse(EINVAL, CauseEnabled, "patch %s is already enabled", name)
	}
	p.enabled = true
	s.reverse()
	return append(s.stacksOf([]*simPatch{p}), s.settle(st)...), nil
}

// disable mirrors enabled_store writing 0: the current state is -EINVAL,
// a pending transition of the patch itself is reversed, another's makes
// it -EBUSY (__klp_disable_patch).
func (s *Sim) disable(name string, st *Step) ([]*funcStack, *refusal) {
	p, r := s.patch(name)
	if r != nil {
		return nil, r
	}
	if !p.enabled {
		return nil, refuse(EINVAL, CauseDisabled, "patch %s is already being disabled", name)
	}
	touched := s.stacksOf([]*simPatch{p})
	p.enabled = false
	switch {
	case s.trans == nil:
		for _, o := range s.loadedObjects(p) {
			s.preUnpatch(st, p, o)
		}
		s.start(p)
	case s.trans.patch == p:
		// enabled_store reverses a pending transition of the patch itself.
		s.reverse()
	default:
		p.enabled = true
		return nil, s.busy()
	}
	return append(touched, s.settle(st)...), nil
}

func (s *Sim) unload(name string, st *Step) ([]*funcStack, *refusal) {
	m, ok := s.modules[name]
	if !ok {
		return nil, refuse(ENOENT, CauseNotLoaded, "module %s is not loaded", name)
	}
	if m.patch != nil {
		// livepatch holds a reference on the module, so try_stop_module
		// fails with -EWOULDBLOCK.
		return nil, refuse(EAGAIN, CauseInUse, "module %s is in use: its patch is enabled; disable it first", name)
	}
	if m.forced {
		return nil, refuse(EAGAIN, CauseForced, "module %s is in use: its patch's transition was forced, and the kernel never drops a forced patch's module reference", name)
	}
	if m.rec == nil || !m.rec.Livepatch {
		s.moduleGoing(st, name, s.patches)
	}
	delete(s.modules, name)
	delete(s.failing, name)
	s.unloaded[name] = true
	touched := s.stacksOfObject(name)
	// A task module's exit wakes its held task.
	return append(touched, s.release(name, st)...), nil
}

// incompatible mirrors klp_is_patch_compatible: for every state of every
// registered patch, the new patch must carry it at the same or a higher
// version, or not carry it and not be a replace patch.
func (s *Sim) incompatible(p *simPatch) (*simPatch, klp.State, bool) {
	if s.stated == 0 {
		return nil, klp.State{}, true
	}
	for _, old := range s.patches {
		for _, os := range old.states {
			i := slices.IndexFunc(p.states, func(st klp.State) bool { return st.ID == os.ID })
			if i < 0 {
				if p.replace {
					return old, os, false
				}
				continue
			}
			if p.states[i].Version < os.Version {
				return old, os, false
			}
		}
	}
	return nil, klp.State{}, true
}

func stateWhy(p, old *simPatch, st klp.State) string {
	i := slices.IndexFunc(p.states, func(x klp.State) bool { return x.ID == st.ID })
	if i < 0 {
		return fmt.Sprintf("%s holds state %#x version %d, and the replace patch %s does not carry it", old.name, st.ID, st.Version, p.name)
	}
	return fmt.Sprintf("%s holds state %#x version %d, %s carries version %d", old.name, st.ID, st.Version, p.name, p.states[i].Version)
}
