package check

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/sim"
)

// blockers: the tasks a captured state found asleep (deploy capture
// --stacks) are put on a simulator of their own, each in the code its
// frames name, and the candidates are loaded in order; a load whose
// transition stays pending names the tasks the simulator's
// klp_check_stack_func (sim.Sim.Blocking) says it waits for. The pending
// transition is then forced, so the next candidate is checked against
// tasks that stay where they sleep. Its own simulator: on the one replay
// uses, the pending load would refuse every later one (EBUSY).
func (c *checker) blockers(st *deploy.State, model string) error {
	if len(st.Tasks) == 0 {
		return nil
	}
	s, err := sim.New(model)
	if err != nil {
		return err
	}
	if err := s.Deploy(st); err != nil {
		return err
	}
	where := c.codeIndex(st)
	tasks := map[string]*deploy.Task{}
	for i := range st.Tasks {
		t := &st.Tasks[i]
		name := strconv.Itoa(t.PID)
		// A recursive function shows twice: the task sleeps once in it.
		var placed []codeAt
		for _, f := range t.Frames {
			for _, at := range where[frameKey{f.Function, f.Module}] {
				if !slices.Contains(placed, at) {
					s.Sleep(name, at.key, at.code)
					placed = append(placed, at)
				}
			}
		}
		if len(placed) > 0 {
			tasks[name] = t
		}
	}
	if len(tasks) == 0 {
		return nil
	}
	for _, m := range c.in.Candidates {
		step := s.Apply(sim.Action{Kind: "load", Name: m.Name, Module: m, Layer: c.in.Layers[m.Name]})
		if !step.Accepted || step.Pending != m.Name {
			continue
		}
		blocked := s.Blocking()
		byTask := map[string][]sim.TaskEntry{}
		var order []string
		for _, b := range blocked {
			if _, ok := byTask[b.Name]; !ok {
				order = append(order, b.Name)
			}
			byTask[b.Name] = append(byTask[b.Name], b)
		}
		for _, name := range order {
			c.reportBlocker(m, tasks[name], byTask[name])
		}
		s.Apply(sim.Action{Kind: "force", Name: m.Name})
	}
	return nil
}

// frameKey is a frame as the kernel names it: function and module ("" for
// vmlinux).
type frameKey struct{ function, module string }

// codeAt is a function's code a frame may lie in: the original of key, or
// a patch's copy.
type codeAt struct {
	key  klp.FuncKey
	code string
}

// codeIndex maps the frames that may lie in code a transition checks: a
// deployed livepatch's copy (its new_func symbol in its module) and the
// original of every function a deployed patch or a candidate patches
// (its old_name in its object). A stack names no sympos: a frame in a
// function of that name stands for each of them.
func (c *checker) codeIndex(st *deploy.State) map[frameKey][]codeAt {
	out := map[frameKey][]codeAt{}
	add := func(k frameKey, at codeAt) {
		if !slices.Contains(out[k], at) {
			out[k] = append(out[k], at)
		}
	}
	each := func(m *klp.Module, deployed bool) {
		if len(m.Patches) == 0 || m.Patches[0] == nil {
			return
		}
		for i := range m.Patches[0].Objects {
			o := &m.Patches[0].Objects[i]
			for j := range o.Funcs {
				f := &o.Funcs[j]
				key := klp.KeyOf(o, f)
				mod := ""
				if o.Name != nil {
					mod = *o.Name
				}
				add(frameKey{f.OldName, mod}, codeAt{key, sim.Original})
				if deployed && f.NewFunc != "" {
					add(frameKey{f.NewFunc, m.Name}, codeAt{key, m.Name})
				}
			}
		}
	}
	for _, p := range st.Patches {
		if p.Livepatch {
			each(&p.Module, true)
		}
	}
	for _, m := range c.in.Candidates {
		each(m, false)
	}
	return out
}

// reportBlocker is one KLP020 finding: the task, where it sleeps, the
// patch whose transition waits, and whether the kernel's own paths can
// switch it.
func (c *checker) reportBlocker(m *klp.Module, t *deploy.Task, at []sim.TaskEntry) {
	kind := "task"
	if t.Kthread {
		kind = "kernel thread"
	}
	var where, funcs []string
	patches := []string{m.Name}
	for _, e := range at {
		code := "the original"
		if e.Code != sim.Original {
			code = e.Code + "'s copy"
			if !slices.Contains(patches, e.Code) {
				patches = append(patches, e.Code)
			}
		}
		where = append(where, fmt.Sprintf("%s of %s", code, e.Function))
		if !slices.Contains(funcs, e.Function) {
			funcs = append(funcs, e.Function)
		}
	}
	msg := fmt.Sprintf("%s %s (pid %d, state %s) sleeps in %s, which %s changes: its transition stays pending while the task is there; %s",
		kind, safetext.Quote(t.Comm), t.PID, t.State, strings.Join(where, " and "), m.Name, SwitchVerdict(t.Kthread, t.State))
	c.report(RuleTransitionBlocker, m.Path, msg, patches, funcs)
}

// SwitchVerdict says what the kernel does about a task that sleeps in a
// function a transition changes, by whether it is a kernel thread and its
// state letter. The same on Linux 6.1, 6.12 and 7.2
// (kernel/livepatch/transition.c): klp_try_complete_transition retries
// every second and calls klp_send_signals every SIGNALS_TIMEOUT (15)
// retries, which sends user tasks a fake signal (set_notify_signal) and
// wakes kernel threads from TASK_INTERRUPTIBLE only (wake_up_state);
// klp_sched_try_switch (cond_resched in 6.12, __schedule of a freezable
// sleep in 7.2) switches a task only through klp_try_switch_task on its
// own stack, which still holds the function.
func SwitchVerdict(kthread bool, state string) string {
	switch {
	case !kthread && state == "S":
		return "after about 15 s the kernel sends it a fake signal (klp_send_signals): its interruptible sleep ends and it switches on its way back to user space, unless the call sleeps again in the same function"
	case !kthread:
		return "no kernel switches it: the fake signal (klp_send_signals) does not end a sleep in state " + state + ", so the transition waits until the task leaves on its own"
	case state == "S":
		return "after about 15 s the kernel wakes it (klp_send_signals wakes interruptible kernel threads): it switches only if it then leaves the function; a thread that sleeps there again stays a blocker"
	default:
		return "no kernel switches it: kernel threads get no signal and are woken only from interruptible sleep (klp_send_signals), and cond_resched or __schedule switching (6.12, 7.2) checks the thread's own stack, which holds the function: the transition waits until the thread leaves it"
	}
}
